"""Shared fixtures for the solver tests: small SPD and nonsymmetric systems."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from threadpoolctl import threadpool_limits


@pytest.fixture(autouse=True, scope="session")
def _one_blas_thread():
    """The test machine is shared: one BLAS thread keeps small dense ops fast and timings stable."""
    with threadpool_limits(1):
        yield


def laplacian_2d(n: int) -> sp.csr_matrix:
    """5-point Dirichlet Laplacian on an n x n grid, shape (n^2, n^2), SPD."""
    T = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(n, n))
    I = sp.eye(n)
    return (sp.kron(T, I) + sp.kron(I, T)).tocsr()


def convection_2d(n: int, c: float = 0.4) -> sp.csr_matrix:
    """Laplacian plus a centred first-derivative term: nonsymmetric, positive real part."""
    D = sp.diags([-1.0, 1.0], [-1, 1], shape=(n, n))
    return (laplacian_2d(n) + c * sp.kron(D, sp.eye(n)) + 0.5 * c * sp.kron(sp.eye(n), D)).tocsr()


@pytest.fixture
def spd() -> tuple[sp.csr_matrix, np.ndarray]:
    A = (laplacian_2d(16) + sp.diags(np.linspace(0.01, 0.2, 256))).tocsr()
    return A, np.random.default_rng(1).standard_normal(256)


@pytest.fixture
def nonsym() -> tuple[sp.csr_matrix, np.ndarray]:
    A = convection_2d(16)
    return A, np.random.default_rng(2).standard_normal(256)


@pytest.fixture
def make_laplacian():
    """Builder of 5-point Laplacians: ``make_laplacian(n)``."""
    return laplacian_2d


@pytest.fixture
def make_convection():
    """Builder of nonsymmetric convection-diffusion matrices: ``make_convection(n, c)``."""
    return convection_2d
