"""The entry point: ``minimize(problem, method=...)``."""

from __future__ import annotations

from typing import Any

import numpy as np

from pdeflow.errors import ConfigError, DataError
from pdeflow.solvers.optim.adasketch import solve_adaptive
from pdeflow.solvers.optim.l1sqp import solve_l1sqp
from pdeflow.solvers.optim.linsolve import DirectSolver
from pdeflow.solvers.optim.options import NewtonOptions
from pdeflow.solvers.optim.problem import ConstrainedProblem, as_vector
from pdeflow.solvers.optim.result import OptimizeResult
from pdeflow.solvers.optim.sketch import make_sketch

__all__ = ["minimize", "METHODS"]

METHODS = ("adasketch", "newton", "l1sqp")


def minimize(
    problem: ConstrainedProblem,
    method: str = "adasketch",
    *,
    x0: Any = None,
    raise_on_failure: bool = True,
    **options: Any,
) -> OptimizeResult:
    """Solve ``min f(x) s.t. c(x) = 0``.

    Arguments
    ---------
    problem : ConstrainedProblem
    method : {"adasketch", "newton", "l1sqp"}
        ``adasketch``: adaptive inexact Newton, randomized sketch KKT solves, exact augmented
        Lagrangian merit (Hong et al., ICML 2023).  ``newton``: the same driver with a sparse
        direct (LU) KKT solve.  ``l1sqp``: l1-merit SQP with GMRES KKT solves.
    x0 : array_like, shape (n,), optional
        Start point; defaults to ``problem.x0``.
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
    if not isinstance(problem, ConstrainedProblem):
        raise ConfigError(
            "The 'problem' parameter of minimize must be a ConstrainedProblem. "
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
    if method == "l1sqp":
        result = solve_l1sqp(problem, x, opts)
    else:
        solver = (DirectSolver() if method == "newton"
                  else make_sketch(opts.sketch, opts.sketch_size))
        result = solve_adaptive(problem, np.asarray(x, dtype=float), solver, opts, method)
    if raise_on_failure:
        result.raise_if_failed()
    return result
