"""GCRO-DR(m, k): GMRES with deflated restarting and a recycle space kept across systems.

Parks, de Sturler, Mackey, Johnson, Maiti, "Recycling Krylov subspaces for sequences of
linear systems", SIAM J. Sci. Comput. 28 (2006), https://doi.org/10.1137/040607277,
in the flexible form of Carvalho, Gratton, Lago, Vasseur (2011): the recycle space is
stored in the unpreconditioned variables, ``U`` with ``C = A U`` and ``C^T C = I``, and
each cycle builds ``A Z = C B + V H`` with ``Z = M^{-1} V``.  The recycle space is
updated after every cycle from the ``k`` harmonic Ritz vectors of smallest magnitude of
``A`` on ``span[U, Z]``:

    G^T G p = θ G^T (V̂^T W) p,   W = [U D, Z],  V̂ = [C, V],  G = [[D, B], [0, H]].

When the next system has a different matrix, ``C`` is recomputed as ``A_new U`` and
re-orthonormalized (``U`` follows the same transform).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.linalg as sla

from pdeflow.errors import ShapeError
from pdeflow.threads import krylov_threads

from ._common import check_int, setup_solve
from .arnoldi import arnoldi_cycle
from .backends import AbstractBackend
from .status import SolveResult, SolveStatus

__all__ = ["RecycleSpace", "gcrodr"]


@dataclass(frozen=True, slots=True)
class RecycleSpace:
    """A recycle space for GCRO-DR: ``C = A U`` with orthonormal rows, for one matrix.

    Attributes
    ----------
    U : ndarray, shape (k, n_local)
    C : ndarray, shape (k, n_local)
    operator : Any
        The matrix ``C`` was computed with (compared by identity to decide whether ``C``
        must be recomputed for the next system).
    """

    U: np.ndarray
    C: np.ndarray
    operator: Any = None

    def __post_init__(self) -> None:
        for name in ("U", "C"):
            a = np.array(getattr(self, name), dtype=float, copy=True)
            a.flags.writeable = False
            object.__setattr__(self, name, a)
        if self.U.shape != self.C.shape:
            raise ShapeError(
                f"U and C must have the same shape; got {self.U.shape} and {self.C.shape}."
            )

    @property
    def k(self) -> int:
        """Number of recycled vectors."""
        return self.U.shape[0]

    def __repr__(self) -> str:
        return f"RecycleSpace(k={self.k}, n_local={self.U.shape[1]})"


@krylov_threads
def gcrodr(
    A: Any,
    b: Any,
    *,
    recycle: RecycleSpace | None = None,
    x0: Any = None,
    M: Any = None,
    restart: int = 40,
    k: int = 20,
    rtol: float = 1e-8,
    atol: float = 0.0,
    max_iter: int = 10_000,
    same_operator: bool | None = None,
    update_recycle: bool = True,
    update_every: int | str = 1,
    backend: AbstractBackend | str | None = None,
    raise_on_failure: bool = True,
) -> SolveResult:
    """Solve ``A x = b`` by GCRO-DR(m, k), reusing and returning a recycle space.

    Parameters
    ----------
    A, b, x0, M, rtol, atol, max_iter, backend, raise_on_failure
        As in :func:`pdeflow.solvers.gmres`.
    recycle : RecycleSpace, optional
        The space returned by the previous solve (``result.recycle``).
    restart : int
        ``m``: the subspace dimension per cycle.  A cycle takes ``m`` Arnoldi steps
        without a recycle space and ``m - k`` with one, as in Parks et al.
    k : int
        Recycled vectors kept, ``1 <= k < m``.
    same_operator : bool, optional
        Whether ``A`` equals the matrix ``recycle`` was built with.  By default it is
        decided by identity (``A is recycle.operator``); if False, ``C = A U`` is recomputed
        and re-orthonormalized (``k`` matrix-vector products).
    update_recycle : bool
        Refresh the recycle space from harmonic Ritz vectors (for this and later solves).
    update_every : int or "auto"
        Refresh after every this many cycles (and always after the first cycle without a
        space and after the last one).  1 is Parks et al.'s algorithm; larger values save
        the ``O((m + k) k n)`` update, which with ``k = m / 2`` costs about as much as a
        cycle's Arnoldi steps.  ``"auto"``: skip one cycle's update after an update whose
        kept harmonic Ritz values all have a positive real part (a definite spectrum, where
        the skipped update costs 1-4% more iterations); refresh after every cycle otherwise
        (indefinite problems, where skipping every other update took 2-3x the iterations,
        and skipping it once the space had moved by less than ~8 degrees up to 1.5x).

    Returns
    -------
    SolveResult
        With ``result.recycle`` the :class:`RecycleSpace` for the next system.

    Examples
    --------
    >>> import scipy.sparse as sp, numpy as np
    >>> A = sp.diags([-1.0, 2.05, -1.0], [-1, 0, 1], shape=(200, 200), format="csr")
    >>> b = np.ones(200)
    >>> first = gcrodr(A, b, restart=20, k=5)
    >>> second = gcrodr(A * 1.01, b, recycle=first.recycle, restart=20, k=5)
    >>> second.iterations < first.iterations
    True
    """
    t0 = time.perf_counter()
    restart = check_int("gcrodr", "restart", restart, 2)
    k = check_int("gcrodr", "k", k, 1, restart - 1)
    max_iter = check_int("gcrodr", "max_iter", max_iter, 0)
    adaptive = update_every == "auto"
    if not adaptive:
        update_every = check_int("gcrodr", "update_every", update_every, 1)
    definite, skipped = False, 0
    s = setup_solve("gcrodr", A, b, x0, M, rtol, atol, backend)
    bk, op, x = s.backend, s.op, s.x
    n = op.n_local
    matvecs = 0

    U = C = None
    if recycle is not None and recycle.k > 0:
        if recycle.U.shape[1] != n:
            raise ShapeError(
                f"The recycle space has vectors of length {recycle.U.shape[1]}, the system {n}."
            )
        same = (recycle.operator is op.source) if same_operator is None else bool(same_operator)
        if same:
            U, C = recycle.U.copy(), recycle.C.copy()
        else:
            C_raw = op.matmat(np.ascontiguousarray(recycle.U))
            matvecs += recycle.k
            C, T = bk.orthonormalize(C_raw)
            U = T @ recycle.U
        if U.shape[0] > k:
            U, C = U[:k], C[:k]
    kc = 0 if U is None else U.shape[0]

    r = s.b - op.matvec(x) if x0 is not None else s.b.copy()
    matvecs += x0 is not None
    if kc:
        y = bk.dots(C, r)
        x += y @ U
        r -= y @ C
    beta = bk.norm(r)
    history = [beta]
    basis = np.empty((k + restart + 1, n))
    Z = np.empty((restart, n)) if s.M is not None else None
    its = cycles = 0
    while True:
        status = s.stop_status(beta, its, max_iter)
        if status is not None:
            break
        m = restart - kc if kc else restart
        if kc:
            basis[:kc] = C
        cyc = arnoldi_cycle(bk, op, s.M, basis, kc, r, beta, min(m, max_iter - its), s.target, Z)
        j = cyc.steps
        its += j
        matvecs += j
        cycles += 1
        history.extend(cyc.residuals)
        if not cyc.finite:
            status = SolveStatus.DIVERGED_NANORINF
            break
        if j:
            Zj = Z[:j] if Z is not None else basis[kc : kc + j]
            x += cyc.y @ Zj
            if kc:
                x -= (cyc.B @ cyc.y) @ U
        r = s.b - op.matvec(x)
        matvecs += 1
        beta = bk.norm(r)
        last = beta <= s.target or its >= max_iter
        if adaptive:
            due = not definite or skipped >= 1
        else:
            due = cycles % update_every == 0
        if j and update_recycle and (kc == 0 or last or due):
            U, C, definite = _harmonic_update(
                bk, U, C, Zj, basis[kc : kc + j + 1], cyc.H, cyc.B, k, Z is None
            )
            skipped = 0
            kc = U.shape[0]
        else:
            skipped += 1
        if kc and not last:
            y = bk.dots(C, r)
            x += y @ U
            r -= y @ C
            beta = bk.norm(r)
        if cyc.breakdown and beta > s.target:
            status = SolveStatus.DIVERGED_BREAKDOWN
            break
    history[-1] = beta
    new_space = RecycleSpace(U, C, op.source) if kc else recycle
    res = SolveResult(
        x,
        status,
        its,
        np.asarray(history),
        time.perf_counter() - t0,
        "gcrodr",
        new_space,
        {
            "cycles": cycles,
            "matvecs": matvecs,
            "recycled": kc,
            "preconditioner": s.pc_name,
            "backend": bk.name,
        },
    )
    return res.raise_if_failed() if raise_on_failure else res


def _harmonic_update(
    bk: AbstractBackend,
    U: np.ndarray | None,
    C: np.ndarray | None,
    Z: np.ndarray,
    V: np.ndarray,
    H: np.ndarray,
    B: np.ndarray,
    k: int,
    z_is_v: bool = False,
) -> tuple[np.ndarray, np.ndarray, bool]:
    """New ``(U, C)`` from the ``k`` harmonic Ritz vectors of smallest magnitude, and whether
    their harmonic Ritz values all have a positive real part (``update_every="auto"``).

    Shapes: ``U, C (kc, n)``, ``Z (j, n)``, ``V (j + 1, n)``, ``H (j + 1, j)``, ``B (kc, j)``.
    """
    kc = 0 if U is None else U.shape[0]
    j = Z.shape[0]
    if kc:
        d = 1.0 / np.sqrt(bk.allreduce(np.einsum("ij,ij->i", U, U)))
        G = np.zeros((kc + j + 1, kc + j))
        G[:kc, :kc] = np.diag(d)
        G[:kc, kc:] = B
        G[kc:, kc:] = H
        if z_is_v:  # no preconditioner: V Z^T = [I; 0] and C Z^T = 0, only U needs products
            VW = np.zeros((kc + j + 1, kc + j))
            VW[:kc, :kc] = C @ U.T
            VW[kc:, :kc] = V @ U.T
            VW[:, :kc] = bk.allreduce(VW[:, :kc]) * d
            VW[kc + np.arange(j), kc + np.arange(j)] = 1.0
        else:
            local = np.empty((kc + j + 1, kc + j))
            local[:kc, :kc] = (C @ U.T) * d
            local[:kc, kc:] = C @ Z.T
            local[kc:, :kc] = (V @ U.T) * d
            local[kc:, kc:] = V @ Z.T
            VW = bk.allreduce(local)
    else:
        d = np.zeros(0)
        G = H
        VW = np.eye(j + 1, j) if z_is_v else bk.gram(V, Z)
    P, positive = _smallest_harmonic(G, VW, k)
    if P.shape[1] == 0:
        if kc:
            return U, C, False
        return np.zeros((0, Z.shape[1])), np.zeros((0, Z.shape[1])), False
    Q, R = np.linalg.qr(G @ P)
    rd = np.abs(np.diag(R))
    keep = rd > 1e-12 * rd.max()
    Q, R, P = Q[:, keep], R[np.ix_(keep, keep)], P[:, keep]
    Y = sla.solve_triangular(R, P.T, trans="T", lower=False).T  # P R^{-1}, (kc + j, r)
    Yt, Qt = Y.T, Q.T
    C_new = Qt[:, kc:] @ V
    U_new = Yt[:, kc:] @ Z
    if kc:
        C_new += Qt[:, :kc] @ C
        U_new += (Yt[:, :kc] * d) @ U
    return U_new, C_new, positive


def _smallest_harmonic(G: np.ndarray, VW: np.ndarray, k: int) -> tuple[np.ndarray, bool]:
    """Real orthonormal basis of k eigenvectors of ``G^T G p = θ G^T VW p``, smallest ``|θ|``,
    and whether all of those ``θ`` have a positive real part."""
    GtG = G.T @ G
    rhs = G.T @ VW
    try:
        theta, vecs = sla.eig(GtG, rhs)
    except (np.linalg.LinAlgError, ValueError):
        return np.zeros((G.shape[1], 0)), False
    mag = np.abs(theta)
    mag[~np.isfinite(mag)] = np.inf
    order = np.argsort(mag, kind="stable")
    kept = theta[order[:k]]
    positive = bool(kept.size and np.isfinite(kept).all() and (kept.real > 0).all())
    cols: list[np.ndarray] = []
    used: set[int] = set()
    for i in order:
        if len(cols) >= k or not np.isfinite(mag[i]):
            break
        if i in used:
            continue
        used.add(i)
        v = vecs[:, i]
        if abs(theta[i].imag) > 1e-14 * max(mag[i], 1e-300):
            cols.append(v.real)
            if len(cols) < k:
                cols.append(v.imag)
            # skip the conjugate partner
            partner = np.argmin(
                np.abs(theta - np.conj(theta[i])) + (np.arange(len(theta)) == i) * 1e300
            )
            used.add(int(partner))
        else:
            cols.append(v.real)
    if not cols:
        return np.zeros((G.shape[1], 0)), False
    P, R = np.linalg.qr(np.column_stack(cols))
    rd = np.abs(np.diag(R))
    if not rd.size or rd.max() == 0:
        return np.zeros((G.shape[1], 0)), False
    return P[:, rd > 1e-10 * rd.max()], positive
