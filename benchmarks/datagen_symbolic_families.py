"""Built-in families on the symbolic path (issue #20, item 4): hand-written against ``from_rhs``.

    .venv/bin/python benchmarks/datagen_symbolic_families.py           # heat 32², 8 samples
    .venv/bin/python benchmarks/datagen_symbolic_families.py --quick   # 3 samples

``heat`` (Crank–Nicolson, one LU per sample, ``n_steps`` fixed steps) against the same
finite-volume discretization written as numpy code (:func:`pdeflow.datagen.families.heat.heat_rhs`)
through ``from_rhs`` (traced, compiled, BDF with the analytic sparse Jacobian), on the same
samples, in one run.  Accuracy is the max abs error of the stored snapshots against a
tight Radau solve of the same semi-discrete system; ``from_rhs`` runs at several
tolerances and the ratio is taken at the loosest one at least as accurate as the
hand-written default.  Per-sample times are medians; ``from_rhs``'s compile is reported
apart (once per process).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from scipy.integrate import solve_ivp

from pdeflow.datagen import families
from pdeflow.datagen.families import from_rhs
from pdeflow.datagen.families.assembly import diffusion_matrix
from pdeflow.datagen.families.heat import heat_rhs

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import write_results  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--resolution", type=int, default=32)
    args = ap.parse_args()
    n = 3 if args.quick else 8
    s = args.resolution
    hand = families.get("heat", resolution=s)
    samples = [hand.sample(i) for i in range(n)]
    times = hand.coords()["t"]
    truth = []
    for smp in samples:
        A = diffusion_matrix(smp["kappa"])
        r = solve_ivp(lambda t, y, A=A: -(A @ y), (0.0, hand.T), smp["u0"].ravel(),
                      method="Radau", jac=-A, t_eval=times, rtol=1e-12, atol=1e-14)
        truth.append(r.y.T.reshape(-1, s, s))

    def run_hand() -> tuple[float, float]:
        secs, err = [], 0.0
        for smp, ref in zip(samples, truth, strict=True):
            t = time.perf_counter()
            out, _ = hand.solve_one(smp)
            secs.append(time.perf_counter() - t)
            err = max(err, float(np.abs(out["u"] - ref).max()))
        return float(np.median(secs)), err

    t = time.perf_counter()
    sym = from_rhs("heat-symbolic", heat_rhs, state_shape=(s, s), grid="cells",
                   initial=lambda rng: np.zeros((s, s)),
                   params={"kappa": lambda rng: np.ones((s, s))}, times=times, method="BDF")
    sym.kernels()
    compile_s = time.perf_counter() - t

    def run_sym(rtol: float) -> tuple[float, float]:
        fam = type(sym)(method="BDF", rtol=rtol, atol=rtol * 1e-3)
        secs, err = [], 0.0
        for smp, ref in zip(samples, truth, strict=True):
            y0, p = fam.values(smp)
            t = time.perf_counter()
            sol, _ = fam.integrate(y0, p)
            secs.append(time.perf_counter() - t)
            err = max(err, float(np.abs(sol.y.reshape(-1, s, s) - ref).max()))
        return float(np.median(secs)), err

    run_hand()  # warm
    run_sym(1e-2)
    t_hand, e_hand = run_hand()
    rows = {rtol: run_sym(rtol) for rtol in (3e-2, 1e-2, 3e-3, 1e-3)}
    print(f"heat {s}x{s}, {n} samples, {len(times)} snapshots to T = {hand.T}")
    print(f"  hand-written Crank-Nicolson ({hand.n_steps} steps): {t_hand * 1e3:.1f} ms/sample, "
          f"max error {e_hand:.1e}")
    print(f"  from_rhs compile (trace, codegen, JIT): {compile_s:.2f} s once per process")
    ok = [r for r, (_, e) in rows.items() if e <= e_hand]
    for rtol, (ts, e) in rows.items():
        print(f"  from_rhs BDF rtol={rtol:g}: {ts * 1e3:.1f} ms/sample, max error {e:.1e}")
    ratio = None
    if ok:
        best = max(ok)
        ratio = t_hand / rows[best][0]
        print(f"  at equal accuracy (rtol={best:g}): from_rhs throughput {ratio:.2f}x the "
              f"hand-written family")
    write_results("datagen_symbolic_families", {
        "family": "heat", "resolution": s, "n": n, "hand_s": t_hand, "hand_error": e_hand,
        "compile_s": compile_s, "from_rhs": {str(k): v for k, v in rows.items()},
        "ratio_at_equal_accuracy": ratio,
    })


if __name__ == "__main__":
    main()
