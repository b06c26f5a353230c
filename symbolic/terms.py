"""Hash-consed scalar terms in canonical form.

Every term is interned: two structurally equal terms are the *same* Python
object, so equality is identity and hashing is ``id``-based, both O(1).
Canonical forms are built at construction time, as in SymEngine and
SymbolicUtils:

* a sum is stored as a numeric constant plus ``{term: coefficient}``;
* a product is stored as a numeric coefficient plus ``{base: exponent}``;
* numbers are folded, so ``x + x`` is ``2*x`` and ``x*x`` is ``x**2``.

Numbers are Python ``int``, :class:`fractions.Fraction` (exact rationals) or
``float``.  Rewriters, differentiation and code generation use only the
generic interface of :mod:`pdeflow.symbolic.interface`.

Examples
--------
>>> from pdeflow.symbolic import symbols
>>> x, y = symbols("x y")
>>> (x + x) is 2 * x
True
>>> x * y is y * x
True
"""

from __future__ import annotations

import math
import weakref
from fractions import Fraction
from numbers import Number
from typing import Any

import numpy as np

from pdeflow.errors import TracingError

Numeric = int | Fraction | float

#: Behaviour that the layers above the terms supply, by name: ``"array_ufunc"`` and
#: ``"elementwise_call"`` (numpy hooks, from the tracer), ``"to_str"`` and ``"to_latex"``
#: (printing), ``"reduce"`` (pickling, from the interface).  Each module registers its
#: own with :func:`register_hook` when imported (``pdeflow.symbolic`` imports them all),
#: so this module imports none of them.
HOOKS: dict[str, Any] = {}


def register_hook(name: str, fn):
    """Register ``fn`` as the hook ``name`` (see :data:`HOOKS`); returns ``fn``.

    Parameters
    ----------
    name : str
        One of the hook names of :data:`HOOKS`.
    fn : callable
        Its implementation.

    Returns
    -------
    callable
        ``fn`` (usable as a decorator).

    Examples
    --------
    >>> from pdeflow.symbolic.terms import HOOKS, register_hook
    >>> register_hook("to_str", HOOKS["to_str"]) is HOOKS["to_str"]
    True
    """
    HOOKS[name] = fn
    return fn


def hook(name: str):
    """The registered hook ``name``.

    Returns
    -------
    callable

    Raises
    ------
    RuntimeError
        Nothing registered that name (import ``pdeflow.symbolic``).

    Examples
    --------
    >>> from pdeflow.symbolic.terms import hook, sym
    >>> hook("to_str")(sym("x") + 1)
    'x + 1'
    """
    fn = HOOKS.get(name)
    if fn is None:
        raise RuntimeError(f"no {name!r} hook is registered; import pdeflow.symbolic first")
    return fn


def elementwise_call(fn, args):
    """Apply the scalar builder ``fn`` elementwise over (symbolic) arrays ``args``.

    Parameters
    ----------
    fn : callable
        Builds one scalar term from scalar terms.
    args : tuple
        Terms, numbers, numpy or symbolic arrays (broadcast together).

    Returns
    -------
    SymArray or Term

    Examples
    --------
    >>> import numpy as np
    >>> from pdeflow.symbolic.terms import elementwise_call, sym
    >>> elementwise_call(lambda a, b: a * b, (sym("x"), np.array([1.0, 2.0]))).shape
    (2,)
    """
    return hook("elementwise_call")(fn, args)

_TABLE: weakref.WeakValueDictionary = weakref.WeakValueDictionary()


def _intern(cls, key, init):
    """Return the unique term of ``cls`` for ``key``, building it with ``init``."""
    t = _TABLE.get(key)
    if t is None:
        t = object.__new__(cls)
        init(t)
        t._key = key
        _TABLE[key] = t
    return t


def norm_number(v: Any) -> Numeric:
    """Normalize a Python/numpy number to ``int``, ``Fraction`` or ``float``."""
    if isinstance(v, bool | np.bool_):
        return int(v)
    if isinstance(v, int):
        return v
    if isinstance(v, Fraction):
        return v.numerator if v.denominator == 1 else v
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, float | np.floating):
        return float(v)
    if isinstance(v, Number) and not isinstance(v, complex):
        return float(v)
    raise TypeError(f"not a real number: {v!r}")


class Term:
    """Base class of all scalar expression nodes (immutable, interned)."""

    __slots__ = ("_key", "_sortkey", "_free", "_args_cache", "__weakref__")
    _rank = 9

    # Python arithmetic -------------------------------------------------
    def __add__(self, other):
        o = _coerce(other)
        return NotImplemented if o is None else add(self, o)

    def __radd__(self, other):
        o = _coerce(other)
        return NotImplemented if o is None else add(o, self)

    def __sub__(self, other):
        o = _coerce(other)
        return NotImplemented if o is None else add(self, mul(NEG_ONE, o))

    def __rsub__(self, other):
        o = _coerce(other)
        return NotImplemented if o is None else add(o, mul(NEG_ONE, self))

    def __mul__(self, other):
        o = _coerce(other)
        return NotImplemented if o is None else mul(self, o)

    def __rmul__(self, other):
        o = _coerce(other)
        return NotImplemented if o is None else mul(o, self)

    def __truediv__(self, other):
        o = _coerce(other)
        return NotImplemented if o is None else mul(self, power(o, NEG_ONE))

    def __rtruediv__(self, other):
        o = _coerce(other)
        return NotImplemented if o is None else mul(o, power(self, NEG_ONE))

    def __pow__(self, other):
        o = _coerce(other)
        return NotImplemented if o is None else power(self, o)

    def __rpow__(self, other):
        o = _coerce(other)
        return NotImplemented if o is None else power(o, self)

    def __neg__(self):
        return mul(NEG_ONE, self)

    def __pos__(self):
        return self

    def __abs__(self):
        return call(FUNCTIONS["abs"], self)

    def __lt__(self, other):
        o = _coerce(other)
        return NotImplemented if o is None else call(FUNCTIONS["lt"], self, o)

    def __le__(self, other):
        o = _coerce(other)
        return NotImplemented if o is None else call(FUNCTIONS["le"], self, o)

    def __gt__(self, other):
        o = _coerce(other)
        return NotImplemented if o is None else call(FUNCTIONS["lt"], o, self)

    def __ge__(self, other):
        o = _coerce(other)
        return NotImplemented if o is None else call(FUNCTIONS["le"], o, self)

    __hash__ = object.__hash__

    def __eq__(self, other):
        if isinstance(other, Term):
            return self is other
        o = _coerce(other)
        return o is self

    def __ne__(self, other):
        return not self.__eq__(other)

    def __bool__(self):
        from pdeflow.symbolic.errors_util import data_dependent_branch

        raise data_dependent_branch(self)

    def __float__(self):
        raise TracingError(
            f"cannot convert the symbolic expression {self} to a float: user code may not "
            "turn traced values into numbers; keep the computation symbolic, or, for "
            "parameters, trace with static_params=True to bind them as numbers"
        )

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return hook("array_ufunc")(ufunc, method, inputs, kwargs)

    # Structure ---------------------------------------------------------
    def sort_key(self) -> tuple:
        """A deterministic total order key (independent of hash seeds)."""
        try:
            return self._sortkey
        except AttributeError:
            k = self._compute_sortkey()
            self._sortkey = k
            return k

    def __reduce__(self):
        return hook("reduce")(self)

    def __repr__(self):
        return hook("to_str")(self)

    __str__ = __repr__

    def _repr_latex_(self):
        return f"${hook('to_latex')(self)}$"

    @property
    def free_symbols(self) -> frozenset:
        """The set of :class:`Sym` leaves this term depends on (memoized)."""
        try:
            return self._free
        except AttributeError:
            pass
        # iterative post-order: children first, so deep terms do not recurse
        stack = [self]
        while stack:
            t = stack[-1]
            if hasattr(t, "_free"):
                stack.pop()
                continue
            kids = t._children()
            pending = [c for c in kids if not hasattr(c, "_free")]
            if pending:
                stack.extend(pending)
                continue
            stack.pop()
            t._free = t._compute_free()
        return self._free

    def _children(self) -> tuple:
        return ()


def _coerce(v) -> Term | None:
    if isinstance(v, Term):
        return v
    if isinstance(v, int | float | Fraction | np.integer | np.floating | bool | np.bool_):
        return num(v)
    return None


def as_term(v) -> Term:
    """Convert a number or term to a :class:`Term` (raises TypeError otherwise)."""
    t = _coerce(v)
    if t is None:
        raise TypeError(f"cannot convert {type(v).__name__} to a symbolic term")
    return t


# Leaves -----------------------------------------------------------------
class Num(Term):
    """A numeric constant: ``int``, ``Fraction`` (rational) or ``float``."""

    __slots__ = ("value",)
    _rank = 0

    def _compute_sortkey(self):
        return (0, float(self.value), type(self.value).__name__)

    def _compute_free(self):
        return frozenset()

    def __bool__(self):
        return bool(self.value)

    def __float__(self):
        return float(self.value)

    def __int__(self):
        return int(self.value)


def num(v) -> Num:
    """The interned numeric constant with value ``v``."""
    v = norm_number(v)
    if isinstance(v, float) and v.is_integer() is False and math.isnan(v):
        key = ("num", "nan")
    else:
        key = ("num", type(v), v)

    def init(t):
        t.value = v

    return _intern(Num, key, init)


class Sym(Term):
    """A named scalar symbol, optionally with assumptions (``real``, ``positive``...)."""

    __slots__ = ("name", "assumptions")
    _rank = 1

    def _compute_sortkey(self):
        return (1, self.name)

    def _compute_free(self):
        return frozenset((self,))

    @property
    def is_positive(self) -> bool:
        """True if the symbol was declared positive."""
        return "positive" in self.assumptions

    @property
    def is_nonnegative(self) -> bool:
        """True if the symbol was declared positive or nonnegative."""
        return "positive" in self.assumptions or "nonnegative" in self.assumptions

    @property
    def is_integer(self) -> bool:
        """True if the symbol was declared integer."""
        return "integer" in self.assumptions


KNOWN_ASSUMPTIONS = frozenset({"real", "positive", "nonnegative", "integer"})


def sym(name: str, **assumptions: bool) -> Sym:
    """The interned symbol ``name`` (all symbols are real).

    Parameters
    ----------
    name : str
        Any non-empty string; generated code never uses it unescaped.
    **assumptions : bool
        ``positive=True``, ``nonnegative=True`` or ``integer=True``.
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"a symbol name must be a non-empty str, got {name!r}")
    bad = set(assumptions) - KNOWN_ASSUMPTIONS
    if bad:
        raise ValueError(f"unknown assumption(s) {sorted(bad)}; known: {sorted(KNOWN_ASSUMPTIONS)}")
    ass = frozenset(k for k, v in assumptions.items() if v) | {"real"}
    if "positive" in ass:
        ass = ass | {"nonnegative"}

    def init(t):
        t.name = name
        t.assumptions = ass

    return _intern(Sym, ("sym", name, ass), init)


class Placeholder(Term):
    """The i-th argument slot of an elementwise template (used by array terms)."""

    __slots__ = ("index",)
    _rank = 2

    def _compute_sortkey(self):
        return (2, self.index)

    def _compute_free(self):
        return frozenset()


def placeholder(i: int) -> Placeholder:
    """The interned placeholder for template argument ``i``."""

    def init(t):
        t.index = i

    return _intern(Placeholder, ("ph", i), init)


# Sums and products ------------------------------------------------------
class Add(Term):
    """``const + sum(coeff * term)``, items sorted by :meth:`Term.sort_key`."""

    __slots__ = ("const", "items", "_dict")
    _rank = 5

    def _compute_sortkey(self):
        return (5, tuple((t.sort_key(), float(c)) for t, c in self.items), float(self.const))

    def _children(self) -> tuple:
        return tuple(t for t, _ in self.items)

    def _compute_free(self):
        out = frozenset()
        for t, _ in self.items:
            out = out | t.free_symbols
        return out


class Mul(Term):
    """``coeff * prod(base ** exp)``, factors sorted; exponents are numbers."""

    __slots__ = ("coeff", "factors", "_dict")
    _rank = 4

    def _compute_sortkey(self):
        return (4, tuple((b.sort_key(), float(e)) for b, e in self.factors), float(self.coeff))

    def _children(self) -> tuple:
        return tuple(b for b, _ in self.factors)

    def _compute_free(self):
        out = frozenset()
        for b, _ in self.factors:
            out = out | b.free_symbols
        return out


def _numkey(v: Numeric):
    """A hashable key that keeps 2, 2.0 and Fraction(1, 2) vs 0.5 apart."""
    return (type(v), v)


def _num_add(a: Numeric, b: Numeric) -> Numeric:
    return norm_number(a + b)


def _num_mul(a: Numeric, b: Numeric) -> Numeric:
    return norm_number(a * b)


def split_coeff(t: Term) -> tuple[Numeric, Term]:
    """Write ``t`` as ``c * rest`` with ``rest`` coefficient-free."""
    if type(t) is Mul and t.coeff != 1:
        return t.coeff, make_mul(1, t._dict)
    return 1, t


def _make_add(const: Numeric, d: dict) -> Term:
    d = {t: c for t, c in d.items() if c != 0}
    if not d:
        return num(const)
    if const == 0 and len(d) == 1:
        ((t, c),) = d.items()
        if c == 1:
            return t
        return _scale(t, c)
    items = tuple(sorted(d.items(), key=lambda kv: kv[0].sort_key()))
    key = ("add", _numkey(const), frozenset((t, _numkey(c)) for t, c in d.items()))

    def init(n):
        n.const = const
        n.items = items
        n._dict = d

    return _intern(Add, key, init)


def _scale(t: Term, c: Numeric) -> Term:
    """``c * t`` for a coefficient-free ``t``."""
    if type(t) is Mul:
        return make_mul(_num_mul(c, t.coeff), t._dict)
    return make_mul(c, {t: 1})


def make_mul(coeff: Numeric, d: dict) -> Term:
    """The canonical product ``coeff * prod(base ** exp for base, exp in d.items())``."""
    if coeff == 0 and not isinstance(coeff, float):
        return num(0)
    d = {b: e for b, e in d.items() if e != 0}
    if not d:
        return num(coeff)
    if coeff == 1 and len(d) == 1:
        ((b, e),) = d.items()
        if e == 1:
            return b
    items = tuple(sorted(d.items(), key=lambda kv: kv[0].sort_key()))
    key = ("mul", _numkey(coeff), frozenset((b, _numkey(e)) for b, e in d.items()))

    def init(n):
        n.coeff = coeff
        n.factors = items
        n._dict = d

    return _intern(Mul, key, init)


def add(*args: Term) -> Term:
    """Canonical sum of terms (numbers folded, like terms collected)."""
    const: Numeric = 0
    d: dict = {}
    for a in args:
        if type(a) is Num:
            const = _num_add(const, a.value)
        elif type(a) is Add:
            const = _num_add(const, a.const)
            for t, c in a.items:
                d[t] = _num_add(d.get(t, 0), c)
        else:
            c, t = split_coeff(a)
            d[t] = _num_add(d.get(t, 0), c)
    return _make_add(const, d)


def _is_int(e: Numeric) -> bool:
    return isinstance(e, int) or (isinstance(e, float) and e.is_integer())


def _num_pow(b: Numeric, e: Numeric) -> Term | None:
    """Fold ``b**e`` for numbers where the result is exact or float; else None."""
    if isinstance(b, float) or isinstance(e, float):
        if b < 0 and not float(e).is_integer():
            return num(float("nan"))
        if b == 0 and e < 0:
            return num(float("inf"))
        return num(float(b) ** float(e))
    if isinstance(e, int):
        if b == 0 and e < 0:
            return num(float("inf"))  # zoo in SymPy; inf is what numpy gives
        return num(Fraction(b) ** e)
    # rational exponent of an exact number: exact only for perfect powers
    if b == 1 or b == 0:
        return num(b)
    p, q = e.numerator, e.denominator
    fb = Fraction(b)
    if fb > 0:
        rn = round(fb.numerator ** (1 / q))
        rd = round(fb.denominator ** (1 / q))
        if rn**q == fb.numerator and rd**q == fb.denominator:
            return num(Fraction(rn, rd) ** p)
    return None


def _mul_into(d: dict, b: Term, e: Numeric) -> None:
    """Multiply ``b**e`` into the factor dict ``d``."""
    d[b] = _num_add(d[b], e) if b in d else e


def mul(*args: Term) -> Term:
    """Canonical product of terms (numbers folded, powers of equal bases merged)."""
    coeff: Numeric = 1
    d: dict = {}
    for a in args:
        ta = type(a)
        if ta is Num:
            coeff = _num_mul(coeff, a.value)
        elif ta is Mul:
            coeff = _num_mul(coeff, a.coeff)
            for b, e in a.factors:
                _mul_into(d, b, e)
        else:
            _mul_into(d, a, 1)
    if isinstance(coeff, float) and coeff == 0:
        return num(0.0)
    if coeff == 0:
        return num(0)
    # numeric bases with merged exponents, e.g. sqrt(2)*sqrt(2) -> 2
    for b in [b for b in d if type(b) is Num]:
        v = _num_pow(b.value, d[b])
        if v is not None and type(v) is Num:
            del d[b]
            coeff = _num_mul(coeff, v.value)
    if len(d) == 1 and coeff != 1 and not isinstance(coeff, float):
        ((b, e),) = d.items()
        if type(b) is Add and e == 1:
            # distribute a rational coefficient over a sum: 2*(x+1) -> 2*x + 2,
            # which keeps x + x + 2 and 2*(x + 1) the same object
            return add(*(mul(num(coeff), num(c), t) for t, c in b.items), num(coeff * b.const))
    return make_mul(coeff, d)


def power(base: Term, exp: Term) -> Term:
    """Canonical ``base ** exp``."""
    if type(exp) is Num:
        e = exp.value
        if e == 1:
            return base
        if e == 0:
            return num(1 if not isinstance(e, float) else 1.0)
        tb = type(base)
        if tb is Num:
            v = _num_pow(base.value, e)
            if v is not None:
                return v
            return make_mul(1, {base: e})
        if tb is Mul:
            if _is_int(e):
                e = int(e) if not isinstance(e, float) else e
                d = {b: _num_mul(be, e) for b, be in base.factors}
                c = _num_pow(base.coeff, e) if base.coeff != 1 else num(1)
                if c is None:
                    c = make_mul(1, {num(base.coeff): e})
                return mul(c, make_mul(1, d))
            if len(base.factors) == 1 and base.coeff == 1:
                ((b, be),) = base.factors
                if _is_int(be) and int(be) % 2 == 1 or _nonneg(b):
                    # (x**3)**(1/3) = x over the reals for odd powers; x>=0 always
                    return make_mul(1, {b: _num_mul(be, e)})
            return make_mul(1, {base: e})
        return make_mul(1, {base: e})
    return call(FUNCTIONS["pow"], base, exp)


def _nonneg(t: Term) -> bool:
    return type(t) is Sym and t.is_nonnegative


# Calls of named functions -----------------------------------------------
class Function:
    """A named scalar function that terms can call.

    Parameters
    ----------
    name : str
        Identifier used in printing and registries.
    nargs : int
        Number of arguments.
    numpy_impl : callable
        Vectorized numeric implementation on numpy arrays.
    derivatives : callable, optional
        ``derivatives(*args) -> tuple[Term, ...]``: partial derivatives with
        respect to each argument.  ``None`` for non-differentiable functions
        (relations), whose derivative is zero.
    fold : callable, optional
        ``fold(*args) -> Term | None``: construction-time simplification.
    """

    __slots__ = ("name", "nargs", "numpy_impl", "derivatives", "fold", "latex", "sympy_name")

    def __init__(
        self, name, nargs, numpy_impl, derivatives=None, fold=None, latex=None, sympy_name=None
    ):
        self.name = name
        self.nargs = nargs
        self.numpy_impl = numpy_impl
        self.derivatives = derivatives
        self.fold = fold
        self.latex = latex or f"\\operatorname{{{name}}}"
        self.sympy_name = sympy_name

    def __call__(self, *args):
        terms = [_coerce(a) for a in args]
        if any(t is None for t in terms):
            # symbolic or numeric arrays: apply elementwise (numpy broadcasting)
            return elementwise_call(lambda *a: call(self, *a), args)
        return call(self, *terms)

    def __repr__(self):
        return f"Function({self.name!r})"

    def __reduce__(self):
        return (get_function, (self.name,))


def get_function(name: str) -> Function:
    """The registered :class:`Function` called ``name``."""
    return FUNCTIONS[name]


class Call(Term):
    """A call ``fn(*args)`` of a registered :class:`Function`."""

    __slots__ = ("fn", "args")
    _rank = 6

    def _compute_sortkey(self):
        return (6, self.fn.name, tuple(a.sort_key() for a in self.args))

    def _children(self) -> tuple:
        return self.args

    def _compute_free(self):
        out = frozenset()
        for a in self.args:
            out = out | a.free_symbols
        return out

    def __bool__(self):
        from pdeflow.symbolic.errors_util import data_dependent_branch

        raise data_dependent_branch(self)


def call(fn: Function, *args: Term) -> Term:
    """Canonical call of ``fn`` on terms (folded where a rule applies)."""
    if len(args) != fn.nargs:
        raise TypeError(f"{fn.name} takes {fn.nargs} argument(s), got {len(args)}")
    if fn.fold is not None:
        r = fn.fold(*args)
        if r is not None:
            return r
    if all(type(a) is Num for a in args) and any(isinstance(a.value, float) for a in args):
        with np.errstate(all="ignore"):
            return num(float(fn.numpy_impl(*(float(a.value) for a in args))))

    def init(t):
        t.fn = fn
        t.args = args

    return _intern(Call, ("call", fn.name, args), init)


FUNCTIONS: dict[str, Function] = {}


def register_function(
    name: str,
    nargs: int,
    numpy_impl,
    derivatives=None,
    fold=None,
    latex: str | None = None,
    sympy_name: str | None = None,
) -> Function:
    """Register a user function so traced code, ``diff`` and codegen know it.

    Examples
    --------
    >>> import numpy as np
    >>> from pdeflow.symbolic import symbols, register_function, diff
    >>> x, = symbols("x")
    >>> softplus = register_function("softplus", 1, lambda a: np.log1p(np.exp(a)),
    ...     derivatives=lambda a: (1 / (1 + FUNCTIONS['exp'](-a)),))
    """
    if name in FUNCTIONS and FUNCTIONS[name].numpy_impl is not numpy_impl:
        raise ValueError(f"function {name!r} is already registered")
    f = Function(name, nargs, numpy_impl, derivatives, fold, latex, sympy_name)
    FUNCTIONS[name] = f
    return f


# Numbers used everywhere
ZERO = num(0)
ONE = num(1)
NEG_ONE = num(-1)
HALF = num(Fraction(1, 2))

__all__ = [
    "HOOKS",
    "register_hook",
    "hook",
    "elementwise_call",
    "Term",
    "Num",
    "Sym",
    "Placeholder",
    "Add",
    "Mul",
    "Call",
    "Function",
    "FUNCTIONS",
    "num",
    "sym",
    "placeholder",
    "add",
    "mul",
    "power",
    "call",
    "as_term",
    "register_function",
    "get_function",
    "ZERO",
    "ONE",
    "NEG_ONE",
    "HALF",
]
