"""RD3: the Symbolics.jl auto-parallel tutorial's 3-species reaction-diffusion, traced and compiled.

Case: ``benchmarks/_pde_cases.py::rd3_rhs`` (the tutorial's user code in numpy, dense ``Mx``/``My``
matrix products), N x N grid x 3 species, t in (0, 10), zero initial state.

Measured in one run (issue 4, "Performance"):

* baseline: scipy ``solve_ivp(method="BDF")`` on the user code as written (dense
  finite-difference Jacobian), run once;
* pdeflow: ``ODEProblem.from_function`` (trace / codegen / compile reported separately, with an
  empty code cache so compilation is really done), then ``solve`` with every stiff method
  ("rodas4", "BDF", "Radau" with the compiled sparse Jacobian) to the same tolerance, each
  timed as the median of ``SOLVE_REPEATS`` solves; ``auto``'s choice is the fastest of these;
* accuracy of both final states against a tight-tolerance reference (rodas4, rtol 1e-10);
* the generated RHS against a hand-written Numba loop and the numpy user code;
* N=128 (49,152 ODEs): compile time and a completed solve.

Run::

    .venv/bin/python benchmarks/rd3_autoparallel.py            # N=32 and N=128
    .venv/bin/python benchmarks/rd3_autoparallel.py --no-big   # N=32 only
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

# a fresh code cache: the timed compile must not load an earlier run's machine code
os.environ.setdefault("PDEFLOW_CACHE_DIR", tempfile.mkdtemp(prefix="pdeflow-rd3-cache-"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numba  # noqa: E402
import numpy as np  # noqa: E402
from _harness import compare, machine_info, write_results  # noqa: E402
from _pde_cases import RD3_PARAMS, rd3_matrices, rd3_rhs  # noqa: E402
from scipy.integrate import solve_ivp  # noqa: E402

from pdeflow.solvers.ode import ODEProblem, solve  # noqa: E402

RTOL, ATOL = 1e-6, 1e-8
TSPAN = (0.0, 10.0)
SOLVE_REPEATS = 3


def hand_numba(N):
    """A hand-written, allocation-free Numba loop for the same RHS (the tutorial's fast code)."""
    _, _, alpha1 = rd3_matrices(N)

    @numba.njit(cache=False, fastmath=False)
    def kernel(du, u, p):
        a2, a3, b1, b2, b3, r1, r2, D = p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7]
        for i in range(N):
            for j in range(N):
                A = u[i, j, 0]
                # My @ A (rows) + A @ Mx (columns), reflecting ends weighted 2
                if i == 0:
                    my = 2.0 * u[1, j, 0] - 2.0 * A
                elif i == N - 1:
                    my = 2.0 * u[N - 2, j, 0] - 2.0 * A
                else:
                    my = u[i - 1, j, 0] - 2.0 * A + u[i + 1, j, 0]
                if j == 0:
                    mx = 2.0 * u[i, 1, 0] - 2.0 * A
                elif j == N - 1:
                    mx = 2.0 * u[i, N - 2, 0] - 2.0 * A
                else:
                    mx = u[i, j - 1, 0] - 2.0 * A + u[i, j + 1, 0]
                B = u[i, j, 1]
                C = u[i, j, 2]
                ab = r1 * A * B
                du[i, j, 0] = D * (my + mx) + alpha1[i, j] - b1 * A - ab + r2 * C
                du[i, j, 1] = a2 - b2 * B - ab + r2 * C
                du[i, j, 2] = a3 - b3 * C + ab - r2 * C

    return kernel


def rel_err(y, ref):
    return float(np.max(np.abs(y - ref)) / np.max(np.abs(ref)))


def run_case(N, baseline=True, all_methods=True):
    f = rd3_rhs(N)
    p = RD3_PARAMS
    u0 = np.zeros((N, N, 3))
    res = {"N": N, "n_odes": 3 * N * N, "rtol": RTOL, "atol": ATOL}
    print(f"\n=== RD3 N={N} ({3 * N * N} ODEs), t in {TSPAN}, rtol={RTOL}, atol={ATOL}", flush=True)

    nojit = None
    if baseline:
        # the same pipeline with the numpy target: generated numpy code, no JIT compile at
        # all (built first, so it, not the numba pipeline, pays the process's warm-ups)
        nojit = no_jit_pipeline(f, u0, p)
        res["numpy_target"] = {k: v for k, v in nojit.items() if k != "y"}

    s = time.perf_counter()
    prob = ODEProblem.from_function(f, u0, TSPAN, p, target="numba")
    build = time.perf_counter() - s
    tm = dict(prob.timings)
    res["timings_build"] = tm
    res["build_total_s"] = build
    print("from_function: " + ", ".join(f"{k} {v:.3f} s" for k, v in tm.items())
          + f"; total {build:.3f} s (incl. validation)", flush=True)
    nnz = prob.jac(0.0, prob.y0).nnz
    res["jac_nnz"] = nnz

    methods = ["rodas4", "BDF", "Radau"] if all_methods else ["auto"]
    solves = {}
    for m in methods:
        t, runs, sol = timed_solves(prob, m)
        solves[m] = (t, sol)
        print(f"pdeflow solve {m:7s}: {t:.3f} s (median of {runs})  {sol}", flush=True)
    best = min(solves, key=lambda k: solves[k][0])
    res["solves"] = {m: {"seconds": t, **sol.stats} for m, (t, sol) in solves.items()}
    res["fastest_stiff_method"] = best
    t_solve, sol = solves[best]

    if not baseline:
        return res, prob, sol

    s = time.perf_counter()
    ref = solve(prob, method="rodas4", rtol=1e-10, atol=1e-12, dense_output=False).y[-1]
    print(f"reference (rodas4, rtol 1e-10): {time.perf_counter() - s:.3f} s", flush=True)

    def user_rhs(t, y):
        return f(t, y.reshape(N, N, 3), p).reshape(-1)

    print("baseline: scipy solve_ivp BDF, user code, dense FD Jacobian (run once)...", flush=True)
    s = time.perf_counter()
    base = solve_ivp(user_rhs, TSPAN, u0.reshape(-1), method="BDF", rtol=RTOL, atol=ATOL)
    t_base = time.perf_counter() - s
    print(f"baseline: {t_base:.3f} s, nfev {base.nfev}, njev {base.njev}, nlu {base.nlu}",
          flush=True)

    e2e = sum(tm.values())  # trace, codegen, compile, Jacobian codegen/compile, LU kernels
    nojit_total = nojit["build_s"] + nojit["solve_s"]
    res["numpy_target"].update({
        "end_to_end_speedup": t_base / nojit_total,
        "solve_speedup": t_base / nojit["solve_s"],
        "err": rel_err(nojit["y"], ref),
    })
    res.update({
        "baseline_s": t_base,
        "baseline_stats": {"nfev": base.nfev, "njev": base.njev, "nlu": base.nlu},
        "pdeflow_solve_s": t_solve,
        "compile_total_s": e2e,
        "solve_speedup": t_base / t_solve,
        "end_to_end_speedup": t_base / (t_solve + e2e),
        "err_baseline": rel_err(base.y[:, -1], ref),
        "err_pdeflow": rel_err(sol.y[-1], ref),
    })
    return res, prob, sol


def no_jit_pipeline(f, u0, p):
    """Trace, generate numpy code (no JIT), solve with rodas4: times and final state."""
    s = time.perf_counter()
    prob = ODEProblem.from_function(f, u0, TSPAN, p, target="numpy")
    build = time.perf_counter() - s
    tm = dict(prob.timings)
    t, runs, sol = timed_solves(prob, "rodas4")
    out = {"timings_build": tm, "build_s": sum(tm.values()), "build_wall_s": build,
           "solve_s": t, "stats": sol.stats, "y": sol.y[-1]}
    print("numpy target (no JIT): " + ", ".join(f"{k} {v:.3f} s" for k, v in tm.items())
          + f"; solve rodas4 {t:.3f} s (median of {runs})", flush=True)
    return out


def timed_solves(prob, method):
    """Median seconds of ``SOLVE_REPEATS`` solves (one is ~0.1 s), the runs as text, and the
    last solution."""
    runs = []
    for _ in range(SOLVE_REPEATS):
        s = time.perf_counter()
        sol = solve(prob, method=method, rtol=RTOL, atol=ATOL, dense_output=False)
        runs.append(time.perf_counter() - s)
    return float(np.median(runs)), ", ".join(f"{r:.3f}" for r in runs), sol


def rhs_speed(N, prob):
    f = rd3_rhs(N)
    p = RD3_PARAMS
    rng = np.random.default_rng(0)
    u = rng.uniform(0.5, 1.5, (N, N, 3))
    y = u.reshape(-1).copy()
    pv = np.asarray(p, dtype=float)
    hand = hand_numba(N)
    du = np.empty((N, N, 3))
    hand(du, u, pv)
    out = np.empty(prob.n)
    assert np.allclose(prob.rhs(0.0, y), f(0.0, u, p).reshape(-1))
    assert np.allclose(du.reshape(-1), f(0.0, u, p).reshape(-1))
    fn = prob.rhs_compiled
    assert fn.bare, "the RD3 kernel takes (out, y, p, t) only"
    kernel = fn.kernel  # the generated kernel itself, called as the hand loop is: no checks
    checked = prob.rhs_inplace  # the same behind bind()'s type/shape checks
    pvec = prob.pvalues

    # one timed sample = `calls` calls: a single call of a few microseconds is of the order
    # of the timer's and the harness's own overhead
    calls = max(1, 2_000_000 // (3 * N * N * 10))

    def ours():
        for _ in range(calls):
            kernel(out, y, pvec, 0.0)
        return out

    def ours_checked():
        for _ in range(calls):
            checked(out, y, 0.0)
        return out

    def hand_loop():
        for _ in range(calls):
            hand(du, u, pv)
        return du.reshape(-1)

    def numpy_user():
        for _ in range(calls):
            r = f(0.0, u, p)
        return r.reshape(-1)

    def check(a, b):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)

    peers = {"hand numba loop": hand_loop, "numpy user code": numpy_user,
             "pdeflow rhs_inplace (checked)": ours_checked}
    r = compare(
        f"RD3 RHS N={N}, {calls} calls per sample", ours, peers, repeats=40, warmup=2, check=check
    )
    return r


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=32)
    ap.add_argument("--big", type=int, default=128)
    ap.add_argument("--no-big", action="store_true")
    args = ap.parse_args(argv)
    info = machine_info()
    print(f"machine: {info.get('cpu')}, load average {os.getloadavg()}", flush=True)
    res, prob, _ = run_case(args.n)
    speed = rhs_speed(args.n, prob)
    res["rhs_vs_hand_numba_slowdown"] = 1.0 / speed.ratio("hand numba loop")
    res["rhs_vs_numpy_speedup"] = speed.ratio("numpy user code")
    res["rhs_checked_vs_hand_numba_slowdown"] = (
        speed.ratio("pdeflow rhs_inplace (checked)") / speed.ratio("hand numba loop"))
    big = None
    if not args.no_big:
        big, _, _ = run_case(args.big, baseline=False, all_methods=False)
    goals = [
        ("solve >= 300x faster than scipy BDF on user code", res["solve_speedup"] >= 300,
         f"{res['solve_speedup']:.1f}x"),
        ("trace+codegen+compile <= 5 s", res["compile_total_s"] <= 5,
         f"{res['compile_total_s']:.2f} s"),
        ("end to end >= 20x (numpy target: generated numpy code, no JIT compile)",
         res["numpy_target"]["end_to_end_speedup"] >= 20,
         f"{res['numpy_target']['end_to_end_speedup']:.1f}x"),
        ("end to end >= 20x (numba target, its JIT compile included)",
         res["end_to_end_speedup"] >= 20, f"{res['end_to_end_speedup']:.1f}x"),
        ("generated RHS <= 1.2x slower than hand Numba", res["rhs_vs_hand_numba_slowdown"] <= 1.2,
         f"{res['rhs_vs_hand_numba_slowdown']:.2f}x"),
        ("(info) RHS through rhs_inplace's checks vs hand Numba",
         None, f"{res['rhs_checked_vs_hand_numba_slowdown']:.2f}x slower"),
        ("generated RHS >= 10x faster than numpy user code", res["rhs_vs_numpy_speedup"] >= 10,
         f"{res['rhs_vs_numpy_speedup']:.1f}x"),
    ]
    if big is not None:
        ct = sum(big["timings_build"].values())
        goals.append((f"N={args.big} compiles <= 30 s", ct <= 30, f"{ct:.2f} s"))
        auto = big["solves"]["auto"]
        goals.append((f"N={args.big} solve completes", True,
                      f"{auto['seconds']:.2f} s, {auto['steps']} steps"))
    print(f"\n=== summary (N={args.n})")
    print(f"final-state rel. error vs reference: baseline {res['err_baseline']:.2e}, "
          f"pdeflow ({res['fastest_stiff_method']}) {res['err_pdeflow']:.2e}, "
          f"pdeflow numpy target (rodas4) {res['numpy_target']['err']:.2e}")
    for name, ok, val in goals:
        print(f"{'INFO' if ok is None else 'PASS' if ok else 'MISS'}  {name}: {val}")
    write_results("rd3_autoparallel", {"case": res, "big": big, "rhs_speed": speed,
                                       "goals": [{"goal": g, "pass": ok, "value": v}
                                                 for g, ok, v in goals],
                                       "load_average": os.getloadavg()})


if __name__ == "__main__":
    main()
