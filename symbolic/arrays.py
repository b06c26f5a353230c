"""Array-level expression IR: the structure of traced numpy code, kept whole.

A traced PDE right-hand side is a DAG of four kinds of array nodes:

``ArraySym(name, shape)``
    a symbolic input array; its element ``k`` is the scalar symbol
    ``name[i,j]``.
``ArrayConst(values)``
    a constant numeric array.
``Linear(shape, args, blocks, offset)``
    ``out.ravel() = sum_j blocks[j] @ args[j].ravel() + offset``: every
    slice, roll, pad, concatenate, reshape, transpose, broadcast, sum, mean and
    matrix product with a constant matrix is one sparse matrix; chains of them
    are multiplied out, so a stencil is one node.
``Map(template, args, shape)``
    an elementwise expression: element ``k`` is the scalar ``template`` with
    placeholder ``_i`` replaced by element ``k`` of ``args[i]``.  Chains of
    elementwise operations fuse into one template.

Nodes are interned like scalar terms.  Scalar elements are materialized only
on demand (:func:`element_terms`), so tracing costs about the same at every
grid size, and code generators receive one template per region.
"""

from __future__ import annotations

import hashlib
import itertools
import weakref

import numpy as np
import scipy.sparse as sp

from pdeflow.errors import ShapeError
from pdeflow.symbolic.interface import arguments, iscall, maketerm
from pdeflow.symbolic.terms import Num, Placeholder, Sym, Term, add, mul, num, placeholder, sym

_TABLE: weakref.WeakValueDictionary = weakref.WeakValueDictionary()

#: element symbol -> [(ArraySym, flat index), ...], filled as elements are materialized
#: (two arrays of the same name but different shapes share element symbols)
ELEMENT_OWNER: dict = {}


def _digest(*arrays) -> bytes:
    h = hashlib.blake2b(digest_size=16)
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str(a.dtype).encode())
        h.update(str(a.shape).encode())
        h.update(a.tobytes())
    return h.digest()


def _intern(cls, key, init):
    t = _TABLE.get(key)
    if t is None:
        t = object.__new__(cls)
        init(t)
        t._key = key
        _TABLE[key] = t
    return t


class ArrayTerm:
    """Base class of array nodes; ``shape`` is a tuple, ``size`` its product."""

    __slots__ = ("shape", "size", "_key", "_elements", "__weakref__")

    @property
    def ndim(self) -> int:
        """Number of axes of the array."""
        return len(self.shape)

    def __repr__(self):
        return f"{type(self).__name__}(shape={self.shape})"


class ArraySym(ArrayTerm):
    """A symbolic input array named ``name``."""

    __slots__ = ("name",)

    def element_name(self, k: int) -> str:
        """Name of the scalar at flat (C-order) index ``k``, such as ``'u[1,2]'``."""
        idx = np.unravel_index(k, self.shape) if self.shape else ()
        return f"{self.name}[{','.join(str(int(i)) for i in idx)}]"

    def __repr__(self):
        return f"ArraySym({self.name!r}, {self.shape})"


def array_sym(name: str, shape) -> ArraySym:
    """The interned symbolic array ``name`` of the given shape."""
    if not isinstance(name, str) or not name:
        raise TypeError(f"an array name must be a non-empty str, got {name!r}")
    shape = _as_shape(shape)

    def init(t):
        t.name = name
        t.shape = shape
        t.size = int(np.prod(shape, dtype=np.int64))

    return _intern(ArraySym, ("asym", name, shape), init)


class ArrayConst(ArrayTerm):
    """A constant array (read-only float or integer values)."""

    __slots__ = ("values",)


def array_const(values) -> ArrayConst:
    """The interned constant array with these values."""
    v = np.asarray(values)
    if v.dtype == bool:
        v = v.astype(np.int64)
    if v.dtype.kind not in "iuf":
        raise TypeError(f"constant arrays must be numeric, got dtype {v.dtype}")
    if v.dtype.kind in "iu":
        v = v.astype(np.int64)
    else:
        v = v.astype(np.float64)
    v = np.ascontiguousarray(v).reshape(v.shape)  # keep 0-d arrays 0-d
    v.setflags(write=False)

    def init(t):
        t.values = v
        t.shape = v.shape
        t.size = v.size

    return _intern(ArrayConst, ("aconst", _digest(v)), init)


class Linear(ArrayTerm):
    """``out.ravel() = sum_j blocks[j] @ args[j].ravel() + offset``."""

    __slots__ = ("args", "blocks", "offset")


class Map(ArrayTerm):
    """Elementwise ``template`` applied to same-shaped ``args``."""

    __slots__ = ("template", "args")


class FFT(ArrayTerm):
    """The real or imaginary ``part`` of a numpy n-dimensional FFT.

    ``kind`` is ``"fftn"``, ``"ifftn"``, ``"rfftn"`` or ``"irfftn"`` (numpy's
    functions, with explicit ``s``, ``axes`` and ``norm``).  ``args`` is
    ``(x,)`` for a real input or ``(re, im)`` for a complex one, both of shape
    ``in_shape``.  The node is a real linear map of its arguments: complex
    intermediates of traced code are pairs of these nodes.
    """

    __slots__ = ("args", "kind", "axes", "s", "norm", "part")

    @property
    def in_shape(self) -> tuple[int, ...]:
        """Shape of the array the transform reads."""
        return self.args[0].shape


#: the FFT kinds a node may hold (numpy.fft function names)
FFT_KINDS = ("fftn", "ifftn", "rfftn", "irfftn")


def fft_out_shape(kind: str, in_shape, axes, s) -> tuple[int, ...]:
    """Output shape of ``numpy.fft.<kind>(x, s, axes)`` for ``x`` of ``in_shape``."""
    out = list(in_shape)
    for ax, n in zip(axes, s, strict=True):
        out[ax] = int(n)
    if kind == "rfftn":
        out[axes[-1]] = int(s[-1]) // 2 + 1
    return tuple(out)


def fft_node(kind: str, args, axes, s, norm: str, part: str) -> ArrayTerm:
    """The interned :class:`FFT` node (``part`` ``"re"`` or ``"im"``)."""
    if kind not in FFT_KINDS:
        raise ValueError(f"unknown FFT kind {kind!r}")
    if part not in ("re", "im"):
        raise ValueError(f"FFT part must be 're' or 'im', got {part!r}")
    args = tuple(args)
    if not 1 <= len(args) <= 2 or any(a.shape != args[0].shape for a in args):
        raise ShapeError("an FFT node takes one real or two same-shaped (re, im) arguments")
    axes = tuple(int(a) for a in axes)
    s = tuple(int(n) for n in s)
    shape = fft_out_shape(kind, args[0].shape, axes, s)

    def init(t):
        t.shape = shape
        t.size = int(np.prod(shape, dtype=np.int64))
        t.args = args
        t.kind = kind
        t.axes = axes
        t.s = s
        t.norm = norm
        t.part = part

    return _intern(FFT, ("fft", kind, axes, s, norm, part, args), init)


def fft_apply(node: FFT, values) -> np.ndarray:
    """Numeric value of ``node`` for argument values (arrays of ``node.in_shape``)."""
    x = np.asarray(values[0], dtype=float).reshape(node.in_shape)
    if len(values) == 2:
        x = x + 1j * np.asarray(values[1], dtype=float).reshape(node.in_shape)
    z = getattr(np.fft, node.kind)(x, s=node.s, axes=node.axes, norm=node.norm)
    return np.ascontiguousarray(z.real if node.part == "re" else z.imag)


#: largest dense FFT matrix (entries) :func:`fft_matrix` builds
FFT_DENSE_MAX = 1 << 16


def fft_matrix(node: FFT, i: int) -> sp.csr_matrix:
    """The constant matrix of ``node`` with respect to its argument ``i`` (CSR).

    Built by applying the transform to the unit vectors, a block of columns at
    a time; entries below ``1e-13`` of the largest are rounding noise of exact
    zeros and are dropped.  Dense in the transformed axes: refuses above
    :data:`FFT_DENSE_MAX` entries.
    """
    n_in = node.args[0].size
    if node.size * n_in > FFT_DENSE_MAX:
        raise ShapeError(
            f"an FFT node ({node.size} outputs x {n_in} inputs) is a dense linear map, too "
            "large to expand into a Jacobian or scalar terms; use jvp(...) for "
            "Jacobian-vector products through FFTs, and evaluate/compile for values"
        )
    cols = []
    step = max(1, (1 << 20) // max(1, node.size))
    for start in range(0, n_in, step):
        k = min(step, n_in - start)
        basis = np.zeros((k, n_in))
        basis[np.arange(k), start + np.arange(k)] = 1.0
        basis = basis.reshape((k, *node.in_shape))
        x = basis if i == 0 else 1j * basis
        z = getattr(np.fft, node.kind)(
            x, s=node.s, axes=tuple(a + 1 for a in node.axes), norm=node.norm
        )
        part = z.real if node.part == "re" else z.imag
        cols.append(part.reshape(k, node.size).T)
    dense = np.concatenate(cols, axis=1)
    scale = np.abs(dense).max(initial=0.0)
    dense[np.abs(dense) <= 1e-13 * scale] = 0.0
    return sp.csr_matrix(dense)


def _as_shape(shape) -> tuple[int, ...]:
    if isinstance(shape, int | np.integer):
        shape = (int(shape),)
    shape = tuple(int(s) for s in shape)
    if any(s < 0 for s in shape):
        raise ShapeError(f"negative dimension in shape {shape}")
    return shape


def _is_identity(m: sp.csr_matrix) -> bool:
    n = m.shape[0]
    return (
        m.shape[0] == m.shape[1]
        and m.nnz == n
        and np.array_equal(m.indptr, np.arange(n + 1))
        and np.array_equal(m.indices, np.arange(n))
        and bool(np.all(m.data == 1))
    )


def linear(shape, pairs, offset=None, intern: bool = True) -> ArrayTerm:
    """Build ``sum(block @ arg.ravel()) + offset`` reshaped to ``shape``.

    Parameters
    ----------
    shape : tuple of int
        Output shape.
    pairs : iterable of (ArrayTerm, scipy.sparse matrix)
        Each block has shape ``(prod(shape), arg.size)``.
    offset : ndarray, optional
        Constant added to the flattened output, shape ``(prod(shape),)``.
    intern : bool
        Hash-cons the node by content (default).  Nodes that cannot recur
        (internal values of a Jacobian) skip the O(nnz) content hash.

    Chains of linear nodes are multiplied out, repeated arguments merged and
    constant arguments folded into ``offset``.
    """
    shape = _as_shape(shape)
    size = int(np.prod(shape, dtype=np.int64))
    acc: dict = {}
    off = np.zeros(size) if offset is None else np.asarray(offset, dtype=float).ravel().copy()
    stack = list(pairs)
    while stack:
        arg, blk = stack.pop()
        if blk.shape != (size, arg.size):
            raise ShapeError(
                f"linear block of shape {blk.shape} for output {size} and arg {arg.size}"
            )
        tb = type(arg)
        if tb is Linear:
            blk = sp.csr_matrix(blk)
            for a2, b2 in zip(arg.args, arg.blocks, strict=True):
                stack.append((a2, blk @ b2))
            if arg.offset is not None:
                off += blk @ arg.offset
        elif tb is ArrayConst:
            off += blk @ arg.values.ravel().astype(float)
        else:
            blk = sp.csr_matrix(blk, copy=True)  # stored blocks are read-only
            acc[arg] = acc[arg] + blk if arg in acc else blk
    items = []
    for arg, blk in acc.items():
        blk = sp.csr_matrix(blk)
        blk.sum_duplicates()
        blk.eliminate_zeros()
        if blk.nnz:
            items.append((arg, blk))
    has_off = bool(np.any(off != 0))
    if not items:
        return array_const(off.reshape(shape))
    if len(items) == 1 and not has_off and _is_identity(items[0][1]) and items[0][0].shape == shape:
        return items[0][0]
    items.sort(key=lambda ab: _node_order(ab[0]))
    args = tuple(a for a, _ in items)
    blocks = tuple(b for _, b in items)
    for b in blocks:
        b.indices.setflags(write=False)
        b.data.setflags(write=False)
    offv = off if has_off else None
    if intern:
        key = (
            "lin",
            shape,
            args,
            _digest(*[x for b in blocks for x in (b.indptr, b.indices, b.data)]),
            None if offv is None else _digest(offv),
        )
    else:
        key = ("lin-unique", next(_UNIQUE))

    def init(t):
        t.shape = shape
        t.size = size
        t.args = args
        t.blocks = blocks
        t.offset = offv

    return _intern(Linear, key, init)


_UNIQUE = itertools.count()
_ORDER = weakref.WeakKeyDictionary()
_ORDER_COUNTER = [0]


def _node_order(a: ArrayTerm):
    """A deterministic order for array nodes (by kind and name, else creation)."""
    if type(a) is ArraySym:
        return (0, a.name, 0)
    o = _ORDER.get(a)
    if o is None:
        _ORDER_COUNTER[0] += 1
        o = _ORDER_COUNTER[0]
        _ORDER[a] = o
    return (1, "", o)


def gather(sources, index: np.ndarray, fill=None, intern: bool = True) -> ArrayTerm:
    """Select elements from several sources by one global index array.

    Parameters
    ----------
    sources : sequence of ArrayTerm
        Their flattened elements are numbered consecutively from 1; index 0
        means the constant 0 (or ``fill``).
    index : int ndarray
        Output shape; entries are global element numbers.
    """
    index = np.asarray(index)
    flat = index.ravel().astype(np.int64)
    n = flat.size
    rows = np.arange(n)
    pairs = []
    start = 1
    for s in sources:
        sel = (flat >= start) & (flat < start + s.size)
        if np.any(sel):
            r = rows[sel]
            blk = sp.csr_matrix((np.ones(r.size), (r, flat[sel] - start)), shape=(n, s.size))
            pairs.append((s, blk))
        start += s.size
    offset = None
    if fill is not None and fill != 0:
        offset = np.where(flat == 0, float(fill), 0.0)
    return linear(index.shape, pairs, offset, intern=intern)


def broadcast(a: ArrayTerm, shape) -> ArrayTerm:
    """``a`` broadcast to ``shape`` (numpy rules)."""
    shape = _as_shape(shape)
    if a.shape == shape:
        return a
    try:
        idx = np.broadcast_to(np.arange(1, a.size + 1).reshape(a.shape), shape)
    except ValueError as e:
        raise ShapeError(f"cannot broadcast an array of shape {a.shape} to {shape}") from e
    return gather([a], idx)


# Elementwise maps -----------------------------------------------------------
def substitute_placeholders(template: Term, mapping: dict) -> Term:
    """Replace placeholders (and any mapped leaf) in ``template``, memoized over the DAG."""
    memo: dict = {}

    def go(t):
        r = memo.get(t)
        if r is not None:
            return r
        if t in mapping:
            r = mapping[t]
        elif iscall(t):
            from pdeflow.symbolic.interface import operation

            args = arguments(t)
            new = tuple(go(a) for a in args)
            r = (
                t
                if all(x is y for x, y in zip(new, args, strict=True))
                else maketerm(operation(t), new)
            )
        else:
            r = t
        memo[t] = r
        return r

    return go(template)


def placeholders_in(t: Term) -> set:
    """Placeholder indices used by a template."""
    out: set = set()
    seen: set = set()
    stack = [t]
    while stack:
        x = stack.pop()
        if x in seen:
            continue
        seen.add(x)
        if type(x) is Placeholder:
            out.add(x.index)
        elif iscall(x):
            stack.extend(arguments(x))
    return out


def elementwise(template: Term, args, shape) -> ArrayTerm:
    """The array whose element ``k`` is ``template(args[0][k], args[1][k], ...)``.

    ``args`` must all have ``shape``.  Nested maps are fused, uniform constant
    arrays are inlined as numbers and duplicate arguments merged.
    """
    shape = _as_shape(shape)
    new_args: list = []
    index_of: dict = {}
    mapping: dict = {}
    for i, a in enumerate(args):
        if a.shape != shape:
            raise ShapeError(f"elementwise argument of shape {a.shape}, expected {shape}")
        ph = placeholder(i)
        ta = type(a)
        if ta is ArrayConst and (a.size == 0 or np.all(a.values == a.values.flat[0])):
            v = a.values.flat[0] if a.size else 0
            mapping[ph] = num(int(v) if a.values.dtype.kind in "iu" else float(v))
        elif ta is Map:
            inner = {}
            for j, b in enumerate(a.args):
                if b not in index_of:
                    index_of[b] = len(new_args)
                    new_args.append(b)
                inner[placeholder(j)] = _Slot(index_of[b])
            mapping[ph] = _InnerTemplate(a.template, inner)
        else:
            if a not in index_of:
                index_of[a] = len(new_args)
                new_args.append(a)
            mapping[ph] = _Slot(index_of[a])
    # Resolve to final placeholders: slots are numbered in new_args order.
    final: dict = {}
    for ph, m in mapping.items():
        if isinstance(m, _Slot):
            final[ph] = placeholder(m.i)
        elif isinstance(m, _InnerTemplate):
            final[ph] = substitute_placeholders(
                m.template, {k: placeholder(v.i) for k, v in m.inner.items()}
            )
        else:
            final[ph] = m
    tmpl = _remap_disjoint(template, final)
    return _make_map(tmpl, tuple(new_args), shape)


class _Slot:
    __slots__ = ("i",)

    def __init__(self, i):
        self.i = i


class _InnerTemplate:
    __slots__ = ("template", "inner")

    def __init__(self, template, inner):
        self.template = template
        self.inner = inner


def _remap_disjoint(template: Term, final: dict) -> Term:
    """Substitute placeholders simultaneously (old and new numbering may overlap)."""
    return substitute_placeholders(template, final)


def _make_map(template: Term, args: tuple, shape) -> ArrayTerm:
    used = placeholders_in(template)
    if len(used) < len(args):
        keep = sorted(used)
        ren = {placeholder(old): placeholder(new) for new, old in enumerate(keep)}
        template = substitute_placeholders(template, ren)
        args = tuple(args[i] for i in keep)
    if type(template) is Num:
        v = template.value
        return array_const(np.full(shape, v if isinstance(v, int) else float(v)))
    if type(template) is Placeholder:
        return args[template.index]
    size = int(np.prod(shape, dtype=np.int64))

    def init(t):
        t.shape = shape
        t.size = size
        t.template = template
        t.args = args

    return _intern(Map, ("map", shape, template, args), init)


def scalar_array(t: Term, shape=()) -> ArrayTerm:
    """A uniform array whose every element is the scalar term ``t``."""
    return _make_map(t, (), _as_shape(shape))


# Materialization --------------------------------------------------------------
def element_terms(a: ArrayTerm) -> np.ndarray:
    """All scalar element terms of ``a`` as an object array of ``a.shape`` (memoized)."""
    try:
        return a._elements
    except AttributeError:
        pass
    ta = type(a)
    flat = np.empty(a.size, dtype=object)
    if ta is ArraySym:
        for k in range(a.size):
            s = sym(a.element_name(k))
            owners = ELEMENT_OWNER.setdefault(s, [])
            if (a, k) not in owners:
                owners.append((a, k))
            flat[k] = s
    elif ta is ArrayConst:
        vals = a.values.ravel()
        ints = vals.dtype.kind in "iu"
        for k in range(a.size):
            flat[k] = num(int(vals[k]) if ints else float(vals[k]))
    elif ta is Linear:
        arg_el = [element_terms(x).ravel() for x in a.args]
        off = a.offset
        rows = [[] for _ in range(a.size)]
        for el, blk in zip(arg_el, a.blocks, strict=True):
            coo = blk.tocoo()
            for r, c, v in zip(coo.row.tolist(), coo.col.tolist(), coo.data.tolist(), strict=True):
                rows[r].append(el[c] if v == 1 else mul(num(_nice(v)), el[c]))
        for k in range(a.size):
            terms = rows[k]
            if off is not None and off[k] != 0:
                terms.append(num(_nice(off[k])))
            flat[k] = add(*terms) if terms else num(0)
    elif ta is FFT:  # a dense linear map: only for small transforms
        arg_el = [element_terms(x).ravel() for x in a.args]
        rows = [[] for _ in range(a.size)]
        for i, el in enumerate(arg_el):
            coo = fft_matrix(a, i).tocoo()
            for r, c, v in zip(coo.row.tolist(), coo.col.tolist(), coo.data.tolist(), strict=True):
                rows[r].append(el[c] if v == 1 else mul(num(_nice(v)), el[c]))
        for k in range(a.size):
            flat[k] = add(*rows[k]) if rows[k] else num(0)
    elif ta is Map:
        arg_el = [element_terms(x).ravel() for x in a.args]
        phs = [placeholder(i) for i in range(len(a.args))]
        for k in range(a.size):
            flat[k] = substitute_placeholders(
                a.template, {p: el[k] for p, el in zip(phs, arg_el, strict=True)}
            )
    else:
        raise TypeError(f"unknown array node {a!r}")
    out = flat.reshape(a.shape)
    a._elements = out
    return out


def _nice(v: float):
    """Store integral floats from index matrices as ints (keeps SymPy-like output exact)."""
    fv = float(v)
    return int(fv) if fv.is_integer() and abs(fv) < 2**53 else fv


def element_owner(s: Sym):
    """``(ArraySym, flat index)`` for an element symbol (the latest owner), or ``None``."""
    owners = ELEMENT_OWNER.get(s)
    return owners[-1] if owners else None


def element_owners(s: Sym) -> list:
    """All ``(ArraySym, flat index)`` pairs an element symbol belongs to."""
    return list(ELEMENT_OWNER.get(s, ()))


def array_nodes(roots) -> list:
    """All array nodes reachable from ``roots``, children before parents."""
    order: list = []
    seen: set = set()
    stack = [(r, False) for r in roots]
    while stack:
        n, done = stack.pop()
        if done:
            order.append(n)
            continue
        if n in seen:
            continue
        seen.add(n)
        stack.append((n, True))
        if type(n) in (Linear, Map, FFT):
            for c in n.args:
                if c not in seen:
                    stack.append((c, False))
    return order


def free_scalar_symbols(roots) -> set:
    """Scalar symbols (parameters) used in the templates of the array DAG."""
    out: set = set()
    for n in array_nodes(roots):
        if type(n) is Map:
            out |= n.template.free_symbols
    return out


def input_arrays(roots) -> list:
    """The :class:`ArraySym` leaves of the array DAG, in a deterministic order."""
    return sorted((n for n in array_nodes(roots) if type(n) is ArraySym), key=lambda a: a.name)


__all__ = [
    "ArrayTerm",
    "ArraySym",
    "ArrayConst",
    "Linear",
    "Map",
    "FFT",
    "fft_node",
    "fft_apply",
    "fft_matrix",
    "array_sym",
    "array_const",
    "linear",
    "gather",
    "broadcast",
    "elementwise",
    "scalar_array",
    "element_terms",
    "element_owner",
    "array_nodes",
    "substitute_placeholders",
    "placeholders_in",
    "free_scalar_symbols",
    "input_arrays",
]
