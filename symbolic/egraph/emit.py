"""Straight-line program to Numba (or plain Python) source, and a compiled callable.

Large programs run as tables instead (:mod:`.tables`); :class:`SLPFunction` picks the form.

:func:`slp_source` writes one ``@njit`` function per chunk of instructions; a value
read by a later chunk travels through a scratch array ``w``.  Numbers are inlined as
literals, ``fma`` is printed as ``a * b + c`` (Python 3.12 has no ``math.fma``, and
Numba keeps IEEE semantics without ``fastmath``), and functions and powers are printed
by the code generator's :class:`~pdeflow.symbolic.codegen.emit.Emitter`, so both back
ends agree on every function.

:func:`compile_slp` returns an :class:`SLPFunction` with the call convention of
:class:`~pdeflow.symbolic.codegen.CompiledFunction`: ``f(y, p, t)`` or ``f(out, y, p, t)``.
"""

from __future__ import annotations

import functools
import threading

import numpy as np

from pdeflow.errors import CompilationError, ShapeError
from pdeflow.symbolic.codegen.emit import Emitter, literal
from pdeflow.symbolic.egraph.tables import sum_sections, summation_chains
from pdeflow.symbolic.terms import FUNCTIONS, Placeholder, Sym, call, num, placeholder, power

_F64 = np.dtype(np.float64)

#: instructions per generated function: Numba's compile time grows faster than linearly
#: with the statements of one function (measured: 100 statements 7 s, 400 statements 61 s)
CHUNK = 100


def _op_code(op, payload, a: list[str]) -> str:
    if op in _INFIX:
        return _infix_code(op, a)
    code = _op_template(op, payload, len(a))
    for i, x in enumerate(a):
        code = code.replace(f"\x00{i}\x00", x)
    return code


_INFIX = frozenset({"add", "mul", "neg", "sub", "div", "fma", "fpow"})


@functools.lru_cache(maxsize=1024, typed=True)
def _op_template(op, payload, n: int) -> str:
    """The code of a function or power of ``n`` arguments, with argument ``i`` written
    ``\\x00i\\x00`` (printed once per operation, not per instruction)."""
    return _printed_code(op, payload, [f"\x00{i}\x00" for i in range(n)])


def _infix_code(op, a: list[str]) -> str:
    if op == "add":
        return " + ".join(a)
    if op == "mul":
        return " * ".join(a)
    if op == "neg":
        return f"-{a[0]}"
    if op == "sub":
        return f"{a[0]} - {a[1]}"
    if op == "div":
        return f"{a[0]} / {a[1]}"
    if op == "fma":
        return f"{a[0]} * {a[1]} + {a[2]}"
    if op == "fpow":
        return f"{a[0]} ** {a[1]}"
    raise CompilationError(f"no code for the e-graph operation {op!r}")


def _printed_code(op, payload, a: list[str]) -> str:
    if op == "pow":
        t = power(placeholder(0), num(payload))
    else:
        fn = FUNCTIONS.get(op)
        if fn is None:
            raise CompilationError(f"no code for the e-graph operation {op!r}")
        t = call(fn, *(placeholder(i) for i in range(len(a))))
    em = Emitter(lambda ph: a[ph.index], "scalar")
    (code,) = em.emit([t])
    if em.lines:
        raise CompilationError(f"unexpected temporaries printing {op!r}")
    return code


def slp_source(slp, leaf_code, chunk: int = CHUNK, jit: bool = True) -> tuple[str, int]:
    """Module source with ``kernel(out, y, p, t, w)``; returns ``(source, scratch size)``.

    ``leaf_code(term) -> str`` gives the code that reads a leaf (``"y[3]"``, ``"p[0]"``).
    A value read once, in its own chunk, is inlined into its reader; other values get a
    local, and a value read by a later chunk also goes through the scratch array ``w``.
    """
    nl = len(slp.leaves)
    n = len(slp.instrs)
    uses = slp.uses()
    chunk_of = [-1] * nl + [k // chunk for k in range(n)]
    reader_chunk: dict[int, set] = {}
    for k, (_, _, args) in enumerate(slp.instrs):
        for x in args:
            reader_chunk.setdefault(x, set()).add(k // chunk)
    outs = set(slp.outputs)
    shared: dict[int, int] = {}
    inline = [False] * (nl + n)
    for v in range(nl, nl + n):
        op = slp.instrs[v - nl][0]
        rc = reader_chunk.get(v, set())
        if op == "num":
            inline[v] = True
        elif uses[v] == 1 and v not in outs and rc == {chunk_of[v]}:
            inline[v] = True
        elif rc - {chunk_of[v]}:
            shared[v] = len(shared)
    code: list[str] = [leaf_code(leaf) for leaf in slp.leaves] + [""] * n

    def ref(x: int) -> str:
        return code[x] if inline[x] or x < nl else f"v{x}"

    sums = sum_sections(slp)
    out_chunk: dict[int, list[int]] = {}
    for j, o in enumerate(slp.outputs):
        out_chunk.setdefault(max(chunk_of[o], 0), []).append(j)
    deco = "@njit(cache=True, fastmath=False, nogil=True)" if jit else ""
    lines = ["import math", "from numba import njit", ""]
    n_chunks = max((n + chunk - 1) // chunk, 1)
    calls = []
    for ck in range(n_chunks):
        body = []
        loaded = set()
        for k in range(ck * chunk, min((ck + 1) * chunk, n)):
            op, pl, args = slp.instrs[k]
            v = nl + k
            if op == "num":
                code[v] = literal(pl)
                continue
            for x in args:
                if x in shared and chunk_of[x] != ck and x not in loaded:
                    body.append(f"v{x} = w[{shared[x]}]")
                    loaded.add(x)
            if k in sums:  # the interpreter's order of additions (same bits)
                first, second = summation_chains(sums[k])
                expr = " + ".join(ref(x) for x in first)
                if second:
                    expr = f"({expr}) + ({' + '.join(ref(x) for x in second)})"
            else:
                expr = _op_code(op, pl, [ref(x) for x in args])
            if inline[v]:
                code[v] = f"({expr})"
                continue
            body.append(f"v{v} = {expr}")
            if v in shared:
                body.append(f"w[{shared[v]}] = v{v}")
        for j in out_chunk.get(ck, []):
            o = slp.outputs[j]
            body.append(f"out[{j}] = {code[o] if o < nl or inline[o] else f'v{o}'}")
        if deco:
            lines.append(deco)
        lines.append(f"def chunk{ck}(out, y, p, t, w):")
        lines += ["    " + b for b in body] or ["    pass"]
        lines.append("")
        calls.append(f"    chunk{ck}(out, y, p, t, w)")
    if deco:
        lines.append(deco)
    lines.append("def kernel(out, y, p, t, w):")
    lines += calls
    lines.append("")
    return "\n".join(lines), len(shared)


def _per_thread(run, template: np.ndarray):
    """``run(buffer, out, y, p, t)`` with a scratch buffer of each calling thread's own (a
    copy of ``template``): the kernels release the GIL, and two threads writing one buffer
    would mix their values."""
    local = threading.local()

    def call(out, y, p, t):
        try:
            buf = local.buf
        except AttributeError:
            buf = local.buf = template.copy()
        return run(buf, out, y, p, t)

    return call


class SLPFunction:
    """A compiled straight-line program: ``f(y, p, t) -> out`` or ``f(out, y, p, t)``.

    Two forms run a program with Numba (``mode``):

    ``"tables"``
        Level-grouped tables run by one interpreter compiled once per machine
        (:mod:`.tables`): ready at once for any size.  Measured on the BCR network's
        optimized program (8,573 instructions): 21 us per evaluation, tables built in 0.04 s.
    ``"source"``
        One ``@njit`` function per :data:`CHUNK` instructions (:func:`slp_source`): ~20%
        faster per evaluation on mid-sized programs, but Numba compiles it at ~0.1 s per
        instruction (a 554-instruction program: 66 s).
    ``"auto"`` (default)
        ``"tables"`` where every operation has a table form, else ``"source"``.

    The ``"python"`` target runs the printed source without Numba.

    Attributes
    ----------
    source : str
        The generated module (``"source"``, ``"python"``) or the program's listing.
    mode : str
        ``"tables"`` or ``"source"``.
    n_in, n_out, n_p : int
    """

    def __init__(self, slp, inputs, params=(), time=None, target: str = "numba",
                 mode: str = "auto"):
        from pdeflow.symbolic.egraph.tables import SLPTables, supports

        if target not in ("numba", "python"):
            raise CompilationError(f"compile_slp supports 'numba' and 'python'; got {target!r}")
        if mode not in ("auto", "tables", "source"):
            raise CompilationError(f"mode must be 'auto', 'tables' or 'source'; got {mode!r}")
        if target == "python" and mode == "tables":
            raise CompilationError("mode='tables' runs with Numba: use target='numba'")
        self.slp = slp
        self.target = target
        self.n_in, self.n_out, self.n_p = len(inputs), len(slp.outputs), len(params)
        #: the program does not read the time
        self.autonomous = time is None or time not in slp.leaves
        self._p0 = np.zeros(0)
        self._out_shape = (self.n_out,)
        if mode == "auto":
            mode = "tables" if target == "numba" and supports(slp) else "source"
        self.mode = mode
        if mode == "tables":
            self._tables = SLPTables(slp, inputs, params, time)
            self.source = str(slp)
            from pdeflow.symbolic.egraph.tables import shared_kernel

            kern, tab = shared_kernel(), self._tables
            self._run = _per_thread(lambda v, out, y, p, t: kern(out, y, p, t, v, tab.itab),
                                    tab.values)
            return
        slots = {}
        for j, s in enumerate(inputs):
            slots[s] = f"y[{j}]"
        for j, s in enumerate(params):
            slots[s] = f"p[{j}]"
        if time is not None:
            slots[time] = "t"

        def leaf(t):
            if type(t) in (Sym, Placeholder) and t in slots:
                return slots[t]
            raise CompilationError(
                f"the program reads {t!r}, which is neither an input, a parameter nor the time"
            )

        from pdeflow.symbolic.codegen.cache import load_module

        self.source, nw = slp_source(slp, leaf, jit=target == "numba")
        salt = "slp-python"
        if target == "numba":
            import numba

            salt = f"slp-numba-{numba.__version__}"
        mod = load_module(self.source, salt)
        kern = mod.kernel
        self._run = _per_thread(lambda w, out, y, p, t: kern(out, y, p, t, w),
                                np.zeros(max(nw, 1)))
        if nw == 0:  # one chunk: the scratch array is never written, threads can share it
            self._direct = kern

    def __repr__(self):
        return (f"SLPFunction(n_in={self.n_in}, n_out={self.n_out}, n_p={self.n_p}, "
                f"mode={self.mode!r})")

    def __call__(self, *args):
        if len(args) == 4:
            return self.inplace(*args)
        y = args[0]
        p = args[1] if len(args) > 1 else None
        t = args[2] if len(args) > 2 else 0.0
        return self.inplace(np.empty(self.n_out), y, p, t)

    def bind(self, p=None):
        """``g(out, y, t=0.0)``: :meth:`inplace` with the parameters checked and bound once."""
        if p is None:
            p = self._p0
        p = np.ascontiguousarray(p, dtype=np.float64).reshape(-1)
        if p.shape[0] != self.n_p:
            raise ShapeError(f"p has {p.shape[0]} entries, this function takes {self.n_p}")
        inplace = self.inplace
        return lambda out, y, t=0.0: inplace(out, y, p, t)

    def rhs(self, p=None):
        """``f(t, y) -> out``, a new ``(n_out,)`` array per call, with ``p`` bound: the
        right-hand side an ODE solver calls, with the fewest Python layers between it and
        the generated code (one call where the program needs no scratch array).

        Examples
        --------
        >>> import numpy as np
        >>> from pdeflow.symbolic import symbols
        >>> from pdeflow.symbolic.egraph import optimize, compile_slp
        >>> x, k = symbols("x k")
        >>> f = compile_slp(optimize([-k * x], rules="none").slp, [x], [k], target="python")
        >>> f.rhs([2.0])(0.0, np.array([3.0]))
        array([-6.])
        """
        bound = self.bind(p)
        n_out = self.n_out
        kern = getattr(self, "_direct", None)
        if kern is None:
            return lambda t, y: bound(np.empty(n_out), y, t)
        p = np.ascontiguousarray(self._p0 if p is None else p, dtype=np.float64).reshape(-1)
        w = np.zeros(1)
        in_shape = (self.n_in,)
        empty, ndarray = np.empty, np.ndarray

        def f(t, y):
            if type(y) is not ndarray or y.dtype is not _F64 or y.shape != in_shape \
                    or type(t) is not float:
                return bound(empty(n_out), y, t)  # converts, or raises ShapeError
            out = empty(n_out)
            kern(out, y, p, t, w)
            return out

        return f

    def inplace(self, out, y, p=None, t=0.0):
        """Write ``f(y, p, t)`` into ``out`` (``float64``, ``n_out`` entries); returns ``out``.

        Raises
        ------
        ShapeError
            ``y``, ``p`` or ``out`` has the wrong number of entries.
        """
        # identity checks only on the fast path (a float64 vector: ~0.1 us, not ~1 us)
        if type(y) is not np.ndarray or y.dtype is not _F64 or y.ndim != 1:
            y = np.ascontiguousarray(y, dtype=np.float64).reshape(-1)
        if p is None:
            p = self._p0
        elif type(p) is not np.ndarray or p.dtype is not _F64 or p.ndim != 1:
            p = np.ascontiguousarray(p, dtype=np.float64).reshape(-1)
        if y.shape[0] != self.n_in or p.shape[0] != self.n_p:
            raise ShapeError(f"expected y of {self.n_in} and p of {self.n_p} entries")
        if type(out) is not np.ndarray or out.dtype is not _F64 or out.shape != self._out_shape:
            raise ShapeError(f"expected out of shape ({self.n_out},) and dtype float64")
        self._run(out, y, p, float(t))
        return out


def compile_slp(slp, inputs, params=(), time=None, target: str = "numba",
                mode: str = "auto") -> SLPFunction:
    """Compile a straight-line program; ``inputs``/``params`` are symbols in ``y``/``p`` order.

    ``mode`` picks the Numba form (``"auto"``, ``"tables"`` or ``"source"``, see
    :class:`SLPFunction`).

    Examples
    --------
    >>> import numpy as np
    >>> from pdeflow.symbolic import symbols
    >>> from pdeflow.symbolic.egraph import optimize, compile_slp
    >>> x, y = symbols("x y")
    >>> res = optimize([2*x*y + 2*x, x**4], cost="anchor")
    >>> f = compile_slp(res.slp, [x, y], target="python")
    >>> f(np.array([2.0, 3.0]))
    array([16., 16.])
    """
    return SLPFunction(slp, list(inputs), list(params or ()), time, target, mode)


__all__ = ["slp_source", "compile_slp", "SLPFunction"]
