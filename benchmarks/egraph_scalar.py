"""E-graph optimizer on 40 published scalar formulas (Hamming ch. 3, FPBench, physics).

For every expression: the cycle cost before and after :func:`pdeflow.symbolic.egraph.optimize`
(anchor table, so figures are machine independent; DAG costs), the optimizer time, and the
maximum relative difference between the optimized program and the original term over
10^4 random points of the formula's domain (FPBench-style preconditions).  The relative
difference is ``|opt - ref| / |ref|`` pointwise; formulas that are ill-conditioned by
design (Hamming's cancellation examples) are flagged, since any reassociation changes
their rounding at that scale (``binom4`` is ``(x + 1)**4`` expanded: near its fourfold
root at ``x = -1`` every evaluation order loses all digits).

Run::

    .venv/bin/python benchmarks/egraph_scalar.py           # ~1 min
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import write_results  # noqa: E402


def cases():
    """``[(name, source, term, {symbol: (lo, hi)}, ill_conditioned)]``."""
    from pdeflow.symbolic import cos, exp, log, sin, sqrt, symbols, tan

    x, y, z, e = symbols("x y z eps")
    a, b, c = symbols("a b c")
    m, v, g, h, r, T = symbols("m v g h r T")
    x1, x2, x3, x4, x5, x6 = symbols("x1 x2 x3 x4 x5 x6")
    P, V, n, K, S = symbols("P V n K S")
    pos = (0.5, 100.0)
    unit = (-1.0, 1.0)
    out = [
        ("2sqrt", "Hamming 3.1", sqrt(x + 1) - sqrt(x), {x: (1.0, 1e3)}, True),
        ("2frac", "Hamming 3.3.1", 1 / (x + 1) - 1 / x, {x: (1.0, 1e3)}, True),
        ("2isqrt", "Hamming 3.3.2", 1 / sqrt(x) - 1 / sqrt(x + 1), {x: (1.0, 1e3)}, True),
        ("2sin", "Hamming 3.3.3", sin(x + e) - sin(x), {x: unit, e: (1e-3, 1e-1)}, True),
        ("2cos", "Hamming 3.3.5", cos(x + e) - cos(x), {x: unit, e: (1e-3, 1e-1)}, True),
        ("2tan", "Hamming 3.3.4", tan(x + e) - tan(x), {x: unit, e: (1e-3, 1e-1)}, True),
        ("3frac", "Hamming 3.3.6", 1 / (x + 1) - 2 / x + 1 / (x - 1), {x: (2.0, 1e2)}, True),
        ("2log", "Hamming 3.3.7", log(x + 1) - log(x), {x: (1.0, 1e3)}, True),
        ("expm1x", "Hamming 3.4.1", (exp(x) - 1) / x, {x: (0.01, 1.0)}, True),
        ("2cbrt", "Hamming 3.4.3", (x + 1) ** (1 / 3) - x ** (1 / 3), {x: (1.0, 1e3)}, True),
        ("tanhf", "Hamming 3.4.4", (1 - cos(x)) / sin(x), {x: (0.1, 1.0)}, True),
        ("quadp", "Hamming 3.2 quadratic",
         (-b + sqrt(b ** 2 - 4 * a * c)) / (2 * a), {a: (1.0, 2.0), b: (10.0, 20.0),
                                                     c: (0.1, 1.0)}, True),
        ("quadm", "Hamming 3.2 quadratic",
         (-b - sqrt(b ** 2 - 4 * a * c)) / (2 * a), {a: (1.0, 2.0), b: (10.0, 20.0),
                                                     c: (0.1, 1.0)}, False),
        ("pythag", "trig identity", sin(x) ** 2 + cos(x) ** 2 + x * y, {x: unit, y: unit}, False),
        ("tan-ratio", "trig identity", sin(x) / cos(x) + y, {x: unit, y: unit}, False),
        ("exp-prod", "exp identity", exp(x) * exp(y) * z, {x: unit, y: unit, z: unit}, False),
        ("log-sum", "log identity", log(x) + log(y) + log(z), {x: pos, y: pos, z: pos}, False),
        ("binom4", "polynomial", x ** 4 + 4 * x ** 3 + 6 * x ** 2 + 4 * x + 1, {x: unit}, True),
        ("sine-taylor", "FPBench sine", x - x ** 3 / 6 + x ** 5 / 120 - x ** 7 / 5040,
         {x: (-1.5, 1.5)}, False),
        ("sqroot", "FPBench sqroot",
         1 + 0.5 * x - 0.125 * x ** 2 + 0.0625 * x ** 3 - 0.0390625 * x ** 4,
         {x: (0.0, 1.0)}, False),
        ("rigidBody1", "FPBench", -x1 * x2 - 2 * x2 * x3 - x1 - x3,
         {x1: (-15.0, 15.0), x2: (-15.0, 15.0), x3: (-15.0, 15.0)}, False),
        ("rigidBody2", "FPBench",
         2 * x1 * x2 * x3 + 3 * x3 * x3 - x2 * x1 * x2 * x3 + 3 * x3 * x3 - x2,
         {x1: (-15.0, 15.0), x2: (-15.0, 15.0), x3: (-15.0, 15.0)}, False),
        ("kepler0", "FPBench",
         x2 * x5 + x3 * x6 - x2 * x3 - x5 * x6 + x1 * (-x1 + x2 + x3 - x4 + x5 + x6),
         {s: (4.0, 6.36) for s in (x1, x2, x3, x4, x5, x6)}, False),
        ("turbine1", "FPBench",
         3 + 2 / (r * r) - 0.125 * (3 - 2 * v) * (x * x * r * r) / (1 - v) - 4.5,
         {v: (-4.5, -0.3), x: (0.4, 0.9), r: (3.8, 7.8)}, False),
        ("doppler1", "FPBench",
         -(331.4 + 0.6 * T) * v / ((331.4 + 0.6 * T + x) * (331.4 + 0.6 * T + x)),
         {x: (-100.0, 100.0), v: (20.0, 2e4), T: (-30.0, 50.0)}, False),
        ("verhulst", "FPBench", r * x / (1 + x / K), {r: (4.0, 4.0 + 1e-9), x: (0.1, 0.3),
                                                       K: (1.11, 1.12)}, False),
        ("predatorPrey", "FPBench", r * x * x / (1 + (x / K) * (x / K)),
         {r: (4.0, 4.1), x: (0.1, 0.3), K: (1.11, 1.12)}, False),
        ("carbonGas", "FPBench",
         (P + 0.401 * (n / V) * (n / V)) * (V - n * 42.7e-6) - 1.3806503e-23 * n * T,
         {P: (3.5e7, 3.6e7), n: (1000.0, 1001.0), V: (0.1, 0.5), T: (300.0, 301.0)}, False),
        ("energy", "mechanics", 0.5 * m * v ** 2 + m * g * h, {m: pos, v: pos, g: pos, h: pos},
         False),
        ("arrhenius", "chemistry", a * exp(-b / (8.314 * T)) + c * exp(-b / (8.314 * T)),
         {a: pos, b: (1e3, 1e4), c: pos, T: (250.0, 400.0)}, False),
        ("planck", "physics", 2 * h * v ** 3 / c ** 2 / (exp(h * v / (x * T)) - 1),
         {h: (0.5, 1.0), v: (0.5, 2.0), c: (1.0, 2.0), x: (0.5, 1.0), T: (0.5, 2.0)}, False),
        ("lennard-jones", "physics", 4 * e * ((S / r) ** 12 - (S / r) ** 6),
         {e: pos, S: (0.9, 1.1), r: (0.9, 3.0)}, False),
        ("coulomb3", "physics", a * x / r ** 2 + a * y / r ** 2 + a * z / r ** 2,
         {a: pos, x: unit, y: unit, z: unit, r: (0.5, 2.0)}, False),
        ("michaelis", "biochemistry", V * S / (K + S) + V * x / (K + x),
         {V: pos, S: pos, K: pos, x: pos}, False),
        ("hill4", "biochemistry", x ** 4 / (K ** 4 + x ** 4), {x: pos, K: pos}, False),
        ("logistic", "ecology", r * x * (1 - x / K), {r: pos, x: pos, K: pos}, False),
        ("vanderwaals", "thermodynamics",
         (P + a * n ** 2 / V ** 2) * (V - n * b) - n * 8.314 * T,
         {P: pos, a: (0.1, 1.0), n: (0.5, 2.0), V: (10.0, 20.0), b: (0.01, 0.05),
          T: (250.0, 400.0)}, False),
        ("pendulum", "mechanics", 0.5 * m * r ** 2 * v ** 2 + m * g * r * (1 - cos(x)),
         {m: pos, r: pos, v: pos, g: pos, x: unit}, False),
        ("gauss", "statistics", exp(-(x - y) ** 2 / (2 * z ** 2)) / (z * 2.5066282746310002),
         {x: unit, y: unit, z: (0.5, 2.0)}, False),
        ("mass-action", "chemistry", 0.3 * a * b + 0.3 * a * c - 1.2e-6 * a * x - 1.2e-6 * b * x,
         {a: pos, b: pos, c: pos, x: pos}, False),
    ]
    return out


def main():
    from pdeflow.symbolic import evaluate
    from pdeflow.symbolic.egraph import optimize

    rng = np.random.default_rng(0)
    rows = []
    for name, source, term, dom, ill in cases():
        t0 = time.perf_counter()
        res = optimize([term], cost="anchor")
        t_opt = time.perf_counter() - t0
        env = {s: rng.uniform(lo, hi, 10_000) for s, (lo, hi) in dom.items()}
        ref = np.broadcast_to(np.asarray(evaluate(term, env), dtype=float), (10_000,))
        (got,) = res.slp.evaluate(env)
        got = np.broadcast_to(np.asarray(got, dtype=float), (10_000,))
        ok = np.isfinite(ref)
        rel = np.abs(got[ok] - ref[ok]) / np.maximum(np.abs(ref[ok]), 1e-300)
        rep = res.report
        rows.append({
            "name": name, "source": source, "ill_conditioned": ill,
            "cost_before": rep.cost_before, "cost_after": rep.cost_after,
            "reduction": rep.cost_before / rep.cost_after if rep.cost_after else float("inf"),
            "extractor": rep.extractor, "optimize_s": t_opt,
            "max_rel_diff": float(rel.max()) if rel.size else 0.0,
            "median_rel_diff": float(np.median(rel)) if rel.size else 0.0,
            "after": str(res.exprs[0]),
        })
        r = rows[-1]
        print(f"{name:14s} {r['cost_before']:7.0f} -> {r['cost_after']:7.0f} "
              f"({r['reduction']:5.2f}x)  max rel {r['max_rel_diff']:.1e}"
              f"{'  [ill-conditioned]' if ill else ''}   {r['after']}", flush=True)
    red = np.array([r["reduction"] for r in rows])
    well = [r["max_rel_diff"] for r in rows if not r["ill_conditioned"]]
    summary = {
        "n": len(rows),
        "reduction_quantiles": dict(zip(["min", "q25", "median", "q75", "max"],
                                        np.quantile(red, [0, .25, .5, .75, 1]).tolist(),
                                        strict=True)),
        "reduction_geomean": float(np.exp(np.mean(np.log(red)))),
        "unchanged": int(np.sum(red == 1.0)),
        "max_rel_diff_well_conditioned": max(well),
        "max_rel_diff_all": max(r["max_rel_diff"] for r in rows),
    }
    print(summary)
    print(f"results: {write_results('egraph_scalar', {'rows': rows, 'summary': summary})}")


if __name__ == "__main__":
    main()
