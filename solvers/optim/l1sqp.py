"""l1-merit SQP with GMRES: the paper's second in-house baseline.

Each iteration solves the same KKT system as :mod:`.adasketch`, inexactly, with restarted
GMRES (relative accuracy ``theta``, sharpened like adasketch), and runs Armijo on the
non-smooth merit ``phi_mu(x) = f + mu ||c||_1`` with the directional derivative
``D = grad f^T dx + mu (||c + J dx||_1 - ||c||_1)``.  The penalty follows the classical
rule ``mu >= ||lam + dlam||_inf + margin`` (Han, 1977).  The multipliers take the same step
``alpha``.
"""

from __future__ import annotations

import time

import numpy as np

from pdeflow.solvers.optim.common import build_result, initial_multipliers, kkt_norm
from pdeflow.solvers.optim.kkt import DENSE_LIMIT, assemble_kkt, reduced_hessian_check
from pdeflow.solvers.optim.linesearch import armijo
from pdeflow.solvers.optim.linsolve import GmresSolver
from pdeflow.solvers.optim.merit import l1_merit
from pdeflow.solvers.optim.options import NewtonOptions
from pdeflow.solvers.optim.oracle import NonFiniteError, Oracle, Point
from pdeflow.solvers.optim.problem import ConstrainedProblem
from pdeflow.solvers.optim.result import IterationRecord, OptimizeResult, OptimStatus

__all__ = ["solve_l1sqp"]

_MARGIN = 1e-4
_MAX_ADAPT = 40


def _only_multipliers(dx: np.ndarray, x: np.ndarray) -> bool:
    """True when the step leaves ``x`` in place (only the multipliers are wrong)."""
    return float(np.linalg.norm(dx)) <= 1e-12 * (1.0 + float(np.linalg.norm(x)))


def solve_l1sqp(
    problem: ConstrainedProblem, x0: np.ndarray, opts: NewtonOptions
) -> OptimizeResult:
    """Run l1-merit SQP with GMRES KKT solves.

    Parameters
    ----------
    problem : ConstrainedProblem
    x0 : ndarray, shape (n,)
    opts : NewtonOptions
        Uses ``tol, max_iter, accuracy, sharpen, accuracy_min, rho, sigma,
        max_sketch_steps`` (as the GMRES iteration budget), ``gmres_restart``, ``lambda0``.

    Returns
    -------
    OptimizeResult
    """
    t0 = time.perf_counter()
    n = x0.shape[0]
    oracle = Oracle(problem, n)
    solver = GmresSolver(opts.gmres_restart)
    rng = np.random.default_rng(opts.seed)
    info = {"solver": repr(solver)}
    history: list[IterationRecord] = []
    x = x0.copy()
    try:
        P = oracle.point(x)
    except NonFiniteError:
        return build_result(P=None, x=x, lam=np.zeros(oracle.m or 0), iterations=0,
                            status=OptimStatus.NONFINITE, oracle=oracle, t0=t0,
                            method="l1sqp", history=history, info=info)
    lam = initial_multipliers(P, opts)
    budget = opts.max_sketch_steps or max(10**4, 10 * (n + lam.shape[0]))
    mu = 1.0
    status = OptimStatus.MAX_ITER
    try:
        H = oracle.hessian(x, lam)
        for it in range(opts.max_iter + 1):
            e, enorm = kkt_norm(P, lam)
            if enorm <= opts.tol:
                status = OptimStatus.CONVERGED
                break
            if it == opts.max_iter:
                break
            delta = 0.0
            if n <= DENSE_LIMIT:
                curv = reduced_hessian_check(H, P.J)
                if curv.rank_deficient:
                    status = OptimStatus.SINGULAR_KKT
                    break
                delta = curv.delta
            theta = min(opts.accuracy, enorm) if opts.sharpen else opts.accuracy
            theta = max(theta, opts.accuracy_min)
            K = assemble_kkt(H, P.J, delta)
            state = solver.start(K, -e, rng, n_primal=n)
            steps = 0
            slope = 0.0
            for _ in range(_MAX_ADAPT):
                before = state.steps
                state = solver.refine(K, state, theta * enorm, max(budget - steps, 1))
                steps += state.steps - before
                dx, dlam = state.z[:n], state.z[n:]
                lam_plus = lam + dlam
                need = float(np.max(np.abs(lam_plus))) + _MARGIN if lam_plus.size else _MARGIN
                if mu < need:
                    mu = max(opts.rho * mu, need)
                c1 = float(np.sum(np.abs(P.c)))
                slope = float(P.g @ dx) + mu * (float(np.sum(np.abs(P.c + P.J @ dx))) - c1)
                if slope < 0.0 or _only_multipliers(dx, x):
                    break
                if theta > opts.accuracy_min and state.rnorm > 0.0:
                    theta = max(theta / 10.0, opts.accuracy_min)
                else:
                    delta = max(10.0 * delta, 1e-4)
                    K = assemble_kkt(H, P.J, delta)
                    state = solver.start(K, -e, rng, n_primal=n)
            if state.rnorm > theta * enorm and steps >= budget:
                status = OptimStatus.LINEAR_SOLVER_FAILED
                break
            phi0 = l1_merit(P.f, P.c, mu)
            if slope >= 0.0 and _only_multipliers(dx, x):
                step_alpha, Pn, phin = 1.0, P, phi0
            elif slope >= 0.0:
                status = OptimStatus.LINESEARCH_FAILED
                break
            else:
                def trial(alpha: float, dx=dx, mu=mu, x=x) -> tuple[float, Point]:
                    Pt = oracle.point(x + alpha * dx)
                    return l1_merit(Pt.f, Pt.c, mu), Pt

                step = armijo(trial, phi0, slope, sigma=opts.sigma)
                if step is None:
                    status = OptimStatus.LINESEARCH_FAILED
                    break
                step_alpha, Pn, phin = step.alpha, step.payload, step.value
            history.append(IterationRecord(
                iteration=it, kkt=enorm, f=P.f, cnorm=float(np.linalg.norm(P.c)), merit=phi0,
                merit_next=phin, slope=slope, step=step_alpha, eta1=mu, eta2=0.0,
                regularization=delta, accuracy=theta, residual=state.rnorm / enorm,
                linear_steps=steps, flops=state.flops,
            ))
            P, lam = Pn, lam + step_alpha * dlam
            x = P.x
            H = oracle.hessian(x, lam)
    except NonFiniteError:
        status = OptimStatus.NONFINITE
    return build_result(P=P, x=x, lam=lam, status=status, iterations=len(history),
                        oracle=oracle, t0=t0, method="l1sqp", history=history, info=info)
