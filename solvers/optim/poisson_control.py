"""PDE-constrained optimization: distributed control of the Poisson equation.

On the unit square with homogeneous Dirichlet data, on the ``N x N`` interior grid
(``h = 1/(N+1)``), with ``A`` the 5-point finite-difference ``-Laplacian``::

    min_{w, z}  1/2 ||w - w_target||^2 + beta/2 ||z||^2   s.t.   A w - z = 0.

Variables ``x = (w, z)`` (``n = 2 N^2``), constraints ``m = N^2``.  The Jacobian
``[A, -I]`` and the Hessian ``diag(I, beta I)`` are constant sparse matrices (scipy.sparse
CSR), so the KKT matrix has about ``7 N^2`` nonzeros per block row.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from pdeflow.errors import ConfigError
from pdeflow.solvers.optim.problem import ConstrainedProblem

__all__ = ["laplacian_2d", "poisson_control"]


def laplacian_2d(N: int) -> sp.csr_array:
    """5-point ``-Laplacian`` on the ``N x N`` interior grid of the unit square.

    Returns
    -------
    scipy.sparse.csr_array, shape (N^2, N^2)
        Symmetric positive definite, entries ``4/h^2`` and ``-1/h^2``, row-major ordering.
    """
    h = 1.0 / (N + 1)
    T = sp.diags_array([-np.ones(N - 1), 2.0 * np.ones(N), -np.ones(N - 1)], offsets=[-1, 0, 1])
    eye = sp.eye_array(N)
    return sp.csr_array((sp.kron(T, eye) + sp.kron(eye, T)) / h**2)


def poisson_control(N: int = 32, beta: float = 1e-3) -> ConstrainedProblem:
    """The distributed Poisson control problem on an ``N x N`` grid.

    Parameters
    ----------
    N : int
        Interior grid points per direction (``n = 2 N^2`` variables).
    beta : float
        Control cost.

    Returns
    -------
    ConstrainedProblem
        Start ``x0 = 0``; target ``w_target = sin(pi x) sin(pi y)``.

    Examples
    --------
    >>> p = poisson_control(8)
    >>> p.x0.shape
    (128,)
    """
    if not isinstance(N, int) or N < 2:
        raise ConfigError(f"The 'N' parameter of poisson_control must be an int in [2, inf). "
                          f"Got {N!r}.")
    if not beta > 0:
        raise ConfigError(f"The 'beta' parameter of poisson_control must be a float in "
                          f"(0, inf). Got {beta!r}.")
    M = N * N
    A = laplacian_2d(N)
    s = np.arange(1, N + 1) / (N + 1)
    X, Y = np.meshgrid(s, s, indexing="ij")
    target = (np.sin(np.pi * X) * np.sin(np.pi * Y)).ravel()
    J = sp.csr_array(sp.hstack([A, -sp.eye_array(M)], format="csr"))
    Hess = sp.diags_array(np.concatenate([np.ones(M), beta * np.ones(M)])).tocsr()

    def f(x: np.ndarray) -> float:
        w, z = x[:M], x[M:]
        d = w - target
        return float(0.5 * d @ d + 0.5 * beta * z @ z)

    def grad(x: np.ndarray) -> np.ndarray:
        return np.concatenate([x[:M] - target, beta * x[M:]])

    def cons(x: np.ndarray) -> np.ndarray:
        return A @ x[:M] - x[M:]

    return ConstrainedProblem(
        f=f, grad=grad, cons=cons, jac=lambda x: J, hess=lambda x, lam: Hess,
        x0=np.zeros(2 * M), name=f"poisson-control-N{N}",
    )
