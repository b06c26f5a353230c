"""One backend class per code-generation target, behind one interface.

:class:`~pdeflow.symbolic.codegen.CompiledFunction` chooses its backend from
:data:`BACKENDS` by target name and delegates to it; no other code tests the
target.  A backend generates and loads its source on construction and offers:

* ``call(y, p, t) -> out``: a new result;
* ``inplace(out, y, p, t) -> out``: the result written into ``out``;
* ``bind(p) -> g(out, y, t=0.0)``: :meth:`inplace` with ``p`` checked once;
* ``kernel`` and ``bare``: the Numba kernel itself (other targets refuse).

The batched targets (``jax``, ``torch``) take ``y`` of shape ``(..., n_in)`` and
``p`` of shape ``(n_p,)`` or ``(..., n_p)`` and return ``(..., n_out)`` in ``y``'s
dtype and on its device; the loop targets (``numpy``, ``numba``, ``cuda``) take
one flat float64 state.
"""

from __future__ import annotations

import threading

import numpy as np

from pdeflow.errors import ConfigError, ShapeError
from pdeflow.symbolic.codegen.cache import load_module
from pdeflow.symbolic.codegen.lower import Program
from pdeflow.symbolic.codegen.source import (
    all_index_consts,
    array_source,
    batched_source,
    const_arrays,
    csr_row_ids,
    cuda_source,
    every_const,
    joined_rows_name,
    numba_source,
)


class Backend:
    """The interface every target implements (see the module docstring)."""

    name = ""

    def __init__(self, program: Program, parallel: bool = False):
        self.program = program
        self.parallel = parallel
        self.n_in, self.n_out, self.n_p = program.n_in, program.n_out, program.n_p
        self.source = ""

    def call(self, y, p, t):
        """Evaluate the compiled function out of place.

        Parameters
        ----------
        y : array_like
            State, shape ``(n_in,)``.
        p : array_like or None
            Parameters, or None if the function takes none.
        t : float
            Time.

        Returns
        -------
        numpy.ndarray
            The outputs, shape ``(n_out,)``.
        """
        raise NotImplementedError

    def inplace(self, out, y, p, t):
        """Evaluate like :meth:`call` into ``out`` (shape ``(n_out,)``) and return ``out``."""
        out[...] = self.call(y, p, t)
        return out

    def check(self, y, p):
        """``(y, p)`` after checking the sizes of their last axes."""
        if y.ndim == 0 or y.shape[-1] != self.n_in:
            got = "a scalar" if y.ndim == 0 else f"{y.shape[-1]} entries (shape {tuple(y.shape)})"
            raise ShapeError(f"y has {got}, this function takes {self.n_in}")
        if p is not None and (p.ndim == 0 or p.shape[-1] != self.n_p):
            got = "a scalar" if p.ndim == 0 else f"{p.shape[-1]} entries (shape {tuple(p.shape)})"
            raise ShapeError(f"p has {got}, this function takes {self.n_p}")
        return y, p

    def bind(self, p):
        """Check and fix the parameters ``p`` once; return ``f(out, y, t=0.0)`` filling ``out``."""
        if p is not None and not hasattr(p, "shape"):
            p = np.asarray(p, dtype=np.float64)
        _, p = self.check(np.zeros(self.n_in), p)
        return lambda out, y, t=0.0: self.inplace(out, y, p, t)

    @property
    def kernel(self):
        """The raw compiled kernel; only the numba target has one, others raise ConfigError."""
        raise ConfigError(f"kernel is the numba target's; this function's is {self.name!r}")

    @property
    def bare(self) -> bool:
        """True when the kernel needs no temporaries or constants, so it can be called directly."""
        return False


def _flat_f64(y, p):
    y = np.ascontiguousarray(y, dtype=np.float64).reshape(-1)
    p = np.ascontiguousarray(np.zeros(0) if p is None else p, dtype=np.float64).reshape(-1)
    return y, p


class NumpyBackend(Backend):
    """Whole-array numpy code: ``kernel(y, p, t, *consts) -> out`` on flat float64."""

    name = "numpy"

    def __init__(self, program: Program, parallel: bool = False):
        super().__init__(program, parallel)
        src, names = array_source(program, "np")
        self.source = src
        self._mod = load_module(src, "numpy")
        values = dict(program.consts)
        values.update(all_index_consts(program))
        for st in program.steps:
            blocks = getattr(st, "names", [])
            for ip, _, _ in blocks:
                values[f"{ip}_rows"] = csr_row_ids(values[ip])
            if len(blocks) > 1:
                values[joined_rows_name(st)] = np.concatenate(
                    [values[f"{ip}_rows"] for ip, _, _ in blocks])
        self._consts = [values[n] for n in names]
        self._kernel = self._mod.kernel

    def check(self, y, p):
        return super().check(*_flat_f64(y, p))

    def call(self, y, p, t):
        y, p = self.check(y, p)
        return self._kernel(y, p, float(t), *self._consts)


class NumbaBackend(Backend):
    """Numba loops: ``kernel(out, y, p, t, *scratch, *tables)`` on flat float64."""

    name = "numba"

    def __init__(self, program: Program, parallel: bool = False):
        super().__init__(program, parallel)
        import numba

        src, names, extra = numba_source(program, parallel)
        self.source = src
        self._mod = load_module(src, f"numba-{numba.__version__}")
        consts = const_arrays(program)
        consts.update(extra)
        self._temps = [np.zeros(b.size) for b in program.temps]
        self._consts = [np.ascontiguousarray(consts[n]) for n in names]
        # the kernel releases the GIL: each calling thread gets scratch arrays of its own
        self._local = threading.local()
        self._kernel = self._mod.kernel

    @property
    def kernel(self):
        return self._kernel

    @property
    def bare(self) -> bool:
        return not self._temps and not self._consts

    def check(self, y, p):
        return super().check(*_flat_f64(y, p))

    def _bound(self) -> tuple:
        """The kernel's scratch and constant arrays for the calling thread."""
        try:
            return self._local.bound
        except AttributeError:
            temps = [np.zeros_like(a) for a in self._temps]
            bound = self._local.bound = (*temps, *self._consts)
            return bound

    def call(self, y, p, t):
        return self.inplace(np.empty(self.n_out), y, p, t)

    def inplace(self, out, y, p, t):
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
            y, p = self.check(y, p)
        if type(out) is not np.ndarray or out.shape != (self.n_out,) or out.dtype != np.float64:
            raise ShapeError(f"out must be a float64 array of shape ({self.n_out},)")
        self._kernel(out, y, p, float(t), *self._bound())
        return out

    def bind(self, p):
        """The kernel called directly when ``y`` and ``out`` are float64 arrays of the
        right shapes (two type, dtype and shape tests: the inner loop of an ODE solver);
        anything else takes :meth:`inplace`'s checked path.  Measured on RD3 at N=32:
        3.5 us less per call."""
        _, p = self.check(np.zeros(self.n_in), p)
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


class _BatchedBackend(Backend):
    """Shared set-up of the batched functional targets (jax, torch)."""

    module = ""

    def __init__(self, program: Program, parallel: bool = False):
        super().__init__(program, parallel)
        src, names, extra = batched_source(program, self.module)
        self.source = src
        self._mod = load_module(src, self.name)
        values = dict(program.consts)
        values.update(all_index_consts(program))
        values.update(extra)
        self._consts = [values[n] for n in names]
        self._kernel = self._mod.kernel

    def _batch_shape(self, y, p, broadcast_shapes):
        """The common batch shape of ``y`` and ``p`` (ShapeError when they clash)."""
        if p.ndim <= 1:
            return tuple(y.shape[:-1])
        try:
            return tuple(broadcast_shapes(tuple(y.shape[:-1]), tuple(p.shape[:-1])))
        except (ValueError, RuntimeError) as e:
            raise ShapeError(
                f"the batch shapes of y {tuple(y.shape)} and p {tuple(p.shape)} do not "
                "broadcast"
            ) from e


class JaxBackend(_BatchedBackend):
    """JAX: jitted, batched, differentiable; float64 enabled (scientific default)."""

    name = "jax"
    module = "jnp"

    def __init__(self, program: Program, parallel: bool = False):
        super().__init__(program, parallel)
        import jax

        # scientific computing needs float64: JAX defaults to float32
        jax.config.update("jax_enable_x64", True)
        import jax.numpy as jnp

        consts = [jnp.asarray(c) for c in self._consts]
        floating = [jnp.issubdtype(c.dtype, jnp.floating) for c in consts]
        kern = self._kernel

        def run(y, p, t):
            # constant tables in the input's dtype (jit traces once per dtype)
            cs = [c.astype(y.dtype) if f else c for c, f in zip(consts, floating, strict=True)]
            return kern(y, p, t, *cs)

        self._jit = jax.jit(run)

    def call(self, y, p, t):
        import jax
        import jax.numpy as jnp

        if not isinstance(y, jax.Array):  # jnp.asarray costs ~20 us even on a jax array
            y = jnp.asarray(y)
        if not jnp.issubdtype(y.dtype, jnp.floating):
            y = y.astype(jnp.float64)
        if p is None:
            p = jnp.zeros(0, dtype=y.dtype)
        elif not isinstance(p, jax.Array) or p.dtype != y.dtype:
            p = jnp.asarray(p, dtype=y.dtype)
        self.check(y, p)
        batch = self._batch_shape(y, p, jnp.broadcast_shapes)
        if batch != tuple(y.shape[:-1]):
            y = jnp.broadcast_to(y, (*batch, self.n_in))
        # a Python float is weakly typed: it takes y's dtype (a jnp array of t: ~150 us)
        t = t.astype(y.dtype) if isinstance(t, jax.Array) else float(t)
        return self._jit(y, p, t)


class TorchBackend(_BatchedBackend):
    """torch: batched, autograd and ``torch.func.vmap``; CPU or GPU (follows ``y``)."""

    name = "torch"
    module = "torch"

    def __init__(self, program: Program, parallel: bool = False):
        super().__init__(program, parallel)
        self._cast: dict = {}

    def _tables(self, dtype, device) -> list:
        """The constant tables on ``device``, floats in ``dtype`` (cached per pair)."""
        key = (dtype, device)
        c = self._cast.get(key)
        if c is None:
            import torch

            c = [
                torch.as_tensor(x, device=device, dtype=dtype if x.dtype.kind == "f" else None)
                for x in self._consts
            ]
            self._cast[key] = c
        return c

    def call(self, y, p, t):
        import torch

        y = torch.as_tensor(y)
        if not y.is_floating_point():
            y = y.to(torch.float64)
        p = (
            torch.zeros(0, dtype=y.dtype, device=y.device)
            if p is None
            else torch.as_tensor(p, dtype=y.dtype, device=y.device)
        )
        self.check(y, p)
        batch = self._batch_shape(y, p, torch.broadcast_shapes)
        if batch != tuple(y.shape[:-1]):
            y = y.expand(*batch, self.n_in)
        if torch.is_tensor(t):
            t = t.to(y.dtype)
        elif self.program.time is not None:
            # a tensor, so that functions of t alone (torch.exp(-t)) get one
            t = torch.tensor(float(t), dtype=y.dtype, device=y.device)
        return self._kernel(y, p, t, *self._tables(y.dtype, y.device))


class CudaBackend(Backend):
    """numba-cuda: one kernel per step; device arrays in, device arrays out."""

    name = "cuda"

    def __init__(self, program: Program, parallel: bool = False):
        super().__init__(program, parallel)
        src, names, plan, extra = cuda_source(program)
        self.source = src
        self._cuda_src = (src, names, plan, extra)
        self._device_state: dict = {}

    def _setup(self):
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

    def call(self, y, p, t):
        return self._run(None, y, p, t)

    def inplace(self, out, y, p, t):
        return self._run(out, y, p, t)

    def _run(self, out, y, p, t):
        from numba import cuda

        mod, plan, dev = self._setup()
        y_d = y if is_device_array(y) else cuda.to_device(np.ascontiguousarray(y, dtype=float))
        if p is None:
            p = np.zeros(max(self.n_p, 1))
        p_d = p if is_device_array(p) else cuda.to_device(np.ascontiguousarray(p, dtype=float))
        o_d = out if out is not None and is_device_array(out) else cuda.device_array(self.n_out)
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
        if out is not None and not is_device_array(out):
            o_d.copy_to_host(out)
            return out
        return o_d if is_device_array(y) else o_d.copy_to_host()


def is_device_array(a) -> bool:
    """Whether ``a`` is a CUDA device array (numba device array or __cuda_array_interface__)."""
    return hasattr(a, "__cuda_array_interface__") or type(a).__name__ in (
        "DeviceNDArray",
        "FakeCUDAArray",
    )


#: target name -> backend class
BACKENDS: dict[str, type[Backend]] = {
    b.name: b for b in (NumpyBackend, NumbaBackend, CudaBackend, JaxBackend, TorchBackend)
}

__all__ = ["BACKENDS", "Backend", "is_device_array"]
