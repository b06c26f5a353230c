"""Sparse direct solves: LDL^T with a reused symbolic analysis, SuperLU fallback."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from pdeflow.datagen.families.assembly import diffusion_matrix
from pdeflow.solvers import SparseLDL, factorize, solve_sequence
from pdeflow.solvers.direct import ZeroPivotError


def _darcy(seed: int, m: int = 24) -> tuple[sp.csr_matrix, np.ndarray]:
    """Variable-coefficient 2-D diffusion (SPD, 5-point), the same pattern for every seed."""
    rng = np.random.default_rng(seed)
    K = np.exp(rng.standard_normal((m, m)))
    A = sp.csr_matrix(diffusion_matrix(K))
    return A, rng.standard_normal(m * m)


def test_ldl_matches_spsolve_and_refactors_on_the_same_pattern():
    A0, b0 = _darcy(0)
    F = SparseLDL(A0)
    np.testing.assert_allclose(F(b0), spla.spsolve(A0.tocsc(), b0), rtol=1e-10, atol=1e-12)
    for seed in (1, 2, 3):
        A, b = _darcy(seed)
        assert F.accepts(A)
        assert factorize(A, previous=F) is F  # numeric phase only, same object
        x = F(b)
        assert np.linalg.norm(A @ x - b) <= 1e-12 * np.linalg.norm(b)
        np.testing.assert_allclose(x, spla.spsolve(A.tocsc(), b), rtol=1e-9, atol=1e-12)


def test_ldl_refuses_other_patterns_and_values():
    A, _ = _darcy(0)
    F = SparseLDL(A)
    assert not F.accepts(_darcy(0, m=20)[0])  # other size
    nonsym = A.copy()
    nonsym.data[1] *= 1.5  # one off-diagonal entry: values no longer symmetric
    assert not F.accepts(nonsym)
    neg = A.copy()
    neg.setdiag(-A.diagonal())
    assert not F.accepts(neg)
    denser = (A + sp.eye(A.shape[0], k=5) + sp.eye(A.shape[0], k=-5)).tocsr()
    assert not F.accepts(denser)
    assert not F.accepts(A.tocsc())


def test_factorize_picks_ldl_only_for_symmetric_positive_diagonal():
    A, b = _darcy(4)
    assert isinstance(factorize(A), SparseLDL)
    N = A.copy()
    N.data[1] *= 1.5
    solve = factorize(N)
    assert not isinstance(solve, SparseLDL)
    assert np.linalg.norm(N @ solve(b) - b) <= 1e-12 * np.linalg.norm(b)
    # a previous LDL of another pattern is not reused
    other = SparseLDL(_darcy(0, m=20)[0])
    assert factorize(A, previous=other) is not other


def test_zero_pivot_raises_and_factorize_falls_back_to_superlu():
    A = sp.csr_matrix(np.array([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0], [0.0, 1.0, 3.0]]))
    b = np.array([1.0, 2.0, 3.0])
    x = factorize(A)(b)  # LDL^T of this order hits a zero pivot or is exact; SuperLU pivots
    np.testing.assert_allclose(A @ x, b, atol=1e-12)
    with pytest.raises(ZeroPivotError, match="quasi-definite"):
        SparseLDL(sp.csr_matrix(np.array([[1.0, 1.0], [1.0, 1.0]])))


def test_sequence_redoes_an_inaccurate_ldl_with_superlu():
    # symmetric, positive diagonal, indefinite: LDL^T without pivoting loses everything
    A = sp.csr_matrix(np.array([[1e-20, 1.0, 0.0], [1.0, 1e-20, 1.0], [0.0, 1.0, 2.0]]))
    b = np.array([1.0, 2.0, 3.0])
    assert np.linalg.norm(A @ SparseLDL(A)(b) - b) > 1e-3  # the failure the check guards
    systems = [(A, b), (A.copy(), 2 * b), (A.copy(), 3 * b)]
    res = solve_sequence(systems, method="direct")
    for (Ai, bi), x in zip(systems, res.solutions, strict=True):
        assert np.linalg.norm(Ai @ x - bi) <= 1e-12 * np.linalg.norm(bi)


def test_direct_sequence_of_one_pattern_agrees_with_spsolve():
    systems = [_darcy(s) for s in range(6)]
    res = solve_sequence(systems, method="direct")
    for (A, b), x in zip(systems, res.solutions, strict=True):
        np.testing.assert_allclose(x, spla.spsolve(A.tocsc(), b), rtol=1e-9, atol=1e-12)
