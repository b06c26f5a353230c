"""Argument checking and set-up shared by the Krylov methods (one validation mechanism)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from pdeflow.errors import ConfigError

from .backends import AbstractBackend, Operator, backend_for
from .preconditioners import resolve_preconditioner
from .status import SolveStatus

__all__ = ["check_int", "check_float", "Setup", "setup_solve"]


def check_int(owner: str, name: str, value: Any, low: int, high: float = math.inf) -> int:
    """Return ``value`` as int or raise ``ConfigError`` in the sklearn wording."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | np.integer)
        or not low <= value <= high
    ):
        hi = "inf" if high == math.inf else str(int(high))
        raise ConfigError(
            f"The '{name}' parameter of {owner} must be an int in [{low}, {hi}]. Got {value!r}."
        )
    return int(value)


def check_float(
    owner: str, name: str, value: Any, low: float, high: float = math.inf, *, open_low: bool = False
) -> float:
    """Return ``value`` as float or raise ``ConfigError`` in the sklearn wording."""
    ok = isinstance(value, int | float | np.floating) and not isinstance(value, bool)
    ok = ok and math.isfinite(float(value)) and (value > low if open_low else value >= low)
    ok = ok and value <= high
    if not ok:
        lb = "(" if open_low else "["
        raise ConfigError(
            f"The '{name}' parameter of {owner} must be a float in {lb}{low}, {high}]. "
            f"Got {value!r}."
        )
    return float(value)


@dataclass(slots=True)
class Setup:
    """What a Krylov method needs after validation."""

    backend: AbstractBackend
    op: Operator
    b: np.ndarray
    x: np.ndarray
    M: Any
    pc_name: str
    bnorm: float
    target: float
    rtarget: float

    def converged_status(self, rnorm: float) -> SolveStatus:
        """CONVERGED_RTOL if the relative test holds, else CONVERGED_ATOL."""
        return SolveStatus.CONVERGED_RTOL if rnorm <= self.rtarget else SolveStatus.CONVERGED_ATOL

    def stop_status(self, rnorm: float, its: int, max_iter: int) -> SolveStatus | None:
        """Why a restarted method stops before its next cycle, or None to go on.

        Checked in this order: non-finite residual, convergence, iteration limit.
        """
        if not np.isfinite(rnorm):
            return SolveStatus.DIVERGED_NANORINF
        if rnorm <= self.target:
            return self.converged_status(rnorm)
        if its >= max_iter:
            return SolveStatus.DIVERGED_ITS
        return None


def setup_solve(
    owner: str,
    A: Any,
    b: Any,
    x0: Any,
    M: Any,
    rtol: float,
    atol: float,
    backend: AbstractBackend | str | None,
) -> Setup:
    """Validate the common arguments and build operator, preconditioner and tolerance.

    The stopping test of every method is ``||b - A x|| <= max(rtol * ||b||, atol)``
    (unpreconditioned residual, relative to the right-hand side, so that methods and
    initial guesses are compared at the same accuracy).
    """
    rtol = check_float(owner, "rtol", rtol, 0.0, 1.0)
    atol = check_float(owner, "atol", atol, 0.0)
    if rtol == 0 and atol == 0:
        raise ConfigError(f"{owner} needs rtol > 0 or atol > 0; both are 0.")
    bk = backend_for(A, backend)
    op = bk.operator(A)
    bvec = bk.check_vector(b, op, "b")
    x = np.zeros(op.n_local) if x0 is None else bk.check_vector(x0, op, "x0").copy()
    apply_M, pc_name = resolve_preconditioner(M, op, bk)
    bnorm = bk.norm(bvec)
    return Setup(bk, op, bvec, x, apply_M, pc_name, bnorm, max(rtol * bnorm, atol), rtol * bnorm)
