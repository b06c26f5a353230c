"""Why a solve stopped, and the immutable record of one solve.

Its :class:`SolveStatus` (a :class:`pdeflow.status.Status`) mirrors PETSc's
``KSPConvergedReason``: positive values mean converged, negative values mean diverged and
name the cause.  Every Krylov method
in :mod:`pdeflow.solvers` returns a :class:`SolveResult`; a negative status raises
:class:`pdeflow.errors.ConvergenceError` unless the caller passes
``raise_on_failure=False``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pdeflow.errors import ConvergenceError
from pdeflow.status import Status

__all__ = ["SolveStatus", "SolveResult"]


class SolveStatus(Status):
    """Converged (> 0) or diverged (< 0) reason, numbered as PETSc's KSPConvergedReason.

    Examples
    --------
    >>> SolveStatus.DIVERGED_ITS.converged
    False
    >>> SolveStatus.from_petsc(2)
    <SolveStatus.CONVERGED_RTOL: 2>
    """

    CONVERGED_RTOL = 2, "converged: residual norm below rtol * ||b||"
    CONVERGED_ATOL = 3, "converged: residual norm below atol"
    CONVERGED_ITS = 4, "converged: direct solve (a fixed number of steps)"
    CONVERGED_HAPPY_BREAKDOWN = 5, "converged: the Krylov space became invariant"
    DIVERGED_NULL = -2, "diverged: the operator or preconditioner is null"
    DIVERGED_ITS = -3, (
        "diverged: reached max_iter before the tolerance; increase max_iter, the restart "
        "length, or use a stronger preconditioner"
    )
    DIVERGED_DTOL = -4, "diverged: the residual grew by more than dtol"
    DIVERGED_BREAKDOWN = -5, (
        "diverged: breakdown (a zero or near-zero pivot in the Krylov recurrence); "
        "the operator may be singular"
    )
    DIVERGED_NONSYMMETRIC = -7, "diverged: the method needs a symmetric operator"
    DIVERGED_INDEFINITE_PC = -8, (
        "diverged: the preconditioner is not positive definite; CG needs an SPD "
        "preconditioner (use GMRES or a symmetric preconditioner such as SSOR or AMG)"
    )
    DIVERGED_NANORINF = -9, "diverged: a NaN or Inf appeared in the residual"
    DIVERGED_INDEFINITE_MAT = -10, (
        "diverged: the matrix is not positive definite; CG needs an SPD matrix, use GMRES "
        "or GCRO-DR instead"
    )
    DIVERGED_PC_FAILED = -11, "diverged: the preconditioner failed to set up or apply"

    @classmethod
    def from_petsc(cls, reason: int) -> SolveStatus:
        """Map a PETSc ``KSPConvergedReason`` integer onto this enum.

        Reasons without a counterpart map to ``DIVERGED_BREAKDOWN`` (negative) or
        ``CONVERGED_RTOL`` (positive).
        """
        try:
            return cls(int(reason))
        except ValueError:
            return cls.CONVERGED_RTOL if reason > 0 else cls.DIVERGED_BREAKDOWN


def _frozen(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a)
    if a.flags.writeable and a.base is None:
        a.flags.writeable = False
        return a
    b = np.array(a, copy=True)
    b.flags.writeable = False
    return b


@dataclass(frozen=True, slots=True)
class SolveResult:
    """The immutable record of one linear solve.

    Attributes
    ----------
    x : ndarray, shape (n_local,)
        The solution (the rank's owned entries on the PETSc backend).  Read-only.
    status : SolveStatus
        Why the solve stopped.
    iterations : int
        Krylov iterations (matrix-vector products in the Krylov space).
    residuals : ndarray, shape (iterations + 1,)
        Residual 2-norm estimates, one per iteration, starting with the initial residual.
    time : float
        Wall-clock seconds spent in the solve.
    method : str
        Name of the method that produced this result.
    recycle : Any
        The recycle space to pass to the next solve (GCRO-DR, recycled CG), or ``None``.
    info : dict
        Extra method-specific numbers (restarts, matvecs, preconditioner name ...).
    """

    x: np.ndarray
    status: SolveStatus
    iterations: int
    residuals: np.ndarray
    time: float
    method: str
    recycle: Any = None
    info: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "x", _frozen(self.x))
        object.__setattr__(self, "residuals", _frozen(np.asarray(self.residuals, dtype=float)))

    @property
    def converged(self) -> bool:
        """True if :attr:`status` is a converged reason."""
        return self.status.converged

    @property
    def residual_norm(self) -> float:
        """The last residual norm in the history."""
        return float(self.residuals[-1]) if self.residuals.size else float("nan")

    def raise_if_failed(self) -> SolveResult:
        """Raise :class:`ConvergenceError` if the solve diverged; return ``self`` otherwise."""
        if not self.status.converged:
            raise ConvergenceError(
                f"{self.method} stopped after {self.iterations} iterations with "
                f"{self.status.name}: {self.status.message} "
                f"(last residual norm {self.residual_norm:.3e})"
            )
        return self

    def __repr__(self) -> str:
        return (
            f"SolveResult(method={self.method!r}, status={self.status.name}, "
            f"iterations={self.iterations}, residual={self.residual_norm:.3e}, "
            f"time={self.time:.3g}s)"
        )
