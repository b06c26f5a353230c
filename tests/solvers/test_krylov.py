"""GMRES, flexible GMRES, GCRO-DR and CG: residuals against spsolve, every preconditioner."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from pdeflow.datagen import families
from pdeflow.errors import ConfigError, ConvergenceError, DataError, ShapeError
from pdeflow.solvers import (
    AMG,
    ASM,
    ILU,
    SOR,
    BJacobi,
    Jacobi,
    SolveStatus,
    cg,
    direct_solve,
    fgmres,
    gcrodr,
    gmres,
)

PRECONDITIONERS = [None, Jacobi(), SOR(), ILU(), AMG(), ASM(), BJacobi()]
NONSYM_PCS = [None, Jacobi(), SOR(symmetric=False), ILU(), AMG(symmetric=False), ASM(), BJacobi()]
METHODS = {
    "gmres": lambda A, b, M: gmres(A, b, M=M, rtol=1e-10, restart=30),
    "fgmres": lambda A, b, M: fgmres(A, b, M=M, rtol=1e-10, restart=30),
    "gcrodr": lambda A, b, M: gcrodr(A, b, M=M, rtol=1e-10, restart=30, k=8),
}


def _check_against_spsolve(A, b, res, rtol=1e-10):
    x_ref = spla.spsolve(A.tocsc(), b)
    assert res.status.converged
    assert np.linalg.norm(b - A @ res.x) <= 1.01 * rtol * np.linalg.norm(b)
    np.testing.assert_allclose(res.x, x_ref, rtol=0, atol=1e-6 * np.abs(x_ref).max())
    assert res.residuals[-1] == pytest.approx(np.linalg.norm(b - A @ res.x), rel=1e-6, abs=1e-14)


@pytest.mark.parametrize("M", PRECONDITIONERS, ids=lambda m: "none" if m is None else m.name)
@pytest.mark.parametrize("method", list(METHODS) + ["cg"])
def test_spd_method_times_preconditioner(spd, method, M):
    A, b = spd
    if method == "cg" and isinstance(M, ASM):
        M = ASM(restricted=False, sub="lu")  # CG needs a symmetric preconditioner
    if method == "cg" and isinstance(M, BJacobi):
        M = BJacobi(sub="lu")
    res = cg(A, b, M=M, rtol=1e-10) if method == "cg" else METHODS[method](A, b, M)
    _check_against_spsolve(A, b, res)
    assert res.iterations == len(res.residuals) - 1


@pytest.mark.parametrize("M", NONSYM_PCS, ids=lambda m: "none" if m is None else m.name)
@pytest.mark.parametrize("method", list(METHODS))
def test_nonsymmetric_method_times_preconditioner(nonsym, method, M):
    A, b = nonsym
    _check_against_spsolve(A, b, METHODS[method](A, b, M))


def test_preconditioners_reduce_iterations(spd):
    A, b = spd
    plain = gmres(A, b, rtol=1e-10).iterations
    for M in (ILU(), AMG(), SOR()):
        assert gmres(A, b, M=M, rtol=1e-10).iterations < plain / 2


def test_gmres_restart_equals_full_gmres_when_large(nonsym):
    A, b = nonsym
    full = gmres(A, b, restart=400, rtol=1e-10)
    assert full.info["restarts"] == 1
    restarted = gmres(A, b, restart=10, rtol=1e-10)
    assert restarted.iterations > full.iterations


def test_x0_is_used(spd):
    A, b = spd
    x = spla.spsolve(A.tocsc(), b)
    res = gmres(A, b, x0=x + 1e-12, rtol=1e-8)
    assert res.iterations == 0 and res.status is SolveStatus.CONVERGED_RTOL


def test_direct_solve(spd):
    A, b = spd
    res = direct_solve(A, b)
    assert res.status is SolveStatus.CONVERGED_ITS
    assert np.linalg.norm(A @ res.x - b) < 1e-12 * np.linalg.norm(b)


def test_atol_status(spd):
    A, b = spd
    res = gmres(A, b, rtol=0.0, atol=1e-3)
    assert res.status is SolveStatus.CONVERGED_ATOL and res.residual_norm <= 1e-3


def test_max_iter_raises_with_reason(spd):
    A, b = spd
    with pytest.raises(ConvergenceError, match=r"after 5 iterations with DIVERGED_ITS.*max_iter"):
        gmres(A, b, max_iter=5)
    with pytest.raises(ConvergenceError, match="DIVERGED_ITS"):
        gcrodr(A, b, max_iter=7, restart=10, k=3)
    with pytest.raises(ConvergenceError, match="after 4 iterations"):
        cg(A, b, max_iter=4)


def test_failure_returned_when_not_raising(spd):
    A, b = spd
    res = gmres(A, b, max_iter=5, raise_on_failure=False)
    assert res.status is SolveStatus.DIVERGED_ITS and res.status.value == -3
    assert not res.converged and res.iterations == 5


def test_cg_detects_indefinite_matrix():
    A = (
        sp.diags(np.r_[np.ones(20), -np.ones(20)]).tocsr()
        + 0.1 * sp.eye(40, k=1)
        + 0.1 * sp.eye(40, k=-1)
    )
    res = cg(A.tocsr(), np.ones(40), raise_on_failure=False)
    assert res.status is SolveStatus.DIVERGED_INDEFINITE_MAT
    with pytest.raises(ConvergenceError, match="not positive definite"):
        cg(A.tocsr(), np.ones(40))


def test_cg_detects_indefinite_preconditioner(spd):
    A, b = spd
    res = cg(A, b, M=lambda r: -r, raise_on_failure=False)
    assert res.status is SolveStatus.DIVERGED_INDEFINITE_PC


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("solver", [gmres, gcrodr, cg, direct_solve])
def test_nonfinite_inputs_rejected(spd, solver, bad):
    A, b = spd
    b_bad = b.copy()
    b_bad[3] = bad
    with pytest.raises(DataError, match="NaN or Inf"):
        solver(A, b_bad)
    A_bad = A.copy()
    A_bad.data[7] = bad
    with pytest.raises(DataError, match="NaN or Inf"):
        solver(A_bad, b)


def test_nan_in_operator_output_is_reported():
    op = spla.LinearOperator((10, 10), matvec=lambda v: v * np.nan, dtype=float)
    res = gmres(op, np.ones(10), raise_on_failure=False)
    assert res.status is SolveStatus.DIVERGED_NANORINF


def test_bad_parameters_raise_config_errors(spd):
    A, b = spd
    with pytest.raises(ConfigError, match="The 'rtol' parameter of gmres must be a float in"):
        gmres(A, b, rtol=-1)
    with pytest.raises(ConfigError, match="The 'k' parameter of gcrodr"):
        gcrodr(A, b, restart=10, k=10)
    with pytest.raises(ConfigError, match="'preconditioner' parameter"):
        gmres(A, b, M="nope")
    with pytest.raises(ShapeError):
        gmres(A, b[:-1])
    with pytest.raises(ConfigError, match="omega"):
        SOR(omega=2.5)


def test_result_is_immutable(spd):
    A, b = spd
    res = gmres(A, b)
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.iterations = 0
    with pytest.raises(ValueError):
        res.x[0] = 1.0
    assert "CONVERGED_RTOL" in repr(res)


def test_zero_rhs_gives_zero():
    A = sp.eye(5, format="csr")
    res = gmres(A, np.zeros(5))
    assert res.iterations == 0 and not res.x.any() and res.converged


def test_splu_factor_symmetric_and_general(spd, nonsym):
    from pdeflow.solvers import is_symmetric, splu_factor

    for A, b in (spd, nonsym):
        x = splu_factor(A)(b)
        assert np.linalg.norm(A @ x - b) < 1e-12 * np.linalg.norm(b)
    assert is_symmetric(spd[0]) and not is_symmetric(nonsym[0])


def test_lu_of_a_neighbour_preconditions_in_few_iterations(spd):
    from pdeflow.solvers import LU

    A, b = spd
    M = LU().build(A)
    A2 = (A + sp.diags(np.full(A.shape[0], 0.01))).tocsr()
    res = gcrodr(A2, b, M=M, rtol=1e-10)
    assert res.iterations <= 8
    assert np.linalg.norm(A2 @ res.x - b) <= 1.01e-10 * np.linalg.norm(b)


def test_lu_rebuild_refactors_its_ldl_in_place_for_a_new_matrix():
    from pdeflow.solvers import LU, SparseLDL

    indefinite = families.get("helmholtz", k0=30.0, contrast=0.1, resolution=24, seed=3)
    (A1, _), (A2, b2) = indefinite.systems(2)[1]
    M1 = LU().build(A1)
    assert isinstance(M1.apply, SparseLDL)  # symmetric, positive diagonal, accurate
    M2 = LU().rebuild(M1, A2)
    assert M2.apply is M1.apply and M2.operator is A2  # same analysis, new values
    x = M2(b2)
    assert np.linalg.norm(A2 @ x - b2) <= 1e-10 * np.linalg.norm(b2)


def test_lu_falls_back_to_pivoting_when_ldl_is_inaccurate():
    from pdeflow.solvers import LU, SparseLDL, factorize

    # positive diagonal, but the tiny pivots need pivoting: LDL^T alone loses ~8 digits
    eps = 1e-9
    A = sp.csr_matrix(np.array([[eps, 1.0, 0.0], [1.0, eps, 1.0], [0.0, 1.0, eps]]))
    b = np.array([1.0, 2.0, 3.0])
    ldl = factorize(A)
    assert isinstance(ldl, SparseLDL)
    assert np.linalg.norm(A @ ldl(b) - b) > 1e-9 * np.linalg.norm(b)
    M = LU().build(A)
    assert not isinstance(M.apply, SparseLDL)
    assert np.linalg.norm(A @ M(b) - b) <= 1e-14 * np.linalg.norm(b)


def test_sequence_rebuilds_a_factorization_every_pc_refresh_systems():
    from pdeflow.solvers import LU, solve_sequence

    indefinite = families.get("helmholtz", k0=30.0, contrast=0.1, resolution=24, seed=5)
    params, systems = indefinite.systems(6)
    res = solve_sequence(
        systems, "skr", params=params, preconditioner=LU(), pc_refresh=2, k=4, rtol=1e-9
    )
    its = [res.reports[i].iterations for i in res.order]  # in the order solved
    assert its[0::2] == [1, 1, 1]  # the own factorization: one iteration
    assert min(its[1::2]) > 1  # a neighbour's factorization
    for (A, b), x in zip(systems, res.solutions, strict=True):
        assert np.linalg.norm(A @ x - b) <= 1.01e-9 * np.linalg.norm(b)


def test_amg_update_keeps_quality_on_a_new_matrix():

    fam = families.get("darcy", resolution=24, seed=4)
    (A1, _), (A2, b2) = fam.systems(2)[1]
    fresh = cg(A2, b2, M=AMG().build(A2), rtol=1e-10)
    frozen = cg(A2, b2, M=AMG().build(A1), rtol=1e-10)
    updated_pc = AMG().update(AMG().build(A1), A2)
    assert updated_pc.operator is A2
    updated = cg(A2, b2, M=updated_pc, rtol=1e-10)
    assert updated.iterations <= fresh.iterations + 1 < frozen.iterations
    assert np.linalg.norm(A2 @ updated.x - b2) <= 1.01e-10 * np.linalg.norm(b2)


def test_lu_rebuild_reports_a_singular_matrix_as_a_pc_failure():
    from pdeflow.solvers import LU

    A = sp.csr_matrix(np.diag([1.0, 2.0, 3.0]))
    built = LU().build(A)
    singular = sp.csr_matrix(np.array([[1.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 1.0]]))
    with pytest.raises(ConvergenceError, match="DIVERGED_PC_FAILED"):
        LU().rebuild(built, singular)
