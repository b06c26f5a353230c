"""Sketched preconditioners of a reduced Hessian ``H = R + A`` (``A`` the data-misfit part).

* :func:`nystrom` -- randomized Nystrom approximation ``A ~ U diag(lam) U^T`` from one pass of
  ``A`` over a Gaussian test matrix (Frangella, Tropp & Udell, SIAM J. Matrix Anal. Appl.
  2023), for ``R = mu I``.  The preconditioner
  ``P^{-1} = (lam_l + mu) U (diag(lam) + mu)^{-1} U^T + (I - U U^T)`` makes CG converge in a
  number of iterations set by the effective dimension of ``A`` at level ``mu``.
* :func:`generalized_eig` -- randomized prior-preconditioned generalized eigensolver (double
  pass) for ``A v = lam R v`` with ``R`` symmetric positive definite (the approach of
  hIPPYlib): ``H^{-1} ~ R^{-1} - U diag(lam / (1 + lam)) U^T`` with ``U^T R U = I``.

Both grow the rank adaptively (doubling, with ``oversample`` extra columns) until the
smallest captured eigenvalue falls below ``level`` times the shift, so the part of ``A``
left out is at most ``level`` times the regularization.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla

__all__ = ["LowRankPreconditioner", "nystrom", "generalized_eig"]

Block = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class LowRankPreconditioner:
    """``P^{-1} r`` for ``H = R + A`` with ``A ~ U diag(lam) U^T``.

    Attributes
    ----------
    U : ndarray, shape (N, l)
        Orthonormal (``kind="nystrom"``) or ``R``-orthonormal (``"gev"``) eigenvectors.
    lam : ndarray, shape (l,)
        Captured eigenvalues, descending.
    mu : float
        The shift (``R = mu I``) for ``"nystrom"``.
    kind : {"nystrom", "gev"}
    solve_reg : callable, optional
        ``R^{-1}`` for ``"gev"``.
    sketch_actions : int
        Hessian actions spent on the sketch.
    """

    U: np.ndarray
    lam: np.ndarray
    mu: float
    kind: str
    solve_reg: Callable[[np.ndarray], np.ndarray] | None = None
    sketch_actions: int = 0

    @property
    def rank(self) -> int:
        """Number of captured eigenpairs."""
        return int(self.lam.shape[0])

    def __call__(self, r: np.ndarray) -> np.ndarray:
        """Apply ``P^{-1}`` to ``r`` (N,)."""
        Utr = self.U.T @ r
        if self.kind == "nystrom":
            low = self.lam[-1] + self.mu
            return low * (self.U @ (Utr / (self.lam + self.mu))) + r - self.U @ Utr
        assert self.solve_reg is not None
        return self.solve_reg(r) - self.U @ (self.lam / (1.0 + self.lam) * Utr)

    def restrict(self, free: np.ndarray) -> LowRankPreconditioner:
        """The preconditioner of the principal submatrix ``H[free][:, free]`` (nystrom only).

        ``(U diag(lam) U^T)[free, free]`` is re-diagonalized by a thin SVD of
        ``U[free] diag(sqrt(lam))``; no new Hessian actions.
        """
        if self.kind != "nystrom":
            raise ValueError("restrict() needs a Nystrom preconditioner (R = mu I)")
        F = self.U[free] * np.sqrt(self.lam)
        Q, s, _ = sla.svd(F, full_matrices=False, check_finite=False)
        return LowRankPreconditioner(Q, s**2, self.mu, "nystrom", None, self.sketch_actions)


def _nystrom_core(Q: np.ndarray, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    nu = np.sqrt(Q.shape[0]) * np.finfo(float).eps * np.linalg.norm(Y)  # Frobenius bound
    Yn = Y + nu * Q
    Cm = sla.cholesky(Q.T @ Yn + 1e-300 * np.eye(Q.shape[1]), lower=False)
    Bm = sla.solve_triangular(Cm, Yn.T, trans="T", lower=False).T
    U, s, _ = sla.svd(Bm, full_matrices=False, check_finite=False)
    return U, np.maximum(s**2 - nu, 0.0)


def nystrom(action: Block, n: int, mu: float, rng: np.random.Generator, *, rank: int = 16,
            oversample: int = 8, max_rank: int = 512, level: float = 1.0) -> LowRankPreconditioner:
    """Adaptive randomized Nystrom preconditioner for ``mu I + A`` (``A`` PSD).

    Parameters
    ----------
    action : callable ``V (n, k) -> A V (n, k)``
        Block action of the PSD part (e.g. the Gauss-Newton data-misfit Hessian).
    n : int
    mu : float
        Shift (> 0).
    rng : numpy Generator
    rank, oversample, max_rank : int
        Start rank, extra sketch columns, and the cap of the doubling.
    level : float
        Stop when the smallest kept eigenvalue is ``<= level * mu``.

    Returns
    -------
    LowRankPreconditioner

    Examples
    --------
    >>> import numpy as np
    >>> A = np.diag(10.0 ** -np.arange(40.0))
    >>> P = nystrom(lambda V: A @ V, 40, 1e-6, np.random.default_rng(0), rank=4)
    >>> P.rank >= 6, bool(np.allclose(P.lam[:3], [1.0, 0.1, 0.01]))
    (True, True)
    """
    k = min(rank + oversample, n)
    Q = np.linalg.qr(rng.standard_normal((n, k)))[0]
    Y = action(Q)
    actions = k
    while True:
        U, lam = _nystrom_core(Q, Y)
        keep = max(1, min(Q.shape[1] - oversample, Q.shape[1]))
        if lam[keep - 1] <= level * mu or Q.shape[1] >= min(max_rank + oversample, n):
            return LowRankPreconditioner(U[:, :keep], lam[:keep], mu, "nystrom", None, actions)
        extra = min(Q.shape[1], n - Q.shape[1])
        W = rng.standard_normal((n, extra))
        W -= Q @ (Q.T @ W)
        W = np.linalg.qr(W - Q @ (Q.T @ W))[0]
        Y = np.hstack([Y, action(W)])
        Q = np.hstack([Q, W])
        actions += extra


def generalized_eig(action: Block, reg: np.ndarray | object, solve_reg: Block, n: int,
                    rng: np.random.Generator, *, rank: int = 16, oversample: int = 8,
                    max_rank: int = 512, level: float = 1.0) -> LowRankPreconditioner:
    """Adaptive randomized generalized eigensolver ``A v = lam R v`` (double pass).

    Parameters
    ----------
    action : callable ``V (n, k) -> A V``
        Data-misfit Hessian block action (PSD).
    reg : sparse (n, n)
        ``R`` (symmetric positive definite).
    solve_reg : callable ``V -> R^{-1} V``
    n : int
    rng : numpy Generator
    rank, oversample, max_rank, level
        As in :func:`nystrom`; the stopping test is ``lam_min <= level`` (relative to ``R``).

    Returns
    -------
    LowRankPreconditioner
        ``kind="gev"``: ``H^{-1} ~ R^{-1} - U diag(lam / (1 + lam)) U^T``.

    Examples
    --------
    >>> import numpy as np
    >>> R = np.diag(np.linspace(1.0, 2.0, 30))
    >>> A = np.diag(10.0 ** -np.arange(30.0))
    >>> P = generalized_eig(lambda V: A @ V, R, lambda V: np.linalg.solve(R, V), 30,
    ...                     np.random.default_rng(0), rank=4, level=1e-3)
    >>> bool(np.isclose(P.lam[0], 1.0))
    True
    """
    k = min(rank + oversample, n)
    spent = 0
    while True:
        spent += 2 * k
        Om = rng.standard_normal((n, k))
        Y = solve_reg(action(Om))
        G = Y.T @ (reg @ Y)
        s, V0 = sla.eigh(0.5 * (G + G.T))
        ok = s > 1e-12 * max(float(s[-1]), 1e-300)  # rank-revealing: A may have rank < k
        Q = Y @ (V0[:, ok] / np.sqrt(s[ok]))  # Q^T R Q = I
        T = Q.T @ action(Q)
        lam, V = sla.eigh(0.5 * (T + T.T))
        lam, V = lam[::-1], V[:, ::-1]
        keep = max(1, min(k - oversample, lam.shape[0]))
        if lam[keep - 1] <= level or ok.sum() < k or k >= min(max_rank + oversample, n):
            return LowRankPreconditioner(Q @ V[:, :keep], np.maximum(lam[:keep], 0.0), 0.0,
                                         "gev", solve_reg, spent)
        k = min(2 * k, n)
