"""Compile traced expressions to Numba (CPU), CUDA, JAX, torch or numpy.

>>> import numpy as np
>>> from pdeflow.symbolic import trace, compile
>>> def rhs(t, u, p):
...     return p[0] * (np.roll(u, 1) - 2 * u + np.roll(u, -1))
>>> du, ins = trace(rhs, 0.0, np.zeros(6), (0.5,), return_inputs=True)
>>> f = compile(du, [ins["u"]], params=list(ins["p"]), target="numpy")
>>> f(np.arange(6.0), np.array([0.5]), 0.0)
array([ 3.,  0.,  0.,  0.,  0., -3.])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from pdeflow.errors import CompilationError, ConfigError
from pdeflow.symbolic.arrays import ArraySym, ArrayTerm, Linear, array_nodes, element_terms
from pdeflow.symbolic.codegen.backends import BACKENDS
from pdeflow.symbolic.codegen.cuda_device import require_cuda
from pdeflow.symbolic.codegen.lift import lift_scalars
from pdeflow.symbolic.codegen.lower import MapStep, Program, lower_arrays, lower_scalars
from pdeflow.symbolic.terms import Sym, Term, as_term
from pdeflow.symbolic.tracing import SymArray

TARGETS = ("numpy", "numba", "cuda", "jax", "torch")


def _as_outputs(outputs):
    """('array', [ArrayTerm]) or ('scalar', [Term])."""
    if isinstance(outputs, SymArray):
        return "array", [outputs.term]
    if isinstance(outputs, ArrayTerm):
        return "array", [outputs]
    if isinstance(outputs, Term):
        return "scalar", [outputs]
    if isinstance(outputs, np.ndarray) and outputs.dtype == object:
        return "scalar", [as_term(e) for e in outputs.ravel()]
    outs = list(outputs)
    if outs and all(_is_scalar_like(o) for o in outs) and not all(
        isinstance(o, Term | int | float) for o in outs
    ):
        # 0-d arrays (elements of traced arrays, u[3]) are scalars: a list of them is a
        # scalar system, like a list of terms
        return "scalar", [_scalar_term(o) for o in outs]
    if outs and all(isinstance(o, SymArray | ArrayTerm) for o in outs):
        return "array", [o.term if isinstance(o, SymArray) else o for o in outs]
    try:
        return "scalar", [as_term(o) for o in outs]
    except TypeError as e:
        raise CompilationError(
            "outputs must be symbolic arrays (from trace) or a list of scalar terms"
        ) from e


def _is_scalar_like(o) -> bool:
    if isinstance(o, SymArray | ArrayTerm):
        return o.shape == ()
    return isinstance(o, Term | int | float | np.integer | np.floating)


def _scalar_term(o) -> Term:
    if isinstance(o, SymArray):
        o = o.term
    if isinstance(o, ArrayTerm):
        return element_terms(o).reshape(())[()]
    return as_term(o)


def _as_inputs(kind, inputs):
    if isinstance(inputs, SymArray | ArraySym | Sym):
        inputs = [inputs]
    res = []
    for v in inputs:
        if isinstance(v, SymArray):
            if kind == "scalar":
                res.extend(v.elements().ravel())
            else:
                res.append(v.term)
        elif isinstance(v, Linear | ArraySym) and kind == "scalar":
            perm = _permutation_or_none(v)
            if perm is None:
                raise CompilationError(
                    f"inputs must be symbolic arrays or symbols, got a computed array of shape "
                    f"{v.shape}")
            res.extend(element_terms(v).ravel())  # its element symbols, in its order
        elif isinstance(v, Linear):
            res.append(v)
        elif isinstance(v, ArraySym | Sym):
            res.append(v)
        else:
            raise CompilationError(f"inputs must be symbolic arrays or symbols, got {v!r}")
    return [_unreshape(v) for v in res]


def _permutation_or_none(v):
    from pdeflow.symbolic.jacobian import permuted_input

    return permuted_input(v)


def _unreshape(v):
    """A reshape or ravel of an input array is that array (same flat order)."""
    if not isinstance(v, Linear):
        return v
    from pdeflow.symbolic.jacobian import permuted_input

    perm = permuted_input(v)
    if perm is None:
        raise CompilationError(
            f"inputs must be symbolic arrays or symbols, got a computed array of shape {v.shape}"
        )
    src, order = perm
    if not np.array_equal(order, np.arange(src.size)):
        raise CompilationError(
            f"input {src.name!r} is given in a permuted order (e.g. a transpose); compile with "
            f"the array itself (or its reshape/ravel), whose flat order is the state's"
        )
    return src


def _as_params(params, kind: str = "array"):
    """The parameter list; in a scalar system an array parameter stands for its elements."""
    if params is None:
        return []
    if isinstance(params, SymArray | ArraySym | Sym):
        params = [params]
    out = []
    for s in params:
        s = s.term if isinstance(s, SymArray) else s
        if kind == "scalar" and isinstance(s, ArraySym):
            out.extend(element_terms(s).ravel())
        else:
            out.append(s)
    return out


def _default_time(kind, roots, params, time):
    if time is not None:
        return time
    from pdeflow.symbolic.terms import sym

    tsym = sym("t")
    if tsym in params:
        return None
    if kind == "array":
        for n in array_nodes(roots):
            if hasattr(n, "template") and tsym in n.template.free_symbols:
                return tsym
        return None
    return tsym if any(tsym in e.free_symbols for e in roots) else None


def lower(outputs, inputs, params=None, time=None, scalar_mode: str = "lift") -> Program:
    """Lower outputs to a target-neutral :class:`Program` (see :mod:`.lower`).

    Scalar systems are lifted to array form (``scalar_mode="lift"``, see
    :mod:`.lift`) or emitted as straight-line code (``"straight"``).
    """
    kind, roots = _as_outputs(outputs)
    ins = _as_inputs(kind, inputs)
    pars = _as_params(params, kind)
    tsym = _default_time(kind, roots, pars, time)
    if kind == "array":
        return lower_arrays(roots, ins, pars, tsym)
    if scalar_mode == "straight":
        return lower_scalars(roots, ins, pars, tsym)
    if scalar_mode != "lift":
        raise ConfigError(f"unknown scalar_mode {scalar_mode!r}; choose 'lift' or 'straight'")
    allowed = (
        set(ins) | {p for p in pars if isinstance(p, Sym)} | ({tsym} if tsym is not None else set())
    )
    for e in roots:
        extra = e.free_symbols - allowed
        if extra:
            names = ", ".join(sorted(s.name for s in extra)[:5])
            raise CompilationError(
                f"the outputs depend on symbol(s) {names}, which are neither inputs, parameters "
                "nor the time variable"
            )
    root, y, p = lift_scalars(roots, ins, pars)
    prog = lower_arrays([root], [y], [p] if p is not None else [], tsym)
    prog.kind = "lifted"
    return prog


class CompiledFunction:
    """A compiled right-hand side ``out = f(y, p, t)``.

    Call it as ``f(y, p, t)`` (returns a new array) or ``f(out, y, p, t)``
    (writes into ``out``).  ``y`` is the flat concatenation of the inputs,
    ``p`` the flat parameters, ``t`` a float.

    The ``jax`` and ``torch`` targets also take a batch: ``y`` of shape
    ``(..., n_in)`` and ``p`` of shape ``(n_p,)`` (shared) or ``(..., n_p)``
    (broadcast against ``y``'s leading axes) give ``(..., n_out)``, computed in
    ``y``'s dtype on ``y``'s device, without in-place writes (``jax.vmap``,
    ``torch.func.vmap`` and autograd apply).

    The work is done by one backend per target (:data:`.backends.BACKENDS`).

    Attributes
    ----------
    source : str
        The generated source code.
    target : str
    n_in, n_out, n_p : int
        Sizes of ``y``, ``out`` and ``p``.
    """

    def __init__(self, program: Program, target: str, parallel: bool):
        backend = BACKENDS.get(target)
        if backend is None:
            raise ConfigError(f"unknown target {target!r}; choose one of {', '.join(TARGETS)}")
        self.program = program
        self.target = target
        self.parallel = parallel
        self.n_in = program.n_in
        self.n_out = program.n_out
        self.n_p = program.n_p
        self._backend = backend(program, parallel)
        self.source = self._backend.source

    def __repr__(self):
        return (
            f"CompiledFunction(target={self.target!r}, n_in={self.n_in}, n_out={self.n_out}, "
            f"n_p={self.n_p})"
        )

    @property
    def kernel(self):
        """The Numba target's compiled kernel itself, unchecked:
        ``kernel(out, y, p, t, *scratch_and_tables)``; with no scratch or table arguments
        (:attr:`bare`), ``kernel(out, y, p, t)``.  ``out``, ``y`` and ``p`` must be
        contiguous float64 arrays of shapes ``(n_out,)``, ``(n_in,)`` and ``(n_p,)``
        (nothing is checked: use :meth:`bind` or :meth:`inplace` otherwise).

        Raises
        ------
        ConfigError
            For targets other than ``numba``.
        """
        return self._backend.kernel

    @property
    def bare(self) -> bool:
        """Numba target: the kernel takes ``(out, y, p, t)`` only (no scratch, no tables)."""
        return self._backend.bare

    # the backend's module, kernel and scratch arrays (tests and tools look at them)
    @property
    def _mod(self):
        return self._backend._mod

    @property
    def _kernel(self):
        return self._backend._kernel

    @property
    def _temps(self):
        return getattr(self._backend, "_temps", [])

    def bind(self, p=None):
        """``g(out, y, t=0.0)``: :meth:`inplace` with the parameters checked and bound once.

        For the numba target the call goes straight to the kernel when ``y`` and ``out``
        are float64 arrays of the right shapes (two type, dtype and shape tests, no other
        Python layer: the inner loop of an ODE solver); anything else takes
        :meth:`inplace`'s checked path.  Measured on RD3 at N=32: 3.5 us less per call.
        """
        return self._backend.bind(p)

    def __call__(self, *args):
        if len(args) == 4:
            return self._backend.inplace(*args)
        if not 1 <= len(args) <= 3:
            raise TypeError("call as f(y, p=None, t=0.0) or f(out, y, p, t)")
        y = args[0]
        p = args[1] if len(args) > 1 else None
        t = args[2] if len(args) > 2 else 0.0
        return self._backend.call(y, p, t)

    def inplace(self, out, y, p=None, t=0.0):
        """Write ``f(y, p, t)`` into ``out``; returns ``out``."""
        return self._backend.inplace(out, y, p, t)


def compile(
    outputs,
    inputs,
    params=None,
    target: str = "numba",
    parallel: bool = False,
    time: Sym | None = None,
    scalar_mode: str = "lift",
    optimize: bool = False,
    optimize_options: dict | None = None,
):
    """Compile symbolic outputs into a fast callable.

    Parameters
    ----------
    outputs : SymArray, list of SymArray, or list of scalar terms
        What to compute; arrays are flattened (C order) and stacked.
    inputs : SymArray, list of SymArray, or list of symbols
        The state ``y``: flattened and stacked in this order.
    params : list of symbols (or symbolic arrays), optional
        The parameter vector ``p``, in this order.
    target : {"numba", "numpy", "jax", "torch", "cuda"}
        ``jax`` and ``torch`` take batches: ``y`` of shape ``(..., n_in)`` and
        ``p`` of shape ``(n_p,)`` or ``(..., n_p)`` give ``(..., n_out)`` in
        ``y``'s dtype and device; they ``vmap`` and differentiate.
    parallel : bool
        Numba: run loops with ``prange`` over threads.
    time : Sym, optional
        The time symbol; by default the symbol ``t`` when the outputs use it.
    scalar_mode : {"lift", "straight"}
        For lists of scalar terms: group terms by template into loops over
        index tables (default; code size independent of the system size), or
        one statement per output (straight-line code in chunks).
    optimize : bool
        Run the e-graph optimizer (:func:`pdeflow.symbolic.egraph.optimize`,
        options in ``optimize_options``); the result has a ``.report``.
        Traced array programs: each fused loop template is rewritten once
        (:func:`optimize_templates`) and the same loops are emitted, for
        every target.  Scalar systems (targets ``numba`` and ``python``):
        the whole system shares one e-graph; when nothing cheaper is found
        the code is that of ``optimize=False``, else its straight-line
        program runs (with Numba as level-grouped tables, no per-program
        compile: an ``SLPFunction`` with the same call forms and ``bind``).

    Returns
    -------
    CompiledFunction
        ``f(y, p, t) -> out`` and ``f(out, y, p, t)``; ``f.source`` shows the code.

    Examples
    --------
    >>> import numpy as np
    >>> import torch
    >>> from pdeflow.symbolic import array, compile
    >>> u = array("u", (3,))
    >>> f = compile(u * u + np.roll(u, 1), [u], target="torch")
    >>> f(torch.arange(6.0).reshape(2, 3))  # a batch of two states, float32 kept
    tensor([[ 2.,  1.,  5.],
            [14., 19., 29.]])

    Raises
    ------
    CompilationError
        The outputs use a symbol that is not an input, parameter or time.
    ConfigError
        Unknown target.
    """
    if optimize:
        return _compile_optimized(outputs, inputs, params, target, time, optimize_options or {},
                                  parallel)
    if target not in TARGETS:
        raise ConfigError(f"unknown target {target!r}; choose one of {', '.join(TARGETS)}")
    if target == "cuda":
        require_cuda()  # one line saying what is missing, not numba's CudaSupportError
    program = lower(outputs, inputs, params, time, scalar_mode)
    if program.kind == "scalar" and target == "cuda":
        raise CompilationError("the cuda target compiles traced array programs only")
    return CompiledFunction(program, target, parallel)


def _compile_optimized(outputs, inputs, params, target, time, options, parallel=False):
    """``compile(..., optimize=True)``: e-graph optimization, then one code generator.

    Array programs: each fused template is rewritten once (:func:`optimize_templates`)
    and the same loops are emitted.  Scalar systems: the whole system is optimized in
    one e-graph; when extraction returns the input, the plain code generator compiles
    it (the same code as ``optimize=False``), else the straight-line program does.
    """
    from pdeflow.symbolic.egraph import compile_slp
    from pdeflow.symbolic.egraph import optimize as egraph_optimize

    kind, roots = _as_outputs(outputs)
    if kind == "array":
        if target not in TARGETS:
            raise ConfigError(f"unknown target {target!r}; choose one of {', '.join(TARGETS)}")
        program = lower(outputs, inputs, params, time)
        report = optimize_templates(program, options)
        if target == "cuda":
            require_cuda()
        fn = CompiledFunction(program, target, parallel)
        fn.report = report
        return fn
    if target not in ("numba", "python"):
        raise ConfigError(f"optimize=True compiles for 'numba' or 'python', not {target!r}")
    ins = _as_inputs(kind, inputs)
    pars = _as_params(params, kind)
    tsym = _default_time(kind, roots, pars, time)
    res = egraph_optimize(roots, **options)
    if res.report.extractor == "input" and target == "numba":
        # nothing cheaper found: the code of optimize=False
        fn = compile(outputs, inputs, params, target, parallel, time)
    else:
        fn = compile_slp(res.slp, ins, pars, tsym, target=target)
    fn.report = res.report
    return fn


@dataclass(frozen=True)
class TemplateReport:
    """The e-graph on the fused templates of an array program (``compile(optimize=True)``).

    Attributes
    ----------
    templates : list of tuple
        Per template: ``(before, after, cost_before, cost_after, extractor)``; ``after``
        is ``before`` itself (and ``cost_after`` its cost) when nothing cheaper was found.
    cost_before, cost_after : float
        Sums over the templates (estimated cycles per grid point).
    time_s : float
        Time spent in the optimizer.
    """

    templates: list
    cost_before: float
    cost_after: float
    time_s: float

    @property
    def changed(self) -> int:
        """How many templates were rewritten."""
        return sum(1 for t in self.templates if t[1] is not t[0])

    def __str__(self) -> str:
        return (f"{len(self.templates)} templates, cost {self.cost_before:.0f} -> "
                f"{self.cost_after:.0f} cycles per point ({self.changed} rewritten, "
                f"{self.time_s:.2f} s)")


def optimize_templates(program: Program, options: dict | None = None) -> TemplateReport:
    """Rewrite each map template of ``program`` once with the e-graph, in place.

    A template is replaced only when extraction found a cheaper one; otherwise it is
    left as it is, so the generated code is exactly that of ``optimize=False``.

    Parameters
    ----------
    program : Program
        From :func:`lower`; its :class:`~.lower.MapStep` templates are rewritten.
    options : dict, optional
        Keyword arguments of :func:`pdeflow.symbolic.egraph.optimize`.

    Returns
    -------
    TemplateReport

    Examples
    --------
    >>> import numpy as np
    >>> from pdeflow.symbolic import array
    >>> u = array("u", (8,))
    >>> prog = lower(u * np.roll(u, 1) + u * np.roll(u, -1), [u])
    >>> rep = optimize_templates(prog, {"cost": "anchor"})
    >>> rep.cost_after < rep.cost_before, rep.changed
    (True, 1)
    """
    import time as _time

    from pdeflow.symbolic.egraph import optimize as egraph_optimize

    s = _time.perf_counter()
    rows = []
    for st in program.steps:
        if not isinstance(st, MapStep):
            continue
        for j, tm in enumerate(st.templates):
            res = egraph_optimize([tm], **(options or {}))
            rep = res.report
            new = tm if rep.extractor == "input" else res.exprs[0]
            st.templates[j] = new
            # the same term prints the same loop body: its cost is the input's
            after = rep.cost_after if new is not tm else rep.cost_before
            rows.append((tm, new, rep.cost_before, after, rep.extractor))
    return TemplateReport(rows, float(sum(r[2] for r in rows)), float(sum(r[3] for r in rows)),
                          _time.perf_counter() - s)


class CompiledJacobian:
    """A compiled sparse Jacobian with a fixed CSR pattern.

    ``J(y, p, t)`` returns a ``scipy.sparse.csr_matrix``; ``J.fill(data, y, p, t)``
    writes the nonzeros into ``data`` (length ``nnz``) in CSR order.
    """

    def __init__(self, values_fn: CompiledFunction, indptr, indices, shape):
        self.values_fn = values_fn
        self.indptr = np.asarray(indptr, dtype=np.int32 if shape[1] < 2**31 else np.int64)
        self.indices = np.asarray(indices, dtype=self.indptr.dtype)
        self.shape = tuple(shape)
        self.nnz = int(self.indices.size)
        self.source = values_fn.source

    @property
    def pattern(self) -> sp.csr_matrix:
        """Sparsity pattern as a CSR matrix of ones, shape ``(n_out, n_in)``."""
        return sp.csr_matrix((np.ones(self.nnz), self.indices, self.indptr), shape=self.shape)

    def fill(self, data, y, p=None, t=0.0):
        """Fill ``data`` with the nonzero values at ``(y, p, t)``."""
        return self.values_fn.inplace(data, y, p, t)

    def __call__(self, y, p=None, t=0.0) -> sp.csr_matrix:
        data = np.asarray(self.values_fn(y, p, t))
        return sp.csr_matrix((data, self.indices, self.indptr), shape=self.shape)

    def __repr__(self):
        tgt = self.values_fn.target
        return f"CompiledJacobian(shape={self.shape}, nnz={self.nnz}, target={tgt!r})"


def compile_jacobian(
    outputs,
    inputs,
    params=None,
    target: str = "numba",
    parallel: bool = False,
    time: Sym | None = None,
    optimize: bool = False,
    optimize_options: dict | None = None,
) -> CompiledJacobian:
    """Compile the sparse Jacobian d(outputs)/d(inputs) (pattern from :func:`jacobian`).

    ``optimize`` and ``optimize_options`` are :func:`compile`'s: for traced array
    programs, each Jacobian value template is rewritten once by the e-graph.

    Examples
    --------
    >>> import numpy as np
    >>> from pdeflow.symbolic import array, compile_jacobian
    >>> u = array("u", (3,))
    >>> J = compile_jacobian(u**2, [u], target="numpy")
    >>> J(np.array([1.0, 2.0, 3.0])).toarray()
    array([[2., 0., 0.],
           [0., 4., 0.],
           [0., 0., 6.]])
    """
    from pdeflow.symbolic.jacobian import jacobian

    kind, roots = _as_outputs(outputs)
    ins = _as_inputs(kind, inputs)
    J = jacobian(roots if kind == "scalar" else outputs, ins)
    opt = {"optimize": optimize, "optimize_options": optimize_options}
    if J.values is not None:
        fn = compile(J.values, ins, params, target, parallel, time, **opt)
    else:
        fn = compile(J.exprs, ins, params, target, parallel, time, **opt) if J.nnz else None
        if fn is None:
            fn = compile([as_term(0)], ins, params, target, parallel, time)
            return CompiledJacobian(_Empty(fn), J.indptr, J.indices, J.shape)
    return CompiledJacobian(fn, J.indptr, J.indices, J.shape)


class _Empty:
    """Values of a Jacobian with no nonzeros."""

    def __init__(self, fn):
        self.source = fn.source
        self.target = fn.target

    def __call__(self, y, p=None, t=0.0):
        return np.zeros(0)

    def inplace(self, data, y, p=None, t=0.0):
        return data


__all__ = [
    "compile",
    "compile_jacobian",
    "CompiledFunction",
    "CompiledJacobian",
    "lower",
    "TARGETS",
    "TemplateReport",
    "optimize_templates",
]

