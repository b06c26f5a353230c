"""The entry point: ``minimize(problem, method=...)``."""

from __future__ import annotations

from typing import Any

import numpy as np

from pdeflow.errors import ConfigError, DataError
from pdeflow.solvers.optim.adasketch import solve_adaptive
from pdeflow.solvers.optim.interior import Box, solve_interior
from pdeflow.solvers.optim.l1sqp import solve_l1sqp
from pdeflow.solvers.optim.linsolve import DirectSolver
from pdeflow.solvers.optim.newton_cg import ReducedResult, solve_newton_cg
from pdeflow.solvers.optim.options import NewtonOptions
from pdeflow.solvers.optim.pde import ReducedSpaceProblem
from pdeflow.solvers.optim.problem import ConstrainedProblem, as_vector
from pdeflow.solvers.optim.result import OptimizeResult
from pdeflow.solvers.optim.sketch import make_sketch

__all__ = ["minimize", "METHODS", "as_box"]

METHODS = ("adasketch", "newton", "l1sqp")


def minimize(
    problem: ConstrainedProblem,
    method: str = "adasketch",
    *,
    x0: Any = None,
    bounds: Any = None,
    raise_on_failure: bool = True,
    **options: Any,
) -> OptimizeResult:
    """Solve ``min f(x) s.t. c(x) = 0, g(x) <= 0, lb <= x <= ub``.

    Parameters
    ----------
    problem : ConstrainedProblem or ReducedSpaceProblem
        A :class:`~pdeflow.solvers.optim.pde.ReducedSpaceProblem` (PDE-constrained) is solved
        by reduced-space Newton-CG (:func:`~pdeflow.solvers.optim.newton_cg.solve_newton_cg`;
        options go there and a :class:`~pdeflow.solvers.optim.newton_cg.ReducedResult` comes
        back): with the sketched preconditioner for ``"adasketch"``, unpreconditioned for
        ``"newton"``.
    method : {"adasketch", "newton", "l1sqp"}
        ``adasketch``: adaptive inexact Newton, randomized sketch KKT solves, exact augmented
        Lagrangian merit (Hong et al., ICML 2023).  ``newton``: the same driver with a sparse
        direct (LU) KKT solve.  ``l1sqp``: l1-merit SQP with GMRES KKT solves.
    x0 : array_like, shape (n,), optional
        Start point; defaults to ``problem.x0``.
    bounds : sequence of n (low, high) pairs or scipy.optimize.Bounds, optional
        ``low <= x <= high``; ``None`` or ``+-inf`` for a missing side.  Defaults to
        ``problem.bounds``.  With bounds or inequalities (``problem.ineq``) the solve is a
        primal-dual interior-point method (:mod:`pdeflow.solvers.optim.interior`) whose
        condensed KKT systems are solved by sparse LU for every ``method`` except
        ``l1sqp``, which handles equalities only.
    raise_on_failure : bool
        Raise :class:`pdeflow.errors.ConvergenceError` (saying why and after how many
        iterations) for a failure status; otherwise return the result with that status.
    **options
        See :class:`pdeflow.solvers.optim.options.NewtonOptions` (``tol``, ``max_iter``,
        ``sketch``, ``sketch_size``, ``accuracy``, ``sharpen``, ``seed``, ...).  Unknown
        names raise :class:`pdeflow.errors.ConfigError`.

    Returns
    -------
    OptimizeResult
        ``x`` (n,), ``lam`` (m,), ``history``, ``status`` and evaluation counts.

    Examples
    --------
    >>> from pdeflow.solvers.optim.hs_problems import hs_problem
    >>> res = minimize(hs_problem("hs28"), method="adasketch", seed=0)
    >>> bool(res.converged), round(res.f, 8)
    (True, 0.0)
    """
    if isinstance(problem, ReducedSpaceProblem):
        return _minimize_reduced(problem, method, x0, bounds, raise_on_failure, options)
    if not isinstance(problem, ConstrainedProblem):
        raise ConfigError(
            "The 'problem' parameter of minimize must be a ConstrainedProblem or a "
            "ReducedSpaceProblem. "
            f"Got {type(problem).__name__}."
        )
    if method not in METHODS:
        raise ConfigError(
            f"The 'method' parameter of minimize must be one of {list(METHODS)}. Got {method!r}."
        )
    opts = NewtonOptions.from_kwargs(**options)
    start = problem.x0 if x0 is None else x0
    if start is None:
        raise DataError(f"{problem.name}: no start point; pass x0= or build the problem with x0")
    x = as_vector(start, "x0", problem.n if x0 is not None and problem.n is not None else None)
    box = as_box(problem.bounds if bounds is None else bounds, x.shape[0])
    if box.active or problem.has_inequalities:
        if method == "l1sqp":
            raise ConfigError("method='l1sqp' handles equality constraints only; use "
                              "method='newton' or 'adasketch' with bounds or inequalities")
        result = solve_interior(problem, x, box, opts, method)
    elif method == "l1sqp":
        result = solve_l1sqp(problem, x, opts)
    else:
        solver = (DirectSolver() if method == "newton"
                  else make_sketch(opts.sketch, opts.sketch_size))
        result = solve_adaptive(problem, np.asarray(x, dtype=float), solver, opts, method)
    if raise_on_failure:
        result.raise_if_failed()
    return result


def as_box(bounds: Any, n: int) -> Box:
    """Parse ``bounds`` (n pairs, or an object with ``lb``/``ub``) into a :class:`Box`.

    Examples
    --------
    >>> as_box([(0, None), (None, 1.0)], 2).ub.tolist()
    [inf, 1.0]
    """
    inf = np.full(n, np.inf)
    if bounds is None:
        return Box(-inf, inf)
    if hasattr(bounds, "lb") and hasattr(bounds, "ub"):
        lb = np.broadcast_to(np.asarray(bounds.lb, float), (n,)).copy()
        ub = np.broadcast_to(np.asarray(bounds.ub, float), (n,)).copy()
    else:
        try:
            pairs = [tuple(b) for b in bounds]
        except TypeError as exc:
            raise ConfigError("The 'bounds' parameter of minimize must be a sequence of "
                              f"(low, high) pairs. Got {type(bounds).__name__}.") from exc
        if len(pairs) != n or any(len(b) != 2 for b in pairs):
            raise ConfigError(f"The 'bounds' parameter of minimize must hold {n} (low, high) "
                              f"pairs, one per variable. Got {len(pairs)} entries.")
        lb = np.array([-np.inf if b[0] is None else float(b[0]) for b in pairs])
        ub = np.array([np.inf if b[1] is None else float(b[1]) for b in pairs])
    if np.any(np.isnan(lb)) or np.any(np.isnan(ub)) or np.any(lb > ub):
        bad = np.flatnonzero(~(lb <= ub))[:5].tolist()
        raise DataError(f"bounds are inconsistent (low > high or NaN) at indices {bad}")
    return Box(lb, ub)


def _minimize_reduced(problem: ReducedSpaceProblem, method: str, x0: Any, bounds: Any,
                      raise_on_failure: bool, options: dict) -> ReducedResult | OptimizeResult:
    """``minimize`` on a PDE-constrained problem (see :func:`minimize`)."""
    if x0 is not None or bounds is not None:
        raise ConfigError("for a ReducedSpaceProblem, set the start (z0) and the control "
                          "bounds on the problem itself, not as x0=/bounds=")
    if method in ("adasketch", "newton"):
        if method == "newton":
            options = {"preconditioner": None, **options}
        res = solve_newton_cg(problem, **options)
        if raise_on_failure and not res.converged:
            from pdeflow.errors import ConvergenceError

            raise ConvergenceError(f"reduced Newton-CG stopped after {res.iterations} "
                                   f"iterations with {res.status.name}: {res.status.message} "
                                   f"(KKT residual {res.kkt:.3e})")
        return res
    raise ConfigError("method='l1sqp' does not take a ReducedSpaceProblem; use 'adasketch' "
                      "(reduced Newton-CG) or 'newton' (full space)")
