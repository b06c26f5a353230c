"""StaticLU: numeric refactorization on a pattern analysed once (stiff solvers' W matrices)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.linalg import spsolve

from pdeflow.errors import ShapeError
from pdeflow.solvers.ode_methods import SparseShiftedLU
from pdeflow.solvers.sparse_lu import StaticLU


def _grid_matrix(n_side: int, seed: int, fmt: str = "csr") -> sp.spmatrix:
    """A nonsymmetric 2-D convection-diffusion-like matrix with a dominant diagonal."""
    rng = np.random.default_rng(seed)
    n = n_side * n_side
    lap = sp.kron(sp.identity(n_side), sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], (n_side, n_side)))
    lap = lap + sp.kron(
        sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], (n_side, n_side)), sp.identity(n_side)
    )
    conv = sp.kron(sp.identity(n_side), sp.diags([-0.3, 0.3], [-1, 1], (n_side, n_side)))
    A = (lap + conv).tocsr()
    A.data *= rng.uniform(0.5, 1.5, A.nnz)  # nonsymmetric values on a symmetric pattern
    A = A + sp.diags(rng.uniform(0.1, 1.0, n))
    return A.asformat(fmt)


@pytest.mark.parametrize("fmt", ["csr", "csc"])
def test_factors_agree_with_spsolve_and_refactor_on_new_values(fmt):
    A = _grid_matrix(12, 0, fmt)
    lu = StaticLU(A)
    b = np.random.default_rng(1).random(A.shape[0])
    assert lu.factor(A)
    np.testing.assert_allclose(lu.solve(b), spsolve(A.tocsc(), b), rtol=1e-10, atol=1e-12)
    # same pattern, new values: numeric refactorization only
    B = _grid_matrix(12, 2, fmt)
    assert lu.factor(B)
    np.testing.assert_allclose(lu.solve(b), spsolve(B.tocsc(), b), rtol=1e-10, atol=1e-12)
    # the fill-reducing ordering keeps the factors far sparser than a dense LU
    assert lu.nnz < 0.2 * A.shape[0] ** 2


def test_a_bound_solver_keeps_its_factors():
    A, B = _grid_matrix(6, 0), _grid_matrix(6, 3)
    lu = StaticLU(A)
    b = np.ones(A.shape[0])
    lu.factor(A)
    solve_a = lu.solver()
    lu.factor(B)
    np.testing.assert_allclose(A @ solve_a(b), b, atol=1e-12)
    np.testing.assert_allclose(B @ lu.solve(b), b, atol=1e-12)


def test_subset_pattern_and_layout_by_positions():
    A = _grid_matrix(5, 0)
    lu = StaticLU(A)
    D = sp.diags(np.arange(1.0, 26.0), format="csr")  # only the diagonal: inside the pattern
    assert lu.factor(D)
    np.testing.assert_allclose(lu.solve(np.arange(1.0, 26.0)), np.ones(25))
    coo = A.tocoo()
    data = np.zeros(lu._mi.size)
    data[lu.positions(coo.row, coo.col)] = coo.data
    assert lu.factor(data=data)
    np.testing.assert_allclose(A @ lu.solve(np.ones(25)), np.ones(25), atol=1e-12)


def test_zero_pivot_is_reported_not_used():
    # a permutation matrix: nonsingular, but every diagonal pivot is zero
    P = sp.csr_matrix(np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]))
    lu = StaticLU(P)
    assert lu.factor(P) is False
    with pytest.raises(RuntimeError, match="successful factor"):
        lu.solve(np.ones(3))
    nan = P.copy()
    nan.data[:] = np.nan
    assert lu.factor(nan) is False


def test_bad_inputs():
    with pytest.raises(ShapeError, match="square sparse"):
        StaticLU(np.eye(3))
    with pytest.raises(ShapeError, match="square sparse"):
        StaticLU(sp.csr_matrix((3, 4)))
    lu = StaticLU(sp.identity(4, format="csr"))
    with pytest.raises(ShapeError, match="outside the pattern"):
        lu.factor(sp.csr_matrix(np.ones((4, 4))))
    assert lu.factor(sp.identity(4, format="csr"))
    with pytest.raises(ShapeError, match="b must have shape"):
        lu.solve(np.ones(5))
    with pytest.raises(ShapeError, match="data must have shape"):
        lu.factor(data=np.ones(2))


def test_shifted_lu_falls_back_to_pivoting_when_a_diagonal_pivot_fails():
    n = 40  # above DENSE_MAX: the StaticLU path runs first
    swap = np.arange(n).reshape(-1, 2)[:, ::-1].ravel()
    J = sp.csr_matrix((np.ones(n), (np.arange(n), swap)), shape=(n, n)) + sp.identity(n)
    J = J.tocsr()
    J.sort_indices()
    shifted = SparseShiftedLU(J.indptr, J.indices, n)
    b = np.random.default_rng(0).random(n)
    solve = shifted.factor(J.data, 1.0)  # W = I - J = -swap: zero diagonal, SuperLU solves it
    W = (sp.identity(n) - J).toarray()
    np.testing.assert_allclose(W @ solve(b), b, atol=1e-12)
    solve = shifted.factor(J.data, 5.0)  # dominant diagonal: StaticLU
    W = (5.0 * sp.identity(n) - J).toarray()
    np.testing.assert_allclose(W @ solve(b), b, atol=1e-12)


def _brusselator(t, y, p):
    u, v = y[0], y[1]

    def lap(w):
        return np.roll(w, 1, 0) + np.roll(w, -1, 0) + np.roll(w, 1, 1) + np.roll(w, -1, 1) - 4 * w

    return np.stack([1.0 + v * u**2 - 4.4 * u + p[0] * lap(u), 3.4 * u - v * u**2 + p[0] * lap(v)])


def test_bdf_with_static_lu_matches_scipy_bdf_with_superlu():
    from scipy.integrate import solve_ivp

    from pdeflow.solvers.ode import ODEProblem, solve

    x = np.linspace(0, 1, 8)
    y0 = np.stack([1.0 + np.sin(2 * np.pi * x)[:, None] + 0 * x, 3.0 + 0 * x[:, None] * x])
    prob = ODEProblem.from_function(_brusselator, y0, (0.0, 2.0), (0.2,))
    ours = solve(prob, method="BDF", rtol=1e-7, atol=1e-9)
    theirs = solve_ivp(
        prob.rhs, (0.0, 2.0), y0.ravel(), method="BDF", jac=prob.jac, rtol=1e-7, atol=1e-9
    )
    assert ours.nlu > 0 and ours.status.converged
    np.testing.assert_allclose(ours.y[-1], theirs.y[:, -1], rtol=1e-6, atol=1e-9)


def test_heavy_fill_is_left_to_superlu():
    """A grid matrix's factors stay sparse (StaticLU wins); a random sparse matrix's fill
    in (SuperLU's dense supernodes win)."""
    assert StaticLU(_grid_matrix(20, 0)).worthwhile
    rng = np.random.default_rng(0)
    R = sp.random(400, 400, density=0.05, random_state=rng, format="csr") + sp.identity(400)
    heavy = StaticLU(R)
    assert not heavy.worthwhile and heavy.flops > 64 * heavy.nnz
    assert heavy.factor(R + 10 * sp.identity(400))  # still correct when used anyway
    b = np.ones(400)
    np.testing.assert_allclose((R + 10 * sp.identity(400)) @ heavy.solve(b), b, atol=1e-10)


def test_the_symbolic_analysis_is_shared_by_pattern():
    """Two factorizations of one pattern share the (read-only) analysis and keep their own
    numbers; another pattern gets its own analysis."""
    from pdeflow.solvers import sparse_lu

    A, B = _grid_matrix(9, 3), _grid_matrix(9, 4)
    calls = []
    real = sparse_lu.splu
    sparse_lu._ANALYSES.clear()
    try:
        sparse_lu.splu = lambda *a, **k: calls.append(1) or real(*a, **k)
        first, second = StaticLU(A), StaticLU(B)
        assert len(calls) == 1  # the ordering probe ran once
        assert first._lp is second._lp and not first._lp.flags.writeable
        assert first._mx is not second._mx
        assert first.factor(A) and second.factor(B)
        b = np.random.default_rng(5).random(A.shape[0])
        np.testing.assert_allclose(first.solve(b), spsolve(A.tocsc(), b), rtol=1e-10)
        np.testing.assert_allclose(second.solve(b), spsolve(B.tocsc(), b), rtol=1e-10)
        other = StaticLU(_grid_matrix(8, 3))
        assert len(calls) == 2 and other._lp is not first._lp
    finally:
        sparse_lu.splu = real
