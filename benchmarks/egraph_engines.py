"""Saturation engines on BCR outputs: egglog (Rust, binary AC rules) vs pdeflow's e-graph.

The issue asks to use egglog unless pdeflow's own engine measures faster on the BCR
workload.  Both engines get the first ``--outputs`` right-hand sides of the BCR network:

egglog
    Terms as binary ``+``/``*`` trees; rules: commutativity, associativity and
    factoring ``a*b + a*c -> a*(b + c)`` (the AC rules are what a binary engine needs to
    find factors in a sum); ``run(1..--iterations)``, then egglog's tree extraction.
    Cost of the extracted expression: ``+`` 1, ``*`` 3 (counted on its printed form).
pdeflow
    :func:`pdeflow.symbolic.egraph.optimize` (n-ary AC nodes, whole-sum factoring).

Reported per engine and iteration count: wall time, e-graph size and extracted cost.

Run::

    .venv/bin/python benchmarks/egraph_engines.py --outputs 20 --iterations 4
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import write_results  # noqa: E402

NET = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "reaction_networks"


def _egglog(terms, iterations):
    from egglog import EGraph, Expr, StringLike, f64Like, rewrite, ruleset

    from pdeflow.symbolic.interface import ADD, MUL, POW, arguments, iscall, operation
    from pdeflow.symbolic.terms import Num

    class E(Expr):
        def __init__(self, v: f64Like) -> None: ...

        @classmethod
        def var(cls, name: StringLike) -> E: ...

        def __add__(self, other: E) -> E: ...

        def __mul__(self, other: E) -> E: ...

    rs = ruleset()

    @rs.register
    def _(a: E, b: E, c: E):
        yield rewrite(a + b).to(b + a)
        yield rewrite(a * b).to(b * a)
        yield rewrite((a + b) + c).to(a + (b + c))
        yield rewrite((a * b) * c).to(a * (b * c))
        yield rewrite(a * b + a * c).to(a * (b + c))

    memo: dict = {}

    def conv(t):
        if t in memo:
            return memo[t]
        if not iscall(t):
            r = E(float(t.value)) if type(t) is Num else E.var(t.name)
        else:
            op = operation(t)
            args = [conv(x) for x in arguments(t)]
            if op is POW:
                n = int(arguments(t)[1].value)
                args = [args[0]] * n
                op = MUL
            while len(args) > 1:  # balanced: egglog's Python layer recurses on depth
                nxt = [args[i] + args[i + 1] if op is ADD else args[i] * args[i + 1]
                       for i in range(0, len(args) - 1, 2)]
                if len(args) % 2:
                    nxt.append(args[-1])
                args = nxt
            r = args[0]
        memo[t] = r
        return r

    rows = []
    for it in iterations:
        eg = EGraph()
        lets = [eg.let(f"e{j}", conv(t)) for j, t in enumerate(terms)]
        t0 = time.perf_counter()
        eg.run(rs * it)
        t_run = time.perf_counter() - t0
        cost = 0
        for e in lets:
            s = str(eg.extract(e))
            cost += s.count(" + ") + 3 * s.count(" * ")
        rows.append({"engine": "egglog", "iterations": it, "time_s": t_run,
                     "total_s": time.perf_counter() - t0, "cost_tree": cost})
        print(rows[-1], flush=True)
    return rows


def _pdeflow(terms, iterations):
    from pdeflow.symbolic.egraph import Limits, optimize

    rows = []
    for it in iterations:
        t0 = time.perf_counter()
        res = optimize(terms, cost="anchor", limits=Limits(iterations=it), extractor="tree")
        rep = res.report
        rows.append({"engine": "pdeflow", "iterations": it, "time_s": rep.saturation_s,
                     "total_s": time.perf_counter() - t0, "cost_tree": rep.costs["tree"],
                     "n_nodes": rep.n_nodes, "cost_before": rep.cost_before})
        print(rows[-1], flush=True)
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--outputs", type=int, default=20)
    ap.add_argument("--iterations", type=int, default=4)
    args = ap.parse_args(argv)
    from pdeflow.symbolic.reactions import load_bngl_net

    sys.setrecursionlimit(100_000)
    terms = load_bngl_net(NET / "bcr.net").rhs_terms()[: args.outputs]
    its = list(range(1, args.iterations + 1))
    rows = _pdeflow(terms, its) + _egglog(terms, its)
    path = write_results("egraph_engines", {"outputs": args.outputs, "rows": rows})
    print(f"results: {path}")


if __name__ == "__main__":
    main()
