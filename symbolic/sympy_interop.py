"""Conversion between pdeflow terms and SymPy expressions.

:func:`to_sympy` reads our terms only through the generic interface
(:func:`~pdeflow.symbolic.interface.iscall`, ``operation``, ``arguments``), so it
keeps working if the term representation changes; :func:`from_sympy` builds
terms with the canonical constructors.  Both walk the expression DAG
iteratively with a memo, so a shared subexpression is converted once and deep
chains (thousands of nested operations) do not hit Python's recursion limit.

Mapping
-------
========================  =====================================================
pdeflow                   SymPy
========================  =====================================================
``int`` / ``Fraction``    ``Integer`` / ``Rational``
``float``                 ``Float`` (``inf`` ↔ ``oo``, ``nan`` ↔ ``nan``)
``Sym``                   ``Symbol(name, real=True, positive=..., ...)``
placeholder ``_i``        :class:`PlaceholderSymbol` (a ``Symbol`` subclass)
ADD / MUL / POW           ``Add`` / ``Mul`` / ``Pow``
exp, log, sin, ... abs    ``exp``, ``log``, ``sin``, ... ``Abs``, ``sign``
min / max                 ``Min`` / ``Max`` (n-ary ``Min`` folds pairwise back)
``where(c, a, b)``        ``Piecewise((a, c), (b, True))``
lt, le, eq, ne            ``StrictLessThan``, ``LessThan``, ``Eq``, ``Ne``
and, or, not              ``And``, ``Or``, ``Not``
user function ``f``       ``sympy.<sympy_name>`` if given, else ``Function("f")``
========================  =====================================================

Our relations and logical functions are numbers (``0`` or ``1``), SymPy's are
Booleans.  Where one is used as a number (``2 * (x < y)``) it becomes
``Piecewise((1, x < y), (0, True))``, which converts back to the relation
itself; where a number is used as a condition it becomes ``Ne(value, 0)``.

Only these SymPy constants are understood: ``E`` becomes ``exp(1)``; ``pi``
and every other ``NumberSymbol`` (``EulerGamma``, ``GoldenRatio``...) become
their float value; ``oo``, ``-oo`` and ``zoo`` become ``inf``, ``-inf`` and
``inf`` (what numpy computes for ``1/0``); ``S.true``/``S.false`` become 1/0.
Of the SymPy assumptions only ``positive``, ``nonnegative`` and ``integer``
survive (every pdeflow symbol is real).  Anything else, e.g. ``erf(x)`` or
``I``, raises :class:`~pdeflow.errors.UnsupportedError` naming it.

Examples
--------
>>> import sympy
>>> from pdeflow.symbolic import symbols, sin
>>> from pdeflow.symbolic.sympy_interop import from_sympy, to_sympy
>>> x, y = symbols("x y")
>>> e = to_sympy(2 * sin(x) + y**2)
>>> e
y**2 + 2*sin(x)
>>> from_sympy(e) is 2 * sin(x) + y**2
True
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from fractions import Fraction
from typing import Any

import numpy as np
import sympy

from pdeflow.errors import UnsupportedError
from pdeflow.symbolic.functions import (
    and_,
    eq,
    exp,
    le,
    lt,
    maximum,
    minimum,
    ne,
    not_,
    or_,
    where,
)
from pdeflow.symbolic.interface import ADD, MUL, POW, arguments, iscall, operation
from pdeflow.symbolic.terms import (
    FUNCTIONS,
    Function,
    Num,
    Placeholder,
    Sym,
    Term,
    add,
    call,
    mul,
    num,
    placeholder,
    power,
    sym,
)

__all__ = ["to_sympy", "from_sympy", "PlaceholderSymbol", "EVALUATE_MAX_DEPTH",
           "EVALUATE_MAX_TREE_SIZE"]

#: our functions whose values are booleans (0/1) and whose SymPy images are Booleans
_BOOLEAN_FUNCTIONS = frozenset({"lt", "le", "eq", "ne", "and", "or", "not"})
_RELATIONS: dict[str, type] = {
    "lt": sympy.StrictLessThan,
    "le": sympy.LessThan,
    "eq": sympy.Eq,
    "ne": sympy.Ne,
}
_LOGIC: dict[str, Any] = {"and": sympy.And, "or": sympy.Or, "not": sympy.Not}


class PlaceholderSymbol(sympy.Symbol):
    """The SymPy image of template placeholder ``_i`` (converts back to the placeholder).

    Examples
    --------
    >>> from pdeflow.symbolic.terms import placeholder
    >>> from pdeflow.symbolic.sympy_interop import from_sympy, to_sympy
    >>> from_sympy(to_sympy(placeholder(0))) is placeholder(0)
    True
    """

    @property
    def index(self) -> int:
        """The placeholder's argument index."""
        return int(self.name[1:])


def _postorder(roots: Iterable[Hashable], children: Callable[[Any], Iterable]) -> list:
    """Every node reachable from ``roots`` once, children before parents (no recursion)."""
    order: list = []
    seen: set = set()
    stack: list = [(r, False) for r in reversed(list(roots))]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if node in seen:
            continue
        seen.add(node)
        stack.append((node, True))
        for c in reversed(tuple(children(node))):
            if c not in seen:
                stack.append((c, False))
    return order


# pdeflow -> SymPy -----------------------------------------------------------------
#: terms nested deeper than this are converted with SymPy's evaluation turned off
EVALUATE_MAX_DEPTH = 200


def _term_children(t: Term) -> tuple:
    return arguments(t) if iscall(t) else ()


#: terms whose tree expansion (shared subterms counted once per use) exceeds this are
#: converted unevaluated too: SymPy's evaluation walks trees, not DAGs
EVALUATE_MAX_TREE_SIZE = 100_000


def _evaluate_is_safe(order: list[Term]) -> bool:
    """Whether SymPy may evaluate: the DAG (given children first) is shallow and small as a tree."""
    depth: dict[Term, int] = {}
    size: dict[Term, int] = {}
    for t in order:
        ch = _term_children(t)
        depth[t] = d = 1 + max((depth[a] for a in ch), default=0)
        size[t] = n = 1 + sum(size[a] for a in ch)
        if d > EVALUATE_MAX_DEPTH or n > EVALUATE_MAX_TREE_SIZE:
            return False
    return True
def _number_to_sympy(v) -> sympy.Expr:
    if isinstance(v, Fraction):
        return sympy.Rational(v.numerator, v.denominator)
    if isinstance(v, int):
        return sympy.Integer(v)
    return sympy.Float(v)  # Float(inf) is oo, Float(nan) is nan


def _symbol_to_sympy(s: Sym) -> sympy.Symbol:
    kw = {a: True for a in s.assumptions}
    return sympy.Symbol(s.name, **kw)


def _is_boolean_term(t: Term) -> bool:
    return iscall(t) and operation(t).name in _BOOLEAN_FUNCTIONS


class _ToSympy:
    """One conversion pass: ``memo`` maps each term to its natural SymPy image."""

    def __init__(self) -> None:
        self.memo: dict[Term, Any] = {}

    def convert(self, order: Iterable[Term]) -> None:
        """Convert terms given children first (see :func:`_postorder`)."""
        for t in order:
            self.memo[t] = self._node(t)

    def numeric(self, t: Term):
        """The image of ``t`` where a number is expected."""
        e = self.memo[t]
        if _is_boolean_term(t):
            return sympy.Piecewise((sympy.Integer(1), e), (sympy.Integer(0), True))
        return e

    def boolean(self, t: Term):
        """The image of ``t`` where a condition is expected."""
        e = self.memo[t]
        if _is_boolean_term(t):
            return e
        if isinstance(t, Num):
            return sympy.true if t.value else sympy.false
        return sympy.Ne(e, 0)

    def _node(self, t: Term):
        if not iscall(t):
            if isinstance(t, Num):
                return _number_to_sympy(t.value)
            if isinstance(t, Sym):
                return _symbol_to_sympy(t)
            if isinstance(t, Placeholder):
                return PlaceholderSymbol(f"_{t.index}", real=True)
            raise TypeError(f"cannot convert the leaf {t!r} of type {type(t).__name__} to SymPy")
        op, args = operation(t), arguments(t)
        if op is ADD:
            return sympy.Add(*(self.numeric(a) for a in args))
        if op is MUL:
            return sympy.Mul(*(self.numeric(a) for a in args))
        if op is POW:
            return sympy.Pow(self.numeric(args[0]), self.numeric(args[1]))
        name = op.name
        if name == "where":
            c, a, b = args
            return sympy.Piecewise((self.numeric(a), self.boolean(c)), (self.numeric(b), True))
        if name in _RELATIONS:
            return _RELATIONS[name](self.numeric(args[0]), self.numeric(args[1]))
        if name in _LOGIC:
            return _LOGIC[name](*(self.boolean(a) for a in args))
        return _sympy_function(op)(*(self.numeric(a) for a in args))


def _sympy_function(fn: Function):
    """The SymPy callable for a registered function (an undefined one if SymPy lacks it)."""
    if fn.sympy_name:
        f = getattr(sympy, fn.sympy_name, None)
        if callable(f):
            return f
        return sympy.Function(fn.sympy_name)
    return sympy.Function(fn.name)


def _symarray_type():
    from pdeflow.symbolic.tracing import SymArray

    return SymArray


def to_sympy(expr, evaluate: bool | None = None):
    """Convert a term, symbolic array or container of terms to SymPy.

    Parameters
    ----------
    expr : Term, SymArray, numpy.ndarray, list or tuple
        A scalar term, a :class:`~pdeflow.symbolic.tracing.SymArray`, an object
        ``ndarray`` of terms (or numbers), or a (nested) list/tuple of them.
    evaluate : bool, optional
        Whether SymPy may evaluate while building (``sin(-x)`` becomes
        ``-sin(x)``).  The default evaluates unless the term is deeper than
        :data:`EVALUATE_MAX_DEPTH` nested operations or larger than
        :data:`EVALUATE_MAX_TREE_SIZE` as a tree: SymPy's evaluation walks the
        arguments recursively, which overflows the stack on deep terms and
        costs time exponential in the depth on heavily shared DAGs.  Where SymPy
        still raises ``RecursionError`` the conversion is redone unevaluated.

    Returns
    -------
    sympy.Basic, sympy.ImmutableDenseNDimArray, list or tuple
        A SymPy expression for a term (a SymPy Boolean for a relation or a
        logical function); an ``ImmutableDenseNDimArray`` of the same shape for a
        SymArray or an ndarray of any dimension (use ``.tomatrix()`` on a 2-D
        result for a ``Matrix``); a list/tuple of converted items otherwise.
        Subterms shared between elements are converted once.

    Examples
    --------
    >>> import numpy as np
    >>> from pdeflow.symbolic import array, symbols
    >>> from pdeflow.symbolic.sympy_interop import to_sympy
    >>> x, = symbols("x", positive=True)
    >>> to_sympy(x**2 / 2).is_positive
    True
    >>> u = array("u", (3,))
    >>> to_sympy(np.roll(u, 1) - u)
    [-u[0] + u[2], u[0] - u[1], u[1] - u[2]]
    """
    SymArray = _symarray_type()

    def leaves(x, out):
        if isinstance(x, Term):
            out.append(x)
        elif isinstance(x, SymArray):
            out.extend(x.elements().ravel())
        elif isinstance(x, np.ndarray):
            out.extend(_as_term(v) for v in x.ravel())
        elif isinstance(x, list | tuple):
            for v in x:
                leaves(v, out)
        else:
            out.append(_as_term(x))
        return out

    roots = leaves(expr, [])
    order = _postorder(roots, _term_children)
    if evaluate is None:
        evaluate = _evaluate_is_safe(order)
    conv = _ToSympy()
    try:
        with sympy.evaluate(evaluate):
            conv.convert(order)
    except RecursionError:
        if not evaluate:
            raise
        conv = _ToSympy()
        with sympy.evaluate(False):
            conv.convert(order)

    def build(x):
        if isinstance(x, Term):
            return conv.memo[x]
        if isinstance(x, SymArray):
            x = x.elements()
        if isinstance(x, np.ndarray):
            flat = [conv.memo[_as_term(v)] for v in x.ravel()]
            if x.ndim == 0:
                return flat[0]
            return sympy.ImmutableDenseNDimArray(flat, x.shape)
        if isinstance(x, list | tuple):
            return type(x)(build(v) for v in x)
        return conv.memo[_as_term(x)]

    return build(expr)


def _as_term(v) -> Term:
    from pdeflow.symbolic.terms import as_term

    try:
        return as_term(v)
    except TypeError:
        raise TypeError(
            f"to_sympy expects pdeflow terms, symbolic arrays or numbers, got {type(v).__name__}"
        ) from None


# SymPy -> pdeflow -----------------------------------------------------------------
_SYMPY_OPERATIONS = (sympy.Add, sympy.Mul, sympy.Pow, sympy.core.relational.Relational,
                     sympy.And, sympy.Or, sympy.Not, sympy.Min, sympy.Max, sympy.Function)


def _sympy_children(e) -> tuple:
    if isinstance(e, sympy.Piecewise):
        return tuple(x for pair in e.args for x in pair.args)
    if isinstance(e, _SYMPY_OPERATIONS):
        return e.args
    return ()  # a leaf, or an unsupported object that will be reported by its own name


def _function_table() -> dict[str, Function]:
    table: dict[str, Function] = {}
    for f in FUNCTIONS.values():
        if f.name in ("add", "mul"):
            continue
        table.setdefault(f.name, f)
    for f in FUNCTIONS.values():
        if f.sympy_name:
            table[f.sympy_name] = f  # SymPy's own names take precedence
    return table


def _fold(fn: Function, args: list[Term]) -> Term:
    out = args[0]
    for a in args[1:]:
        out = call(fn, out, a)
    return out


def _unsupported(what: str, e) -> UnsupportedError:
    return UnsupportedError(
        f"cannot convert the SymPy {what} in {e} to a pdeflow term; supported are numbers, "
        "real symbols, +, *, **, exp, log, trig and hyperbolic functions, Abs, sign, Min, Max, "
        "Piecewise, relations and And/Or/Not. For another function, register it with "
        "pdeflow.symbolic.register_function(name, nargs, numpy_impl, sympy_name=...)"
    )


class _FromSympy:
    def __init__(self) -> None:
        self.memo: dict[Any, Term] = {}
        self.table = _function_table()

    def convert(self, roots: Iterable) -> None:
        todo = [r for r in roots if r not in self.memo]
        for e in _postorder(todo, _sympy_children):
            if e not in self.memo:
                self.memo[e] = self._node(e)

    def _node(self, e) -> Term:
        m = self.memo
        if isinstance(e, bool):
            return num(int(e))
        if isinstance(e, PlaceholderSymbol):
            return placeholder(e.index)
        if isinstance(e, sympy.Symbol):
            return sym(
                e.name,
                positive=bool(e.is_positive),
                nonnegative=bool(e.is_nonnegative),
                integer=bool(e.is_integer),
            )
        if e is sympy.true:
            return num(1)
        if e is sympy.false:
            return num(0)
        if isinstance(e, sympy.Number) or e is sympy.zoo:
            return self._number(e)
        if e is sympy.E:
            return exp(num(1))
        if isinstance(e, sympy.NumberSymbol):
            return num(float(e))
        if isinstance(e, sympy.Add):
            return add(*(m[a] for a in e.args))
        if isinstance(e, sympy.Mul):
            return mul(*(m[a] for a in e.args))
        if isinstance(e, sympy.Pow):
            return power(m[e.args[0]], m[e.args[1]])
        if isinstance(e, sympy.Piecewise):
            return self._piecewise(e)
        if isinstance(e, sympy.core.relational.Relational):
            a, b = (m[x] for x in e.args)
            cls = type(e)
            if cls is sympy.StrictLessThan:
                return lt(a, b)
            if cls is sympy.LessThan:
                return le(a, b)
            if cls is sympy.StrictGreaterThan:
                return lt(b, a)
            if cls is sympy.GreaterThan:
                return le(b, a)
            if cls is sympy.Equality:
                return eq(a, b)
            if cls is sympy.Unequality:
                return ne(a, b)
            raise _unsupported(f"relation '{cls.__name__}'", e)
        if isinstance(e, sympy.And):
            return _fold(and_, [m[a] for a in e.args])
        if isinstance(e, sympy.Or):
            return _fold(or_, [m[a] for a in e.args])
        if isinstance(e, sympy.Not):
            return not_(m[e.args[0]])
        if isinstance(e, sympy.Min):
            return _fold(minimum, [m[a] for a in e.args])
        if isinstance(e, sympy.Max):
            return _fold(maximum, [m[a] for a in e.args])
        if isinstance(e, sympy.Function):
            name = e.func.__name__
            fn = self.table.get(name)
            if fn is None or (fn.nargs != -1 and fn.nargs != len(e.args)):
                raise _unsupported(f"function '{name}'", e)
            return call(fn, *(m[a] for a in e.args))
        raise _unsupported(f"object '{type(e).__name__}'", e)

    def _number(self, e) -> Term:
        if e is sympy.zoo or e is sympy.oo:
            return num(float("inf"))
        if e is sympy.S.NegativeInfinity:
            return num(float("-inf"))
        if e is sympy.nan:
            return num(float("nan"))
        if isinstance(e, sympy.Integer):
            return num(int(e))
        if isinstance(e, sympy.Rational):
            return num(Fraction(int(e.p), int(e.q)))
        if isinstance(e, sympy.Float):
            return num(float(e))
        raise _unsupported(f"number '{type(e).__name__}'", e)

    def _piecewise(self, e) -> Term:
        m = self.memo
        pairs = [(p.args[0], p.args[1]) for p in e.args]
        if pairs[-1][1] is sympy.true:
            out = m[pairs.pop()[0]]
        else:
            out = num(float("nan"))  # SymPy leaves it undefined where no condition holds
        for val, cond in reversed(pairs):
            if val == 1 and out is num(0) and len(pairs) == 1:
                out = m[cond]  # Piecewise((1, c), (0, True)) is the 0/1 value of c
            else:
                out = where(m[cond], m[val], out)
        return out


def from_sympy(expr):
    """Convert a SymPy expression, array, matrix or container of them to pdeflow terms.

    Parameters
    ----------
    expr : sympy.Basic, sympy.NDimArray, sympy.MatrixBase, list, tuple or number
        What to convert.  Symbols keep their names (``u[1,2]`` included) and
        their ``positive``/``nonnegative``/``integer`` assumptions.

    Returns
    -------
    Term, numpy.ndarray, list or tuple
        A term for a scalar; an object ``ndarray`` of terms with the same shape
        for a SymPy array or matrix; a list/tuple of converted items otherwise.

    Raises
    ------
    UnsupportedError
        For a SymPy function or object with no pdeflow equivalent (the message
        names it), e.g. ``erf`` or the imaginary unit.

    Examples
    --------
    >>> import sympy
    >>> from pdeflow.symbolic.sympy_interop import from_sympy
    >>> x = sympy.Symbol("x", positive=True)
    >>> t = from_sympy(sympy.sqrt(x) + sympy.Rational(1, 3))
    >>> t
    x**(1/2) + 1/3
    >>> t.free_symbols == {from_sympy(x)}
    True
    """
    conv = _FromSympy()

    def leaves(x, out):
        if isinstance(x, sympy.NDimArray | sympy.MatrixBase):
            out.extend(x[idx] for idx in np.ndindex(*x.shape))
        elif isinstance(x, list | tuple):
            for v in x:
                leaves(v, out)
        else:
            out.append(_as_sympy(x))
        return out

    conv.convert(leaves(expr, []))

    def build(x):
        if isinstance(x, sympy.NDimArray | sympy.MatrixBase):
            out = np.empty(x.shape, dtype=object)
            for idx in np.ndindex(*x.shape):
                out[idx] = conv.memo[x[idx]]
            return out
        if isinstance(x, list | tuple):
            return type(x)(build(v) for v in x)
        return conv.memo[_as_sympy(x)]

    return build(expr)


def _as_sympy(x):
    if isinstance(x, sympy.Basic):
        return x
    if isinstance(x, bool | int | float | Fraction | np.integer | np.floating):
        return sympy.sympify(x)
    raise TypeError(
        f"from_sympy expects SymPy expressions, arrays or matrices, got {type(x).__name__}"
    )
