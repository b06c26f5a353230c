"""Adaptive inexact Newton on the exact augmented Lagrangian (Hong et al., ICML 2023).

One iteration at ``(x, lam)`` with KKT vector ``e = (grad_x L, c)``:

1. *Regularize.*  ``B = H + delta I`` with ``delta > 0`` only when the reduced Hessian is
   not positive definite (exact check for ``n <= DENSE_LIMIT``, else an inertia-free
   curvature test ``dx^T B dx >= kappa ||dx||^2`` on the computed direction).
2. *Inexact solve.*  Run the KKT solver on ``K z = -e`` until the adaptive accuracy
   condition ``||r|| <= theta_t ||e||`` holds; ``theta_t = min(theta, ||e||)`` when
   sharpened (superlinear), else ``theta``.
3. *Adapt.*  With ``slope = a0 + eta1 a1 + eta2 a2`` (see :mod:`.merit`), require the
   descent condition ``slope <= -eta2/2 ||e||^2``.  If it fails: raise ``eta1`` when the
   direction reduces the linearized constraints (``a1 <= -||c||^2/2``); otherwise tighten
   ``theta`` (continuing the same sketch run); at the accuracy floor, lower ``eta2`` when the
   ``||grad_x L||^2`` term is the culprit; finally raise ``delta``.
4. *Line search.*  Armijo backtracking on ``L_eta`` with the penalties fixed.

With :class:`~pdeflow.solvers.optim.linsolve.DirectSolver` the same loop is the exact
Newton-KKT baseline (``method="newton"``).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import scipy.sparse as sp

from pdeflow.solvers.optim.common import build_result, initial_multipliers, kkt_norm
from pdeflow.solvers.optim.kkt import DENSE_LIMIT, assemble_kkt, reduced_hessian_check
from pdeflow.solvers.optim.linesearch import armijo
from pdeflow.solvers.optim.linsolve import AbstractKKTSolver, LinearState, SingularKKTError
from pdeflow.solvers.optim.merit import augmented_lagrangian, slope_parts
from pdeflow.solvers.optim.options import NewtonOptions
from pdeflow.solvers.optim.oracle import NonFiniteError, Oracle, Point
from pdeflow.solvers.optim.problem import ConstrainedProblem
from pdeflow.solvers.optim.result import IterationRecord, OptimizeResult, OptimStatus

__all__ = ["solve_adaptive", "DESCENT_FRACTION", "CURVATURE_KAPPA"]

#: The descent condition is ``slope <= -DESCENT_FRACTION * eta2 * ||e||^2``.
DESCENT_FRACTION = 0.5
#: Inertia-free curvature threshold (large problems): ``dx^T B dx >= kappa ||dx||^2``.
CURVATURE_KAPPA = 1e-10
_MAX_ADAPT = 80


class _Failure(Exception):
    def __init__(self, status: OptimStatus, steps: int = 0, flops: float = 0.0) -> None:
        super().__init__(status.name)
        self.status = status
        self.steps = steps
        self.flops = flops


def _direction(
    solver: AbstractKKTSolver,
    H: sp.csr_array,
    P: Point,
    e: np.ndarray,
    enorm: float,
    eta: list[float],
    opts: NewtonOptions,
    rng: np.random.Generator,
    budget: int,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Steps 1-3: a direction that satisfies the descent condition; updates ``eta`` in place."""
    n = H.shape[0]
    delta = 0.0
    if n <= DENSE_LIMIT:
        curv = reduced_hessian_check(H, P.J)
        if curv.rank_deficient:
            raise _Failure(OptimStatus.SINGULAR_KKT)
        delta = curv.delta
    theta = min(opts.accuracy, enorm) if opts.sharpen else opts.accuracy
    theta = max(theta, opts.accuracy_min)
    if solver.name == "direct":  # exact Newton: refine the LU solve to the floor
        theta = opts.accuracy_min
    steps, flops = 0, 0.0

    def fresh(shift: float) -> tuple[sp.csr_array, LinearState]:
        K = assemble_kkt(H, P.J, shift)
        try:
            return K, solver.start(K, -e, rng, n_primal=n)
        except SingularKKTError as exc:
            raise _Failure(OptimStatus.SINGULAR_KKT) from exc

    K, state = fresh(delta)
    target = -DESCENT_FRACTION * enorm**2
    cc = float(P.c @ P.c)
    for _ in range(_MAX_ADAPT):
        before = state.steps
        try:
            state = solver.refine(K, state, theta * enorm, max(budget - steps, 0))
        except SingularKKTError as exc:
            raise _Failure(OptimStatus.SINGULAR_KKT) from exc
        steps += state.steps - before
        # A direct solve is exact up to rounding (its own check rejects a bad factorization).
        reached = state.rnorm <= theta * enorm or solver.name == "direct"
        dx, dlam = state.z[:n], state.z[n:]
        if n > DENSE_LIMIT:
            bx = float(dx @ (H @ dx) + delta * (dx @ dx))
            if bx < CURVATURE_KAPPA * float(dx @ dx) and reached:
                flops += state.flops
                delta = max(10.0 * delta, 1e-4)
                K, state = fresh(delta)
                continue
        if not reached:  # the step budget ran out before the adaptive accuracy held
            raise _Failure(OptimStatus.LINEAR_SOLVER_FAILED, steps, flops + state.flops)
        parts = slope_parts(e[:n], P.c, H, P.J, dx, dlam)
        if parts.slope(eta[0], eta[1]) <= target * eta[1]:
            flops += state.flops
            return dx, dlam, {"parts": parts, "delta": delta, "theta": theta,
                              "residual": state.rnorm / enorm, "steps": steps, "flops": flops}
        need_eta2 = parts.a2 + DESCENT_FRACTION * enorm**2
        if cc > 0 and parts.a1 <= -0.5 * cc:
            need = (parts.a0 + eta[1] * need_eta2) / (-parts.a1)
            eta[0] = max(opts.rho * eta[0], opts.rho * need)
            if eta[0] > opts.eta_max:
                raise _Failure(OptimStatus.PENALTY_DIVERGED)
        elif theta > opts.accuracy_min:
            theta = max(theta / 10.0, opts.accuracy_min)
        elif need_eta2 > 0 and eta[1] > 1e-12:
            eta[1] /= opts.rho
        else:
            flops += state.flops
            delta = max(10.0 * delta, 1e-4)
            K, state = fresh(delta)
    raise _Failure(OptimStatus.LINEAR_SOLVER_FAILED)


def solve_adaptive(
    problem: ConstrainedProblem,
    x0: np.ndarray,
    solver: AbstractKKTSolver,
    opts: NewtonOptions,
    method: str,
) -> OptimizeResult:
    """Run the adaptive (inexact) Newton method; see the module docstring.

    Parameters
    ----------
    problem : ConstrainedProblem
    x0 : ndarray, shape (n,)
    solver : AbstractKKTSolver
        Sketch solver (``adasketch``) or :class:`DirectSolver` (``newton``).
    opts : NewtonOptions
    method : str
        Name stored in the result.

    Returns
    -------
    OptimizeResult
        Never raises for a failed solve: the status says why (``minimize`` raises).
    """
    t0 = time.perf_counter()
    n = x0.shape[0]
    oracle = Oracle(problem, n)
    rng = np.random.default_rng(opts.seed)
    info = {"solver": repr(solver), "seed": opts.seed}
    history: list[IterationRecord] = []
    x = x0.copy()
    try:
        P = oracle.point(x)
    except NonFiniteError as exc:
        info["nonfinite"] = str(exc)
        return build_result(P=None, x=x, lam=np.zeros(oracle.m or 0), iterations=0,
                            status=OptimStatus.NONFINITE, oracle=oracle, t0=t0,
                            method=method, history=history, info=info)
    lam = initial_multipliers(P, opts)
    eta = [opts.eta1, opts.eta2]
    budget = opts.max_sketch_steps or max(10**6, 100 * (n + lam.shape[0]))
    status = OptimStatus.MAX_ITER
    it = 0
    try:
        H = oracle.hessian(x, lam)
        for it in range(opts.max_iter + 1):
            e, enorm = kkt_norm(P, lam)
            if enorm <= opts.tol:
                status = OptimStatus.CONVERGED
                break
            if it == opts.max_iter:
                break
            dx, dlam, d = _direction(solver, H, P, e, enorm, eta, opts, rng, budget)
            gl = e[:n]
            phi0 = augmented_lagrangian(P.f, P.c, gl, lam, eta[0], eta[1])
            slope = d["parts"].slope(eta[0], eta[1])

            def trial(
                alpha: float, dx=dx, dlam=dlam, x=x, lam=lam
            ) -> tuple[float, tuple[Point, np.ndarray]]:
                lt = lam + alpha * dlam
                Pt = oracle.point(x + alpha * dx)
                val = augmented_lagrangian(Pt.f, Pt.c, Pt.grad_lagrangian(lt), lt, *eta)
                return val, (Pt, lt)

            step = armijo(trial, phi0, slope, sigma=opts.sigma)
            if step is None:
                status = OptimStatus.LINESEARCH_FAILED
                break
            history.append(IterationRecord(
                iteration=it, kkt=enorm, f=P.f, cnorm=float(np.linalg.norm(P.c)),
                merit=phi0, merit_next=step.value, slope=slope, step=step.alpha,
                eta1=eta[0], eta2=eta[1], regularization=d["delta"], accuracy=d["theta"],
                residual=d["residual"], linear_steps=d["steps"], flops=d["flops"],
            ))
            P, lam = step.payload
            x = P.x
            H = oracle.hessian(x, lam)
    except _Failure as fail:
        status = fail.status
        info["failed_iteration"] = {"linear_steps": fail.steps, "flops": fail.flops}
    except NonFiniteError as exc:
        info["nonfinite"] = str(exc)
        status = OptimStatus.NONFINITE
    return build_result(P=P, x=x, lam=lam, status=status, iterations=len(history),
                        oracle=oracle, t0=t0, method=method, history=history, info=info)
