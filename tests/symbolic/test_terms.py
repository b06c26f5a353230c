"""Property tests of the canonical forms of hash-consed terms.

Random expression trees over three symbols and small exact numbers are built
through the constructors and checked for the canonical-form identities
(``x + x is 2*x``, commutativity, associativity...), for structural round
trips (``maketerm``, pickle, SymPy) and for numeric agreement with the same
tree evaluated in plain Python.
"""

from __future__ import annotations

import math
import os
import pickle
import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from pdeflow.symbolic import functions as F
from pdeflow.symbolic import symbols
from pdeflow.symbolic.interface import ADD, MUL, POW, arguments, iscall, maketerm, operation
from pdeflow.symbolic.sympy_interop import from_sympy, to_sympy
from pdeflow.symbolic.terms import Num, Sym, Term, add, mul, num, power

SETTINGS = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)

X, Y, Z = symbols("x y z")
SYMS = {"x": X, "y": Y, "z": Z}

# Random trees: leaves are symbol names or exact numbers; nodes are (op, *children)
exact_numbers = st.one_of(
    st.integers(-3, 3),
    st.fractions(min_value=-3, max_value=3, max_denominator=4),
)
exact_leaf = st.one_of(st.sampled_from(sorted(SYMS)), exact_numbers)


def _exact_nodes(children):
    return st.one_of(
        st.tuples(st.just("add"), children, children),
        st.tuples(st.just("sub"), children, children),
        st.tuples(st.just("mul"), children, children),
        st.tuples(st.just("neg"), children),
        st.tuples(st.just("pow"), children, st.integers(-2, 3)),
    )


exact_trees = st.recursive(exact_leaf, _exact_nodes, max_leaves=8)

_UNARY = {"sin": F.sin, "cos": F.cos, "tanh": F.tanh, "atan": F.atan, "abs": F.abs_}


def _float_nodes(children):
    return st.one_of(
        _exact_nodes(children),
        st.tuples(st.sampled_from(sorted(_UNARY)), children),
        st.tuples(st.just("exp"), children),
    )


float_trees = st.recursive(exact_leaf, _float_nodes, max_leaves=8)


def build(tree) -> Term:
    """The tree built through the term constructors / operators."""
    if isinstance(tree, str):
        return SYMS[tree]
    if not isinstance(tree, tuple):
        return num(tree)
    op, *ch = tree
    if op == "pow":
        return build(ch[0]) ** ch[1]
    args = [build(c) for c in ch]
    if op == "add":
        return args[0] + args[1]
    if op == "sub":
        return args[0] - args[1]
    if op == "mul":
        return args[0] * args[1]
    if op == "neg":
        return -args[0]
    if op == "exp":
        return F.exp(F.sin(args[0]))  # bounded argument: no overflow
    return _UNARY[op](args[0])


def build_exact(tree) -> Term:
    """``build(tree)``, rejecting trees that divide by zero (which fold to ``inf``)."""
    t = build(tree)
    assume(not any(isinstance(u, Num) and isinstance(u.value, float) for u in subterms(t)))
    return t


def plain(tree, env: dict):
    """The same tree evaluated with Python numbers (``env`` gives the symbols)."""
    if isinstance(tree, str):
        return env[tree]
    if not isinstance(tree, tuple):
        return Fraction(tree)
    op, *ch = tree
    if op == "pow":
        return plain(ch[0], env) ** ch[1]
    a = [plain(c, env) for c in ch]
    if op == "add":
        return a[0] + a[1]
    if op == "sub":
        return a[0] - a[1]
    if op == "mul":
        return a[0] * a[1]
    if op == "neg":
        return -a[0]
    if op == "exp":
        return math.exp(math.sin(a[0]))
    return {"sin": math.sin, "cos": math.cos, "tanh": math.tanh, "atan": math.atan,
            "abs": abs}[op](a[0])


def value(t: Term, env: dict):
    """Evaluate a term through the generic interface only (exact where possible)."""
    memo: dict = {}

    def go(u):
        if u in memo:
            return memo[u]
        if not iscall(u):
            r = u.value if isinstance(u, Num) else env[u.name]
        else:
            op, args = operation(u), [go(a) for a in arguments(u)]
            if op is ADD:
                r = sum(args[1:], args[0])
            elif op is MUL:
                r = math.prod(args)
            elif op is POW:
                r = args[0] ** args[1]
            else:
                r = float(op.numpy_impl(*(np.float64(a) for a in args)))
        memo[u] = r
        return r

    return go(t)


def subterms(t: Term) -> list[Term]:
    out, stack, seen = [], [t], set()
    while stack:
        u = stack.pop()
        if u in seen:
            continue
        seen.add(u)
        out.append(u)
        if iscall(u):
            stack.extend(arguments(u))
    return out


nonzero = st.fractions(min_value=-3, max_value=3, max_denominator=5).filter(lambda v: v != 0)
envs = st.fixed_dictionaries({"x": nonzero, "y": nonzero, "z": nonzero})


# Canonical forms --------------------------------------------------------------------
@SETTINGS
@given(exact_trees)
def test_x_plus_x_is_two_x(tree):
    t = build_exact(tree)
    assert t + t is 2 * t


@SETTINGS
@given(exact_trees, exact_trees)
def test_add_and_mul_commute(ta, tb):
    a, b = build_exact(ta), build_exact(tb)
    assert a + b is b + a
    assert a * b is b * a


@SETTINGS
@given(exact_trees, exact_trees, exact_trees)
def test_add_is_associative(ta, tb, tc):
    a, b, c = build_exact(ta), build_exact(tb), build_exact(tc)
    assert (a + b) + c is a + (b + c)


# Factors that are not a number times a lone sum: the one case where ``mul`` is not
# associative (see test_mul_associativity_with_distributed_coefficient)
factor_trees = st.recursive(
    st.one_of(st.sampled_from(sorted(SYMS)), st.integers(1, 3)),
    lambda ch: st.one_of(
        st.tuples(st.just("mul"), ch, ch),
        st.tuples(st.just("pow"), ch, st.integers(-2, 3)),
        st.tuples(st.sampled_from(sorted(_UNARY)), ch),
    ),
    max_leaves=6,
)


@SETTINGS
@given(factor_trees, factor_trees, factor_trees)
def test_mul_is_associative(ta, tb, tc):
    a, b, c = build(ta), build(tb), build(tc)
    assert (a * b) * c is a * (b * c)


@pytest.mark.xfail(strict=True, reason="a rational coefficient is distributed over a lone sum "
                   "(2*(x + 1) -> 2*x + 2), as in SymPy, so mul is not associative there")
def test_mul_associativity_with_distributed_coefficient():
    assert (2 * (X + 1)) * Y is 2 * ((X + 1) * Y)


@SETTINGS
@given(exact_trees)
def test_square_and_cancellation(tree):
    t = build_exact(tree)
    assert t * t is t**2
    assert t - t is num(0)


@SETTINGS
@given(exact_numbers, exact_numbers)
def test_numbers_fold_exactly(a, b):
    assert num(a) + num(b) is num(Fraction(a) + Fraction(b))
    assert num(a) * num(b) is num(Fraction(a) * Fraction(b))
    assert num(a) - num(a) is num(0)
    assert num(Fraction(a) * 2) / 2 is num(a)


def test_number_normalization():
    assert num(Fraction(4, 2)) is num(2)
    assert num(np.int64(3)) is num(3)
    assert num(True) is num(1)
    assert num(2.0) is not num(2)  # floats stay floats
    assert X + 0 is X and X * 1 is X and X**1 is X and X * 0 is num(0)
    assert X * X is X**2 and X / X is num(1)
    assert power(num(4), num(Fraction(1, 2))) is num(2)


@SETTINGS
@given(exact_trees)
def test_maketerm_rebuilds_every_subterm(tree):
    for u in subterms(build_exact(tree)):
        if iscall(u):
            assert maketerm(operation(u), arguments(u)) is u


@SETTINGS
@given(float_trees)
def test_pickle_round_trip_is_identity(tree):
    t = build(tree)
    assert pickle.loads(pickle.dumps(t)) is t


def test_pickle_keeps_assumptions():
    p = symbols("p", positive=True)[0]
    q = pickle.loads(pickle.dumps(p))
    assert q is p and q.is_positive


@SETTINGS
@given(exact_trees, exact_trees)
def test_equality_is_identity_and_hash_is_id_based(ta, tb):
    a, b = build(ta), build(tb)
    assert build(ta) is a  # building the same structure twice gives the same object
    assert hash(a) == object.__hash__(a)
    assert (a == b) == (a is b)
    assert (a != b) == (a is not b)


# Numeric agreement ------------------------------------------------------------------
@SETTINGS
@given(exact_trees, envs)
def test_exact_evaluation_matches_plain_python(tree, env):
    try:
        expected = plain(tree, env)
    except ZeroDivisionError:
        assume(False)
    t = build(tree)
    got = value(t, {SYMS[k].name: v for k, v in env.items()})
    assert got == expected


@SETTINGS
@given(float_trees, envs)
def test_float_evaluation_matches_plain_python(tree, env):
    fenv = {k: float(v) for k, v in env.items()}
    try:
        expected = plain(tree, fenv)
    except (ZeroDivisionError, OverflowError):
        assume(False)
    assume(isinstance(expected, float | int) and math.isfinite(expected) and abs(expected) < 1e6)
    got = float(value(build(tree), fenv))
    assert math.isclose(got, expected, rel_tol=1e-9, abs_tol=1e-9)


# SymPy round trip -------------------------------------------------------------------
@SETTINGS
@given(float_trees, envs)
def test_sympy_round_trip_preserves_values(tree, env):
    t = build(tree)
    back = from_sympy(to_sympy(t))
    if back is t:
        return
    fenv = {k: float(v) for k, v in env.items()}
    a, b = value(t, fenv), value(back, fenv)
    assume(all(isinstance(v, int | float | Fraction) and math.isfinite(v) for v in (a, b)))
    assert math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9)


@SETTINGS
@given(exact_trees)
def test_sympy_round_trip_of_polynomials_is_identity(tree):
    t = build_exact(tree)
    assert from_sympy(to_sympy(t)) is t


# Determinism ------------------------------------------------------------------------
_FIXED = (
    "from pdeflow.symbolic import symbols, sin, exp\n"
    "x, y, z, w = symbols('x y z w')\n"
    "e = 3*z*w + sin(y)*x - exp(w) + x**2*y/7 + (z + 1)**(-2) + w - y\n"
    "print(e)\n"
)


def _str_in_subprocess(seed: str) -> str:
    env = dict(os.environ, PYTHONHASHSEED=seed)
    out = subprocess.run([sys.executable, "-c", _FIXED], env=env, capture_output=True,
                         text=True, check=True, timeout=120)
    return out.stdout


def test_str_is_deterministic_across_hash_seeds():
    """A fixed hash seed in a subprocess prints what this (randomly seeded) process prints."""
    namespace: dict = {}
    exec(_FIXED.replace("print(e)", "out = str(e)"), namespace)
    assert _str_in_subprocess("12345") == namespace["out"] + "\n"


def test_symbols_are_interned_with_assumptions():
    assert symbols("x")[0] is X
    p = symbols("x", positive=True)[0]
    assert p is not X and p.name == X.name
    assert isinstance(p, Sym) and p.is_nonnegative
    assert add(X, Y) is add(Y, X) and mul(X, Y, X) is X**2 * Y
