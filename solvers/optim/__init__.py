"""Equality-constrained optimization (pdeflow.solvers.optim).

Adaptive inexact Newton with an exact augmented Lagrangian merit and randomized iterative
sketching (Hong, Na, Mahoney & Kolar, ICML 2023), plus two in-house baselines (exact
Newton-KKT with sparse LU, l1-merit SQP with GMRES).

Examples
--------
>>> import jax.numpy as jnp
>>> from pdeflow.solvers.optim import ConstrainedProblem, minimize
>>> p = ConstrainedProblem.from_jax(lambda x: (1 - x[0]) ** 2,
...                                 lambda x: jnp.array([10 * (x[1] - x[0] ** 2)]),
...                                 x0=[-1.2, 1.0])
>>> res = minimize(p, method="adasketch", seed=0)
>>> [float(round(v, 6)) for v in res.x]
[1.0, 1.0]
"""

from pdeflow.solvers.optim.minimize import METHODS, minimize
from pdeflow.solvers.optim.problem import ConstrainedProblem
from pdeflow.solvers.optim.result import IterationRecord, OptimizeResult, OptimStatus
from pdeflow.solvers.optim.sketch import (
    SKETCHES,
    AbstractSketchSolver,
    BlockSketch,
    CountSketch,
    GaussianSketch,
    Kaczmarz,
    RowKaczmarz,
)

__all__ = [
    "ConstrainedProblem",
    "minimize",
    "METHODS",
    "OptimizeResult",
    "OptimStatus",
    "IterationRecord",
    "AbstractSketchSolver",
    "Kaczmarz",
    "RowKaczmarz",
    "GaussianSketch",
    "BlockSketch",
    "CountSketch",
    "SKETCHES",
]
