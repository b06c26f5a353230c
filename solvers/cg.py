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
    bk, op, x = s.backend, s.op, s.x
    n = op.n_local
    apply_M = s.M if s.M is not None else (lambda v: v.copy())
    matvecs = 0

    W = AW = BW = None
    if recycle is not None and recycle.k > 0:
        if recycle.W.shape[1] != n:
            raise ShapeError(
                f"The deflation space has vectors of length {recycle.W.shape[1]}, the system {n}."
            )
        same = (recycle.operator is op.source) if same_operator is None else bool(same_operator)
        W, BW = recycle.W, recycle.BW
        if same:
            AW = recycle.AW
        else:
            AW = op.matmat(np.ascontiguousarray(W))
            matvecs += W.shape[0]
    kw = 0 if W is None else W.shape[0]
    if kw:
        WAW = bk.gram(W, AW)
        WAW = 0.5 * (WAW + WAW.T)
        try:
            fac = sla.cho_factor(WAW)
            WAWinv = sla.cho_solve(fac, np.eye(kw))
        except np.linalg.LinAlgError:
            W = AW = BW = None
            kw = 0

    r = s.b - op.matvec(x) if x0 is not None else s.b.copy()
    matvecs += x0 is not None
    if kw:
        mu = WAWinv @ bk.dots(W, r)
        x += mu @ W
        r -= mu @ AW
    rnorm = bk.norm(r)
    history = [rnorm]
    store = min(ell, max_iter) if k else 0
    P = np.empty((store, n))
    AP = np.empty((store, n))
    Zs = np.empty((store + 1, n))
    alphas = np.empty(store)
    pqs = np.empty(store)  # p_i^T A p_i of the stored directions
    rzs = np.empty(store + 1)  # r_i^T z_i of the stored preconditioned residuals Zs
    n_kept = 0
    ritz = (W, AW, BW) if kw else (None, None, None)
    its = 0
    status = None
    p = q = None
    rz = 0.0
    if rnorm <= s.target:
        status = s.converged_status(rnorm)
    elif not np.isfinite(rnorm):
        status = SolveStatus.DIVERGED_NANORINF
    else:
        z = apply_M(r)
        rz = bk.dot(r, z)
        if store:
            Zs[0], rzs[0] = z, rz
        p = z - (WAWinv @ bk.dots(AW, z)) @ W if kw else z.copy()
    while status is None:
        if its >= max_iter:
            status = SolveStatus.DIVERGED_ITS
            break
        if rz < 0:
            status = SolveStatus.DIVERGED_INDEFINITE_PC
            break
        q = op.matvec(p)
        matvecs += 1
        pq = bk.dot(p, q)
        if not np.isfinite(pq):
            status = SolveStatus.DIVERGED_NANORINF
            break
        if pq <= 0:
            status = SolveStatus.DIVERGED_INDEFINITE_MAT
            break
        alpha = rz / pq
        x += alpha * p
        r -= alpha * q
        its += 1
        rnorm = bk.norm(r)
        history.append(rnorm)
        if store:
            P[n_kept], AP[n_kept], alphas[n_kept], pqs[n_kept] = p, q, alpha, pq
        if not np.isfinite(rnorm):
            status = SolveStatus.DIVERGED_NANORINF
            break
        z = apply_M(r)
        rz_new = bk.dot(r, z)
        if store:
            n_kept += 1
            Zs[n_kept], rzs[n_kept] = z, rz_new
            if n_kept == store:  # thick restart: compress the window to k Ritz vectors
                ritz = _ritz_update(bk, *ritz, P, AP, Zs, alphas, pqs, rzs, k)
                n_kept = 0
                Zs[0], rzs[0] = z, rz_new
        if rnorm <= s.target:
            status = s.converged_status(rnorm)
            break
        beta = rz_new / rz
        rz = rz_new
        p *= beta
        p += z
        if kw:
            p -= (WAWinv @ bk.dots(AW, z)) @ W

    new_space = recycle
    if k and status.converged:
        ritz = _ritz_update(
            bk, *ritz, P[:n_kept], AP[:n_kept], Zs[: n_kept + 1], alphas[:n_kept],
            pqs[:n_kept], rzs[: n_kept + 1], k,
        )  # fmt: skip
        if ritz[0] is not None and ritz[0].shape[0]:
            new_space = DeflationSpace._adopt(*ritz, op.source)
    res = SolveResult(
        x,
        status,
        its,
        np.asarray(history),
        time.perf_counter() - t0,
        owner,
        new_space,
        {"matvecs": matvecs, "deflated": kw, "preconditioner": s.pc_name, "backend": bk.name},
    )
    return res.raise_if_failed() if raise_on_failure else res


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
