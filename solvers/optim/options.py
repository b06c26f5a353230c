"""Validated, frozen options of :func:`pdeflow.solvers.optim.minimize`.

Every numeric option is declared once with its interval in ``_CONSTRAINTS``; one checker
writes every error message the same way ("The 'tol' parameter of minimize must be a
float in (0, inf). Got -1.").
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

from pdeflow.errors import ConfigError

__all__ = ["NewtonOptions"]

# name -> (kind, low, high, low_open, high_open)
_CONSTRAINTS: dict[str, tuple[type, float, float, bool, bool]] = {
    "tol": (float, 0.0, math.inf, True, True),
    "max_iter": (int, 1, math.inf, False, True),
    "accuracy": (float, 0.0, 1.0, True, True),
    "accuracy_min": (float, 0.0, 1.0, True, True),
    "eta1": (float, 0.0, math.inf, True, True),
    "eta2": (float, 0.0, math.inf, True, True),
    "eta_max": (float, 0.0, math.inf, True, True),
    "rho": (float, 1.0, math.inf, True, True),
    "sigma": (float, 0.0, 0.5, True, True),
    "max_sketch_steps": (int, 1, math.inf, False, True),
    "sketch_size": (int, 1, math.inf, False, True),
    "gmres_restart": (int, 1, math.inf, False, True),
}


def _check_number(name: str, value: Any) -> None:
    kind, lo, hi, lo_open, hi_open = _CONSTRAINTS[name]
    ok_type = isinstance(value, int) if kind is int else isinstance(value, int | float)
    ok_type = ok_type and not isinstance(value, bool)
    left = "(" if lo_open else "["
    right = ")" if hi_open else "]"
    if ok_type and math.isfinite(float(value)):
        above = value > lo if lo_open else value >= lo
        below = value < hi if hi_open else value <= hi
        if above and below:
            return
    raise ConfigError(
        f"The '{name}' parameter of minimize must be a{'n' if kind is int else ''} "
        f"{kind.__name__} in {left}{lo:g}, {hi:g}{right}. Got {value!r}."
    )


@dataclass(frozen=True, slots=True)
class NewtonOptions:
    """Options shared by the three methods (each uses the ones it needs).

    Attributes
    ----------
    tol : float
        Stop when ``||(grad_x L, c)||_2 <= tol``.
    max_iter : int
        Newton iterations.
    accuracy : float
        Adaptive accuracy ``theta``: the linear solve stops at ``||r|| <= theta ||e||``.
    sharpen : bool
        Sharpened accuracy ``theta_t = min(theta, ||e_t||)`` (superlinear local rate).
    accuracy_min : float
        Floor of ``theta`` when the driver tightens it.
    eta1, eta2 : float
        Initial penalties of the exact augmented Lagrangian.
    eta_max : float
        ``eta1`` beyond this means the constraints are not being reduced.
    rho : float
        Penalty update factor.
    sigma : float
        Armijo constant.
    max_sketch_steps : int, optional
        Linear-solver step budget per Newton iteration (default ``max(10**6, 100 N)``).
    sketch : str or AbstractSketchSolver
        Sketch solver for ``adasketch``.  Default ``"countsketch"``: it solves all 12
        Hock-Schittkowski problems of ``benchmarks/optim_hs.py`` to KKT <= 1e-8 in about
        Kaczmarz's time on the ones Kaczmarz solves; ``"kaczmarz"`` (O(nnz(row)) per step,
        ~||K||_F^2 / sigma_min(K)^2 steps) reaches 8 of them.
    sketch_size : int, optional
        Sketch size for the ``gaussian``, ``block`` and ``countsketch`` solvers.
    gmres_restart : int
        GMRES restart length for ``l1sqp``.
    lambda0 : str or array_like
        ``"auto"`` (least squares for ``n <= 600``, zeros above), ``"lsq"`` (least-squares
        multipliers at ``x0``), ``"zeros"``, or an array (m,).
    seed : int or None
        Seed of the sketch solver's random generator.
    """

    tol: float = 1e-8
    max_iter: int = 200
    accuracy: float = 0.5
    sharpen: bool = True
    accuracy_min: float = 1e-12
    eta1: float = 1.0
    eta2: float = 0.1
    eta_max: float = 1e12
    rho: float = 2.0
    sigma: float = 1e-4
    max_sketch_steps: int | None = None
    sketch: Any = "countsketch"
    sketch_size: int | None = None
    gmres_restart: int = 50
    lambda0: Any = "auto"
    seed: int | None = 0

    def __post_init__(self) -> None:
        for f in fields(self):
            if f.name in _CONSTRAINTS:
                value = getattr(self, f.name)
                if value is None and f.name in ("max_sketch_steps", "sketch_size"):
                    continue
                _check_number(f.name, value)
        if not isinstance(self.sharpen, bool):
            raise ConfigError(f"The 'sharpen' parameter of minimize must be a bool. "
                              f"Got {self.sharpen!r}.")
        if isinstance(self.lambda0, str) and self.lambda0 not in ("auto", "lsq", "zeros"):
            raise ConfigError(
                "The 'lambda0' parameter of minimize must be 'auto', 'lsq', 'zeros' or an array. "
                f"Got {self.lambda0!r}."
            )
        if self.seed is not None and (isinstance(self.seed, bool) or not isinstance(
                self.seed, int)):
            raise ConfigError(f"The 'seed' parameter of minimize must be an int or None. "
                              f"Got {self.seed!r}.")

    @classmethod
    def from_kwargs(cls, **kwargs: Any) -> NewtonOptions:
        """Build options; an unknown keyword is a :class:`ConfigError`."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(kwargs) - known)
        if unknown:
            raise ConfigError(
                f"minimize got unknown option(s) {unknown}; known options are {sorted(known)}"
            )
        return cls(**kwargs)
