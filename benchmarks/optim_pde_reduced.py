"""PDE-constrained optimization at scale: reduced Newton-CG with sketched preconditioners.

Run: ``.venv/bin/python benchmarks/optim_pde_reduced.py [--quick] [--ipopt-512]``
(IPOPT needs ``casadi``; without it the IPOPT rows are reported as missing).

Parts (``n`` = nodes per side, ``(n - 2)^2`` states and controls; 256^2 means n = 258):

1. Semilinear control ``-Lap w + w^3 = z`` at 256^2 and Darcy log-K inversion at 128^2:
   pdeflow ``minimize(p, "adasketch")`` against IPOPT (casadi, MUMPS, exact Hessian, full
   space; graph build excluded) at tol 1e-8.  Both solutions are scored by the same reduced
   KKT residual and objective.
2. The sketch's effect at 256^2: CG iterations and time with the Nystrom preconditioner
   (``adasketch``) against without (``newton``: the same Newton-CG, unpreconditioned).
3. Mesh independence: CG iterations per Newton step from 64^2 to 512^2.
4. Recycling: at the first Newton step, the sketch's batch of forward solves
   ``B x_i = C omega_i`` through ``solve_sequence`` with fresh CG (``"cg"``) against
   recycled CG (``"skr-cg"``), Krylov iterations per system; and the LDL^T refactorization
   that reuses the ordering across Newton steps against a fresh factorization.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import machine_info, write_results  # noqa: E402

from pdeflow.datagen.families.control import (  # noqa: E402
    darcy_inversion,
    semilinear_control,
)
from pdeflow.datagen.families.darcy import node_diffusion_matrix  # noqa: E402
from pdeflow.solvers import solve_sequence  # noqa: E402
from pdeflow.solvers.direct import factorize  # noqa: E402
from pdeflow.solvers.optim import minimize  # noqa: E402
from pdeflow.solvers.optim.pde import LinearCounts, ReducedState  # noqa: E402

TOL = 1e-8
DARCY = {"gamma": 1.0, "delta": 1.0}


def _dm(A: sp.spmatrix):  # noqa: ANN202
    import casadi as ca

    A = sp.csc_matrix(A)
    A.sum_duplicates()
    A.sort_indices()
    return ca.DM(ca.Sparsity(A.shape[0], A.shape[1], A.indptr.tolist(), A.indices.tolist()),
                 A.data.tolist())


def _ipopt(f, g, x, max_wall: float):  # noqa: ANN001, ANN202
    import casadi as ca

    opts = {"ipopt.tol": TOL, "ipopt.constr_viol_tol": TOL, "ipopt.dual_inf_tol": TOL,
            "ipopt.print_level": 0, "print_time": False, "ipopt.sb": "yes",
            "ipopt.max_iter": 3000, "ipopt.max_wall_time": max_wall}
    return ca.nlpsol("s", "ipopt", {"x": x, "f": f, "g": g}, opts)


def ipopt_semilinear(p, max_wall: float = 600.0):  # noqa: ANN001, ANN201
    """IPOPT on the full-space semilinear control problem (same discretization)."""
    import casadi as ca

    N = p.n_control
    n = p.info["n"]
    h2 = 1.0 / (n - 1) ** 2
    A = _dm(sp.csr_matrix(p.state_jac(np.zeros(N), np.zeros(N))))
    x = ca.MX.sym("x", 2 * N)
    w, z = x[:N], x[N:]
    target = ca.DM(p.info["target"])
    f = 0.5 * h2 * ca.sumsqr(w - target) + 0.5 * p.info["beta"] * h2 * ca.sumsqr(z)
    return _ipopt(f, ca.mtimes(A, w) + w**3 - z, x, max_wall), 2 * N


def ipopt_semilinear_bounded(p, max_wall: float = 600.0):  # noqa: ANN001, ANN201
    """IPOPT with the control bounds ``lbx``/``ubx``."""
    solver, nx = ipopt_semilinear(p, max_wall)
    N = p.n_control
    lo = np.concatenate([np.full(N, -np.inf), p.bounds[0]])
    hi = np.concatenate([np.full(N, np.inf), p.bounds[1]])

    def call(x0, lbg, ubg):  # noqa: ANN001, ANN202
        return solver(x0=np.clip(x0, lo, hi), lbg=lbg, ubg=ubg, lbx=lo, ubx=hi)

    call.stats = solver.stats
    return call, nx


def _darcy_operators(n: int):  # noqa: ANN202
    """Edge incidence G, edge averaging S and interior embedding E of the node grid."""
    idx = np.arange(n * n).reshape(n, n)
    pairs = np.concatenate([np.stack([idx[:-1, :].ravel(), idx[1:, :].ravel()], 1),
                            np.stack([idx[:, :-1].ravel(), idx[:, 1:].ravel()], 1)])
    ne = pairs.shape[0]
    rows = np.repeat(np.arange(ne), 2)
    G = sp.csr_matrix((np.tile([1.0, -1.0], ne), (rows, pairs.ravel())), shape=(ne, n * n))
    S = sp.csr_matrix((np.full(2 * ne, 0.5), (rows, pairs.ravel())), shape=(ne, n * n))
    inner = idx[1:-1, 1:-1].ravel()
    E = sp.csr_matrix((np.ones(inner.size), (inner, np.arange(inner.size))),
                      shape=(n * n, inner.size))
    return G, S, E


def ipopt_darcy(p, max_wall: float = 600.0):  # noqa: ANN001, ANN201
    """IPOPT on the full-space Darcy inversion: ``A(e^m) u = E^T G^T diag(S e^m) G E u / h^2``."""
    import casadi as ca

    n = p.info["n"]
    N, M = p.w0.shape[0], p.n_control
    G, S, E = _darcy_operators(n)
    h2 = 1.0 / (n - 1) ** 2
    a = np.exp(np.random.default_rng(3).standard_normal((n, n)))
    check = E.T @ G.T @ ((S @ a.ravel()) * (G @ E @ np.arange(N, dtype=float))) / h2
    assert np.allclose(check, node_diffusion_matrix(a) @ np.arange(N, dtype=float))
    x = ca.MX.sym("x", N + M)
    u, m = x[:N], x[N:]
    flux = ca.mtimes(_dm(S), ca.exp(m)) * ca.mtimes(_dm(G @ E), u)
    res = ca.mtimes(_dm(E.T @ G.T / h2), flux) - 1.0
    obs, data, sigma = p.info["obs_index"], p.info["data"], p.info["sigma"]
    P = sp.csr_matrix((np.ones(obs.size), (np.arange(obs.size), obs)), shape=(obs.size, N))
    f = 0.5 * ca.sumsqr((ca.mtimes(_dm(P), u) - ca.DM(data)) / sigma) \
        + 0.5 * ca.dot(m, ca.mtimes(_dm(p.reg), m))
    return _ipopt(f, res, x, max_wall), N + M


def _score(p, z: np.ndarray) -> tuple[float, float]:
    """(objective, reduced KKT residual) at control ``z`` with the exact state."""
    from pdeflow.solvers.optim.newton_cg import _kkt

    st = ReducedState(p, z, p.w0, LinearCounts())
    lb, ub = p.bounds if p.bounds is not None else (-np.inf, np.inf)
    return st.value, _kkt(st, np.broadcast_to(lb, z.shape), np.broadcast_to(ub, z.shape))


def against_ipopt(name: str, p, build, repeats: int = 2) -> dict:  # noqa: ANN001
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        res = minimize(p, "adasketch")
        ts.append(time.perf_counter() - t)
    row = {"problem": name, "pdeflow_s": float(np.median(ts)), "pdeflow_kkt": res.kkt,
           "pdeflow_f": res.f, "newton_steps": res.iterations, "cg": res.cg_iterations,
           "sketch_rank": res.info["sketch_rank"]}
    try:
        t = time.perf_counter()
        solver, nx = build(p)
        row["casadi_build_s"] = time.perf_counter() - t
        t = time.perf_counter()
        # IPOPT starts from the same feasible point: the state of the start control
        x0 = np.concatenate([ReducedState(p, p.z0, p.w0, LinearCounts()).w, p.z0])
        sol = solver(x0=x0, lbg=0, ubg=0)
        row["ipopt_s"] = time.perf_counter() - t
        z = np.asarray(sol["x"]).ravel()[p.w0.shape[0]:]
        row["ipopt_status"] = solver.stats()["return_status"]
        row["ipopt_f"], row["ipopt_kkt_reduced"] = _score(p, z)
        row["speedup_vs_ipopt"] = row["ipopt_s"] / row["pdeflow_s"]
        row["f_rel_diff"] = abs(row["ipopt_f"] - res.f) / abs(row["ipopt_f"])
    except ImportError:
        row["ipopt"] = "casadi not installed"
    print(name, {k: (float(f"{v:.4g}") if isinstance(v, float) else v) for k, v in row.items()},
          flush=True)
    return row


def sketch_effect(p) -> dict:  # noqa: ANN001
    out = {}
    for method in ("adasketch", "newton"):
        ts, res = [], None
        for _ in range(2):
            t = time.perf_counter()
            res = minimize(p, method)
            ts.append(time.perf_counter() - t)
        out[method] = {"time_s": float(np.median(ts)), "cg_total": int(sum(res.cg_iterations)),
                       "cg_per_step": res.cg_iterations, "kkt": res.kkt,
                       "sketch_actions": res.info["sketch_actions"],
                       "hessian_actions_in_cg": res.info["hessian_actions"]}
    out["cg_ratio_without_over_with"] = out["newton"]["cg_total"] / out["adasketch"]["cg_total"]
    out["time_ratio_without_over_with"] = out["newton"]["time_s"] / out["adasketch"]["time_s"]
    print("sketch effect", p.name, out, flush=True)
    return out


def mesh_independence(sizes: list[int]) -> dict:
    rows = {}
    for n in sizes:
        p = semilinear_control(n)
        t = time.perf_counter()
        res = minimize(p, "adasketch")
        rows[n] = {"cg_per_step": res.cg_iterations,
                   "mean_cg_per_step": float(np.mean(res.cg_iterations)),
                   "newton_steps": res.iterations, "sketch_rank": res.info["sketch_rank"],
                   "time_s": time.perf_counter() - t, "kkt": res.kkt}
        print("mesh", n, rows[n], flush=True)
    means = [r["mean_cg_per_step"] for r in rows.values()]
    return {"rows": rows, "max_over_min_mean_cg": max(means) / min(means)}


def recycling(p, k: int = 32) -> dict:  # noqa: ANN001
    st = ReducedState(p, np.zeros(p.n_control), p.w0, LinearCounts())
    rhs = st.C @ np.random.default_rng(0).standard_normal((p.n_control, k))
    systems = [(sp.csr_matrix(st.B), rhs[:, i]) for i in range(k)]
    out = {}
    for method in ("cg", "skr-cg"):
        t = time.perf_counter()
        res = solve_sequence(systems, method, rtol=1e-10, preconditioner="amg")
        out[method] = {"krylov_per_system": float(np.mean([r.iterations for r in res.reports])),
                       "time_s": time.perf_counter() - t}
    B0 = sp.csr_matrix(st.B)
    B1 = sp.csr_matrix(p.state_jac(st.w + 0.1, st.z))
    f0 = factorize(B0)
    t = time.perf_counter()
    factorize(B1)
    fresh = time.perf_counter() - t
    t = time.perf_counter()
    factorize(B1, previous=f0)
    reuse = time.perf_counter() - t
    out["factorize_fresh_s"], out["factorize_reuse_s"] = fresh, reuse
    print("recycling", p.name, out, flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="smaller grids (smoke run)")
    ap.add_argument("--ipopt-512", action="store_true", help="also run IPOPT at 512^2")
    args = ap.parse_args()
    big, mid = (66, 34) if args.quick else (258, 130)
    payload: dict = {"machine": machine_info(), "tol": TOL}
    payload["semilinear_vs_ipopt"] = against_ipopt(
        f"semilinear {big - 2}^2", semilinear_control(big), ipopt_semilinear)
    payload["semilinear_bounded_vs_ipopt"] = against_ipopt(
        f"semilinear bounded {mid - 2}^2", semilinear_control(mid, bounds=(-60.0, 60.0)),
        ipopt_semilinear_bounded)
    payload["darcy_vs_ipopt"] = against_ipopt(
        f"darcy {mid - 2}^2", darcy_inversion(mid, **DARCY), ipopt_darcy)
    payload["sketch_effect"] = sketch_effect(semilinear_control(big))
    sizes = [34, 66] if args.quick else [66, 130, 258, 514]
    payload["mesh_independence"] = mesh_independence(sizes)
    payload["recycling"] = recycling(semilinear_control(big))
    if args.ipopt_512:
        payload["semilinear_512_vs_ipopt"] = against_ipopt(
            "semilinear 512^2", semilinear_control(514), ipopt_semilinear, repeats=1)
    print("wrote", write_results("optim_pde_reduced", payload))


if __name__ == "__main__":
    main()
