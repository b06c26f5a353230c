"""Fixed-pattern Galerkin products of an AMG hierarchy (solvers/galerkin.py)."""

from __future__ import annotations

import numpy as np
import pyamg
import pytest
import scipy.sparse as sp

from pdeflow.datagen import families
from pdeflow.solvers import AMG, cg
from pdeflow.solvers.galerkin import plan_galerkin
from pdeflow.solvers.preconditioners import _galerkin_update


def _hierarchy(A):
    ml = pyamg.smoothed_aggregation_solver(A, max_coarse=10)
    inner = ml.levels[:-1]
    return ml, [lvl.P for lvl in inner], [lvl.R for lvl in inner]


def _scipy_coarse(A, P, R):
    out = []
    for P_l, R_l in zip(P, R, strict=True):
        A = (R_l @ A @ P_l).tocsr()
        out.append(A)
    return out


@pytest.mark.parametrize("family", [families.get("darcy", resolution=20, seed=1),
                                    families.get("darcy", dim=3, resolution=8, seed=2)])
def test_plan_reproduces_scipy_products_for_new_values(family):
    (A1, _), (A2, _) = family.systems(2)[1]
    ml, P, R = _hierarchy(A1)
    assert len(P) >= 2  # several levels: the coarse patterns feed the next product
    plan = plan_galerkin(A1, P, R)
    for A in (A1, A2):
        ours = plan(A)
        ref = _scipy_coarse(A, P, R)
        assert len(ours) == len(ref)
        for Ac, Rc in zip(ours, ref, strict=True):
            assert Ac.has_sorted_indices
            scale = abs(Rc).max()
            assert abs(Ac - Rc).max() <= 1e-13 * scale


def test_plan_keeps_entries_that_cancel_for_the_first_values():
    # A = [[1, 1], [1, 1]] with P = [[1], [-1]]: R A P = 0 (scipy drops it), but another
    # matrix of the same pattern has a nonzero coarse entry
    P = sp.csr_matrix(np.array([[1.0], [-1.0]]))
    R = P.T.tocsr()
    A1 = sp.csr_matrix(np.array([[1.0, 1.0], [1.0, 1.0]]))
    assert _scipy_coarse(A1, [P], [R])[0].nnz == 0
    plan = plan_galerkin(A1, [P], [R])
    A2 = sp.csr_matrix(np.array([[3.0, 1.0], [1.0, 2.0]]))
    (Ac,) = plan(A2)
    assert Ac.nnz == 1
    np.testing.assert_allclose(Ac.toarray(), [[3.0]])


def test_plan_rejects_another_pattern():
    fam = families.get("darcy", resolution=12, seed=3)
    A = fam.systems(1)[1][0][0]
    _, P, R = _hierarchy(A)
    plan = plan_galerkin(A, P, R)
    other = (A + sp.eye(A.shape[0], k=5)).tocsr()
    assert plan.matches(A) and not plan.matches(other)
    with pytest.raises(ValueError, match="sparsity pattern"):
        plan(other)


def test_plan_targets_fit_the_narrowest_integer_type():
    n = 300
    eye = sp.identity(n, format="csr")
    row = sp.csr_matrix(np.ones((1, n)))  # R: one coarse row of 300 entries
    (level,) = plan_galerkin(eye, [eye], [row]).levels
    assert level.ap_off.dtype == np.uint8  # rows of A P have one entry
    assert level.rap.shape == (1, n)
    assert level.rap_off.dtype == np.uint16  # 300 targets in one row


def test_amg_update_plans_once_and_matches_a_fresh_galerkin_product():
    fam = families.get("darcy", resolution=24, seed=4)
    (A1, _), (A2, b2), (A3, b3) = fam.systems(3)[1]
    M1 = AMG().build(A1)
    M2 = AMG().update(M1, A2)
    M3 = AMG().update(M2, A3)
    plan = M2.handle._pdeflow_galerkin_plan
    assert M3.handle._pdeflow_galerkin_plan is plan  # planned once for the hierarchy
    P = [lvl.P for lvl in M1.handle.levels[:-1]]
    R = [lvl.R for lvl in M1.handle.levels[:-1]]
    for lvl, ref in zip(M3.handle.levels[1:], _scipy_coarse(A3, P, R), strict=True):
        assert abs(lvl.A - ref).max() <= 1e-13 * abs(ref).max()
    res = cg(A3, b3, M=M3, rtol=1e-10)
    assert res.converged
    assert np.linalg.norm(A3 @ res.x - b3) <= 1.01e-10 * np.linalg.norm(b3)


def test_amg_update_replans_for_a_new_pattern():
    fam = families.get("darcy", resolution=16, seed=5)
    (A1, _), (A2, b2) = fam.systems(2)[1]
    M1 = AMG().build(A1)
    first = AMG().update(M1, A2).handle._pdeflow_galerkin_plan
    A_new = (A2 + 1e-3 * sp.eye(A2.shape[0], k=3) + 1e-3 * sp.eye(A2.shape[0], k=-3)).tocsr()
    updated = _galerkin_update(AMG().update(M1, A2).handle, A_new)
    assert updated._pdeflow_galerkin_plan is not first
    assert updated._pdeflow_galerkin_plan.matches(A_new)
    res = cg(A_new, b2, M=updated.aspreconditioner().matvec, rtol=1e-10)
    assert res.converged


def test_plan_takes_unsorted_matrices_without_sorting_them_in_place():
    fam = families.get("darcy", resolution=12, seed=6)
    (A1, _), (A2, _) = fam.systems(2)[1]
    _, P, R = _hierarchy(A1)
    perm = np.random.default_rng(0).permutation  # shuffle each row's entries
    rows = []
    for i in range(A2.shape[0]):
        lo, hi = A2.indptr[i], A2.indptr[i + 1]
        rows.append(lo + perm(hi - lo))
    order = np.concatenate(rows)
    shuffled = sp.csr_matrix((A2.data[order], A2.indices[order], A2.indptr), shape=A2.shape)
    assert not shuffled.has_sorted_indices
    before = shuffled.indices.copy()
    coarse = plan_galerkin(shuffled, P, R)(shuffled)
    np.testing.assert_array_equal(shuffled.indices, before)
    for Ac, ref in zip(coarse, _scipy_coarse(A2, P, R), strict=True):
        assert abs(Ac - ref).max() <= 1e-13 * abs(ref).max()
