"""Irregular systems with symbolic parameters: codegen + first call, and RHS time.

Cases (each compiled cold in a fresh process with an empty ``PDEFLOW_CACHE_DIR``, Numba
target):

bcr params
    BioNetGen's BCR network (1,122 species, 24,388 reactions),
    ``net.rhs_terms(params_as_symbols=True)``, the parameters it uses as ``p``.
bcr numeric
    The same network with numeric rates (``rhs_terms()``): the reference.
random params / random numeric
    A random mass-action network (:func:`pdeflow.symbolic.massaction.random_mass_action`,
    60 species, 300 reactions), one parameter symbol per reaction, or numeric rates.

Reported per case: building the terms (not counted), codegen (``compile``), the first
call (Numba JIT), and their sum, the figure of the goals: BCR with symbolic parameters
<= 3 s (before: ~34 s), the random network <= 2 s (before: ~86 s).  Numba's own one-time
start-up (its first ``@njit`` compile in a process, ~1-2 s, the same for every program)
is measured before and reported apart.  Then the RHS time of BCR with symbolic
parameters against numeric rates in one process (goal: within 1.3x), with a check that
both give the same values.

Run::

    .venv/bin/python benchmarks/compile_params.py            # ~1 minute
    .venv/bin/python benchmarks/compile_params.py --cases random

Data: ``$PDEFLOW_DATA/reaction_networks`` or ``/work/shared/data/reaction_networks``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from _harness import compare, write_results  # noqa: E402

CASES = ("bcr params", "bcr numeric", "random params", "random numeric")


def data_dir() -> Path:
    root = os.environ.get("PDEFLOW_DATA")
    base = Path(root) if root else Path(__file__).resolve().parents[2] / "shared" / "data"
    return base / "reaction_networks"


def build(case: str):
    """``(exprs, states, params, p, y, time_symbol)`` of a case."""
    if case.startswith("bcr"):
        from pdeflow.symbolic.reactions import load_bngl_net

        net = load_bngl_net(data_dir() / "bcr.net")
        symbolic = case.endswith("params")
        exprs = net.rhs_terms(params_as_symbols=symbolic)
        states = list(net.state_symbols())
        params, p = [], None
        if symbolic:
            used = set().union(*(e.free_symbols for e in exprs)) - set(states)
            values = net.parameter_values()
            params = sorted((s for s in values if s in used), key=lambda s: s.name)
            p = np.array([values[s] for s in params])
        y = net.y0 + np.random.default_rng(0).uniform(0.0, 1.0, len(states))
        return exprs, states, params, p, y, net.time_symbol
    from pdeflow.symbolic.massaction import random_mass_action

    net = random_mass_action(60, 300, seed=0, params_as_symbols=case.endswith("params"))
    p = net.rates if net.params else None
    y = np.random.default_rng(0).uniform(0.1, 2.0, 60)
    return net.exprs, net.states, net.params, p, y, None


def child(case: str) -> dict:
    """Cold codegen + first call of one case (run in a fresh process)."""
    import numba

    s = time.perf_counter()
    numba.njit(lambda a: a + 1.0)(1.0)
    t_numba = time.perf_counter() - s
    from pdeflow.symbolic import compile

    s = time.perf_counter()
    exprs, states, params, p, y, tsym = build(case)
    t_terms = time.perf_counter() - s
    s = time.perf_counter()
    f = compile(exprs, states, params=params or None, target="numba", time=tsym)
    t_codegen = time.perf_counter() - s
    s = time.perf_counter()
    f(y, p, 0.0)
    t_first = time.perf_counter() - s
    return {"case": case, "numba_startup_s": t_numba, "terms_s": t_terms,
            "codegen_s": t_codegen, "first_call_s": t_first,
            "codegen_plus_first_s": t_codegen + t_first, "source_chars": len(f.source)}


def cold(case: str) -> dict:
    env = dict(os.environ)
    with tempfile.TemporaryDirectory() as d:
        env["PDEFLOW_CACHE_DIR"] = d
        out = subprocess.run([sys.executable, __file__, "--child", case], env=env, check=True,
                             capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def rhs_times(repeats: int):
    """BCR RHS with symbolic parameters against numeric rates, one process."""
    from pdeflow.symbolic import compile

    fns = {}
    for case in ("bcr params", "bcr numeric"):
        exprs, states, params, p, y, tsym = build(case)
        f = compile(exprs, states, params=params or None, target="numba", time=tsym)
        fns[case] = (f.bind(p), y)
    out = np.empty(len(y))
    batch = 200

    def batched(case):
        g, yy = fns[case]

        def run():
            for _ in range(batch):
                g(out, yy, 0.0)
            return out.copy()

        return run

    def check(a, b):
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-12 * np.max(np.abs(b)))

    res = compare(f"bcr rhs, symbolic parameters vs numeric rates ({batch} calls per timing)",
                  batched("bcr params"), {"numeric rates": batched("bcr numeric")},
                  repeats=repeats, warmup=2, check=check)
    return res


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--cases", choices=["all", "bcr", "random"], default="all")
    ap.add_argument("--repeats", type=int, default=15)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child)))
        return
    cases = [c for c in CASES if args.cases == "all" or c.startswith(args.cases)]
    rows = []
    for case in cases:
        r = cold(case)
        rows.append(r)
        print(f"{case:15s} codegen {r['codegen_s']:.2f} s + first call {r['first_call_s']:.2f} s"
              f" = {r['codegen_plus_first_s']:.2f} s   (numba start-up {r['numba_startup_s']:.2f}"
              f" s apart, terms {r['terms_s']:.2f} s, source {r['source_chars']} chars)",
              flush=True)
    payload = {"cold": rows, "goals_s": {"bcr params": 3.0, "random params": 2.0}}
    if args.cases in ("all", "bcr"):
        res = rhs_times(args.repeats)
        ratio = res.timings["numeric rates"].median / res.timings["pdeflow"].median
        print(f"bcr rhs: symbolic parameters take {1 / ratio:.2f}x the time of numeric rates "
              "(goal <= 1.3x)")
        payload["rhs"] = res
    path = write_results("compile_params", payload)
    print(f"results: {path}")


if __name__ == "__main__":
    main()
