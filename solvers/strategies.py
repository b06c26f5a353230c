"""The per-system strategies of :func:`~pdeflow.solvers.solve_sequence`: one class per method.

Each strategy is a frozen object (its settings and backend) with one method,
``step(operator, b, state) -> (result, state)``: it solves one system of the sequence from the
state the previous system left (warm start, recycle space, preconditioner, factorization)
and returns the :class:`~pdeflow.solvers.SolveResult` with the state for the next system.

==========================  =========  =================================================
class                       method     per system
==========================  =========  =================================================
:class:`GMRESStrategy`      ``gmres``  GMRES(m) (the SKR paper's baseline)
:class:`SKRStrategy`        ``skr``    GCRO-DR carrying its recycle space
:class:`CGStrategy`         ``cg``     preconditioned CG
:class:`RecycledCGStrategy` ``skr-cg`` recycled (deflated) CG, for SPD sequences
:class:`DirectStrategy`     ``direct`` a sparse factorization, reused while the matrix repeats
==========================  =========  =================================================

The Krylov strategies share :class:`KrylovStrategy`: a preconditioner set up from scratch every
``pc_refresh`` systems and adapted in between with ``spec.update``, and the warm start.

Examples
--------
>>> import numpy as np, scipy.sparse as sp
>>> from pdeflow.solvers import CGStrategy, ScipyBackend
>>> A = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(20, 20), format="csr")
>>> bk = ScipyBackend()
>>> strategy = CGStrategy(bk, pc=None, pc_refresh=1, warm_start=True, rtol=1e-10)
>>> state = strategy.initial_state()
>>> for b in (np.ones(20), np.ones(20) + 1e-3):
...     res, state = strategy.step(bk.operator(A), b, state)
>>> res.converged, res.iterations < 20
(True, True)
"""

from __future__ import annotations

import abc
import dataclasses
import time
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from pdeflow.errors import ConvergenceError

from .backend_base import AbstractBackend, Operator
from .cg import cg
from .direct import SparseLDL, direct_solve, factorize, splu_factor
from .gcrodr import gcrodr
from .gmres import gmres
from .preconditioners import AbstractPreconditioner, BuiltPreconditioner
from .status import SolveResult

__all__ = [
    "SequenceStrategy",
    "KrylovStrategy",
    "GMRESStrategy",
    "SKRStrategy",
    "CGStrategy",
    "RecycledCGStrategy",
    "DirectStrategy",
    "KrylovState",
    "DirectState",
    "STRATEGIES",
]

#: relative residual above which an LDL^T solve is redone with SuperLU
LDL_RTOL = 1e-8


class SequenceStrategy(abc.ABC):
    """How each system of a sequence is solved: ``step(operator, b, state) -> (result, state)``."""

    method: ClassVar[str]

    @property
    def pc_name(self) -> str:
        """Name of the preconditioner (``"none"`` without one)."""
        return "none"

    @property
    def label(self) -> str:
        """``"method+preconditioner"``, as ``"auto"`` reports its candidates."""
        return f"{self.method}+{self.pc_name}"

    @abc.abstractmethod
    def initial_state(self) -> Any:
        """The state before the first system."""

    @abc.abstractmethod
    def step(self, operator: Operator, b: np.ndarray, state: Any) -> tuple[SolveResult, Any]:
        """Solve ``operator x = b`` from ``state``; return the result and the next state.

        Parameters
        ----------
        operator : Operator
            The system's matrix, wrapped by the strategy's backend.
        b : ndarray, shape (n_local,)
        state : the previous step's state (or :meth:`initial_state`)
        """

    def recover(self, state: Any) -> Any:
        """The state to go on from after ``step`` raised (a failed set-up); unchanged here."""
        return state

    @property
    def preconditioner_spec(self) -> AbstractPreconditioner | None:
        """The preconditioner spec it sets up (None without one)."""
        return None

    def capped(self, max_iter: int) -> SequenceStrategy:
        """This strategy with at most ``max_iter`` iterations per system (``"auto"``'s trial)."""
        return self

    def setup_cost(self, state: Any, n_timed: int) -> tuple[float, int]:
        """``(seconds, systems)``: full set-up time within ``n_timed`` timed systems that
        amortizes over ``systems`` systems (``"auto"``'s estimate); none here."""
        return 0.0, 1


@dataclass(frozen=True, slots=True)
class KrylovState:
    """What a Krylov strategy carries from one system to the next.

    Attributes
    ----------
    x : ndarray or None
        The last converged solution (the warm start).
    recycle : Any
        GCRO-DR's recycle space or recycled CG's deflation space.
    pc : BuiltPreconditioner or None
    pc_age : int
        Systems solved with ``pc`` since its last full set-up.
    pc_time : float
        Seconds spent in full preconditioner set-ups so far.
    """

    x: np.ndarray | None = None
    recycle: Any = None
    pc: BuiltPreconditioner | None = None
    pc_age: int = 0
    pc_time: float = 0.0


@dataclass(frozen=True)
class KrylovStrategy(SequenceStrategy):
    """Preconditioner refresh and warm start shared by the Krylov strategies.

    Parameters
    ----------
    backend : AbstractBackend
    pc : AbstractPreconditioner or None
    pc_refresh : int
        Systems per full preconditioner set-up; in between ``pc.update`` adapts it.
    warm_start : bool
        Start each solve from the previous converged solution.
    rtol, atol, max_iter
        Krylov stopping settings, per system.
    """

    backend: AbstractBackend
    pc: AbstractPreconditioner | None
    pc_refresh: int
    warm_start: bool
    rtol: float = 1e-8
    atol: float = 0.0
    max_iter: int = 10_000

    @property
    def pc_name(self) -> str:
        return "none" if self.pc is None else self.pc.name

    def initial_state(self) -> KrylovState:
        return KrylovState()

    def recover(self, state: KrylovState) -> KrylovState:
        """After a failed preconditioner set-up: set it up anew at the next system."""
        return dataclasses.replace(state, pc=None, pc_age=0)

    @property
    def preconditioner_spec(self) -> AbstractPreconditioner | None:
        return self.pc

    def capped(self, max_iter: int) -> KrylovStrategy:
        return dataclasses.replace(self, max_iter=min(self.max_iter, max_iter))

    def setup_cost(self, state: KrylovState, n_timed: int) -> tuple[float, int]:
        """The preconditioner's set-ups, over ``pc_refresh`` systems (when every set-up of
        the refresh period fell into the timed systems)."""
        timed = self.pc is not None and self.pc_refresh >= n_timed
        return (state.pc_time if timed else 0.0), self.pc_refresh

    def step(
        self, operator: Operator, b: np.ndarray, state: KrylovState
    ) -> tuple[SolveResult, KrylovState]:
        state = self._preconditioner(operator, state)
        x0 = state.x if self.warm_start else None
        res = self._solve(operator, b, x0, state)
        x = res.x if res.converged else state.x
        return res, dataclasses.replace(state, x=x, recycle=res.recycle)

    def _preconditioner(self, op: Operator, st: KrylovState) -> KrylovState:
        """A full set-up every ``pc_refresh`` systems (a factorization keeps its ordering),
        ``spec.update`` for a new matrix in between (e.g. AMG: new Galerkin operators)."""
        if self.pc is None:
            return st
        bk = self.backend
        if st.pc is None or st.pc_age >= self.pc_refresh:
            t0 = time.perf_counter()
            pc = self.pc.build(op, bk) if st.pc is None else self.pc.rebuild(st.pc, op, bk)
            spent = time.perf_counter() - t0  # full set-ups only
            return dataclasses.replace(st, pc=pc, pc_age=1, pc_time=st.pc_time + spent)
        pc = st.pc if st.pc.operator is op.source else self.pc.update(st.pc, op, bk)
        return dataclasses.replace(st, pc=pc, pc_age=st.pc_age + 1)

    def _options(self, x0: np.ndarray | None, st: KrylovState) -> dict[str, Any]:
        return dict(
            x0=x0,
            M=st.pc,
            rtol=self.rtol,
            atol=self.atol,
            max_iter=self.max_iter,
            backend=self.backend,
            raise_on_failure=False,
        )

    @abc.abstractmethod
    def _solve(
        self, op: Operator, b: np.ndarray, x0: np.ndarray | None, st: KrylovState
    ) -> SolveResult:
        """One Krylov solve with the state's preconditioner and recycle space."""


@dataclass(frozen=True)
class GMRESStrategy(KrylovStrategy):
    """GMRES(``restart``) per system (``method="gmres"``)."""

    restart: int = 40
    method: ClassVar[str] = "gmres"

    def _solve(self, op, b, x0, st):
        return gmres(op, b, restart=self.restart, **self._options(x0, st))


@dataclass(frozen=True)
class SKRStrategy(KrylovStrategy):
    """GCRO-DR(``restart``, ``k``) carrying its recycle space (``method="skr"``).

    ``update_every`` is GCRO-DR's: ``"auto"`` renews the space after each cycle, or every
    second one where its harmonic Ritz values look definite.
    """

    restart: int = 40
    k: int = 20
    update_every: int | str = "auto"
    method: ClassVar[str] = "skr"

    def _solve(self, op, b, x0, st):
        return gcrodr(
            op, b, recycle=st.recycle, restart=self.restart, k=self.k,
            update_every=self.update_every, **self._options(x0, st),
        )  # fmt: skip


@dataclass(frozen=True)
class CGStrategy(KrylovStrategy):
    """Preconditioned CG per system (``method="cg"``)."""

    method: ClassVar[str] = "cg"

    def _solve(self, op, b, x0, st):
        return cg(op, b, **self._options(x0, st))


@dataclass(frozen=True)
class RecycledCGStrategy(KrylovStrategy):
    """Recycled (deflated) CG with ``k`` Ritz vectors, for SPD sequences (``method="skr-cg"``)."""

    k: int = 4
    method: ClassVar[str] = "skr-cg"

    def _solve(self, op, b, x0, st):
        return cg(op, b, recycle=st.recycle, k=self.k, **self._options(x0, st))


@dataclass(frozen=True, slots=True)
class DirectState:
    """The factorization a :class:`DirectStrategy` reuses.

    Attributes
    ----------
    factor : callable or None
        ``b -> x`` for the matrix ``source``.
    source : Any
        The matrix object ``factor`` was computed for.
    pivoting : bool
        LDL^T was inaccurate once in this sequence: factor with SuperLU's pivoting from now on.
    """

    factor: Any = None
    source: Any = None
    pivoting: bool = False


@dataclass(frozen=True)
class DirectStrategy(SequenceStrategy):
    """A sparse factorization per distinct matrix (``method="direct"``).

    LDL^T for symmetric matrices with a positive diagonal, refactored numerically while the
    sparsity pattern repeats; SuperLU once an LDL^T solve's relative residual exceeds
    :data:`LDL_RTOL`, and for every other matrix; the backend's own solver on PETSc.
    """

    backend: AbstractBackend
    method: ClassVar[str] = "direct"

    def initial_state(self) -> DirectState:
        return DirectState()

    def step(
        self, operator: Operator, b: np.ndarray, state: DirectState
    ) -> tuple[SolveResult, DirectState]:
        t_factor = 0.0
        if state.factor is None or state.source is not operator.source:
            t0 = time.perf_counter()
            # an LDL^T of the same pattern is refactored: numeric phase only
            factor = (
                splu_factor(operator.csr)
                if state.pivoting
                else factorize(operator, self.backend, previous=state.factor)
            )
            state = dataclasses.replace(state, factor=factor, source=operator.source)
            t_factor = time.perf_counter() - t0
        ldl = isinstance(state.factor, SparseLDL)
        try:
            res = direct_solve(operator, b, factor=state.factor, backend=self.backend)
            inaccurate = ldl and not res.residual_norm <= LDL_RTOL * res.residuals[0]
        except ConvergenceError:  # a non-finite solution
            if not ldl:
                raise
            inaccurate = True
        if inaccurate:  # LDL^T without pivoting failed (indefinite): SuperLU from now on
            t0 = time.perf_counter()
            state = dataclasses.replace(state, factor=splu_factor(operator.csr), pivoting=True)
            res = direct_solve(operator, b, factor=state.factor, backend=self.backend)
            t_factor += time.perf_counter() - t0
        # the system's time includes its factorization (none when one is reused)
        return dataclasses.replace(res, time=res.time + t_factor), state


#: method name -> strategy class
STRATEGIES: dict[str, type[SequenceStrategy]] = {
    cls.method: cls
    for cls in (GMRESStrategy, SKRStrategy, CGStrategy, RecycledCGStrategy, DirectStrategy)
}
