"""Every stiff ODE method of ``pdeflow.solvers.ode.solve`` on the stiff cases (issue #28, item 10).

Goal: every offered method within 3x of the fastest on each case, or out of ``"auto"``'s
candidates and documented as such.

Cases (the README's stiff cases, and the issue's Gray-Scott system):

* ``rd3``: RD3 at N=32 (3,072 ODEs, ``benchmarks/rd3_autoparallel.py``), t in (0, 10),
  rtol 1e-6, atol 1e-8;
* ``gray-scott``: Gray-Scott on a periodic 64x64 grid (8,192 ODEs), unit square,
  ``Du = 1e-2``, ``Dv = 5e-3``, ``F = 0.04``, ``k = 0.06``, t in (0, 50), rtol 1e-6, atol 1e-8;
* ``bcr``: the BCR network (1,122 species, ``benchmarks/bcr.py``) to t = 10,000, rtol 1e-8,
  atol 1e-8 (``--bcr``; BDF takes ~6 s, the others much longer).

Each (case, method) runs in its own process under a time limit (``--timeout``): the
problem is built (Numba, compiled sparse Jacobian; a warm code cache after the first
method), then solved ``--repeats`` times; the median solve is reported with the step
counts.  LSODA differences or evaluates a *dense* Jacobian: it runs only up to
``--lsoda-max`` states.  The final states are compared with the fastest method's.

Run::

    .venv/bin/python benchmarks/ode_methods.py                 # rd3 and gray-scott
    .venv/bin/python benchmarks/ode_methods.py --bcr --timeout 300
    .venv/bin/python benchmarks/ode_methods.py --cases gray-scott --methods BDF rodas4
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402

METHODS = ("BDF", "rodas4", "Radau", "LSODA")
GOAL = 3.0


def gray_scott(N: int = 64):
    """``f(t, u, p)``, ``u`` of shape (2, N, N), periodic 5-point Laplacian on the unit square."""
    h2 = (1.0 / N) ** 2

    def lap(a):
        return (np.roll(a, 1, 0) + np.roll(a, -1, 0) + np.roll(a, 1, 1) + np.roll(a, -1, 1)
                - 4 * a) / h2

    def f(t, u, p):
        du_, dv_, big_f, k = p
        a, b = u[0], u[1]
        r = a * b * b
        return np.stack([du_ * lap(a) - r + big_f * (1 - a),
                         dv_ * lap(b) + r - (big_f + k) * b])

    rng = np.random.default_rng(0)
    u0 = np.zeros((2, N, N))
    u0[0] = 1.0
    c = slice(N // 2 - N // 8, N // 2 + N // 8)
    u0[0, c, c] = 0.5
    u0[1, c, c] = 0.25
    u0 += 0.01 * rng.random(u0.shape)
    return f, u0, (0.0, 50.0), (1e-2, 5e-3, 0.04, 0.06), 1e-6, 1e-8


def build(case: str):
    from pdeflow.solvers.ode import ODEProblem

    if case == "rd3":
        from _pde_cases import RD3_PARAMS, rd3_rhs

        N = 32
        prob = ODEProblem.from_function(rd3_rhs(N), np.zeros((N, N, 3)), (0.0, 10.0),
                                        RD3_PARAMS, target="numba")
        return prob, 1e-6, 1e-8
    if case == "gray-scott":
        f, u0, tspan, p, rtol, atol = gray_scott()
        return ODEProblem.from_function(f, u0, tspan, p, target="numba"), rtol, atol
    if case == "bcr":
        from bcr import data_dir

        from pdeflow.symbolic.reactions import load_bngl_net

        net = load_bngl_net(data_dir() / "bcr.net")
        return ODEProblem.from_reaction_network(net, (0.0, 10000.0), target="numba"), 1e-8, 1e-8
    raise SystemExit(f"unknown case {case!r}")


def worker(case: str, method: str, repeats: int, out: str) -> None:
    from pdeflow.solvers.ode import solve

    s = time.perf_counter()
    prob, rtol, atol = build(case)
    build_s = time.perf_counter() - s
    runs, sol = [], None
    for _ in range(repeats):
        s = time.perf_counter()
        sol = solve(prob, method=method, rtol=rtol, atol=atol, dense_output=False)
        runs.append(time.perf_counter() - s)
    np.save(out, sol.y[-1])
    print(json.dumps({"case": case, "method": method, "n": prob.n, "build_s": build_s,
                      "runs_s": runs, "median_s": float(np.median(runs)), **sol.stats}))


def run(case, method, args):
    out = Path(args.tmp) / f"{case}-{method}.npy"
    cmd = [sys.executable, __file__, "--worker", case, method, "--repeats", str(args.repeats),
           "--out", str(out)]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout,
                           env=os.environ)
    except subprocess.TimeoutExpired:
        return {"case": case, "method": method, "timeout_s": args.timeout}
    if p.returncode != 0:
        tail = (p.stderr or p.stdout).strip().splitlines()[-1:]
        return {"case": case, "method": method, "error": " ".join(tail)}
    res = json.loads(p.stdout.strip().splitlines()[-1])
    res["y_final"] = str(out)
    return res


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--worker", nargs=2, metavar=("CASE", "METHOD"))
    ap.add_argument("--out")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=180.0)
    ap.add_argument("--lsoda-max", type=int, default=3072)
    ap.add_argument("--bcr", action="store_true")
    ap.add_argument("--cases", nargs="*", default=None)
    ap.add_argument("--methods", nargs="*", default=list(METHODS), choices=METHODS)
    args = ap.parse_args(argv)
    if args.worker:
        worker(*args.worker, args.repeats, args.out)
        return
    import tempfile

    from _harness import machine_info, write_results

    info = machine_info()
    print(f"machine: {info.get('cpu')}, load average {os.getloadavg()}", flush=True)
    cases = args.cases or (["rd3", "gray-scott"] + (["bcr"] if args.bcr else []))
    sizes = {"rd3": 3072, "gray-scott": 8192, "bcr": 1122}
    results, summary = [], []
    with tempfile.TemporaryDirectory() as tmp:
        args.tmp = tmp
        for case in cases:
            rows = []
            for m in args.methods:
                if m == "LSODA" and sizes[case] > args.lsoda_max:
                    rows.append({"case": case, "method": m,
                                 "skipped": f"dense Jacobian of {sizes[case]} states"})
                else:
                    rows.append(run(case, m, args))
                r = rows[-1]
                what = (f"{r['median_s']:.3f} s (runs {', '.join(f'{x:.3f}' for x in r['runs_s'])}"
                        f"; steps {r['steps']}, nfev {r['nfev']}, nlu {r['nlu']})"
                        if "median_s" in r else
                        r.get("error") or r.get("skipped") or f"> {r['timeout_s']:.0f} s")
                print(f"{case:10s} {m:7s} {what}", flush=True)
            done = [r for r in rows if "median_s" in r]
            results.extend(rows)
            if not done:
                continue
            best = min(done, key=lambda r: r["median_s"])
            ref = np.load(best["y_final"])
            for r in rows:
                if "median_s" in r:
                    y = np.load(r.pop("y_final"))
                    r["rel_diff_vs_fastest"] = float(np.abs(y - ref).max() / np.abs(ref).max())
                    r["x_fastest"] = r["median_s"] / best["median_s"]
                timeout_ratio = r.get("timeout_s", 0.0) / best["median_s"]
                slow = r.get("x_fastest", timeout_ratio if "timeout_s" in r else None)
                summary.append({"case": case, "method": r["method"], "x_fastest": slow,
                                "timed_out": "timeout_s" in r,
                                "pass": slow is not None and slow <= GOAL})
    print("\n=== summary: median solve / fastest method's, per case (goal <= 3x or not in auto)")
    for s in summary:
        x = s["x_fastest"]
        val = "n/a" if x is None else (f"> {x:.1f}x (timed out)" if s["timed_out"] else f"{x:.2f}x")
        print(f"{'PASS' if s['pass'] else 'MISS'}  {s['case']:10s} {s['method']:7s} {val}")
    write_results("ode_methods", {"runs": results, "summary": summary,
                                  "load_average": os.getloadavg()})


if __name__ == "__main__":
    main()
