"""Printing: ``to_str`` parses back to the same SymPy expression; exact LaTeX strings."""

from __future__ import annotations

import random
from fractions import Fraction

import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

from pdeflow.symbolic import functions as F
from pdeflow.symbolic import symbols
from pdeflow.symbolic.printing import to_latex, to_str
from pdeflow.symbolic.sympy_interop import to_sympy
from pdeflow.symbolic.terms import num, sym

x, y, z = symbols("x y z")
u12 = sym("u[1,2]")
half = Fraction(1, 2)


class _Indexed:
    """``u[1,2]`` in parsed text becomes the symbol named ``u[1,2]``."""

    def __init__(self, name):
        self.name = name

    def __getitem__(self, idx):
        idx = idx if isinstance(idx, tuple) else (idx,)
        return sympy.Symbol(f"{self.name}[{','.join(str(i) for i in idx)}]", real=True)


LOCALS = {
    "x": sympy.Symbol("x", real=True), "y": sympy.Symbol("y", real=True),
    "z": sympy.Symbol("z", real=True), "u": _Indexed("u"),
    "where": lambda c, a, b: sympy.Piecewise((a, c), (b, True)),
    "min": sympy.Min, "max": sympy.Max, "abs": sympy.Abs, "inf": sympy.oo, "nan": sympy.nan,
}

TABLE = [
    x - y, -x, -2 * x, x / y, -x / y, x**half, 1 / x, x**-2, 2 / (3 * x), Fraction(1, 3) * x,
    1 - Fraction(1, 3) * x, (x + 1) ** 2, 1 / (x + 1), x**y, (x**y) ** z, x ** (y**z),
    (2 * x) ** 3, x / (y * z**2), 1.5 * x, -1.5e-20 * x, num(-3), num(Fraction(-1, 2)),
    -(x + y), (x + y) * (x - y), F.sqrt(x + 1), 2**x, F.exp(-x) * F.sin(y), x**-1.5,
    2 * x**y, -(x**y), (x + 1) ** y, x ** (-y), (x / y) ** z, (x**-2) ** y, 2 / y + x,
    F.minimum(x, y), F.maximum(x, 2), F.abs_(x - y), F.where(F.lt(x, 0), -x, x), 3 * u12 - x,
    2.5 * (x + 1) + y, F.tanh(x) ** 2 / F.cos(y),
]


def _parsed(t):
    return sympy.sympify(to_str(t), locals=LOCALS)


def _same(a, b) -> bool:
    if a == b:
        return True
    syms = sorted(a.free_symbols | b.free_symbols, key=str)
    rng = random.Random(0)
    for _ in range(3):
        pt = {s: rng.uniform(0.5, 2) for s in syms}
        va, vb = complex(a.evalf(subs=pt)), complex(b.evalf(subs=pt))
        if abs(va - vb) > 1e-9 * (1 + abs(va)):
            return False
    return True


@pytest.mark.parametrize("t", TABLE, ids=lambda t: to_str(t))
def test_str_parses_back_to_the_sympy_conversion(t):
    assert _same(_parsed(t), to_sympy(t))


@pytest.mark.parametrize(
    ("t", "s"),
    [
        (x**y**z, "x**(y**z)"),
        ((x**y) ** z, "(x**y)**z"),
        ((x**-2) ** y, "(1/x**2)**y"),
        (2 * F.lt(x, y) + 1, "2*(x < y) + 1"),
        (F.lt(x, y) + 1, "(x < y) + 1"),
        (F.and_(F.lt(x, y), F.lt(y, z)), "(x < y) & (y < z)"),
        (F.or_(F.lt(x, y), F.eq(y, z)), "(x < y) | (y == z)"),
        (F.not_(F.le(x, y)), "~(x <= y)"),
        (2 / y + x, "x + 2/y"),
        (x - Fraction(1, 3) * y, "x - 1/3*y"),
        (Fraction(1, 3) * x, "(1/3)*x"),
        (num(-2) ** half, "(-2)**(1/2)"),
        (u12 * 2, "2*u[1,2]"),
        (F.where(F.lt(x, 0), -x, x), "where(x < 0, -x, x)"),
    ],
)
def test_exact_str(t, s):
    assert to_str(t) == s


@pytest.mark.parametrize(
    ("t", "s"),
    [
        (2 / (3 * x), r"\frac{2}{3 x}"),
        (Fraction(1, 3) * x, r"\frac{x}{3}"),
        (1 / (x + 1), r"\frac{1}{x + 1}"),
        (x**half, r"\sqrt{x}"),
        ((x**y) ** z, r"\left(x^{y}\right)^{z}"),
        (2 * x**y, r"2 x^{y}"),
        (2 * 3**x, r"2 \cdot 3^{x}"),
        (-(x**2) + y, r"y - x^{2}"),
        (1e-5 * x, r"1.0 \cdot 10^{-5} x"),
        (u12, r"u_{1,2}"),
        (sym("alpha"), r"\alpha"),
        (sym("nu_t"), r"\nu_{t}"),
        (F.abs_(x), r"\left|x\right|"),
        (F.sin(x), r"\sin{\left(x \right)}"),
        (F.le(x, y), r"x \le y"),
        (F.where(F.lt(x, 0), -x, x),
         r"\begin{cases} -x & \text{if}\: x < 0 \\ x & \text{otherwise} \end{cases}"),
        (num(float("inf")), r"\infty"),
    ],
)
def test_exact_latex(t, s):
    assert to_latex(t) == s


def test_repr_latex_wraps_in_dollars():
    assert (x**2)._repr_latex_() == "$x^{2}$"


leaves = st.one_of(st.sampled_from([x, y, z, u12]), st.integers(-3, 3).map(num),
                   st.fractions(-2, 2, max_denominator=3).map(num),
                   st.floats(-1e3, 1e3, allow_nan=False).map(num))
_FUNCS = [F.sin, F.exp, F.log, F.abs_, F.sign, F.tanh, F.not_]
_BIN = [lambda a, b: a + b, lambda a, b: a - b, lambda a, b: a * b, lambda a, b: a / (b + 7),
        lambda a, b: a ** (b if False else 2), F.lt, F.le, F.eq, F.ne, F.and_, F.or_,
        F.minimum, F.maximum, F.pow_, lambda a, b: F.where(a, b, a)]
terms = st.recursive(
    leaves,
    lambda ch: st.one_of(
        st.tuples(st.sampled_from(_FUNCS), ch).map(lambda p: p[0](p[1])),
        st.tuples(st.sampled_from(_BIN), ch, ch).map(lambda p: p[0](p[1], p[2])),
    ),
    max_leaves=10,
)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(terms)
def test_printers_never_crash(t):
    assert isinstance(to_str(t), str) and to_str(t) == str(t)
    latex = to_latex(t)
    assert latex.count("{") == latex.count("}")


def test_deep_terms_print_without_recursion_error():
    t = x
    for i in range(1500):
        t = F.sin(t) * y + i
    assert to_str(t).endswith(" + 1499")
    assert len(to_latex(t)) > 1500
