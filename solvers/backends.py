"""Linear-algebra backends: the only kernels a Krylov method sees.

The contract (:class:`Operator`, :class:`AbstractBackend`) lives in
:mod:`pdeflow.solvers.backend_base`, the PETSc backend in :mod:`pdeflow.solvers.petsc`;
this module holds the serial scipy backend and :func:`backend_for`, which picks one.
See :mod:`~pdeflow.solvers.backend_base` for the data layout.
"""

from __future__ import annotations

from typing import Any, Final, final

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from pdeflow.errors import ConfigError, ShapeError

from .backend_base import AbstractBackend, Operator, check_finite_values
from .petsc import PetscBackend, import_petsc, is_petsc_mat

__all__ = [
    "AbstractBackend",
    "Operator",
    "ScipyBackend",
    "PetscBackend",
    "backend_for",
    "import_petsc",
]


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
            check_finite_values(csr.data, "The matrix")
            n = csr.shape[0]
            return Operator(
                A, n, n, csr.__matmul__, lambda X: np.ascontiguousarray((csr @ X.T).T), csr=csr
            )
        if isinstance(A, np.ndarray):
            if A.ndim != 2 or A.shape[0] != A.shape[1]:
                raise ShapeError(f"The matrix must be square; got shape {A.shape}.")
            check_finite_values(A, "The matrix")
            dense = np.asarray(A, dtype=float)
            n = dense.shape[0]
            return Operator(
                A, n, n, dense.__matmul__, lambda X: X @ dense.T, csr=sp.csr_matrix(dense)
            )
        if isinstance(A, spla.LinearOperator):
            n = A.shape[0]
            return Operator(A, n, n, A.matvec, lambda X: np.ascontiguousarray(A.matmat(X.T).T))
        if is_petsc_mat(A):
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
    if is_petsc_mat(A):
        return PetscBackend(A.getComm())
    if isinstance(A, Operator) and A.mat is not None:
        return PetscBackend(A.mat.getComm())
    return ScipyBackend()
