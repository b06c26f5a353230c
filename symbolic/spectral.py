"""Tracing numpy FFT code: ``np.fft`` on traced arrays, complex intermediates.

A complex traced array (:class:`ComplexSymArray`) is a pair of real traced
arrays, its real and imaginary parts.  ``np.fft.rfft(u)`` of a traced ``u``
gives such a pair, each part one structured :class:`~pdeflow.symbolic.arrays.FFT`
node; complex arithmetic (constant multipliers such as ``1j * k``,
dealiasing masks, sums, products) acts on the parts with ordinary elementwise
nodes; ``np.fft.irfft`` turns a pair back into a real traced array.  So a
spectral right-hand side stays a real array program whose only new node is
the FFT, which code generation hands to numpy, torch or jax FFTs.

Examples
--------
>>> import numpy as np
>>> from pdeflow.symbolic import array, evaluate
>>> u = array("u", (8,))
>>> k = np.fft.rfftfreq(8, 1 / 8)
>>> ux = np.fft.irfft(1j * k * np.fft.rfft(u), 8)   # spectral derivative on [0, 2*pi)
>>> x = 2 * np.pi * np.arange(8) / 8
>>> bool(np.allclose(evaluate(ux, {u: np.sin(x)}), np.cos(x)))
True
"""

from __future__ import annotations

import numbers

import numpy as np

from pdeflow.errors import ShapeError, TracingError, UnsupportedError
from pdeflow.symbolic.arrays import ArrayConst, array_const, fft_node
from pdeflow.symbolic.terms import Term
from pdeflow.symbolic.tracing import SymArray, register_complex_type, select

NORMS = ("backward", "ortho", "forward")


# Parts of complex operands ----------------------------------------------------------------


def _is_zero(x) -> bool:
    """Whether ``x`` is known to be zero everywhere (a number or constant array)."""
    if isinstance(x, SymArray):
        t = x.term
        return type(t) is ArrayConst and not np.any(t.values)
    if isinstance(x, Term):
        return False
    if isinstance(x, numbers.Number | np.ndarray):
        return not np.any(x)
    return False


def _parts(x):
    """``(re, im)`` of an operand: traced arrays, terms, numbers or numeric arrays."""
    if isinstance(x, ComplexSymArray):
        return x.re, x.im
    if isinstance(x, SymArray | Term):
        return x, 0.0
    if isinstance(x, list | tuple):
        x = np.asarray(x)
    if isinstance(x, numbers.Number) and not isinstance(x, numbers.Real):
        return float(np.real(x)), float(np.imag(x))
    if isinstance(x, numbers.Real):
        return x, 0.0
    if isinstance(x, np.ndarray) and x.dtype.kind in "biufc":
        if x.dtype.kind == "c":
            return np.ascontiguousarray(x.real), np.ascontiguousarray(x.imag)
        return x, 0.0
    raise UnsupportedError(f"values of type {type(x).__name__} cannot enter complex traced code")


def _mul(a, b):
    return 0.0 if _is_zero(a) or _is_zero(b) else a * b


def _add(a, b):
    if _is_zero(a):
        return b
    return a if _is_zero(b) else a + b


def _neg(a):
    return 0.0 if _is_zero(a) else -a


def _sub(a, b):
    return _add(a, _neg(b))


def _shape_of(x) -> tuple[int, ...]:
    return x.shape if isinstance(x, SymArray) else np.shape(x)


def _as_sym(x, shape) -> SymArray:
    """``x`` as a traced array of ``shape`` (constants become constant nodes)."""
    if isinstance(x, SymArray):  # a new object: assigning into the result leaves x alone
        return SymArray(x.term) if x.shape == shape else np.broadcast_to(x, shape)
    if isinstance(x, Term):
        return SymArray(array_const(np.zeros(shape))) + x
    return SymArray(array_const(np.broadcast_to(np.asarray(x, dtype=float), shape)))


def _complex(re, im) -> ComplexSymArray:
    try:
        shape = np.broadcast_shapes(_shape_of(re), _shape_of(im))
    except ValueError as e:
        raise ShapeError(f"complex parts of shapes {_shape_of(re)} and {_shape_of(im)}") from e
    return ComplexSymArray(_as_sym(re, shape), _as_sym(im, shape))


# Complex ufuncs ------------------------------------------------------------------------


def _c_mul(a, b):
    (ar, ai), (br, bi) = a, b
    return _sub(_mul(ar, br), _mul(ai, bi)), _add(_mul(ar, bi), _mul(ai, br))


def _c_div(a, b):
    (ar, ai), (br, bi) = a, b
    if _is_zero(bi):
        inv = 1.0 / br if not isinstance(br, SymArray | Term) else br**-1
        return _mul(ar, inv), _mul(ai, inv)
    den = _add(_mul(br, br), _mul(bi, bi))
    num_re, num_im = _c_mul((ar, ai), (br, _neg(bi)))
    return num_re / den, num_im / den


def _c_exp(a):
    (ar, ai), = a
    mag = np.exp(ar)
    return _mul(mag, np.cos(ai)), _mul(mag, np.sin(ai))


_BINARY = {
    np.add: lambda a, b: (_add(a[0], b[0]), _add(a[1], b[1])),
    np.subtract: lambda a, b: (_sub(a[0], b[0]), _sub(a[1], b[1])),
    np.multiply: _c_mul,
    np.true_divide: _c_div,
}
_UNARY = {
    np.negative: lambda a: (_neg(a[0]), _neg(a[1])),
    np.positive: lambda a: a,
    np.conjugate: lambda a: (a[0], _neg(a[1])),
    np.square: lambda a: _c_mul(a, a),
    np.exp: lambda a: _c_exp((a,)),
}


class ComplexSymArray(np.lib.mixins.NDArrayOperatorsMixin):
    """A complex traced array: its real and imaginary parts are real traced arrays.

    Made by ``np.fft`` functions on traced arrays; supports complex arithmetic
    with numbers, numeric arrays and traced arrays, ``np.exp``, ``abs``,
    ``.real``/``.imag``/``.conj()``, indexing and assignment, and the inverse
    FFTs back to real arrays.

    Parameters
    ----------
    re, im : SymArray
        Real and imaginary parts, of one shape.
    """

    __slots__ = ("re", "im")
    __array_priority__ = 1001  # above SymArray: mixed operations dispatch here
    __hash__ = object.__hash__

    def __init__(self, re: SymArray, im: SymArray):
        if re.shape != im.shape:
            raise ShapeError(f"complex parts of shapes {re.shape} and {im.shape}")
        self.re = re
        self.im = im

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of the array (that of its real part)."""
        return self.re.shape

    @property
    def ndim(self) -> int:
        """Number of axes."""
        return self.re.ndim

    @property
    def size(self) -> int:
        """Number of elements."""
        return self.re.size

    @property
    def dtype(self):
        """Always ``complex`` (complex128)."""
        return np.dtype(complex)

    @property
    def real(self) -> SymArray:
        """Real part, a traced :class:`SymArray`."""
        return self.re

    @property
    def imag(self) -> SymArray:
        """Imaginary part, a traced :class:`SymArray`."""
        return self.im

    def conj(self) -> ComplexSymArray:
        """Complex conjugate (the imaginary part negated); ``conjugate`` is the same method."""
        return ComplexSymArray(self.re, -self.im)

    conjugate = conj

    def copy(self) -> ComplexSymArray:
        """A copy with copied real and imaginary parts."""
        return ComplexSymArray(self.re.copy(), self.im.copy())

    def reshape(self, *shape, order="C") -> ComplexSymArray:
        """Reshape real and imaginary parts alike, as :meth:`numpy.ndarray.reshape`."""
        return ComplexSymArray(self.re.reshape(*shape, order=order),
                               self.im.reshape(*shape, order=order))

    def __len__(self) -> int:
        return len(self.re)

    def __repr__(self):
        return f"ComplexSymArray(shape={self.shape})"

    def __getitem__(self, key) -> ComplexSymArray:
        return ComplexSymArray(self.re[key], self.im[key])

    def __setitem__(self, key, value) -> None:
        vr, vi = _parts(value)
        self.re[key] = vr
        self.im[key] = vi

    def __bool__(self):
        raise TracingError("the truth value of a traced complex array is data-dependent")

    def __complex__(self):
        raise TracingError("cannot convert a traced complex array to a number")

    __float__ = __complex__

    def __array__(self, dtype=None, copy=None):
        raise TracingError(
            "a traced complex array was converted to a plain numpy array, which loses the trace"
        )

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return complex_ufunc(ufunc, method, *inputs, **kwargs)

    def __array_function__(self, func, types, args, kwargs):
        handler = COMPLEX_HANDLED.get(func) or FFT_HANDLED.get(func)
        if handler is None:
            raise UnsupportedError(
                f"numpy function np.{func.__name__} is not supported on traced complex arrays. "
                "Supported: " + ", ".join(sorted(_names(COMPLEX_HANDLED) + _names(FFT_HANDLED)))
            )
        return handler(*args, **kwargs)


def _c_pow(a, e):
    """``a ** e`` for an integer exponent (repeated products; negative: a reciprocal)."""
    if not _is_integer(e):
        raise UnsupportedError("powers of traced complex arrays take integer exponents")
    n = int(e)
    result, base = (1.0, 0.0), a
    for bit in bin(abs(n))[2:]:
        result = _c_mul(result, result)
        if bit == "1":
            result = _c_mul(result, base)
    return _c_div((1.0, 0.0), result) if n < 0 else result


def _is_integer(e) -> bool:
    return isinstance(e, numbers.Real) and not isinstance(e, Term) and float(e).is_integer()


def complex_ufunc(ufunc, method, *inputs, **kwargs):
    """``__array_ufunc__`` where an operand is complex (traced or not) and one is traced."""
    if method != "__call__" or kwargs.get("out") is not None:
        raise UnsupportedError(f"ufunc np.{ufunc.__name__}.{method} on a traced complex array")
    if ufunc is np.absolute:
        (x,) = inputs
        re, im = _parts(x)
        return np.sqrt(_add(_mul(re, re), _mul(im, im)))
    if ufunc in (np.power, np.float_power) and len(inputs) == 2:
        return _complex(*_c_pow(_parts(inputs[0]), inputs[1]))
    parts = [_parts(x) for x in inputs]
    if ufunc in _BINARY and len(parts) == 2:
        return _complex(*_BINARY[ufunc](*parts))
    if ufunc in _UNARY and len(parts) == 1:
        return _complex(*_UNARY[ufunc](parts[0]))
    raise UnsupportedError(
        f"numpy ufunc np.{ufunc.__name__} is not supported on traced complex arrays "
        "(supported: +, -, *, /, integer powers, negative, conjugate, square, exp, abs)"
    )


def _names(handlers) -> list[str]:
    return [f"np.{'fft.' if f in FFT_HANDLED else ''}{f.__name__}" for f in handlers]


def _real(a):
    return a.re if isinstance(a, ComplexSymArray) else a


def _imag(a):
    return a.im if isinstance(a, ComplexSymArray) else np.zeros_like(a)


def _complex_like(fill: float):
    def f(a, dtype=None, order=None, subok=None, shape=None, **kw):
        shp = a.shape if shape is None else tuple(np.atleast_1d(shape))
        zeros = SymArray(array_const(np.zeros(shp)))
        if dtype is not None and np.dtype(dtype).kind != "c":
            return SymArray(array_const(np.full(shp, fill)))
        return ComplexSymArray(SymArray(array_const(np.full(shp, fill))), zeros)

    return f


def _on_parts(func):
    """A structural numpy function applied to both parts (roll, flip, fftshift...)."""

    def f(a, *args, **kw):
        re, im = _parts(a)
        return _complex(func(_as_sym(re, a.shape), *args, **kw),
                        func(_as_sym(im, a.shape), *args, **kw))

    return f


def _sum_parts(func):
    def f(a, *args, **kw):
        return _complex(func(a.re, *args, **kw), func(a.im, *args, **kw))

    return f


COMPLEX_HANDLED = {
    np.real: _real,
    np.imag: _imag,
    np.zeros_like: _complex_like(0.0),
    np.ones_like: _complex_like(1.0),
    np.empty_like: _complex_like(0.0),
    np.copy: lambda a, **kw: a.copy(),
    np.shape: lambda a: a.shape,
    np.ndim: lambda a: a.ndim,
    np.roll: _on_parts(np.roll),
    np.flip: _on_parts(np.flip),
    np.reshape: _on_parts(np.reshape),
    np.sum: _sum_parts(np.sum),
    np.mean: _sum_parts(np.mean),
}


# FFTs -------------------------------------------------------------------------------------


def _axes_and_sizes(kind, shape, s, axes):
    nd = len(shape)
    if axes is None:
        axes = tuple(range(nd)) if s is None else tuple(range(nd - len(s), nd))
    axes = tuple(int(a) % nd if -nd <= int(a) < nd else _bad_axis(a, nd) for a in axes)
    if not axes:
        raise UnsupportedError("an FFT over no axes")
    if s is None:
        s = [shape[a] for a in axes]
        if kind == "irfftn":
            s[-1] = 2 * (shape[axes[-1]] - 1)
    s = tuple(int(n) for n in s)
    if len(s) != len(axes):
        raise ShapeError(f"FFT sizes s={s} and axes={axes} differ in length")
    if any(n < 1 for n in s):
        raise ShapeError(f"invalid number of FFT data points {s}")
    return axes, s


def _bad_axis(a, nd):
    raise ShapeError(f"axis {a} is out of bounds for a traced array of dimension {nd}")


def _fftn(kind, a, s=None, axes=None, norm=None, out=None):
    if out is not None:
        raise UnsupportedError(f"np.fft.{kind} with out= when traced")
    norm = "backward" if norm is None else norm
    if norm not in NORMS:
        raise ValueError(f'Invalid norm value {norm}; should be "backward", "ortho" or "forward".')
    if not isinstance(a, SymArray | ComplexSymArray):
        raise UnsupportedError(f"np.fft.{kind} of a {type(a).__name__} when traced")
    re, im = _parts(a)
    if kind == "rfftn" and not _is_zero(im):
        raise TypeError("rfft of a complex array: take the real part first, or use fft")
    axes, s = _axes_and_sizes(kind, a.shape, s, axes)
    args = (re.term,) if _is_zero(im) else (re.term, _as_sym(im, a.shape).term)
    out_re = SymArray(fft_node(kind, args, axes, s, norm, "re"))
    if kind == "irfftn":
        return out_re
    return ComplexSymArray(out_re, SymArray(fft_node(kind, args, axes, s, norm, "im")))


def _one_axis(kind):
    def f(a, n=None, axis=-1, norm=None, out=None):
        return _fftn(kind, a, None if n is None else (n,), (axis,), norm, out)

    return f


def _two_axes(kind):
    def f(a, s=None, axes=(-2, -1), norm=None, out=None):
        return _fftn(kind, a, s, axes, norm, out)

    return f


def _n_axes(kind):
    def f(a, s=None, axes=None, norm=None, out=None):
        return _fftn(kind, a, s, axes, norm, out)

    return f


FFT_HANDLED = {}
for _k in ("fft", "ifft", "rfft", "irfft"):
    FFT_HANDLED[getattr(np.fft, _k)] = _one_axis(_k + "n")
    FFT_HANDLED[getattr(np.fft, _k + "2")] = _two_axes(_k + "n")
    FFT_HANDLED[getattr(np.fft, _k + "n")] = _n_axes(_k + "n")
for _f in (np.fft.fftshift, np.fft.ifftshift):
    FFT_HANDLED[_f] = (lambda f: lambda a, axes=None: (
        _on_parts(f)(a, axes=axes) if isinstance(a, ComplexSymArray) else select(f, (a,),
                                                                                {"axes": axes})
    ))(_f)

#: numpy functions of real traced arrays that this module answers (besides np.fft)
REAL_HANDLED = {np.real: _real, np.imag: _imag}

register_complex_type(ComplexSymArray, {**FFT_HANDLED, **REAL_HANDLED}, complex_ufunc)

__all__ = ["ComplexSymArray", "FFT_HANDLED"]
