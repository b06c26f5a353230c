"""Why an optimization stopped, the per-iteration log, and the immutable result.

:class:`OptimStatus` follows the convention of :class:`pdeflow.solvers.status.SolveStatus`:
positive values mean converged, negative values name the cause of a failure, and each
value carries a message that says what to try next.  :func:`pdeflow.solvers.optim.minimize`
raises :class:`pdeflow.errors.ConvergenceError` for a negative status unless the caller
passes ``raise_on_failure=False``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np

from pdeflow.errors import ConvergenceError
from pdeflow.status import Status

__all__ = ["OptimStatus", "IterationRecord", "OptimizeResult"]


class OptimStatus(Status):
    """Converged (> 0) or failed (< 0) reason of a constrained solve.

    Examples
    --------
    >>> OptimStatus.CONVERGED.converged
    True
    >>> OptimStatus.MAX_ITER.converged
    False
    """

    CONVERGED = 1
    MAX_ITER = -1
    LINESEARCH_FAILED = -2
    LINEAR_SOLVER_FAILED = -3
    SINGULAR_KKT = -4
    NONFINITE = -5
    PENALTY_DIVERGED = -6

    @property
    def converged(self) -> bool:
        """True for every positive (converged) reason."""
        return self.value > 0

    @property
    def message(self) -> str:
        """A user-facing explanation that says what to try next."""
        return _MESSAGES[self]


_MESSAGES: dict[OptimStatus, str] = {
    OptimStatus.CONVERGED: "converged: the KKT residual ||(grad_x L, c)|| is below tol",
    OptimStatus.MAX_ITER: (
        "reached max_iter before the KKT tolerance; increase max_iter, start closer to a "
        "solution, or check that the constraints are feasible"
    ),
    OptimStatus.LINESEARCH_FAILED: (
        "the Armijo line search on the merit function found no acceptable step; the "
        "derivatives may be inconsistent with the functions (check grad/jac/hess), or the "
        "tolerance is below what floating point can resolve"
    ),
    OptimStatus.LINEAR_SOLVER_FAILED: (
        "the KKT solver did not reach the adaptive accuracy within its step budget; "
        "increase max_sketch_steps, use a larger sketch, or use method='newton'"
    ),
    OptimStatus.SINGULAR_KKT: (
        "the KKT matrix is singular: the constraint Jacobian is rank-deficient, so the "
        "constraints are redundant or inconsistent; remove or fix the dependent constraints"
    ),
    OptimStatus.NONFINITE: (
        "a NaN or Inf appeared in f, c or a derivative; check the problem's domain and "
        "start from a point where every function is finite"
    ),
    OptimStatus.PENALTY_DIVERGED: (
        "the constraint penalty eta1 grew past eta_max without producing descent; the "
        "constraints are probably infeasible near the iterates"
    ),
}


@dataclass(frozen=True, slots=True)
class IterationRecord:
    """One line of the iteration log.

    Attributes
    ----------
    iteration : int
        Newton iteration index (0 is the start point).
    kkt : float
        KKT residual ``||(grad_x L, c)||_2`` at the iterate that starts this iteration.
    f : float
        Objective value.
    cnorm : float
        Constraint violation ``||c||_2``.
    merit : float
        Merit-function value (exact augmented Lagrangian, or l1 merit for ``l1sqp``).
    merit_next : float
        Merit value at the accepted trial point, with the same penalties (Armijo holds:
        ``merit_next <= merit + sigma * step * slope`` up to rounding).
    slope : float
        Directional derivative of the merit along the accepted direction (< 0).
    step : float
        Accepted step size alpha.
    eta1, eta2 : float
        Penalty parameters used for this iteration (``eta2`` is 0 for ``l1sqp``, whose
        single penalty is stored in ``eta1``).
    regularization : float
        Shift ``delta`` added to the Lagrangian Hessian (0 when its reduced Hessian is PD).
    accuracy : float
        Relative accuracy ``theta`` demanded from the linear solver, ``||r|| <= theta ||e||``.
    residual : float
        Relative KKT-system residual ``||r|| / ||e||`` the linear solver reached.
    linear_steps : int
        Sketch steps (adasketch), Krylov iterations (l1sqp) or 1 (direct solve).
    flops : float
        Estimated floating-point operations of the linear solve(s) in this iteration.
    barrier : float
        Barrier parameter ``mu`` of the interior-point method (0 for equality-only solves).
    """

    iteration: int
    kkt: float
    f: float
    cnorm: float
    merit: float
    merit_next: float
    slope: float
    step: float
    eta1: float
    eta2: float
    regularization: float
    accuracy: float
    residual: float
    linear_steps: int
    flops: float
    barrier: float = 0.0


def _frozen(a: np.ndarray) -> np.ndarray:
    b = np.array(a, dtype=float, copy=True)
    b.flags.writeable = False
    return b


@dataclass(frozen=True, slots=True)
class OptimizeResult:
    """The immutable record of one constrained solve.

    Attributes
    ----------
    x : ndarray, shape (n,)
        Final iterate (read-only).
    lam : ndarray, shape (m,)
        Final Lagrange multipliers lambda, with ``grad f + J^T lam = 0`` at a KKT point.
    status : OptimStatus
        Why the solve stopped.
    f : float
        Objective at ``x``.
    kkt : float
        KKT residual ``||(grad_x L, c)||_2`` at ``(x, lam)``.
    iterations : int
        Newton iterations taken.
    nfev, ngev, njev, nhev : int
        Evaluations of f / c, the gradient, the Jacobian and the Hessian (or Hessian columns).
    time : float
        Wall-clock seconds.
    method : str
        ``"adasketch"``, ``"newton"`` or ``"l1sqp"``.
    history : tuple of IterationRecord
        One record per Newton iteration, in order.
    info : dict
        Method-specific extras (sketch name, seed, ...).
    """

    x: np.ndarray
    lam: np.ndarray
    status: OptimStatus
    f: float
    kkt: float
    iterations: int
    nfev: int
    ngev: int
    njev: int
    nhev: int
    time: float
    method: str
    history: tuple[IterationRecord, ...] = ()
    info: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "x", _frozen(self.x))
        object.__setattr__(self, "lam", _frozen(self.lam))
        object.__setattr__(self, "history", tuple(self.history))

    @property
    def converged(self) -> bool:
        """True if :attr:`status` is a converged reason."""
        return self.status.converged

    @property
    def multipliers(self) -> np.ndarray:
        """Alias of :attr:`lam`."""
        return self.lam

    def log(self, name: str) -> np.ndarray:
        """One column of the iteration log as an array, e.g. ``result.log("kkt")``.

        Shapes: returns ``(len(history),)``.
        """
        names = {f.name for f in fields(IterationRecord)}
        if name not in names:
            from pdeflow.errors import ConfigError

            raise ConfigError(
                f"The 'name' parameter of OptimizeResult.log must be one of {sorted(names)}. "
                f"Got {name!r}."
            )
        return np.array([getattr(r, name) for r in self.history], dtype=float)

    @property
    def sketch_steps(self) -> int:
        """Total linear-solver steps over all iterations."""
        return int(sum(r.linear_steps for r in self.history))

    @property
    def flops(self) -> float:
        """Total estimated linear-solve flops over all iterations."""
        return float(sum(r.flops for r in self.history))

    def raise_if_failed(self) -> OptimizeResult:
        """Raise :class:`ConvergenceError` for a failure status; return ``self`` otherwise."""
        if not self.status.converged:
            where = f"KKT residual {self.kkt:.3e}"
            if self.history:
                where += f", ||c|| = {self.history[-1].cnorm:.3e} at the last iteration"
            if "nonfinite" in self.info:
                where += f"; {self.info['nonfinite']}"
            raise ConvergenceError(
                f"{self.method} stopped after {self.iterations} iterations with "
                f"{self.status.name}: {self.status.message} ({where})"
            )
        return self

    def __repr__(self) -> str:
        return (
            f"OptimizeResult(method={self.method!r}, status={self.status.name}, "
            f"iterations={self.iterations}, f={self.f:.10g}, kkt={self.kkt:.3e}, "
            f"time={self.time:.3g}s)"
        )
