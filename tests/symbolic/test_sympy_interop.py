"""SymPy interop: the mapping table, constants, errors, arrays and deep/shared DAGs."""

from __future__ import annotations

import time
from fractions import Fraction

import numpy as np
import pytest
import sympy

from pdeflow.errors import UnsupportedError
from pdeflow.symbolic import array, register_function, symbols
from pdeflow.symbolic import functions as F
from pdeflow.symbolic.sympy_interop import PlaceholderSymbol, from_sympy, to_sympy
from pdeflow.symbolic.terms import num, placeholder, sym

x, y, z = symbols("x y z")
p, = symbols("p", positive=True)
n, = symbols("n", integer=True)
X, Y, Z = (sympy.Symbol(s, real=True) for s in "xyz")
P = sympy.Symbol("p", positive=True)
N = sympy.Symbol("n", integer=True)


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (num(3), sympy.Integer(3)),
        (num(Fraction(-2, 3)), sympy.Rational(-2, 3)),
        (num(2.5), sympy.Float(2.5)),
        (num(float("inf")), sympy.oo),
        (x - y, X - Y),
        (2 * x / 3, 2 * X / 3),
        (x**y, X**Y),
        (F.sqrt(x), sympy.sqrt(X)),
        (F.exp(x) + F.log(p), sympy.exp(X) + sympy.log(P)),
        (F.sin(x) * F.cos(y) + F.tan(z), sympy.sin(X) * sympy.cos(Y) + sympy.tan(Z)),
        (F.tanh(x) + F.sinh(y) + F.cosh(z), sympy.tanh(X) + sympy.sinh(Y) + sympy.cosh(Z)),
        (F.asin(x) + F.acos(y) + F.atan(z), sympy.asin(X) + sympy.acos(Y) + sympy.atan(Z)),
        (F.abs_(x) + F.sign(y), sympy.Abs(X) + sympy.sign(Y)),
        (F.minimum(x, y), sympy.Min(X, Y)),
        (F.maximum(x, y), sympy.Max(X, Y)),
        (F.where(F.lt(x, 0), -x, x), sympy.Piecewise((-X, X < 0), (X, True))),
        (F.lt(x, y), sympy.StrictLessThan(X, Y)),
        (F.le(x, y), sympy.LessThan(X, Y)),
        (F.eq(x, y), sympy.Eq(X, Y)),
        (F.ne(x, y), sympy.Ne(X, Y)),
        (F.and_(F.lt(x, y), F.lt(y, z)), sympy.And(X < Y, Y < Z)),
        (F.or_(F.lt(x, y), F.lt(y, z)), sympy.Or(X < Y, Y < Z)),
        (F.not_(F.eq(x, y)), sympy.Ne(X, Y)),
        (2 * F.lt(x, y), 2 * sympy.Piecewise((1, X < Y), (0, True))),
        (p * n, P * N),
        (F.exp(num(1)), sympy.E),
    ],
    ids=str,
)
def test_mapping(ours, theirs):
    assert to_sympy(ours) == theirs
    if ours is not F.not_(F.eq(x, y)):
        assert from_sympy(theirs) is ours


def test_symbol_assumptions_round_trip():
    assert to_sympy(p).is_positive and to_sympy(n).is_integer and to_sympy(x).is_real
    assert from_sympy(sympy.Symbol("q", nonnegative=True)) is sym("q", nonnegative=True)
    assert from_sympy(sympy.Symbol("x")) is x  # every pdeflow symbol is real
    for s in (x, p, n, sym("u[1,2]"), sym("w", nonnegative=True)):
        assert from_sympy(to_sympy(s)) is s


@pytest.mark.parametrize(
    ("theirs", "ours"),
    [
        (sympy.E, F.exp(num(1))),
        (sympy.pi, num(3.141592653589793)),
        (sympy.S.Half, num(Fraction(1, 2))),
        (sympy.S.NegativeOne, num(-1)),
        (sympy.Float(0.1), num(0.1)),
        (sympy.zoo, num(float("inf"))),
        (-sympy.oo, num(float("-inf"))),
        (sympy.true, num(1)),
        (X > Y, F.lt(y, x)),
        (X >= 1, F.le(num(1), x)),
        (sympy.Min(X, Y, Z), F.minimum(F.minimum(x, y), z)),
        (sympy.Piecewise((X, X < 0), (Y, X < 1), (Z, True)),
         F.where(F.lt(x, 0), x, F.where(F.lt(x, 1), y, z))),
        (sympy.Piecewise((X, X < 0)), F.where(F.lt(x, 0), x, num(float("nan")))),
        (sympy.log(X, 2), F.log(x) / F.log(num(2))),
        (3, num(3)),
    ],
    ids=str,
)
def test_from_sympy(theirs, ours):
    assert from_sympy(theirs) is ours


@pytest.mark.parametrize(
    ("expr", "name"),
    [
        (sympy.erf(X), "erf"),
        (sympy.floor(X) + 1, "floor"),
        (sympy.Function("f")(X), "f"),
        (sympy.I * X, "ImaginaryUnit"),
        (sympy.Derivative(sympy.sin(X), X), "Derivative"),
    ],
)
def test_unsupported_sympy_raises_naming_it(expr, name):
    with pytest.raises(UnsupportedError, match=f"'{name}'"):
        from_sympy(expr)


def test_bad_input_types():
    with pytest.raises(TypeError, match="from_sympy expects"):
        from_sympy("x + 1")
    with pytest.raises(TypeError, match="to_sympy expects"):
        to_sympy(object())


def test_registered_functions_round_trip():
    softplus = register_function("softplus_interop", 1, lambda a: np.log1p(np.exp(a)))
    e = to_sympy(softplus(x) + 1)
    assert e == sympy.Function("softplus_interop")(X) + 1
    assert from_sympy(e) is softplus(x) + 1
    erf = register_function("erf_interop", 1, np.tanh, sympy_name="erf")
    assert to_sympy(erf(x)) == sympy.erf(X)
    assert from_sympy(sympy.erf(X)) is erf(x)


def test_placeholders_round_trip():
    e = to_sympy(placeholder(0) * 2 + placeholder(1))
    assert any(isinstance(s, PlaceholderSymbol) for s in e.free_symbols)
    assert from_sympy(e) is placeholder(0) * 2 + placeholder(1)


def test_containers():
    assert to_sympy([x, (y, 2)]) == [X, (Y, 2)]
    assert from_sympy([X, (Y, 2)]) == [x, (y, num(2))]
    m = from_sympy(sympy.Matrix([[X, 1], [Y, Z]]))
    assert m.shape == (2, 2) and m[1, 0] is y
    arr = to_sympy(np.array([[x, 1.5], [y, z]], dtype=object))
    assert isinstance(arr, sympy.ImmutableDenseNDimArray) and arr.shape == (2, 2)


def test_traced_laplacian_round_trips_elementwise():
    u = array("u", (6, 5))
    lap = np.roll(u, 1, 0) + np.roll(u, -1, 0) + np.roll(u, 1, 1) + np.roll(u, -1, 1) - 4 * u
    rhs = lap - u**3 + np.sin(u)
    s = to_sympy(rhs)
    assert isinstance(s, sympy.ImmutableDenseNDimArray) and s.shape == (6, 5)
    U = {(i, j): sympy.Symbol(f"u[{i},{j}]", real=True) for i in range(6) for j in range(5)}
    expected = (U[0, 2] + U[2, 2] + U[1, 1] + U[1, 3] - 4 * U[1, 2] - U[1, 2] ** 3
                + sympy.sin(U[1, 2]))
    assert s[1, 2] == expected
    back = from_sympy(s)
    assert back.shape == (6, 5)
    assert all(a is b for a, b in zip(back.ravel(), rhs.elements().ravel(), strict=True))


def test_deep_chains_convert_without_recursion_error():
    t = x
    for _ in range(2500):
        t = (t + 1) * y  # 5,000 nested operations
    s = to_sympy(t)
    assert from_sympy(s) is t


def test_shared_dag_converts_each_node_once_and_fast():
    # about 10k nodes in 100 layers; the tree expansion is astronomically large
    layer = list(symbols(" ".join(f"a{i}" for i in range(100))))
    for k in range(33):
        layer = [F.sin(layer[i]) * layer[(i + 1) % 100] + k for i in range(100)]
    start = time.perf_counter()
    s = to_sympy(layer)
    back = from_sympy(s)
    assert all(a is b for a, b in zip(back, layer, strict=True))
    assert time.perf_counter() - start < 20


def test_shallow_terms_are_evaluated_by_sympy():
    assert to_sympy(F.sin(-x)) == -sympy.sin(X)
    assert to_sympy(F.sin(-x), evaluate=False) == sympy.sin(-X, evaluate=False)
