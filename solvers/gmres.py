"""Restarted GMRES(m) with right preconditioning, and flexible GMRES."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from pdeflow.threads import krylov_threads

from ._common import check_int, setup_solve
from .arnoldi import arnoldi_cycle
from .backends import AbstractBackend
from .status import SolveResult, SolveStatus

__all__ = ["gmres", "fgmres"]


@krylov_threads
def gmres(
    A: Any,
    b: Any,
    *,
    x0: Any = None,
    M: Any = None,
    restart: int = 40,
    rtol: float = 1e-8,
    atol: float = 0.0,
    max_iter: int = 10_000,
    flexible: bool = False,
    backend: AbstractBackend | str | None = None,
    raise_on_failure: bool = True,
) -> SolveResult:
    """Solve ``A x = b`` by restarted GMRES(m), right preconditioned: ``A M^{-1} (M x) = b``.

    Stops when ``||b - A x||_2 <= max(rtol ||b||_2, atol)``; the true residual is
    recomputed at every restart.

    Parameters
    ----------
    A : scipy.sparse matrix, ndarray, LinearOperator or petsc4py Mat, shape (n, n)
    b : ndarray, shape (n_local,)
        Right-hand side (the rank's owned rows on the PETSc backend).
    x0 : ndarray, shape (n_local,), optional
        Initial guess (zero by default).
    M : preconditioner, optional
        A name (``"ilu"``), a spec (:class:`~pdeflow.solvers.AMG`), a built preconditioner
        or a callable ``r -> z ≈ A^{-1} r``.
    restart : int
        Krylov dimension ``m`` per cycle.
    rtol, atol : float
        Relative (to ``||b||``) and absolute tolerances.
    max_iter : int
        Maximum total Krylov iterations.
    flexible : bool
        Flexible GMRES: stores ``Z = M^{-1} V`` so that ``M`` may change from step to step.
    backend : "scipy", "petsc" or a backend, optional
        Inferred from ``A`` by default.
    raise_on_failure : bool
        Raise :class:`~pdeflow.errors.ConvergenceError` on divergence (default) or return
        the result with its negative :class:`SolveStatus`.

    Returns
    -------
    SolveResult
        ``x`` of shape ``(n_local,)``, status, iterations, residual history, time.

    Examples
    --------
    >>> import scipy.sparse as sp, numpy as np
    >>> A = sp.diags([-1.0, 2.2, -1.0], [-1, 0, 1], shape=(50, 50), format="csr")
    >>> res = gmres(A, np.ones(50), rtol=1e-10)
    >>> res.status.name, bool(np.linalg.norm(A @ res.x - 1) < 1e-8)
    ('CONVERGED_RTOL', True)
    """
    owner = "fgmres" if flexible else "gmres"
    t0 = time.perf_counter()
    restart = check_int(owner, "restart", restart, 1)
    max_iter = check_int(owner, "max_iter", max_iter, 0)
    s = setup_solve(owner, A, b, x0, M, rtol, atol, backend)
    r = s.b - s.op.matvec(s.x) if x0 is not None else s.b.copy()
    status, its, restarts, history = _restarted(s, s.x, r, restart, max_iter, flexible)
    info = {"restarts": restarts, "preconditioner": s.pc_name, "backend": s.backend.name}
    res = SolveResult(
        s.x, status, its, np.asarray(history), time.perf_counter() - t0, owner, None, info
    )
    return res.raise_if_failed() if raise_on_failure else res


def _restarted(
    s: Any, x: np.ndarray, r: np.ndarray, restart: int, max_iter: int, flexible: bool
) -> tuple[SolveStatus, int, int, list[float]]:
    """GMRES cycles of ``restart`` Arnoldi steps until ``s.stop_status`` says stop; updates
    ``x`` in place.  Returns ``(status, iterations, restarts, residual norms)``."""
    bk, op = s.backend, s.op
    beta = bk.norm(r)
    history = [beta]
    basis = np.empty((restart + 1, op.n_local))
    Z = np.empty((restart, op.n_local)) if (flexible and s.M is not None) else None
    its = restarts = 0
    while (status := s.stop_status(beta, its, max_iter)) is None:
        cyc = arnoldi_cycle(
            bk, op, s.M, basis, 0, r, beta, min(restart, max_iter - its), s.target, Z
        )
        its += cyc.steps
        history.extend(cyc.residuals)
        if not cyc.finite:
            status = SolveStatus.DIVERGED_NANORINF
            break
        j = cyc.steps
        if j:
            if Z is not None:
                x += cyc.y @ Z[:j]
            elif s.M is not None:
                x += s.M(cyc.y @ basis[:j])
            else:
                x += cyc.y @ basis[:j]
        r = s.b - op.matvec(x)
        beta = bk.norm(r)
        restarts += 1
        if cyc.breakdown and beta > s.target:
            status = SolveStatus.DIVERGED_BREAKDOWN
            break
    history[-1] = beta
    return status, its, restarts, history


def fgmres(A: Any, b: Any, **kwargs: Any) -> SolveResult:
    """Flexible GMRES: :func:`gmres` with ``flexible=True`` (``M`` may vary per step)."""
    return gmres(A, b, flexible=True, **kwargs)
