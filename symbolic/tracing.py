"""Tracing numpy code: symbolic arrays that speak numpy's protocols.

:class:`SymArray` wraps an :class:`~pdeflow.symbolic.arrays.ArrayTerm` and
implements ``__array_ufunc__`` and ``__array_function__``, so ordinary numpy
PDE code runs on it unchanged and records an array-level expression DAG.

Structural operations (slicing, fancy indexing, ``np.roll``, ``np.pad``,
``np.concatenate``, ``reshape``, ``transpose``...) are applied to an *index
array* by numpy itself, and the resulting selection becomes one sparse
:class:`~pdeflow.symbolic.arrays.Linear` node; every numpy function that only
moves elements around therefore works exactly as numpy defines it.
"""

from __future__ import annotations

import inspect
import numbers
import sys
from fractions import Fraction

import numpy as np
import scipy.sparse as sp

from pdeflow.errors import ShapeError, TracingError, UnsupportedError
from pdeflow.symbolic import functions as F
from pdeflow.symbolic.arrays import (
    ArrayConst,
    ArraySym,
    ArrayTerm,
    array_const,
    array_nodes,
    array_sym,
    broadcast,
    element_terms,
    elementwise,
    gather,
    linear,
    scalar_array,
)
from pdeflow.symbolic.errors_util import data_dependent_branch
from pdeflow.symbolic.terms import (
    NEG_ONE,
    Term,
    add,
    as_term,
    mul,
    num,
    placeholder,
    power,
    register_hook,
    sym,
)

# Ufuncs --------------------------------------------------------------------


def _sub(a, b):
    return add(a, mul(NEG_ONE, b))


def _div(a, b):
    return mul(a, power(b, NEG_ONE))


_UFUNCS = {
    np.add: add,
    np.subtract: _sub,
    np.multiply: mul,
    np.true_divide: _div,
    np.power: lambda a, b: power(a, b),
    np.float_power: lambda a, b: power(a, b),
    np.negative: lambda a: mul(NEG_ONE, a),
    np.positive: lambda a: a,
    np.conjugate: lambda a: a,  # real arrays
    np.square: lambda a: power(a, num(2)),
    np.sqrt: F.sqrt,
    np.cbrt: lambda a: power(a, num(Fraction(1, 3))),
    np.reciprocal: lambda a: power(a, NEG_ONE),
    np.exp: F.exp,
    np.expm1: lambda a: add(F.exp(a), NEG_ONE),
    np.exp2: lambda a: F.pow_(num(2), a),
    np.log: F.log,
    np.log1p: lambda a: F.log(add(a, num(1))),
    np.log2: lambda a: mul(F.log(a), power(F.log(num(2)), NEG_ONE)),
    np.log10: lambda a: mul(F.log(a), power(F.log(num(10)), NEG_ONE)),
    np.sin: F.sin,
    np.cos: F.cos,
    np.tan: F.tan,
    np.sinh: F.sinh,
    np.cosh: F.cosh,
    np.tanh: F.tanh,
    np.arcsin: F.asin,
    np.arccos: F.acos,
    np.arctan: F.atan,
    np.absolute: F.abs_,
    np.fabs: F.abs_,
    np.sign: F.sign,
    np.minimum: F.minimum,
    np.maximum: F.maximum,
    np.fmin: F.minimum,
    np.fmax: F.maximum,
    np.less: F.lt,
    np.less_equal: F.le,
    np.greater: lambda a, b: F.lt(b, a),
    np.greater_equal: lambda a, b: F.le(b, a),
    np.equal: F.eq,
    np.not_equal: F.ne,
    np.logical_and: F.and_,
    np.logical_or: F.or_,
    np.logical_not: F.not_,
}


def _scalar_of(x):
    """A Term for a Python/numpy scalar or 0-d numeric array; None otherwise."""
    if isinstance(x, Term):
        return x
    if isinstance(x, bool | np.bool_):
        return num(int(x))
    if isinstance(x, numbers.Real) and not isinstance(x, np.ndarray):
        return as_term(x)
    if isinstance(x, np.ndarray) and x.ndim == 0 and x.dtype.kind in "biuf":
        return as_term(x[()])
    return None


def _array_of(x) -> ArrayTerm:
    """An ArrayTerm for a SymArray or numeric ndarray (raises otherwise)."""
    if isinstance(x, SymArray):
        return x._term
    if isinstance(x, np.ndarray):
        if x.dtype.kind in "biuf":
            return array_const(x)
        if x.dtype == object:
            return _object_array(x)
        raise UnsupportedError(f"arrays of dtype {x.dtype} cannot enter a traced computation")
    if isinstance(x, list | tuple):
        return _array_of(np.array(x, dtype=object) if _has_symbolic(x) else np.asarray(x))
    s = _scalar_of(x)
    if s is not None:
        return scalar_array(s)
    if sp.issparse(x):
        raise UnsupportedError(
            "a scipy.sparse matrix can only enter a traced computation through a matrix product "
            "(A @ u)"
        )
    raise UnsupportedError(f"values of type {type(x).__name__} cannot enter a traced computation")


def _has_symbolic(x) -> bool:
    if isinstance(x, SymArray | Term):
        return True
    if isinstance(x, list | tuple):
        return any(_has_symbolic(v) for v in x)
    return False


def _object_array(x: np.ndarray) -> ArrayTerm:
    """An object array of numbers/terms/0-d SymArrays -> ArrayTerm (via concatenation)."""
    flat = x.ravel()
    parts = [_array_of(v).__class__ and _array_of(v) for v in flat]
    for p in parts:
        if p.size != 1:
            raise ShapeError("object arrays entering a trace must hold scalars")
    idx = np.arange(1, len(parts) + 1).reshape(x.shape)
    return gather(parts, idx)


def _elementwise_call(fn, inputs) -> SymArray | Term:
    """Apply the scalar builder ``fn`` elementwise with numpy broadcasting."""
    arrays = []
    shapes = []
    tmpl_args = []
    for x in inputs:
        s = _scalar_of(x)
        if s is not None:
            tmpl_args.append(s)
            continue
        a = _array_of(x)
        if a.shape == () and type(a) is not ArrayConst:
            pass
        tmpl_args.append(None)
        arrays.append(a)
        shapes.append(a.shape)
    if not arrays:
        return fn(*tmpl_args)
    try:
        shape = np.broadcast_shapes(*shapes)
    except ValueError as e:
        raise ShapeError(
            "operands could not be broadcast together with shapes "
            + " ".join(str(s) for s in shapes)
        ) from e
    phs = iter(range(len(arrays)))
    template = fn(*(t if t is not None else placeholder(next(phs)) for t in tmpl_args))
    return SymArray(elementwise(template, [broadcast(a, shape) for a in arrays], shape))


#: complex traced array types (registered by :mod:`pdeflow.symbolic.spectral`)
_COMPLEX_TYPES: tuple = ()


_COMPLEX_UFUNC = None


def register_complex_type(cls, handlers: dict, ufunc_handler) -> None:
    """Let ``cls`` (complex traced arrays) take part in mixed operations with SymArray,
    route the numpy functions in ``handlers`` (``np.fft``) from real traced arrays, and
    ufuncs of traced arrays with complex numbers to ``ufunc_handler``."""
    global _COMPLEX_TYPES, _COMPLEX_UFUNC
    _COMPLEX_TYPES = (*_COMPLEX_TYPES, cls)
    _COMPLEX_UFUNC = ufunc_handler
    _HANDLED.update(handlers)


def _defer_to_complex(inputs) -> bool:
    return bool(_COMPLEX_TYPES) and any(isinstance(x, _COMPLEX_TYPES) for x in inputs)


def _is_complex_value(x) -> bool:
    """A complex number or complex numeric array (not a traced one)."""
    if isinstance(x, np.ndarray):
        return x.dtype.kind == "c"
    return isinstance(x, complex | np.complexfloating)


def scalar_array_ufunc(ufunc, method, inputs, kwargs):
    """``__array_ufunc__`` of scalar terms (a term meeting numpy scalars or arrays)."""
    if any(isinstance(x, SymArray) for x in inputs) or _defer_to_complex(inputs):
        return NotImplemented
    if method != "__call__" or kwargs.get("out") is not None:
        raise UnsupportedError(f"ufunc method {ufunc.__name__}.{method} on a symbolic scalar")
    fn = _UFUNCS.get(ufunc)
    if fn is None:
        raise UnsupportedError(_unsupported_ufunc_msg(ufunc))
    if all(_scalar_of(x) is not None for x in inputs):
        return fn(*(_scalar_of(x) for x in inputs))
    return _elementwise_call(fn, inputs)


def _unsupported_ufunc_msg(ufunc) -> str:
    return (
        f"numpy ufunc np.{ufunc.__name__} is not supported by the symbolic tracer; "
        "register a scalar function with pdeflow.symbolic.register_function, or rewrite the "
        "expression with supported ufuncs"
    )


# Index-array machinery ------------------------------------------------------


class _IndexSpace:
    """Numbers the elements of several arrays consecutively from 1 (0 = zero)."""

    def __init__(self):
        self.sources: list[ArrayTerm] = []
        self.next = 1

    def index_of(self, a: ArrayTerm) -> np.ndarray:
        base = self.next
        self.sources.append(a)
        self.next += a.size
        return np.arange(base, base + a.size, dtype=np.int64).reshape(a.shape)

    def convert(self, x):
        """Replace the array data in a (nested) argument by index arrays.

        Only call this on arguments that hold array *data* (see
        :func:`_convert_data_args`): numbers and numeric arrays there are
        constants, whereas shifts, shapes, masks and index arrays elsewhere
        must reach numpy unchanged.
        """
        if isinstance(x, SymArray):
            return self.index_of(x._term)
        if isinstance(x, np.ndarray) and x.dtype.kind in "biuf":
            return self.index_of(array_const(x))
        if isinstance(x, Term):
            return self.index_of(scalar_array(x)).reshape(())
        if isinstance(x, list | tuple):
            if _has_symbolic(x) or any(isinstance(v, np.ndarray) for v in x):
                return type(x)(self.convert(v) for v in x)
            return self.convert(np.asarray(x))
        s = _scalar_of(x)
        if s is not None:
            return self.index_of(scalar_array(s)).reshape(-1)[0]
        return x

    def result(self, idx) -> SymArray:
        return SymArray(gather(self.sources, np.asarray(idx)))


#: positional arguments that hold array data, where not just the first one
_DATA_POSITIONS = {np.append: (0, 1), np.insert: (0, 2)}
#: keyword names under which the structural functions take array data
_DATA_KEYWORDS = frozenset(
    {"a", "arr", "array", "ary", "arys", "m", "tup", "arrays", "A", "v", "values", "filt"}
)
_ALL_DATA = (np.atleast_1d, np.atleast_2d, np.atleast_3d, np.block)


def _convert_data_args(space: _IndexSpace, func, args, kwargs):
    """Index arrays for the data arguments of ``func``; shifts, shapes, axes unchanged."""
    pos = range(len(args)) if func in _ALL_DATA else _DATA_POSITIONS.get(func, (0,))
    new_args = [space.convert(a) if i in pos else a for i, a in enumerate(args)]
    new_kwargs = {k: space.convert(v) if k in _DATA_KEYWORDS else v for k, v in kwargs.items()}
    return new_args, new_kwargs


def select(func, args, kwargs) -> SymArray:
    """Apply a structural numpy function (``np.roll``, ``np.pad``...) to symbolic arrays.

    ``func`` runs on integer index arrays that number the elements of the symbolic inputs, so numpy
    itself decides where each element goes; the result is one sparse selection node.

    Parameters
    ----------
    func : callable
        The numpy function, called as ``func(*args, **kwargs)``.
    args, kwargs
        Its arguments; :class:`SymArray` inputs are replaced by index arrays.

    Returns
    -------
    SymArray
        The traced result, shaped as numpy's result.
    """
    space = _IndexSpace()
    new_args, new_kwargs = _convert_data_args(space, func, args, kwargs)
    return space.result(func(*new_args, **new_kwargs))


def _pad(array, pad_width, mode="constant", **kwargs):
    space = _IndexSpace()
    idx = space.convert(array)
    if mode == "constant":
        cv = kwargs.pop("constant_values", 0)
        if kwargs:
            raise UnsupportedError(f"np.pad options {sorted(kwargs)} in constant mode")
        cv_arr = np.asarray(cv, dtype=object)
        if cv_arr.ndim == 0:
            s = _scalar_of(cv)
            if s is None:
                raise UnsupportedError("np.pad constant_values must be a scalar when traced")
            if type(s) is not type(num(0)) or s.value != 0:
                cv_idx = int(space.index_of(scalar_array(s)).reshape(()))
                return space.result(np.pad(idx, pad_width, mode="constant", constant_values=cv_idx))
            return space.result(np.pad(idx, pad_width, mode="constant", constant_values=0))
        raise UnsupportedError("np.pad with per-axis constant_values is not supported when traced")
    if mode in ("edge", "wrap", "reflect", "symmetric"):
        return space.result(np.pad(idx, pad_width, mode=mode, **kwargs))
    raise UnsupportedError(f"np.pad mode {mode!r} is not supported by the symbolic tracer")


def _where(cond, x=None, y=None):
    if x is None and y is None:
        raise UnsupportedError("np.where(condition) with one argument (indices of nonzeros)")
    if not isinstance(cond, SymArray) and not isinstance(cond, Term):
        c = np.asarray(cond)
        if c.dtype.kind in "biuf":
            space = _IndexSpace()
            return space.result(np.where(c.astype(bool), space.convert(x), space.convert(y)))
    return _elementwise_call(F.where, (cond, x, y))


# Reductions and products ----------------------------------------------------


def _sum(a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=None, scale=None):
    if out is not None or where is not None:
        raise UnsupportedError("sum/mean with out= or where= is not supported when traced")
    t = _array_of(a)
    shape = t.shape
    nd = len(shape)
    if axis is None:
        axes = tuple(range(nd))
    else:
        axes = tuple(ax % nd for ax in (axis if isinstance(axis, tuple) else (axis,)))
    out_shape_keep = tuple(1 if i in axes else s for i, s in enumerate(shape))
    out_shape = (
        out_shape_keep if keepdims else tuple(s for i, s in enumerate(shape) if i not in axes)
    )
    out_size = int(np.prod(out_shape, dtype=np.int64))
    rows = np.broadcast_to(np.arange(out_size).reshape(out_shape_keep), shape).ravel()
    count = int(np.prod([shape[i] for i in axes], dtype=np.int64)) if axes else 1
    factor = 1.0 if scale is None else (1.0 / count if scale == "mean" else scale)
    blk = sp.csr_matrix(
        (np.full(t.size, factor), (rows, np.arange(t.size))), shape=(out_size, t.size)
    )
    offset = None
    if initial is not None:
        offset = np.full(out_size, float(initial))
    return SymArray(linear(out_shape, [(t, blk)], offset))


def _mean(a, axis=None, dtype=None, out=None, keepdims=False, where=None):
    return _sum(a, axis=axis, out=out, keepdims=keepdims, where=where, scale="mean")


def _as_const_matrix(m):
    if sp.issparse(m):
        return sp.csr_matrix(m)
    m = np.asarray(m)
    if m.dtype.kind not in "biuf":
        return None
    return m


def _matmul(a, b) -> SymArray:
    """``a @ b`` where at least one side is symbolic."""
    ca = None if isinstance(a, SymArray) else _as_const_matrix(a)
    cb = None if isinstance(b, SymArray) else _as_const_matrix(b)
    if ca is not None and ca.ndim <= 2:
        x = _array_of(b)
        if ca.ndim == 1:  # a vector on the left: (1, n) row, then drop that axis
            return SymArray(_left_matmul(ca[None, :], x))[0]
        return SymArray(_left_matmul(ca, x))
    if cb is not None and cb.ndim <= 2:
        x = _array_of(a)
        if cb.ndim == 1:  # a vector on the right: (n, 1) column, then drop that axis
            return SymArray(_right_matmul(x, cb[:, None]))[..., 0]
        return SymArray(_right_matmul(x, cb))
    # both symbolic: broadcasting products and a sum (exact, if not the fastest)
    A, B = _as_symarray(a), _as_symarray(b)
    if A.ndim == 1 and B.ndim == 1:
        return (A * B).sum()
    if A.ndim == 2 and B.ndim == 2:
        if A.shape[1] != B.shape[0]:
            raise ShapeError(f"matmul: shapes {A.shape} and {B.shape} not aligned")
        return (A[:, :, None] * B[None, :, :]).sum(axis=1)
    if A.ndim == 2 and B.ndim == 1:
        return (A * B[None, :]).sum(axis=1)
    if A.ndim == 1 and B.ndim == 2:
        return (A[:, None] * B).sum(axis=0)
    raise UnsupportedError(f"matmul of symbolic arrays with shapes {A.shape} and {B.shape}")


def _left_matmul(M, x: ArrayTerm) -> ArrayTerm:
    M = sp.csr_matrix(M)
    M.eliminate_zeros()
    m, n = M.shape
    if x.ndim == 0 or x.shape[0] != n:
        raise ShapeError(f"matmul: matrix of shape {M.shape} times array of shape {x.shape}")
    rest = x.shape[1:]
    k = int(np.prod(rest, dtype=np.int64))
    blk = M if k == 1 and x.ndim == 1 else sp.kron(M, sp.identity(k, format="csr"), format="csr")
    return linear((m, *rest), [(x, blk)])


def _right_matmul(x: ArrayTerm, M) -> ArrayTerm:
    M = sp.csr_matrix(M)
    M.eliminate_zeros()
    n, k = M.shape
    if x.ndim == 0 or x.shape[-1] != n:
        raise ShapeError(f"matmul: array of shape {x.shape} times matrix of shape {M.shape}")
    lead = x.shape[:-1]
    m = int(np.prod(lead, dtype=np.int64))
    MT = sp.csr_matrix(M.T)
    blk = MT if x.ndim == 1 else sp.kron(sp.identity(m, format="csr"), MT, format="csr")
    return linear((*lead, k), [(x, blk)])


def _dot(a, b, out=None):
    if out is not None:
        raise UnsupportedError("np.dot with out= when traced")
    if np.ndim(a) == 0 or np.ndim(b) == 0 or (not isinstance(a, SymArray) and np.isscalar(a)):
        return _as_symarray(a) * b
    return _matmul(a, b)


def _as_symarray(x) -> SymArray:
    return x if isinstance(x, SymArray) else SymArray(_array_of(x))


def _like(fill):
    def f(a, dtype=None, order=None, subok=None, shape=None, **kw):
        shp = _shape(a) if shape is None else shape
        return SymArray(array_const(np.full(shp, fill, dtype=float)))

    return f


def _full_like(a, fill_value, dtype=None, order=None, subok=None, shape=None):
    shp = _shape(a) if shape is None else shape
    s = _scalar_of(fill_value)
    if s is None:
        raise UnsupportedError("np.full_like fill value must be a scalar")
    return SymArray(scalar_array(s, shp))


def _clip(a, a_min=None, a_max=None, out=None, **kw):
    r = a
    if a_min is not None:
        r = np.maximum(r, a_min)
    if a_max is not None:
        r = np.minimum(r, a_max)
    return r


def _diff(a, n=1, axis=-1, prepend=None, append=None):
    if prepend is not None or append is not None:
        raise UnsupportedError("np.diff with prepend/append when traced")
    r = _as_symarray(a)
    ax = axis % r.ndim
    for _ in range(n):
        hi = [slice(None)] * r.ndim
        lo = [slice(None)] * r.ndim
        hi[ax] = slice(1, None)
        lo[ax] = slice(None, -1)
        r = r[tuple(hi)] - r[tuple(lo)]
    return r


def _along_axis(x: ArrayTerm, M, axis: int, out_shape) -> ArrayTerm:
    """The constant matrix ``M`` (m, n) applied along ``axis`` of ``x`` (a Linear node)."""
    pre = int(np.prod(x.shape[:axis], dtype=np.int64))
    post = int(np.prod(x.shape[axis + 1:], dtype=np.int64))
    blk = sp.kron(
        sp.identity(pre, format="csr"),
        sp.kron(sp.csr_matrix(M), sp.identity(post, format="csr")),
        format="csr",
    )
    return linear(out_shape, [(x, blk)])


def _const_spacing(h, name: str):
    if isinstance(h, SymArray | Term) or (
        isinstance(h, np.ndarray | list | tuple) and _has_symbolic(list(np.ravel(h)))
    ):
        raise UnsupportedError(f"{name} with traced (symbolic) spacing; pass numeric spacing")
    return h


def _gradient(f, *varargs, axis=None, edge_order=1):
    """``np.gradient``: per axis, numpy's own difference matrix applied along that axis."""
    x = _array_of(f)
    nd = x.ndim
    axes = tuple(range(nd)) if axis is None else (
        (axis,) if isinstance(axis, numbers.Integral) else tuple(axis))
    axes = tuple(int(a) % nd for a in axes)
    if not varargs:
        spacing = [1.0] * len(axes)
    elif len(varargs) == 1 and np.ndim(varargs[0]) == 0:
        spacing = list(varargs) * len(axes)
    elif len(varargs) == len(axes):
        spacing = list(varargs)
    else:
        raise TypeError("invalid number of arguments")
    out = []
    for ax, h in zip(axes, spacing, strict=True):
        D = _gradient_matrix(x.shape[ax], _const_spacing(h, "np.gradient"), edge_order)
        out.append(SymArray(_along_axis(x, D, ax, x.shape)))
    return out[0] if len(out) == 1 else tuple(out)


def _gradient_matrix(n: int, h, edge_order: int) -> sp.csr_matrix:
    """numpy's own ``np.gradient`` matrix along one axis of length ``n`` (CSR, O(n)).

    Row ``i`` reads columns ``i - 2 .. i + 2`` at most, so columns five apart never meet
    in a row: ``np.gradient`` of the sum of every fifth unit vector gives five columns'
    entries at once, and five calls give the matrix exactly.
    """
    rows = np.arange(n)
    r_list, c_list, v_list = [], [], []
    for r in range(5):
        comb = (rows % 5 == r).astype(float)
        g = np.gradient(comb, h, edge_order=edge_order)  # numpy checks sizes and spacing
        d = (r - rows) % 5
        cols = rows + np.where(d > 2, d - 5, d)  # the one column = r (mod 5) within +-2
        keep = (cols >= 0) & (cols < n) & (g != 0)
        r_list.append(rows[keep])
        c_list.append(cols[keep])
        v_list.append(g[keep])
    return sp.csr_matrix(
        (np.concatenate(v_list), (np.concatenate(r_list), np.concatenate(c_list))), shape=(n, n)
    )


#: longest axis np.cumsum traces along (its linear map is a dense lower triangle)
CUMSUM_MAX = 4096


def _cumsum(a, axis=None, dtype=None, out=None):
    if out is not None:
        raise UnsupportedError("np.cumsum with out= when traced")
    x = _array_of(a)
    if axis is None:
        x = gather([x], np.arange(1, x.size + 1))
        axis = 0
    axis = int(axis) % max(x.ndim, 1)
    n = x.shape[axis]
    if n > CUMSUM_MAX:
        raise UnsupportedError(
            f"np.cumsum along an axis of {n} elements when traced: its matrix is a dense "
            f"triangle ({n * (n + 1) // 2} entries); the limit is {CUMSUM_MAX} elements per axis"
        )
    return SymArray(_along_axis(x, sp.csr_matrix(np.tril(np.ones((n, n)))), axis, x.shape))


#: basis vectors per block when einsum's matrix is built from the identity
_EINSUM_BLOCK = 256


def _einsum(subscripts, *operands, out=None, **kwargs):
    """``np.einsum`` with one traced operand and constant others: one linear node."""
    if out is not None:
        raise UnsupportedError("np.einsum with out= when traced")
    if not isinstance(subscripts, str):
        raise UnsupportedError("np.einsum's sublist form when traced; use a subscripts string")
    sym = [i for i, o in enumerate(operands) if isinstance(o, SymArray | Term)]
    if len(sym) != 1:
        raise UnsupportedError(
            "np.einsum with several traced operands when traced (it would be nonlinear); "
            "write the products with * and .sum(axis=...)"
        )
    (j,) = sym
    x = _array_of(operands[j])
    spec = subscripts.replace(" ", "")
    ins, _, outs = spec.partition("->")
    in_terms = ins.split(",")
    if len(in_terms) != len(operands):
        raise ValueError("more operands provided to einstein sum function than specified")
    if "->" not in spec:  # numpy's implicit output: letters used once, sorted
        letters = [c for c in ins if c.isalpha()]
        outs = ("..." if "..." in ins else "") + "".join(
            sorted(c for c in set(letters) if letters.count(c) == 1))
    free = next(c for c in "ZYXWVUTSRQPONMLKJIHGFEDCBAzyxwvutsrqponmlkjihgfedcba"
                if c not in spec)
    in_terms[j] = in_terms[j] + free
    new_spec = ",".join(in_terms) + "->" + outs + free
    consts = [None if i == j else np.asarray(o) for i, o in enumerate(operands)]
    for c in consts:
        if c is not None and c.dtype.kind not in "biuf":
            raise UnsupportedError(
                f"np.einsum with a constant operand of dtype {c.dtype} when traced (real "
                "numeric constants only)"
            )
    blocks = []
    for start in range(0, x.size, _EINSUM_BLOCK):
        k = min(_EINSUM_BLOCK, x.size - start)
        basis = np.zeros((x.size, k))
        basis[start + np.arange(k), np.arange(k)] = 1.0
        ops = [basis.reshape((*x.shape, k)) if c is None else c for c in consts]
        res = np.einsum(new_spec, *ops)
        blocks.append(sp.csr_matrix(res.reshape(-1, k)))
    out_shape = res.shape[:-1]
    return SymArray(linear(out_shape, [(x, sp.hstack(blocks, format="csr"))]))


def _shape(a) -> tuple[int, ...]:
    """``np.shape`` that does not dispatch back to ``SymArray.__array_function__``."""
    return a.shape if isinstance(a, SymArray) else np.shape(a)


def _shape_only(fn):
    def f(a, *args, **kw):
        return fn(np.empty(np.shape(a), dtype=np.int8), *args, **kw)

    return f


_SELECT = [
    np.roll,
    np.flip,
    np.fliplr,
    np.flipud,
    np.transpose,
    np.reshape,
    np.ravel,
    np.swapaxes,
    np.moveaxis,
    np.squeeze,
    np.expand_dims,
    np.broadcast_to,
    np.repeat,
    np.tile,
    np.rot90,
    np.take,
    np.concatenate,
    np.stack,
    np.hstack,
    np.vstack,
    np.dstack,
    np.column_stack,
    np.atleast_1d,
    np.atleast_2d,
    np.atleast_3d,
    np.copy,
    np.append,
    np.diagonal,
    np.tril,
    np.triu,
    np.array_split,
    np.split,
    np.hsplit,
    np.vsplit,
    np.delete,
    np.insert,
    np.trim_zeros,
    np.asarray,
    np.asanyarray,
    np.ascontiguousarray,
    np.array,
    np.diag,
    np.block,
]
_SELECT = [f for f in _SELECT if f is not None]

def _selector(func):
    """A handler applying the structural numpy function ``func`` to index arrays."""
    return lambda *a, **k: select(func, a, k)


_HANDLED = {f: _selector(f) for f in _SELECT}
_HANDLED.update(
    {
        np.pad: _pad,
        np.where: _where,
        np.sum: _sum,
        np.mean: _mean,
        np.dot: _dot,
        np.matmul: _matmul,
        np.zeros_like: _like(0.0),
        np.ones_like: _like(1.0),
        np.empty_like: _like(0.0),
        np.full_like: _full_like,
        np.clip: _clip,
        np.diff: _diff,
        np.gradient: _gradient,
        np.cumsum: _cumsum,
        np.einsum: _einsum,
        np.shape: _shape,
        np.ndim: lambda a: len(_shape(a)),
        np.size: lambda a, axis=None: (
            int(np.prod(_shape(a), dtype=np.int64)) if axis is None else _shape(a)[axis]
        ),
        np.result_type: lambda *a: np.dtype(object),
        np.broadcast_shapes: np.broadcast_shapes,
    }
)


def _split_result(func, args, kwargs):
    """Functions that return several arrays (split family)."""
    space = _IndexSpace()
    new_args, new_kwargs = _convert_data_args(space, func, args, kwargs)
    parts = func(*new_args, **new_kwargs)
    return [SymArray(gather(space.sources, np.asarray(p))) for p in parts]


for _f in (np.array_split, np.split, np.hsplit, np.vsplit):
    _HANDLED[_f] = (lambda f: lambda *a, **k: _split_result(f, a, k))(_f)


# The symbolic array ----------------------------------------------------------


class SymArray(np.lib.mixins.NDArrayOperatorsMixin):
    """A symbolic numpy-like array recording the operations applied to it.

    Parameters
    ----------
    term : ArrayTerm
        The array expression it stands for.

    Examples
    --------
    >>> import numpy as np
    >>> from pdeflow.symbolic import array
    >>> u = array("u", (5,))
    >>> lap = np.roll(u, 1) - 2 * u + np.roll(u, -1)
    >>> lap.shape
    (5,)
    >>> str(lap[0])
    '-2*u[0] + u[1] + u[4]'
    """

    __slots__ = ("_term", "_written")
    __array_priority__ = 1000
    __hash__ = object.__hash__  # identity: usable as a dict key in substitutions

    def __init__(self, term: ArrayTerm):
        self._term = term
        self._written = False

    # Properties -------------------------------------------------------------
    @property
    def term(self) -> ArrayTerm:
        """The array expression node."""
        return self._term

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of the traced array."""
        return self._term.shape

    @property
    def ndim(self) -> int:
        """Number of axes."""
        return len(self._term.shape)

    @property
    def size(self) -> int:
        """Number of elements."""
        return self._term.size

    @property
    def dtype(self):
        """Always ``float`` (float64): traced arrays are real."""
        return np.dtype(float)

    @property
    def T(self) -> SymArray:
        """The transposed array, as :attr:`numpy.ndarray.T`."""
        return np.transpose(self)

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d symbolic array")
        return self.shape[0]

    def __iter__(self):
        if not self.shape:
            raise TypeError("iteration over a 0-d symbolic array")
        for i in range(self.shape[0]):
            yield self[i]

    def __repr__(self):
        t = self._term
        if t.size <= 12:
            return f"SymArray({np.array2string(self.elements(), separator=', ')})"
        return f"SymArray(shape={self.shape}, node={type(t).__name__})"

    def __str__(self):
        if not self.shape:  # a 0-d array prints as its one scalar element
            return str(self._scalar())
        return repr(self)

    def _repr_latex_(self):
        from pdeflow.symbolic.printing import to_latex

        if self.size > 64:
            return None
        el = self.elements()
        if el.ndim <= 1:
            rows = [" \\\\ ".join(to_latex(e) for e in el.ravel())]
            return "$\\left[\\begin{matrix}" + rows[0] + "\\end{matrix}\\right]$"
        if el.ndim == 2:
            body = " \\\\ ".join(" & ".join(to_latex(e) for e in row) for row in el)
            return "$\\left[\\begin{matrix}" + body + "\\end{matrix}\\right]$"
        return None

    def elements(self) -> np.ndarray:
        """Materialize every element as a scalar term (object array of this shape)."""
        return element_terms(self._term)

    def item(self, *index) -> Term:
        """One element as a scalar term."""
        if not index:
            if self.size != 1:
                raise ValueError("item() needs an index for arrays with more than one element")
            return self[(0,) * self.ndim]._scalar()
        return self[index if len(index) > 1 else index[0]]._scalar()

    def _scalar(self) -> Term:
        return element_terms(self._term).reshape(())[()]

    # Conversions that would lose the trace -----------------------------------
    def __bool__(self):
        raise data_dependent_branch(self)

    def __float__(self):
        raise TracingError(
            "cannot convert a traced (symbolic) array to a float; keep the computation in numpy "
            "operations on the array, or, for a parameter array, trace with "
            "static_params=['<argument name>'] to bind it as numbers"
        )

    __int__ = __float__
    __index__ = __float__

    def __array__(self, dtype=None, copy=None):
        caller = sys._getframe(1)
        if caller.f_code.co_name == "_matmul_dispatch" and caller.f_globals.get(
            "__name__", ""
        ).startswith("scipy.sparse"):
            # scipy.sparse ``A @ u`` returns NotImplemented for a 0-d object array, so
            # Python falls back to ``u.__rmatmul__(A)``, which traces the product.
            return np.empty((), dtype=object)
        raise TracingError(
            "a traced (symbolic) array was converted to a plain numpy array, which loses the "
            "trace. "
            "Typical cause: writing it into an array made with np.zeros/np.empty; create outputs "
            "with np.zeros_like(u) / np.empty_like(u) from the traced input instead"
        )

    # numpy protocols ---------------------------------------------------------
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if _defer_to_complex(inputs):
            return NotImplemented
        if _COMPLEX_UFUNC is not None and any(_is_complex_value(x) for x in inputs):
            return _COMPLEX_UFUNC(ufunc, method, *inputs, **kwargs)
        out = kwargs.pop("out", None)
        if method == "__call__":
            if ufunc is np.matmul:
                res = _matmul(*inputs)
            else:
                fn = _UFUNCS.get(ufunc)
                if fn is None:
                    raise UnsupportedError(_unsupported_ufunc_msg(ufunc))
                if kwargs:
                    extra = set(kwargs) - {"dtype", "casting"}
                    if extra:
                        raise UnsupportedError(
                            f"ufunc keyword(s) {sorted(extra)} are not supported when traced"
                        )
                res = _elementwise_call(fn, inputs)
        elif method == "reduce" and ufunc is np.add:
            res = _sum(inputs[0], **{k: v for k, v in kwargs.items() if k != "dtype"})
        else:
            raise UnsupportedError(
                f"ufunc method np.{ufunc.__name__}.{method} is not supported by the symbolic tracer"
            )
        if out is not None:
            target = out[0] if isinstance(out, tuple) else out
            if not isinstance(target, SymArray):
                raise TracingError("out= must be a traced array (made with np.empty_like(u))")
            target[...] = res
            return target
        return res

    def __array_function__(self, func, types, args, kwargs):
        if _COMPLEX_TYPES and any(issubclass(t, _COMPLEX_TYPES) for t in types):
            return NotImplemented
        handler = _HANDLED.get(func)
        if handler is None:
            name = getattr(func, "__module__", "numpy").replace("numpy", "np", 1)
            raise UnsupportedError(
                f"numpy function {name}.{func.__name__} is not supported by the symbolic tracer. "
                "Supported: elementwise ufuncs, slicing and fancy indexing, "
                + ", ".join(sorted("np." + f.__name__ for f in _HANDLED))
            )
        return handler(*args, **kwargs)

    def __matmul__(self, other):
        return _matmul(self, other)

    def __rmatmul__(self, other):
        return _matmul(other, self)

    # Indexing ----------------------------------------------------------------
    def _index_grid(self) -> np.ndarray:
        return np.arange(1, self.size + 1, dtype=np.int64).reshape(self.shape)

    @staticmethod
    def _check_key(key):
        keys = key if isinstance(key, tuple) else (key,)
        for k in keys:
            if isinstance(k, SymArray | Term):
                raise UnsupportedError(
                    "indexing with a traced (symbolic) index is data-dependent; use constant "
                    "index arrays, or np.where for selection"
                )

    def __getitem__(self, key) -> SymArray:
        self._check_key(key)
        try:
            idx = self._index_grid()[key]
        except IndexError as e:
            raise ShapeError(
                f"index {key!r} out of range for a traced array of shape {self.shape}"
            ) from e
        return SymArray(gather([self._term], np.asarray(idx)))

    def __setitem__(self, key, value) -> None:
        self._check_key(key)
        grid = self._index_grid()
        try:
            pos = grid[key]
        except IndexError as e:
            raise ShapeError(
                f"index {key!r} out of range for a traced array of shape {self.shape}"
            ) from e
        pos = np.asarray(pos)
        v = _array_of(value)
        try:
            vb = broadcast(v, pos.shape)
        except ShapeError as e:
            raise ShapeError(
                f"could not broadcast a value of shape {v.shape} into a slice of shape {pos.shape}"
            ) from e
        new = grid.copy()
        new[key] = np.arange(self.size + 1, self.size + 1 + vb.size).reshape(pos.shape)
        self._term = gather([self._term, vb], new)
        self._written = True

    # Array methods ----------------------------------------------------------
    def sum(self, axis=None, dtype=None, out=None, keepdims=False, **kw):
        """Sum over ``axis``, as :meth:`numpy.ndarray.sum`, recorded in the traced graph."""
        return _sum(self, axis=axis, out=out, keepdims=keepdims, **kw)

    def mean(self, axis=None, dtype=None, out=None, keepdims=False, **kw):
        """Mean over ``axis``, as :meth:`numpy.ndarray.mean`, recorded in the traced graph."""
        return _mean(self, axis=axis, out=out, keepdims=keepdims, **kw)

    def reshape(self, *shape, order="C"):
        """Reshape, as :meth:`numpy.ndarray.reshape` (a tuple or separate sizes)."""
        if len(shape) == 1 and isinstance(shape[0], tuple | list):
            shape = tuple(shape[0])
        return np.reshape(self, shape, order=order)

    def ravel(self, order="C"):
        """Flatten to one axis, as :meth:`numpy.ndarray.ravel`."""
        return np.ravel(self, order=order)

    def flatten(self, order="C"):
        """Flatten to one axis, as :meth:`numpy.ndarray.flatten`."""
        return np.ravel(self, order=order)

    def transpose(self, *axes):
        """Permute axes, as :meth:`numpy.ndarray.transpose` (reverse them if none are given)."""
        if len(axes) == 1 and isinstance(axes[0], tuple | list):
            axes = tuple(axes[0])
        return np.transpose(self, axes or None)

    def swapaxes(self, a, b):
        """Swap axes ``a`` and ``b``, as :meth:`numpy.ndarray.swapaxes`."""
        return np.swapaxes(self, a, b)

    def squeeze(self, axis=None):
        """Drop axes of length one, as :meth:`numpy.ndarray.squeeze`."""
        return np.squeeze(self, axis=axis)

    def copy(self, order="C"):
        """A new traced array over the same graph node (terms are immutable)."""
        return SymArray(self._term)

    def astype(self, dtype=None, **kw):
        """The array unchanged: traced arrays are always float64, so ``dtype`` is ignored."""
        return SymArray(self._term)

    def dot(self, other):
        """Dot product with ``other``, as :meth:`numpy.ndarray.dot`."""
        return _dot(self, other)

    def cumsum(self, axis=None, dtype=None, out=None):
        """Cumulative sum over ``axis``, as :meth:`numpy.ndarray.cumsum`."""
        return _cumsum(self, axis=axis, out=out)

    def clip(self, a_min=None, a_max=None):
        """Clip to ``[a_min, a_max]``, as :meth:`numpy.ndarray.clip`."""
        return _clip(self, a_min, a_max)

    def fill(self, value):
        """Set every element to ``value`` (the traced array is rebound in place)."""
        self[...] = value


def array(name: str, shape) -> SymArray:
    """A symbolic input array; element ``(i, j)`` is the symbol ``name[i,j]``.

    Examples
    --------
    >>> from pdeflow.symbolic import array
    >>> u = array("u", (3, 3))
    >>> str(u[1, 2])
    'u[1,2]'
    """
    return SymArray(array_sym(name, shape))


# trace ---------------------------------------------------------------------------


def _symbolic_arg(name: str, value):
    if isinstance(value, SymArray | Term):
        return value
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biuf":
            raise TracingError(f"argument {name!r}: cannot trace an array of dtype {value.dtype}")
        return array(name, value.shape)
    if isinstance(value, bool):
        return value
    if isinstance(value, numbers.Real):
        return sym(name)
    if isinstance(value, tuple | list):
        vals = [_symbolic_arg(f"{name}_{i}", v) for i, v in enumerate(value)]
        return type(value)(vals)
    if isinstance(value, dict):
        return {k: _symbolic_arg(f"{name}_{k}", v) for k, v in value.items()}
    return value


#: argument names never bound as numbers by ``static_params=True`` (the time variable)
TIME_NAMES = frozenset({"t", "time"})


def _is_static_number(value) -> bool:
    """A number, or a tuple/list/dict of numbers (a parameter set)."""
    if isinstance(value, bool | np.bool_):
        return True
    if isinstance(value, numbers.Real | numbers.Complex) and not isinstance(value, Term):
        return True
    if isinstance(value, tuple | list):
        return all(_is_static_number(v) for v in value)
    if isinstance(value, dict):
        return all(_is_static_number(v) for v in value.values())
    return False


def _static_names(static_params, names) -> frozenset:
    """Argument names that ``static_params`` binds as numbers."""
    if static_params is False or static_params is None:
        return frozenset()
    if static_params is True:
        return frozenset(names) - TIME_NAMES
    if isinstance(static_params, str):
        static_params = (static_params,)
    chosen = frozenset(static_params)
    unknown = chosen - frozenset(names)
    if unknown:
        raise TracingError(
            f"static_params names {sorted(unknown)} are not arguments of the traced function "
            f"(arguments: {list(names)})"
        )
    return chosen


def trace(f, *args, return_inputs: bool = False, static_params=False, **kwargs):
    """Run ``f`` on symbolic stand-ins of its arguments and return its symbolic outputs.

    Arguments become symbols named after ``f``'s parameters: a numeric array
    argument ``u`` becomes the symbolic array ``array("u", u.shape)`` (so the
    same object can be rebuilt later by name), a number ``t`` becomes the
    symbol ``t``, and a tuple/list/dict of numbers ``p`` becomes ``p_0, p_1,
    ...`` (``p_<key>`` for dicts).  Already-symbolic arguments are used as
    they are; anything else (constant matrices, functions) is passed through
    unchanged.

    Both PDE right-hand-side forms work: ``f(t, y, p) -> dy`` returns its
    outputs; an in-place ``f(dy, y, p, t)`` returns ``None`` and the traced
    outputs are the argument arrays it wrote into.

    Parameters
    ----------
    f : callable
        Ordinary numpy code.
    *args, **kwargs
        Example arguments (numbers or arrays) or symbolic ones.
    return_inputs : bool
        Also return a dict of the symbolic inputs by parameter name.
    static_params : bool or iterable of str
        Bind parameters as numbers at trace time instead of symbols, so that user
        code may call ``float(p[0])``, ``math.exp(p[0])`` or branch on them.
        ``True`` binds every argument that is a number or a tuple/list/dict of
        numbers, except one named ``t`` or ``time``; a list of argument names
        binds exactly those (arrays included, as constants).  Bound values are
        baked into the trace: compile once per parameter set.

    Returns
    -------
    outputs : SymArray, Term or tuple of them
        ``(outputs, inputs)`` when ``return_inputs`` is true.

    Raises
    ------
    TracingError
        Data-dependent control flow (names the line and suggests ``np.where``),
        an in-place output that was not fully assigned.
    UnsupportedError
        A numpy function the tracer does not support (names it).

    Examples
    --------
    >>> import numpy as np
    >>> from pdeflow.symbolic import trace
    >>> def rhs(t, u, p):
    ...     return p[0] * (np.roll(u, 1) - 2 * u + np.roll(u, -1))
    >>> du = trace(rhs, 0.0, np.zeros(4), (1.0,))
    >>> str(du[0])
    'p_0*(-2*u[0] + u[1] + u[3])'

    With ``static_params=True`` the parameters stay numbers, so scalar math works:

    >>> import math
    >>> def decay(t, u, p):
    ...     return -math.exp(p[0]) * u
    >>> str(trace(decay, 0.0, np.zeros(2), (0.0,), static_params=True)[0])
    '-u[0]'
    """
    sym_args, sym_kwargs, inputs = _symbolic_inputs(f, args, kwargs, static_params)
    initial = {id(v): v._term for v in _walk_symarrays(inputs.values())}
    result = f(*sym_args, **sym_kwargs)
    if result is None:
        result = _written_outputs(f, inputs, initial)
    result = _normalize_outputs(result)
    return (result, inputs) if return_inputs else result


def _symbolic_inputs(f, args, kwargs, static_params) -> tuple[list, dict, dict]:
    """``(positional, keyword, inputs by name)``: symbolic stand-ins of the arguments."""
    try:
        sig = inspect.signature(f)
        bound = sig.bind(*args, **kwargs)
    except (TypeError, ValueError) as e:
        if isinstance(e, TypeError) and "argument" in str(e):
            raise TracingError(
                f"trace: arguments do not match {getattr(f, '__name__', f)}: {e}"
            ) from e
        names = [f"arg{i}" for i in range(len(args))]
        static = _static_names(static_params, [*names, *kwargs])

        def symb(n, v):
            return v if _binds_static(static_params, static, n, v) else _symbolic_arg(n, v)

        sym_args = [symb(n, a) for n, a in zip(names, args, strict=True)]
        sym_kwargs = {k: symb(k, v) for k, v in kwargs.items()}
        return sym_args, sym_kwargs, dict(zip(names, sym_args, strict=True)) | sym_kwargs
    inputs = {}
    static = _static_names(static_params, list(bound.arguments))
    for name, value in bound.arguments.items():
        param = sig.parameters[name]
        if _binds_static(static_params, static, name, value):
            inputs[name] = value
        elif param.kind is inspect.Parameter.VAR_POSITIONAL:
            inputs[name] = tuple(_symbolic_arg(f"{name}_{i}", v) for i, v in enumerate(value))
        elif param.kind is inspect.Parameter.VAR_KEYWORD:
            inputs[name] = {k: _symbolic_arg(k, v) for k, v in value.items()}
        else:
            inputs[name] = _symbolic_arg(name, value)
    sym_args, sym_kwargs = [], {}
    for name, value in inputs.items():
        param = sig.parameters[name]
        if param.kind is inspect.Parameter.VAR_POSITIONAL:
            sym_args.extend(value)
        elif param.kind is inspect.Parameter.VAR_KEYWORD:
            sym_kwargs.update(value)
        elif param.kind is inspect.Parameter.KEYWORD_ONLY:
            sym_kwargs[name] = value
        else:
            sym_args.append(value)
    return sym_args, sym_kwargs, inputs


def _written_outputs(f, inputs: dict, initial: dict):
    """The outputs of an in-place ``f``: the array arguments it wrote into, fully."""
    written = [v for v in _walk_symarrays(inputs.values()) if v._written]
    if not written:
        raise TracingError(
            f"{getattr(f, '__name__', 'f')} returned None and wrote into none of its array "
            "arguments: nothing to trace"
        )
    for v in written:
        start = initial[id(v)]
        if type(start) is ArraySym and start in array_nodes([v._term]):
            n_left = _count_unassigned(v._term, start)
            raise TracingError(
                f"in-place output {start.name!r} was not fully assigned: {n_left} of {v.size} "
                "elements still hold their input value; assign every element "
                f"(e.g. {start.name}[...] = 0 first)"
            )
    return written[0] if len(written) == 1 else tuple(written)


def _binds_static(static_params, static: frozenset, name: str, value) -> bool:
    """Whether argument ``name`` is bound as its numeric value."""
    if name not in static:
        return False
    return static_params is not True or _is_static_number(value)


def _count_unassigned(term: ArrayTerm, start: ArraySym) -> int:
    from pdeflow.symbolic.arrays import Linear

    if type(term) is Linear:
        for a, b in zip(term.args, term.blocks, strict=True):
            if a is start:
                return int(np.count_nonzero(np.diff(b.indptr)))
    return term.size


def _walk_symarrays(values):
    for v in values:
        if isinstance(v, SymArray):
            yield v
        elif isinstance(v, list | tuple):
            yield from _walk_symarrays(v)
        elif isinstance(v, dict):
            yield from _walk_symarrays(v.values())


def _normalize_outputs(result):
    if isinstance(result, SymArray | Term):
        return result
    if isinstance(result, list | tuple):
        return type(result)(_normalize_outputs(r) for r in result)
    if isinstance(result, dict):
        return {k: _normalize_outputs(v) for k, v in result.items()}
    if isinstance(result, np.ndarray) and result.dtype == object:
        return SymArray(_object_array(result))
    s = _scalar_of(result)
    if s is not None:
        return s
    if isinstance(result, np.ndarray):
        return SymArray(array_const(result))
    raise TracingError(f"traced function returned {type(result).__name__}, not arrays or terms")


register_hook("array_ufunc", scalar_array_ufunc)
register_hook("elementwise_call", _elementwise_call)

__all__ = ["SymArray", "array", "trace"]
