"""PDE-constrained distributed Poisson control: pdeflow vs IPOPT (casadi) and trust-constr.

Run: ``.venv/bin/python benchmarks/optim_pde.py [N ...]`` (default N = 32 64 128).
For each N: wall time of pdeflow ``newton`` (sparse LU KKT) against IPOPT (MUMPS, exact
Hessian, solve call only; building the casadi graph is excluded) and scipy ``trust-constr``
(N <= 64 only unless ``--trust-constr-all``), all at KKT tolerance 1e-8, with the KKT
residual measured the same way for every solver.  Then ``adasketch`` with Kaczmarz under a
fixed step budget: sketch steps, KKT reached, and flops against the exact KKT solve.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

# 2 shared cores: single-threaded BLAS for every candidate (pdeflow and peers alike);
# multi-threaded OpenBLAS on an oversubscribed machine makes a 16k dot take 30 ms.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import compare, machine_info, write_results  # noqa: E402
from optim_peers import ipopt_solver, kkt_ls, run_ipopt, scipy_peer  # noqa: E402

from pdeflow.solvers.optim import minimize  # noqa: E402
from pdeflow.solvers.optim.poisson_control import laplacian_2d, poisson_control  # noqa: E402

TOL = 1e-8
BETA = 1e-3


def casadi_poisson(N: int):  # noqa: ANN201
    import casadi as ca

    M = N * N
    A = sp.csc_matrix(laplacian_2d(N))
    A_dm = ca.DM(ca.Sparsity(M, M, A.indptr.tolist(), A.indices.tolist()), A.data.tolist())
    s = np.arange(1, N + 1) / (N + 1)
    X, Y = np.meshgrid(s, s, indexing="ij")
    target = ca.DM((np.sin(np.pi * X) * np.sin(np.pi * Y)).ravel())
    x = ca.MX.sym("x", 2 * M)
    w, z = x[:M], x[M:]
    f = 0.5 * ca.sumsqr(w - target) + 0.5 * BETA * ca.sumsqr(z)
    return ipopt_solver(f, ca.mtimes(A_dm, w) - z, x, TOL)


def main(sizes: list[int], trust_all: bool) -> None:
    payload: dict = {"cases": [], "machine": machine_info()}
    for N in sizes:
        p = poisson_control(N, beta=BETA)
        t = time.perf_counter()
        ip = casadi_poisson(N)
        build = time.perf_counter() - t
        peers = {"ipopt": lambda ip=ip, p=p: run_ipopt(ip, p.x0)}
        if N <= 64 or trust_all:
            peers["trust-constr"] = lambda p=p: scipy_peer(p, "trust-constr", TOL)
        newton = minimize(p, "newton")
        outs = {k: fn() for k, fn in peers.items()}
        kkts = {"newton": newton.kkt} | {k: kkt_ls(p, o["x"]) for k, o in outs.items()}
        its = {"newton": newton.iterations} | {k: o["iterations"] for k, o in outs.items()}
        print(f"N={N}: n={2 * N * N} KKT " + ", ".join(f"{k}={v:.1e}" for k, v in kkts.items())
              + " | iterations " + str(its) + f" | casadi graph build {build:.2f}s", flush=True)
        res = compare(f"poisson control N={N} (pdeflow = newton, sparse LU)",
                      lambda p=p: minimize(p, "newton"), peers,
                      repeats=3 if N < 128 else 2, warmup=1, meta={"N": N, "tol": TOL})
        # adasketch: Kaczmarz under a fixed budget, to measure steps / flops / KKT reached.
        budget = 2_000_000
        t = time.perf_counter()
        sk = minimize(p, "adasketch", sketch="kaczmarz", seed=0, max_iter=3,
                      max_sketch_steps=budget, raise_on_failure=False)
        sk_time = time.perf_counter() - t
        failed = sk.info.get("failed_iteration", {})
        newton_flops = newton.flops
        steps = sk.sketch_steps + failed.get("linear_steps", 0)
        flops = sk.flops + failed.get("flops", 0.0)
        print(f"  adasketch/kaczmarz (budget {budget} steps per Newton iteration): "
              f"{sk.status.name} after {sk.iterations} accepted iterations, KKT {sk.kkt:.2e}, "
              f"{steps} sketch steps, {flops:.3e} flops = {flops / newton_flops:.3g}x the exact "
              f"KKT solve ({newton_flops:.3e} flops), {sk_time:.2f}s", flush=True)
        payload["cases"].append({
            "N": N, "timing": res, "kkt": kkts, "iterations": its, "casadi_build_s": build,
            "adasketch": {"status": sk.status.name, "kkt": sk.kkt, "time_s": sk_time,
                          "iterations": sk.iterations, "sketch_steps": steps, "flops": flops,
                          "budget_steps_per_iteration": budget},
            "newton_lu_flops": newton_flops,
        })
    print("wrote", write_results("optim_pde", payload))


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    main([int(a) for a in args] or [32, 64, 128], "--trust-constr-all" in sys.argv)
