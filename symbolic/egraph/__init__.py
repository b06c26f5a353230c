"""E-graph optimizer: equality saturation with a CPU-cycle cost model and DAG extraction.

One concept per module:

* :mod:`.unionfind`: union-find of e-class ids;
* :mod:`.egraph`: e-nodes, e-classes, hash-consing and congruence (:class:`EGraph`);
* :mod:`.pattern`: s-expression patterns, e-matching, instantiation;
* :mod:`.rules`: named ``(lhs, rhs, guard)`` rules and :data:`RULESETS`;
* :mod:`.runner`: saturation under :class:`Limits`, with a :class:`StopReason`;
* :mod:`.cost`: the cycle table (:class:`CostModel`), :func:`calibrate`;
* :mod:`.extract`: tree, greedy-DAG and exact ILP extraction;
* :mod:`.slp`: the optimized straight-line program (:class:`SLP`);
* :mod:`.emit`: SLP to Numba source, :func:`compile_slp`;
* :mod:`.optimize`: :func:`optimize`, the entry point.

Examples
--------
>>> from pdeflow.symbolic import symbols
>>> from pdeflow.symbolic.egraph import optimize
>>> a, x, y = symbols("a x y")
>>> res = optimize([a*x + a*y, (a*x + a*y)**2], cost="anchor")
>>> res.report.cost_after < res.report.cost_before
True
"""

from pdeflow.symbolic.egraph.convert import add_terms
from pdeflow.symbolic.egraph.cost import ANCHOR, CostModel, calibrate, load_cost_model
from pdeflow.symbolic.egraph.egraph import EGraph
from pdeflow.symbolic.egraph.emit import SLPFunction, compile_slp, slp_source
from pdeflow.symbolic.egraph.extract import (
    dag_cost,
    greedy_dag_extract,
    ilp_extract,
    tree_extract,
)
from pdeflow.symbolic.egraph.optimize import OptimizeReport, OptimizeResult, optimize
from pdeflow.symbolic.egraph.rules import RULESETS, CollectNegatives, Factor, Rule
from pdeflow.symbolic.egraph.runner import Limits, RunReport, StopReason, run
from pdeflow.symbolic.egraph.slp import SLP

__all__ = [
    "optimize", "calibrate", "OptimizeResult", "OptimizeReport", "Limits", "StopReason",
    "Rule", "Factor", "CollectNegatives", "RULESETS", "EGraph", "run", "RunReport",
    "CostModel", "ANCHOR", "load_cost_model", "SLP", "compile_slp", "slp_source",
    "SLPFunction", "tree_extract", "greedy_dag_extract", "ilp_extract", "dag_cost",
    "add_terms",
]
