"""Full-space Newton for a :class:`ReducedSpaceProblem`: KKT systems by preconditioned MINRES.

At ``(w, z, p)`` the Newton step solves the symmetric saddle-point system::

    [[H_ww, H_wz, B^T], [H_wz^T, H_zz, C^T], [B, C, 0]] [dw; dz; dp] = -[g_w; g_z; F]

with ``H`` the Hessian of the Lagrangian ``J + R + p . F``, by MINRES with the block-diagonal
preconditioner ``diag(J_ww, R, S)`` and the Schur-complement approximation of Pearson &
Wathen (SIAM J. Sci. Comput. 2012), ``S ~ (B + d I) J_ww^{-1} (B + d I)^T`` with
``d = sqrt(j / r)`` for ``J_ww = j I`` and ``R = r I`` (lumped masses), whose inverse costs
two AMG V-cycles (pyamg, set up once for the state operator of the first step and reused).
Its eigenvalues bound the preconditioned spectrum independently of ``h`` and the control
cost for linear-quadratic problems.  Globalized by backtracking on ``||KKT||``; no bounds.
"""

from __future__ import annotations

import time

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from pdeflow.errors import ConfigError
from pdeflow.solvers.optim.newton_cg import ReducedResult
from pdeflow.solvers.optim.pde import LinearCounts, ReducedSpaceProblem, ReducedState
from pdeflow.solvers.optim.result import OptimStatus

__all__ = ["solve_full_space"]


def _kkt_parts(problem: ReducedSpaceProblem, w, z, p):
    B = sp.csr_array(problem.state_jac(w, z))
    C = sp.csr_array(problem.control_jac(w, z))
    gw = problem.misfit(w)[1] + B.T @ p
    gz = problem.reg @ z + C.T @ p
    F = problem.residual(w, z)
    return B, C, np.concatenate([gw, gz, F])


def _weighted_norm(problem, e, nw, nz):
    e = e.copy()
    e[nw + nz:] *= problem.residual_weight
    return float(np.linalg.norm(e))


def solve_full_space(problem: ReducedSpaceProblem, *, tol: float = 1e-8, max_iter: int = 30,
                     minres_rtol: float = 1e-10, amg_cycles: int = 1) -> ReducedResult:
    """Newton in ``(w, z, p)`` with MINRES KKT solves and the AMG block preconditioner.

    Parameters
    ----------
    problem : ReducedSpaceProblem
        With ``reg_scale`` set (``R = r I``), a diagonal ``misfit_hess`` and no bounds.
    tol : float
        On the same KKT residual as :func:`solve_newton_cg` (state residual weighted).
    max_iter : int
    minres_rtol : float
    amg_cycles : int
        V-cycles per application of the shifted state operator's inverse.

    Returns
    -------
    ReducedResult
        ``cg_iterations`` holds the MINRES iterations per Newton step.
    """
    import pyamg

    if problem.bounds is not None or problem.reg_scale is None:
        raise ConfigError("solve_full_space needs an unbounded problem with R = reg_scale * I")
    t0 = time.perf_counter()
    st = ReducedState(problem, problem.z0, problem.w0, LinearCounts())
    w, z, p = st.w.copy(), st.z.copy(), st.adj.copy()
    nw, nz = w.shape[0], z.shape[0]
    jdiag = sp.csr_array(problem.misfit_hess(w)).diagonal()
    r = float(problem.reg_scale)
    d = float(np.sqrt(np.mean(jdiag) / r))
    ml = None
    its, history, status = [], [], OptimStatus.MAX_ITER
    for _ in range(max_iter + 1):
        B, C, e = _kkt_parts(problem, w, z, p)
        kkt = _weighted_norm(problem, e, nw, nz)
        history.append({"kkt": kkt, "f": problem.objective(w, z)})
        if kkt <= tol:
            status = OptimStatus.CONVERGED
            break
        if len(its) == max_iter:
            break
        shifted = sp.csr_matrix(B + d * sp.eye_array(nw))
        if ml is None:
            ml = pyamg.smoothed_aggregation_solver(shifted, symmetry="nonsymmetric"
                                                   if (B != B.T).nnz else "symmetric")
        else:  # same hierarchy, operator values of this step
            ml.levels[0].A = shifted
        K, M = _kkt_system(problem, w, z, p, B, C, jdiag, r, ml, amg_cycles, shifted)
        step, count = _minres(K, -e, M, minres_rtol)
        its.append(count)
        w, z, p = _backtrack(problem, w, z, p, step, kkt, nw, nz)
    return ReducedResult(z=z, w=w, p=p, f=problem.objective(w, z), kkt=kkt, status=status,
                         iterations=len(its), cg_iterations=its,
                         time=time.perf_counter() - t0,
                         info={"history": history, "solver": "full-space MINRES + AMG"})


def _minres(K, b: np.ndarray, M, rtol: float) -> tuple[np.ndarray, int]:
    """MINRES restarted until the TRUE residual is below ``rtol ||b||``.

    MINRES stops on the preconditioner-weighted residual; the blocks of these systems differ
    in scale by ``1/(beta h^4)``, so that norm can be small while the Euclidean one is not.
    """
    count = [0]
    x = np.zeros_like(b)
    bnorm = float(np.linalg.norm(b))
    for _ in range(20):
        x, _ = spla.minres(K, b, x0=x, M=M, rtol=1e-14, maxiter=2000,
                           callback=lambda _x: count.__setitem__(0, count[0] + 1))
        if np.linalg.norm(b - K @ x) <= rtol * bnorm:
            break
    return x, count[0]


def _kkt_system(problem, w, z, p, B, C, jdiag, r, ml, cycles, shifted):
    nw, nz = w.shape[0], z.shape[0]
    Hww = sp.csr_array(problem.misfit_hess(w))
    Hzz = sp.csr_array(problem.reg)
    Hwz = sp.csr_array((nw, nz))
    if problem.residual_hess is not None:
        Www, Wwz, Wzz = problem.residual_hess(w, z, p)
        Hww, Hwz, Hzz = Hww + Www, sp.csr_array(Wwz), Hzz + Wzz
    K = sp.csr_array(sp.block_array([[Hww, Hwz, B.T], [Hwz.T, Hzz, C.T], [B, C, None]]))

    def amg(v: np.ndarray) -> np.ndarray:
        return ml.solve(v, tol=1e-30, maxiter=cycles, cycle="V")

    def amg_t(v: np.ndarray) -> np.ndarray:
        return ml.solve(v, tol=1e-30, maxiter=cycles, cycle="V") if \
            (shifted != shifted.T).nnz == 0 else spla.spsolve(shifted.T.tocsc(), v)

    def apply(v: np.ndarray) -> np.ndarray:
        a, b, c = v[:nw], v[nw:nw + nz], v[nw + nz:]
        y = amg_t(jdiag * amg(c))
        return np.concatenate([a / jdiag, b / r, y])

    n = 2 * nw + nz
    return K, spla.LinearOperator((n, n), matvec=apply, dtype=float)


def _backtrack(problem, w, z, p, step, kkt, nw, nz):
    dw, dz, dp = step[:nw], step[nw:nw + nz], step[nw + nz:]
    alpha = 1.0
    for _ in range(30):
        wt, zt, pt = w + alpha * dw, z + alpha * dz, p + alpha * dp
        e = _kkt_parts(problem, wt, zt, pt)[2]
        if np.all(np.isfinite(e)) and _weighted_norm(problem, e, nw, nz) <= (
                1 - 1e-4 * alpha) * kkt:
            return wt, zt, pt
        alpha *= 0.5
    return w + alpha * dw, z + alpha * dz, p + alpha * dp
