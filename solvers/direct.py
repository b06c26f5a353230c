"""Sparse direct solves: scipy SuperLU, or PETSc LU with MUMPS (distributed)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from pdeflow.errors import ConfigError

from .backends import AbstractBackend, Operator, backend_for
from .status import SolveResult, SolveStatus

__all__ = ["factorize", "direct_solve", "splu_factor", "is_symmetric"]


def factorize(
    A: Any, backend: AbstractBackend | str | None = None
) -> Callable[[np.ndarray], np.ndarray]:
    """Factorize ``A`` once; return ``solve(b_local) -> x_local``.

    scipy: ``splu`` (SuperLU, COLAMD ordering).  PETSc: ``KSPPREONLY`` + ``PCLU`` with MUMPS
    (collective; every rank calls ``solve`` with its slice).
    """
    bk = backend_for(A, backend)
    op = bk.operator(A)
    if bk.name == "scipy":
        if op.csr is None:
            raise ConfigError("A direct solve needs an assembled matrix, not a LinearOperator.")
        return splu_factor(op.csr)
    return _petsc_lu(op, bk)


def is_symmetric(A: sp.spmatrix, rtol: float = 1e-12) -> bool:
    """True if the sparse matrix equals its transpose to ``rtol`` of its largest entry."""
    A = sp.csr_matrix(A)
    if A.shape[0] != A.shape[1]:
        return False
    if A.nnz == 0:
        return True
    return bool(abs(A - A.T).max() <= rtol * abs(A).max())


def splu_factor(A: sp.spmatrix) -> Callable[[np.ndarray], np.ndarray]:
    """SuperLU factorization with options chosen from the matrix.

    A symmetric matrix gets a minimum-degree ordering on ``A^T + A`` with SuperLU's symmetric
    mode and a small pivot threshold (0.01), which keeps the fill of a symmetric pattern
    (about 1.5x faster to factor and 2-3x faster to apply than the default COLAMD on 2-D
    stencils); other matrices get scipy's defaults.
    """
    Ac = sp.csc_matrix(A, dtype=float)
    if is_symmetric(Ac):
        lu = spla.splu(
            Ac, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.01, options={"SymmetricMode": True}
        )
    else:
        lu = spla.splu(Ac)
    return lu.solve


def _petsc_lu(op: Operator, bk: Any) -> Callable[[np.ndarray], np.ndarray]:
    PETSc = bk._PETSc
    ksp = PETSc.KSP().create(comm=bk.comm)
    ksp.setOperators(op.mat)
    ksp.setType("preonly")
    pc = ksp.getPC()
    pc.setType("lu")
    if PETSc.Sys.hasExternalPackage("mumps"):
        pc.setFactorSolverType("mumps")
    elif bk.size > 1:
        raise ConfigError("A distributed direct solve needs PETSc built with MUMPS.")
    ksp.setUp()
    bv, xv = op.mat.createVecs()

    def solve(b: np.ndarray) -> np.ndarray:
        x = np.empty(op.n_local)
        bv.placeArray(np.ascontiguousarray(b, dtype=float))
        xv.placeArray(x)
        try:
            ksp.solve(bv, xv)
        finally:
            bv.resetArray()
            xv.resetArray()
        return x

    return solve


def direct_solve(
    A: Any,
    b: Any,
    *,
    factor: Callable[[np.ndarray], np.ndarray] | None = None,
    backend: AbstractBackend | str | None = None,
) -> SolveResult:
    """Solve ``A x = b`` directly (``factor`` reuses an earlier :func:`factorize`).

    Returns a :class:`SolveResult` with status ``CONVERGED_ITS``, 0 iterations and the
    residual norm before and after; a non-finite solution gives ``DIVERGED_NANORINF``
    (raised as :class:`~pdeflow.errors.ConvergenceError`).
    """
    t0 = time.perf_counter()
    bk = backend_for(A, backend)
    op = bk.operator(A)
    bvec = bk.check_vector(b, op)
    solve = factor if factor is not None else factorize(op, bk)
    x = solve(bvec)
    rn = bk.norm(bvec - op.matvec(x))
    ok = np.isfinite(rn)
    res = SolveResult(
        x,
        SolveStatus.CONVERGED_ITS if ok else SolveStatus.DIVERGED_NANORINF,
        0,
        np.array([bk.norm(bvec), rn]),
        time.perf_counter() - t0,
        "direct",
        None,
        {"backend": bk.name, "reused_factor": factor is not None},
    )
    return res.raise_if_failed()
