"""``ConstrainedProblem.from_numpy`` (pdeflow.symbolic + Numba) against ``from_jax``.

Run: ``.venv/bin/python benchmarks/optim_from_numpy.py``.
For the 12 equality HS problems of ``benchmarks/optim_hs.py`` and the 4 with inequalities
and bounds (HS21, HS35, HS71, HS118): build time (trace/compile plus the first call of every
derivative), solve time of ``minimize(p, "adasketch")`` (median of 5), KKT and |f - f*|, for
both sources; ratio = jax time / numpy time.  Writes JSON to ``benchmarks/results/``.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import machine_info, write_results  # noqa: E402

from pdeflow.solvers.optim import ConstrainedProblem, minimize  # noqa: E402
from pdeflow.solvers.optim.hs_problems import (  # noqa: E402
    HS_INEQ_NAMES,
    HS_INEQ_SPECS,
    HS_NAMES,
    HS_SPECS,
)


def build(name: str, source: str) -> tuple[ConstrainedProblem, float]:
    spec = {**HS_SPECS, **HS_INEQ_SPECS}[name]
    make = ConstrainedProblem.from_numpy if source == "numpy" else ConstrainedProblem.from_jax
    t = time.perf_counter()
    p = make(spec.f, spec.c, list(spec.x0), g=spec.g, bounds=spec.bounds, name=name,
             f_star=spec.f_star)
    x = p.x0
    p.f(x), p.grad(x), p.cons(x), p.jac(x)
    m = np.asarray(p.cons(x)).size + (np.asarray(p.ineq(x)).size if p.ineq else 0)
    p.hess(x, np.ones(m)) if p.hess is not None else p.hvp(x, np.ones(m), x)
    if p.ineq is not None:
        p.ineq_jac(x)
    return p, time.perf_counter() - t


def main() -> None:
    rows = []
    for name in HS_NAMES + HS_INEQ_NAMES:
        row = {"problem": name}
        for source in ("numpy", "jax"):
            p, t_build = build(name, source)
            times, res = [], None
            for _ in range(5):
                t = time.perf_counter()
                res = minimize(p, "adasketch", raise_on_failure=False, max_iter=60,
                               max_sketch_steps=500_000)
                times.append(time.perf_counter() - t)
            row[source] = {"build_s": t_build, "solve_s": float(np.median(times)),
                           "kkt": res.kkt, "f_err": abs(res.f - p.f_star),
                           "converged": res.converged, "iterations": res.iterations}
        row["solve_ratio_jax_over_numpy"] = row["jax"]["solve_s"] / row["numpy"]["solve_s"]
        rows.append(row)
        print(f"{name:6s} numpy build {row['numpy']['build_s']:6.2f}s solve "
              f"{row['numpy']['solve_s'] * 1e3:7.2f}ms kkt {row['numpy']['kkt']:.1e} | jax build "
              f"{row['jax']['build_s']:6.2f}s solve {row['jax']['solve_s'] * 1e3:7.2f}ms kkt "
              f"{row['jax']['kkt']:.1e} | solve ratio jax/numpy "
              f"{row['solve_ratio_jax_over_numpy']:.2f}", flush=True)
    geo = float(np.exp(np.mean([np.log(r["solve_ratio_jax_over_numpy"]) for r in rows])))
    same = sum(r["numpy"]["kkt"] <= 1e-8 and r["jax"]["kkt"] <= 1e-8 for r in rows)
    print(f"both sources at KKT <= 1e-8 on {same}/{len(rows)}; geometric-mean solve ratio "
          f"(jax / numpy) {geo:.2f}")
    print("wrote", write_results("optim_from_numpy", {"rows": rows, "geomean_jax_over_numpy":
                                                      geo, "machine": machine_info()}))


if __name__ == "__main__":
    main()
