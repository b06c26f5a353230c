"""1-D linear advection (PDEBench): ``u_t + β u_x = 0`` on the periodic ``[0, 1)``.

Nodes ``x_j = j / s``; the initial condition is PDEBench's random sum of sines
(:func:`pdeflow.datagen.samplers.initial_condition` with ``kind="fourier"``) and the exact
solution is ``u0(x - βt)``.  Two fully discrete schemes with a fixed step
``dt = cfl · h / |β|`` (``h = 1 / s``), shortened so that whole steps fill each record
interval:

* ``scheme="spectral"``: Fourier differentiation (the Nyquist mode is not differentiated)
  and the classical RK4 step, ``û^{n+1} = R(-2πikβ dt) û^n`` with
  ``R(z) = 1 + z + z²/2 + z³/6 + z⁴/24``: exact in space for band-limited data, order 4
  in time, stable for ``cfl <= 2√2/π ≈ 0.90``;
* ``scheme="lax-wendroff"``: ``u_j^{n+1} = u_j - c/2 (u_{j+1} - u_{j-1})
  + c²/2 (u_{j+1} - 2u_j + u_{j-1})`` with ``c = β dt / h``: order 2, stable for ``cfl <= 1``.

Both are linear and shift-invariant, so ``n`` steps are applied at once as the ``n``-th power
of the scheme's Fourier amplification factor (the same numbers as ``n`` explicit steps, up
to rounding).  Record times: ``t_k = k T / n_snapshots``, ``k = 1 .. n_snapshots`` (the
default 20 records ``t = 0.1, ..., 2.0``; ``t = 0`` is the input ``u0``).

Why hand-written (not :func:`~pdeflow.datagen.families.from_rhs`): the solution is exact in
time, each Fourier mode multiplied by its amplification factor; there is no RHS to
integrate.  (FFTs now trace, :mod:`pdeflow.symbolic.spectral`; moving the spectral families
onto ``from_rhs`` is not measured yet.)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, final

import numpy as np

from pdeflow.datagen.families import register
from pdeflow.datagen.families._base import FieldSpec, PointwiseFamily
from pdeflow.datagen.samplers import initial_condition
from pdeflow.errors import ConfigError, DataError

__all__ = ["Advection", "amplification"]

#: Largest stable Courant number of each scheme.
CFL_LIMITS = {"spectral": 2.0 * math.sqrt(2.0) / math.pi, "lax-wendroff": 1.0}


def amplification(scheme: str, s: int, c: float) -> np.ndarray:
    """Fourier amplification factor of one step on ``s`` nodes with Courant number ``c``.

    Parameters
    ----------
    scheme : {"spectral", "lax-wendroff"}
    s : int
        Nodes.
    c : float
        ``β dt / h`` (signed).

    Returns
    -------
    ndarray of complex, shape (s // 2 + 1,)
        ``G_k`` with ``û_k^{n+1} = G_k û_k^n`` (real-FFT ordering).
    """
    k = np.arange(s // 2 + 1)
    theta = 2.0 * np.pi * k / s  # phase per cell
    if scheme == "spectral":
        z = -1j * c * theta
        if s % 2 == 0:
            z[-1] = 0.0  # the Nyquist mode is not differentiated
        return 1.0 + z * (1.0 + z / 2.0 * (1.0 + z / 3.0 * (1.0 + z / 4.0)))
    if scheme == "lax-wendroff":
        return 1.0 - 1j * c * np.sin(theta) - c**2 * (1.0 - np.cos(theta))
    raise ConfigError(f"The 'scheme' must be one of {sorted(CFL_LIMITS)}. Got {scheme!r}.")


@final
@register
@dataclass(frozen=True)
class Advection(PointwiseFamily):
    """Linear advection ``u_t + β u_x = 0`` on the periodic unit interval.

    Parameters
    ----------
    resolution : int
        Nodes ``s`` (>= 4; > 2 k_max).
    beta : float
        Advection speed (any finite value; PDEBench uses 0.1 - 4).
    T : float
        Final time.
    n_snapshots : int
        Stored times ``t_k = k T / n_snapshots``.
    scheme : {"spectral", "lax-wendroff"}
    cfl : float
        Courant number ``|β| dt / h``, at most 0.90 (spectral) or 1 (Lax-Wendroff).
    n_waves, k_max : int
        The initial condition's number of sines and largest wave number.
    seed : int

    Notes
    -----
    Shapes: input ``u0`` (s,); output ``u`` (n_snapshots, s).  Statistics: ``iterations`` =
    time steps, ``residual`` = nan (explicit scheme).

    Examples
    --------
    >>> fam = Advection(resolution=64, T=0.5, n_snapshots=5)
    >>> res = fam.solve([0])
    >>> res.fields["u"].shape
    (1, 5, 64)
    """

    resolution: int = 256
    beta: float = 1.0
    T: float = 2.0
    n_snapshots: int = 20
    scheme: Literal["spectral", "lax-wendroff"] = "spectral"
    cfl: float = 0.5
    n_waves: int = 2
    k_max: int = 8
    seed: int = 0
    name: ClassVar[str] = "advection"

    def __post_init__(self) -> None:
        self._check_int("resolution", self.resolution, 4)
        self._check_int("seed", self.seed, 0)
        self._check_int("n_snapshots", self.n_snapshots, 1)
        self._check_int("n_waves", self.n_waves, 1)
        self._check_int("k_max", self.k_max, 1)
        self._check_positive("T", self.T)
        self._check_positive("cfl", self.cfl)
        if (
            not isinstance(self.beta, int | float)
            or isinstance(self.beta, bool)
            or not math.isfinite(self.beta)
        ):
            raise ConfigError(
                f"The 'beta' option of family 'advection' must be a finite number. "
                f"Got {self.beta!r}."
            )
        if self.scheme not in CFL_LIMITS:
            raise ConfigError(
                f"The 'scheme' option of family 'advection' must be one of "
                f"{sorted(CFL_LIMITS)}. Got {self.scheme!r}."
            )
        if self.cfl > CFL_LIMITS[self.scheme]:
            raise ConfigError(
                f"The 'cfl' option of family 'advection' must be <= "
                f"{CFL_LIMITS[self.scheme]:.4g} for scheme {self.scheme!r} (stability). "
                f"Got {self.cfl!r}."
            )
        if not self.k_max < self.resolution / 2:
            raise ConfigError(
                f"The 'k_max' option of family 'advection' must be < resolution / 2 = "
                f"{self.resolution / 2} (resolved waves). Got {self.k_max!r}."
            )

    # ------------------------------------------------------------------ declaration
    def fields(self) -> dict[str, FieldSpec]:
        s, n = self.resolution, self.n_snapshots
        return {
            "u0": FieldSpec("u0", (s,), "input", ("x",), "initial condition"),
            "u": FieldSpec("u", (n, s), "output", ("t", "x"), "solution at times t"),
        }

    def coords(self) -> dict[str, np.ndarray]:
        t = self.T * np.arange(1, self.n_snapshots + 1) / self.n_snapshots
        return {"t": t, "x": np.arange(self.resolution) / self.resolution}

    # ------------------------------------------------------------------ sampling
    def sample(self, i: int) -> dict[str, Any]:
        u0 = initial_condition(
            (self.resolution,), self.rng(i), kind="fourier", n_waves=self.n_waves, k_max=self.k_max
        )
        return {"u0": u0}

    # ------------------------------------------------------------------ solving
    def time_step(self) -> tuple[float, int]:
        """The step ``dt`` and the number of steps per record interval."""
        interval = self.T / self.n_snapshots
        if self.beta == 0:
            return interval, 1
        dt_cfl = self.cfl / (self.resolution * abs(self.beta))
        n_sub = max(1, math.ceil(interval / dt_cfl - 1e-9))
        return interval / n_sub, n_sub

    def solve_one(self, sample: Mapping[str, Any]) -> tuple[dict[str, np.ndarray], dict]:
        s = self.resolution
        dt, n_sub = self.time_step()
        G = amplification(self.scheme, s, self.beta * dt * s) ** n_sub
        u0 = np.asarray(sample["u0"], dtype=float)
        if u0.shape != (s,) or not np.isfinite(u0).all():
            raise DataError(
                f"family 'advection': 'u0' must be a finite array of shape {(s,)}; "
                f"got shape {u0.shape}."
            )
        v = np.fft.rfft(u0)
        out = np.empty((self.n_snapshots, s))
        for rec in range(self.n_snapshots):
            v = G * v
            out[rec] = np.fft.irfft(v, n=s)
        return {"u": out}, {"iterations": n_sub * self.n_snapshots, "residual": np.nan}
