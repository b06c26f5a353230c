"""``solve_sequence``: solve many related linear systems fast (the data generator's entry point).

Strategies (``method``):

``"skr"``     SKR: sort the systems (:func:`skr_order`), then GCRO-DR carrying the recycle
              space from one system to the next (warm-started from the previous solution);
              the space is renewed after each cycle, or every second one where its
              harmonic Ritz values look definite (``update_every="auto"`` of GCRO-DR).
``"skr-cg"``  The same with recycled (deflated) CG, for SPD sequences.
``"gmres"``   GMRES(m) per system, in the given order, zero initial guess (the paper's baseline).
``"cg"``      Preconditioned CG per system, in the given order.
``"direct"``  A sparse factorization per system (one factorization reused while the matrix object
              repeats): LDL^T for symmetric matrices with a positive diagonal, refactoring
              only numerically while the sparsity pattern repeats (SuperLU if its residual
              is not small), SuperLU otherwise.
``"auto"``    Picks one of the above from size and symmetry plus a short timed trial on the first
              systems, and records the choice and the trial times in the result.

Preconditioners are set up from scratch every ``pc_refresh`` systems and adapted in between
with ``spec.update``: AMG keeps its aggregation and interpolation and recomputes the Galerkin
coarse operators for each new matrix (cheap, and as good as a fresh set-up on these
families); other preconditioners are reused as they are (ILU/LU of a neighbour).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp

from pdeflow.errors import ConfigError, ConvergenceError, ShapeError
from pdeflow.threads import krylov_threads

from ._common import check_int
from .backends import AbstractBackend, Operator, backend_for
from .cg import cg
from .direct import SparseLDL, direct_solve, factorize, splu_factor
from .gcrodr import gcrodr
from .gmres import gmres
from .ordering import skr_order
from .preconditioners import (
    AMG,
    ILU,
    AbstractPreconditioner,
    BuiltPreconditioner,
    make_preconditioner,
)
from .status import SolveResult, SolveStatus

__all__ = ["solve_sequence", "SequenceResult", "SystemReport"]

Method = Literal["auto", "skr", "skr-cg", "gmres", "cg", "direct"]
#: recycled vectors of GCRO-DR in ``"skr"`` (the SKR paper's GCRO-DR(40, 20))
K_SKR = 20
#: when GCRO-DR in ``"skr"`` renews its recycle space (see ``update_every`` of
#: :func:`~pdeflow.solvers.gcrodr`): with 20 recycled vectors an update costs about as much as
#: a cycle's 20 Arnoldi steps, so after an update with definite-looking harmonic Ritz values
#: the next cycle skips it (40 systems each, seconds, every cycle -> "auto": Darcy 80² 2.33
#: -> 2.09, thresholded 3.39 -> 2.78, Helmholtz 100² 2.21 -> 1.83, with ASM 1.24 -> 1.04,
#: Poisson 100² 2.76 -> 2.42, at 1-4% more iterations; indefinite Helmholtz unchanged, where
#: updating every second cycle regardless took 2-3x the iterations)
SKR_UPDATE_EVERY = "auto"
#: Ritz vectors of recycled CG in ``"skr-cg"``: with AMG the smallest eigenvalues are few,
#: and every vector costs two passes over memory per iteration (3-D Darcy, 262,144
#: unknowns, AMG: k=2-4 beat k=8 by 10-15%, at 9.1 iterations against 10.8 without recycling)
K_SKR_CG = 4
_METHODS = ("auto", "skr", "skr-cg", "gmres", "cg", "direct")


@dataclass(frozen=True, slots=True)
class SystemReport:
    """How one system of the sequence was solved.

    ``index`` is the system's position in the input, ``position`` its place in the solve order.
    """

    index: int
    position: int
    method: str
    status: SolveStatus
    iterations: int
    residual: float
    time: float


@dataclass(frozen=True)
class SequenceResult:
    """Solutions in the ORIGINAL order plus per-system reports.

    Attributes
    ----------
    solutions : ndarray, shape (N, n_local)
        ``solutions[i]`` solves ``systems[i]``.  Read-only.
    reports : tuple of SystemReport
        In the original order.
    order : ndarray of int, shape (N,)
        The solve order (a permutation).
    method : str
        The strategy that solved the sequence (for ``"auto"``, the one it picked).
    preconditioner : str
    time : float
        Total wall-clock seconds, ordering and trial included.
    choice : dict
        For ``"auto"``: the candidates' estimated seconds per system and the reason.
    preconditioner_spec : AbstractPreconditioner or None
        The preconditioner specification that ran (pass it back as ``preconditioner=`` to
        solve another sequence the same way without a new ``"auto"`` trial).
    """

    solutions: np.ndarray
    reports: tuple[SystemReport, ...]
    order: np.ndarray
    method: str
    preconditioner: str
    time: float
    choice: dict = field(default_factory=dict)
    preconditioner_spec: AbstractPreconditioner | None = None

    @property
    def iterations(self) -> np.ndarray:
        """Iterations per system, original order; shape (N,)."""
        return np.array([r.iterations for r in self.reports])

    @property
    def iterations_in_order(self) -> np.ndarray:
        """Iterations per system in the solve order; shape (N,)."""
        return self.iterations[self.order]

    def __repr__(self) -> str:
        its = self.iterations
        return (
            f"SequenceResult(method={self.method!r}, preconditioner={self.preconditioner!r}, "
            f"systems={len(self.reports)}, mean_iterations={its.mean():.1f}, time={self.time:.3g}s)"
        )


# ---------------------------------------------------------------------------------------
# strategies: explicit state in, (result, state) out
# ---------------------------------------------------------------------------------------
@dataclass
class _State:
    x: np.ndarray | None = None
    recycle: Any = None
    pc: BuiltPreconditioner | None = None
    pc_age: int = 0
    lu: Any = None
    lu_source: Any = None
    pivoting: bool = False  # LDL^T was inaccurate once: factor with SuperLU's pivoting
    pc_time: float = 0.0


@dataclass(frozen=True)
class _Strategy:
    method: str
    pc: AbstractPreconditioner | None
    pc_refresh: int
    warm_start: bool
    rtol: float
    atol: float
    restart: int
    k: int
    max_iter: int

    @property
    def pc_name(self) -> str:
        return "none" if self.pc is None else self.pc.name

    def step(self, op: Operator, b: np.ndarray, st: _State, bk: AbstractBackend) -> SolveResult:
        if self.method == "direct":
            t_factor = 0.0
            if st.lu is None or st.lu_source is not op.source:
                t0 = time.perf_counter()
                # an LDL^T of the same pattern is refactored: numeric phase only; once LDL^T
                # was inaccurate in this sequence, SuperLU directly
                st.lu = splu_factor(op.csr) if st.pivoting else factorize(op, bk, previous=st.lu)
                st.lu_source = op.source
                t_factor = time.perf_counter() - t0
            ldl = isinstance(st.lu, SparseLDL)
            try:
                res = direct_solve(op, b, factor=st.lu, backend=bk)
                inaccurate = ldl and not res.residual_norm <= _LDL_RTOL * res.residuals[0]
            except ConvergenceError:  # a non-finite solution
                if not ldl:
                    raise
                inaccurate = True
            if inaccurate:
                # LDL^T without pivoting was inaccurate (indefinite matrix): SuperLU from now on
                t0 = time.perf_counter()
                st.lu, st.pivoting = splu_factor(op.csr), True
                res = direct_solve(op, b, factor=st.lu, backend=bk)
                t_factor += time.perf_counter() - t0
            # the system's time includes its factorization (none when one is reused)
            return dataclasses.replace(res, time=res.time + t_factor)
        M = None
        if self.pc is not None:
            if st.pc is None or st.pc_age >= self.pc_refresh:
                t0 = time.perf_counter()
                # a full set-up; a factorization keeps its ordering from the last one
                st.pc = self.pc.build(op, bk) if st.pc is None else self.pc.rebuild(st.pc, op, bk)
                st.pc_time += time.perf_counter() - t0  # full set-ups only
                st.pc_age = 0
            elif st.pc.operator is not op.source:
                st.pc = self.pc.update(st.pc, op, bk)  # e.g. AMG: new Galerkin operators
            st.pc_age += 1
            M = st.pc
        x0 = st.x if (self.warm_start and st.x is not None) else None
        common = dict(
            x0=x0,
            M=M,
            rtol=self.rtol,
            atol=self.atol,
            max_iter=self.max_iter,
            backend=bk,
            raise_on_failure=False,
        )
        if self.method == "skr":
            res = gcrodr(
                op, b, recycle=st.recycle, restart=self.restart, k=self.k,
                update_every=SKR_UPDATE_EVERY, **common,
            )  # fmt: skip
            st.recycle = res.recycle
        elif self.method == "skr-cg":
            res = cg(op, b, recycle=st.recycle, k=self.k, **common)
            st.recycle = res.recycle
        elif self.method == "gmres":
            res = gmres(op, b, restart=self.restart, **common)
        else:
            res = cg(op, b, **common)
        if res.converged:
            st.x = res.x
        return res


# ---------------------------------------------------------------------------------------
@krylov_threads
def solve_sequence(
    systems: Sequence[tuple[Any, Any]],
    method: Method = "auto",
    *,
    params: Any = None,
    order: str | np.ndarray | None = None,
    preconditioner: str | AbstractPreconditioner | None = None,
    pc_refresh: int = 1,
    rtol: float = 1e-8,
    atol: float = 0.0,
    restart: int = 40,
    k: int | None = None,
    max_iter: int = 10_000,
    warm_start: bool | None = None,
    backend: AbstractBackend | str | None = None,
    trial: int = 4,
    raise_on_failure: bool = True,
) -> SequenceResult:
    """Solve ``A_i x_i = b_i`` for a sequence of related systems.

    Parameters
    ----------
    systems : sequence of (A, b)
        ``A`` scipy sparse (or a petsc4py Mat on the PETSc backend), ``b`` of shape (n,)
        (global on the scipy backend; global too on PETSc when ``A`` is scipy, then
        scattered; the rank's rows when ``A`` is a Mat).
    method : {"auto", "skr", "skr-cg", "gmres", "cg", "direct"}
        See the module docstring.
    params : array_like, shape (N, ...), optional
        Parameter fields used for the SKR ordering.  By default the matrices' values (when
        all share one sparsity pattern) or the right-hand sides are used.
    order : {"auto", "greedy", "hilbert", "morton", "knn", "none"} or ndarray, optional
        Ordering method or an explicit permutation.  Default: ``"auto"`` for the SKR
        strategies, ``"none"`` otherwise.
    preconditioner : name or spec, optional
        Default: none for explicit methods; chosen by ``"auto"``.
    pc_refresh : int
        Rebuild the preconditioner every this many systems (1: every system).
    rtol, atol, restart, k, max_iter
        Krylov settings.  ``k``: recycled vectors, by default :data:`K_SKR` (20, the SKR
        paper's) for ``"skr"`` and :data:`K_SKR_CG` (4) Ritz vectors for ``"skr-cg"``.
    warm_start : bool, optional
        Start each solve from the previous solution.  Default: True for the SKR strategies
        and ``"auto"``, False for ``"gmres"``/``"cg"``.
    backend : "scipy", "petsc" or a backend, optional
    trial : int
        Systems per candidate in the ``"auto"`` trial.
    raise_on_failure : bool
        Raise :class:`~pdeflow.errors.ConvergenceError` on the first system that fails
        (default), or record its status and go on.

    Returns
    -------
    SequenceResult

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> L = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(144, 144), format="csr")
    >>> params = np.linspace(0.1, 1.0, 6)[:, None]        # one parameter per system
    >>> systems = [((L + c * sp.identity(144)).tocsr(), np.ones(144)) for c in params[:, 0]]
    >>> res = solve_sequence(systems, "skr", params=params, rtol=1e-10)
    >>> res.solutions.shape, sorted(res.order.tolist()) == list(range(6))
    ((6, 144), True)
    """
    t_start = time.perf_counter()
    if method not in _METHODS:
        raise ConfigError(
            f"The 'method' parameter of solve_sequence must be one of {_METHODS}. Got {method!r}."
        )
    pc_refresh = check_int("solve_sequence", "pc_refresh", pc_refresh, 1)
    trial = check_int("solve_sequence", "trial", trial, 1)
    systems = list(systems)
    N = len(systems)
    if N == 0:
        raise ShapeError("'systems' is empty.")
    first = systems[0][0]
    bk = backend_for(first, backend)

    perm = _resolve_order(order, method, systems, params, N)
    op_cache: dict[int, Operator] = {}

    def fetch(i: int) -> tuple[Operator, np.ndarray]:
        """Operator (converted once per distinct matrix object) and right-hand side of system i."""
        A, b = systems[i]
        op = op_cache.get(id(A))
        if op is None or op.source is not A:
            op_cache.clear()  # keep one converted matrix alive, not the whole sequence
            op = op_cache[id(A)] = bk.operator(A)
        bvec = np.asarray(b, dtype=float)
        if bk.name == "petsc" and sp.issparse(A) and bvec.shape[0] != op.n_local:
            bvec = bk.scatter(bvec)
        return op, bk.check_vector(bvec, op)

    def make(m: str, pc: AbstractPreconditioner | None, refresh: int) -> _Strategy:
        ws = (m in ("skr", "skr-cg")) if warm_start is None else bool(warm_start)
        if method == "auto" and warm_start is None and m in ("gmres", "cg"):
            ws = True
        kk = k if k is not None else (K_SKR_CG if m == "skr-cg" else K_SKR)
        return _Strategy(m, pc, refresh, ws, rtol, atol, restart, kk, max_iter)

    results: dict[int, SolveResult] = {}
    choice: dict[str, Any] = {}
    if method == "auto":
        strategy, state, done, choice = _auto(
            systems, perm, fetch, make, bk, trial, N, preconditioner, pc_refresh
        )
        results.update(done)
    else:
        pc = None if preconditioner is None else make_preconditioner(preconditioner)
        strategy, state = make(method, pc, pc_refresh), _State()
        if pc is not None and pc.name == "none":
            strategy = make(method, None, pc_refresh)

    for pos in range(N):
        i = int(perm[pos])
        if i in results:
            continue
        op, bvec = fetch(i)
        try:
            res = strategy.step(op, bvec, state, bk)
        except ConvergenceError as exc:  # the preconditioner failed to set up
            if raise_on_failure:
                raise
            res = SolveResult(
                np.zeros(op.n_local),
                SolveStatus.DIVERGED_PC_FAILED,
                0,
                np.array([np.nan]),
                0.0,
                strategy.method,
                None,
                {"error": str(exc)},
            )
            state.pc = None
        results[i] = res
        if raise_on_failure and not res.converged:
            res.raise_if_failed()

    inv = np.empty(N, dtype=np.int64)
    inv[perm] = np.arange(N)
    sols = np.stack([results[i].x for i in range(N)])
    sols.flags.writeable = False
    reports = tuple(
        SystemReport(
            i,
            int(inv[i]),
            results[i].method,
            results[i].status,
            results[i].iterations,
            results[i].residual_norm,
            results[i].time,
        )
        for i in range(N)
    )
    return SequenceResult(
        sols,
        reports,
        perm,
        strategy.method,
        strategy.pc_name,
        time.perf_counter() - t_start,
        choice,
        strategy.pc,
    )


def _resolve_order(order: Any, method: str, systems: list, params: Any, N: int) -> np.ndarray:
    if isinstance(order, np.ndarray | list | tuple):
        perm = np.asarray(order, dtype=np.int64)
        if perm.shape != (N,) or not np.array_equal(np.sort(perm), np.arange(N)):
            raise ConfigError(f"The 'order' parameter must be a permutation of range({N}).")
        return perm
    if order is None:
        order = "auto" if method in ("skr", "skr-cg", "auto") else "none"
    if order == "none":
        return np.arange(N)
    feats = _features(systems, params, N)
    return skr_order(feats, method=order)


def _features(systems: list, params: Any, N: int) -> np.ndarray:
    """Parameter fields, else matrix values (shared pattern), else right-hand sides."""
    if params is not None:
        P = np.asarray(params, dtype=float)
        if P.shape[0] != N:
            raise ShapeError(f"'params' has {P.shape[0]} rows for {N} systems.")
        return P.reshape(N, -1) if P.ndim == 1 else P
    mats = [A for A, _ in systems]
    if all(sp.issparse(A) for A in mats):
        nnz = {A.nnz for A in mats}
        if len(nnz) == 1 and len({id(A) for A in mats}) > 1:
            data = [sp.csr_matrix(A).data for A in mats]
            bs = [np.asarray(b, dtype=float) for _, b in systems]
            return np.hstack([np.stack(data), np.stack(bs)])
    return np.stack([np.asarray(b, dtype=float).ravel() for _, b in systems])


def _is_symmetric(A: Any) -> bool:
    if sp.issparse(A):
        A = sp.csr_matrix(A)
        scale = abs(A).max() if A.nnz else 1.0
        return A.shape[0] == A.shape[1] and (abs(A - A.T).max() if A.nnz else 0.0) <= 1e-12 * scale
    if hasattr(A, "isSymmetric"):
        return bool(A.isSymmetric(1e-12))
    return False


def _positive_diagonal(A: Any) -> bool:
    if sp.issparse(A):
        return bool((A.diagonal() > 0).all())
    if hasattr(A, "getDiagonal"):
        return bool(A.getDiagonal().min()[1] > 0)
    return False


def _auto(systems, perm, fetch, make, bk, trial, N, preconditioner, pc_refresh):
    """Time candidate strategies on the first systems in order; return the fastest."""
    A0 = systems[int(perm[0])][0]
    n = A0.shape[0] if sp.issparse(A0) else A0.getSize()[0]
    nnz_row = A0.nnz / n if sp.issparse(A0) else 7.0
    spd_like = _is_symmetric(A0) and _positive_diagonal(A0)
    shared = len({id(A) for A, _ in systems}) == 1
    refresh = pc_refresh if pc_refresh > 1 else 8
    user_pc = None if preconditioner is None else make_preconditioner(preconditioner)
    # 2-D-like stencils factorize well up to a few 10^5 unknowns, 3-D ones only to ~5e4
    direct_ok = n <= (300_000 if nnz_row <= 5.5 else 50_000) or shared
    cands: list[_Strategy] = [make("direct", None, 1)] if direct_ok else []
    spd_cands = [make("skr-cg", user_pc or AMG(), refresh), make("cg", user_pc or AMG(), refresh)]
    ilu = ILU(drop_tol=1e-5, fill_factor=20)  # robust enough for indefinite problems
    gen_cands = [make("skr", user_pc or ilu, refresh), make("gmres", user_pc or ilu, refresh)]
    cands += spd_cands if spd_like else gen_cands
    if n > 50_000 and direct_ok and not shared:
        # large: a factorization is the slow candidate, so time it last, where the early
        # abort (first system far slower than the best so far) stops it after one system
        cands = cands[1:] + cands[:1]
    t_trial = min(trial, max(1, N // (2 * len(cands))))
    estimates: dict[str, float] = {}
    kept: dict[str, tuple[dict, _State]] = {}
    note = ""
    for cand in cands:
        _trial(cand, t_trial, perm, fetch, bk, N, estimates, kept)
    if spd_like and not any(np.isfinite(estimates[f"{c.method}+{c.pc_name}"]) for c in spd_cands):
        note = "; CG failed in the trial (indefinite), so GMRES-type candidates were tried"
        cands += gen_cands
        for cand in gen_cands:
            _trial(cand, t_trial, perm, fetch, bk, N, estimates, kept)
    best = min(estimates, key=estimates.get)
    if not np.isfinite(estimates[best]):
        raise ConfigError(
            "solve_sequence(method='auto'): every candidate failed on the trial systems; "
            "choose a method and preconditioner explicitly."
        )
    strategy = next(c for c in cands if f"{c.method}+{c.pc_name}" == best)
    done, state = kept[best]
    choice = {
        "picked": best,
        "estimated_seconds_per_system": estimates,
        "trial_systems": t_trial,
        "reason": (
            f"{'symmetric, positive diagonal' if spd_like else 'nonsymmetric or indefinite'}, "
            f"n={n}; "
            f"fastest in a {t_trial}-system trial{note}"
        ),
    }
    return strategy, state, done, choice


_LDL_RTOL = 1e-8  # relative residual above which an LDL^T solve is redone with SuperLU
_ABORT = 3.0  # a candidate whose first system takes this many times the best estimate stops
_TRIAL_MAX_ITER = 1000


def _trial(cand, t_trial, perm, fetch, bk, N, estimates, kept) -> None:
    """Run ``cand`` on the first ``t_trial`` systems; store its seconds-per-system estimate.

    A candidate whose first system already costs ``_ABORT`` times the best estimate so far
    stops there (its estimate is that first time), so that a slow candidate costs the trial
    one system, not ``t_trial``.
    """
    best = min((v for v in estimates.values() if np.isfinite(v)), default=np.inf)
    label = f"{cand.method}+{cand.pc_name}"
    # a strategy needing more than _TRIAL_MAX_ITER iterations per system is not the fastest
    cand = dataclasses.replace(cand, max_iter=min(cand.max_iter, _TRIAL_MAX_ITER))
    st = _State()
    done: dict[int, SolveResult] = {}
    times: list[float] = []
    for pos in range(t_trial):
        i = int(perm[pos])
        op, b = fetch(i)
        t0 = time.perf_counter()
        try:
            res = cand.step(op, b, st, bk)
        except ConvergenceError:  # e.g. the preconditioner failed to set up
            estimates[label] = float("inf")
            return
        times.append(time.perf_counter() - t0)
        done[i] = res
        if not res.converged:
            estimates[label] = float("inf")
            return
        if pos == 0 and times[0] > _ABORT * best:
            estimates[label] = times[0]
            return
    # steady state from the later systems; the first system's extra cost (cold start) is
    # amortized over the sequence, a preconditioner build over pc_refresh systems
    steady = float(np.mean(times[1:])) if len(times) > 1 else times[0]
    builds = st.pc_time if (cand.pc is not None and cand.pc_refresh >= len(times)) else 0.0
    estimates[label] = steady + builds / cand.pc_refresh + max(times[0] - steady - builds, 0.0) / N
    kept[label] = (done, st)
