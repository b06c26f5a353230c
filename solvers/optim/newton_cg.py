"""Reduced-space inexact Newton-CG with sketched preconditioning and control bounds.

One iteration at a control ``z`` with state ``w(z)`` and adjoint ``p(z)``
(:class:`~pdeflow.solvers.optim.pde.ReducedState`):

1. *Active set* (projected Newton, Bertsekas 1982): bounds that hold with the gradient
   pointing outward are fixed; the Newton system is solved on the free controls.
2. *Inexact Newton-CG* on ``H_FF d_F = -g_F`` with Hessian actions by adjoints, to the
   Eisenstat-Walker forcing ``eta_k = min(0.5, (||g_k|| / ||g_{k-1}||)^2 * 0.9)``,
   preconditioned by the sketch (:mod:`pdeflow.solvers.optim.nystrom`): Nystrom for
   ``R = mu I`` (restricted to the free set without new Hessian actions), the
   prior-preconditioned generalized eigensolver otherwise.  The sketch is built once, from
   the Gauss-Newton Hessian, and rebuilt only when CG needs more than ``refresh``
   iterations; its rank is adaptive.  CG stops at negative curvature.
3. *Projected Armijo search* on the reduced objective ``j(z) = J(w(z)) + R(z)``, the
   exact augmented Lagrangian restricted to the state manifold (``c = 0`` and
   ``grad_w L = 0`` hold exactly there).

The KKT residual reported is ``||(grad_w L, P(z - g) - z, omega F(w, z))||_2``, with ``P``
the projection on the bounds and ``omega`` the problem's ``residual_weight``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from pdeflow.errors import ConfigError
from pdeflow.solvers.optim.nystrom import LowRankPreconditioner, generalized_eig, nystrom
from pdeflow.solvers.optim.pde import LinearCounts, ReducedSpaceProblem, ReducedState
from pdeflow.solvers.optim.result import OptimStatus

__all__ = ["ReducedResult", "solve_newton_cg", "pcg"]


@dataclass(frozen=True)
class ReducedResult:
    """Outcome of :func:`solve_newton_cg`.

    Attributes
    ----------
    z : ndarray, shape (N_z,)
        Control.
    w : ndarray, shape (N_w,)
        State ``w(z)``.
    p : ndarray, shape (N_w,)
        Adjoint (the multiplier of ``F(w, z) = 0``).
    f : float
        Objective.
    kkt : float
        KKT residual (see the module docstring).
    status : OptimStatus
    iterations : int
        Newton iterations.
    cg_iterations : list of int
        CG iterations per Newton step.
    time : float
        Seconds.
    info : dict
        ``counts`` (:class:`LinearCounts`), ``sketch_rank``, ``sketch_actions``,
        ``hessian_actions``, ``history``.
    """

    z: np.ndarray
    w: np.ndarray
    p: np.ndarray
    f: float
    kkt: float
    status: OptimStatus
    iterations: int
    cg_iterations: list[int]
    time: float
    info: dict = field(default_factory=dict)

    @property
    def converged(self) -> bool:
        """True for a converged status."""
        return self.status.converged


def pcg(matvec, b: np.ndarray, M, tol: float, max_iter: int) -> tuple[np.ndarray, int, bool]:
    """Preconditioned CG for ``A x = b`` from 0; stops at ``||r|| <= tol`` or negative curvature.

    Returns
    -------
    x : ndarray, shape (N,)
    iterations : int
    negative : bool
        True when a direction of non-positive curvature stopped the iteration.
    """
    x = np.zeros_like(b)
    r = b.copy()
    z = M(r) if M is not None else r.copy()
    d = z.copy()
    rz = float(r @ z)
    for it in range(1, max_iter + 1):
        Ad = matvec(d)
        dAd = float(d @ Ad)
        if dAd <= 0:
            return (x if it > 1 else b.copy()), it, True
        a = rz / dAd
        x += a * d
        r -= a * Ad
        if np.linalg.norm(r) <= tol:
            return x, it, False
        z = M(r) if M is not None else r
        rz_new = float(r @ z)
        d = z + (rz_new / rz) * d
        rz = rz_new
    return x, max_iter, False


def _kkt(st: ReducedState, lb: np.ndarray, ub: np.ndarray) -> float:
    p = st.problem
    gw = p.misfit(st.w)[1] + st.B.T @ st.adj
    proj = np.clip(st.z - st.grad, lb, ub) - st.z
    F = p.residual_weight * p.residual(st.w, st.z)
    return float(np.sqrt(gw @ gw + proj @ proj + F @ F))


@dataclass
class _Sketch:
    pre: LowRankPreconditioner | None = None
    rank_history: list[int] = field(default_factory=list)
    actions: int = 0


def _build_sketch(st: ReducedState, problem: ReducedSpaceProblem, rng, opts: dict
                  ) -> LowRankPreconditioner:
    n = problem.n_control

    def action(V: np.ndarray) -> np.ndarray:
        return st.hessian_action(V, gauss_newton=True, with_reg=False)

    kw = dict(rank=opts["rank"], oversample=opts["oversample"], max_rank=opts["max_rank"],
              level=opts["level"])
    if problem.reg_scale is not None:
        return nystrom(action, n, problem.reg_scale, rng, **kw)
    from pdeflow.solvers.direct import factorize

    solve = factorize(problem.reg)

    def solve_reg(V: np.ndarray) -> np.ndarray:
        return solve(V) if V.ndim == 1 else np.column_stack([solve(c) for c in V.T])

    return generalized_eig(action, problem.reg, solve_reg, n, rng, **kw)


_DEFAULTS = dict(tol=1e-8, max_iter=50, preconditioner="sketch", rank=16, oversample=8,
                 max_rank=512, level=1.0, refresh=25, max_cg=1000, seed=0, sigma=1e-4,
                 gauss_newton="auto")


def solve_newton_cg(problem: ReducedSpaceProblem, **options) -> ReducedResult:
    """Solve a :class:`ReducedSpaceProblem` by reduced-space inexact Newton-CG.

    Parameters
    ----------
    problem : ReducedSpaceProblem
    **options
        ``tol`` (1e-8, on the KKT residual), ``max_iter`` (50), ``preconditioner``
        (``"sketch"`` or ``None``), ``rank``/``oversample``/``max_rank``/``level`` of the
        adaptive sketch, ``refresh`` (rebuild the sketch when CG needs more iterations),
        ``max_cg``, ``seed``, ``sigma`` (Armijo), ``gauss_newton`` (``True``, ``False`` or
        ``"auto"``: Gauss-Newton Hessian until the projected gradient fell by 1e-3 or for
        the first 5 steps, exact afterwards; an exact step that meets negative curvature
        is redone with Gauss-Newton).

    Returns
    -------
    ReducedResult
    """
    unknown = sorted(set(options) - set(_DEFAULTS))
    if unknown:
        raise ConfigError(f"solve_newton_cg got unknown option(s) {unknown}; known options "
                          f"are {sorted(_DEFAULTS)}")
    opts = {**_DEFAULTS, **options}
    if opts["preconditioner"] not in ("sketch", None):
        raise ConfigError("The 'preconditioner' parameter must be 'sketch' or None. "
                          f"Got {opts['preconditioner']!r}.")
    t0 = time.perf_counter()
    rng = np.random.default_rng(opts["seed"])
    n = problem.n_control
    lb, ub = problem.bounds if problem.bounds is not None else (np.full(n, -np.inf),
                                                               np.full(n, np.inf))
    counts = LinearCounts()
    st = ReducedState(problem, np.clip(problem.z0, lb, ub), problem.w0, counts)
    sketch, cg_its, history = _Sketch(), [], []
    status, gprev, hv, g0 = OptimStatus.MAX_ITER, None, [0], None
    for it in range(opts["max_iter"] + 1):
        kkt = _kkt(st, lb, ub)
        history.append({"kkt": kkt, "f": st.value})
        if kkt <= opts["tol"]:
            status = OptimStatus.CONVERGED
            break
        if it == opts["max_iter"]:
            break
        gnorm = float(np.linalg.norm(np.clip(st.z - st.grad, lb, ub) - st.z))
        g0 = gnorm if g0 is None else g0
        gn = opts["gauss_newton"]
        if gn == "auto":
            gn = it < 5 and gnorm > 1e-3 * g0
        d, its, negative = _newton_direction(st, problem, lb, ub, sketch, rng, opts, gprev,
                                             hv, gn)
        if negative and not gn:
            d, more, _ = _newton_direction(st, problem, lb, ub, sketch, rng, opts, gprev, hv,
                                           True)
            its += more
        cg_its.append(its)
        gprev = gnorm
        new = _projected_search(st, problem, d, lb, ub, counts, opts["sigma"])
        if new is None:
            status = OptimStatus.LINESEARCH_FAILED
            break
        st = new
    info = {"counts": counts, "sketch_rank": sketch.rank_history,
            "sketch_actions": sketch.actions, "hessian_actions": hv[0], "history": history}
    return ReducedResult(z=st.z, w=st.w, p=st.adj, f=st.value, kkt=kkt, status=status,
                         iterations=len(cg_its), cg_iterations=cg_its,
                         time=time.perf_counter() - t0, info=info)


def _newton_direction(st, problem, lb, ub, sketch, rng, opts, gprev, hv, gauss_newton):
    g = st.grad
    eps = min(1e-3, float(np.linalg.norm(np.clip(st.z - g, lb, ub) - st.z)))
    active = ((st.z <= lb + eps) & (g > 0)) | ((st.z >= ub - eps) & (g < 0))
    free = ~active
    gF = g[free]
    gnorm = float(np.linalg.norm(np.clip(st.z - g, lb, ub) - st.z))
    forcing = 0.5 if not gprev else min(0.5, 0.9 * (gnorm / gprev) ** 2)
    forcing = max(forcing, 1e-12)
    M = None
    if opts["preconditioner"] == "sketch":
        if sketch.pre is None:
            sketch.pre = _build_sketch(st, problem, rng, opts)
            sketch.rank_history.append(sketch.pre.rank)
            sketch.actions += sketch.pre.sketch_actions
        M = sketch.pre if free.all() or sketch.pre.kind != "nystrom" else \
            sketch.pre.restrict(free)
    v = np.zeros(problem.n_control)

    def matvec(x: np.ndarray) -> np.ndarray:
        hv[0] += 1
        v[:] = 0.0
        v[free] = x
        return st.hessian_action(v, gauss_newton=gauss_newton)[free]

    if M is not None and sketch.pre.kind == "gev" and not free.all():
        M = None  # the generalized-eigen preconditioner is for the full control space
    dF, its, negative = pcg(matvec, -gF, M, forcing * float(np.linalg.norm(gF)),
                            opts["max_cg"])
    if M is not None and its > opts["refresh"]:
        sketch.pre = None  # the Hessian moved: sketch again at the next step
    d = np.zeros(problem.n_control)
    d[free] = dF
    d[active] = -g[active]
    return d, its, negative


def _projected_search(st, problem, d, lb, ub, counts, sigma):
    """Armijo on ``j`` along the projected arc ``P(z + alpha d)``."""
    alpha = 1.0
    for _ in range(30):
        zt = np.clip(st.z + alpha * d, lb, ub)
        # linearized state change as the start of the state solve: one solve, and the
        # nonlinear state Newton then needs one or two factorizations instead of four
        guess = st.w - st.solve(np.asarray(st.C @ (zt - st.z)))
        try:
            new = ReducedState(problem, zt, guess, counts)
        except Exception:  # noqa: BLE001 - a failed state solve is a rejected trial
            new = None
        if new is not None and new.value <= st.value + sigma * float(st.grad @ (zt - st.z)) \
                + 1e-14 * abs(st.value):
            return new
        alpha *= 0.5
    return None
