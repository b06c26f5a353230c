"""The e-graph on array programs and random mass-action networks: ``optimize=True`` vs False.

Cases (Numba target, ``fastmath=False``):

rd3 / brusselator (N=128)
    The traced RHS of ``_pde_cases`` compiled with ``compile(..., optimize=True)``: each
    fused loop template is rewritten once by the e-graph and the same loops are emitted.
    Reported: per template the cost before and after (estimated cycles per grid point),
    whether the source changed, and the RHS time with ``optimize=True`` against
    ``optimize=False`` (goal: not slower).
random mass action (300 species, 1,500 bimolecular reactions, numeric rates, seeds 0-2)
    ``compile(terms, states, optimize=True)`` against ``optimize=False``; when the e-graph
    finds nothing cheaper the two compile to the same source (goal of issue #20: >= 1.3x).

Run::

    .venv/bin/python benchmarks/egraph_templates.py            # ~2 minutes
    .venv/bin/python benchmarks/egraph_templates.py --n 64 --seeds 0
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from _harness import compare, write_results  # noqa: E402
from _pde_cases import brusselator_args, brusselator_rhs, rd3_args, rd3_rhs  # noqa: E402

from pdeflow.symbolic import compile, trace  # noqa: E402
from pdeflow.symbolic.massaction import random_mass_action  # noqa: E402

BATCH = 50


def _batched(f, y, p):
    out = np.empty(f.n_out)

    def run():
        for _ in range(BATCH):
            f.inplace(out, y, p, 0.0)
        return out.copy()

    return run


def _check(a, b):
    np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-12 * max(1.0, np.max(np.abs(b))))


def pde_case(case: str, n: int, repeats: int) -> dict:
    rhs, args = {"rd3": (rd3_rhs, rd3_args), "brusselator": (brusselator_rhs, brusselator_args)}[
        case]
    a = args(n)
    du, ins = trace(rhs(n), *a, return_inputs=True)
    ys, ps = ins["u" if case == "rd3" else "y"], list(ins["p"])
    y, p = np.asarray(a[1], dtype=float).ravel(), np.asarray(a[2], dtype=float)
    plain = compile(du, [ys], params=ps, target="numba")
    s = time.perf_counter()
    opt = compile(du, [ys], params=ps, target="numba", optimize=True)
    t_opt = time.perf_counter() - s
    rep = opt.report
    print(f"{case} N={n}: {rep}", flush=True)
    rows = []
    for before, after, cb, ca, ex in rep.templates:
        print(f"  template cost {cb:.0f} -> {ca:.0f} ({ex}); rewritten: {after is not before}")
        rows.append({"template": str(before), "optimized": str(after), "cost_before": cb,
                     "cost_after": ca, "extractor": ex})
    res = compare(f"{case} N={n} rhs, optimize=True vs False ({BATCH} calls per timing)",
                  _batched(opt, y, p), {"optimize=False": _batched(plain, y, p)},
                  repeats=repeats, warmup=2, check=_check)
    return {"case": case, "N": n, "templates": rows, "cost_before": rep.cost_before,
            "cost_after": rep.cost_after, "optimize_s": t_opt,
            "same_source": opt.source == plain.source, "timing": res}


def network_case(seed: int, repeats: int) -> dict:
    net = random_mass_action(300, 1500, seed=seed, order=2)
    plain = compile(net.exprs, net.states, target="numba")
    s = time.perf_counter()
    opt = compile(net.exprs, net.states, target="numba", optimize=True)
    t_opt = time.perf_counter() - s
    print(f"mass action seed {seed}: {opt.report}", flush=True)
    y = np.random.default_rng(seed).uniform(0.1, 2.0, 300)
    res = compare(f"mass action 300/1500 seed {seed}, optimize=True vs False ({BATCH} calls)",
                  _batched(opt, y, None), {"optimize=False": _batched(plain, y, None)},
                  repeats=repeats, warmup=2, check=_check)
    return {"seed": seed, "extractor": opt.report.extractor,
            "cost_before": opt.report.cost_before, "cost_after": opt.report.cost_after,
            "optimize_s": t_opt, "same_source": opt.source == plain.source, "timing": res}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=128)
    ap.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2])
    ap.add_argument("--repeats", type=int, default=15)
    args = ap.parse_args(argv)
    pde = [pde_case(c, args.n, args.repeats) for c in ("rd3", "brusselator")]
    nets = [network_case(s, args.repeats) for s in args.seeds]
    for r in pde + nets:
        t = r["timing"].timings
        ratio = t["optimize=False"].median / t["pdeflow"].median
        label = r.get("case") or f"mass action seed {r['seed']}"
        print(f"{label}: optimize=True is {ratio:.2f}x the speed of optimize=False "
              f"(same source: {r['same_source']})")
    path = write_results("egraph_templates", {"pde": pde, "networks": nets})
    print(f"results: {path}")


if __name__ == "__main__":
    main()
