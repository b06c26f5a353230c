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

import threading

import numpy as np
import scipy.sparse as sp

from pdeflow.errors import CompilationError, ConfigError, ShapeError
from pdeflow.symbolic.arrays import ArraySym, ArrayTerm, array_nodes
from pdeflow.symbolic.codegen.cache import load_module
from pdeflow.symbolic.codegen.cuda_device import require_cuda
from pdeflow.symbolic.codegen.lift import lift_scalars
from pdeflow.symbolic.codegen.lower import Program, lower_arrays, lower_scalars
from pdeflow.symbolic.codegen.source import (
    all_index_consts,
    array_source,
    const_arrays,
    csr_row_ids,
    cuda_source,
    every_const,
    joined_rows_name,
    numba_source,
)
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
    if outs and all(isinstance(o, SymArray | ArrayTerm) for o in outs):
        return "array", [o.term if isinstance(o, SymArray) else o for o in outs]
    try:
        return "scalar", [as_term(o) for o in outs]
    except TypeError as e:
        raise CompilationError(
            "outputs must be symbolic arrays (from trace) or a list of scalar terms"
        ) from e


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
        elif isinstance(v, ArraySym | Sym):
            res.append(v)
        else:
            raise CompilationError(f"inputs must be symbolic arrays or symbols, got {v!r}")
    return res


def _as_params(params):
    if params is None:
        return []
    if isinstance(params, SymArray | ArraySym | Sym):
        params = [params]
    out = []
    for s in params:
        out.append(s.term if isinstance(s, SymArray) else s)
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
    pars = _as_params(params)
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
    root, y = lift_scalars(roots, ins)
    prog = lower_arrays([root], [y], pars, tsym)
    prog.kind = "lifted"
    return prog


class CompiledFunction:
    """A compiled right-hand side ``out = f(y, p, t)``.

    Call it as ``f(y, p, t)`` (returns a new array) or ``f(out, y, p, t)``
    (writes into ``out``).  ``y`` is the flat concatenation of the inputs,
    ``p`` the flat parameters, ``t`` a float.

    Attributes
    ----------
    source : str
        The generated source code.
    target : str
    n_in, n_out, n_p : int
        Sizes of ``y``, ``out`` and ``p``.
    """

    def __init__(self, program: Program, target: str, parallel: bool):
        self.program = program
        self.target = target
        self.parallel = parallel
        self.n_in = program.n_in
        self.n_out = program.n_out
        self.n_p = program.n_p
        self._device_state: dict = {}
        if target == "numba":
            src, names, extra = numba_source(program, parallel)
            import numba

            self.source = src
            self._mod = load_module(src, f"numba-{numba.__version__}")
            consts = const_arrays(program)
            consts.update(extra)
            self._temps = [np.zeros(b.size) for b in program.temps]
            self._consts = [np.ascontiguousarray(consts[n]) for n in names]
            # the kernel releases the GIL: each calling thread gets scratch arrays of its own
            self._local = threading.local()
            self._kernel = self._mod.kernel
        elif target in ("numpy", "jax", "torch"):
            module = {"numpy": "np", "jax": "jnp", "torch": "torch"}[target]
            src, names = array_source(program, module)
            self.source = src
            self._mod = load_module(src, target)
            values = dict(program.consts)
            values.update(all_index_consts(program))
            for st in program.steps:
                blocks = getattr(st, "names", [])
                for ip, _, _ in blocks:
                    values[f"{ip}_rows"] = csr_row_ids(values[ip])
                if target == "numpy" and len(blocks) > 1:
                    values[joined_rows_name(st)] = np.concatenate(
                        [values[f"{ip}_rows"] for ip, _, _ in blocks])
            self._consts = [values[n] for n in names]
            self._kernel = self._mod.kernel
            if target == "jax":
                import jax

                # scientific computing needs float64: JAX defaults to float32
                jax.config.update("jax_enable_x64", True)
                import jax.numpy as jnp

                jc = [jnp.asarray(c) for c in self._consts]
                kern = self._kernel
                self._jit = jax.jit(lambda y, p, t: kern(y, p, t, *jc))
        elif target == "cuda":
            src, names, plan, extra = cuda_source(program)
            self.source = src
            self._cuda_src = (src, names, plan, extra)
        else:
            raise ConfigError(f"unknown target {target!r}; choose one of {', '.join(TARGETS)}")

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
        if self.target != "numba":
            raise ConfigError(f"kernel is the numba target's; this function's is {self.target!r}")
        return self._kernel

    @property
    def bare(self) -> bool:
        """Numba target: the kernel takes ``(out, y, p, t)`` only (no scratch, no tables)."""
        return self.target == "numba" and not self._temps and not self._consts

    def bind(self, p=None):
        """``g(out, y, t=0.0)``: :meth:`inplace` with the parameters checked and bound once.

        For the numba target the call goes straight to the kernel when ``y`` and ``out``
        are float64 arrays of the right shapes (two type, dtype and shape tests, no other
        Python layer: the inner loop of an ODE solver); anything else takes
        :meth:`inplace`'s checked path.  Measured on RD3 at N=32: 3.5 us less per call.
        """
        _, p = self._check(np.zeros(self.n_in), p)
        if self.target != "numba":
            return lambda out, y, t=0.0: self.inplace(out, y, p, t)
        kernel, bound_here = self._kernel, self._bound
        f64, shape_in, shape_out = np.dtype(np.float64), (self.n_in,), (self.n_out,)
        ndarray, slow = np.ndarray, self.inplace
        # no scratch and no table arguments (small tables are frozen into the kernel):
        # nothing per thread to look up
        bare = self.bare

        def call(out, y, t=0.0):
            if (
                type(y) is ndarray
                and type(out) is ndarray
                and y.dtype is f64
                and out.dtype is f64
                and y.shape == shape_in
                and out.shape == shape_out
            ):
                if bare:
                    kernel(out, y, p, float(t))
                else:
                    kernel(out, y, p, float(t), *bound_here())
                return out
            return slow(out, y, p, t)

        return call

    def _bound(self) -> tuple:
        """The kernel's scratch and constant arrays for the calling thread."""
        try:
            return self._local.bound
        except AttributeError:
            temps = [np.zeros_like(a) for a in self._temps]
            bound = self._local.bound = (*temps, *self._consts)
            return bound

    def _check(self, y, p):
        if self.target in ("numpy", "numba"):
            y = np.ascontiguousarray(y, dtype=np.float64).reshape(-1)
            p = np.ascontiguousarray(np.zeros(0) if p is None else p, dtype=np.float64).reshape(-1)
        if y.shape[-1] != self.n_in:
            raise ShapeError(f"y has {y.shape[-1]} entries, this function takes {self.n_in}")
        if p is not None and p.shape[-1] != self.n_p:
            raise ShapeError(f"p has {p.shape[-1]} entries, this function takes {self.n_p}")
        return y, p

    def __call__(self, *args):
        if len(args) == 4:
            return self.inplace(*args)
        if not 1 <= len(args) <= 3:
            raise TypeError("call as f(y, p=None, t=0.0) or f(out, y, p, t)")
        y = args[0]
        p = args[1] if len(args) > 1 else None
        t = args[2] if len(args) > 2 else 0.0
        if self.target == "numba":
            out = np.empty(self.n_out)
            return self.inplace(out, y, p, t)
        if self.target == "numpy":
            y, p = self._check(y, p)
            return self._kernel(y, p, float(t), *self._consts)
        if self.target == "jax":
            import jax.numpy as jnp

            y = jnp.asarray(y)
            p = jnp.zeros(0, dtype=y.dtype) if p is None else jnp.asarray(p)
            self._check(y, p)
            return self._jit(y, p, t)
        if self.target == "torch":
            import torch

            y = torch.as_tensor(y)
            p = (
                torch.zeros(0, dtype=y.dtype, device=y.device)
                if p is None
                else torch.as_tensor(p, dtype=y.dtype, device=y.device)
            )
            self._check(y, p)
            return self._kernel(y, p, t, *self._torch_consts(y.device))
        if self.target == "cuda":
            return self._cuda_call(None, y, p, t)
        raise AssertionError(self.target)

    def inplace(self, out, y, p=None, t=0.0):
        """Write ``f(y, p, t)`` into ``out``; returns ``out``."""
        if self.target == "numba":
            # fast path: already flat float64 arrays of the right sizes (the ODE inner loop)
            if not (
                type(y) is np.ndarray
                and y.dtype == np.float64
                and y.ndim == 1
                and y.shape[0] == self.n_in
                and y.flags.c_contiguous
                and type(p) is np.ndarray
                and p.dtype == np.float64
                and p.ndim == 1
                and p.shape[0] == self.n_p
            ):
                y, p = self._check(y, p)
            if type(out) is not np.ndarray or out.shape != (self.n_out,) or out.dtype != np.float64:
                raise ShapeError(f"out must be a float64 array of shape ({self.n_out},)")
            self._kernel(out, y, p, float(t), *self._bound())
            return out
        if self.target == "cuda":
            return self._cuda_call(out, y, p, t)
        res = self(y, p, t)
        out[...] = res
        return out

    # torch ------------------------------------------------------------------
    def _torch_consts(self, device):
        import torch

        c = self._device_state.get(("torch", str(device)))
        if c is None:
            c = [torch.as_tensor(x, device=device) for x in self._consts]
            self._device_state[("torch", str(device))] = c
        return c

    # CUDA -------------------------------------------------------------------
    def _cuda_setup(self):
        st = self._device_state.get("cuda")
        if st is not None:
            return st
        from numba import cuda

        src, names, plan, extra = self._cuda_src
        mod = load_module(src, "cuda")
        consts = every_const(self.program)
        consts.update(extra)
        dev = {n: cuda.to_device(np.ascontiguousarray(consts[n])) for n in names}
        for b in self.program.temps:
            dev[b.name] = cuda.device_array(b.size)
        st = (mod, plan, dev)
        self._device_state["cuda"] = st
        return st

    def _cuda_call(self, out, y, p, t):
        from numba import cuda

        mod, plan, dev = self._cuda_setup()
        y_d = y if _is_dev(y) else cuda.to_device(np.ascontiguousarray(y, dtype=float))
        if p is None:
            p = np.zeros(max(self.n_p, 1))
        p_d = p if _is_dev(p) else cuda.to_device(np.ascontiguousarray(p, dtype=float))
        o_d = out if out is not None and _is_dev(out) else cuda.device_array(self.n_out)
        # launches are prepared once per set of device arrays (host overhead matters at µs scale)
        key = (id(y_d), id(p_d), id(o_d), float(t))
        launches = self._device_state.get(("cuda-launch", key))
        if launches is None:
            env = dict(dev, y=y_d, p=p_d, t=float(t), out=o_d)
            threads = 256
            launches = [
                (
                    getattr(mod, kname)[blocks or max(1, (n + threads - 1) // threads), threads],
                    tuple(env[a] for a in args),
                )
                for kname, n, args, blocks in plan
            ]
            self._device_state = {
                k: v
                for k, v in self._device_state.items()
                if not (isinstance(k, tuple) and k[0] == "cuda-launch")
            }
            self._device_state[("cuda-launch", key)] = launches
        for kern, kargs in launches:
            kern(*kargs)
        if out is not None and not _is_dev(out):
            o_d.copy_to_host(out)
            return out
        return o_d if _is_dev(y) else o_d.copy_to_host()


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
    parallel : bool
        Numba: run loops with ``prange`` over threads.
    time : Sym, optional
        The time symbol; by default the symbol ``t`` when the outputs use it.
    scalar_mode : {"lift", "straight"}
        For lists of scalar terms: group terms by template into loops over
        index tables (default; code size independent of the system size), or
        one statement per output (straight-line code in chunks).
    optimize : bool
        Scalar systems only: run the e-graph optimizer
        (:func:`pdeflow.symbolic.egraph.optimize`, options in
        ``optimize_options``) and compile its straight-line program
        (targets ``numba`` and ``python``; with Numba the program runs as
        level-grouped tables, no per-program compile).  The result is an
        ``SLPFunction`` with the same call forms, ``bind`` and ``.report``.

    Returns
    -------
    CompiledFunction
        ``f(y, p, t) -> out`` and ``f(out, y, p, t)``; ``f.source`` shows the code.

    Raises
    ------
    CompilationError
        The outputs use a symbol that is not an input, parameter or time.
    ConfigError
        Unknown target.
    """
    if optimize:
        return _compile_optimized(outputs, inputs, params, target, time, optimize_options or {})
    if target not in TARGETS:
        raise ConfigError(f"unknown target {target!r}; choose one of {', '.join(TARGETS)}")
    if target == "cuda":
        require_cuda()  # one line saying what is missing, not numba's CudaSupportError
    program = lower(outputs, inputs, params, time, scalar_mode)
    if program.kind == "scalar" and target == "cuda":
        raise CompilationError("the cuda target compiles traced array programs only")
    return CompiledFunction(program, target, parallel)


def _compile_optimized(outputs, inputs, params, target, time, options):
    """``compile(..., optimize=True)``: e-graph optimization, then straight-line code."""
    from pdeflow.symbolic.egraph import compile_slp
    from pdeflow.symbolic.egraph import optimize as egraph_optimize

    kind, roots = _as_outputs(outputs)
    if kind != "scalar":
        raise ConfigError(
            "optimize=True applies to scalar systems (lists of terms); traced array programs "
            "are already compiled as fused loops"
        )
    if target not in ("numba", "python"):
        raise ConfigError(f"optimize=True compiles for 'numba' or 'python', not {target!r}")
    ins = _as_inputs(kind, inputs)
    pars = _as_params(params)
    tsym = _default_time(kind, roots, pars, time)
    res = egraph_optimize(roots, **options)
    fn = compile_slp(res.slp, ins, pars, tsym, target=target)
    fn.report = res.report
    return fn


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
) -> CompiledJacobian:
    """Compile the sparse Jacobian d(outputs)/d(inputs) (pattern from :func:`jacobian`).

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
    J = jacobian(outputs, ins)
    if J.values is not None:
        fn = compile(J.values, ins, params, target, parallel, time)
    else:
        fn = compile(J.exprs, ins, params, target, parallel, time) if J.nnz else None
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
]


def _is_dev(a) -> bool:
    """Whether ``a`` is a CUDA device array (numba device array or __cuda_array_interface__)."""
    return hasattr(a, "__cuda_array_interface__") or type(a).__name__ in (
        "DeviceNDArray",
        "FakeCUDAArray",
    )
