"""Worker of ``benchmarks/skr.py``: one SKR sequence on the PETSc backend (run under mpiexec).

    mpiexec -n 2 python benchmarks/skr_petsc.py darcy3d 32 20 skr-cg amg out.json

Every rank assembles the same systems and keeps its row range; rank 0 writes
``{"ranks", "iterations", "seconds", "max_relative_residual"}`` to the JSON file.
The timed part is the solve (matrix conversion to PETSc included), not the assembly.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import dolfinx_solver  # noqa: F401  (must precede petsc4py)
import numpy as np
from threadpoolctl import threadpool_limits

from pdeflow.solvers import PetscBackend, solve_sequence

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _skr_families import skr_family  # noqa: E402


def main(argv: list[str]) -> None:
    family, size, count, method, pc, out = argv
    bk = PetscBackend()
    fam = skr_family(family, size=int(size))
    params, systems = fam.systems(int(count))
    with threadpool_limits(1):
        bk.comm.barrier()
        t0 = time.perf_counter()
        res = solve_sequence(
            systems,
            method,
            params=params,
            preconditioner=None if pc == "none" else pc,
            pc_refresh=8,
            rtol=1e-8,
            backend=bk,
        )
        bk.comm.barrier()
        seconds = time.perf_counter() - t0
    worst = 0.0
    for (A, b), x in zip(systems, res.solutions, strict=True):
        xg = bk.gather(x)
        worst = max(worst, float(np.linalg.norm(A @ xg - b) / np.linalg.norm(b)))
    if bk.rank == 0:
        payload = {
            "ranks": bk.size,
            "iterations": res.iterations.tolist(),
            "seconds": seconds,
            "max_relative_residual": worst,
        }
        with open(out, "w") as fh:
            json.dump(payload, fh)


if __name__ == "__main__":
    main(sys.argv[1:])
