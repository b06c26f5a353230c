"""2-D incompressible Navier-Stokes in vorticity form on the unit torus (the FNO data set).

``w_t + u·∇w = ν Δw + f``, ``u = ∇^⊥ψ = (ψ_y, -ψ_x)``, ``-Δψ = w``, with FNO's forcing
``f = 0.1 (sin 2π(x + y) + cos 2π(x + y))`` and ``w0 ~ N(0, 7^{3/2} (-Δ + 49 I)^{-5/2})``
(periodic GRF, zero mean).

Pseudo-spectral in space on ``S² = solve_resolution²`` nodes ``(x_i, y_j) = (i, j) / S`` (real
2-D FFT, 2/3 rule on the advection term).  In time, as in FNO's solver: Crank-Nicolson for
the diffusion and Heun's method (explicit trapezoid) for the advection and forcing,

    ŵ* = [(1 - dt/2 ν|κ|²) ŵⁿ + dt (f̂ - N̂(ŵⁿ))] / (1 + dt/2 ν|κ|²),
    ŵⁿ⁺¹ = [(1 - dt/2 ν|κ|²) ŵⁿ + dt (f̂ - (N̂(ŵⁿ) + N̂(ŵ*)) / 2)] / (1 + dt/2 ν|κ|²),

with ``κ = 2πk`` and ``N = u·∇w``.  Unlike FNO's fixed ``dt = 1e-4`` the step is chosen at
every step from the advective CFL condition ``dt = cfl · h / max(|u| + |v|)`` (``h = 1/S``),
capped by ``dt_max``, and shortened so that the steps land exactly on the record times
``t_k = k T / n_snapshots``, ``k = 1 .. n_snapshots``.

The stored ``w0`` (``s = resolution`` nodes) is the exact initial condition: it is
Fourier-interpolated to the solve grid, and the solution is stored by subsampling.  Heun's
method is only weakly stable for pure advection, so every step checks the a-priori bound
``||w(t)|| <= ||w0|| + t ||f||`` (with a factor 10 of slack) and raises
:class:`~pdeflow.errors.ConvergenceError` naming ``cfl`` when it fails.

Why hand-written (not :func:`~pdeflow.datagen.families.from_rhs`): a pseudo-spectral
vorticity solver (FFT Poisson solve for the stream function, Crank–Nicolson/Heun in
Fourier space).  (FFTs now trace, :mod:`pdeflow.symbolic.spectral`; the move is not
measured yet.)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, final

import numpy as np

from pdeflow.datagen.families import register
from pdeflow.datagen.families._base import FieldSpec, PointwiseFamily
from pdeflow.datagen.families.burgers import fourier_upsample
from pdeflow.datagen.samplers import grf
from pdeflow.errors import ConfigError, ConvergenceError, DataError

__all__ = ["NavierStokes", "fno_forcing", "kolmogorov_forcing"]


def fno_forcing(x: np.ndarray, y: np.ndarray, amplitude: float = 0.1) -> np.ndarray:
    """FNO's forcing ``amplitude · (sin 2π(x + y) + cos 2π(x + y))``; shape of ``x + y``."""
    phase = 2.0 * np.pi * (np.asarray(x) + np.asarray(y))
    return amplitude * (np.sin(phase) + np.cos(phase))


def kolmogorov_forcing(
    x: np.ndarray, y: np.ndarray, k: int, amplitude: float = 0.1
) -> np.ndarray:
    """Vorticity forcing of Kolmogorov flow, the curl of the body force ``amplitude ·
    sin(2πk y) x̂``: ``-2πk · amplitude · cos(2πk y)``; shape of ``x + y``.

    Examples
    --------
    >>> float(kolmogorov_forcing(0.3, 0.0, 4, 0.1))  # -2π·4·0.1
    -2.5132741228718345
    """
    y = np.asarray(y) + 0.0 * np.asarray(x)
    return -2.0 * np.pi * k * amplitude * np.cos(2.0 * np.pi * k * y)


class _Spectral:
    """Wave numbers, the dealiasing mask and the advection term on an ``S × S`` torus grid."""

    def __init__(self, S: int) -> None:
        self.S = S
        kx = np.fft.fftfreq(S, d=1.0 / S)[:, None]
        ky = np.fft.rfftfreq(S, d=1.0 / S)[None, :]
        self.dx = 2j * np.pi * kx
        self.dy = 2j * np.pi * ky
        self.lap = 4.0 * np.pi**2 * (kx**2 + ky**2)  # symbol of -Δ
        inv = np.zeros_like(self.lap)
        np.divide(1.0, self.lap, out=inv, where=self.lap > 0)
        self.inv_lap = inv
        self.keep = (np.abs(kx) < S / 3.0) & (ky < S / 3.0)

    def velocity(self, w_hat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(u, v) = (ψ_y, -ψ_x)`` on the grid, shape (S, S) each."""
        psi = self.inv_lap * w_hat
        u = np.fft.irfft2(self.dy * psi, s=(self.S, self.S))
        v = np.fft.irfft2(-self.dx * psi, s=(self.S, self.S))
        return u, v

    def advection(self, w_hat: np.ndarray) -> tuple[np.ndarray, float]:
        """Dealiased ``FFT(u·∇w)`` (S, S//2+1) and ``max(|u| + |v|)``."""
        S = (self.S, self.S)
        u, v = self.velocity(w_hat)
        wx = np.fft.irfft2(self.dx * w_hat, s=S)
        wy = np.fft.irfft2(self.dy * w_hat, s=S)
        N = np.fft.rfft2(u * wx + v * wy)
        N *= self.keep
        return N, float(np.max(np.abs(u) + np.abs(v)))


@final
@register
@dataclass(frozen=True)
class NavierStokes(PointwiseFamily):
    """2-D Navier-Stokes (vorticity) on the unit torus with FNO's forcing and prior.

    Parameters
    ----------
    resolution : int
        Stored nodes per axis ``s`` (>= 4).
    solve_resolution : int, optional
        Solve nodes per axis ``S``, a multiple of ``s``; default ``s``.
    nu : float
        Viscosity (FNO: 1e-3, 1e-4, 1e-5), > 0.
    T : float
        Final time (FNO: 50; default 10 keeps CPU generation cheap).
    n_snapshots : int
        Stored times ``t_k = k T / n_snapshots`` (default: ``t = 1, 2, ..., 10``).
    cfl : float
        Courant number ``dt · max(|u| + |v|) / h``.
    dt_max : float
        Largest time step (used while the flow is slow).
    forcing : bool
        Apply FNO's forcing (``False``: free decay, e.g. of a Taylor-Green vortex).
    kolmogorov : int
        0 (default): FNO's forcing.  ``k >= 1``: Kolmogorov forcing instead, the curl of the
        body force ``0.1 sin(2πk y) x̂``, i.e. ``f = -0.2πk cos(2πk y)`` (see
        :func:`kolmogorov_forcing`).
    alpha, tau, sigma : float
        Periodic GRF of ``w0``, zero mean: ``N(0, σ² (-Δ + τ²)^{-α})``.  The defaults
        ``2.5, 7, √2 · 7^{3/2} ≈ 26.2`` follow FNO's generating code (pointwise std of ``w0``
        about 0.27, the size of the published data); the paper's formula
        ``7^{3/2}(-Δ + 49I)^{-2.5}`` read literally gives ``sigma = 7^{3/4}`` (std about 0.04).
    seed : int

    Notes
    -----
    Shapes: input ``w0`` (s, s); output ``w`` (n_snapshots, s, s), indexed ``[i, j] = (x_i,
    y_j)``.  Statistics: ``iterations`` = time steps, ``residual`` = nan (explicit stepping;
    the tests check the PDE residual).

    Examples
    --------
    >>> fam = NavierStokes(resolution=16, T=0.1, n_snapshots=2)
    >>> fam.solve([0]).fields["w"].shape
    (1, 2, 16, 16)
    """

    resolution: int = 64
    solve_resolution: int | None = None
    nu: float = 1e-3
    T: float = 10.0
    n_snapshots: int = 10
    cfl: float = 0.5
    dt_max: float = 0.05
    forcing: bool = True
    kolmogorov: int = 0
    alpha: float = 2.5
    tau: float = 7.0
    sigma: float = 2.0**0.5 * 7.0**1.5
    seed: int = 0
    name: ClassVar[str] = "navier-stokes"

    def __post_init__(self) -> None:
        self._check_int("resolution", self.resolution, 4)
        self._check_int("seed", self.seed, 0)
        self._check_int("n_snapshots", self.n_snapshots, 1)
        self._check_int("kolmogorov", self.kolmogorov, 0)
        for opt in ("nu", "T", "cfl", "dt_max", "alpha", "tau", "sigma"):
            self._check_positive(opt, getattr(self, opt))
        if self.alpha <= 1.0:
            raise ConfigError(
                f"The 'alpha' option of family 'navier-stokes' must be > 1. Got {self.alpha!r}."
            )
        if not isinstance(self.forcing, bool | np.bool_):
            raise ConfigError(
                f"The 'forcing' option of family 'navier-stokes' must be a bool. "
                f"Got {self.forcing!r}."
            )
        if self.solve_resolution is not None:
            self._check_int("solve_resolution", self.solve_resolution, self.resolution)
            if self.solve_resolution % self.resolution:
                raise ConfigError(
                    "The 'solve_resolution' option of family 'navier-stokes' must be a multiple "
                    f"of resolution = {self.resolution}. Got {self.solve_resolution!r}."
                )

    # ------------------------------------------------------------------ declaration
    @property
    def n_solve(self) -> int:
        """Nodes per axis of the solve grid."""
        return self.resolution if self.solve_resolution is None else int(self.solve_resolution)

    def fields(self) -> dict[str, FieldSpec]:
        s, n = self.resolution, self.n_snapshots
        return {
            "w0": FieldSpec("w0", (s, s), "input", ("x", "y"), "initial vorticity (1/time)"),
            "w": FieldSpec("w", (n, s, s), "output", ("t", "x", "y"), "vorticity at times t"),
        }

    def coords(self) -> dict[str, np.ndarray]:
        x = np.arange(self.resolution) / self.resolution
        t = self.T * np.arange(1, self.n_snapshots + 1) / self.n_snapshots
        return {"t": t, "x": x, "y": x.copy()}

    # ------------------------------------------------------------------ sampling
    def sample(self, i: int) -> dict[str, Any]:
        w0 = grf(
            (self.resolution, self.resolution),
            self.rng(i),
            alpha=self.alpha,
            tau=self.tau,
            sigma=self.sigma,
            periodic=True,
            zero_mean=True,
        )
        return {"w0": w0}

    # ------------------------------------------------------------------ solving
    def solve_one(self, sample: Mapping[str, Any]) -> tuple[dict[str, np.ndarray], dict]:
        s, S = self.resolution, self.n_solve
        w0 = np.asarray(sample["w0"], dtype=float)
        if w0.shape != (s, s) or not np.isfinite(w0).all():
            raise DataError(
                f"family 'navier-stokes': 'w0' must be a finite array of shape {(s, s)}; "
                f"got shape {w0.shape}."
            )
        sp = _Spectral(S)
        x = np.arange(S) / S
        amplitude = 0.1 if self.forcing else 0.0
        if self.kolmogorov:
            f = kolmogorov_forcing(x[:, None], x[None, :], self.kolmogorov, amplitude)
        else:
            f = fno_forcing(x[:, None], x[None, :], amplitude)
        f_hat = np.fft.rfft2(f)
        w_hat = np.fft.rfft2(fourier_upsample(w0, S))
        # ||w(t)|| <= ||w0|| + t ||f|| for the exact (and the Galerkin-truncated) flow
        norm0, norm_f = float(np.linalg.norm(w_hat)), float(np.linalg.norm(f_hat))
        h = 1.0 / S
        out = np.empty((self.n_snapshots, s, s))
        steps, t = 0, 0.0
        for rec in range(self.n_snapshots):
            t_rec = self.T * (rec + 1) / self.n_snapshots
            while t_rec - t > 1e-12 * self.T:
                N0, speed = sp.advection(w_hat)
                dt = min(self.dt_max, self.cfl * h / speed) if speed > 0 else self.dt_max
                dt = (t_rec - t) / math.ceil((t_rec - t) / dt - 1e-9)
                half = 0.5 * dt * self.nu * sp.lap
                explicit = (1.0 - half) * w_hat + dt * f_hat
                w_star = (explicit - dt * N0) / (1.0 + half)
                N1, _ = sp.advection(w_star)
                w_hat = (explicit - 0.5 * dt * (N0 + N1)) / (1.0 + half)
                t += dt
                steps += 1
                norm = float(np.linalg.norm(w_hat))
                if not norm <= 10.0 * (norm0 + t * norm_f) + 1e-300:
                    raise ConvergenceError(
                        f"family 'navier-stokes': the time stepping went unstable at t = "
                        f"{t:.4g} (vorticity norm {norm:.3g}, bound "
                        f"{norm0 + t * norm_f:.3g}); lower 'cfl' (now {self.cfl}) or "
                        f"'dt_max' (now {self.dt_max})."
                    )
            t = t_rec
            out[rec] = np.fft.irfft2(w_hat, s=(S, S))[:: S // s, :: S // s]
        return {"w": out}, {"iterations": steps, "residual": np.nan}
