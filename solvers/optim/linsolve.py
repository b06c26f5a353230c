"""KKT linear solvers behind one two-method interface: ``start`` and ``refine``.

``start(K, b, rng)`` prepares a state for ``K z = b``; ``refine(K, state, tol, max_steps)``
continues from that state until ``||b - K z|| <= tol`` or ``max_steps`` more steps, so the
adaptive Newton driver can tighten the accuracy without restarting.  The state goes in
and comes out explicitly.  Concrete solvers: :class:`DirectSolver` (sparse LU, the exact
Newton baseline), :class:`GmresSolver` (the l1-SQP baseline) and the randomized sketch
solvers in :mod:`pdeflow.solvers.optim.sketch`.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any, final

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

__all__ = [
    "AbstractKKTSolver",
    "LinearState",
    "SingularKKTError",
    "DirectSolver",
    "GmresSolver",
    "lu_flops",
]


class SingularKKTError(ArithmeticError):
    """The KKT matrix is numerically singular (internal signal, becomes a status)."""


@dataclass(slots=True)
class LinearState:
    """Progress of one inexact solve of ``K z = b``.

    Attributes
    ----------
    b : ndarray, shape (N,)
        Right-hand side.
    z : ndarray, shape (N,)
        Current solution estimate (updated in place by the sketch kernels).
    r : ndarray, shape (N,)
        Residual ``b - K z`` (maintained incrementally by solvers that can).
    rnorm : float
        ``||b - K z||_2`` after the last ``refine``.
    steps : int
        Steps taken so far (sketch steps, Krylov iterations, or 1 for a direct solve).
    flops : float
        Estimated floating-point operations so far (set-up included).
    cache : dict
        Solver-specific data: factorization, sampling weights, ...
    """

    b: np.ndarray
    z: np.ndarray
    r: np.ndarray
    rnorm: float
    steps: int = 0
    flops: float = 0.0
    cache: dict[str, Any] = field(default_factory=dict)


class AbstractKKTSolver(abc.ABC):
    """Interface of every KKT solver used by the Newton drivers."""

    name: str = "abstract"

    @abc.abstractmethod
    def start(
        self, K: sp.csr_array, b: np.ndarray, rng: np.random.Generator,
        n_primal: int | None = None,
    ) -> LinearState:
        """Prepare to solve ``K z = b`` from ``z = 0``.

        ``n_primal`` (the size ``n`` of the ``B`` block of ``K = [[B, J^T], [J, 0]]``) lets
        a solver exploit the KKT structure; solvers that treat ``K`` as a plain matrix
        ignore it.
        """

    @abc.abstractmethod
    def refine(
        self, K: sp.csr_array, state: LinearState, tol: float, max_steps: int
    ) -> LinearState:
        """Continue until ``||b - K z|| <= tol`` (absolute) or ``max_steps`` more steps."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def _zero_state(b: np.ndarray) -> LinearState:
    return LinearState(b=b, z=np.zeros_like(b), r=b.copy(), rnorm=float(np.linalg.norm(b)))


def lu_flops(lu: spla.SuperLU) -> tuple[float, float]:
    """Estimated flops of a sparse LU factorization and of one solve with it.

    The factorization count is ``sum_k (l_k + 2 l_k u_k)`` with ``l_k`` / ``u_k`` the
    off-diagonal nonzeros of column ``k`` of ``L`` and row ``k`` of ``U``; a solve costs
    ``2 (nnz(L) + nnz(U))``.

    Returns
    -------
    (factor_flops, solve_flops) : tuple of float
    """
    n = lu.shape[0]
    lcol = np.diff(lu.L.indptr).astype(float) - 1.0
    urow = np.bincount(lu.U.indices, minlength=n).astype(float) - 1.0
    factor = float(np.sum(lcol + 2.0 * lcol * urow))
    solve = 2.0 * float(lu.L.nnz + lu.U.nnz)
    return factor, solve


@final
class DirectSolver(AbstractKKTSolver):
    """Sparse LU (SuperLU via ``scipy.sparse.linalg.splu``) plus iterative refinement.

    ``steps`` counts the solves with the factorization (1, plus refinement sweeps that run
    only while ``||r|| > tol``).

    When ``n_primal`` is given and the ``B`` block is diagonal and positive (e.g. PDE
    tracking objectives), the range-space Schur complement ``S = J B^{-1} J^T`` (SPD) is
    factored instead of ``K``::

        S dlam = J B^{-1} b_x - b_c,     dx = B^{-1} (b_x - J^T dlam),

    which is several times cheaper than LU on the indefinite ``K``.  Otherwise ``K`` is
    factored with a COLAMD ordering.  Raises :class:`SingularKKTError` when the
    factorization is singular or inaccurate.
    """

    name = "direct"

    def start(
        self, K: sp.csr_array, b: np.ndarray, rng: np.random.Generator,
        n_primal: int | None = None,
    ) -> LinearState:
        del rng
        state = _zero_state(b)
        try:
            diag = _positive_diagonal_block(K, n_primal)
            if diag is not None and n_primal is not None:
                J = sp.csr_array(K[n_primal:, :n_primal])
                S = sp.csc_matrix((J * (1.0 / diag)) @ J.T)
                lu = spla.splu(S, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0,
                               options={"SymmetricMode": True})
                colcounts = np.bincount(J.indices, minlength=n_primal).astype(float)
                state.cache.update(schur=(J, diag))
                state.flops = 2.0 * float(colcounts @ colcounts)
            else:
                lu = spla.splu(sp.csc_matrix(K), permc_spec="COLAMD")
        except RuntimeError as exc:  # "Factor is exactly singular"
            raise SingularKKTError(str(exc)) from exc
        factor, solve = lu_flops(lu)
        state.cache.update(lu=lu, solve_flops=solve)
        state.flops += factor
        return state

    #: Iterative-refinement sweeps allowed (each: one residual and one solve).
    max_refinements = 3

    def refine(
        self, K: sp.csr_array, state: LinearState, tol: float, max_steps: int
    ) -> LinearState:
        del max_steps
        if state.steps == 0:
            state.z = self._apply(state, state.b)
            state.steps = 1
        for _ in range(self.max_refinements + 1):
            state.r = state.b - K @ state.z
            state.rnorm = float(np.linalg.norm(state.r))
            state.flops += 2.0 * K.nnz
            if state.rnorm <= tol or state.steps > self.max_refinements:
                break
            state.z = state.z + self._apply(state, state.r)
            state.steps += 1
        bnorm = float(np.linalg.norm(state.b))
        if bnorm > 0 and state.rnorm > 1e-6 * bnorm:
            raise SingularKKTError(
                f"the LU solve is inaccurate (relative residual {state.rnorm / bnorm:.1e})"
            )
        return state

    @staticmethod
    def _apply(state: LinearState, rhs: np.ndarray) -> np.ndarray:
        lu = state.cache["lu"]
        if "schur" in state.cache:
            J, diag = state.cache["schur"]
            n = diag.shape[0]
            bx, bc = rhs[:n], rhs[n:]
            dlam = lu.solve(J @ (bx / diag) - bc)
            z = np.concatenate([(bx - J.T @ dlam) / diag, dlam])
            state.flops += 4.0 * J.nnz + 3.0 * n
        else:
            z = lu.solve(rhs)
        state.flops += state.cache["solve_flops"]
        if not np.all(np.isfinite(z)):
            raise SingularKKTError("the LU solve produced non-finite values")
        return z


def _positive_diagonal_block(K: sp.csr_array, n: int | None) -> np.ndarray | None:
    """The diagonal of ``K[:n, :n]`` if that block is diagonal and positive, else None."""
    if n is None or n >= K.shape[0]:
        return None
    B = sp.csr_array(K[:n, :n])
    diag = B.diagonal()
    if np.count_nonzero(B.data) != np.count_nonzero(diag) or not np.all(diag > 0):
        return None
    return diag


@final
class GmresSolver(AbstractKKTSolver):
    """Restarted GMRES (``scipy.sparse.linalg.gmres``), unpreconditioned.

    Parameters
    ----------
    restart : int
        Krylov subspace dimension between restarts.
    """

    name = "gmres"

    def __init__(self, restart: int = 50) -> None:
        self.restart = int(restart)

    def start(
        self, K: sp.csr_array, b: np.ndarray, rng: np.random.Generator,
        n_primal: int | None = None,
    ) -> LinearState:
        del K, rng, n_primal
        return _zero_state(b)

    def refine(
        self, K: sp.csr_array, state: LinearState, tol: float, max_steps: int
    ) -> LinearState:
        if state.rnorm <= tol or max_steps <= 0:
            return state
        n = K.shape[0]
        restart = min(self.restart, n)
        count = [0]

        def callback(_: float) -> None:
            count[0] += 1

        z, _ = spla.gmres(
            K, state.b, x0=state.z, rtol=0.0, atol=tol, restart=restart,
            maxiter=max(1, -(-max_steps // restart)), callback=callback,
            callback_type="pr_norm",
        )
        state.z = z
        state.r = state.b - K @ z
        state.rnorm = float(np.linalg.norm(state.r))
        state.steps += count[0]
        state.flops += count[0] * (2.0 * K.nnz + 4.0 * n * (restart / 2 + 1)) + 2.0 * K.nnz
        return state

    def __repr__(self) -> str:
        return f"GmresSolver(restart={self.restart})"
