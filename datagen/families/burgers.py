"""1-D viscous Burgers (the FNO data set): ``u_t + (u²/2)_x = ν u_xx`` on the periodic ``[0, 1)``.

Pseudo-spectral in space on ``S = solve_resolution`` nodes ``x_j = j / S`` (real FFT, 2/3
rule on the nonlinear term), exponential time differencing in time: ETDRK4 (Cox & Matthews,
2002) with the φ-functions evaluated by contour integrals (Kassam & Trefethen, 2005), so the
stiff diffusion ``-ν (2πk)²`` is integrated exactly and the step is limited only by the
advective CFL condition.  Viscous Burgers obeys a maximum principle (``max|u|`` does not
grow), so one step ``dt <= cfl · h / max|u0|`` (``h = 1 / S``), shortened to divide the record
interval, is safe for the whole run and the ETDRK4 coefficients are computed once.

The initial condition ``u0 ~ N(0, 625 (-Δ + 25 I)^{-2})`` (periodic GRF, ``α = 2, τ = 5,
σ = 25``) is drawn on the stored grid (``s = resolution`` nodes, so the stored ``u0`` is the
exact initial condition), Fourier-interpolated to the solve grid, and the solution is stored
by subsampling (as FNO did).  A solution whose ``max|u|`` exceeds twice ``max|u0|`` at a
record time raises :class:`~pdeflow.errors.ConvergenceError` (the step was unstable).
Record times: ``t_k = k T / n_snapshots``, ``k = 1 .. n_snapshots``; the default
``n_snapshots = 1`` stores ``u(T)`` only.

Why hand-written (not :func:`~pdeflow.datagen.families.from_rhs`): a pseudo-spectral ETDRK4
integrator, exact on the stiff linear (viscous) part, which a general ODE method on the
traced RHS does not exploit.  (FFTs now trace, :mod:`pdeflow.symbolic.spectral`; the move
is not measured yet.)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, final

import numpy as np

from pdeflow.datagen.families import register
from pdeflow.datagen.families._base import FieldSpec, PointwiseFamily
from pdeflow.datagen.samplers import grf
from pdeflow.errors import ConfigError, ConvergenceError, DataError

__all__ = ["Burgers", "etdrk4_coefficients", "fourier_upsample"]


def fourier_upsample(u: np.ndarray, n: int) -> np.ndarray:
    """Trigonometric interpolation of periodic nodal values onto ``n`` nodes per axis.

    Parameters
    ----------
    u : ndarray of float, shape (s,) * d
        Values at the nodes ``j / s`` of the unit torus.
    n : int
        Nodes per axis of the fine grid, ``n >= s``.

    Returns
    -------
    ndarray of float, shape (n,) * d
        The band-limited interpolant at ``j / n``; every ``(n / s)``-th node is ``u`` again
        (an even grid's Nyquist mode is split evenly between ``±s/2``).
    """
    u = np.asarray(u, dtype=float)
    for axis, s in enumerate(u.shape):
        if n == s:
            continue
        v = np.fft.rfft(u, axis=axis)
        shape = list(v.shape)
        shape[axis] = n // 2 + 1
        w = np.zeros(shape, dtype=complex)
        w[(slice(None),) * axis + (slice(0, s // 2 + 1),)] = v
        if s % 2 == 0:
            w[(slice(None),) * axis + (s // 2,)] *= 0.5
        u = np.fft.irfft(w, n=n, axis=axis) * (n / s)
    return u


def etdrk4_coefficients(L: np.ndarray, dt: float, n_contour: int = 32) -> tuple[np.ndarray, ...]:
    """ETDRK4 coefficients for a diagonal real linear operator ``L`` (Kassam & Trefethen).

    Parameters
    ----------
    L : ndarray of float, shape (m,)
        Eigenvalues of the linear part (``<= 0`` for diffusion; 1/time).
    dt : float
        Time step.
    n_contour : int
        Points on the upper half of the unit circle around each ``dt·L`` (the real part of
        the mean over the half circle is the full contour mean because ``L`` is real).

    Returns
    -------
    E, E2, Q, f1, f2, f3 : ndarray of float, shape (m,)
        ``exp(dt L)``, ``exp(dt L / 2)`` and the weights of the four nonlinear stages.
    """
    hL = dt * np.asarray(L, dtype=float)
    r = np.exp(1j * np.pi * (np.arange(1, n_contour + 1) - 0.5) / n_contour)
    z = hL[:, None] + r[None, :]
    ez = np.exp(z)
    Q = dt * np.mean((np.exp(z / 2) - 1.0) / z, axis=1).real
    f1 = dt * np.mean((-4.0 - z + ez * (4.0 - 3.0 * z + z**2)) / z**3, axis=1).real
    f2 = dt * np.mean((2.0 + z + ez * (z - 2.0)) / z**3, axis=1).real
    f3 = dt * np.mean((-4.0 - 3.0 * z - z**2 + ez * (4.0 - z)) / z**3, axis=1).real
    return np.exp(hL), np.exp(hL / 2), Q, f1, f2, f3


@final
@register
@dataclass(frozen=True)
class Burgers(PointwiseFamily):
    """Viscous Burgers ``u_t + (u²/2)_x = ν u_xx`` on the periodic unit interval.

    Parameters
    ----------
    resolution : int
        Stored nodes ``s`` (>= 4).
    solve_resolution : int, optional
        Solve nodes ``S``, a multiple of ``s``; default ``s`` (at ``ν = 0.1`` 256 nodes
        resolve the solution to about 1e-9, see the tests).
    nu : float
        Viscosity (length² / time), > 0.
    T : float
        Final time.
    n_snapshots : int
        Stored times ``t_k = k T / n_snapshots``; 1 stores ``u(T)`` with shape (s,).
    cfl : float
        Advective Courant number ``dt · max|u0| / h`` (ETDRK4 is stable below about 1.3).
    alpha, tau, sigma : float
        Periodic GRF of ``u0`` (FNO: 2, 5, 25).
    seed : int

    Notes
    -----
    Shapes: input ``u0`` (s,); output ``u`` (s,) or (n_snapshots, s).  Solver statistics:
    ``iterations`` = time steps, ``residual`` = nan (explicit stepping; see the tests for the
    discrete-equation check).

    Examples
    --------
    >>> fam = Burgers(resolution=32, T=0.1)
    >>> res = fam.solve([0, 1])
    >>> res.fields["u"].shape
    (2, 32)
    """

    resolution: int = 256
    solve_resolution: int | None = None
    nu: float = 0.1
    T: float = 1.0
    n_snapshots: int = 1
    cfl: float = 0.5
    alpha: float = 2.0
    tau: float = 5.0
    sigma: float = 25.0
    seed: int = 0
    name: ClassVar[str] = "burgers"

    def __post_init__(self) -> None:
        self._check_int("resolution", self.resolution, 4)
        self._check_int("seed", self.seed, 0)
        self._check_int("n_snapshots", self.n_snapshots, 1)
        for opt in ("nu", "T", "cfl", "alpha", "tau", "sigma"):
            self._check_positive(opt, getattr(self, opt))
        if self.alpha <= 0.5:
            raise ConfigError(
                f"The 'alpha' option of family 'burgers' must be > 1/2. Got {self.alpha!r}."
            )
        if self.solve_resolution is not None:
            self._check_int("solve_resolution", self.solve_resolution, self.resolution)
            if self.solve_resolution % self.resolution:
                raise ConfigError(
                    "The 'solve_resolution' option of family 'burgers' must be a multiple of "
                    f"resolution = {self.resolution}. Got {self.solve_resolution!r}."
                )

    # ------------------------------------------------------------------ declaration
    @property
    def n_solve(self) -> int:
        """Nodes of the solve grid."""
        return self.resolution if self.solve_resolution is None else int(self.solve_resolution)

    def fields(self) -> dict[str, FieldSpec]:
        s, n = self.resolution, self.n_snapshots
        shape, axes = ((s,), ("x",)) if n == 1 else ((n, s), ("t", "x"))
        return {
            "u0": FieldSpec("u0", (s,), "input", ("x",), "initial velocity"),
            "u": FieldSpec("u", shape, "output", axes, "velocity at times t"),
        }

    def coords(self) -> dict[str, np.ndarray]:
        t = self.T * np.arange(1, self.n_snapshots + 1) / self.n_snapshots
        return {"t": t, "x": np.arange(self.resolution) / self.resolution}

    # ------------------------------------------------------------------ sampling
    def sample(self, i: int) -> dict[str, Any]:
        u0 = grf(
            (self.resolution,),
            self.rng(i),
            alpha=self.alpha,
            tau=self.tau,
            sigma=self.sigma,
            periodic=True,
        )
        return {"u0": u0}

    # ------------------------------------------------------------------ solving
    def time_step(self, u0: np.ndarray) -> tuple[float, int]:
        """The step ``dt`` and the steps per record interval for initial condition ``u0``."""
        interval = self.T / self.n_snapshots
        umax = float(np.max(np.abs(u0)))
        dt_cfl = self.cfl / (self.n_solve * umax) if umax > 0 else interval
        n_sub = max(1, math.ceil(interval / dt_cfl - 1e-9))
        return interval / n_sub, n_sub

    def solve_one(self, sample: Mapping[str, Any]) -> tuple[dict[str, np.ndarray], dict]:
        s, S = self.resolution, self.n_solve
        u0 = np.asarray(sample["u0"], dtype=float)
        if u0.shape != (s,) or not np.isfinite(u0).all():
            raise DataError(
                f"family 'burgers': 'u0' must be a finite array of shape {(s,)}; "
                f"got shape {u0.shape}."
            )
        u = fourier_upsample(u0, S)
        bound = 2.0 * float(np.max(np.abs(u)))  # max|u| does not grow (maximum principle)
        k = np.arange(S // 2 + 1)
        ik = 2j * np.pi * k
        keep = k < S / 3.0  # 2/3 rule: zero |k| >= S/3 in the quadratic term
        nonlin_coef = np.where(keep, -0.5 * ik, 0.0)

        def N(v: np.ndarray) -> np.ndarray:
            w = np.fft.irfft(v, n=S)
            return nonlin_coef * np.fft.rfft(w * w)

        dt, n_sub = self.time_step(u)
        E, E2, Q, f1, f2, f3 = etdrk4_coefficients(-self.nu * (2 * np.pi * k) ** 2, dt)
        v = np.fft.rfft(u)
        out = np.empty((self.n_snapshots, s))
        for rec in range(self.n_snapshots):
            for _ in range(n_sub):
                Nv = N(v)
                a = E2 * v + Q * Nv
                Na = N(a)
                b = E2 * v + Q * Na
                Nb = N(b)
                c = E2 * a + Q * (2.0 * Nb - Nv)
                Nc = N(c)
                v = E * v + f1 * Nv + 2.0 * f2 * (Na + Nb) + f3 * Nc
            u = np.fft.irfft(v, n=S)
            if not np.max(np.abs(u)) <= bound:
                raise ConvergenceError(
                    f"family 'burgers': the time stepping went unstable before t = "
                    f"{self.T * (rec + 1) / self.n_snapshots:.4g} (max|u| = "
                    f"{np.max(np.abs(u)):.3g} > 2 max|u0|); lower 'cfl' (now {self.cfl})."
                )
            out[rec] = u[:: S // s]
        u_out = out[0] if self.n_snapshots == 1 else out
        return {"u": u_out}, {"iterations": n_sub * self.n_snapshots, "residual": np.nan}
