"""The Lagrangian Newton (KKT) system and Hessian regularization.

At an iterate ``(x, lam)`` the Newton step solves the symmetric indefinite system::

    K [dx; dlam] = -[grad_x L; c],     K = [[B, J^T], [J, 0]],

with ``B = H + delta I`` and ``H`` the Hessian of the Lagrangian.  ``delta > 0`` only when
the reduced Hessian ``Z^T H Z`` (``Z`` a basis of ``null(J)``) is not positive definite:
for a negative smallest eigenvalue ``lo`` the shift makes the smallest eigenvalue
``max(3 |lo|, 1e-2 max(1, |spectrum|))`` (mirrored curvature with a floor, so the shifted
KKT matrix stays well conditioned for the sketch solvers); a singular but positive
semidefinite reduced Hessian gets a tiny shift (``1e-8`` relative).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp

__all__ = ["assemble_kkt", "Curvature", "reduced_hessian_check", "DENSE_LIMIT"]

#: Largest ``n`` for which the reduced Hessian and the Jacobian rank are checked exactly
#: (dense SVD + eigendecomposition); above it the drivers use an inertia-free curvature test.
DENSE_LIMIT = 600
_MIRROR = 3.0
_FLOOR = 1e-2


def assemble_kkt(H: sp.csr_array, J: sp.csr_array, delta: float = 0.0) -> sp.csr_array:
    """Assemble ``K = [[H + delta I, J^T], [J, 0]]``.

    Parameters
    ----------
    H : sparse, shape (n, n)
    J : sparse, shape (m, n)
    delta : float
        Hessian shift.

    Returns
    -------
    scipy.sparse.csr_array, shape (n + m, n + m)
        Symmetric (when ``H`` is), with sorted indices.
    """
    n = H.shape[0]
    B = H + delta * sp.eye_array(n, format="csr") if delta else H
    K = sp.block_array([[B, J.T], [J, None]], format="csr")
    K.sum_duplicates()
    K.sort_indices()
    return K


@dataclass(frozen=True, slots=True)
class Curvature:
    """Outcome of the exact reduced-Hessian check.

    Attributes
    ----------
    delta : float
        Shift that makes ``Z^T (H + delta I) Z`` positive definite (0 if it already is).
    min_eig : float
        Smallest eigenvalue of ``Z^T H Z`` (``inf`` when ``null(J) = {0}``).
    rank_deficient : bool
        True when ``J`` does not have full row rank (or ``m > n``).
    """

    delta: float
    min_eig: float
    rank_deficient: bool


def reduced_hessian_check(H: sp.csr_array, J: sp.csr_array, rank_tol: float = 1e-10) -> Curvature:
    """Check ``J``'s row rank and the reduced Hessian's definiteness (dense; small ``n``).

    Parameters
    ----------
    H : sparse, shape (n, n)
    J : sparse, shape (m, n)
    rank_tol : float
        ``J`` is rank-deficient when ``sigma_min / sigma_max < rank_tol``.

    Returns
    -------
    Curvature
    """
    m, n = J.shape
    Jd = J.toarray()
    if m > n:
        return Curvature(0.0, float("nan"), True)
    _, s, vt = sla.svd(Jd, full_matrices=True)
    smax = float(s[0]) if s.size else 0.0
    if smax == 0.0 or float(s[-1]) < rank_tol * smax:
        return Curvature(0.0, float("nan"), True)
    if m == n:
        return Curvature(0.0, float("inf"), False)
    Z = vt[m:].T
    Hd = H.toarray()
    reduced = Z.T @ Hd @ Z
    eig = sla.eigvalsh(0.5 * (reduced + reduced.T))
    lo, hi = float(eig[0]), float(np.max(np.abs(eig)))
    if lo > 1e-10 * max(1.0, hi):
        return Curvature(0.0, lo, False)
    if lo >= -1e-10 * max(1.0, hi):  # singular but not indefinite: a tiny shift
        return Curvature(1e-8 * max(1.0, hi), lo, False)
    # Indefinite: mirror the negative curvature, with a floor relative to the spectrum so
    # that the regularized KKT matrix stays well conditioned for the sketch solvers.
    delta = -lo + max(_MIRROR * abs(lo), _FLOOR * max(1.0, hi))
    return Curvature(delta, lo, False)
