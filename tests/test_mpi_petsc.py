"""PETSc under MPI: a 2-rank KSP solve of the 1-D Laplacian matches the exact solution."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from pdeflow.info import find_mpiexec

pytestmark = pytest.mark.mpi

# -u'' = 2 on (0, 1), u(0) = u(1) = 0: exact solution u = x (1 - x).  The second-order
# finite-difference scheme is exact for quadratics, so the discrete solution equals u at
# the nodes up to the solver tolerance.
SCRIPT = textwrap.dedent(
    """
    import json
    import sys

    import dolfinx_solver  # noqa: F401  (orders MPI before petsc4py)
    import numpy as np
    from mpi4py import MPI
    from petsc4py import PETSc

    n = 200
    h = 1.0 / (n + 1)
    comm = PETSc.COMM_WORLD
    A = PETSc.Mat().createAIJ([n, n], nnz=3, comm=comm)
    start, end = A.getOwnershipRange()
    for i in range(start, end):
        A.setValue(i, i, 2.0 / h**2)
        if i > 0:
            A.setValue(i, i - 1, -1.0 / h**2)
        if i < n - 1:
            A.setValue(i, i + 1, -1.0 / h**2)
    A.assemble()
    b = A.createVecLeft()
    b.set(2.0)
    x = A.createVecRight()

    ksp = PETSc.KSP().create(comm)
    ksp.setOperators(A)
    ksp.setType("cg")
    ksp.getPC().setType("jacobi")
    ksp.setTolerances(rtol=1e-12, atol=0.0, max_it=10 * n)
    ksp.solve(b, x)

    nodes = (np.arange(start, end) + 1) * h
    local_err = float(np.max(np.abs(x.getArray() - nodes * (1 - nodes))))
    err = MPI.COMM_WORLD.allreduce(local_err, op=MPI.MAX)
    rows = MPI.COMM_WORLD.gather(end - start, root=0)
    if MPI.COMM_WORLD.rank == 0:
        print(json.dumps({
            "size": MPI.COMM_WORLD.size,
            "rows_per_rank": rows,
            "reason": int(ksp.getConvergedReason()),
            "iterations": ksp.getIterationNumber(),
            "max_error": err,
        }), flush=True)
    """
)


def test_two_rank_ksp_solve_of_1d_laplacian(tmp_path):
    mpiexec = find_mpiexec()
    if mpiexec is None:
        pytest.skip(f"no mpiexec next to {sys.executable} or on PATH (install pdeflow[fem])")
    script = tmp_path / "laplace_ksp.py"
    script.write_text(SCRIPT)
    proc = subprocess.run(
        [str(mpiexec), "-n", "2", sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, f"mpiexec failed:\n{proc.stdout}\n{proc.stderr}"
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    assert len(lines) == 1, proc.stdout  # rank 0 reports once
    result = json.loads(lines[0])
    assert result["size"] == 2
    assert sum(result["rows_per_rank"]) == 200 and min(result["rows_per_rank"]) > 0
    assert result["reason"] > 0, f"KSP diverged: {result}"
    assert result["max_error"] < 1e-8, result
