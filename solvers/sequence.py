"""``solve_sequence``: solve many related linear systems fast (the data generator's entry point).

Strategies (``method``; one class each in :mod:`pdeflow.solvers.strategies`):

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
``"auto"``    :class:`AutoStrategy` picks one of the above from size and symmetry plus a short
              timed trial on the first systems, and records the choice, the trial times and
              the reason in the result.

The options are one :class:`SequenceSettings`, validated once; ``solve_sequence`` takes them
as keywords (``solve_sequence(systems, "skr", rtol=1e-10)``) or as ``settings=``.

Preconditioners are set up from scratch every ``pc_refresh`` systems (default
:data:`PC_REFRESH`, also datagen's) and adapted in between with ``spec.update``: AMG keeps
its aggregation and interpolation and recomputes the Galerkin coarse operators for each new
matrix (cheap, and as good as a fresh set-up on these families); other preconditioners are
reused as they are (ILU/LU of a neighbour).
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

from ._common import check_float, check_int
from .backends import AbstractBackend, Operator, backend_for
from .ordering import skr_order
from .preconditioners import AMG, ILU, AbstractPreconditioner, make_preconditioner
from .status import SolveResult, SolveStatus
from .strategies import (
    CGStrategy,
    DirectStrategy,
    GMRESStrategy,
    RecycledCGStrategy,
    SequenceStrategy,
    SKRStrategy,
)

__all__ = [
    "solve_sequence",
    "SequenceResult",
    "SystemReport",
    "SequenceSettings",
    "AutoStrategy",
    "AutoChoice",
    "PC_REFRESH",
]

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
#: Systems per full preconditioner set-up: the one default of ``solve_sequence`` and of
#: datagen's ``SolverSettings.pc_refresh`` (import it from here).  In between, AMG recomputes
#: its Galerkin operators for each matrix, which on the families measured is as good as a new
#: set-up (3-D Darcy 64³, SKR-CG + AMG: 9.02 iterations per system with 64, 9.08 with 8) at a
#: fraction of its cost; a frozen factorization (ILU, LU) of a neighbour can want fewer
#: (indefinite Helmholtz with LU: 1-2, see benchmarks/skr.py).
PC_REFRESH = 64
#: ``pc_refresh`` of ``"auto"``'s candidates when the caller asks for a set-up per system
AUTO_REFRESH = 8
METHODS = ("auto", "skr", "skr-cg", "gmres", "cg", "direct")


@dataclass(frozen=True)
class SequenceSettings:
    """The options of :func:`solve_sequence`, validated once.

    Parameters
    ----------
    method : {"auto", "skr", "skr-cg", "gmres", "cg", "direct"}
        See the module docstring.
    order : {"auto", "greedy", "hilbert", "morton", "knn", "none"} or ndarray, optional
        Ordering method or an explicit permutation.  Default: ``"auto"`` for the SKR
        strategies and ``"auto"``, ``"none"`` otherwise.
    preconditioner : name or spec, optional
        Default: none for explicit methods; chosen by ``"auto"``.  Stored as a spec.
    pc_refresh : int
        Rebuild the preconditioner every this many systems (1: every system); default
        :data:`PC_REFRESH`.  ``"auto"`` gives its candidates :data:`AUTO_REFRESH` when this is 1.
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

    Examples
    --------
    >>> s = SequenceSettings(method="skr", rtol=1e-10)
    >>> s.pc_refresh == PC_REFRESH, s.with_options(trial=2).trial
    (True, 2)
    >>> SequenceSettings(method="bicg")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    pdeflow.errors.ConfigError: The 'method' parameter of solve_sequence must be one of ...
    """

    method: Method = "auto"
    order: Any = None
    preconditioner: AbstractPreconditioner | str | None = None
    pc_refresh: int = PC_REFRESH
    rtol: float = 1e-8
    atol: float = 0.0
    restart: int = 40
    k: int | None = None
    max_iter: int = 10_000
    warm_start: bool | None = None
    backend: AbstractBackend | str | None = None
    trial: int = 4
    raise_on_failure: bool = True

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ConfigError(
                "The 'method' parameter of solve_sequence must be one of "
                f"{METHODS}. Got {self.method!r}."
            )
        fix = object.__setattr__
        for name, low in (("pc_refresh", 1), ("restart", 1), ("max_iter", 1), ("trial", 1)):
            fix(self, name, check_int("solve_sequence", name, getattr(self, name), low))
        for name in ("rtol", "atol"):
            fix(self, name, check_float("solve_sequence", name, getattr(self, name), 0.0))
        if self.k is not None:
            fix(self, "k", check_int("solve_sequence", "k", self.k, 1))
        for name in ("warm_start", "raise_on_failure"):
            value = getattr(self, name)
            if not (isinstance(value, bool | np.bool_) or (name == "warm_start" and value is None)):
                raise ConfigError(
                    f"The '{name}' parameter of solve_sequence must be a bool. Got {value!r}."
                )
        if self.preconditioner is not None:
            fix(self, "preconditioner", make_preconditioner(self.preconditioner))

    def with_options(self, **options: Any) -> SequenceSettings:
        """A copy with ``options`` replaced (validated again); unknown names raise ConfigError."""
        names = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(options) - names)
        if unknown:
            raise ConfigError(
                f"solve_sequence got unknown option(s) {unknown}; the options are {sorted(names)}."
            )
        return dataclasses.replace(self, **options) if options else self

    def uses_ordering(self) -> bool:
        """Whether the default order is the SKR ordering (recycling strategies, ``"auto"``)."""
        return self.method in ("skr", "skr-cg", "auto")


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
class SystemSource:
    """The systems of one sequence as a backend sees them.

    Each distinct matrix object is wrapped once (only the latest is kept alive, not the
    whole sequence); right-hand sides are made local by :meth:`AbstractBackend.local_rhs`.

    Parameters
    ----------
    systems : list of (A, b)
    backend : AbstractBackend
    """

    def __init__(self, systems: list[tuple[Any, Any]], backend: AbstractBackend) -> None:
        self.systems = systems
        self.backend = backend
        self._cache: dict[int, Operator] = {}

    def __len__(self) -> int:
        return len(self.systems)

    def matrix(self, i: int) -> Any:
        """The matrix of system ``i`` as the caller passed it."""
        return self.systems[i][0]

    def fetch(self, i: int) -> tuple[Operator, np.ndarray]:
        """Operator and local right-hand side of system ``i``."""
        A, b = self.systems[i]
        op = self._cache.get(id(A))
        if op is None or op.source is not A:
            self._cache.clear()
            op = self._cache[id(A)] = self.backend.operator(A)
        return op, self.backend.local_rhs(b, op)


def make_strategy(
    method: str,
    settings: SequenceSettings,
    backend: AbstractBackend,
    pc: AbstractPreconditioner | None = None,
    pc_refresh: int | None = None,
) -> SequenceStrategy:
    """The strategy object for ``method`` with ``settings`` (warm start and ``k`` defaults
    filled in per method; ``pc`` and ``pc_refresh`` default to the settings')."""
    if method == "direct":
        return DirectStrategy(backend)
    if pc is None and settings.method != "auto":
        pc = settings.preconditioner
    if pc is not None and pc.name == "none":
        pc = None
    warm = settings.warm_start
    if warm is None:  # recycling and "auto" warm-start; plain gmres/cg start from zero
        warm = method in ("skr", "skr-cg") or settings.method == "auto"
    common = dict(
        backend=backend,
        pc=pc,
        pc_refresh=settings.pc_refresh if pc_refresh is None else pc_refresh,
        warm_start=bool(warm),
        rtol=settings.rtol,
        atol=settings.atol,
        max_iter=settings.max_iter,
    )
    if method == "skr":
        k = K_SKR if settings.k is None else settings.k
        return SKRStrategy(**common, restart=settings.restart, k=k, update_every=SKR_UPDATE_EVERY)
    if method == "skr-cg":
        return RecycledCGStrategy(**common, k=K_SKR_CG if settings.k is None else settings.k)
    if method == "gmres":
        return GMRESStrategy(**common, restart=settings.restart)
    return CGStrategy(**common)


# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AutoChoice:
    """What :class:`AutoStrategy` picked, and why.

    Attributes
    ----------
    strategy : SequenceStrategy
        The winner, which solves the rest of the sequence.
    state : Any
        The winner's state after its trial systems (its solves are kept, not redone).
    solved : dict of int to SolveResult
        The trial systems the winner solved, by input index.
    choice : dict
        ``picked`` (``"method+preconditioner"``), ``estimated_seconds_per_system`` of every
        candidate, ``trial_systems`` and ``reason``.
    """

    strategy: SequenceStrategy
    state: Any
    solved: dict[int, SolveResult]
    choice: dict


class AutoStrategy:
    """``method="auto"``: candidates from size and symmetry, then a short timed trial.

    A symmetric matrix with a positive diagonal gets recycled CG and CG with AMG; any other
    GCRO-DR (SKR) and GMRES with ILU; a direct factorization joins while the matrix is small
    enough to factor (or the matrix repeats).  Each candidate solves the first
    ``settings.trial`` systems of the order; the fastest estimate of seconds per system over
    the sequence wins, and :attr:`AutoChoice.choice` says why.

    Parameters
    ----------
    settings : SequenceSettings
    backend : AbstractBackend
    """

    #: unknowns up to which a factorization is a candidate: 2-D-like stencils (at most 5.5
    #: entries a row) factorize well up to a few 10^5 unknowns, 3-D ones only to ~5e4
    direct_max_unknowns: tuple[int, int] = (300_000, 50_000)
    #: a candidate whose first system takes this many times the best estimate stops
    abort_factor = 3.0
    #: most iterations a trial system may take: more is not the fastest strategy
    trial_max_iter = 1000

    def __init__(self, settings: SequenceSettings, backend: AbstractBackend) -> None:
        self.settings = settings
        self.backend = backend

    def _make(self, method: str, pc: AbstractPreconditioner | None) -> SequenceStrategy:
        s = self.settings
        refresh = s.pc_refresh if s.pc_refresh > 1 else AUTO_REFRESH
        return make_strategy(method, s, self.backend, s.preconditioner or pc, refresh)

    def candidates(self, source: SystemSource, first: int) -> tuple[list, list, list, dict]:
        """Candidates to try first, the CG ones among them, the GMRES-type ones to add if
        every CG candidate fails, and the facts used."""
        bk, A0 = self.backend, source.matrix(first)
        n, nnz_row = bk.global_size(A0), bk.nnz_per_row(A0)
        facts = {
            "n": n,
            "spd_like": bk.is_symmetric(A0) and bk.positive_diagonal(A0),
            "shared": len({id(A) for A, _ in source.systems}) == 1,
        }
        limit = self.direct_max_unknowns[0 if nnz_row <= 5.5 else 1]
        direct_ok = n <= limit or facts["shared"]
        ilu = ILU(drop_tol=1e-5, fill_factor=20)  # robust enough for indefinite problems
        spd = [self._make("skr-cg", AMG()), self._make("cg", AMG())]
        general = [self._make("skr", ilu), self._make("gmres", ilu)]
        cands = [self._make("direct", None)] if direct_ok else []
        cands += spd if facts["spd_like"] else general
        if n > 50_000 and direct_ok and not facts["shared"]:
            # large: a factorization is the slow candidate, so time it last, where the early
            # abort (first system far slower than the best so far) stops it after one system
            cands = cands[1:] + cands[:1]
        return cands, (spd if facts["spd_like"] else []), general, facts

    def pick(self, source: SystemSource, perm: np.ndarray) -> AutoChoice:
        """Run the trial on the first systems of ``perm``; return the winner and why."""
        N = len(source)
        cands, spd, general, facts = self.candidates(source, int(perm[0]))
        t_trial = min(self.settings.trial, max(1, N // (2 * len(cands))))
        estimates: dict[str, float] = {}
        kept: dict[str, tuple[dict, Any]] = {}
        for cand in cands:
            self._trial(cand, perm[:t_trial], source, estimates, kept)
        note = ""
        if spd and not any(np.isfinite(estimates[c.label]) for c in spd):
            note = "; CG failed in the trial (indefinite), so GMRES-type candidates were tried"
            cands = cands + general
            for cand in general:
                self._trial(cand, perm[:t_trial], source, estimates, kept)
        best = min(estimates, key=estimates.get)
        if not np.isfinite(estimates[best]):
            raise ConfigError(
                "solve_sequence(method='auto'): every candidate failed on the trial systems; "
                "choose a method and preconditioner explicitly."
            )
        kind = "symmetric, positive diagonal" if facts["spd_like"] else "nonsymmetric or indefinite"
        choice = {
            "picked": best,
            "estimated_seconds_per_system": estimates,
            "trial_systems": t_trial,
            "reason": f"{kind}, n={facts['n']}; fastest in a {t_trial}-system trial{note}",
        }
        solved, state = kept[best]
        strategy = next(c for c in cands if c.label == best)
        return AutoChoice(strategy, state, solved, choice)

    def _trial(self, cand, positions, source, estimates, kept) -> None:
        """Run ``cand`` on the systems ``positions``; store its seconds-per-system estimate.

        A candidate whose first system already costs :attr:`abort_factor` times the best
        estimate so far stops there (its estimate is that first time), so that a slow
        candidate costs the trial one system, not all of them.
        """
        best = min((v for v in estimates.values() if np.isfinite(v)), default=np.inf)
        label, N = cand.label, len(source)
        capped, state = cand.capped(self.trial_max_iter), cand.initial_state()
        done: dict[int, SolveResult] = {}
        times: list[float] = []
        for pos, i in enumerate(int(j) for j in positions):
            op, b = source.fetch(i)
            t0 = time.perf_counter()
            try:
                res, state = capped.step(op, b, state)
            except ConvergenceError:  # e.g. the preconditioner failed to set up
                estimates[label] = float("inf")
                return
            times.append(time.perf_counter() - t0)
            done[i] = res
            if not res.converged:
                estimates[label] = float("inf")
                return
            if pos == 0 and times[0] > self.abort_factor * best:
                estimates[label] = times[0]
                return
        # steady state from the later systems; the first system's extra cost (cold start) is
        # amortized over the sequence, a preconditioner build over pc_refresh systems
        steady = float(np.mean(times[1:])) if len(times) > 1 else times[0]
        builds, refresh = cand.setup_cost(state, len(times))
        estimates[label] = steady + builds / refresh + max(times[0] - steady - builds, 0.0) / N
        kept[label] = (done, state)


# ---------------------------------------------------------------------------------------
@krylov_threads
def solve_sequence(
    systems: Sequence[tuple[Any, Any]],
    method: Method | None = None,
    *,
    params: Any = None,
    settings: SequenceSettings | None = None,
    **options: Any,
) -> SequenceResult:
    """Solve ``A_i x_i = b_i`` for a sequence of related systems.

    Parameters
    ----------
    systems : sequence of (A, b)
        ``A`` scipy sparse (or a petsc4py Mat on the PETSc backend), ``b`` of shape (n,)
        (global on the scipy backend; global too on PETSc when ``A`` is scipy, then
        scattered; the rank's rows when ``A`` is a Mat).
    method : {"auto", "skr", "skr-cg", "gmres", "cg", "direct"}, optional
        See the module docstring; overrides ``settings.method`` (default ``"auto"``).
    params : array_like, shape (N, ...), optional
        Parameter fields used for the SKR ordering.  By default the matrices' values (when
        all share one sparsity pattern) or the right-hand sides are used.
    settings : SequenceSettings, optional
        All options at once; keywords in ``options`` override its fields.
    **options
        Any field of :class:`SequenceSettings` (``order``, ``preconditioner``,
        ``pc_refresh``, ``rtol``, ``atol``, ``restart``, ``k``, ``max_iter``,
        ``warm_start``, ``backend``, ``trial``, ``raise_on_failure``); an unknown name raises
        :class:`~pdeflow.errors.ConfigError`.

    Returns
    -------
    SequenceResult

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> lap = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(50, 50), format="csr")
    >>> systems = [(lap * (1 + 0.1 * i), np.ones(50)) for i in range(6)]
    >>> res = solve_sequence(systems, "skr", params=np.arange(6.0), rtol=1e-10)
    >>> res.solutions.shape, sorted(res.order.tolist()) == list(range(6))
    ((6, 50), True)
    """
    t_start = time.perf_counter()
    if method is not None:
        options["method"] = method
    s = (settings or SequenceSettings()).with_options(**options)
    systems = list(systems)
    N = len(systems)
    if N == 0:
        raise ShapeError("'systems' is empty.")
    bk = backend_for(systems[0][0], s.backend)
    perm = _resolve_order(s.order, s.method, systems, params, N)
    source = SystemSource(systems, bk)
    results: dict[int, SolveResult] = {}
    choice: dict[str, Any] = {}
    if s.method == "auto":
        picked = AutoStrategy(s, bk).pick(source, perm)
        strategy, state, choice = picked.strategy, picked.state, picked.choice
        results.update(picked.solved)
    else:
        strategy = make_strategy(s.method, s, bk)
        state = strategy.initial_state()
    for pos in range(N):
        i = int(perm[pos])
        if i not in results:
            results[i], state = _step(strategy, source, i, state, s.raise_on_failure)
    return _result(results, perm, strategy, choice, time.perf_counter() - t_start)


def _step(
    strategy: SequenceStrategy, source: SystemSource, i: int, state: Any, raise_on_failure: bool
) -> tuple[SolveResult, Any]:
    """Solve system ``i``; a failed set-up is recorded (or raised) and the state recovered."""
    op, b = source.fetch(i)
    try:
        res, state = strategy.step(op, b, state)
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
        state = strategy.recover(state)
    if raise_on_failure and not res.converged:
        res.raise_if_failed()
    return res, state


def _result(
    results: dict[int, SolveResult],
    perm: np.ndarray,
    strategy: SequenceStrategy,
    choice: dict,
    seconds: float,
) -> SequenceResult:
    N = len(perm)
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
        seconds,
        choice,
        strategy.preconditioner_spec,
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
