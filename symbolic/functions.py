"""Elementary functions: exp, log, trig, abs, min/max, where and relations.

Each is a registered :class:`~pdeflow.symbolic.terms.Function` with a numpy
implementation, partial derivatives and construction-time folding of the
identities that hold over the reals (``exp(0) = 1``, ``log(exp(x)) = x``).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from pdeflow.symbolic.terms import (
    HALF,
    NEG_ONE,
    ONE,
    ZERO,
    Call,
    Num,
    Sym,
    Term,
    add,
    as_term,
    call,
    elementwise_call,
    mul,
    num,
    power,
    register_function,
)


def _is(t: Term, v) -> bool:
    return type(t) is Num and t.value == v


def _fold_unary(at_zero=None):
    def fold(a):
        if at_zero is not None and _is(a, 0):
            return num(at_zero)
        return None

    return fold


def _fold_exp(a):
    if _is(a, 0):
        return ONE
    if type(a) is Call and a.fn.name == "log":
        return a.args[0]  # exp(log x) = x on log's domain
    return None


def _fold_log(a):
    if _is(a, 1):
        return ZERO
    if type(a) is Call and a.fn.name == "exp":
        return a.args[0]  # log(exp x) = x for every real x
    return None


def _fold_abs(a):
    if type(a) is Num:
        return num(abs(a.value))
    if type(a) is Call and a.fn.name == "abs":
        return a
    if type(a) is Sym and a.is_nonnegative:
        return a
    return None


def _fold_sign(a):
    if type(a) is Num:
        v = a.value
        return num((v > 0) - (v < 0))
    return None


def _fold_minmax(pick):
    def fold(a, b):
        if a is b:
            return a
        if type(a) is Num and type(b) is Num:
            return num(pick(a.value, b.value))
        return None

    return fold


def _fold_where(c, a, b):
    if a is b:
        return a
    if type(c) is Num:
        return a if c.value else b
    return None


def _fold_rel(op):
    def fold(a, b):
        if type(a) is Num and type(b) is Num:
            return num(int(op(a.value, b.value)))
        return None

    return fold


def _fold_pow(a, b):
    if type(b) is Num:
        return power(a, b)
    return None


def _fold_bool(op):
    def fold(*args):
        if all(type(a) is Num for a in args):
            return num(int(op(*(bool(a.value) for a in args))))
        return None

    return fold


# Partial derivatives ------------------------------------------------------
def _one_minus_sq(t):
    return add(ONE, mul(NEG_ONE, power(t, num(2))))


exp = register_function("exp", 1, np.exp, lambda a: (exp(a),), _fold_exp, r"\exp", "exp")
log = register_function("log", 1, np.log, lambda a: (power(a, NEG_ONE),), _fold_log, r"\log", "log")
sin = register_function("sin", 1, np.sin, lambda a: (cos(a),), _fold_unary(0), r"\sin", "sin")
cos = register_function(
    "cos", 1, np.cos, lambda a: (mul(NEG_ONE, sin(a)),), _fold_unary(1), r"\cos", "cos"
)
tan = register_function(
    "tan", 1, np.tan, lambda a: (add(ONE, power(tan(a), num(2))),), _fold_unary(0), r"\tan", "tan"
)
tanh = register_function(
    "tanh", 1, np.tanh, lambda a: (_one_minus_sq(tanh(a)),), _fold_unary(0), r"\tanh", "tanh"
)
sinh = register_function("sinh", 1, np.sinh, lambda a: (cosh(a),), _fold_unary(0), r"\sinh", "sinh")
cosh = register_function("cosh", 1, np.cosh, lambda a: (sinh(a),), _fold_unary(1), r"\cosh", "cosh")
asin = register_function(
    "asin",
    1,
    np.arcsin,
    lambda a: (power(_one_minus_sq(a), num(Fraction(-1, 2))),),
    _fold_unary(0),
    r"\arcsin",
    "asin",
)
acos = register_function(
    "acos",
    1,
    np.arccos,
    lambda a: (mul(NEG_ONE, power(_one_minus_sq(a), num(Fraction(-1, 2)))),),
    None,
    r"\arccos",
    "acos",
)
atan = register_function(
    "atan",
    1,
    np.arctan,
    lambda a: (power(add(ONE, power(a, num(2))), NEG_ONE),),
    _fold_unary(0),
    r"\arctan",
    "atan",
)
sign = register_function(
    "sign", 1, np.sign, lambda a: (ZERO,), _fold_sign, r"\operatorname{sign}", "sign"
)
abs_ = register_function("abs", 1, np.abs, lambda a: (sign(a),), _fold_abs, None, "Abs")
lt = register_function("lt", 2, np.less, None, _fold_rel(lambda a, b: a < b), "<", "StrictLessThan")
le = register_function(
    "le", 2, np.less_equal, None, _fold_rel(lambda a, b: a <= b), r"\le", "LessThan"
)
eq = register_function("eq", 2, np.equal, None, _fold_rel(lambda a, b: a == b), "=", "Eq")
ne = register_function("ne", 2, np.not_equal, None, _fold_rel(lambda a, b: a != b), r"\ne", "Ne")
and_ = register_function(
    "and", 2, np.logical_and, None, _fold_bool(lambda a, b: a and b), r"\land", "And"
)
or_ = register_function(
    "or", 2, np.logical_or, None, _fold_bool(lambda a, b: a or b), r"\lor", "Or"
)
not_ = register_function(
    "not", 1, np.logical_not, None, _fold_bool(lambda a: not a), r"\lnot", "Not"
)


def _where_partials(c, a, b):
    return (ZERO, where(c, ONE, ZERO), where(c, ZERO, ONE))


where = register_function(
    "where", 3, np.where, _where_partials, _fold_where, r"\operatorname{ifelse}", "Piecewise"
)
minimum = register_function(
    "min",
    2,
    np.minimum,
    lambda a, b: (where(le(a, b), ONE, ZERO), where(le(a, b), ZERO, ONE)),
    _fold_minmax(min),
    r"\min",
    "Min",
)
maximum = register_function(
    "max",
    2,
    np.maximum,
    lambda a, b: (where(le(b, a), ONE, ZERO), where(le(b, a), ZERO, ONE)),
    _fold_minmax(max),
    r"\max",
    "Max",
)
pow_ = register_function(
    "pow",
    2,
    np.power,
    lambda a, b: (mul(b, call(pow_, a, add(b, NEG_ONE))), mul(call(pow_, a, b), log(a))),
    _fold_pow,
    None,
    "Pow",
)


def sqrt(a) -> Term:
    """``a ** (1/2)`` (elementwise for symbolic arrays)."""
    if isinstance(a, Term | int | float):
        return power(as_term(a), HALF)
    return elementwise_call(lambda x: power(x, HALF), (a,))


ifelse = where

__all__ = [
    "exp",
    "log",
    "sin",
    "cos",
    "tan",
    "tanh",
    "sinh",
    "cosh",
    "asin",
    "acos",
    "atan",
    "sign",
    "abs_",
    "lt",
    "le",
    "eq",
    "ne",
    "and_",
    "or_",
    "not_",
    "where",
    "ifelse",
    "minimum",
    "maximum",
    "pow_",
    "sqrt",
]
