"""Primal-dual interior point for bounds and inequalities ``g(x) <= 0``.

The problem ``min f(x)  s.t.  c(x) = 0,  g(x) <= 0,  lb <= x <= ub`` gets slacks ``s > 0``
for every inequality row (bounds become the linear rows ``lb - x <= 0`` and ``x - ub <= 0``)
and the barrier subproblem ``min f - mu sum log s  s.t.  c = 0, g + s = 0``.  One Newton
step on its primal-dual conditions, with ``Sigma = diag(nu / s)``, eliminates ``ds`` and
``dnu`` and solves the condensed KKT system::

    [[W + G^T Sigma G + delta I, J^T], [J, -delta_c I]] [dx; dlam] = -[r_x; c],
    r_x = grad f + J^T lam + G^T (mu / s + Sigma (g + s)),

with ``W`` the Hessian of the Lagrangian.  ``delta`` makes the reduced Hessian positive
definite (exact check for small ``n``, curvature test above); ``delta_c > 0`` is the
IPOPT-style regularization tried when ``J`` is rank-deficient.  Steps keep ``s`` and ``nu``
positive (fraction to the boundary ``tau = max(0.99, 1 - mu)``), and backtrack on the
l1 merit ``f - mu sum log s + rho ||(c, g + s)||_1``.  ``mu`` falls superlinearly
(``min(0.2 mu, mu^1.5)``) once the barrier problem is solved to ``10 mu``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from pdeflow.solvers.optim.kkt import DENSE_LIMIT, reduced_hessian_check
from pdeflow.solvers.optim.options import NewtonOptions
from pdeflow.solvers.optim.oracle import NonFiniteError, Oracle, Point
from pdeflow.solvers.optim.problem import ConstrainedProblem
from pdeflow.solvers.optim.result import IterationRecord, OptimizeResult, OptimStatus

__all__ = ["Box", "solve_interior", "box_rows"]

_KAPPA_EPS = 10.0
_PUSH = 1e-2


@dataclass(frozen=True, slots=True)
class Box:
    """Bounds ``lb <= x <= ub`` (entries may be infinite).

    Attributes
    ----------
    lb, ub : ndarray, shape (n,)
    """

    lb: np.ndarray
    ub: np.ndarray

    @property
    def active(self) -> bool:
        """True when at least one bound is finite."""
        return bool(np.isfinite(self.lb).any() or np.isfinite(self.ub).any())

    def push(self, x: np.ndarray) -> np.ndarray:
        """``x`` moved strictly inside the box (IPOPT's bound push), shape (n,)."""
        with np.errstate(invalid="ignore"):
            lo = self.lb + _PUSH * np.maximum(1.0, np.abs(self.lb))
            hi = self.ub - _PUSH * np.maximum(1.0, np.abs(self.ub))
        mid = 0.5 * (self.lb + self.ub)
        both = np.isfinite(self.lb) & np.isfinite(self.ub) & (lo > hi)
        out = np.minimum(np.maximum(x, np.where(both, mid, lo)), np.where(both, mid, hi))
        return np.where(np.isfinite(out), out, x)


def box_rows(box: Box) -> tuple[sp.csr_array, np.ndarray]:
    """Bounds as linear rows ``E x - d <= 0``: ``E`` (q, n), ``d`` (q,), lower rows first."""
    n = box.lb.shape[0]
    lo, hi = np.flatnonzero(np.isfinite(box.lb)), np.flatnonzero(np.isfinite(box.ub))
    rows = np.arange(lo.size + hi.size)
    cols = np.concatenate([lo, hi])
    vals = np.concatenate([-np.ones(lo.size), np.ones(hi.size)])
    E = sp.csr_array((vals, (rows, cols)), shape=(rows.size, n))
    return E, np.concatenate([-box.lb[lo], box.ub[hi]])


class _Model:
    """Evaluates ``f, c, J`` and the stacked inequalities ``[g(x); E x - d]``."""

    def __init__(self, problem: ConstrainedProblem, n: int, box: Box) -> None:
        self.oracle = Oracle(problem, n, allow_empty=True)
        self.E, self.d = box_rows(box)

    def at(self, x: np.ndarray) -> tuple[Point, np.ndarray, sp.csr_array, int]:
        P = self.oracle.point(x)
        gx, G = self.oracle.inequalities(x)
        g_all = np.concatenate([gx, self.E @ x - self.d])
        return P, g_all, sp.csr_array(sp.vstack([G, self.E], format="csr")), gx.shape[0]


def _solve_condensed(
    W: sp.csr_array, J: sp.csr_array, rhs: np.ndarray, delta: float, delta_c: float
) -> np.ndarray | None:
    n, m = W.shape[0], J.shape[0]
    B = W + delta * sp.eye_array(n, format="csr") if delta else W
    K = sp.block_array([[B, J.T], [J, -delta_c * sp.eye_array(m) if m else None]],
                       format="csc") if m else sp.csc_array(B)
    try:
        z = spla.splu(K, permc_spec="COLAMD").solve(rhs)
    except RuntimeError:
        return None
    if not np.all(np.isfinite(z)) or np.linalg.norm(K @ z - rhs) > 1e-6 * max(
            1.0, np.linalg.norm(rhs)):
        return None
    return z


def _regularization(W: sp.csr_array, J: sp.csr_array, mu: float) -> tuple[float, float]:
    """``(delta, delta_c)``: inertia correction for small ``n``; zeros above DENSE_LIMIT."""
    n = W.shape[0]
    if n > DENSE_LIMIT:
        return 0.0, 0.0
    if J.shape[0] == 0:
        lo = float(np.linalg.eigvalsh(W.toarray())[0])
        hi = float(np.max(np.abs(W.data))) if W.nnz else 1.0
        return (0.0 if lo > 1e-10 * max(1.0, hi) else -lo + 1e-4 * max(1.0, hi)), 0.0
    curv = reduced_hessian_check(W, J)
    if curv.rank_deficient:  # IPOPT: regularize the (2, 2) block first
        return 1e-8, 1e-8 * mu**0.25
    return curv.delta, 0.0


def _kkt_error(Pt: Point, lam: np.ndarray, g: np.ndarray, G: sp.csr_array, nu: np.ndarray,
               s: np.ndarray, mu: float) -> tuple[float, np.ndarray]:
    rd = Pt.g + Pt.J.T @ lam + G.T @ nu
    parts = [np.abs(rd).max(initial=0.0), np.abs(Pt.c).max(initial=0.0),
             np.abs(g + s).max(initial=0.0), np.abs(s * nu - mu).max(initial=0.0)]
    return max(parts), rd


def _kkt_norm(Pt: Point, lam: np.ndarray, g: np.ndarray, G: sp.csr_array,
              nu: np.ndarray) -> float:
    """``||(grad_x L, c, max(g, 0), nu * g)||_2``: the reported KKT residual."""
    rd = Pt.g + Pt.J.T @ lam + G.T @ nu
    return float(np.linalg.norm(np.concatenate([rd, Pt.c, np.maximum(g, 0.0), nu * g])))


def solve_interior(
    problem: ConstrainedProblem, x0: np.ndarray, box: Box, opts: NewtonOptions, method: str
) -> OptimizeResult:
    """Run the primal-dual interior-point method; see the module docstring.

    Parameters
    ----------
    problem : ConstrainedProblem
    x0 : ndarray, shape (n,)
    box : Box
    opts : NewtonOptions
        Uses ``tol``, ``max_iter``, ``sigma``.
    method : str
        Name stored in the result.

    Returns
    -------
    OptimizeResult
        ``lam`` holds ``m + p`` multipliers (equalities, then ``g``); bound multipliers are
        in ``info["bound_multipliers"]`` (lower, upper), each (n,).

    Examples
    --------
    >>> import numpy as np
    >>> from pdeflow.solvers.optim import ConstrainedProblem, minimize
    >>> p = ConstrainedProblem.from_numpy(lambda x: (x[0] - 2) ** 2 + x[1] ** 2, None,
    ...                                   [0.0, 0.5])
    >>> res = minimize(p, method="newton", bounds=[(None, 1.0), (0.5, None)])
    >>> np.round(res.x, 6)
    array([1. , 0.5])
    """
    t0 = time.perf_counter()
    n = x0.shape[0]
    model = _Model(problem, n, box)
    info: dict = {"solver": "interior-point (sparse LU on the condensed KKT system)"}
    history: list[IterationRecord] = []
    x = box.push(np.asarray(x0, float))
    mu = 0.1
    mu_min = 0.0
    status, lam = OptimStatus.MAX_ITER, np.zeros(0)
    nu = s = np.zeros(0)
    P = None
    rho = 1.0
    try:
        P, g, G, pg = model.at(x)
        m, p = P.c.shape[0], g.shape[0]
        mu_min = opts.tol / (10.0 * max(1.0, np.sqrt(p)))
        s = np.maximum(-g, 1e-2)
        s[pg:] = np.maximum(-g[pg:], 1e-12)  # bound rows are exact: x is inside the box
        nu = mu / s
        lam = np.zeros(m)
        for it in range(opts.max_iter + 1):
            if _kkt_norm(P, lam, g, G, nu) <= opts.tol:
                status = OptimStatus.CONVERGED
                break
            while mu > mu_min and _kkt_error(P, lam, g, G, nu, s, mu)[0] <= _KAPPA_EPS * mu:
                mu = max(mu_min, min(0.2 * mu, mu**1.5))
            if it == opts.max_iter:
                break
            step = _step(model, problem, P, g, G, pg, lam, nu, s, mu, rho, opts)
            if step is None:
                status = OptimStatus.SINGULAR_KKT
                break
            if step == "linesearch":
                status = OptimStatus.LINESEARCH_FAILED
                break
            (P, g, G, lam, nu, s, rho), rec = step
            singular = rec.pop("delta_c") > 0
            history.append(IterationRecord(iteration=it, barrier=mu, **rec))
            x = P.x
            if singular and _stalled(history, opts.tol):
                info["reason"] = ("the constraint Jacobian is rank-deficient and the "
                                  "violation stopped decreasing under regularization: the "
                                  "constraints are inconsistent")
                status = OptimStatus.SINGULAR_KKT
                break
    except NonFiniteError as exc:
        info["nonfinite"] = str(exc)
        status = OptimStatus.NONFINITE
    return _result(P, x, lam, nu, s, g if P is not None else None, G if P is not None else None,
                   pg if P is not None else 0, box, status, model.oracle, t0, method, history,
                   info)


def _step(model, problem, P, g, G, pg, lam, nu, s, mu, rho, opts):
    """One damped Newton step; ``None`` for a singular system, ``"linesearch"`` on failure."""
    n, m = P.x.shape[0], P.c.shape[0]
    W = model.oracle.hessian(P.x, np.concatenate([lam, nu[:pg]]))
    sigma = nu / s
    rg = g + s
    Wc = sp.csr_array(W + G.T @ sp.diags_array(sigma) @ G)
    rx = P.g + P.J.T @ lam + G.T @ (mu / s + sigma * rg)
    delta, delta_c = _regularization(Wc, P.J, mu)
    for _ in range(12):
        z = _solve_condensed(Wc, P.J, -np.concatenate([rx, P.c]), delta, delta_c)
        if z is None:
            if delta_c == 0.0 and m:
                delta_c = 1e-8 * mu**0.25
            delta = max(10 * delta, 1e-4)
            continue
        dx, dlam = z[:n], z[n:]
        curv = float(dx @ (Wc @ dx) + delta * dx @ dx)
        if n > DENSE_LIMIT and curv < 1e-10 * float(dx @ dx):
            delta = max(10 * delta, 1e-4)
            continue
        break
    else:
        return None
    ds = -rg - G @ dx
    dnu = -nu + mu / s + sigma * (rg + G @ dx)
    tau = max(0.99, 1.0 - mu)
    a_p = _max_step(s, ds, tau)
    a_d = _max_step(nu, dnu, tau)
    viol = float(np.abs(P.c).sum() + np.abs(rg).sum())
    dphi = float(P.g @ dx - mu * np.sum(ds / s))
    if viol > 0:
        rho = max(rho, 1.1 * np.abs(np.concatenate([lam + dlam, nu + dnu])).max(initial=0.0),
                  2.0 * dphi / viol)
    slope = dphi - rho * viol
    phi0 = _merit(P.f, P.c, rg, s, mu, rho)
    alpha = a_p
    for _ in range(40):
        try:
            xt = P.x + alpha * dx
            st = s + alpha * ds
            Pt, gt, Gt, _ = model.at(xt)
            val = _merit(Pt.f, Pt.c, gt + st, st, mu, rho)
        except NonFiniteError:
            val = np.inf
        if np.isfinite(val) and val <= phi0 + opts.sigma * alpha * min(slope, 0.0) + \
                1e-12 * max(1.0, abs(phi0)):
            break
        alpha *= 0.5
    else:
        return "linesearch"
    lam_t = lam + alpha * dlam if m else lam
    nu_t = nu + a_d * dnu
    # keep nu s within [mu / kappa, kappa mu] of the central path (IPOPT's safeguard)
    nu_t = np.clip(nu_t, mu / (1e10 * st), 1e10 * mu / st)
    rec = dict(kkt=_kkt_norm(P, lam, g, G, nu), f=P.f,
               cnorm=float(np.linalg.norm(np.concatenate([P.c, np.maximum(g, 0)]))),
               merit=phi0, merit_next=float(val), slope=slope, step=alpha, eta1=rho, eta2=0.0,
               regularization=delta, accuracy=0.0, residual=0.0, linear_steps=1, flops=0.0,
               delta_c=delta_c)
    return (Pt, gt, Gt, lam_t, nu_t, st, rho), rec


def _stalled(history: list[IterationRecord], tol: float, window: int = 10) -> bool:
    """True when ``||c||`` has not fallen by 1% over the last ``window`` iterations."""
    if len(history) <= window:
        return False
    now, before = history[-1].cnorm, history[-1 - window].cnorm
    return now > max(tol, 1e-6) and now >= 0.99 * before


def _max_step(v: np.ndarray, dv: np.ndarray, tau: float) -> float:
    neg = dv < 0
    if not neg.any():
        return 1.0
    return float(min(1.0, np.min(-tau * v[neg] / dv[neg])))


def _merit(f: float, c: np.ndarray, rg: np.ndarray, s: np.ndarray, mu: float,
           rho: float) -> float:
    if np.any(s <= 0):
        return np.inf
    return float(f - mu * np.sum(np.log(s)) + rho * (np.abs(c).sum() + np.abs(rg).sum()))


def _result(P, x, lam, nu, s, g, G, pg, box, status, oracle, t0, method, history, info):
    n = x.shape[0]
    lower, upper = np.zeros(n), np.zeros(n)
    if P is None:
        kkt, fval = float("nan"), float("nan")
    else:
        kkt = _kkt_norm(P, lam, g, G, nu)
        fval = P.f
        lo, hi = np.flatnonzero(np.isfinite(box.lb)), np.flatnonzero(np.isfinite(box.ub))
        nb = nu[pg:]
        lower[lo], upper[hi] = nb[: lo.size], nb[lo.size:]
    info["bound_multipliers"] = (lower, upper)
    mult = np.concatenate([lam, nu[:pg]]) if P is not None else lam
    return OptimizeResult(
        x=x, lam=mult, status=status, f=fval, kkt=kkt, iterations=len(history),
        nfev=oracle.nfev, ngev=oracle.ngev, njev=oracle.njev, nhev=oracle.nhev,
        time=time.perf_counter() - t0, method=method, history=tuple(history), info=info,
    )
