"""``optimize``: equality saturation + cost-driven extraction for lists of terms.

One e-graph holds every output (batch mode), so subterms shared between outputs
are found and computed once.  The result carries a straight-line program
(:class:`~.slp.SLP`, the form to compile), canonical terms of the outputs, and a
:class:`OptimizeReport`.
"""

from __future__ import annotations

import gc
import time
from dataclasses import dataclass, field

from pdeflow.symbolic.egraph.convert import add_terms
from pdeflow.symbolic.egraph.cost import CostModel, get_cost_model
from pdeflow.symbolic.egraph.egraph import EGraph
from pdeflow.symbolic.egraph.extract import (
    dag_cost,
    greedy_dag_extract,
    ilp_extract,
    parents,
    tree_extract,
)
from pdeflow.symbolic.egraph.rules import get_rules
from pdeflow.symbolic.egraph.runner import Limits, StopReason, run
from pdeflow.symbolic.egraph.slp import SLP
from pdeflow.symbolic.terms import Term, as_term

EXTRACTORS = ("auto", "tree", "greedy-dag", "ilp")
#: ``extractor="auto"`` tries the exact ILP up to this many e-nodes
ILP_MAX_NODES = 400


@dataclass(frozen=True)
class OptimizeReport:
    """What :func:`optimize` did.  Costs are cycles of one evaluation (DAG cost).

    Attributes
    ----------
    cost_before, cost_after : float
        Input program (each distinct canonical subterm once) and the returned program.
    costs : dict of str to float
        DAG cost of every extractor that ran (``"tree"``, ``"greedy-dag"``, ``"ilp"``).
    extractor : str
        Which program was returned (``"input"`` when no extraction was cheaper).
    n_nodes, n_classes, iterations : int
    stop_reason : StopReason
    time_s, saturation_s, extraction_s : float
    cost_model : str
        ``"anchor"``, ``"calibrated"`` or ``"custom"``.
    """

    cost_before: float
    cost_after: float
    costs: dict
    extractor: str
    n_nodes: int
    n_classes: int
    iterations: int
    stop_reason: StopReason
    time_s: float
    saturation_s: float
    extraction_s: float
    cost_model: str
    applied: dict = field(default_factory=dict)
    extraction_times: dict = field(default_factory=dict)

    @property
    def speedup(self) -> float:
        """``cost_before / cost_after``."""
        return self.cost_before / self.cost_after if self.cost_after else float("inf")

    def __str__(self) -> str:
        ex = ", ".join(f"{k} {v:.0f}" for k, v in self.costs.items())
        return (f"cost {self.cost_before:.0f} -> {self.cost_after:.0f} cycles "
                f"({self.speedup:.2f}x, {self.extractor}; {ex}); {self.n_nodes} e-nodes, "
                f"{self.iterations} iterations, {self.time_s:.2f} s; "
                f"stop: {self.stop_reason.name}")


@dataclass(frozen=True)
class OptimizeResult:
    """``slp`` (compile this), ``exprs`` (canonical terms of the outputs) and ``report``."""

    slp: SLP
    report: OptimizeReport

    @property
    def exprs(self) -> list[Term]:
        """The optimized outputs as terms, one per input expression, in order."""
        return self.slp.to_terms()


def optimize(exprs, rules="default", cost="cycles", limits: Limits | None = None,
             extractor: str = "auto") -> OptimizeResult:
    """Rewrite expressions into an equivalent program of minimal estimated CPU cycles.

    Parameters
    ----------
    exprs : Term or list of Term
        The outputs; all share one e-graph.
    rules : str or list of Rule
        ``"default"``, ``"full"``, ``"none"`` (see :data:`~.rules.RULESETS`) or rules.
    cost : str, dict or CostModel
        ``"cycles"`` (the table stored by :func:`~.cost.calibrate` for this machine,
        else the anchor), ``"anchor"``, a dict of op costs, or a :class:`CostModel`.
    limits : Limits, optional
        Saturation limits (iterations, e-nodes, seconds).
    extractor : {"auto", "tree", "greedy-dag", "ilp"}
        ``"auto"`` runs tree and greedy-DAG extraction (and the exact ILP for e-graphs
        up to :data:`ILP_MAX_NODES` e-nodes) and keeps the cheapest DAG.

    Returns
    -------
    OptimizeResult
        ``.slp`` never costs more than the input program (``report.extractor`` is
        ``"input"`` when nothing cheaper was found).

    Examples
    --------
    >>> from pdeflow.symbolic import symbols, sin, cos
    >>> from pdeflow.symbolic.egraph import optimize
    >>> x, y = symbols("x y")
    >>> res = optimize([sin(x)**2 + cos(x)**2 + x*y + x*2], cost="anchor")
    >>> res.exprs[0]
    x*(y + 2) + 1
    >>> res.report.cost_before, res.report.cost_after
    (283.0, 5.0)
    """
    if extractor not in EXTRACTORS:
        raise ValueError(
            f"The 'extractor' parameter of optimize must be one of {EXTRACTORS}. "
            f"Got {extractor!r}."
        )
    if isinstance(exprs, Term):
        exprs = [exprs]
    exprs = [as_term(e) for e in exprs]
    model: CostModel = get_cost_model(cost)
    limits = limits or Limits()
    enabled = gc.isenabled()
    gc.disable()  # millions of small tuples: the cyclic collector would dominate the run
    try:
        return _optimize(exprs, rules, model, limits, extractor)
    finally:
        if enabled:
            gc.enable()


def _optimize(exprs, rules, model, limits, extractor) -> OptimizeResult:
    t0 = time.perf_counter()

    eg = EGraph()
    roots = add_terms(eg, exprs)
    if eg.dirty:  # a constant was folded (a union): restore congruence; else nothing to do
        eg.rebuild()
    before = SLP.from_choice(eg, roots, {c: eg.nodes[c][0] for c in eg.nodes})
    cost_before = before.cost(model)
    if _nothing_to_choose(eg, rules, limits, extractor):
        return _as_input(before, cost_before, eg, extractor, model, rules, limits, t0)
    rep = run(eg, rules, limits)
    t1 = time.perf_counter()
    roots = [eg.find(r) for r in roots]
    cands: dict = {}
    par = parents(eg)
    if extractor in ("auto", "tree"):
        cands["tree"] = tree_extract(eg, roots, model, par)
    t_tree = time.perf_counter()
    if extractor in ("auto", "greedy-dag"):
        cands["greedy-dag"] = greedy_dag_extract(eg, roots, model, par)
    t_dag = time.perf_counter()
    if extractor == "ilp" or (extractor == "auto" and eg.n_nodes <= ILP_MAX_NODES):
        ch = ilp_extract(eg, roots, model, max_nodes=max(eg.n_nodes, ILP_MAX_NODES))
        if ch is not None:
            cands["ilp"] = ch
    costs = {k: dag_cost(eg, roots, ch, model) for k, ch in cands.items()}
    best = min(costs, key=lambda k: (costs[k], list(costs).index(k))) if costs else None
    if best is None or costs[best] >= cost_before:
        slp, name, after = before, "input", cost_before
    else:
        slp = SLP.from_choice(eg, roots, cands[best])
        name, after = best, slp.cost(model)
    t2 = time.perf_counter()
    report = OptimizeReport(
        cost_before=cost_before, cost_after=after, costs=costs, extractor=name,
        n_nodes=rep.n_nodes, n_classes=rep.n_classes, iterations=rep.iterations,
        stop_reason=rep.stop_reason, time_s=t2 - t0, saturation_s=rep.time_s,
        extraction_s=t2 - t1, cost_model=model.source, applied=rep.applied,
        extraction_times={"tree": t_tree - t1, "greedy-dag": t_dag - t_tree, "other": t2 - t_dag},
    )
    return OptimizeResult(slp, report)


def _nothing_to_choose(eg, rules, limits, extractor) -> bool:
    """No rewriting asked and one e-node per e-class: tree and greedy-DAG extraction can
    only pick the input program, so they need not run (the straight-line path of small
    ODE systems: ``rules="none"`` or ``Limits(iterations=0)``)."""
    if extractor not in ("tree", "greedy-dag"):
        return False
    if limits.iterations > 0 and get_rules(rules):
        return False
    return all(len(ns) == 1 for ns in eg.nodes.values())


def _as_input(slp, cost, eg, extractor, model, rules, limits, t0) -> OptimizeResult:
    """The result of :func:`_optimize` when the input program is the only candidate (the
    report :func:`~.runner.run` would give: no rule matches, so one idle iteration)."""
    rules = get_rules(rules)
    idle = limits.iterations > 0
    t = time.perf_counter() - t0
    report = OptimizeReport(
        cost_before=cost, cost_after=cost, costs={extractor: cost}, extractor="input",
        n_nodes=eg.n_nodes, n_classes=eg.n_classes, iterations=int(idle),
        stop_reason=StopReason.SATURATED if idle else StopReason.ITERATION_LIMIT, time_s=t,
        saturation_s=0.0, extraction_s=0.0, cost_model=model.source,
        applied={r.name: 0 for r in rules},
        extraction_times={"tree": 0.0, "greedy-dag": 0.0, "other": 0.0},
    )
    return OptimizeResult(slp, report)


__all__ = ["optimize", "OptimizeResult", "OptimizeReport", "EXTRACTORS", "StopReason"]
