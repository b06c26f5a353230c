"""One Arnoldi cycle with Givens least squares: the kernel shared by GMRES and GCRO-DR.

The cycle builds an orthonormal basis ``V`` of the Krylov space of
``(I - C C^T) A M^{-1}`` started at ``r / ||r||`` (``C`` empty for GMRES), with
block classical Gram–Schmidt against ``[C; V]`` (one BLAS-2 call and one fused reduction),
repeated when the DGKS test detects cancellation (CGS2 quality at CGS cost).  The residual norm of
the small least-squares problem is tracked with Givens rotations at every step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla

from .backends import AbstractBackend, Operator

__all__ = ["ArnoldiCycle", "arnoldi_cycle"]

_BREAKDOWN = 1e-14
_DGKS = 0.7  # Daniel-Gragg-Kaufman-Stewart reorthogonalization threshold


@dataclass(slots=True)
class ArnoldiCycle:
    """The outcome of :func:`arnoldi_cycle` (``j`` = steps taken, ``kc`` = rows of ``C``).

    Attributes
    ----------
    steps : int
        ``j``.
    H : ndarray, shape (j + 1, j)
        Upper Hessenberg matrix with ``A Z = C B + V H`` (``Z = M^{-1} V``).
    B : ndarray, shape (kc, j)
        ``C^T A Z``.
    y : ndarray, shape (j,)
        Minimizer of ``||beta e1 - H y||``.
    residuals : list of float
        Residual-norm estimate after each step.
    breakdown : bool
        The Krylov space became invariant (``h_{j+1,j} ≈ 0``).
    finite : bool
        False if a NaN or Inf appeared.
    """

    steps: int
    H: np.ndarray
    B: np.ndarray
    y: np.ndarray
    residuals: list[float]
    breakdown: bool
    finite: bool


def arnoldi_cycle(
    bk: AbstractBackend,
    op: Operator,
    apply_M: Callable[[np.ndarray], np.ndarray] | None,
    basis: np.ndarray,
    kc: int,
    r: np.ndarray,
    beta: float,
    m: int,
    target: float,
    Z: np.ndarray | None,
) -> ArnoldiCycle:
    """Run up to ``m`` Arnoldi steps; stop early when the residual estimate reaches ``target``.

    Parameters
    ----------
    basis : ndarray, shape (>= kc + m + 1, n_local)
        Rows ``[:kc]`` hold ``C`` (orthonormal); rows ``kc:kc + j + 1`` receive ``V``
        (the last one zero after a breakdown).
    r : ndarray, shape (n_local,)
        Starting residual, orthogonal to ``C``; ``beta = ||r||``.
    Z : ndarray, shape (>= m, n_local) or None
        Receives ``M^{-1} v_j`` (needed by flexible GMRES and GCRO-DR); if None and a
        preconditioner is given, the caller applies ``M^{-1}`` to ``V y`` afterwards.
    """
    H = np.zeros((m + 1, m))
    R = np.zeros((m + 1, m))
    B = np.zeros((kc, m))
    cs = np.zeros(m)
    sn = np.zeros(m)
    g = np.zeros(m + 1)
    g[0] = beta
    np.multiply(r, 1.0 / beta, out=basis[kc])
    history: list[float] = []
    breakdown = False
    finite = True
    j = 0
    while j < m:
        v = basis[kc + j]
        if apply_M is None:
            z = v
        else:
            z = apply_M(v)
            if Z is not None:
                Z[j] = z
        w = op.matvec(z)
        Q = basis[: kc + j + 1]
        h = bk.dots(Q, w)
        w -= h @ Q
        hn = bk.norm(w)
        if hn < _DGKS * np.sqrt(hn * hn + h @ h):  # cancellation: orthogonalize again
            h2 = bk.dots(Q, w)
            w -= h2 @ Q
            h += h2
            hn = bk.norm(w)
        B[:, j] = h[:kc]
        H[: j + 1, j] = h[kc:]
        H[j + 1, j] = hn
        col = R[:, j]
        col[: j + 1] = h[kc:]
        for i in range(j):
            t = cs[i] * col[i] + sn[i] * col[i + 1]
            col[i + 1] = -sn[i] * col[i] + cs[i] * col[i + 1]
            col[i] = t
        d = np.hypot(col[j], hn)
        if not np.isfinite(d):
            finite = False
            j += 1
            break
        if d == 0.0:
            breakdown = True
            break
        cs[j], sn[j] = col[j] / d, hn / d
        col[j] = d
        g[j + 1] = -sn[j] * g[j]
        g[j] = cs[j] * g[j]
        j += 1
        history.append(abs(g[j]))
        if hn <= _BREAKDOWN * (np.abs(h).max() + hn):
            basis[kc + j] = 0.0
            breakdown = True
            break
        np.multiply(w, 1.0 / hn, out=basis[kc + j])
        if abs(g[j]) <= target:
            break
    if finite and j > 0:
        y = sla.solve_triangular(R[:j, :j], g[:j], check_finite=False)
        finite = bool(np.isfinite(y).all())
    else:
        y = np.zeros(j)
    return ArnoldiCycle(j, H[: j + 1, :j], B[:, :j], y, history, breakdown, finite)
