"""Pieces shared by the Newton drivers: start multipliers and the final result."""

from __future__ import annotations

import time

import numpy as np
import scipy.linalg as sla
import scipy.sparse.linalg as spla

from pdeflow.solvers.optim.kkt import DENSE_LIMIT
from pdeflow.solvers.optim.options import NewtonOptions
from pdeflow.solvers.optim.oracle import Oracle, Point
from pdeflow.solvers.optim.problem import as_vector
from pdeflow.solvers.optim.result import IterationRecord, OptimizeResult, OptimStatus

__all__ = ["initial_multipliers", "kkt_norm", "build_result"]


def initial_multipliers(P: Point, opts: NewtonOptions) -> np.ndarray:
    """``lam0``: least-squares multipliers ``argmin ||grad f + J^T lam||``, zeros, or given.

    ``"auto"`` means least squares (dense) for ``n <= DENSE_LIMIT`` and zeros above: the
    first Newton step computes multipliers anyway, and a sparse least-squares solve can
    cost as much as the whole Newton step on large problems.

    Shapes: returns (m,).
    """
    m, n = P.J.shape
    if not isinstance(opts.lambda0, str):
        return as_vector(opts.lambda0, "lambda0", m).copy()
    if opts.lambda0 == "zeros" or (opts.lambda0 == "auto" and n > DENSE_LIMIT):
        return np.zeros(m)
    if n <= DENSE_LIMIT:
        lam, *_ = sla.lstsq(P.J.T.toarray(), -P.g)
        return np.asarray(lam, dtype=float)
    return np.asarray(spla.lsqr(P.J.T, -P.g, atol=1e-12, btol=1e-12, iter_lim=2000)[0])


def kkt_norm(P: Point, lam: np.ndarray) -> tuple[np.ndarray, float]:
    """The KKT vector ``e = (grad_x L, c)`` (shape (n + m,)) and its 2-norm."""
    e = np.concatenate([P.grad_lagrangian(lam), P.c])
    return e, float(np.linalg.norm(e))


def build_result(
    *,
    P: Point | None,
    x: np.ndarray,
    lam: np.ndarray,
    status: OptimStatus,
    iterations: int,
    oracle: Oracle,
    t0: float,
    method: str,
    history: list[IterationRecord],
    info: dict,
) -> OptimizeResult:
    """Assemble the immutable :class:`OptimizeResult`."""
    if P is not None:
        _, kkt = kkt_norm(P, lam)
        fval = P.f
    else:
        kkt, fval = float("nan"), float("nan")
    return OptimizeResult(
        x=x, lam=lam, status=status, f=fval, kkt=kkt, iterations=iterations,
        nfev=oracle.nfev, ngev=oracle.ngev, njev=oracle.njev, nhev=oracle.nhev,
        time=time.perf_counter() - t0, method=method, history=tuple(history), info=info,
    )
