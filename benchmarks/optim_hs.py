"""Hock-Schittkowski equality set: pdeflow adasketch / newton / l1sqp vs scipy and IPOPT.

Run: ``.venv/bin/python benchmarks/optim_hs.py`` (needs ``pip install casadi`` for IPOPT).
``adasketch`` runs with its default Kaczmarz solver and with CountSketch.
Prints a per-problem table (status, iterations, function evaluations, KKT, |f - f*|),
harness timing tables with ratios (peer median / pdeflow adasketch median), and the median
Newton iterations; writes JSON to ``benchmarks/results/``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

# 2 shared cores: single-threaded BLAS for every candidate (pdeflow and peers alike).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import compare, machine_info, write_results  # noqa: E402
from optim_peers import (  # noqa: E402
    casadi_hs_helpers,
    ipopt_solver,
    kkt_ls,
    run_ipopt,
    scipy_peer,
)

from pdeflow.solvers.optim import minimize  # noqa: E402
from pdeflow.solvers.optim.hs_problems import HS_NAMES, HS_SPECS, hs_problem  # noqa: E402

TOL = 1e-8


def main() -> None:
    import casadi as ca

    rows, timings = [], []
    for name in HS_NAMES:
        p = hs_problem(name)
        spec = HS_SPECS[name]
        with casadi_hs_helpers():
            xs = ca.SX.sym("x", len(spec.x0))
            ip = ipopt_solver(spec.f(xs), spec.c(xs), xs, TOL)
        # Kaczmarz budget: 5e5 steps per Newton iteration and 60 iterations, so a hopeless
        # (ill-conditioned) solve fails fast instead of running for minutes.
        runs = {
            "adasketch": lambda p=p: minimize(p, "adasketch", sketch="kaczmarz", seed=0,
                                              raise_on_failure=False,
                                              max_sketch_steps=500_000, max_iter=60),
            # CountSketch (each coordinate hashed to one of `size` sketch columns with a
            # random sign, a small projection per step): far fewer steps than Kaczmarz on
            # the ill-conditioned KKT systems of HS26/46/49/50
            "adasketch/countsketch": lambda p=p: minimize(
                p, "adasketch", sketch="countsketch", seed=0, raise_on_failure=False,
                max_sketch_steps=500_000, max_iter=60),
            "newton": lambda p=p: minimize(p, "newton", raise_on_failure=False),
            "l1sqp": lambda p=p: minimize(p, "l1sqp", raise_on_failure=False),
            "trust-constr": lambda p=p: scipy_peer(p, "trust-constr", TOL),
            "SLSQP": lambda p=p: scipy_peer(p, "SLSQP", TOL),
            "ipopt": lambda ip=ip, p=p: run_ipopt(ip, p.x0),
        }
        for key, fn in runs.items():
            out = fn()
            if isinstance(out, dict):
                x, its, nfev, ok = out["x"], out["iterations"], out["nfev"], out["success"]
                steps = None
            else:
                x, its, nfev, ok, steps = out.x, out.iterations, out.nfev, out.converged, \
                    out.sketch_steps
            kkt = kkt_ls(p, x)
            ferr = abs(float(p.f(x)) - p.f_star)
            rows.append({"problem": name, "solver": key, "ok": ok, "iterations": its,
                         "nfev": nfev, "kkt": kkt, "f_err": ferr, "linear_steps": steps,
                         "meets_goal": bool(kkt <= TOL and ferr <= 1e-6)})
            print(f"{name:5s} {key:21s} ok={ok!s:5s} it={its:4d} nfev={nfev:5d} "
                  f"kkt={kkt:.1e} |f-f*|={ferr:.1e}" + (f" steps={steps}" if steps else ""),
                  flush=True)
        res = compare(
            f"{name} (pdeflow = adasketch/kaczmarz)", runs["adasketch"],
            {k: v for k, v in runs.items() if k != "adasketch"}, repeats=3, warmup=1,
            meta={"problem": name, "tol": TOL},
        )
        timings.append(res)
    summary = {}
    for key in runs:
        sel = [r for r in rows if r["solver"] == key]
        summary[key] = {
            "solved_to_goal": sum(r["meets_goal"] for r in sel),
            "median_iterations_all": float(np.median([r["iterations"] for r in sel])),
            "median_iterations_solved": float(np.median(
                [r["iterations"] for r in sel if r["meets_goal"]] or [np.nan])),
            "total_nfev": int(sum(r["nfev"] for r in sel)),
        }
    print("\nsummary (goal: KKT <= 1e-8 and |f - f*| <= 1e-6; median Newton iterations <= 5)")
    for key, s in summary.items():
        print(f"  {key:21s} solved {s['solved_to_goal']:2d}/12  median it (all) "
              f"{s['median_iterations_all']:5.1f}  (solved) {s['median_iterations_solved']:5.1f}"
              f"  nfev {s['total_nfev']}")
    solved = {r["problem"] for r in rows if r["solver"] == "adasketch" and r["meets_goal"]}
    kept = [t for t in timings if t.meta["problem"] in solved]
    geo = {peer: float(np.exp(np.mean([np.log(t.ratio(peer)) for t in kept])))
           for peer in timings[0].peers} if kept else {}
    print(f"geometric-mean time ratio (peer / pdeflow adasketch) over the {len(kept)} "
          "problems adasketch solves to the goal:", {k: round(v, 3) for k, v in geo.items()})
    path = write_results("optim_hs", {"rows": rows, "summary": summary, "timings": timings,
                                      "geomean_ratio_peer_over_adasketch": geo,
                                      "machine": machine_info()})
    print("wrote", path)


if __name__ == "__main__":
    main()
