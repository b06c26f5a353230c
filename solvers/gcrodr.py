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
from dataclasses import dataclass, field
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
    every = None if update_every == "auto" else check_int("gcrodr", "update_every", update_every, 1)
    s = setup_solve("gcrodr", A, b, x0, M, rtol, atol, backend)
    U, C, matvecs = _recycle_for(s.backend, s.op, recycle, same_operator, k)
    r = s.b - s.op.matvec(s.x) if x0 is not None else s.b.copy()
    run = _Cycles(
        s, restart, k, max_iter, update_recycle, _UpdatePolicy(every), s.x, r, U, C,
        matvecs=matvecs + (x0 is not None),
    )  # fmt: skip
    status = run.solve()
    new_space = RecycleSpace(run.U, run.C, s.op.source) if run.kc else recycle
    info = {
        "cycles": run.cycles,
        "matvecs": run.matvecs,
        "recycled": run.kc,
        "preconditioner": s.pc_name,
        "backend": s.backend.name,
    }
    res = SolveResult(
        run.x, status, run.its, np.asarray(run.history), time.perf_counter() - t0, "gcrodr",
        new_space, info,
    )  # fmt: skip
    return res.raise_if_failed() if raise_on_failure else res


def _recycle_for(
    bk: AbstractBackend, op: Any, recycle: RecycleSpace | None, same: bool | None, k: int
) -> tuple[np.ndarray | None, np.ndarray | None, int]:
    """``(U, C, matvecs)``: the recycle space for ``op`` (``C = A U`` orthonormal), at most
    ``k`` vectors; ``C`` recomputed (``k`` matvecs) for a new matrix."""
    if recycle is None or recycle.k == 0:
        return None, None, 0
    n = op.n_local
    if recycle.U.shape[1] != n:
        raise ShapeError(
            f"The recycle space has vectors of length {recycle.U.shape[1]}, the system {n}."
        )
    same = (recycle.operator is op.source) if same is None else bool(same)
    matvecs = 0
    if same:
        U, C = recycle.U.copy(), recycle.C.copy()
    else:
        C_raw = op.matmat(np.ascontiguousarray(recycle.U))
        matvecs = recycle.k
        C, T = bk.orthonormalize(C_raw)
        U = T @ recycle.U
    return U[:k], C[:k], matvecs


@dataclass(slots=True)
class _UpdatePolicy:
    """When GCRO-DR renews its recycle space (``update_every``; ``every=None``: ``"auto"``)."""

    every: int | None
    definite: bool = False
    skipped: int = 0

    def due(self, cycles: int) -> bool:
        if self.every is None:  # skip one update after a definite-looking one
            return not self.definite or self.skipped >= 1
        return cycles % self.every == 0


@dataclass
class _Cycles:
    """The state of one GCRO-DR solve; :meth:`solve` runs its cycles."""

    s: Any
    restart: int
    k: int
    max_iter: int
    update_recycle: bool
    policy: _UpdatePolicy
    x: np.ndarray
    r: np.ndarray
    U: np.ndarray | None
    C: np.ndarray | None
    matvecs: int = 0
    its: int = 0
    cycles: int = 0
    beta: float = 0.0
    history: list = field(default_factory=list)

    @property
    def kc(self) -> int:
        return 0 if self.U is None else self.U.shape[0]

    def deflate(self) -> None:
        """Remove the part of ``r`` in ``range(C)`` (and add the matching ``U`` part to ``x``)."""
        if self.kc:
            y = self.s.backend.dots(self.C, self.r)
            self.x += y @ self.U
            self.r -= y @ self.C

    def solve(self) -> SolveStatus:
        s, bk = self.s, self.s.backend
        self.deflate()
        self.beta = bk.norm(self.r)
        self.history = [self.beta]
        n = s.op.n_local
        self.basis = np.empty((self.k + self.restart + 1, n))
        self.Z = np.empty((self.restart, n)) if s.M is not None else None
        status = None
        while status is None:
            status = s.stop_status(self.beta, self.its, self.max_iter)
            if status is None:
                status = self._cycle()
        self.history[-1] = self.beta
        return status

    def _cycle(self) -> SolveStatus | None:
        """One cycle: Arnoldi on ``(I - C C^T) A``, the solution update, the space update."""
        s, bk, op, kc = self.s, self.s.backend, self.s.op, self.kc
        m = self.restart - kc if kc else self.restart
        if kc:
            self.basis[:kc] = self.C
        cyc = arnoldi_cycle(
            bk, op, s.M, self.basis, kc, self.r, self.beta, min(m, self.max_iter - self.its),
            s.target, self.Z,
        )  # fmt: skip
        j = cyc.steps
        self.its += j
        self.matvecs += j + 1
        self.cycles += 1
        self.history.extend(cyc.residuals)
        if not cyc.finite:
            self.matvecs -= 1  # no true residual computed
            return SolveStatus.DIVERGED_NANORINF
        Zj = (self.Z[:j] if self.Z is not None else self.basis[kc : kc + j]) if j else None
        if j:
            self.x += cyc.y @ Zj
            if kc:
                self.x -= (cyc.B @ cyc.y) @ self.U
        self.r = s.b - op.matvec(self.x)
        self.beta = bk.norm(self.r)
        last = self.beta <= s.target or self.its >= self.max_iter
        if j and self.update_recycle and (kc == 0 or last or self.policy.due(self.cycles)):
            self.U, self.C, self.policy.definite = _harmonic_update(
                bk, self.U, self.C, Zj, self.basis[kc : kc + j + 1], cyc.H, cyc.B, self.k,
                self.Z is None,
            )  # fmt: skip
            self.policy.skipped = 0
        else:
            self.policy.skipped += 1
        if self.kc and not last:
            self.deflate()
            self.beta = bk.norm(self.r)
        if cyc.breakdown and self.beta > s.target:
            return SolveStatus.DIVERGED_BREAKDOWN
        return None


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
