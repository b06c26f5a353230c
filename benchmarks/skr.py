"""SKR (sorting + Krylov recycling) against GMRES(40) and against strong peers.

    .venv/bin/python benchmarks/skr.py --quick     # under a minute: small grids, 20 systems
    .venv/bin/python benchmarks/skr.py             # full: paper sizes, 100 systems per family

Three parts, all in one run on one machine, every candidate at the same tolerance
(``||b - A x|| <= rtol ||b||``, checked on every returned solution):

1. Paper parity (SKR paper, Table 1): pdeflow SKR (sort + GCRO-DR(40, 20), warm start)
   against pdeflow GMRES(40) with the same preconditioner and backend, plus SKR without
   sorting (the ordering's own effect).
2. Strong peers, per family: scipy ``splu`` per system, pyamg smoothed-aggregation CG per
   system, scipy ``gcrotmk`` with its CU recycling, warm-started scipy Krylov (CG + AMG, or
   GMRES + ILU for indefinite), and pdeflow ``auto`` and SKR.  Times are seconds per system.
3. PETSc backend: the same SKR code under ``mpiexec -n 1`` and ``-n 2`` (iteration counts and
   parallel efficiency on the 3-D family).

All BLAS pools are limited to one thread, for every candidate alike.
"""

from __future__ import annotations

import argparse
import functools
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyamg
import scipy.sparse.linalg as spla
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import compare, machine_info, write_results  # noqa: E402
from _skr_families import SKRFamily, skr_family  # noqa: E402

from pdeflow.solvers import (  # noqa: E402
    AMG,
    ASM,
    ILU,
    LU,
    PC_REFRESH,
    Jacobi,
    solve_sequence,
)

MODES = {
    "quick": {
        "count": 20,
        "count3d": 10,
        "darcy": 40,
        "helmholtz": 50,
        "poisson": 50,
        "darcy3d": 20,
    },
    "full": {
        "count": 100,
        "count3d": 100,
        "darcy": 80,
        "helmholtz": 100,
        "poisson": 100,
        "darcy3d": 64,
    },
}

Systems = list[tuple]
#: systems per full AMG set-up for pdeflow's strategies on the SPD families (the library's
#: and datagen's default); SKR iterations at 64³: 9.02, against 9.08 with 8
AMG_REFRESH = PC_REFRESH
# spilu with drop_tol 1e-4 hits exactly singular factors on the indefinite family
INDEFINITE_ILU = ILU(drop_tol=1e-5, fill_factor=20)
#: SKR on indefinite Helmholtz: systems per factorization and recycled vectors (10,000
#: unknowns, ms per system, splu 25.9: refresh 1/2/3/4 with k=4 7.5/8.8/9.5/10.5; refresh 2
#: with k=2/4/10/20 8.1/8.8/10.3/13.7; each system's own factorization makes it one iteration)
INDEFINITE_REFRESH = 2
INDEFINITE_K = 4


def _max_rel_residual(systems: Systems, X: np.ndarray) -> float:
    return max(
        float(np.linalg.norm(A @ x - b) / np.linalg.norm(b))
        for (A, b), x in zip(systems, X, strict=True)
    )


def _checker(systems: Systems, tol: float, names: list[str], misses: dict[str, float]) -> Callable:
    """A ``check`` for ``compare`` (called once per peer, in order): records, does not raise,
    every candidate whose worst relative residual is above ``10 * tol``."""
    queue = list(names)

    def check(ours: np.ndarray, theirs: np.ndarray) -> None:
        peer = queue.pop(0)
        if "pdeflow" not in misses:
            misses["pdeflow"] = _max_rel_residual(systems, ours)
        misses[peer] = _max_rel_residual(systems, theirs)
        if not queue:  # keep only the misses
            for key in [k for k, v in misses.items() if v <= 10 * tol]:
                del misses[key]

    return check


# ---------------------------------------------------------------------------- peers
def peer_splu(systems: Systems) -> np.ndarray:
    return np.stack([spla.splu(A.tocsc()).solve(b) for A, b in systems])


def peer_pyamg_cg(systems: Systems, tol: float) -> np.ndarray:
    out = []
    for A, b in systems:
        ml = pyamg.smoothed_aggregation_solver(A, max_coarse=200)
        out.append(ml.solve(b, tol=tol, accel="cg", maxiter=2000))
    return np.stack(out)


def _scipy_pc(A, kind: str):
    """The peers' preconditioner: pyamg SA, or the same spilu settings as pdeflow's ILU spec."""
    if kind == "amg":
        return pyamg.smoothed_aggregation_solver(A, max_coarse=200).aspreconditioner()
    ilu = INDEFINITE_ILU
    try:
        lu = spla.spilu(A.tocsc(), drop_tol=ilu.drop_tol, fill_factor=ilu.fill_factor)
    except RuntimeError:  # singular incomplete factor: the peer runs unpreconditioned
        return None
    return spla.LinearOperator(A.shape, lu.solve)


def peer_gcrotmk(systems: Systems, tol: float, pc: str) -> np.ndarray:
    CU: list = []
    out = []
    for A, b in systems:
        x, _ = spla.gcrotmk(
            A,
            b,
            rtol=tol,
            atol=0.0,
            M=_scipy_pc(A, pc),
            m=20,
            k=10,
            CU=CU,
            discard_C=True,
            maxiter=100,
        )
        out.append(x)
    return np.stack(out)


def peer_warm_krylov(systems: Systems, tol: float, pc: str, spd: bool) -> np.ndarray:
    out = []
    x = None
    for A, b in systems:
        M = _scipy_pc(A, pc)
        if spd:
            x, _ = spla.cg(A, b, x0=x, rtol=tol, atol=0.0, M=M, maxiter=2000)
        else:
            x, _ = spla.gmres(A, b, x0=x, rtol=tol, atol=0.0, M=M, restart=40, maxiter=50)
        out.append(x)
    return np.stack(out)


def pdeflow_seq(
    systems: Systems, params: np.ndarray, method: str, **kw
) -> Callable[[], np.ndarray]:
    info: dict = {}

    def run() -> np.ndarray:
        res = solve_sequence(systems, method, params=params, raise_on_failure=False, **kw)
        info.update(
            method=res.method,
            preconditioner=res.preconditioner,
            choice=res.choice,
            mean_iterations=float(res.iterations.mean()),
        )
        return np.asarray(res.solutions)

    run.info = info  # type: ignore[attr-defined]
    return run


# ---------------------------------------------------------------------------- parts
def parity(mode: dict, log: list) -> list:
    n = mode["count"]
    cases = [
        ("darcy", {"size": mode["darcy"]}, None, 1e-8, "2.70x"),
        ("darcy", {"size": mode["darcy"]}, ILU(), 1e-8, "-"),
        ("darcy", {"size": mode["darcy"], "coefficient": "threshold"}, None, 1e-8, "-"),
        ("helmholtz", {"size": mode["helmholtz"]}, ASM(), 1e-7, "13.9x"),
        ("helmholtz", {"size": mode["helmholtz"]}, None, 1e-7, "-"),
        ("poisson", {"size": mode["poisson"]}, None, 1e-8, "1.3-5.5x"),
        ("poisson", {"size": mode["poisson"]}, Jacobi(), 1e-8, "1.3-5.5x"),
    ]
    rows = []
    for name, opts, pc, tol, paper in cases:
        fam = skr_family(name, **opts)
        params, systems = fam.systems(n)
        failures: dict = {}
        # the paper's protocol: every system sets its preconditioner up (pc_refresh=1, not
        # the library's PC_REFRESH)
        same = {"preconditioner": pc, "rtol": tol, "restart": 40, "pc_refresh": 1}
        skr = pdeflow_seq(systems, params, "skr", k=20, **same)
        gm = pdeflow_seq(systems, params, "gmres", **same)
        unsorted = pdeflow_seq(systems, params, "skr", k=20, order="none", **same)
        label = f"{fam.name}{'-threshold' if opts.get('coefficient') else ''}"
        pcname = "none" if pc is None else pc.name
        cands = {"gmres(40)": gm, "skr unsorted": unsorted}
        res = compare(
            f"parity {label} n={fam.n} pc={pcname} tol={tol:g} ({n} systems)",
            skr,
            cands,
            repeats=1,
            warmup=0,
            check=_checker(systems, tol, list(cands), failures),
            meta={"family": label, "unknowns": fam.n, "pc": pcname, "tol": tol, "systems": n},
        )
        row = {
            "family": label,
            "unknowns": fam.n,
            "pc": pcname,
            "tol": tol,
            "paper": paper,
            "speedup_vs_gmres40": res.ratio("gmres(40)"),
            "sorting_effect": res.ratio("skr unsorted"),
            "mean_iterations": {
                "skr": skr.info["mean_iterations"],
                "gmres(40)": gm.info["mean_iterations"],
                "skr unsorted": unsorted.info["mean_iterations"],
            },
            "tolerance_misses": failures,
        }
        rows.append(row)
        log.append(res)
        print(
            f"  -> SKR vs GMRES(40): {row['speedup_vs_gmres40']:.2f}x (paper {paper}); "
            f"sorting alone: {row['sorting_effect']:.2f}x; iterations {row['mean_iterations']}",
            flush=True,
        )
    return rows


def peers(mode: dict, log: list, only: set[str] | None) -> list:
    cases = [
        ("darcy", {"size": mode["darcy"]}, mode["count"], 1e-8),
        (
            "darcy-threshold",
            {"size": mode["darcy"], "coefficient": "threshold"},
            mode["count"],
            1e-8,
        ),
        ("poisson", {"size": mode["poisson"]}, mode["count"], 1e-8),
        ("helmholtz", {"size": mode["helmholtz"]}, mode["count"], 1e-7),
        ("helmholtz-indefinite", {"size": mode["helmholtz"]}, mode["count"], 1e-7),
        ("darcy3d", {"size": mode["darcy3d"]}, mode["count3d"], 1e-8),
    ]
    rows = []
    for label, opts, n, tol in cases:
        if only and label not in only:
            continue
        fam: SKRFamily = skr_family(label.replace("-threshold", ""), **opts)
        params, systems = fam.systems(n)
        indefinite = label == "helmholtz-indefinite"
        spd = not indefinite
        pc = "ilu" if indefinite else "amg"
        failures: dict = {}
        if spd:
            # AMG as `pdeflow generate` runs it: one set-up per chunk of sorted samples, the
            # coarse operators recomputed for every matrix in between
            auto = pdeflow_seq(systems, params, "auto", rtol=tol, pc_refresh=AMG_REFRESH)
            skr = pdeflow_seq(
                systems, params, "skr-cg", preconditioner=AMG(), pc_refresh=AMG_REFRESH,
                rtol=tol,
            )
        else:
            auto = pdeflow_seq(systems, params, "auto", rtol=tol)
            # ILU leaves GCRO-DR ~3x slower than splu here; a neighbour's sparse factorization
            # (LDL^T, refactored every INDEFINITE_REFRESH systems on one symbolic analysis)
            # preconditions well, and with it a small recycled space is cheapest
            skr = pdeflow_seq(
                systems, params, "skr", preconditioner=LU(), pc_refresh=INDEFINITE_REFRESH,
                k=INDEFINITE_K, rtol=tol,
            )  # fmt: skip
        cand: dict[str, Callable] = {"skr": skr}
        if not (label == "darcy3d" and fam.n > 100_000):
            cand["scipy splu"] = functools.partial(peer_splu, systems)
        if spd:
            cand["pyamg cg"] = functools.partial(peer_pyamg_cg, systems, tol)
        cand["scipy gcrotmk"] = functools.partial(peer_gcrotmk, systems, tol, pc)
        cand["warm-started krylov"] = functools.partial(peer_warm_krylov, systems, tol, pc, spd)
        res = compare(
            f"peers {label} n={fam.n} tol={tol:g} ({n} systems)",
            auto,
            cand,
            repeats=1,
            warmup=0,
            check=_checker(systems, tol, list(cand), failures),
            meta={"family": label, "unknowns": fam.n, "tol": tol, "systems": n},
        )
        per_sys = {k: t.median / n for k, t in res.timings.items()}
        strong = {k: v for k, v in per_sys.items() if k not in ("pdeflow", "skr")}
        best = min(strong, key=strong.get)
        row = {
            "family": label,
            "unknowns": fam.n,
            "systems": n,
            "seconds_per_system": per_sys,
            "best_peer": best,
            "auto_vs_best_peer": strong[best] / per_sys["pdeflow"],
            "skr_vs_best_peer": strong[best] / per_sys["skr"],
            "auto_picked": auto.info.get("choice", {}).get("picked"),
            "auto_estimates": auto.info.get("choice", {}).get("estimated_seconds_per_system"),
            "skr_mean_iterations": skr.info["mean_iterations"],
            "tolerance_misses": failures,
        }
        rows.append(row)
        log.append(res)
        print(
            f"  -> best peer {best}: auto {row['auto_vs_best_peer']:.2f}x, "
            f"SKR {row['skr_vs_best_peer']:.2f}x (auto picked {row['auto_picked']}); "
            f"misses: {failures or 'none'}",
            flush=True,
        )
    return rows


def rounding_sensitivity(family, size, count, method, pc, serial_iterations) -> int:
    """Largest per-system iteration change of a *serial* run whose right-hand sides are
    perturbed at rounding level (1e-15 relative): the yardstick for the 2-rank difference,
    whose reductions and split products round differently from the serial run's."""
    params, systems = skr_family(family, size=size).systems(count)
    rng = np.random.default_rng(1)
    perturbed = [(A, b * (1 + 1e-15 * rng.standard_normal(b.shape))) for A, b in systems]
    with threadpool_limits(1):
        res = solve_sequence(perturbed, method, params=params, pc_refresh=8, rtol=1e-8,
                             preconditioner=None if pc == "none" else pc)
    worst = int(np.abs(np.asarray(res.iterations) - serial_iterations).max())
    print(f"  serial run with b perturbed by 1e-15 (relative): iterations change by up to "
          f"{worst} (the 2-rank run's differences are of this rounding kind)", flush=True)
    return worst


def petsc_scaling(mode: dict) -> list:
    rows = []
    cases = [
        ("darcy3d", mode["darcy3d"], mode["count3d"], "skr-cg", "amg"),
        # GCRO-DR on 2-D: with GAMG (~10 iterations) and without a preconditioner (~209,
        # where rounding alone moves counts by up to ~10: see rounding_sensitivity)
        ("darcy", mode["darcy"], mode["count"], "skr", "amg"),
        ("darcy", mode["darcy"], mode["count"], "skr", "none"),
    ]
    mpiexec = Path(sys.executable).parent / "mpiexec"
    worker = Path(__file__).resolve().parent / "skr_petsc.py"
    for family, size, count, method, pc in cases:
        runs = {}
        for ranks in (1, 2):
            with tempfile.TemporaryDirectory() as tmp:
                out = Path(tmp) / "out.json"
                cmd = [
                    str(mpiexec),
                    "-n",
                    str(ranks),
                    sys.executable,
                    str(worker),
                    family,
                    str(size),
                    str(count),
                    method,
                    pc,
                    str(out),
                ]
                proc = subprocess.run(
                    cmd,
                    capture_output=True,
                    text=True,
                    timeout=3600,
                    env={
                        "OMP_NUM_THREADS": "1",
                        "OPENBLAS_NUM_THREADS": "1",
                        "PATH": str(mpiexec.parent) + ":/usr/bin:/bin",
                    },
                )
                if proc.returncode != 0:
                    print(proc.stderr[-2000:])
                    raise RuntimeError(f"PETSc worker failed on {ranks} ranks")
                runs[ranks] = json.loads(out.read_text())
        it1 = np.array(runs[1]["iterations"])
        it2 = np.array(runs[2]["iterations"])
        eff = runs[1]["seconds"] / (2 * runs[2]["seconds"])
        row = {
            "family": family,
            "size": size,
            "systems": count,
            "method": method,
            "pc": pc,
            "seconds": {1: runs[1]["seconds"], 2: runs[2]["seconds"]},
            "max_iteration_difference": int(np.abs(it1 - it2).max()),
            "mean_iterations": {1: float(it1.mean()), 2: float(it2.mean())},
            "parallel_efficiency": eff,
            "max_relative_residual": max(
                runs[1]["max_relative_residual"], runs[2]["max_relative_residual"]
            ),
        }
        rows.append(row)
        print(
            f"PETSc {family} {size}^d x{count} {method}+{pc}: 1 rank {runs[1]['seconds']:.2f}s, "
            f"2 ranks {runs[2]['seconds']:.2f}s, efficiency {eff:.0%}, "
            f"max |iterations(2) - iterations(1)| = {row['max_iteration_difference']}",
            flush=True,
        )
        if row["max_iteration_difference"] > 2:
            row["serial_rounding_sensitivity"] = rounding_sensitivity(
                family, size, count, method, pc, it1)
    return rows


def warm_up_kernels() -> None:
    """Compile (or load from Numba's cache) pdeflow's kernels before anything is timed (the
    ILU(0) blocks of ASM, the Galerkin plan of the AMG update), and import the LDL^T solver."""
    params, systems = skr_family("darcy", size=24).systems(2)
    (A, b), (A2, _) = systems
    ASM().build(A)(b)
    AMG().update(AMG().build(A), A2)
    solve_sequence(systems, "skr", params=params, preconditioner=LU(), pc_refresh=1)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true", help="small grids and 20 systems per family")
    ap.add_argument("--parts", default="parity,peers,petsc", help="comma-separated subset")
    ap.add_argument("--families", default="", help="restrict the peers part to these families")
    args = ap.parse_args()
    mode_name = "quick" if args.quick else "full"
    mode = MODES[mode_name]
    parts = set(args.parts.split(","))
    only = set(args.families.split(",")) if args.families else None
    log: list = []
    payload: dict = {"mode": mode_name, "settings": mode, "machine": machine_info()}
    t0 = time.perf_counter()
    with threadpool_limits(1):
        warm_up_kernels()
        if "parity" in parts:
            payload["parity"] = parity(mode, log)
        if "peers" in parts:
            payload["peers"] = peers(mode, log, only)
    if "petsc" in parts:
        payload["petsc"] = petsc_scaling(mode)
    payload["comparisons"] = log
    payload["seconds"] = time.perf_counter() - t0
    path = write_results(f"skr-{mode_name}", payload)
    print(f"\nresults written to {path}")
    summary(payload)


def summary(payload: dict) -> None:
    print("\n=== summary ===")
    for r in payload.get("parity", []):
        print(
            f"parity {r['family']:<18} n={r['unknowns']:<7} pc={r['pc']:<7} tol={r['tol']:g}: "
            f"SKR/GMRES(40) {r['speedup_vs_gmres40']:.2f}x (paper {r['paper']}), "
            f"sorting alone {r['sorting_effect']:.2f}x"
        )
    for r in payload.get("peers", []):
        sps = ", ".join(f"{k} {v * 1e3:.1f}ms" for k, v in r["seconds_per_system"].items())
        print(
            f"peers  {r['family']:<20} n={r['unknowns']:<7}: "
            f"auto/best {r['auto_vs_best_peer']:.2f}x, "
            f"SKR/best {r['skr_vs_best_peer']:.2f}x (best: {r['best_peer']}) | {sps}"
        )
    for r in payload.get("petsc", []):
        print(
            f"petsc  {r['family'] + ' ' + r['method'] + '+' + r['pc']:<20} "
            f"efficiency {r['parallel_efficiency']:.0%}, "
            f"iteration difference {r['max_iteration_difference']}"
            + (f" (serial rounding: {r['serial_rounding_sensitivity']})"
               if "serial_rounding_sensitivity" in r else "")
        )


if __name__ == "__main__":
    main()
