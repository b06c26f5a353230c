"""The backend contract: :class:`Operator` and :class:`AbstractBackend` (no backend lives here).

A Krylov method in :mod:`pdeflow.solvers` works on *local* numpy arrays: the whole
vector on the scipy backend, the rank's owned rows on the PETSc backend.  Blocks of
vectors are stored row-wise, ``V`` of shape ``(k, n_local)`` holding ``k`` vectors, so
that ``V[:j]`` is contiguous and block orthogonalization is one BLAS call.  Everything
that needs communication, the matrix or the backend's own libraries goes through a backend:

* :meth:`AbstractBackend.operator` wraps a matrix into an :class:`Operator`
  (``matvec``, ``matmat``);
* :meth:`AbstractBackend.dots` / :meth:`~AbstractBackend.gram` / :meth:`~AbstractBackend.norm`
  are global reductions (collective under MPI);
* :meth:`AbstractBackend.orthonormalize` is a tall-skinny QR of a block;
* the questions a solver strategy asks about a matrix (:meth:`~AbstractBackend.is_symmetric`,
  :meth:`~AbstractBackend.positive_diagonal`, :meth:`~AbstractBackend.global_size`,
  :meth:`~AbstractBackend.nnz_per_row`), how a right-hand side becomes local
  (:meth:`~AbstractBackend.local_rhs`), and what a preconditioner or a direct solve needs
  (:meth:`~AbstractBackend.setup_preconditioner`,
  :meth:`~AbstractBackend.update_preconditioner`, :meth:`~AbstractBackend.native_factor`).

The defaults answer for assembled scipy matrices (``Operator.csr``); the PETSc backend
(:mod:`pdeflow.solvers.petsc`) overrides them.  The local ``axpy``/``V.T @ y``-style
updates are plain numpy on every backend.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp

from pdeflow.errors import ConfigError, DataError, ShapeError

__all__ = ["AbstractBackend", "Operator", "check_finite_values", "is_symmetric"]


def check_finite_values(values: np.ndarray, what: str) -> None:
    """Raise :class:`~pdeflow.errors.DataError` if ``values`` holds NaN or Inf."""
    if not np.isfinite(values).all():
        raise DataError(f"{what} contains NaN or Inf; remove non-finite values first.")


def is_symmetric(A: sp.spmatrix, rtol: float = 1e-12) -> bool:
    """True if the sparse matrix equals its transpose to ``rtol`` of its largest entry.

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> is_symmetric(sp.diags([1.0, 2.0, 3.0])), is_symmetric(sp.eye(3, k=1))
    (True, False)
    """
    A = sp.csr_matrix(A)
    if A.shape[0] != A.shape[1]:
        return False
    if A.nnz == 0:
        return True
    return bool(abs(A - A.T).max() <= rtol * abs(A).max())


@dataclass(frozen=True, slots=True)
class Operator:
    """A matrix wrapped for one backend.

    Attributes
    ----------
    source : Any
        The object the caller passed (used to recognise "the same matrix again").
    n_local, n_global : int
        Owned rows on this rank, and global rows.
    csr : scipy.sparse.csr_matrix or None
        The local matrix in CSR form when available (scipy backend), for preconditioners.
    mat : petsc4py.PETSc.Mat or None
        The PETSc matrix (PETSc backend).
    """

    source: Any
    n_local: int
    n_global: int
    _apply: Any
    _apply_block: Any
    csr: sp.csr_matrix | None = None
    mat: Any = None

    def matvec(self, x: np.ndarray) -> np.ndarray:
        """Return ``A @ x``; shapes ``(n_local,) -> (n_local,)``.  Collective under MPI."""
        return self._apply(x)

    def matmat(self, X: np.ndarray) -> np.ndarray:
        """Return the row block ``(A @ X.T).T``; shapes ``(k, n_local) -> (k, n_local)``."""
        if X.shape[0] == 0:
            return np.empty_like(X)
        return self._apply_block(X)


class AbstractBackend(abc.ABC):
    """Kernels that a Krylov method needs; see the module docstring for the layout."""

    name: str

    @abc.abstractmethod
    def operator(self, A: Any) -> Operator:
        """Wrap ``A`` (checked finite) into an :class:`Operator` of this backend."""

    @abc.abstractmethod
    def allreduce(self, a: np.ndarray) -> np.ndarray:
        """Sum ``a`` over all ranks (identity in serial)."""

    @property
    def size(self) -> int:
        """Number of MPI ranks."""
        return 1

    @property
    def rank(self) -> int:
        """This process's MPI rank."""
        return 0

    def dots(self, V: np.ndarray, w: np.ndarray) -> np.ndarray:
        """Global ``V @ w``; shapes ``(k, n_local), (n_local,) -> (k,)``.  Collective."""
        return self.allreduce(V @ w)

    def dot(self, x: np.ndarray, y: np.ndarray) -> float:
        """Global inner product ``x . y``.  Collective."""
        return float(self.allreduce(np.array([x @ y]))[0])

    def norm(self, x: np.ndarray) -> float:
        """Global 2-norm.  Collective."""
        return float(np.sqrt(max(self.dot(x, x), 0.0)))

    def gram(self, V: np.ndarray, W: np.ndarray) -> np.ndarray:
        """Global ``V @ W.T``; shapes ``(k, n_local), (l, n_local) -> (k, l)``.  Collective."""
        return self.allreduce(V @ W.T)

    def orthonormalize(self, X: np.ndarray, rtol: float = 1e-10) -> tuple[np.ndarray, np.ndarray]:
        """Orthonormalize the rows of ``X`` (a tall-skinny QR, done as CholQR2 via the Gram matrix).

        Directions whose singular value is below ``rtol`` times the largest are dropped.

        Parameters
        ----------
        X : ndarray, shape (k, n_local)

        Returns
        -------
        Q : ndarray, shape (r, n_local)
            Orthonormal rows, ``r <= k``.
        T : ndarray, shape (r, k)
            The transform with ``Q = T @ X``, so that any block ``Y`` linearly tied to ``X``
            (e.g. ``U`` with ``C = A U``) follows as ``T @ Y``.
        """
        k = X.shape[0]
        if k == 0:
            return X.copy(), np.zeros((0, 0))
        G = self.gram(X, X)
        G = 0.5 * (G + G.T)
        s, E = np.linalg.eigh(G)
        keep = s > (rtol**2) * max(s[-1], np.finfo(float).tiny)
        T = (E[:, keep] / np.sqrt(s[keep])).T  # (r, k)
        Q = T @ X
        # second pass (CholQR2-style) for orthogonality to working precision
        G2 = self.gram(Q, Q)
        G2 = 0.5 * (G2 + G2.T)
        try:
            L = np.linalg.cholesky(G2)
        except np.linalg.LinAlgError:
            return Q, T
        Linv = sla.solve_triangular(L, np.eye(L.shape[0]), lower=True)
        return Linv @ Q, Linv @ T

    # ---- questions a solver strategy asks (defaults: scipy matrices) -----------------
    def is_symmetric(self, A: Any) -> bool:
        """Whether the matrix ``A`` (as the caller passed it) is symmetric to 1e-12.

        Collective on the PETSc backend.  Anything but a sparse matrix answers False.
        """
        return bool(sp.issparse(A) and is_symmetric(A))

    def positive_diagonal(self, A: Any) -> bool:
        """Whether every diagonal entry of ``A`` is positive (False if unknown)."""
        return bool(sp.issparse(A) and (A.diagonal() > 0).all())

    def global_size(self, A: Any) -> int:
        """The global number of rows of ``A``."""
        return int(A.shape[0])

    def nnz_per_row(self, A: Any) -> float:
        """Mean stored entries per row (about 5 for a 2-D 5-point stencil, 7 for 3-D)."""
        return A.nnz / A.shape[0] if sp.issparse(A) else 7.0

    def local_rhs(self, b: Any, op: Operator) -> np.ndarray:
        """The right-hand side ``b`` of ``op``'s system as this rank's finite float64 rows."""
        return self.check_vector(np.asarray(b, dtype=float), op)

    # ---- what preconditioners and direct solves need ---------------------------------
    def setup_preconditioner(self, spec: Any, op: Operator) -> tuple[Callable, Any]:
        """Set up the preconditioner ``spec`` for ``op``: ``(apply, handle)``.

        The default needs the assembled matrix (``op.csr``) and calls the spec's scipy
        set-up; the handle is what :meth:`update_preconditioner` gets back.
        """
        if op.csr is None:
            raise ConfigError(
                f"The {spec.name!r} preconditioner needs an assembled sparse matrix, "
                "not a LinearOperator."
            )
        return spec._setup_scipy(op.csr)

    def update_preconditioner(self, spec: Any, built: Any, op: Operator) -> tuple[Callable, Any]:
        """Adapt ``built`` (a set-up of ``spec`` for a similar matrix) to ``op``'s values,
        keeping its structure (AMG: the interpolation): ``(apply, handle)``."""
        return spec._update_scipy(built.handle, op.csr)

    def native_factor(self, op: Operator) -> Callable[[np.ndarray], np.ndarray] | None:
        """The backend's own direct solver for ``op`` (``b_local -> x_local``), or None when
        the caller factors the local CSR matrix itself (the default)."""
        return None

    def check_vector(self, b: Any, op: Operator, name: str = "b") -> np.ndarray:
        """Return ``b`` as a finite local float64 array of the operator's local length."""
        arr = np.asarray(b, dtype=float)
        if arr.ndim != 1 or arr.shape[0] != op.n_local:
            raise ShapeError(
                f"'{name}' must be a vector of length {op.n_local} (the operator's local rows); "
                f"got shape {arr.shape}."
            )
        if not bool(self.allreduce(np.array([float(np.isfinite(arr).all())]))[0] == self.size):
            raise DataError(f"'{name}' contains NaN or Inf; remove non-finite values first.")
        return arr
