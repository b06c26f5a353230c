"""BCR signalling network (BioNetGen ``bcr.net``: 1,122 species, 24,388 reactions).

Simulates to the final time of ``bcr.gdat`` with the compiled RHS and analytic sparse Jacobian
(``ODEProblem.from_reaction_network``), checks the 9 observables against BioNetGen's trajectory
(relative error <= 1e-3 at every saved time where the observable exceeds 1e-6 of its maximum),
reports one RHS evaluation, one Jacobian evaluation and the whole solve, and compares the solve
with scipy BDF on the numpy RHS with a finite-difference sparse Jacobian (``jac_sparsity``).

Run::

    .venv/bin/python benchmarks/bcr.py [--target numba|numpy] [--method auto] [--no-direct]
    .venv/bin/python benchmarks/bcr.py --no-scipy --optimize   # with the e-graph optimizer

Data: ``$PDEFLOW_DATA/reaction_networks`` or ``/work/shared/data/reaction_networks``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from _harness import compare, write_results  # noqa: E402
from scipy.integrate import solve_ivp  # noqa: E402

from pdeflow.solvers.ode import ODEProblem, solve  # noqa: E402
from pdeflow.symbolic.reactions import load_bngl_net, load_gdat  # noqa: E402

RTOL, ATOL = 1e-8, 1e-8


def data_dir() -> Path:
    root = os.environ.get("PDEFLOW_DATA")
    base = Path(root) if root else Path(__file__).resolve().parents[2] / "shared" / "data"
    return base / "reaction_networks"


def observable_error(net, t_ref, cols, y_at):
    """Max relative error per observable over saved times where it exceeds 1e-6 of its max."""
    obs = net.observable_values(y_at.T)
    errs = {}
    for name, ref in cols.items():
        if name not in obs:
            continue
        mask = np.abs(ref) > 1e-6 * np.max(np.abs(ref))
        errs[name] = float(np.max(np.abs(obs[name][mask] - ref[mask]) / np.abs(ref[mask])))
    return errs


def self_check(net, prob, t_ref, cols, sol):
    """Converged reference: BDF at rtol 1e-10 and 1e-12 (atol 1e-2 rtol); errors against it."""
    obs = {}
    for tol in (1e-10, 1e-12):
        s = time.perf_counter()
        tight = solve(prob, method="BDF", rtol=tol, atol=tol * 1e-2, t_eval=t_ref)
        obs[tol] = net.observable_values(tight.y.T)
        print(f"self-check: BDF rtol {tol:g} in {time.perf_counter() - s:.1f} s", flush=True)
    best = obs[1e-12]

    def worst(a):
        return max(_rel_err(a[k], best[k], cols[k]) for k in cols if k in best)

    out = {
        "rtol 1e-10 vs 1e-12": worst(obs[1e-10]),
        f"rtol {RTOL:g} vs 1e-12": worst(net.observable_values(sol.y.T)),
        "bcr.gdat vs 1e-12": worst(cols),
    }
    print("self-check, worst observable relative error against BDF at rtol 1e-12: "
          + ", ".join(f"{k} {v:.1e}" for k, v in out.items()), flush=True)
    return out


def _rel_err(values, converged, ref):
    mask = np.abs(ref) > 1e-6 * np.max(np.abs(ref))
    return float(np.max(np.abs(values[mask] - converged[mask]) / np.abs(converged[mask])))


def with_optimizer(net, prob, tspan, t_ref, cols, y, args, t_solve, errs):
    """The same simulation with the e-graph optimized RHS; the Jacobian is the same code."""
    s = time.perf_counter()
    opt = ODEProblem.from_reaction_network(net, tspan, target=args.target, optimize=True)
    t_build = time.perf_counter() - s
    print(f"from_reaction_network(optimize=True): {t_build:.2f} s "
          + ", ".join(f"{k} {v:.2f} s" for k, v in opt.timings.items()), flush=True)
    out = np.empty(y.size)

    def batch(f):
        def run():
            for _ in range(50):
                f(out, y, 0.0)
            return out.copy()
        return run

    r = compare("BCR RHS, 50 evaluations", batch(opt.rhs_inplace),
                {"optimize=False": batch(prob.rhs_inplace)}, repeats=15, warmup=2,
                check=lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9))
    s = time.perf_counter()
    sol = solve(opt, method=args.method, rtol=RTOL, atol=ATOL, t_eval=t_ref)
    t_opt = time.perf_counter() - s
    oerr = observable_error(net, t_ref, cols, sol.y)
    build_base = sum(prob.timings.values())
    print(f"solve with the optimized RHS ({sol.method}): {t_opt:.2f} s {sol}")
    print(f"  solve {t_solve:.2f} s -> {t_opt:.2f} s: {t_solve / t_opt:.2f}x; build + solve "
          f"{build_base + t_solve:.2f} s -> {t_build + t_opt:.2f} s: "
          f"{(build_base + t_solve) / (t_build + t_opt):.2f}x (goal 1.5x)")
    print(f"  worst observable error {max(errs.values()):.1e} -> {max(oerr.values()):.1e}")
    return {"build_s": t_build, "timings": dict(opt.timings), "rhs": r, "solve_s": t_opt,
            "stats": sol.stats, "obs_err": oerr, "solve_speedup": t_solve / t_opt,
            "end_to_end_speedup": (build_base + t_solve) / (t_build + t_opt)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--target", default="numba")
    ap.add_argument("--method", default="auto")
    ap.add_argument("--no-scipy", action="store_true")
    ap.add_argument("--direct", action=argparse.BooleanOptionalAction, default=True,
                    help="also solve with linear_solver='direct' (a sparse LU per Newton "
                    "matrix) when the default picked GMRES (~16 s more)")
    ap.add_argument(
        "--optimize",
        action="store_true",
        help="also build and solve with the e-graph optimized RHS (compile(..., "
        "optimize=True)) and compare: RHS time, solve time, build + solve, accuracy",
    )
    ap.add_argument(
        "--self-check",
        action="store_true",
        help="also solve at rtol 1e-10 and 1e-12 (~4 min) and compare bcr.gdat and the "
        "rtol 1e-8 solution with the 1e-12 one: how accurate the reference itself is",
    )
    args = ap.parse_args(argv)
    print(f"load average {os.getloadavg()}", flush=True)
    d = data_dir()
    s = time.perf_counter()
    net = load_bngl_net(d / "bcr.net")
    t_parse = time.perf_counter() - s
    t_ref, cols = load_gdat(d / "bcr.gdat")
    tspan = (0.0, float(t_ref[-1]))
    print(f"{net}; parse {t_parse:.2f} s; simulate to t={tspan[1]}", flush=True)

    s = time.perf_counter()
    prob = ODEProblem.from_reaction_network(net, tspan, target=args.target)
    print(f"from_reaction_network ({args.target}): {time.perf_counter() - s:.2f} s "
          + ", ".join(f"{k} {v:.2f} s" for k, v in prob.timings.items()), flush=True)
    J = prob.jac(0.0, prob.y0)
    print(f"Jacobian nnz {J.nnz}", flush=True)

    y = net.y0 * 1.01 + 1e-3

    def rhs_once():
        return prob.rhs(0.0, y)

    def jac_once():
        return prob._compiled[1].data(0.0, y)

    def numpy_rhs():
        return net.rhs_numpy(0.0, y)

    r_rhs = compare("BCR RHS", rhs_once, {"numpy rhs_numpy": numpy_rhs}, repeats=20, warmup=1,
                    check=lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9))
    r_jac = compare("BCR Jacobian values", jac_once, {}, repeats=10, warmup=1)

    s = time.perf_counter()
    sol = solve(prob, method=args.method, rtol=RTOL, atol=ATOL, t_eval=t_ref)
    t_solve = time.perf_counter() - s
    errs = observable_error(net, t_ref, cols, sol.y)
    worst = max(errs.values())
    print(f"pdeflow solve ({sol.method}): {t_solve:.2f} s  {sol}\n  linear: "
          f"{dict(sol.linear or {})}", flush=True)
    res_direct = None
    if args.direct and sol.linear and sol.linear["linear_solver"] == "gmres":
        s = time.perf_counter()
        dsol = solve(prob, method="BDF", rtol=RTOL, atol=ATOL, t_eval=t_ref,
                     linear_solver="direct")
        t_direct = time.perf_counter() - s
        derr = max(observable_error(net, t_ref, cols, dsol.y).values())
        print(f"same BDF with linear_solver='direct' ({dsol.linear['linear_solver']} per "
              f"matrix): {t_direct:.2f} s {dsol}, worst observable error {derr:.1e}; "
              f"GMRES + reused ILU {t_direct / t_solve:.2f}x faster", flush=True)
        res_direct = {"solve_s": t_direct, "stats": dsol.stats, "obs_worst": derr,
                      "gmres_speedup": t_direct / t_solve}
    print("observable max rel. error: " + ", ".join(f"{k} {v:.1e}" for k, v in errs.items()))
    res = {"solve_s": t_solve, "stats": sol.stats, "method": sol.method, "obs_err": errs,
           "timings": dict(prob.timings), "rhs": r_rhs, "jac": r_jac, "jac_nnz": J.nnz,
           "direct": res_direct}
    if args.self_check:
        res["self_check"] = self_check(net, prob, t_ref, cols, sol)
    if args.optimize:
        res["optimize"] = with_optimizer(net, prob, tspan, t_ref, cols, y, args, t_solve, errs)

    if not args.no_scipy:
        s = time.perf_counter()
        base = solve_ivp(net.rhs_numpy, tspan, net.y0, method="BDF", rtol=RTOL, atol=ATOL,
                         jac_sparsity=(J != 0).astype(float), t_eval=t_ref)
        t_base = time.perf_counter() - s
        if not base.success:
            print(f"scipy BDF + FD sparse Jacobian failed after {t_base:.2f} s at "
                  f"t={base.t[-1]:.4g}: {base.message}", flush=True)
            res.update({"scipy_bdf_s": t_base, "scipy_failed": base.message})
            write_results("bcr", {"case": res, "load_average": os.getloadavg()})
            return
        berr = observable_error(net, t_ref, cols, base.y.T)
        print(f"scipy BDF + FD sparse Jacobian: {t_base:.2f} s, nfev {base.nfev}, "
              f"njev {base.njev}, max obs err {max(berr.values()):.1e}", flush=True)
        res.update({"scipy_bdf_s": t_base, "scipy_obs_err": berr,
                    "solve_speedup": t_base / t_solve})
        print(f"solve speed-up vs scipy BDF (FD sparse Jacobian): {t_base / t_solve:.1f}x")
    print(f"{'PASS' if worst <= 1e-3 else 'MISS'}  observables within 1e-3: worst {worst:.1e}")
    write_results("bcr", {"case": res, "load_average": os.getloadavg()})


if __name__ == "__main__":
    main()
