"""Exact KKT solvers: the Schur-complement path equals LU on the full KKT matrix."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from pdeflow.solvers.optim.kkt import assemble_kkt
from pdeflow.solvers.optim.linsolve import DirectSolver, GmresSolver


def _kkt(diagonal: bool) -> tuple[sp.csr_array, np.ndarray]:
    rng = np.random.default_rng(0)
    n, m = 30, 10
    H = np.diag(rng.uniform(1, 2, n))
    if not diagonal:
        H[0, 1] = H[1, 0] = 0.3
    J = sp.csr_array(sp.random_array((m, n), density=0.3, rng=rng) + sp.eye_array(m, n))
    return assemble_kkt(sp.csr_array(H), J), rng.standard_normal(n + m)


def test_schur_path_matches_full_lu() -> None:
    K, b = _kkt(diagonal=True)
    rng = np.random.default_rng(0)
    schur = DirectSolver().start(K, b, rng, n_primal=30)
    full = DirectSolver().start(K, b, rng)
    assert "schur" in schur.cache and "schur" not in full.cache
    zs = DirectSolver().refine(K, schur, 1e-13, 1).z
    zf = DirectSolver().refine(K, full, 1e-13, 1).z
    np.testing.assert_allclose(zs, zf, atol=1e-10)
    np.testing.assert_allclose(K @ zs, b, atol=1e-10)


def test_non_diagonal_block_uses_full_lu() -> None:
    K, b = _kkt(diagonal=False)
    state = DirectSolver().start(K, b, np.random.default_rng(0), n_primal=30)
    assert "schur" not in state.cache
    assert np.linalg.norm(b - K @ DirectSolver().refine(K, state, 1e-12, 1).z) < 1e-10


def test_gmres_reaches_tolerance() -> None:
    K, b = _kkt(diagonal=True)
    solver = GmresSolver(restart=40)
    state = solver.refine(K, solver.start(K, b, np.random.default_rng(0)), 1e-9, 2000)
    assert state.rnorm <= 1e-9 and state.steps > 0
