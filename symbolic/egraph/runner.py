"""The runner: equality saturation under iteration, e-node and time limits.

Each iteration searches every rule on the rebuilt e-graph, then applies the matches
in rule order and rebuilds.  The run always ends with a :class:`StopReason`.  The
e-node and time limits are checked before every rule application, so a run stops
within one application (at most a few hundred e-nodes) of its limit.  Results are
deterministic unless the *time* limit stops the run: keep it as a safety net above
what the e-node and iteration limits allow.

>>> from pdeflow.symbolic import symbols
>>> from pdeflow.symbolic.egraph import EGraph, Limits, run
>>> from pdeflow.symbolic.egraph.convert import add_terms
>>> x, y = symbols("x y")
>>> g = EGraph(); _ = add_terms(g, [2*x + 2*y])
>>> run(g, "default", Limits(iterations=5)).stop_reason
<StopReason.SATURATED: 1>
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from pdeflow.status import Status
from pdeflow.symbolic.egraph.rules import get_rules


class StopReason(Status):
    """Why a run stopped (a :class:`pdeflow.status.Status`: code, ``converged``, message)."""

    SATURATED = 1, "saturated: no rule adds anything new"
    ITERATION_LIMIT = -1, "iteration limit reached; raise Limits.iterations to search further"
    NODE_LIMIT = -2, "e-node limit reached; raise Limits.nodes to search further"
    TIME_LIMIT = -3, "time limit reached; raise Limits.time (results may vary between runs)"


def _check(name, value, kind, lo, hi=float("inf")):
    if not isinstance(value, kind) or isinstance(value, bool) or not lo <= value <= hi:
        what = "an int" if kind is int else "a number"
        raise ValueError(
            f"The '{name}' parameter of Limits must be {what} in [{lo}, {hi}]. Got {value!r}."
        )


@dataclass(frozen=True)
class Limits:
    """Limits of one saturation run.

    Parameters
    ----------
    iterations : int
        Most rule-application rounds.
    nodes : int
        Most e-nodes (checked before each application).
    time : float
        Most seconds of saturation (a safety net; see the module docstring).
    matches : int
        Most matches of one rule in one e-class per iteration.
    """

    iterations: int = 6
    nodes: int = 300_000
    time: float = 60.0
    matches: int = 4

    def __post_init__(self):
        _check("iterations", self.iterations, int, 0)
        _check("nodes", self.nodes, int, 1)
        _check("time", self.time, (int, float), 0.0)
        _check("matches", self.matches, int, 1)


@dataclass(frozen=True)
class RunReport:
    """What a run did: ``iterations``, final ``n_nodes``/``n_classes``, ``stop_reason``..."""

    iterations: int
    n_nodes: int
    n_classes: int
    stop_reason: StopReason
    time_s: float
    applied: dict = field(default_factory=dict)


def run(eg, rules="default", limits: Limits | None = None) -> RunReport:
    """Saturate ``eg`` with ``rules`` (a ruleset name or a list of rules) under ``limits``."""
    rules = get_rules(rules)
    limits = limits or Limits()
    t0 = time.perf_counter()
    applied = {r.name: 0 for r in rules}
    reason = StopReason.ITERATION_LIMIT
    it = 0
    eg.rebuild()
    while True:
        if it >= limits.iterations:
            reason = StopReason.ITERATION_LIMIT
            break
        index = eg.by_op(incremental=it > 0)
        matches = [(r, r.search(eg, index, limits.matches)) for r in rules]
        it += 1
        changed = False
        stop = None
        start_nodes = eg.size
        for r, ms in matches:
            for cid, s in ms:
                if eg.size >= limits.nodes:
                    stop = StopReason.NODE_LIMIT
                    break
                if time.perf_counter() - t0 > limits.time:
                    stop = StopReason.TIME_LIMIT
                    break
                if r.apply(eg, cid, s):
                    applied[r.name] += 1
                    changed = True
            if stop:
                break
        eg.rebuild()
        if stop:
            reason = stop
            break
        if not changed and eg.size == start_nodes:
            reason = StopReason.SATURATED
            break
    return RunReport(it, eg.n_nodes, eg.n_classes, reason, time.perf_counter() - t0, applied)


__all__ = ["Limits", "RunReport", "StopReason", "run"]
