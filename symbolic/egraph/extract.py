"""Extraction: choose one e-node per needed e-class.

* :func:`tree_extract`: minimal *tree* cost per e-class (shared subterms counted once
  per use), by Knuth's generalization of Dijkstra's algorithm;
* :func:`greedy_dag_extract`: the same order, but a candidate's cost is the sum of the
  node costs of the *distinct* e-classes below it (each shared subterm counted once);
* :func:`ilp_extract`: the exact minimal DAG cost with ``scipy.optimize.milp`` (HiGHS),
  for small e-graphs (acyclicity by level variables).

All return ``{eclass: enode}`` for the e-classes reachable from ``roots``; costs come from
a :class:`~.cost.CostModel`.  :func:`dag_cost` is the cost of a choice as generated code
pays it: every distinct e-class once.

>>> from pdeflow.symbolic import symbols
>>> from pdeflow.symbolic.egraph import EGraph, CostModel
>>> from pdeflow.symbolic.egraph.convert import add_terms
>>> x, y = symbols("x y")
>>> g = EGraph(); r = add_terms(g, [x*y + 1, x*y + 2])
>>> m = CostModel.anchor()
>>> dag_cost(g, r, greedy_dag_extract(g, r, m), m)
5.0
"""

from __future__ import annotations

import heapq

import numpy as np


def parents(eg) -> dict:
    """``{eclass: [(parent eclass, enode), ...]}`` (pass to the extractors to share it)."""
    par: dict = {}
    for c in sorted(eg.nodes):
        for n in eg.nodes[c]:
            for d in set(n[2]):
                par.setdefault(d, []).append((c, n))
    return par


def _knuth(eg, model, dag: bool, par=None):
    """Bottom-up best node per e-class; ``dag`` scores candidates by distinct descendants."""
    par = parents(eg) if par is None else par
    ncost: dict = {}
    best: dict = {}
    below: dict = {}
    pending: dict = {}
    heap: list = []
    seq = 0

    def push(c, n):
        nonlocal seq
        kids = set(n[2])
        if dag:
            s = set().union(*(below[d] for d in kids)) if kids else set()
            cost = model.node_cost(n) + sum(map(ncost.__getitem__, s))
        else:
            s = None
            cost = model.node_cost(n) + sum(best[d][0] for d in n[2])
        seq += 1
        heapq.heappush(heap, (cost, seq, c, n, s))

    for c in sorted(eg.nodes):
        for n in eg.nodes[c]:
            k = len(set(n[2]))
            pending[(c, n)] = k
            if k == 0:
                push(c, n)
    while heap:
        cost, _, c, n, s = heapq.heappop(heap)
        if c in best:
            continue
        best[c] = (cost, n)
        ncost[c] = model.node_cost(n)
        if dag:
            s.add(c)
            below[c] = s
        for pc, pn in par.get(c, ()):
            if pc in best:
                continue
            key = (pc, pn)
            pending[key] -= 1
            if pending[key] == 0:
                push(pc, pn)
    return {c: v[1] for c, v in best.items()}


def _reachable(eg, roots, choice):
    out = []
    seen = set()
    stack = [eg.find(r) for r in roots]
    while stack:
        c = stack.pop()
        if c in seen:
            continue
        seen.add(c)
        out.append(c)
        stack.extend(choice[c][2])
    return out


def tree_extract(eg, roots, model, parents=None) -> dict:
    """``{eclass: enode}`` minimizing each root's tree cost."""
    choice = _knuth(eg, model, False, parents)
    return {c: choice[c] for c in _reachable(eg, roots, choice)}


def greedy_dag_extract(eg, roots, model, parents=None) -> dict:
    """``{eclass: enode}`` minimizing each e-class's distinct-descendant cost, greedily."""
    choice = _knuth(eg, model, True, parents)
    return {c: choice[c] for c in _reachable(eg, roots, choice)}


def dag_cost(eg, roots, choice, model) -> float:
    """Cost of the program ``choice`` computes: each reachable e-class counted once."""
    return float(sum(model.node_cost(choice[c]) for c in _reachable(eg, roots, choice)))


def ilp_extract(eg, roots, model, time_limit: float = 10.0, max_nodes: int = 3000):
    """Exact minimal DAG cost with ``scipy.optimize.milp``; ``None`` if too big or not solved.

    Only e-classes reachable from ``roots`` (through any e-node) take part; the graph is
    "too big" above ``max_nodes`` e-nodes.
    """
    from scipy.optimize import Bounds, LinearConstraint, milp
    from scipy.sparse import coo_matrix

    roots = [eg.find(r) for r in roots]
    classes, seen, stack = [], set(), list(roots)
    while stack:
        c = stack.pop()
        if c in seen:
            continue
        seen.add(c)
        classes.append(c)
        for n in eg.nodes[c]:
            stack.extend(n[2])
    classes.sort()
    nodes = [(c, n) for c in classes for n in eg.nodes[c]]
    if len(nodes) > max_nodes:
        return None
    ci = {c: i for i, c in enumerate(classes)}
    nx, nc = len(nodes), len(classes)
    big = nc + 1
    rows, cols, vals, lo, hi = [], [], [], [], []
    r = 0

    def row(entries, lb, ub):
        nonlocal r
        for j, v in entries:
            rows.append(r)
            cols.append(j)
            vals.append(v)
        lo.append(lb)
        hi.append(ub)
        r += 1

    members: dict = {}
    for j, (c, _) in enumerate(nodes):
        members.setdefault(c, []).append(j)
    for c in set(roots):
        row([(j, 1.0) for j in members[c]], 1.0, np.inf)
    for j, (c, n) in enumerate(nodes):
        for d in set(n[2]):
            if d == c:
                row([(j, 1.0)], 0.0, 0.0)
                continue
            # x_j <= sum of x over class d
            row([(j, 1.0)] + [(k, -1.0) for k in members[d]], -np.inf, 0.0)
            # level_c - level_d + big*(1 - x_j) >= 1
            row([(nx + ci[c], 1.0), (nx + ci[d], -1.0), (j, -big)], 1.0 - big, np.inf)
    cost = np.array([model.node_cost(n) for _, n in nodes] + [0.0] * nc)
    A = coo_matrix((vals, (rows, cols)), shape=(r, nx + nc)).tocsr()
    integrality = np.array([1] * nx + [0] * nc)
    bounds = Bounds(np.zeros(nx + nc), np.array([1.0] * nx + [float(nc)] * nc))
    res = milp(cost, constraints=LinearConstraint(A, lo, hi), integrality=integrality,
               bounds=bounds, options={"time_limit": time_limit})
    if res.x is None:
        return None
    chosen: dict = {}
    for j, (c, n) in enumerate(nodes):
        if res.x[j] > 0.5 and c not in chosen:
            chosen[c] = n
    try:
        return {c: chosen[c] for c in _reachable(eg, roots, chosen)}
    except KeyError:
        return None


__all__ = ["parents", "tree_extract", "greedy_dag_extract", "ilp_extract", "dag_cost"]
