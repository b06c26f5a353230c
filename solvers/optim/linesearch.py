"""Backtracking Armijo line search on a merit function."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from pdeflow.solvers.optim.oracle import NonFiniteError

__all__ = ["ArmijoStep", "armijo"]

@dataclass(frozen=True, slots=True)
class ArmijoStep[T]:
    """An accepted step: size ``alpha``, merit value, and whatever the trial evaluated."""

    alpha: float
    value: float
    payload: T


def armijo[T](
    trial: Callable[[float], tuple[float, T]],
    phi0: float,
    slope: float,
    *,
    sigma: float = 1e-4,
    shrink: float = 0.5,
    max_backtracks: int = 40,
) -> ArmijoStep[Any] | None:
    """Find ``alpha in {1, shrink, shrink^2, ...}`` with sufficient decrease.

    Accepts ``phi(alpha) <= phi0 + sigma alpha slope + 10 eps |phi0|``; the last term keeps
    the test meaningful when the predicted decrease is below rounding (near a solution).
    A trial whose functions are NaN/Inf counts as a rejection.

    Parameters
    ----------
    trial : callable ``alpha -> (phi(alpha), payload)``
    phi0 : float
        Merit at ``alpha = 0``.
    slope : float
        Directional derivative at ``alpha = 0`` (must be negative).

    Returns
    -------
    ArmijoStep or None
        ``None`` when no step was accepted within ``max_backtracks`` halvings.
    """
    slack = 10.0 * np.finfo(float).eps * abs(phi0)
    alpha = 1.0
    for _ in range(max_backtracks + 1):
        try:
            value, payload = trial(alpha)
        except NonFiniteError:
            value, payload = np.inf, None
        if np.isfinite(value) and value <= phi0 + sigma * alpha * slope + slack:
            return ArmijoStep(alpha, float(value), payload)
        alpha *= shrink
    return None
