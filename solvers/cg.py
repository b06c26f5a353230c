"""Preconditioned CG, and deflated (recycled) CG for sequences of SPD systems.

Deflated PCG follows Saad, Yeung, Erhel, Guyomarc'h, "A deflated version of the conjugate
gradient algorithm", SIAM J. Sci. Comput. 21 (2000), https://doi.org/10.1137/S1064827598353578:
with a deflation block ``W`` (``k`` vectors) the initial guess is corrected on
``span W`` and every search direction is kept ``A``-orthogonal to ``W``:

    p_{j+1} = z_{j+1} + β_j p_j - W μ_j,   (W^T A W) μ_j = (A W)^T z_{j+1}.

After a solve, the next ``W`` is made of the ``k`` harmonic Ritz vectors of ``M^{-1} A``
(smallest values) on ``span[W, p_0 .. p_{l-1}]``, in the ``M``-inner product:

    (AY)^T (BY) c = θ (AY)^T Y c,   Y = [W; P],  B = M^{-1} A,

where ``B p_j = (z_j - z_{j+1}) / α_j`` comes free from the iteration and ``B W`` is carried
over from the previous update (exact while matrix and preconditioner repeat, an
approximation otherwise that only affects the quality of the space, never the answer).
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
from .backends import AbstractBackend
from .status import SolveResult, SolveStatus

__all__ = ["DeflationSpace", "cg", "recycled_cg"]


#: recycled CG keeps at least this many search directions for its Ritz update: a solve
#: preconditioned by AMG (10 iterations or so) then updates its space once, at the end
#: (3-D Darcy, 262,144 unknowns, k=4: 29 ms per update; two per solve with a window of 8)
N_STORE_MIN = 16


@dataclass(frozen=True, slots=True)
class DeflationSpace:
    """A deflation space for recycled CG.

    Attributes
    ----------
    W : ndarray, shape (k, n_local)
        Approximate eigenvectors of ``M^{-1} A`` (smallest eigenvalues).
    AW : ndarray, shape (k, n_local)
        ``A W`` for :attr:`operator`.
    BW : ndarray, shape (k, n_local)
        ``M^{-1} A W`` for the preconditioner of the solve that produced it.
    operator : Any
        The matrix ``AW`` belongs to.
    """

    W: np.ndarray
    AW: np.ndarray
    BW: np.ndarray
    operator: Any = None

    def __post_init__(self) -> None:
        for name in ("W", "AW", "BW"):
            a = np.array(getattr(self, name), dtype=float, copy=True)
            a.flags.writeable = False
            object.__setattr__(self, name, a)
        if not self.W.shape == self.AW.shape == self.BW.shape:
            raise ShapeError("W, AW and BW must have the same shape.")

    @classmethod
    def _adopt(
        cls, W: np.ndarray, AW: np.ndarray, BW: np.ndarray, operator: Any
    ) -> DeflationSpace:
        """Wrap arrays that nobody else holds (a Ritz update's results) without copying
        them: 3 x 4 vectors of 262,144 unknowns cost ~20 ms per system to copy."""
        space = object.__new__(cls)
        for name, a in (("W", W), ("AW", AW), ("BW", BW)):
            if not (isinstance(a, np.ndarray) and a.dtype == float and a.flags.c_contiguous):
                raise TypeError(f"{name} must be a C-contiguous float64 array.")
            a.flags.writeable = False
            object.__setattr__(space, name, a)
        object.__setattr__(space, "operator", operator)
        if not W.shape == AW.shape == BW.shape:
            raise ShapeError("W, AW and BW must have the same shape.")
        return space

    @property
    def k(self) -> int:
        """Number of deflation vectors."""
        return self.W.shape[0]

    def __repr__(self) -> str:
        return f"DeflationSpace(k={self.k}, n_local={self.W.shape[1]})"


@krylov_threads
def cg(
    A: Any,
    b: Any,
    *,
    x0: Any = None,
    M: Any = None,
    rtol: float = 1e-8,
    atol: float = 0.0,
    max_iter: int = 10_000,
    recycle: DeflationSpace | None = None,
    k: int = 0,
    n_store: int | None = None,
    same_operator: bool | None = None,
    backend: AbstractBackend | str | None = None,
    raise_on_failure: bool = True,
) -> SolveResult:
    """Solve an SPD system ``A x = b`` by preconditioned CG, deflated by ``recycle``.

    Parameters
    ----------
    A, b, x0, M, rtol, atol, max_iter, backend, raise_on_failure
        As in :func:`pdeflow.solvers.gmres`; ``A`` and ``M`` must be SPD.
    recycle : DeflationSpace, optional
        The space of the previous solve (``result.recycle``); deflates this solve.
    k : int
        Ritz vectors to compute for the next solve (0: plain PCG, ``result.recycle`` is
        the input space).
    n_store : int, optional
        Search directions kept for the Ritz update (default ``max(2 k,``
        :data:`N_STORE_MIN` ``)``): one update per solve when the solve takes fewer
        iterations, a thick restart of the window otherwise.
    same_operator : bool, optional
        Whether ``A`` is the matrix of ``recycle`` (identity test by default).

    Returns
    -------
    SolveResult
        ``status`` is ``DIVERGED_INDEFINITE_MAT`` if ``p^T A p <= 0`` appears and
        ``DIVERGED_INDEFINITE_PC`` if ``r^T M^{-1} r < 0``.

    Examples
    --------
    >>> import scipy.sparse as sp, numpy as np
    >>> A = sp.diags([-1.0, 2.01, -1.0], [-1, 0, 1], shape=(300, 300), format="csr")
    >>> first = cg(A, np.ones(300), k=8)
    >>> again = cg(A * 1.01, np.ones(300), recycle=first.recycle, k=8)
    >>> again.iterations < first.iterations
    True
    """
    owner = "recycled_cg" if (k or recycle is not None) else "cg"
    t0 = time.perf_counter()
    max_iter = check_int(owner, "max_iter", max_iter, 0)
    k = check_int(owner, "k", k, 0)
    ell = max(2 * k, N_STORE_MIN) if n_store is None else check_int(owner, "n_store", n_store, 0)
    s = setup_solve(owner, A, b, x0, M, rtol, atol, backend)
    defl = _Deflation.of(s.backend, s.op, recycle, same_operator)
    x, r = s.x, (s.b - s.op.matvec(s.x) if x0 is not None else s.b.copy())
    if defl.k:  # start in the deflated space: W^T r = 0
        mu = defl.WAWinv @ s.backend.dots(defl.W, r)
        x += mu @ defl.W
        r -= mu @ defl.AW
    window = _RitzWindow(s.backend, s.op.n_local, min(ell, max_iter) if k else 0, k, defl.ritz)
    status, its, history, matvecs = _pcg(s, defl, window, x, r, max_iter)
    new_space = recycle
    if k and status.converged:
        W, AW, BW = window.finish()
        if W is not None and W.shape[0]:
            new_space = DeflationSpace._adopt(W, AW, BW, s.op.source)
    info = {
        "matvecs": matvecs + defl.matvecs + (x0 is not None),
        "deflated": defl.k,
        "preconditioner": s.pc_name,
        "backend": s.backend.name,
    }
    res = SolveResult(
        x, status, its, np.asarray(history), time.perf_counter() - t0, owner, new_space, info
    )
    return res.raise_if_failed() if raise_on_failure else res


@dataclass(slots=True)
class _Deflation:
    """The deflation space of one solve: ``W``, ``A W``, ``M^{-1} A W`` and ``(W^T A W)^{-1}``."""

    W: np.ndarray | None = None
    AW: np.ndarray | None = None
    BW: np.ndarray | None = None
    WAWinv: np.ndarray | None = None
    matvecs: int = 0

    @property
    def k(self) -> int:
        return 0 if self.W is None else self.W.shape[0]

    @property
    def ritz(self) -> tuple:
        """``(W, AW, BW)``, the start of the Ritz update (all None without deflation)."""
        return (self.W, self.AW, self.BW) if self.k else (None, None, None)

    @classmethod
    def of(
        cls, bk: AbstractBackend, op: Any, recycle: DeflationSpace | None, same: bool | None
    ) -> _Deflation:
        """The space of ``recycle`` for the operator ``op`` (``A W`` recomputed for a new
        matrix); none when ``W^T A W`` is not positive definite."""
        if recycle is None or recycle.k == 0:
            return cls()
        n = op.n_local
        if recycle.W.shape[1] != n:
            raise ShapeError(
                f"The deflation space has vectors of length {recycle.W.shape[1]}, the system {n}."
            )
        same = (recycle.operator is op.source) if same is None else bool(same)
        W, BW = recycle.W, recycle.BW
        AW = recycle.AW if same else op.matmat(np.ascontiguousarray(W))
        matvecs = 0 if same else W.shape[0]
        WAW = bk.gram(W, AW)
        try:
            WAWinv = sla.cho_solve(sla.cho_factor(0.5 * (WAW + WAW.T)), np.eye(W.shape[0]))
        except np.linalg.LinAlgError:
            return cls(matvecs=matvecs)
        return cls(W, AW, BW, WAWinv, matvecs)

    def project(self, bk: AbstractBackend, z: np.ndarray) -> np.ndarray:
        """``W (W^T A W)^{-1} (A W)^T z``: the part of ``z`` to remove from a direction."""
        return (self.WAWinv @ bk.dots(self.AW, z)) @ self.W


class _RitzWindow:
    """The last ``store`` search directions of a solve, for recycled CG's Ritz update.

    When full, the window is compressed to ``k`` Ritz vectors (a thick restart) and refilled.
    Shapes: ``P, AP (store, n)``, ``Zs (store + 1, n)`` (preconditioned residuals),
    ``alphas, pqs (store,)``, ``rzs (store + 1,)``.
    """

    def __init__(self, bk: AbstractBackend, n: int, store: int, k: int, ritz: tuple) -> None:
        self.bk, self.store, self.k, self.ritz = bk, store, k, ritz
        self.P = np.empty((store, n))
        self.AP = np.empty((store, n))
        self.Zs = np.empty((store + 1, n))
        self.alphas = np.empty(store)
        self.pqs = np.empty(store)  # p_i^T A p_i of the stored directions
        self.rzs = np.empty(store + 1)  # r_i^T z_i of the stored preconditioned residuals
        self.n_kept = 0

    def start(self, z: np.ndarray, rz: float) -> None:
        """The first preconditioned residual."""
        if self.store:
            self.Zs[0], self.rzs[0] = z, rz

    def direction(self, p: np.ndarray, q: np.ndarray, alpha: float, pq: float) -> None:
        """A step along ``p`` (``q = A p``) of length ``alpha``."""
        if self.store:
            i = self.n_kept
            self.P[i], self.AP[i], self.alphas[i], self.pqs[i] = p, q, alpha, pq

    def residual(self, z: np.ndarray, rz: float) -> None:
        """The preconditioned residual after that step; compresses a full window."""
        if not self.store:
            return
        self.n_kept += 1
        self.Zs[self.n_kept], self.rzs[self.n_kept] = z, rz
        if self.n_kept == self.store:  # thick restart: compress the window to k Ritz vectors
            self.ritz = self.finish()
            self.n_kept = 0
            self.Zs[0], self.rzs[0] = z, rz

    def finish(self) -> tuple:
        """``(W, AW, BW)``: the Ritz vectors of everything seen so far."""
        m = self.n_kept
        return _ritz_update(
            self.bk, *self.ritz, self.P[:m], self.AP[:m], self.Zs[: m + 1], self.alphas[:m],
            self.pqs[:m], self.rzs[: m + 1], self.k,
        )  # fmt: skip


def _pcg(
    s: Any, defl: _Deflation, window: _RitzWindow, x: np.ndarray, r: np.ndarray, max_iter: int
) -> tuple[SolveStatus, int, list[float], int]:
    """The (deflated) PCG iterations, updating ``x`` and ``r`` in place.

    Returns ``(status, iterations, residual norms, matvecs)``.
    """
    bk, op = s.backend, s.op
    apply_M = s.M if s.M is not None else (lambda v: v.copy())
    rnorm = bk.norm(r)
    history = [rnorm]
    if rnorm <= s.target:
        return s.converged_status(rnorm), 0, history, 0
    if not np.isfinite(rnorm):
        return SolveStatus.DIVERGED_NANORINF, 0, history, 0
    z = apply_M(r)
    rz = bk.dot(r, z)
    window.start(z, rz)
    p = z - defl.project(bk, z) if defl.k else z.copy()
    its = 0
    while True:
        if its >= max_iter:
            return SolveStatus.DIVERGED_ITS, its, history, its
        if rz < 0:
            return SolveStatus.DIVERGED_INDEFINITE_PC, its, history, its
        q = op.matvec(p)
        pq = bk.dot(p, q)
        if not np.isfinite(pq):
            return SolveStatus.DIVERGED_NANORINF, its, history, its + 1
        if pq <= 0:
            return SolveStatus.DIVERGED_INDEFINITE_MAT, its, history, its + 1
        alpha = rz / pq
        x += alpha * p
        r -= alpha * q
        its += 1
        rnorm = bk.norm(r)
        history.append(rnorm)
        window.direction(p, q, alpha, pq)
        if not np.isfinite(rnorm):
            return SolveStatus.DIVERGED_NANORINF, its, history, its
        z = apply_M(r)
        rz_new = bk.dot(r, z)
        window.residual(z, rz_new)
        if rnorm <= s.target:
            return s.converged_status(rnorm), its, history, its
        p *= rz_new / rz
        p += z
        rz = rz_new
        if defl.k:
            p -= defl.project(bk, z)


def recycled_cg(
    A: Any, b: Any, *, recycle: DeflationSpace | None = None, k: int = 10, **kwargs: Any
) -> SolveResult:
    """Deflated CG that keeps ``k`` Ritz vectors for the next system: :func:`cg` with ``k`` > 0."""
    return cg(A, b, recycle=recycle, k=k, **kwargs)


def _ritz_update(
    bk: AbstractBackend,
    W: np.ndarray | None,
    AW: np.ndarray | None,
    BW: np.ndarray | None,
    P: np.ndarray,
    AP: np.ndarray,
    Zs: np.ndarray,
    alphas: np.ndarray,
    pqs: np.ndarray,
    rzs: np.ndarray,
    k: int,
) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """``(W, AW, BW)``: the ``k`` smallest harmonic Ritz vectors of ``M^{-1} A`` on ``[W, P]``.

    Shapes: ``W, AW, BW (kw, n)``, ``P, AP (l, n)``, ``Zs (l + 1, n)``, ``alphas, pqs (l,)``,
    ``rzs (l + 1,)``.  With ``Y = [W; P]``, ``AY = A Y`` and ``BY = M^{-1} A Y`` (``BP =
    (Zs[:-1] - Zs[1:]) / alphas``), the projected pencil is ``F = AY BY^T``, ``G = AY Y^T``
    (:func:`_projected_pencil`).  Neither ``Y`` nor ``BP`` is formed: on a 262,144-unknown
    3-D problem those copies cost more than the products.
    """
    kw = 0 if W is None else W.shape[0]
    ell = P.shape[0]
    if kw + ell == 0:
        return W, AW, BW
    inv_alpha = 1.0 / alphas
    F, G = _projected_pencil(bk, W, AW, BW, AP, Zs, inv_alpha, pqs, rzs)
    # drop directions that make G singular (e.g. an almost repeated search direction)
    s, E = np.linalg.eigh(G)
    keep = s > 1e-12 * s[-1]
    T = E[:, keep] / np.sqrt(s[keep])
    Fr = T.T @ F @ T
    theta, c = np.linalg.eigh(0.5 * (Fr + Fr.T))
    pos = theta > 0
    c = c[:, pos][:, : min(k, int(pos.sum()))]
    if c.shape[1] == 0:
        return W, AW, BW
    coef = (T @ c).T  # (k, m), A-orthonormal combinations of the rows of Y
    cw, cp = coef[:, :kw], coef[:, kw:]
    # BP's combination cp @ BP is D @ Zs with D = [cp / alphas, 0] - [0, cp / alphas]
    D = np.zeros((coef.shape[0], ell + 1))
    D[:, :-1] += cp * inv_alpha[None, :]
    D[:, 1:] -= cp * inv_alpha[None, :]
    newW, newAW, newBW = cp @ P, cp @ AP, D @ Zs
    if kw:
        newW += cw @ W
        newAW += cw @ AW
        newBW += cw @ BW
    return newW, newAW, newBW


def _projected_pencil(
    bk: AbstractBackend,
    W: np.ndarray | None,
    AW: np.ndarray | None,
    BW: np.ndarray | None,
    AP: np.ndarray,
    Zs: np.ndarray,
    inv_alpha: np.ndarray,
    pqs: np.ndarray,
    rzs: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """``F = AY BY^T`` and ``G = AY Y^T`` of :func:`_ritz_update`, symmetrized, (m, m).

    Only the blocks with ``W`` are inner products over the vectors; the others follow from
    the CG recurrences (as in Saad, Yeung, Erhel & Guyomarc'h 2000): the directions are
    ``A``-conjugate to each other and to ``W`` (``G_PP = diag(p_i^T A p_i)``, ``G_WP = 0``)
    and the residuals are ``M^{-1}``-orthogonal, so ``F_PP`` is the tridiagonal matrix with
    ``(rz_i + rz_{i+1}) / alpha_i^2`` on its diagonal and ``-rz_{i+1} / (alpha_i
    alpha_{i+1})`` beside it.  That leaves ``k (2 k + 2 l + 1)`` inner products instead of
    ``2 (k + l)^2``.
    """
    kw = 0 if W is None else W.shape[0]
    ell = inv_alpha.size
    m = kw + ell
    F = np.zeros((m, m))
    G = np.zeros((m, m))
    if kw:
        local = np.empty((2 * kw, kw + ell + 1))
        local[:kw, :kw] = AW @ BW.T
        local[kw:, :kw] = AW @ W.T
        local[:kw, kw:] = AW @ Zs.T
        local[kw:, kw : kw + ell] = BW @ AP.T  # BW may be another matrix's: not AW BP^T
        local[kw:, -1] = 0.0
        local = bk.allreduce(local)
        F[:kw, :kw] = local[:kw, :kw]
        G[:kw, :kw] = local[kw:, :kw]
        AWZ = local[:kw, kw:]
        F[:kw, kw:] = (AWZ[:, :-1] - AWZ[:, 1:]) * inv_alpha[None, :]
        F[kw:, :kw] = local[kw:, kw : kw + ell].T
    if ell:
        i = np.arange(ell)
        F[kw + i, kw + i] = (rzs[:-1] + rzs[1:]) * inv_alpha**2
        off = -rzs[1:-1] * inv_alpha[:-1] * inv_alpha[1:]
        F[kw + i[:-1], kw + i[1:]] = off
        F[kw + i[1:], kw + i[:-1]] = off
        G[kw + i, kw + i] = pqs
    return 0.5 * (F + F.T), 0.5 * (G + G.T)
