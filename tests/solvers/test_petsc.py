"""The PETSc backend gives the scipy backend's answers: serial in-process, and on 2 ranks."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("dolfinx_solver")

from pdeflow.datagen import families  # noqa: E402  (after dolfinx_solver, before petsc4py)
from pdeflow.solvers import (  # noqa: E402
    PetscBackend,
    SolveStatus,
    cg,
    gcrodr,
    gmres,
    solve_sequence,
)

MPIEXEC = Path(sys.executable).parent / "mpiexec"


@pytest.fixture(scope="module")
def systems():
    return families.get("darcy", resolution=16, seed=2).systems(4)


@pytest.fixture(scope="module")
def bk():
    return PetscBackend()


@pytest.mark.parametrize("method", ["gmres", "gcrodr", "cg"])
def test_serial_petsc_equals_scipy(systems, bk, method):
    params, sys_ = systems
    A, b = sys_[0]
    solve = {"gmres": gmres, "gcrodr": gcrodr, "cg": cg}[method]
    ref = solve(A, b, rtol=1e-10)
    res = solve(bk.from_csr(A), bk.scatter(b), rtol=1e-10, backend=bk)
    assert res.info["backend"] == "petsc"
    assert res.iterations == ref.iterations
    np.testing.assert_allclose(res.x, ref.x, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(res.residuals, ref.residuals, rtol=1e-6)


@pytest.mark.parametrize("pc", ["jacobi", "sor", "ilu", "amg", "asm", "bjacobi"])
def test_petsc_preconditioners(systems, bk, pc):
    params, sys_ = systems
    A, b = sys_[1]
    res = gmres(bk.from_csr(A), bk.scatter(b), M=pc, rtol=1e-10, backend=bk)
    assert res.status is SolveStatus.CONVERGED_RTOL
    assert np.linalg.norm(A @ res.x - b) <= 1.01e-10 * np.linalg.norm(b)


@pytest.mark.parametrize("pc", ["asm", "bjacobi"])
def test_one_block_schwarz_equals_petsc_on_one_rank(systems, bk, pc):
    # PETSc's ASM/BJacobi on one rank is one block with an ILU(0) sub-PC: the scipy spec
    # with n_blocks=1 factors the same matrix the same way
    from pdeflow.solvers import make_preconditioner

    params, sys_ = systems
    A, b = sys_[2]
    spec = type(make_preconditioner(pc))(n_blocks=1)
    ref = gmres(A, b, M=spec, rtol=1e-10)
    res = gmres(bk.from_csr(A), bk.scatter(b), M=pc, rtol=1e-10, backend=bk)
    assert res.iterations == ref.iterations
    floor = 1e-12 * ref.residuals[0]  # the last residuals sit at rounding level
    np.testing.assert_allclose(res.residuals, ref.residuals, rtol=1e-6, atol=floor)


def test_petsc_sequence_matches_scipy(systems, bk):
    params, sys_ = systems
    ref = solve_sequence(sys_, "skr", params=params, rtol=1e-9)
    res = solve_sequence(sys_, "skr", params=params, rtol=1e-9, backend=bk)
    assert np.array_equal(ref.iterations, res.iterations)
    np.testing.assert_allclose(res.solutions, ref.solutions, rtol=1e-7, atol=1e-12)
    direct = solve_sequence(sys_, "direct", backend=bk)  # MUMPS
    np.testing.assert_allclose(direct.solutions, ref.solutions, rtol=1e-6, atol=1e-10)


SCRIPT = """
import json, sys
import dolfinx_solver  # noqa: F401  (before petsc4py)
import numpy as np
from pdeflow.solvers import (PetscBackend, cg, gcrodr, gmres,
                             solve_sequence)

from pdeflow.datagen import families

bk = PetscBackend()
params, systems = families.get("darcy", resolution=16, seed=2).systems(4)
A, b = systems[0]
out = {"size": bk.size}
for name, solve, kw in [("gmres", gmres, {}), ("gcrodr", gcrodr, {}), ("cg", cg, {}),
                        ("gmres_jacobi", gmres, {"M": "jacobi"})]:
    res = solve(bk.from_csr(A), bk.scatter(b), rtol=1e-10, backend=bk, **kw)
    out[name] = {"iterations": res.iterations, "x": bk.gather(res.x).tolist()}
seq = solve_sequence(systems, "skr", params=params, rtol=1e-9, backend=bk)
out["skr"] = {"iterations": seq.iterations.tolist(),
              "x": np.stack([bk.gather(x) for x in seq.solutions]).tolist()}
hp, hs = families.get("helmholtz", k0=30.0, contrast=0.1, resolution=12).systems(3)
hseq = solve_sequence(hs, "skr", params=hp, rtol=1e-9, backend=bk)
out["helmholtz"] = {"iterations": hseq.iterations.tolist(),
                    "x": np.stack([bk.gather(x) for x in hseq.solutions]).tolist()}
if bk.rank == 0:
    json.dump(out, open(sys.argv[1], "w"))
"""


@pytest.mark.mpi
def test_two_ranks_match_scipy(tmp_path, systems):
    if not MPIEXEC.exists() and shutil.which("mpiexec") is None:
        pytest.skip("mpiexec not available")
    script = tmp_path / "run.py"
    script.write_text(SCRIPT)
    out = tmp_path / "out.json"
    mpiexec = str(MPIEXEC) if MPIEXEC.exists() else "mpiexec"
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    proc = subprocess.run(
        [mpiexec, "-n", "2", sys.executable, str(script), str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(out.read_text())
    assert got["size"] == 2
    params, sys_ = systems
    A, b = sys_[0]
    for name, solve, kw in [
        ("gmres", gmres, {}),
        ("gcrodr", gcrodr, {}),
        ("cg", cg, {}),
        ("gmres_jacobi", gmres, {"M": "jacobi"}),
    ]:
        ref = solve(A, b, rtol=1e-10, **kw)
        assert abs(got[name]["iterations"] - ref.iterations) <= 1, name
        np.testing.assert_allclose(got[name]["x"], ref.x, rtol=1e-7, atol=1e-10)
    ref = solve_sequence(sys_, "skr", params=params, rtol=1e-9)
    assert np.abs(np.array(got["skr"]["iterations"]) - ref.iterations).max() <= 2
    np.testing.assert_allclose(got["skr"]["x"], ref.solutions, rtol=1e-6, atol=1e-10)
    hp, hs = families.get("helmholtz", k0=30.0, contrast=0.1, resolution=12).systems(3)
    href = solve_sequence(hs, "skr", params=hp, rtol=1e-9)
    assert np.abs(np.array(got["helmholtz"]["iterations"]) - href.iterations).max() <= 2
    np.testing.assert_allclose(got["helmholtz"]["x"], href.solutions, rtol=1e-6, atol=1e-8)


def test_petsc_gamg_update(systems, bk):
    from pdeflow.solvers import AMG

    params, sys_ = systems
    (A1, _), (A2, b2) = sys_[0], sys_[1]
    M = AMG().build(bk.from_csr(A1), bk)
    mat2 = bk.from_csr(A2)
    M2 = AMG().update(M, mat2, bk)
    res = cg(mat2, bk.scatter(b2), M=M2, rtol=1e-10, backend=bk)
    assert res.converged and res.iterations < 30
    assert np.linalg.norm(A2 @ res.x - b2) <= 1.01e-10 * np.linalg.norm(b2)


def test_petsc_gamg_update_writes_new_values_into_its_own_matrix(systems, bk):
    """Same pattern: the values go into the PC's private copy (GAMG keeps its interpolation);
    a new pattern gets a new copy.  The callers' matrices are never written."""
    import scipy.sparse as sp

    from pdeflow.solvers import AMG

    _, sys_ = systems
    (A1, _), (A2, b2) = sys_[0], sys_[1]
    A1_before = A1.copy()
    M = AMG().build(A1, bk)
    pmat = M.handle.getOperators()[1]
    M2 = AMG().update(M, A2, bk)
    assert M2.handle.getOperators()[1].handle == pmat.handle  # written in place
    lo, hi = bk.row_range(A2.shape[0])
    np.testing.assert_array_equal(pmat.getValuesCSR()[2], sp.csr_matrix(A2)[lo:hi].data)
    assert (A1 != A1_before).nnz == 0
    res = cg(A2, bk.scatter(b2), M=M2, rtol=1e-10, backend=bk)
    assert res.converged and res.iterations < 30
    # the hierarchy follows the values: a doubled matrix halves the preconditioner
    r = bk.scatter(np.random.default_rng(0).standard_normal(A2.shape[0]))
    z = M2(r)
    M3 = AMG().update(M2, 2.0 * A2, bk)
    np.testing.assert_allclose(M3(r), 0.5 * z, rtol=1e-8, atol=1e-12)
    # another pattern: a fresh copy, still a working preconditioner
    extra = np.full(A2.shape[0] - 3, -1e-3)
    A4 = (A2 + sp.diags([extra, extra], [-3, 3])).tocsr()  # symmetric, one more band
    M4 = AMG().update(M3, A4, bk)
    assert M4.handle.getOperators()[1].handle != pmat.handle
    res4 = cg(A4, bk.scatter(b2), M=M4, rtol=1e-10, backend=bk)
    assert res4.converged
