"""Sketch solvers: O(nnz(row)) residual updates and expected convergence rates."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from pdeflow.solvers.optim.sketch import (
    BlockSketch,
    CountSketch,
    GaussianSketch,
    Kaczmarz,
    RowKaczmarz,
    kaczmarz_rate,
)


def _system(n: int = 16, seed: int = 0) -> tuple[sp.csr_array, np.ndarray, np.ndarray]:
    """A random sparse symmetric nonsingular (indefinite) system with a known solution."""
    rng = np.random.default_rng(seed)
    M = sp.random_array((n, n), density=0.25, rng=rng).toarray()
    K = M + M.T + np.diag(rng.choice([-3.0, 3.0], n))
    zstar = rng.standard_normal(n)
    return sp.csr_array(K), K @ zstar, zstar


def test_kaczmarz_residual_update_equals_recomputed_residual() -> None:
    K, b, _ = _system(40)
    solver = Kaczmarz()
    solver.resync_sweeps = 10**9  # never resynchronize: test the incremental updates alone
    state = solver.start(K, b, np.random.default_rng(3))
    state = solver.refine(K, state, tol=0.0, max_steps=5000)
    assert state.steps == 5000
    np.testing.assert_allclose(state.r, b - K @ state.z, atol=1e-10)
    assert abs(state.cache["rr"] - state.r @ state.r) < 1e-10


def test_kaczmarz_step_costs_nnz_of_row() -> None:
    K, b, _ = _system(40)
    state = Kaczmarz().start(K, b, np.random.default_rng(0))
    before = state.flops
    state = Kaczmarz().refine(K, state, tol=0.0, max_steps=1000)
    per_step = (state.flops - before - 2 * K.shape[0]) / 1000
    assert per_step <= 4 * np.diff(K.indptr).max() + 4
    assert per_step < 0.5 * K.nnz  # far below one full residual (2 nnz(K) flops)


@pytest.mark.parametrize("cls", [Kaczmarz, GaussianSketch, BlockSketch])
def test_sketch_rate_in_expectation(cls: type) -> None:
    K, b, _ = _system(12, seed=1)
    rho = kaczmarz_rate(K)
    bound = {Kaczmarz: rho, BlockSketch: rho,
             GaussianSketch: 1 - (2 / np.pi) * (1 - rho)}[cls]
    steps, trials = (40, 300) if cls is Kaczmarz else (12, 50)
    ratios = []
    for seed in range(trials):
        solver = cls() if cls is Kaczmarz else cls(size=1 if cls is GaussianSketch else 2)
        state = solver.start(K, b, np.random.default_rng(seed))
        state = solver.refine(K, state, tol=0.0, max_steps=steps)
        ratios.append((state.r @ state.r) / (b @ b))
    # E ||r_k||^2 / ||r_0||^2 <= rho^k (with a margin for the Monte Carlo mean).
    assert np.mean(ratios) <= 2.0 * bound**steps


def test_row_kaczmarz_error_rate_in_expectation() -> None:
    K, b, zstar = _system(12, seed=1)
    rho = kaczmarz_rate(K)
    steps, errs = 40, []
    for seed in range(300):
        solver = RowKaczmarz(check_every=steps)
        state = solver.start(K, b, np.random.default_rng(seed))
        state = solver.refine(K, state, tol=0.0, max_steps=steps)
        errs.append(np.sum((state.z - zstar) ** 2) / np.sum(zstar**2))
    assert np.mean(errs) <= 1.5 * rho**steps


@pytest.mark.parametrize("solver", [Kaczmarz(), RowKaczmarz(), GaussianSketch(4),
                                    BlockSketch(4), CountSketch(4)])
def test_sketch_solvers_reach_tolerance(solver: object) -> None:
    K, b, zstar = _system(12, seed=2)
    state = solver.start(K, b, np.random.default_rng(0))
    state = solver.refine(K, state, tol=1e-8 * np.linalg.norm(b), max_steps=2_000_000)
    assert np.linalg.norm(b - K @ state.z) <= 1.01e-8 * np.linalg.norm(b)
    np.testing.assert_allclose(state.z, zstar, atol=1e-5)


def test_countsketch_dense_and_sparse_steps_agree() -> None:
    """Small systems take dense products (K densified once); the draws and the arithmetic
    are the same as with scipy sparse products, so the iterates agree to rounding."""
    K, b, _ = _system(40, seed=3)
    runs = []
    for dense_max in (256, 0):
        solver = CountSketch(6)
        solver.dense_max = dense_max
        state = solver.start(K, b, np.random.default_rng(4))
        state = solver.refine(K, state, tol=1e-6 * np.linalg.norm(b), max_steps=50)
        runs.append(state)
    assert "dense_K" in runs[0].cache and "dense_K" not in runs[1].cache
    assert runs[0].steps == runs[1].steps
    np.testing.assert_allclose(runs[0].z, runs[1].z, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(runs[0].r, b - K @ runs[0].z, atol=1e-9 * np.linalg.norm(b))
