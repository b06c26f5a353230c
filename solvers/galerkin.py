"""Coarse operators ``R A P`` of an AMG hierarchy for new matrix values on a fixed pattern.

Along a sequence of PDE samples the fine matrix keeps its sparsity pattern and only its
values change; an AMG hierarchy that keeps its interpolation ``P`` (and ``R``) therefore has
coarse operators with fixed patterns too.  scipy's sparse product redoes its symbolic pass
(and drops cancelled entries) on every call; a :class:`GalerkinPlan` computes the patterns of
``A P`` and ``R (A P)`` once per level, with the position of every multiply-add's target
within its output row (one byte each where rows are short), and then fills in values only
with a Numba row-by-row product that streams those positions.

Measured on 3-D Darcy 64³ (262,144 unknowns, pyamg smoothed aggregation, four levels): a
numeric update takes 63-65 ms against 104-109 ms for scipy's products; the plan costs about
two scipy products and holds 22 MB of targets.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
import scipy.sparse as sp

__all__ = ["GalerkinPlan", "plan_galerkin"]


@numba.njit(cache=True, nogil=True)
def _product_offsets(
    a_ptr, a_idx, b_ptr, b_idx, c_ptr, c_idx, marker, probe
):  # pragma: no cover - compiled
    """For every multiply-add of ``C = A B`` (in the order of :func:`_product_values`), the
    position of its target within its row of ``C``; dtype that of ``probe``.

    ``marker`` is scratch of length ``B.shape[1]``; its contents are overwritten.
    """
    n = a_ptr.size - 1
    count = 0
    for i in range(n):
        for p in range(a_ptr[i], a_ptr[i + 1]):
            j = a_idx[p]
            count += b_ptr[j + 1] - b_ptr[j]
    off = np.empty(count, dtype=probe.dtype)
    f = 0
    for i in range(n):
        c0 = c_ptr[i]
        for q in range(c0, c_ptr[i + 1]):
            marker[c_idx[q]] = q - c0
        for p in range(a_ptr[i], a_ptr[i + 1]):
            j = a_idx[p]
            for r in range(b_ptr[j], b_ptr[j + 1]):
                off[f] = marker[b_idx[r]]
                f += 1
    return off


@numba.njit(cache=True, nogil=True)
def _product_values(a_ptr, a_idx, a_val, b_ptr, b_val, c_ptr, off):  # pragma: no cover
    """Values of ``C = A B`` on a planned pattern (row pointers ``c_ptr``, in-row targets
    ``off`` from :func:`_product_offsets`).  Streams ``off``: no column search, no map."""
    n = a_ptr.size - 1
    c = np.empty(c_ptr[n])
    f = 0
    for i in range(n):
        c0 = c_ptr[i]
        for q in range(c0, c_ptr[i + 1]):
            c[q] = 0.0
        for p in range(a_ptr[i], a_ptr[i + 1]):
            a = a_val[p]
            j = a_idx[p]
            for r in range(b_ptr[j], b_ptr[j + 1]):
                c[c0 + off[f]] += a * b_val[r]
                f += 1
    return c


def _structural_product(A: sp.csr_matrix, B: sp.csr_matrix) -> sp.csr_matrix:
    """The structural pattern of ``A B``: every entry that any values could fill, even
    those whose sum cancels for the current ones (scipy drops exact zeros)."""
    C = (_ones(A) @ _ones(B)).tocsr()
    C.sort_indices()
    return C


def _ones(M: sp.csr_matrix) -> sp.csr_matrix:
    return sp.csr_matrix((np.ones(M.nnz), M.indices, M.indptr), shape=M.shape)


def _csr(M) -> sp.csr_matrix:
    """CSR with sorted indices; a copy only if the input's indices are not sorted."""
    C = sp.csr_matrix(M)
    if not C.has_sorted_indices:
        C = C.copy()
        C.sort_indices()
    return C


def _offset_dtype(c_ptr: np.ndarray) -> np.dtype:
    longest = int(np.diff(c_ptr).max(initial=0))
    for dt in (np.uint8, np.uint16, np.uint32):
        if longest <= np.iinfo(dt).max + 1:
            return np.dtype(dt)
    return np.dtype(np.int64)  # pragma: no cover - rows of 4e9 entries


def _plan_product(A: sp.csr_matrix, B: sp.csr_matrix) -> tuple[sp.csr_matrix, np.ndarray]:
    """Pattern of ``A B`` and the in-row target of each of its multiply-adds."""
    C = _structural_product(A, B)
    marker = np.empty(B.shape[1], dtype=np.int64)
    probe = np.zeros(1, dtype=_offset_dtype(C.indptr))
    off = _product_offsets(A.indptr, A.indices, B.indptr, B.indices, C.indptr, C.indices,
                           marker, probe)  # fmt: skip
    return C, off


@dataclass(frozen=True, eq=False)
class _Level:
    P: sp.csr_matrix  # (n_l, n_{l+1})
    R: sp.csr_matrix  # (n_{l+1}, n_l)
    ap_ptr: np.ndarray  # row pointers of A_l P_l
    ap_off: np.ndarray  # in-row targets of the multiply-adds of A_l P_l
    rap: sp.csr_matrix  # pattern of R_l A_l P_l (its values are not used)
    rap_off: np.ndarray  # in-row targets of the multiply-adds of R_l (A_l P_l)


@dataclass(frozen=True, eq=False)
class GalerkinPlan:
    """Fixed patterns of the Galerkin products of every level of one hierarchy.

    Calling the plan with a fine matrix of the planned pattern returns the coarse
    operators ``[A_1, A_2, ...]`` (CSR, sorted indices, the planned index arrays shared by
    every call).  The index arrays of the fine pattern are kept to check a new matrix.
    """

    indptr: np.ndarray
    indices: np.ndarray
    levels: tuple[_Level, ...]

    def matches(self, A: sp.csr_matrix) -> bool:
        """True if ``A`` has the planned sparsity pattern (same CSR index arrays)."""
        if A.shape[0] != self.indptr.size - 1 or A.nnz != self.indices.size:
            return False
        if A.indices is self.indices and A.indptr is self.indptr:
            return True
        return bool(
            np.array_equal(A.indptr, self.indptr) and np.array_equal(A.indices, self.indices)
        )

    def __call__(self, A: sp.csr_matrix) -> list[sp.csr_matrix]:
        A = _csr(A)
        if not self.matches(A):
            raise ValueError("The matrix does not have the sparsity pattern of this plan.")
        out = []
        ptr, idx = self.indptr, self.indices
        values = np.ascontiguousarray(A.data, dtype=float)
        for lvl in self.levels:
            ap = _product_values(ptr, idx, values, lvl.P.indptr, lvl.P.data,
                                 lvl.ap_ptr, lvl.ap_off)  # fmt: skip
            rap = _product_values(lvl.R.indptr, lvl.R.indices, lvl.R.data, lvl.ap_ptr, ap,
                                  lvl.rap.indptr, lvl.rap_off)  # fmt: skip
            Ac = sp.csr_matrix((rap, lvl.rap.indices, lvl.rap.indptr), shape=lvl.rap.shape)
            Ac.has_sorted_indices = True
            out.append(Ac)
            ptr, idx, values = lvl.rap.indptr, lvl.rap.indices, rap
        return out


def plan_galerkin(A: sp.csr_matrix, P: list, R: list) -> GalerkinPlan:
    """Plan the Galerkin products of a hierarchy whose fine matrix has ``A``'s pattern.

    Parameters
    ----------
    A : csr_matrix, shape (n, n)
        Fine matrix (only its pattern is used).
    P, R : lists of sparse matrices
        Interpolation ``P_l`` (n_l, n_{l+1}) and restriction ``R_l`` (n_{l+1}, n_l) of
        each level (any scipy sparse format; converted to CSR once).

    Returns
    -------
    GalerkinPlan
        Holds one byte (or two) per multiply-add of the products besides the patterns.
    """
    A = _csr(A)
    levels = []
    pattern = A
    for P_l, R_l in zip(P, R, strict=True):
        Pc, Rc = _csr(P_l), _csr(R_l)
        AP, ap_off = _plan_product(pattern, Pc)
        RAP, rap_off = _plan_product(Rc, AP)
        levels.append(_Level(Pc, Rc, AP.indptr, ap_off, RAP, rap_off))
        pattern = RAP
    return GalerkinPlan(A.indptr, A.indices, tuple(levels))
