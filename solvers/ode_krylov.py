"""Newton-matrix solves of stiff integrators by GMRES with a reused incomplete-LU preconditioner.

BDF's Newton iteration solves ``(I - c J) dy = r`` with ``c = h / alpha_k`` changing with
every change of step size or order.  A direct solver refactors at each change.  Where the
factors fill in heavily (a reaction network couples most species through a few hubs:
the BCR network's 1,122 unknowns and 31k Jacobian entries fill to 210k-316k for any
SuperLU ordering, 25-31 ms per factorization) that refactorization dominates the solve.

:class:`KrylovNewtonSolver` instead

* multiplies by the exact sparse ``I - c J`` of the current step;
* preconditions from the right with an incomplete LU (scipy ``spilu``, SuperLU's ILUTP)
  of an *earlier* matrix, rebuilt only when GMRES needed more than ``refresh_after``
  iterations on the previous solve or the matrix has drifted from it, so one ILU
  serves many step-size changes;
* measures the residual in the integrator's error weights ``atol + rtol |y|``, as
  CVODE's scaled Krylov solvers do (a 2-norm test would leave species many orders of
  magnitude below the largest unresolved: unscaled, the repressilator took 97k steps to
  t=8000 instead of the direct solver's ~550);
* on a solve that GMRES does not finish, rebuilds the preconditioner from the current
  matrix and retries once, then falls back to an exact ``splu`` of it (counted in
  :attr:`KrylovNewtonSolver.stats`, never silent).

Measured on BCR (``benchmarks/bcr.py``, rtol = atol = 1e-8, scipy's BDF step control),
same process: the same 2,964 steps and 9.3k Newton solves took 15.6 s with a SuperLU
factorization per matrix and 5.8-6.4 s with this solver (104 ILUs for 581 matrices, 3.2
GMRES iterations per solve).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import norm as sparse_norm
from scipy.sparse.linalg import spilu, splu

from pdeflow.errors import ConfigError

from .arnoldi import arnoldi_cycle
from .backends import Operator, ScipyBackend

__all__ = ["KrylovNewtonSolver"]

_SERIAL = ScipyBackend()


class KrylovNewtonSolver:
    """Solves with a sequence of matrices ``A_k = I - c_k J_k`` sharing one sparsity pattern.

    Parameters
    ----------
    rtol : float
        GMRES stops at ``||b - A x|| <= rtol ||b||`` (scaled, see :meth:`factor`).  The
        default 1e-6 keeps BDF's step sequence that of exact solves on the networks
        measured (BCR, the repressilator, Robertson); 1e-3 saves ~10% of the BCR solve but
        cost Robertson 741 steps instead of 664.
    max_iterations : int
        GMRES iterations per solve (one cycle, no restart) before the retry.
    refresh_after : int
        Rebuild the ILU at the next new matrix once a solve needed more iterations.
    max_drift : float
        Rebuild it also when a new matrix differs from the one it was built from by more
        than this, relative (``||A - A_pc||_F / ||A||_F``): iteration counts alone never
        trigger a rebuild on a system so small that GMRES always finishes in a few
        iterations, however poor the preconditioner.
    drop_tol, fill_factor : float
        ``spilu`` parameters of the preconditioner.

    Attributes
    ----------
    stats : dict
        ``{"matrices", "ilu", "solves", "krylov_iterations", "retries", "lu_fallbacks"}``.
    """

    def __init__(self, rtol: float = 1e-6, max_iterations: int = 30, refresh_after: int = 4,
                 max_drift: float = 0.5,
                 drop_tol: float = 1e-3, fill_factor: float = 3.0) -> None:
        if not 0.0 < rtol < 1.0:
            raise ConfigError(f"KrylovNewtonSolver rtol must be in (0, 1), got {rtol!r}")
        if max_iterations < 1 or refresh_after < 0 or not max_drift > 0:
            raise ConfigError(f"KrylovNewtonSolver needs max_iterations >= 1, refresh_after "
                              f">= 0 and max_drift > 0, got {max_iterations!r}, "
                              f"{refresh_after!r}, {max_drift!r}")
        self.rtol = float(rtol)
        self.max_iterations = int(max_iterations)
        self.max_drift = float(max_drift)
        self._pc_matrix: sp.csr_matrix | None = None
        self._basis = np.empty((0, 0))  # the Krylov basis, reused by every solve
        self.refresh_after = int(refresh_after)
        self.drop_tol = float(drop_tol)
        self.fill_factor = float(fill_factor)
        self._precond: Callable[[np.ndarray], np.ndarray] | None = None
        self._last_iterations = 0
        self.stats = {"matrices": 0, "ilu": 0, "solves": 0, "krylov_iterations": 0,
                      "retries": 0, "lu_fallbacks": 0}

    def factor(self, A: sp.sparray | sp.spmatrix) -> Callable[..., np.ndarray]:
        """Take a new matrix ``A`` (n, n); return ``solve(b, scale=None, atol=0) -> x``.

        GMRES runs on the right-preconditioned system ``A M^-1 u = b``, ``x = M^-1 u``, so
        its stop test bounds the true residual ``b - A x``.  With ``scale`` (n,), positive
        (the integrator's error weights ``atol + rtol |y|``), that residual is measured in
        units of ``scale`` (``D^-1 A M^-1 D u = D^-1 b``, ``x = M^-1 D u``), as CVODE's
        scaled Krylov solvers do: species that differ by orders of magnitude are then
        resolved alike, not only the largest.  ``atol`` bounds the scaled residual's
        2-norm absolutely: a step far below the Newton tolerance needs no relative
        accuracy.
        """
        A = sp.csr_matrix(A)
        self.stats["matrices"] += 1
        if (self._precond is None or self._last_iterations > self.refresh_after
                or self._drift(A) > self.max_drift):
            self._refresh(A)
        return lambda b, scale=None, atol=0.0: self._solve(A, b, scale, atol)

    def _drift(self, A: sp.csr_matrix) -> float:
        old = self._pc_matrix
        if old is None or old.shape != A.shape:
            return math.inf
        return float(sparse_norm(A - old) / max(sparse_norm(A), np.finfo(float).tiny))

    def _refresh(self, A: sp.csr_matrix) -> None:
        self.stats["ilu"] += 1
        self._pc_matrix = A
        try:
            ilu = spilu(A.tocsc(), drop_tol=self.drop_tol, fill_factor=self.fill_factor)
        except RuntimeError:  # singular incomplete factor: precondition with the exact one
            ilu = splu(A.tocsc())
        self._precond = ilu.solve
        self._last_iterations = 0

    def _gmres(self, A: sp.csr_matrix, b: np.ndarray, scale: np.ndarray | None,
               atol: float) -> tuple[np.ndarray, bool, int]:
        """One GMRES cycle (:func:`~pdeflow.solvers.arnoldi.arnoldi_cycle`) on
        ``D^-1 A M^-1 D u = D^-1 b``, ``x = M^-1 D u`` (``D = diag(scale)``, or ``I``)."""
        precond = self._precond
        n = b.shape[0]
        if scale is None:
            apply_M, product, rhs = precond, A.dot, b
        else:
            def apply_M(v: np.ndarray) -> np.ndarray:
                return precond(scale * v)

            def product(z: np.ndarray) -> np.ndarray:
                return A.dot(z) / scale

            rhs = b / scale
        beta = float(np.linalg.norm(rhs))
        if beta == 0.0 or beta <= atol:  # the step is below the floor already
            return np.zeros(n), True, 0
        target = max(self.rtol * beta, atol)
        if self._basis.shape != (self.max_iterations + 1, n):
            self._basis = np.empty((self.max_iterations + 1, n))
        basis = self._basis
        cycle = arnoldi_cycle(_SERIAL, Operator(None, n, n, product, None), apply_M, basis, 0,
                              rhs, beta, self.max_iterations, target, None)
        # a lucky breakdown leaves a residual estimate of ~0 too; a singular one does not
        reached = bool(cycle.residuals) and cycle.residuals[-1] <= target
        x = apply_M(cycle.y @ basis[: cycle.steps])
        return x, cycle.finite and reached and bool(np.isfinite(x).all()), cycle.steps

    def _solve(self, A: sp.csr_matrix, b: np.ndarray, scale: np.ndarray | None,
               atol: float) -> np.ndarray:
        self.stats["solves"] += 1
        if not np.isfinite(b).all():  # nothing to solve: the Newton iteration rejects it
            return np.full(b.shape[0], np.nan)
        x, ok, its = self._gmres(A, b, scale, atol)
        self.stats["krylov_iterations"] += its
        if not ok:  # a stale preconditioner: rebuild it from this matrix and try again
            self.stats["retries"] += 1
            self._refresh(A)
            x, ok, its = self._gmres(A, b, scale, atol)
            self.stats["krylov_iterations"] += its
        if not ok:
            self.stats["lu_fallbacks"] += 1
            return splu(A.tocsc()).solve(b)
        self._last_iterations = its
        return x
