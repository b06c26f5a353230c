"""Heat equation with a random diffusivity: ``u_t = ∇·(κ ∇u)`` on the unit square.

The grid is cell-centred (``s = resolution`` cells per axis, ``x_i = (i + 1/2) / s``) with
``u = 0`` on the boundary (imposed at half a cell), so the space discretization is
``u_t = -A u`` with ``A`` =
:func:`~pdeflow.datagen.families.assembly.diffusion_matrix` (harmonic-mean face
coefficients).  Time stepping is implicit with a fixed step ``dt = T / n_steps``:

* ``scheme="crank-nicolson"``: ``(I + dt/2 A) u^{n+1} = (I - dt/2 A) u^n`` (order 2);
* ``scheme="backward-euler"``: ``(I + dt A) u^{n+1} = u^n`` (order 1, L-stable).

The left-hand matrix is factored once per sample (:func:`pdeflow.solvers.direct.factorize`)
and reused for every step.

Why hand-written: the same discretization written as numpy code (:func:`heat_rhs`) runs
through :func:`~pdeflow.datagen.families.from_rhs` (traced, compiled, BDF with the analytic
sparse Jacobian) at 0.4-0.7x this family's throughput at equal accuracy (32², 2-core
machine, ``benchmarks/datagen_symbolic_families.py``): the equation is linear with a
time-independent operator, so one LU per sample and fixed Crank–Nicolson steps beat an
adaptive BDF that refactors its Newton matrix whenever its step changes.

Record times follow the convention of every time-dependent family: ``n_snapshots`` equally
spaced times ``t_k = k T / n_snapshots``, ``k = 1 .. n_snapshots`` (``t = 0`` is the input
``u0``), so ``n_steps`` must be a multiple of ``n_snapshots``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, final

import numpy as np
import scipy.sparse as sp

from pdeflow.datagen.families import register
from pdeflow.datagen.families._base import FieldSpec, PointwiseFamily
from pdeflow.datagen.samplers import grf
from pdeflow.errors import ConfigError, DataError
from pdeflow.solvers.direct import factorize

from .assembly import diffusion_matrix

__all__ = ["Heat", "heat_rhs"]

_SCHEMES = ("crank-nicolson", "backward-euler")
_DIFFUSIVITIES = ("lognormal", "constant")
#: Amplitude of the initial-condition GRF (α = 2, τ = 3): about unit pointwise std in 2-D.
_IC_SIGMA = 7.0


def heat_rhs(t: float, u: np.ndarray, p: dict) -> np.ndarray:
    """``u_t = ∇·(κ ∇u)`` of this family as numpy code: ``-A u`` with ``A`` the
    :func:`diffusion_matrix` of ``p["kappa"]`` (harmonic-mean faces, ``u = 0`` half a cell
    outside), for :func:`~pdeflow.datagen.families.from_rhs`.

    Parameters
    ----------
    t : float
    u : ndarray, shape (s, s)
    p : dict
        ``{"kappa": ndarray (s, s)}``.

    Returns
    -------
    ndarray, shape (s, s)

    Examples
    --------
    >>> k = np.full((4, 4), 2.0)
    >>> u = np.arange(16.0).reshape(4, 4)
    >>> du = heat_rhs(0.0, u, {"kappa": k}).ravel()
    >>> bool(np.allclose(du, -(diffusion_matrix(k) @ u.ravel())))
    True
    """
    k = p["kappa"]
    h2 = float(u.shape[0]) ** 2
    kx = 2 * k[1:, :] * k[:-1, :] / (k[1:, :] + k[:-1, :])
    ky = 2 * k[:, 1:] * k[:, :-1] / (k[:, 1:] + k[:, :-1])
    fx = np.concatenate([2 * k[:1, :] * u[:1, :], kx * (u[1:, :] - u[:-1, :]),
                         -2 * k[-1:, :] * u[-1:, :]], axis=0)
    fy = np.concatenate([2 * k[:, :1] * u[:, :1], ky * (u[:, 1:] - u[:, :-1]),
                         -2 * k[:, -1:] * u[:, -1:]], axis=1)
    return h2 * ((fx[1:, :] - fx[:-1, :]) + (fy[:, 1:] - fy[:, :-1]))


@final
@register
@dataclass(frozen=True)
class Heat(PointwiseFamily):
    """``u_t = ∇·(κ ∇u)``, ``u = 0`` on the boundary of ``[0, 1]²``, random ``κ`` and ``u0``.

    Parameters
    ----------
    resolution : int
        Cells per axis ``s`` (>= 4).
    diffusivity : {"lognormal", "constant"}
        ``κ = kappa · exp(g)`` with ``g`` a Neumann GRF (``α = alpha, τ = tau``; the Darcy
        prior), or ``κ = kappa`` everywhere.
    kappa : float
        Diffusivity scale (length² / time).  With the defaults the slowest mode decays by
        about ``exp(-2π² κ T) ≈ 0.8`` and the GRF's typical scales by 0.1-0.5 over ``T``.
    T : float
        Final time.
    n_steps : int
        Time steps, ``dt = T / n_steps``; a multiple of ``n_snapshots``.
    n_snapshots : int
        Stored times ``t_k = k T / n_snapshots``, ``k = 1 .. n_snapshots``.
    scheme : {"crank-nicolson", "backward-euler"}
    alpha, tau : float
        GRF parameters of ``log κ`` and of the initial condition.
    seed : int

    Notes
    -----
    The initial condition is ``u0 = 16 x(1-x) y(1-y) · g₀`` with ``g₀`` a Neumann GRF
    (``α = alpha, τ = tau``, unit pointwise std), so it vanishes on the boundary.

    Shapes: inputs ``u0`` (s, s), ``kappa`` (s, s); output ``u`` (n_snapshots, s, s);
    arrays are indexed ``[i, j] = (x_i, y_j)``.

    Examples
    --------
    >>> fam = Heat(resolution=8, n_steps=4, n_snapshots=2)
    >>> res = fam.solve([0])
    >>> res.fields["u"].shape, int(res.stats["iterations"][0])
    ((1, 2, 8, 8), 4)
    """

    resolution: int = 32
    diffusivity: Literal["lognormal", "constant"] = "lognormal"
    kappa: float = 0.01
    T: float = 1.0
    n_steps: int = 100
    n_snapshots: int = 10
    scheme: Literal["crank-nicolson", "backward-euler"] = "crank-nicolson"
    alpha: float = 2.0
    tau: float = 3.0
    seed: int = 0
    name: ClassVar[str] = "heat"

    def __post_init__(self) -> None:
        self._check_int("resolution", self.resolution, 4)
        self._check_int("seed", self.seed, 0)
        self._check_int("n_steps", self.n_steps, 1)
        self._check_int("n_snapshots", self.n_snapshots, 1)
        for opt in ("kappa", "T", "alpha", "tau"):
            self._check_positive(opt, getattr(self, opt))
        if self.alpha <= 1.0:
            raise ConfigError(
                f"The 'alpha' option of family 'heat' must be > 1 (a 2-D GRF). Got {self.alpha!r}."
            )
        if self.diffusivity not in _DIFFUSIVITIES:
            raise ConfigError(
                f"The 'diffusivity' option of family 'heat' must be one of {_DIFFUSIVITIES}. "
                f"Got {self.diffusivity!r}."
            )
        if self.scheme not in _SCHEMES:
            raise ConfigError(
                f"The 'scheme' option of family 'heat' must be one of {_SCHEMES}. "
                f"Got {self.scheme!r}."
            )
        if self.n_steps % self.n_snapshots:
            raise ConfigError(
                f"The 'n_steps' option of family 'heat' must be a multiple of n_snapshots = "
                f"{self.n_snapshots} (records fall on time steps). Got {self.n_steps!r}."
            )

    # ------------------------------------------------------------------ declaration
    @property
    def dt(self) -> float:
        """The time step ``T / n_steps``."""
        return self.T / self.n_steps

    def fields(self) -> dict[str, FieldSpec]:
        s, n = self.resolution, self.n_snapshots
        return {
            "u0": FieldSpec("u0", (s, s), "input", ("x", "y"), "initial temperature"),
            "kappa": FieldSpec("kappa", (s, s), "input", ("x", "y"), "diffusivity (length²/time)"),
            "u": FieldSpec("u", (n, s, s), "output", ("t", "x", "y"), "temperature at times t"),
        }

    def coords(self) -> dict[str, np.ndarray]:
        x = (np.arange(self.resolution) + 0.5) / self.resolution
        t = self.T * np.arange(1, self.n_snapshots + 1) / self.n_snapshots
        return {"t": t, "x": x, "y": x.copy()}

    # ------------------------------------------------------------------ sampling
    def sample(self, i: int) -> dict[str, Any]:
        rng = self.rng(i)
        shape = (self.resolution, self.resolution)
        x = self.coords()["x"]
        bump = 4.0 * x * (1.0 - x)
        g0 = grf(shape, rng, alpha=self.alpha, tau=self.tau, sigma=_IC_SIGMA)
        u0 = np.outer(bump, bump) * g0
        if self.diffusivity == "constant":
            kappa = np.full(shape, float(self.kappa))
        else:
            kappa = self.kappa * np.exp(grf(shape, rng, alpha=self.alpha, tau=self.tau))
        return {"u0": u0, "kappa": kappa}

    # ------------------------------------------------------------------ solving
    def system(self, kappa: np.ndarray) -> tuple[sp.csr_matrix, sp.csr_matrix]:
        """The step matrices ``(L, R)`` with ``L u^{n+1} = R u^n``.

        Parameters
        ----------
        kappa : ndarray, shape (s, s)

        Returns
        -------
        L, R : csr_matrix, shape (s², s²)
            ``I + θ dt A`` and ``I - (1 - θ) dt A`` (``θ = 1/2`` Crank-Nicolson, 1 backward
            Euler), ``A = diffusion_matrix(kappa)``.
        """
        A = diffusion_matrix(kappa)
        eye = sp.identity(A.shape[0], format="csr")
        theta = 0.5 if self.scheme == "crank-nicolson" else 1.0
        L = (eye + theta * self.dt * A).tocsr()
        R = (eye - (1.0 - theta) * self.dt * A).tocsr()
        return L, R

    def solve_one(self, sample: Mapping[str, Any]) -> tuple[dict[str, np.ndarray], dict]:
        s = self.resolution
        for key in ("u0", "kappa"):
            arr = np.asarray(sample[key], dtype=float)
            if arr.shape != (s, s) or not np.isfinite(arr).all():
                raise DataError(
                    f"family 'heat': {key!r} must be a finite array of shape {(s, s)}; "
                    f"got shape {arr.shape}."
                )
        u = np.asarray(sample["u0"], dtype=float).reshape(-1).copy()
        L, R = self.system(np.asarray(sample["kappa"], dtype=float))
        solve = factorize(L)
        every = self.n_steps // self.n_snapshots
        out = np.empty((self.n_snapshots, s, s))
        worst = 0.0
        for step in range(1, self.n_steps + 1):
            rhs = R @ u
            u = solve(rhs)
            nr = float(np.linalg.norm(rhs))
            if nr > 0:
                worst = max(worst, float(np.linalg.norm(L @ u - rhs)) / nr)
            if step % every == 0:
                out[step // every - 1] = u.reshape(s, s)
        return {"u": out}, {"iterations": self.n_steps, "residual": worst}
