"""The generic term interface: ``iscall``, ``operation``, ``arguments``, ``maketerm``.

Rewriters, differentiation, the e-graph and code generation use only these
four functions, so another term representation can replace the current one
without touching them.

* ``iscall(t)``: whether ``t`` is an operation applied to arguments (else a leaf:
  a number, a symbol or a placeholder);
* ``operation(t)``: the operation, one of :data:`ADD`, :data:`MUL`, :data:`POW`
  or a registered :class:`~pdeflow.symbolic.terms.Function`;
* ``arguments(t)``: the argument terms, a tuple;
* ``maketerm(op, args)``: the canonical term ``op(*args)``.

``maketerm(operation(t), arguments(t)) is t`` for every call ``t``.

Examples
--------
>>> from pdeflow.symbolic import symbols, operation, arguments, maketerm, ADD
>>> x, y = symbols("x y")
>>> e = 2 * x + y
>>> operation(e) is ADD
True
>>> maketerm(operation(e), arguments(e)) is e
True
"""

from __future__ import annotations

import numpy as np

from pdeflow.symbolic import functions as _functions  # noqa: F401  (registers functions)
from pdeflow.symbolic.terms import (
    FUNCTIONS,
    Add,
    Call,
    Function,
    Mul,
    Num,
    Term,
    add,
    call,
    make_mul,
    mul,
    num,
    power,
    register_function,
    register_hook,
)


def _variadic(name):
    return register_function(name, -1, None, latex=name)


ADD: Function = FUNCTIONS.get("add") or _variadic("add")
ADD.numpy_impl = lambda *a: sum(a[1:], a[0])
MUL: Function = FUNCTIONS.get("mul") or _variadic("mul")
MUL.numpy_impl = lambda *a: np.prod(np.broadcast_arrays(*a), axis=0) if len(a) > 1 else a[0]
POW: Function = FUNCTIONS["pow"]


def iscall(t: Term) -> bool:
    """Whether ``t`` is an operation applied to arguments (not a leaf)."""
    return type(t) in (Add, Mul, Call)


def operation(t: Term) -> Function:
    """The operation of a call term (:data:`ADD`, :data:`MUL`, :data:`POW` or a function)."""
    tt = type(t)
    if tt is Add:
        return ADD
    if tt is Mul:
        if t.coeff == 1 and len(t.factors) == 1:
            return POW
        return MUL
    if tt is Call:
        return t.fn
    raise TypeError(f"{t!r} is a leaf, not a call")


def arguments(t: Term) -> tuple[Term, ...]:
    """The arguments of a call term, such that ``maketerm(operation(t), args) is t``."""
    try:
        return t._args_cache
    except AttributeError:
        pass
    tt = type(t)
    if tt is Add:
        args = tuple(mul(num(c), s) if c != 1 else s for s, c in t.items)
        if t.const != 0:
            args = (num(t.const),) + args
    elif tt is Mul:
        if t.coeff == 1 and len(t.factors) == 1:
            ((b, e),) = t.factors
            args = (b, num(e))
        else:
            args = tuple(make_mul(1, {b: e}) if e != 1 else b for b, e in t.factors)
            if t.coeff != 1:
                args = (num(t.coeff),) + args
    elif tt is Call:
        args = t.args
    else:
        raise TypeError(f"{t!r} is a leaf, not a call")
    t._args_cache = args
    return args


def linear_parts(t: Term) -> tuple:
    """``t = const + sum(c * m)``: ``(const, ((c, m), ...))`` with numeric ``c``, ``const``.

    The monomials ``m`` carry no numeric factor.  Equivalent to splitting
    ``arguments(t)`` of a sum, without building the scaled terms.
    """
    tt = type(t)
    if tt is Add:
        return t.const, tuple((c, m) for m, c in t.items)
    if tt is Num:
        return t.value, ()
    if tt is Mul and t.coeff != 1:
        return 0, ((t.coeff, make_mul(1, t._dict)),)
    return 0, ((1, t),)


def maketerm(op: Function, args) -> Term:
    """The canonical term ``op(*args)``."""
    if op is ADD:
        return add(*args)
    if op is MUL:
        return mul(*args)
    if op is POW:
        a, b = args
        return power(a, b)
    return call(op, *args)


def reconstruct_args(t: Term):
    """``__reduce__`` support: pickle a term by its structure (re-interned on load)."""
    from pdeflow.symbolic.terms import Num, Placeholder, Sym, placeholder

    if type(t) is Num:
        return (num, (t.value,))
    if type(t) is Sym:
        return (_sym_with, (t.name, tuple(sorted(t.assumptions))))
    if type(t) is Placeholder:
        return (placeholder, (t.index,))
    return (maketerm, (operation(t), tuple(arguments(t))))


def _sym_with(name, assumptions):
    from pdeflow.symbolic.terms import sym

    return sym(name, **{a: True for a in assumptions if a != "real"})


register_hook("reduce", reconstruct_args)

__all__ = ["iscall", "operation", "arguments", "maketerm", "linear_parts", "ADD", "MUL", "POW"]
