"""Compiled (numba) inner loops of the Kaczmarz sketch solvers.

Each loop touches only the CSR row it samples, so one step costs ``O(nnz(row))``.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["kaczmarz_columns", "kaczmarz_rows"]


@numba.njit(cache=True, nogil=True)
def kaczmarz_columns(
    indptr: np.ndarray,
    indices: np.ndarray,
    data: np.ndarray,
    inv_norm2: np.ndarray,
    order: np.ndarray,
    z: np.ndarray,
    r: np.ndarray,
    rr: float,
    tol2: float,
) -> tuple[int, float, float]:
    """Column-action Kaczmarz on a symmetric ``K``: residual kept exact in ``O(nnz(row))``.

    For the sampled index ``i`` with ``k_i = K e_i`` (= row ``i``, by symmetry)::

        a = <k_i, r> / ||k_i||^2,   z_i += a,   r -= a k_i,   ||r||^2 -= <k_i, r> a.

    Parameters
    ----------
    indptr, indices, data : CSR arrays of ``K``, shape (N+1,), (nnz,), (nnz,)
    inv_norm2 : ndarray, shape (N,)
        ``1 / ||k_i||^2`` (0 for empty rows).
    order : ndarray of int64, shape (steps,)
        Sampled indices, in order.
    z, r : ndarray, shape (N,)
        Iterate and residual ``b - K z``, updated in place.
    rr : float
        ``||r||^2`` on entry.
    tol2 : float
        Stop once the running ``||r||^2 <= tol2``.

    Returns
    -------
    (steps, rr, flops) : steps taken, running ``||r||^2``, flops spent.
    """
    flops = 0.0
    for k in range(order.shape[0]):
        i = order[k]
        lo = indptr[i]
        hi = indptr[i + 1]
        s = 0.0
        for p in range(lo, hi):
            s += data[p] * r[indices[p]]
        a = s * inv_norm2[i]
        z[i] += a
        for p in range(lo, hi):
            r[indices[p]] -= a * data[p]
        rr -= s * a
        flops += 4.0 * (hi - lo) + 4.0
        if rr <= tol2:
            return k + 1, rr, flops
    return order.shape[0], rr, flops


@numba.njit(cache=True, nogil=True)
def kaczmarz_rows(
    indptr: np.ndarray,
    indices: np.ndarray,
    data: np.ndarray,
    inv_norm2: np.ndarray,
    order: np.ndarray,
    b: np.ndarray,
    z: np.ndarray,
) -> float:
    """Row-action randomized Kaczmarz (sketch ``S = e_i``): ``O(nnz(row))`` per step.

    For the sampled row ``i``: ``z += (b_i - <k_i, z>) / ||k_i||^2 k_i``.  Only the sampled
    residual entry is formed; the full residual is left to the caller's periodic check.

    Returns
    -------
    flops : float
    """
    flops = 0.0
    for k in range(order.shape[0]):
        i = order[k]
        lo = indptr[i]
        hi = indptr[i + 1]
        s = b[i]
        for p in range(lo, hi):
            s -= data[p] * z[indices[p]]
        a = s * inv_norm2[i]
        for p in range(lo, hi):
            z[indices[p]] += a * data[p]
        flops += 4.0 * (hi - lo) + 3.0
    return flops
