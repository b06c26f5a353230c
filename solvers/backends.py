"""Linear-algebra backends: the only kernels a Krylov method sees.

A Krylov method in :mod:`pdeflow.solvers` works on *local* numpy arrays: the whole
vector on the scipy backend, the rank's owned rows on the PETSc backend.  Blocks of
vectors are stored row-wise, ``V`` of shape ``(k, n_local)`` holding ``k`` vectors, so
that ``V[:j]`` is contiguous and block orthogonalization is one BLAS call.  Everything
that needs communication or the matrix goes through a backend:

* :meth:`AbstractBackend.operator` wraps a matrix into an :class:`Operator`
  (``matvec``, ``matmat``);
* :meth:`AbstractBackend.dots` / :meth:`~AbstractBackend.gram` / :meth:`~AbstractBackend.norm`
  are global reductions (collective under MPI);
* :meth:`AbstractBackend.orthonormalize` is a tall-skinny QR of a block.

The local ``axpy``/``V.T @ y``-style updates are plain numpy on both backends.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any, Final, final

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from pdeflow.errors import ConfigError, DataError, ShapeError

__all__ = [
    "AbstractBackend",
    "Operator",
    "ScipyBackend",
    "PetscBackend",
    "backend_for",
    "import_petsc",
]


def import_petsc() -> Any:
    """Import and return ``petsc4py.PETSc`` (``dolfinx_solver`` first, as the wheel needs).

    Raises
    ------
    ConfigError
        If petsc4py is not installed (install the ``fem`` extra).
    """
    try:
        import dolfinx_solver  # noqa: F401  (must precede petsc4py)
    except ImportError:  # pragma: no cover - a plain petsc4py install also works
        pass
    try:
        from petsc4py import PETSc
    except ImportError as exc:  # pragma: no cover
        raise ConfigError(
            "The PETSc backend needs petsc4py; install it with pip install 'pdeflow[fem]'."
        ) from exc
    return PETSc


def _is_petsc_mat(A: Any) -> bool:
    return type(A).__module__.startswith("petsc4py") and type(A).__name__ == "Mat"


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


def _check_finite_values(values: np.ndarray, what: str) -> None:
    if not np.isfinite(values).all():
        raise DataError(f"{what} contains NaN or Inf; remove non-finite values first.")


@final
class ScipyBackend(AbstractBackend):
    """numpy/scipy backend (serial): scipy.sparse matrices, dense arrays or LinearOperators.

    Examples
    --------
    >>> import scipy.sparse as sp, numpy as np
    >>> op = ScipyBackend().operator(sp.eye(3, format="csr"))
    >>> op.matvec(np.ones(3))
    array([1., 1., 1.])
    """

    name: Final = "scipy"

    def operator(self, A: Any) -> Operator:
        if isinstance(A, Operator):
            return A
        if sp.issparse(A):
            csr = sp.csr_matrix(A, dtype=float) if A.format != "csr" or A.dtype != float else A
            if csr.shape[0] != csr.shape[1]:
                raise ShapeError(f"The matrix must be square; got shape {csr.shape}.")
            _check_finite_values(csr.data, "The matrix")
            n = csr.shape[0]
            return Operator(
                A, n, n, csr.__matmul__, lambda X: np.ascontiguousarray((csr @ X.T).T), csr=csr
            )
        if isinstance(A, np.ndarray):
            if A.ndim != 2 or A.shape[0] != A.shape[1]:
                raise ShapeError(f"The matrix must be square; got shape {A.shape}.")
            _check_finite_values(A, "The matrix")
            dense = np.asarray(A, dtype=float)
            n = dense.shape[0]
            return Operator(
                A, n, n, dense.__matmul__, lambda X: X @ dense.T, csr=sp.csr_matrix(dense)
            )
        if isinstance(A, spla.LinearOperator):
            n = A.shape[0]
            return Operator(A, n, n, A.matvec, lambda X: np.ascontiguousarray(A.matmat(X.T).T))
        if _is_petsc_mat(A):
            raise ConfigError("A PETSc Mat needs the PETSc backend: pass backend=PetscBackend().")
        raise ConfigError(
            "The matrix must be a scipy.sparse matrix, a dense ndarray or a LinearOperator; "
            f"got {type(A).__name__}."
        )

    def allreduce(self, a: np.ndarray) -> np.ndarray:
        return np.asarray(a)

    def dot(self, x: np.ndarray, y: np.ndarray) -> float:
        return float(x @ y)

    def norm(self, x: np.ndarray) -> float:
        return float(np.linalg.norm(x))

    def dots(self, V: np.ndarray, w: np.ndarray) -> np.ndarray:
        return V @ w

    def gram(self, V: np.ndarray, W: np.ndarray) -> np.ndarray:
        return V @ W.T

    def __repr__(self) -> str:
        return "ScipyBackend()"


@final
class PetscBackend(AbstractBackend):
    """PETSc backend: a distributed ``petsc4py`` Mat, local numpy views of PETSc Vecs.

    Matrix-vector products and preconditioners run in PETSc; reductions are one
    ``MPI_Allreduce`` each (fused for blocks).  Works under ``mpiexec -n P``; every
    rank must call the same methods in the same order (the kernels are collective).

    Parameters
    ----------
    comm : mpi4py communicator or petsc4py Comm, optional
        Defaults to ``PETSc.COMM_WORLD``.

    Examples
    --------
    >>> bk = PetscBackend()                                   # doctest: +SKIP
    >>> A = bk.from_csr(scipy_csr)      # each rank keeps its row range  # doctest: +SKIP
    >>> b_local = bk.scatter(b_global)                       # doctest: +SKIP
    """

    name: Final = "petsc"

    def __init__(self, comm: Any = None) -> None:
        PETSc = import_petsc()
        self._PETSc = PETSc
        if comm is None:
            comm = PETSc.COMM_WORLD
        if not isinstance(comm, PETSc.Comm):
            comm = PETSc.Comm(comm)
        self.comm = comm
        self._mpi = comm.tompi4py()
        self._size = comm.getSize()
        self._rank = comm.getRank()

    @property
    def size(self) -> int:
        return self._size

    @property
    def rank(self) -> int:
        return self._rank

    def allreduce(self, a: np.ndarray) -> np.ndarray:
        a = np.ascontiguousarray(a, dtype=float)
        if self._size == 1:
            return a
        out = np.empty_like(a)
        self._mpi.Allreduce(a, out)
        return out

    # ---- distribution helpers -------------------------------------------------------
    def row_range(self, n: int) -> tuple[int, int]:
        """Rows ``[start, end)`` this rank owns for a global size ``n`` (PETSc's default split)."""
        q, r = divmod(n, self._size)
        start = self._rank * q + min(self._rank, r)
        return start, start + q + (1 if self._rank < r else 0)

    def from_csr(self, A: sp.spmatrix) -> Any:
        """Build a distributed AIJ Mat from a global scipy matrix; each rank keeps its row range.

        Collective.  Every rank passes the same global matrix.
        """
        csr = sp.csr_matrix(A, dtype=float)
        n = csr.shape[0]
        _check_finite_values(csr.data, "The matrix")
        lo, hi = self.row_range(n)
        local = csr[lo:hi]
        local.sort_indices()
        PETSc = self._PETSc
        mat = PETSc.Mat().createAIJ(
            size=((hi - lo, n), (hi - lo, n)),
            csr=(
                local.indptr.astype(PETSc.IntType),
                local.indices.astype(PETSc.IntType),
                local.data,
            ),
            comm=self.comm,
        )
        mat.assemble()
        return mat

    def scatter(self, b: np.ndarray) -> np.ndarray:
        """Return this rank's slice of a global vector (every rank passes the whole vector)."""
        lo, hi = self.row_range(len(b))
        return np.ascontiguousarray(np.asarray(b, dtype=float)[lo:hi])

    def gather(self, x: np.ndarray) -> np.ndarray:
        """Assemble the global vector from each rank's slice, on every rank.  Collective."""
        if self._size == 1:
            return np.asarray(x).copy()
        parts = self._mpi.allgather(np.asarray(x))
        return np.concatenate(parts)

    def to_vec(self, x: np.ndarray, op: Operator) -> Any:
        """Copy a local array into a new PETSc Vec laid out like ``op``'s rows."""
        v = op.mat.createVecLeft()
        v.getArray()[:] = x
        return v

    # ---- operators ------------------------------------------------------------------
    def operator(self, A: Any) -> Operator:
        if isinstance(A, Operator):
            return A
        source = A
        if sp.issparse(A) or isinstance(A, np.ndarray):
            A = self.from_csr(sp.csr_matrix(A))
        if not _is_petsc_mat(A):
            raise ConfigError(
                "The PETSc backend needs a petsc4py Mat or a scipy.sparse matrix; "
                f"got {type(A).__name__}."
            )
        m, n = A.getSize()
        if m != n:
            raise ShapeError(f"The matrix must be square; got shape {(m, n)}.")
        if source is A:
            ai, aj, av = A.getValuesCSR()
            flag = float(np.isfinite(av).all())
            if self.allreduce(np.array([flag]))[0] != self._size:
                raise DataError("The matrix contains NaN or Inf; remove non-finite values first.")
        lo, hi = A.getOwnershipRange()
        xv, yv = A.createVecs()

        def apply(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
            y = np.empty(hi - lo) if out is None else out
            xv.placeArray(np.ascontiguousarray(x, dtype=float))
            yv.placeArray(y)
            try:
                A.mult(xv, yv)
            finally:
                xv.resetArray()
                yv.resetArray()
            return y

        def apply_block(X: np.ndarray) -> np.ndarray:
            Y = np.empty_like(X)
            for i in range(X.shape[0]):
                apply(X[i], Y[i])
            return Y

        return Operator(source, hi - lo, m, apply, apply_block, mat=A)

    def __repr__(self) -> str:
        return f"PetscBackend(size={self._size})"


def backend_for(A: Any, backend: AbstractBackend | str | None = None) -> AbstractBackend:
    """Pick the backend for ``A``: the given one, PETSc for a petsc4py Mat, scipy otherwise.

    ``backend`` may be an instance or one of the names ``"scipy"``, ``"petsc"``.
    """
    if isinstance(backend, AbstractBackend):
        return backend
    if backend == "petsc":
        return PetscBackend()
    if backend == "scipy":
        return ScipyBackend()
    if backend is not None:
        raise ConfigError(
            "The 'backend' parameter must be 'scipy', 'petsc' or a backend instance. "
            f"Got {backend!r}."
        )
    if _is_petsc_mat(A):
        return PetscBackend(A.getComm())
    if isinstance(A, Operator) and A.mat is not None:
        return PetscBackend(A.mat.getComm())
    return ScipyBackend()
