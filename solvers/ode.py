"""Initial-value problems ``dy/dt = f(t, y)``: compiled problems and stiff/non-stiff solves.

:class:`ODEProblem` holds a right-hand side, an optional sparse Jacobian with a fixed
pattern, ``y0`` and ``tspan``.  :meth:`ODEProblem.from_function` traces ordinary
numpy code with :func:`pdeflow.symbolic.trace` and compiles both the RHS and its
analytic sparse Jacobian (:func:`pdeflow.symbolic.compile`,
:func:`pdeflow.symbolic.compile_jacobian`); :meth:`ODEProblem.from_terms` and
:meth:`ODEProblem.from_reaction_network` do the same for scalar systems such as
BioNetGen networks.

:func:`solve` integrates with

* ``"rodas4"``: pdeflow's own stiffly accurate Rosenbrock method (order 4, sparse LU
  of ``I/(gamma h) - J`` per step, see :mod:`pdeflow.solvers.ode_methods`);
* ``"BDF"``, ``"Radau"``: scipy's implicit methods through ``solve_ivp(jac=...)``;
  scipy keeps the LU of its Newton matrix across steps while Newton converges and
  uses SuperLU (``splu``) for sparse Jacobians (BDF's are solved by pdeflow, below);
* ``"LSODA"``: scipy's LSODA (Adams/BDF switching, dense Jacobian: small systems);
  with ``t_eval`` and ``dense_output=False`` the whole integration is one
  ``scipy.integrate.odeint`` call, with no Python between steps;
* ``"rk45"``: explicit Dormand–Prince 5(4) with dense output, for non-stiff problems;
* ``"auto"``: ``"LSODA"`` up to :data:`SMALL_SYSTEM` states, else ``"BDF"`` with the
  sparse Jacobian.  ``benchmarks/ode_methods.py`` times every stiff method on the stiff
  cases (2-core machine, loaded; multiples of the fastest): RD3 N=32 rodas4 up to 1.8x,
  Radau 13-27x, LSODA 455x (dense); Gray-Scott 64x64 rodas4 0.95x BDF, Radau over 5x;
  BCR LSODA 2.4x, rodas4 3.8x, Radau over 3x.  rodas4 (a sparse LU per step: slow where
  the factors fill in), Radau and LSODA on large systems are offered, never picked by
  ``"auto"``.

Sparse LU note: scipy's ``splu`` cannot reuse a symbolic factorization between
calls; pdeflow reuses the fill-reducing ordering and the assembled pattern, and
SuperLU redoes the symbolic analysis at every factorization.

Examples
--------
>>> import numpy as np
>>> from pdeflow.solvers.ode import ODEProblem, solve
>>> prob = ODEProblem(lambda t, y: -y, np.array([1.0, 2.0]), (0.0, 1.0))
>>> sol = solve(prob, method="rk45", rtol=1e-8, atol=1e-10)
>>> bool(np.allclose(sol.y[-1], np.exp(-1.0) * np.array([1.0, 2.0]), rtol=1e-7))
True
>>> sol.status
<ODEStatus.SUCCESS: 1>
"""

from __future__ import annotations

import functools
import inspect
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
import scipy.sparse as sp

from pdeflow.errors import ConfigError, ConvergenceError, DataError
from pdeflow.solvers.ode_methods import STEPPERS, JacobianSource
from pdeflow.status import Status

__all__ = ["ODEProblem", "ODESolution", "ODEStatus", "DenseOutput", "solve", "METHODS"]

METHODS = ("auto", "rodas4", "BDF", "Radau", "LSODA", "rk45")
SCIPY_METHODS = ("BDF", "Radau", "LSODA")
# "auto" picks one of these two (see solve); rodas4 and Radau are offered but never picked:
# more than 3x BDF's time on some stiff case measured (benchmarks/ode_methods.py)
AUTO_STIFF = "BDF"
AUTO_SMALL = "LSODA"
# compile(..., optimize=True) options that only emit the straight-line program: no rewrite
# rules, no saturation, tree extraction with the built-in cost table (no calibration file)
_STRAIGHT_LINE = MappingProxyType({"rules": "none", "cost": "anchor", "extractor": "tree"})
SMALL_SYSTEM = 64
"""Up to this many states a system is "small": ``solve(method="auto")`` takes LSODA (its
dense finite-difference Jacobian costs ``n + 1`` RHS calls), and ``from_terms`` /
``from_reaction_network`` with ``target="auto"`` generate numpy code (no JIT compile) and, with
``jac=None``, no Jacobian (benchmarks/ode_small.py)."""


# ------------------------------------------------------------------------ status
class ODEStatus(Status):
    """Why an integration stopped: positive reached the end, negative failed.

    Examples
    --------
    >>> ODEStatus.MAX_STEPS.message.startswith("reached max_steps")
    True
    """

    SUCCESS = 1, "reached the end of tspan"
    STEP_SIZE_TOO_SMALL = -1, (
        "the step size fell below the spacing of floating-point numbers at t; the solution may "
        "blow up there, or the problem is stiff: use method='rodas4', 'BDF' or 'Radau', or "
        "loosen rtol/atol")
    MAX_STEPS = -2, (
        "reached max_steps before the end of tspan; increase max_steps, or use a stiff method "
        "if the explicit method is taking tiny steps")
    NONFINITE = -3, (
        "the right-hand side returned NaN or inf and shrinking the step did not help; check "
        "f for divisions by zero or logs of negative states")
    SINGULAR = -4, (
        "the iteration matrix I/(gamma h) - J stayed singular while shrinking the step; check "
        "the Jacobian")
    SCIPY_FAILED = -5, "scipy's solver failed"


# ----------------------------------------------------------------------- problem
def _ensure_fn(name, f):
    if not callable(f):
        raise DataError(f"{name} must be callable, got {type(f).__name__}")


class ODEProblem:
    """``dy/dt = rhs(t, y)`` on ``tspan`` from ``y0``, with an optional sparse Jacobian.

    Parameters
    ----------
    rhs : callable
        ``rhs(t, y) -> dy`` (or ``rhs(t, y, p)`` when ``p`` is given), ``y`` and
        ``dy`` of shape ``(n,)``.
    y0 : array_like
        Initial state; any shape, flattened to ``(n,)`` (``shape`` keeps the original).
    tspan : (float, float)
        Start and end time, ``t0 < t1``.
    p : optional
        Parameters passed as the third argument of ``rhs`` and ``jac``.
    jac : callable, optional
        ``jac(t, y) -> scipy.sparse matrix`` (or ``jac(t, y, p)``), ``(n, n)``, with the
        same sparsity pattern at every call.
    jac_sparsity : array_like or sparse, optional
        The Jacobian's pattern when ``jac`` is not given: stiff methods then estimate
        it by grouped finite differences.
    autonomous : bool
        ``True`` if ``rhs`` does not depend on ``t`` (saves one RHS evaluation per
        Rosenbrock step).

    Raises
    ------
    DataError
        Non-finite or empty ``y0``, ``tspan`` not increasing, ``rhs`` returning the
        wrong shape or non-finite values at ``(t0, y0)``, a Jacobian of the wrong shape.

    Attributes
    ----------
    n : int
    shape : tuple
        Shape of the original ``y0``.
    timings : Mapping
        Seconds spent tracing, generating and compiling (``from_*`` constructors).
    source : Mapping
        Generated source of the RHS and Jacobian (``from_*`` constructors).
    rhs_compiled : CompiledFunction or None
        The compiled RHS (``from_*`` constructors); with the numba target its
        unchecked kernel is ``rhs_compiled.kernel(out, y, pvalues, t)``.
    rhs_inplace : callable or None
        Numba target: ``rhs_inplace(out, y, t)`` with the parameters bound, no allocation.
    pvalues : ndarray
        The parameter vector bound to the compiled functions (``from_*`` constructors).

    Examples
    --------
    >>> import numpy as np
    >>> prob = ODEProblem(lambda t, y, k: -k * y, [1.0], (0.0, 2.0), p=3.0)
    >>> prob.n, prob.tspan
    (1, (0.0, 2.0))
    """

    def __init__(self, rhs, y0, tspan, p=None, jac=None, jac_sparsity=None,
                 autonomous: bool = False, *, _compiled=None, _timings=None):
        _ensure_fn("rhs", rhs)
        y0a = np.asarray(y0, dtype=np.float64)
        if y0a.size == 0:
            raise DataError("y0 is empty; an ODE needs at least one state")
        if not np.all(np.isfinite(y0a)):
            bad = np.flatnonzero(~np.isfinite(y0a.ravel()))
            raise DataError(f"y0 has {bad.size} non-finite entries (first at flat index "
                            f"{bad[0]}); give finite initial values")
        try:
            t0, t1 = (float(v) for v in tspan)
        except (TypeError, ValueError):
            raise DataError(f"tspan must be two numbers (t0, t1), got {tspan!r}") from None
        if not (math.isfinite(t0) and math.isfinite(t1) and t1 > t0):
            raise DataError(f"tspan must be finite and increasing (t0 < t1), got {(t0, t1)}")
        self.shape = y0a.shape
        self.y0 = y0a.reshape(-1).copy()
        self.y0.flags.writeable = False
        self.n = self.y0.size
        self.tspan = (t0, t1)
        self.p = p
        self.autonomous = bool(autonomous)
        self._compiled = _compiled  # (rhs_into, JacobianSource or None) for from_* problems
        self.timings = MappingProxyType(dict(_timings or {}))
        if p is None:
            self._rhs = rhs
        else:
            self._rhs = lambda t, y: rhs(t, y, p)
        self.rhs_user = rhs
        f0 = np.asarray(self._rhs(t0, self.y0.copy()), dtype=float)
        if f0.size != self.n:
            raise DataError(f"rhs(t0, y0) returned {f0.size} values for {self.n} states; it must "
                            f"return dy of the same size as y0")
        if not np.all(np.isfinite(f0)):
            raise DataError("rhs(t0, y0) is not finite; check y0, the parameters and rhs")
        self.jac = None
        if jac is not None:
            _ensure_fn("jac", jac)
            self.jac = jac if p is None else (lambda t, y: jac(t, y, p))
            J0 = self.jac(t0, self.y0.copy())
            if not sp.issparse(J0) and np.ndim(J0) != 2:
                raise DataError("jac(t0, y0) must return a 2-D (sparse) matrix")
            if J0.shape != (self.n, self.n):
                raise DataError(f"jac(t0, y0) has shape {J0.shape}, expected {(self.n, self.n)}")
        self.jac_sparsity = None
        if jac_sparsity is not None:
            S = sp.csr_matrix(jac_sparsity)
            if S.shape != (self.n, self.n):
                raise DataError(f"jac_sparsity has shape {S.shape}, expected "
                                f"{(self.n, self.n)}")
            self.jac_sparsity = S
        self.source: Mapping[str, str] = MappingProxyType({})
        self.rhs_inplace = None  # compiled problems (numba): rhs_inplace(out, y, t), no allocation
        self.rhs_compiled = None  # compiled problems: the CompiledFunction of the RHS
        self.pvalues = None  # compiled problems: the bound parameter vector

    def __repr__(self):
        kind = "compiled" if self._compiled is not None else "python"
        return (f"ODEProblem(n={self.n}, tspan={self.tspan}, {kind}, "
                f"jac={'yes' if self.jac is not None else 'no'})")

    # --------------------------------------------------------------- evaluation
    def rhs(self, t, y) -> np.ndarray:
        """``dy/dt`` at ``(t, y)``, shape ``(n,)`` (a new array)."""
        return np.asarray(self._rhs(t, y), dtype=float).reshape(-1)

    def _jacobian_source(self) -> JacobianSource | None:
        """Jacobian values on a fixed pattern, for pdeflow's own implicit methods."""
        if self._compiled is not None and self._compiled[1] is not None:
            return self._compiled[1]
        if self.jac is not None:  # a user Jacobian: its stored pattern may vary
            return JacobianSource(None, None, self.jac, self.autonomous)
        S = self.jac_sparsity
        if S is None:
            S = sp.csr_matrix(np.ones((self.n, self.n)))
        return _fd_jacobian(self.rhs, S, self.autonomous)

    # ------------------------------------------------------------- constructors
    @classmethod
    def from_function(cls, f, y0, tspan, p=None, target: str = "numba", parallel: bool = False,
                      jac: bool = True, form: str | None = None,
                      static_params: bool = False) -> ODEProblem:
        """Trace numpy user code, compile its RHS and sparse Jacobian, bind ``p``.

        Parameters
        ----------
        f : callable
            ``f(t, y, p) -> dy`` (out-of-place) or ``f(dy, y, p, t)`` (in-place, writes
            ``dy`` and returns None).  ``y`` has the shape of ``y0``.
        y0 : ndarray
            Initial state (any shape; the problem works on it flattened).
        tspan : (float, float)
        p : tuple of numbers, ndarray, number or None
            Parameters; traced as symbols and bound to these values.
        target : {"numba", "numpy", "jax", "torch"}
            Code generation target of :func:`pdeflow.symbolic.compile`.  ``"numpy"``
            compiles nothing per problem: for a single stiff solve whose time is in the
            sparse LU it is the quickest way to a solution (RD3 at N=32: 0.6-0.9 s from the
            user code to the solution, against 2-3 s of Numba JIT compile alone);
            ``"numba"`` pays off over long or repeated solves.
        parallel : bool
            Numba ``prange`` loops.
        jac : bool
            Also compile the analytic sparse Jacobian.
        form : {"oop", "inplace"}, optional
            Declare the form.  Without it, three positional parameters mean out-of-place
            and four in-place (the names do not matter), checked by one trial call of ``f``
            at ``(t0, y0, p)`` (out-of-place returns an array of ``y0``'s shape, in-place
            returns None); any other signature, or a trial that disagrees, raises
            :class:`~pdeflow.errors.ConfigError` asking for ``form``.
        static_params : bool
            Bind ``p`` as numbers at trace time (:func:`pdeflow.symbolic.trace`'s
            ``static_params``), so ``f`` may call ``float(p[0])``, ``math.exp(p[0])`` or
            branch on parameters; the compiled code then holds those values.

        Returns
        -------
        ODEProblem
            With ``timings`` ``{"trace", "codegen", "compile", "jac_codegen",
            "jac_compile"}`` in seconds (``compile`` is Numba's JIT at the first call;
            above 32 states also ``lu_load``, loading the library's compiled sparse LU and
            stepper kernels, and ``lu_analysis``, the LU's ordering and symbolic
            factorization) and ``source`` ``{"rhs", "jac"}``.

        Examples
        --------
        >>> import numpy as np
        >>> def decay(t, u, p):
        ...     return -p[0] * u + p[1] * (np.roll(u, 1) - u)
        >>> prob = ODEProblem.from_function(decay, np.ones(5), (0.0, 1.0), (2.0, 0.5),
        ...                                 target="numpy")
        >>> prob.jac(0.0, prob.y0).nnz
        10
        """
        from pdeflow.symbolic import compile as sym_compile
        from pdeflow.symbolic import compile_jacobian, trace

        _ensure_fn("f", f)
        y0a = np.asarray(y0, dtype=np.float64)
        if not np.all(np.isfinite(y0a)):
            raise DataError("y0 has non-finite entries; give finite initial values")
        t0 = float(tuple(tspan)[0])
        form = _detect_form(f, form, y0a, p, t0)
        names = list(inspect.signature(f).parameters)
        s = time.perf_counter()
        static = [names[2]] if static_params and len(names) > 2 else False
        if form == "oop":
            outputs, ins = trace(f, t0, y0a, p, return_inputs=True, static_params=static)
        else:
            outputs, ins = trace(f, np.empty_like(y0a), y0a, p, t0, return_inputs=True,
                                 static_params=static)
        y_sym, p_sym = ins[names[1]], (None if static else ins.get(names[2]))
        t_trace = time.perf_counter() - s
        params, pvec = _bind_params(p_sym, p)
        return cls._compiled_problem(
            sym_compile, compile_jacobian if jac else None, outputs, [y_sym], params, pvec,
            y0a, tspan, target, parallel, {"trace": t_trace})

    @classmethod
    def from_terms(cls, exprs: Sequence, states: Sequence, y0, tspan, params=None,
                   pvalues=None, target: str = "auto", jac: bool | None = None,
                   optimize: bool = False, optimize_options: dict | None = None,
                   time_symbol=None) -> ODEProblem:
        """A scalar system ``d states[i]/dt = exprs[i]`` (straight-line generated code).

        Parameters
        ----------
        exprs : list of Term
            One right-hand side per state.
        states : list of Sym
        y0 : array_like, shape ``(len(states),)``
        tspan : (float, float)
        params : list of Sym, optional
            Symbols to bind to ``pvalues``.
        pvalues : Mapping {Sym or name: float} or sequence aligned with ``params``
        target : {"auto", "numba", "numpy", "jax", "torch", "python"}
            ``"auto"`` (default): for small systems (up to :data:`SMALL_SYSTEM` states) one
            straight-line Python function (the e-graph's program emitter, without rewriting:
            about a millisecond to generate, nothing to JIT-compile, a few microseconds per
            call), else ``"numba"``.  ``"python"`` needs ``optimize=True``.
        jac : bool, optional
            Compile the analytic sparse Jacobian.  Default: above :data:`SMALL_SYSTEM`
            states only (a small system's solvers difference a dense Jacobian for less than
            generating one costs).
        optimize : bool
            Compile the right-hand sides through the e-graph optimizer
            (``compile(..., optimize=True)``, targets ``"numba"`` and ``"python"``);
            ``timings["codegen"]`` then includes the optimization.  The Jacobian is
            compiled as without it.
        optimize_options : dict, optional
            Keyword arguments of :func:`pdeflow.symbolic.egraph.optimize`.
        time_symbol : Sym, optional
            The time symbol of non-autonomous right-hand sides (default: ``t`` when the
            terms use it).

        Examples
        --------
        >>> from pdeflow.symbolic import sym
        >>> x, k = sym("x"), sym("k")
        >>> prob = ODEProblem.from_terms([-k * x], [x], [1.0], (0.0, 1.0), params=[k],
        ...                              pvalues=[2.0], target="numpy")
        >>> float(prob.rhs(0.0, prob.y0)[0])
        -2.0
        """
        from pdeflow.symbolic import compile as sym_compile
        from pdeflow.symbolic import compile_jacobian

        exprs, states = list(exprs), list(states)
        if len(exprs) != len(states):
            raise DataError(f"{len(exprs)} right-hand sides for {len(states)} states")
        small = len(states) <= SMALL_SYSTEM
        if jac is None:
            jac = not small
        if target == "auto":
            if small and not optimize:  # straight-line Python: no JIT, no rewriting
                from pdeflow.symbolic.egraph import Limits

                target, optimize = "python", True
                optimize_options = {**_STRAIGHT_LINE, "limits": Limits(iterations=0)}
            else:
                target = "numba"
        params = list(params or [])
        if isinstance(pvalues, Mapping):
            by_name = {str(k): float(v) for k, v in pvalues.items()}
            missing = [str(s) for s in params if str(s) not in by_name]
            if missing:
                raise DataError(f"pvalues has no value for {missing[:5]}")
            pvec = np.array([by_name[str(s)] for s in params])
        else:
            pvec = np.asarray([] if pvalues is None else pvalues, dtype=float).reshape(-1)
        if pvec.size != len(params):
            raise DataError(f"{pvec.size} parameter values for {len(params)} parameters")
        if optimize:
            sym_compile = functools.partial(sym_compile, optimize=True,
                                            optimize_options=optimize_options)
        return cls._compiled_problem(
            sym_compile, compile_jacobian if jac else None, exprs, states, params or None,
            pvec, np.asarray(y0, dtype=float), tspan, target, False, {"trace": 0.0}, time_symbol)

    @classmethod
    def from_reaction_network(cls, net, tspan, target: str = "auto",
                              jac: bool | None = None, optimize: bool = False) -> ODEProblem:
        """The ODEs of a BioNetGen network (:func:`load_bngl_net`).

        ``target``, ``jac`` and ``optimize`` are :meth:`from_terms`'s: by default a small
        network (up to :data:`SMALL_SYSTEM` species) gets generated numpy code and no
        compiled Jacobian, a larger one Numba code and its analytic sparse Jacobian.
        ``optimize=True`` compiles the right-hand sides through the e-graph optimizer.
        Rates that use ``time()`` make the problem non-autonomous.

        ``timings["trace"]`` is the time to build the symbolic right-hand sides.

        Examples
        --------
        >>> from pdeflow.symbolic.reactions import parse_bngl_net
        >>> net = parse_bngl_net('''
        ... begin parameters
        ...  1 k 2.0
        ... end parameters
        ... begin species
        ...  1 A() 1
        ...  2 B() 0
        ... end species
        ... begin reactions
        ...  1 1 2 k
        ... end reactions
        ... ''')
        >>> prob = ODEProblem.from_reaction_network(net, (0.0, 1.0), target="numpy")
        >>> prob.rhs(0.0, prob.y0)
        array([-2.,  2.])
        """
        s = time.perf_counter()
        exprs = net.rhs_terms()
        states = list(net.state_symbols())
        t_terms = time.perf_counter() - s
        prob = cls.from_terms(exprs, states, net.y0, tspan, target=target, jac=jac,
                              optimize=optimize, time_symbol=net.time_symbol)
        prob.timings = MappingProxyType({**prob.timings, "trace": t_terms})
        return prob

    @classmethod
    def _compiled_problem(cls, sym_compile, sym_jac, outputs, inputs, params, pvec, y0a, tspan,
                          target, parallel, timings, tsym=None):
        kw = {"target": target, "parallel": parallel} if parallel else {"target": target}
        if tsym is not None:
            kw["time"] = tsym
        s = time.perf_counter()
        fn = sym_compile(outputs, inputs, params=params, **kw)
        timings["codegen"] = time.perf_counter() - s
        y0f = np.ascontiguousarray(y0a.reshape(-1))
        if fn.n_in != y0f.size:
            raise DataError(f"y0 has {y0f.size} entries, the traced system has {fn.n_in} states")
        t0 = float(tuple(tspan)[0])
        s = time.perf_counter()
        _as_numpy(fn(y0f, pvec, t0))  # first call: Numba JIT
        timings["compile"] = time.perf_counter() - s
        # an e-graph optimized program (compile(..., optimize=True)) says so itself
        autonomous = getattr(fn, "autonomous", None)
        if autonomous is None:
            autonomous = fn.program.time is None
        out_numba = target == "numba"
        # numba and straight-line python kernels write into an output array through bind()
        bound = fn.bind(pvec) if target in ("numba", "python") else None

        if hasattr(fn, "rhs"):  # a straight-line program: its own fewest-layers closure
            rhs = fn.rhs(pvec)
        else:
            def rhs(t, y):
                if bound is not None:
                    return bound(np.empty(fn.n_out), y, t)
                return _as_numpy(fn(y, pvec, t))

        jsrc = None
        jac_call = None
        sources = {"rhs": fn.source}
        if sym_jac is not None:
            jac_kw = dict(kw, target="numpy") if target == "python" else kw
            jac_numba = jac_kw["target"] == "numba"
            s = time.perf_counter()
            jf = sym_jac(outputs, inputs, params=params, **jac_kw)
            timings["jac_codegen"] = time.perf_counter() - s
            s = time.perf_counter()
            data0 = np.empty(jf.nnz)
            _fill(jf, data0, y0f, pvec, t0, jac_numba)
            timings["jac_compile"] = time.perf_counter() - s
            sources["jac"] = jf.source
            indptr, indices, shape = jf.indptr, jf.indices, jf.shape

            def jdata(t, y):
                d = np.empty(jf.nnz)
                return _fill(jf, d, y, pvec, t, jac_numba)

            def jac_call(t, y):
                return sp.csr_matrix((jdata(t, y), indices, indptr), shape=shape)

            jsrc = JacobianSource(indptr, indices, jdata, autonomous)
            if jf.shape[0] > 32:  # stiff solves factor with StaticLU: load its kernels now
                from .ode_kernels import warm_up as warm_up_stepper
                from .ode_methods import SparseShiftedLU
                from .sparse_lu import warm_up

                s = time.perf_counter()
                warm_up()
                warm_up_stepper()
                timings["lu_load"] = time.perf_counter() - s
                # the ordering and symbolic factorization of shift*I - J (cached by pattern,
                # so every solve of this problem starts from it)
                s = time.perf_counter()
                SparseShiftedLU(indptr, indices, jf.shape[0])
                timings["lu_analysis"] = time.perf_counter() - s
        prob = cls(rhs, y0a, tspan, jac=jac_call, autonomous=autonomous,
                   _compiled=(rhs, jsrc), _timings=timings)
        prob.source = MappingProxyType(sources)
        prob.pvalues = pvec
        prob.rhs_compiled = fn
        if out_numba:
            prob.rhs_inplace = bound
        return prob

    def unflatten(self, y) -> np.ndarray:
        """A flat state ``(n,)`` (or ``(T, n)``) reshaped to ``y0``'s original shape."""
        y = np.asarray(y)
        return y.reshape(self.shape) if y.ndim == 1 else y.reshape((y.shape[0], *self.shape))


def _as_numpy(x):
    if hasattr(x, "detach"):
        x = x.detach().cpu()
    return np.asarray(x, dtype=float).reshape(-1)


def _fill(jf, data, y, pvec, t, numba_target):
    if numba_target:
        return jf.fill(data, y, pvec, t)
    data[:] = _as_numpy(jf.values_fn(y, pvec, t)) if jf.nnz else 0.0
    return data


FORMS = ("oop", "inplace")


def _positional_count(f) -> int | None:
    """Positional parameters of ``f``; None when unreadable or ``*args`` makes it open."""
    try:
        params = inspect.signature(f).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(q.kind is q.VAR_POSITIONAL for q in params):
        return None
    return sum(q.kind in (q.POSITIONAL_ONLY, q.POSITIONAL_OR_KEYWORD) for q in params)


def _detect_form(f, form, y0, p, t0) -> str:
    """The declared form, else the one ``f``'s signature allows, checked by a trial call.

    Three positional parameters mean ``f(t, y, p) -> dy``, four mean ``f(dy, y, p, t)``
    (names do not matter).  A trial call at ``(t0, y0, p)`` then checks the form: an
    out-of-place ``f`` returns an array of ``y0``'s shape, an in-place one returns None.
    Anything else is ambiguous and raises :class:`~pdeflow.errors.ConfigError` saying how
    to declare the form.
    """
    if form is not None:
        if form not in FORMS:
            raise ConfigError(f"The 'form' parameter of ODEProblem.from_function must be one of "
                              f"'oop', 'inplace'. Got {form!r}.")
        return form
    declare = "declare it: from_function(..., form='oop') or form='inplace'"
    count = _positional_count(f)
    if count not in (3, 4):
        raise ConfigError(f"cannot tell whether f is f(t, y, p) -> dy or f(dy, y, p, t) from a "
                          f"signature with {count or 'open'} positional parameters; {declare}")
    form = "oop" if count == 3 else "inplace"
    call = "f(t, y, p)" if form == "oop" else "f(dy, y, p, t)"
    try:
        if form == "oop":
            out = f(t0, y0.copy(), p)
            ok = out is not None and np.shape(out) == y0.shape
        else:
            ok = f(np.zeros_like(y0), y0.copy(), p, t0) is None
    except Exception as exc:  # noqa: BLE001 - any failure of the trial leaves the form open
        raise ConfigError(f"a trial call of f as {call} raised {type(exc).__name__}: {exc}; "
                          f"{declare}") from exc
    if not ok:
        want = ("an array of y0's shape" if form == "oop"
                else "None (an in-place f writes dy)")
        raise ConfigError(f"f has {count} positional parameters, so it was called as {call}, "
                          f"but it did not return {want}; {declare}")
    return form


def _bind_params(p_sym, p):
    """Symbols in ``p``'s order and the matching flat value vector."""
    if p is None or p_sym is None:
        return None, np.zeros(0)
    from pdeflow.symbolic.tracing import SymArray

    if isinstance(p_sym, tuple | list):
        syms, vals = [], []
        for s_, v in zip(p_sym, p, strict=True):
            syms.append(s_)
            vals.append(np.asarray(v, dtype=float).reshape(-1))
        return syms, np.concatenate(vals) if vals else np.zeros(0)
    if isinstance(p_sym, SymArray):
        return [p_sym], np.asarray(p, dtype=float).reshape(-1)
    return [p_sym], np.asarray([p], dtype=float).reshape(-1)


# ------------------------------------------------------- finite-difference Jacobian
def _fd_jacobian(fun, S, autonomous) -> JacobianSource:
    """Grouped (column-colored) forward differences on the pattern ``S``."""
    S = sp.csr_matrix(S)
    S.sort_indices()
    n = S.shape[0]
    St = S.tocsc()
    St.sort_indices()
    colors = np.full(n, -1)
    rows_of = [St.indices[St.indptr[j]:St.indptr[j + 1]] for j in range(n)]
    used: list[set] = []
    for j in range(n):  # greedy: a color's columns share no row
        r = set(rows_of[j].tolist())
        for c, occ in enumerate(used):
            if not (occ & r):
                colors[j] = c
                occ |= r
                break
        else:
            colors[j] = len(used)
            used.append(set(r))
    rows = np.repeat(np.arange(n), np.diff(S.indptr))
    cols = S.indices
    eps = np.sqrt(np.finfo(float).eps)

    def data(t, y):
        f0 = fun(t, y)
        out = np.empty(cols.size)
        h = eps * np.maximum(1.0, np.abs(y))
        for c in range(len(used)):
            mask = colors == c
            yp = y.copy()
            yp[mask] += h[mask]
            df = fun(t, yp) - f0
            sel = mask[cols]
            out[sel] = df[rows[sel]] / h[cols[sel]]
        return out

    data.n_groups = len(used)
    return JacobianSource(S.indptr, S.indices, data, autonomous)


# ---------------------------------------------------------------------- solution
@dataclass(frozen=True, eq=False)
class DenseOutput:
    """Piecewise interpolant over the accepted steps: ``sol(t)``.

    Shapes: a scalar ``t`` gives ``(n,)``, an array of ``m`` times gives ``(m, n)``.
    """

    ts: np.ndarray
    pieces: tuple

    def __call__(self, t):
        t_arr = np.atleast_1d(np.asarray(t, dtype=float))
        lo, hi = self.ts[0], self.ts[-1]
        if np.any((t_arr < lo - 1e-12 * abs(lo)) | (t_arr > hi + 1e-12 * abs(hi))):
            raise DataError(f"dense output is defined on [{lo}, {hi}], got t outside it")
        idx = np.clip(np.searchsorted(self.ts, t_arr, side="right") - 1, 0, len(self.pieces) - 1)
        out = np.stack([np.asarray(self.pieces[i](tt)) for i, tt in zip(idx, t_arr, strict=True)])
        return out[0] if np.ndim(t) == 0 else out


@dataclass(frozen=True, eq=False)
class ODESolution:
    """The immutable result of :func:`solve`.

    Attributes
    ----------
    t : ndarray, shape (T,)
        Output times (``t_eval`` if given, else every accepted step, ``t0`` included).
    y : ndarray, shape (T, n)
        States at ``t`` (flat; ``problem.unflatten`` restores the original shape).
    status : ODEStatus
    message : str
    method : str
    nfev, njev, nlu : int
        RHS evaluations, Jacobian evaluations, LU factorizations (with
        ``linear_solver="gmres"``: incomplete LUs plus any exact fallbacks; LSODA through
        ``odeint`` does not count its LUs: ``nlu`` is its Jacobian evaluations).
    steps : int
        Accepted steps.
    rejected : int or None
        Rejected steps (None for scipy's methods, which do not report them).
    t_eval : ndarray or None
    t_final : float
        Where the integration stopped.
    dense : DenseOutput or None
    linear : dict or None
        ``"BDF"`` with a sparse Jacobian: ``{"linear_solver": "StaticLU" | "SuperLU" |
        "gmres", ...}``; for ``"gmres"`` also ``matrices``, ``ilu`` (preconditioner
        builds), ``solves``, ``krylov_iterations``, ``retries`` and ``lu_fallbacks``.

    Call ``sol(t)`` for dense output.
    """

    t: np.ndarray
    y: np.ndarray
    status: ODEStatus
    message: str
    method: str
    nfev: int
    njev: int
    nlu: int
    steps: int
    rejected: int | None
    t_eval: np.ndarray | None
    t_final: float
    dense: Any = field(default=None, repr=False)
    wall_s: float = 0.0
    linear: Mapping[str, Any] | None = None

    def __post_init__(self):
        for a in (self.t, self.y, self.t_eval):
            if isinstance(a, np.ndarray):
                a.flags.writeable = False

    def __call__(self, t):
        if self.dense is None:
            raise ConfigError("this solution has no dense output; solve with dense_output=True")
        return self.dense(t)

    @property
    def stats(self) -> dict[str, Any]:
        """Solver counters as a dict: function and Jacobian evaluations (``nfev``, ``njev``),
        LU factorizations (``nlu``), accepted and rejected steps, and the linear-solver
        counters under ``"linear"`` when an iterative solver was used."""
        out = {"nfev": self.nfev, "njev": self.njev, "nlu": self.nlu, "steps": self.steps,
               "rejected": self.rejected}
        if self.linear is not None:
            out["linear"] = dict(self.linear)
        return out

    def __repr__(self):
        return (f"ODESolution(method={self.method!r}, status={self.status.name}, "
                f"t_final={self.t_final:.6g}, steps={self.steps}, nfev={self.nfev}, "
                f"njev={self.njev}, nlu={self.nlu})")


# ------------------------------------------------------------------------- solve
_OPTIONS = ("t_eval", "dense_output", "first_step", "max_step", "max_steps", "adaptive",
            "raise_on_failure", "linear_solver")
LINEAR_SOLVERS = ("auto", "direct", "gmres")


def solve(problem: ODEProblem, method: str = "auto", rtol: float = 1e-6, atol: float = 1e-9,
          **options) -> ODESolution:
    """Integrate ``problem`` over its ``tspan``.

    Parameters
    ----------
    problem : ODEProblem
    method : {"auto", "rodas4", "BDF", "Radau", "LSODA", "rk45"}
        See the module docstring; ``"auto"`` takes LSODA up to :data:`SMALL_SYSTEM`
        states and BDF above.
    rtol, atol : float
        Relative and absolute tolerances of the local error (RMS norm of
        ``err / (atol + rtol * max(|y|, |y_new|))`` must be <= 1).
    t_eval : array_like, optional
        Output times inside ``tspan`` (sorted).  Default: every accepted step.
    dense_output : bool
        Keep the per-step interpolants for ``sol(t)`` (default True).  LSODA with
        ``t_eval`` and ``dense_output=False`` runs as one ``odeint`` call (fastest for
        small systems).
    first_step, max_step : float, optional
    max_steps : int
        Limit on attempted steps of pdeflow's own methods (default 100000).
    adaptive : bool
        pdeflow's own methods only: ``False`` takes fixed steps of ``first_step``
        (for convergence studies).
    linear_solver : {"auto", "direct", "gmres"}
        ``"BDF"`` with a sparse Jacobian only: how the Newton matrices ``I - c J`` are
        solved.  ``"direct"`` refactors each one (sparse LU); ``"gmres"`` runs GMRES
        preconditioned by an incomplete LU that is reused across matrices
        (:mod:`pdeflow.solvers.ode_krylov`); ``"auto"`` (default) takes ``"gmres"`` where the
        LU factors fill in heavily (reaction networks), else ``"direct"``.
        ``sol.linear`` says which ran and counts its work.
    raise_on_failure : bool
        Default True: a failed integration raises :class:`ConvergenceError`; False
        returns the partial solution with a negative ``status``.

    Returns
    -------
    ODESolution

    Raises
    ------
    ConfigError
        Unknown method or option, or bad tolerances.
    ConvergenceError
        The integration failed (says why, the time reached and the step count).
    """
    if not isinstance(problem, ODEProblem):
        raise ConfigError(f"solve expects an ODEProblem, got {type(problem).__name__}")
    unknown = sorted(set(options) - set(_OPTIONS))
    if unknown:
        raise ConfigError(f"unknown option(s) {unknown} for solve; valid options are "
                          f"{', '.join(_OPTIONS)}")
    if method not in METHODS:
        raise ConfigError(f"The 'method' parameter of solve must be one of "
                          f"{', '.join(repr(m) for m in METHODS)}. Got {method!r}.")
    for name, v in (("rtol", rtol), ("atol", atol)):
        if not (isinstance(v, int | float) and math.isfinite(v) and v > 0):
            raise ConfigError(f"The '{name}' parameter of solve must be a float in (0, inf). "
                              f"Got {v!r}.")
    if method == "auto":
        method = AUTO_SMALL if problem.n <= SMALL_SYSTEM else AUTO_STIFF
    if "linear_solver" in options:
        ls = options["linear_solver"]
        if ls not in LINEAR_SOLVERS:
            raise ConfigError(f"The 'linear_solver' option of solve must be one of "
                              f"{', '.join(repr(m) for m in LINEAR_SOLVERS)}. Got {ls!r}.")
        if ls != "auto" and (method != "BDF" or problem.jac is None):
            raise ConfigError(f"linear_solver={ls!r} needs method='BDF' and a sparse Jacobian "
                              f"(ODEProblem with jac=...); got method={method!r}"
                              + ("" if problem.jac is not None else " and no Jacobian"))
    t_eval = options.get("t_eval")
    if t_eval is not None:
        t_eval = np.asarray(t_eval, dtype=float).reshape(-1)
        t0, t1 = problem.tspan
        if np.any(np.diff(t_eval) < 0) or t_eval.size and (t_eval[0] < t0 or t_eval[-1] > t1):
            raise ConfigError(f"t_eval must be sorted and inside tspan {problem.tspan}")
    start = time.perf_counter()
    if method == "LSODA" and t_eval is not None and not options.get("dense_output", True):
        sol = _solve_odeint(problem, rtol, atol, t_eval, options)
    elif method in SCIPY_METHODS:
        sol = _solve_scipy(problem, method, rtol, atol, t_eval, options)
    else:
        sol = _solve_own(problem, method, rtol, atol, t_eval, options)
    object.__setattr__(sol, "wall_s", time.perf_counter() - start)
    if not sol.status.converged and options.get("raise_on_failure", True):
        raise ConvergenceError(
            f"solve(method={sol.method!r}) failed at t={sol.t_final:.6g} (tspan "
            f"{problem.tspan}) after {sol.steps} accepted steps"
            + (f" and {sol.rejected} rejected" if sol.rejected is not None else "")
            + f": {sol.message}. Pass raise_on_failure=False to get the partial solution.")
    return sol


def _solve_scipy(problem, method, rtol, atol, t_eval, options):
    from scipy.integrate import solve_ivp

    if options.get("adaptive", True) is False:
        raise ConfigError(f"adaptive=False is only available for pdeflow's own methods "
                          f"('rodas4', 'rk45'), not {method!r}")
    kw = {}
    if method == "LSODA":
        jac = _dense_jacobian(problem)
        if jac is not None:
            kw["jac"] = jac
    elif problem.jac is not None:
        kw["jac"] = problem.jac
    elif problem.jac_sparsity is not None:
        kw["jac_sparsity"] = problem.jac_sparsity
    for k in ("first_step", "max_step"):
        if options.get(k) is not None:
            kw[k] = options[k]
    linear: dict = {}
    if method == "BDF" and problem.jac is not None:
        from pdeflow.solvers.ode_bdf import StaticLUBDF  # scipy.integrate, numba: on first use

        solver = StaticLUBDF
        kw["linear_solver"] = options.get("linear_solver", "auto")
        kw["linear_stats"] = linear
    else:
        solver = method
    r = solve_ivp(_fast_rhs(problem), problem.tspan, np.array(problem.y0), method=solver,
                  rtol=rtol, atol=atol, t_eval=t_eval, dense_output=True, **kw)
    nlu = int(r.nlu)
    if linear:
        counts = linear["counts"]
        if counts:  # Krylov: the factorizations are the ILUs and any exact fallbacks
            nlu = counts["ilu"] + counts["lu_fallbacks"]
        linear = MappingProxyType({"linear_solver": linear["linear_solver"], **counts})
    else:
        linear = None
    if r.status >= 0:
        status = ODEStatus.SUCCESS
    elif "step size" in r.message.lower():
        status = ODEStatus.STEP_SIZE_TOO_SMALL
    else:
        status = ODEStatus.SCIPY_FAILED
    message = status.message if status.converged else f"{status.message} (scipy: {r.message})"
    dense = None
    steps = len(r.t) - 1
    t_final = float(r.t[-1]) if r.t.size else problem.tspan[0]
    if r.sol is not None:
        steps = len(r.sol.ts) - 1
        t_final = float(r.sol.ts[-1])
        if options.get("dense_output", True):
            dense = _ScipyDense(r.sol)
    return ODESolution(
        t=np.asarray(r.t), y=np.ascontiguousarray(r.y.T), status=status, message=message,
        method=method, nfev=int(r.nfev), njev=int(r.njev), nlu=nlu, steps=steps,
        rejected=None, t_eval=t_eval, t_final=t_final, dense=dense, linear=linear)


def _fast_rhs(problem):
    """The problem's right-hand side with the fewest Python layers: a compiled problem's own
    closure (no reshape or dtype pass), else :meth:`ODEProblem.rhs`."""
    return problem._compiled[0] if problem._compiled is not None else problem.rhs


def _dense_jacobian(problem):
    """``jac(t, y) -> (n, n) ndarray`` for LSODA, or None to let it difference."""
    src = problem._compiled[1] if problem._compiled is not None else None
    n = problem.n
    if src is not None and src.indptr is not None:
        rows = np.repeat(np.arange(n), np.diff(src.indptr))
        cols = np.asarray(src.indices)
        fill = src.data

        def dense(t, y):
            out = np.zeros((n, n))
            out[rows, cols] = fill(t, y)
            return out

        return dense
    if problem.jac is None:
        return None
    user = problem.jac

    def dense_user(t, y):
        J = user(t, y)
        return J.toarray() if sp.issparse(J) else np.asarray(J, dtype=float)

    return dense_user


def _solve_odeint(problem, rtol, atol, t_eval, options):
    """LSODA through ``scipy.integrate.odeint``: the whole integration in one Fortran call,
    no Python between steps (used when ``t_eval`` is given and no dense output is wanted).
    """
    import warnings

    from scipy.integrate import ODEintWarning, odeint

    if options.get("adaptive", True) is False:
        raise ConfigError("adaptive=False is only available for pdeflow's own methods "
                          "('rodas4', 'rk45'), not 'LSODA'")
    t0, t1 = problem.tspan
    inside = t_eval[t_eval > t0]
    times = np.concatenate([[t0], inside, [t1] if not inside.size or inside[-1] < t1 else []])
    kw = {"rtol": rtol, "atol": atol, "tfirst": True, "full_output": True, "mxstep": 500_000}
    jac = _dense_jacobian(problem)
    if jac is not None:
        kw["Dfun"] = jac
    if options.get("first_step") is not None:
        kw["h0"] = float(options["first_step"])
    if options.get("max_step") is not None:
        kw["hmax"] = float(options["max_step"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ODEintWarning)
        ys, info = odeint(_fast_rhs(problem), np.array(problem.y0), times, **kw)
    failed = [w for w in caught if issubclass(w.category, ODEintWarning)]
    # row i of info is the interval ending at times[i + 1]; after a failure the rows hold
    # whatever was in memory, so only the rows before the failed interval are read
    short = np.flatnonzero(info["tcur"] < times[1:])
    ok = not failed and not short.size
    last = int(short[0]) if short.size else len(times) - 2
    keep = np.isin(times, t_eval)
    if ok:
        status, message, t_final = ODEStatus.SUCCESS, ODEStatus.SUCCESS.message, t1
    else:
        status = ODEStatus.SCIPY_FAILED
        text = str(failed[0].message).splitlines()[0] if failed else info["message"]
        text = text.split(" Run with full_output")[0].strip()
        message = f"{status.message} (LSODA: {text})"
        t_final = float(max(times[last], min(info["tcur"][last], times[last + 1])))
        keep[last + 1:] = False  # rows past the failure are odeint's fill values
    # counts are cumulative; a failed interval's own row is still written by LSODA
    steps, nfev, njev = (int(info[k][last]) for k in ("nst", "nfe", "nje"))
    return ODESolution(
        t=times[keep].copy(), y=np.ascontiguousarray(ys[keep]), status=status, message=message,
        method="LSODA", nfev=nfev, njev=njev, nlu=njev, steps=steps, rejected=None,
        t_eval=t_eval, t_final=t_final, dense=None)


@dataclass(frozen=True, eq=False)
class _ScipyDense:
    sol: Any

    def __call__(self, t):
        return np.asarray(self.sol(t)).T


def _rms(x):
    return math.sqrt(float(np.dot(x, x)) / x.size)


def _first_step(fun, t0, t1, y, rtol, atol, max_step, options, stats) -> float:
    """The given ``first_step``, else Hairer's estimate from ``f(t0, y0)`` (adaptive only)."""
    h = options.get("first_step")
    if h is None:
        if not options.get("adaptive", True):
            raise ConfigError("adaptive=False needs first_step=h (the fixed step size)")
        f0 = fun(t0, y)
        stats["nfev"] += 1
        sc = atol + rtol * np.abs(y)
        d0, d1 = _rms(y / sc), _rms(f0 / sc)
        h = 1e-6 if d0 < 1e-5 or d1 < 1e-5 else 0.01 * d0 / d1
        h = min(h, (t1 - t0), max_step)
    return float(h)


def _step_factor(stepper, err, q, h, err_old, h_old, last_rejected) -> float:
    """Factor for the next step after an accepted one (Gustafsson's predictive controller
    for the steppers that ask for it), in [0.2, 5 or 10], at most 1 after a rejection."""
    fac = min(5.0 if stepper.implicit else 10.0, 0.9 * max(err, 1e-10) ** (-1.0 / q))
    if stepper.predictive and err_old is not None:
        pred = (h / h_old) * 0.9 * (max(err, 1e-10) ** 2 / err_old) ** (-1.0 / q)
        fac = min(fac, pred)
    fac = max(fac, 0.2)
    return min(fac, 1.0) if last_rejected else fac


class _Recorder:
    """The output of a solve: every step, or the ``t_eval`` points; and the dense pieces."""

    def __init__(self, t0, y, t_eval, keep_dense):
        self.t_eval, self.keep_dense = t_eval, keep_dense
        self.ts, self.ys, self.pieces = [t0], [y.copy()], []
        self.out_t, self.out_y, self.ie = [], [], 0
        if t_eval is not None:
            while self.ie < t_eval.size and t_eval[self.ie] <= t0:
                self.out_t.append(t_eval[self.ie])
                self.out_y.append(y.copy())
                self.ie += 1

    def accept(self, t_new, res):
        t_eval = self.t_eval
        if t_eval is not None and res.interp is not None:
            while self.ie < t_eval.size and t_eval[self.ie] <= t_new:
                te = t_eval[self.ie]
                self.out_y.append(res.y.copy() if te == t_new else res.interp(te))
                self.out_t.append(te)
                self.ie += 1
        if t_eval is None:
            self.ts.append(t_new)
            self.ys.append(res.y)
        if self.keep_dense and res.interp is not None:
            self.pieces.append(res.interp)

    def arrays(self, n):
        if self.t_eval is None:
            return np.array(self.ts), np.array(self.ys)
        return np.array(self.out_t), np.array(self.out_y).reshape(len(self.out_t), n)

    def dense(self):
        pieces = self.pieces
        if not (self.keep_dense and pieces):
            return None
        bounds = np.array([pc.t0 for pc in pieces] + [pieces[-1].t0 + pieces[-1].h])
        return DenseOutput(bounds, tuple(pieces))


def _solve_own(problem, method, rtol, atol, t_eval, options):
    from pdeflow.solvers.ode_kernels import scaled_rms  # Numba: imported when a solve starts

    stepper = STEPPERS[method]()
    t0, t1 = problem.tspan
    fun = problem._compiled[0] if problem._compiled is not None else problem.rhs
    stats = {"nfev": 0, "njev": 0, "nlu": 0}
    jsrc = problem._jacobian_source() if stepper.implicit else None
    y = np.array(problem.y0)
    t = t0
    state = stepper.init(fun, jsrc, t0, y, stats)
    adaptive = options.get("adaptive", True)
    max_steps = int(options.get("max_steps", 100_000))
    max_step = float(options.get("max_step") or np.inf)
    atol_v = np.ascontiguousarray(np.broadcast_to(np.asarray(atol, dtype=float), y.shape))
    rtol = float(rtol)
    h = _first_step(fun, t0, t1, y, rtol, atol, max_step, options, stats)
    q = stepper.error_order + 1
    out = _Recorder(t0, y, t_eval, options.get("dense_output", True))
    accepted = rejected = 0
    err_old, h_old, last_rejected = None, None, False
    status = ODEStatus.SUCCESS
    fail_reason = None
    while t < t1:
        if accepted + rejected >= max_steps:
            status = ODEStatus.MAX_STEPS
            break
        h = min(h, max_step)
        if t + h >= t1 or t + 1.01 * h > t1:  # land exactly on t1
            h = t1 - t
        if h <= 10 * np.finfo(float).eps * max(abs(t), 1.0):
            status = fail_reason or ODEStatus.STEP_SIZE_TOO_SMALL
            break
        res = stepper.step(state, t, y, h, stats)
        err = scaled_rms(res.error, y, res.y, atol_v, rtol) if res.ok else math.inf
        if not math.isfinite(err):
            fail_reason = ODEStatus.NONFINITE if res.ok else ODEStatus.SINGULAR
            if not adaptive:
                status = fail_reason
                break
            rejected += 1
            last_rejected, state = True, res.retry_state
            h *= 0.25
            continue
        if adaptive and err > 1.0:
            rejected += 1
            last_rejected, state = True, res.retry_state
            h *= max(0.2, 0.9 * err ** (-1.0 / q))
            continue
        out.accept(t + h, res)
        t, y, state = t + h, res.y, res.state
        accepted += 1
        fail_reason = None
        if adaptive:
            fac = _step_factor(stepper, err, q, h, err_old, h_old, last_rejected)
            err_old, h_old = max(err, 1e-2), h
            h = h * fac
        last_rejected = False
    tt, yy = out.arrays(problem.n)
    return ODESolution(
        t=tt, y=yy, status=status, message=status.message, method=method, nfev=stats["nfev"],
        njev=stats["njev"], nlu=stats["nlu"], steps=accepted, rejected=rejected, t_eval=t_eval,
        t_final=float(t), dense=out.dense())

