"""diff, gradient, hessian and hvp: exact rules, finite differences and DAG memoization."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pdeflow.errors import UnsupportedError
from pdeflow.symbolic import (
    arguments,
    as_term,
    diff,
    evaluate,
    gradient,
    hessian,
    hvp,
    iscall,
    register_function,
    symbols,
)
from pdeflow.symbolic import functions as F

x, y, z = symbols("x y z")
VARS = [x, y, z]


def val(e, **values):
    return float(evaluate(e, values))


# Exact rules ("start => goal") ----------------------------------------------------------


@pytest.mark.parametrize(
    "expr, goal",
    [
        (x**3, 3 * x**2),
        (x**3 * y + 2 * x, 3 * x**2 * y + 2),
        (5 * x - y, 5),
        (y**2, 0),
        (x ** (-2), -2 * x ** (-3)),
        (F.exp(x), F.exp(x)),
        (F.exp(2 * x), 2 * F.exp(2 * x)),
        (F.log(x), 1 / x),
        (F.sin(x), F.cos(x)),
        (F.cos(x), -F.sin(x)),
        (F.tan(x), 1 + F.tan(x) ** 2),
        (F.tanh(x), 1 - F.tanh(x) ** 2),
        (F.sqrt(x), 1 / (2 * F.sqrt(x))),
        (abs(x), F.sign(x)),
        (F.sin(x**2), 2 * x * F.cos(x**2)),
        (x**y, y * x ** (y - 1)),
    ],
    ids=lambda v: str(v),
)
def test_rule(expr, goal):
    assert diff(expr, x) is as_term(goal)


def test_symbolic_power_in_exponent():
    e = x**y
    assert diff(e, y) is F.log(x) * x**y
    for xv, yv in [(0.7, 1.3), (2.5, -0.4)]:
        assert val(diff(e, y), x=xv, y=yv) == pytest.approx(np.log(xv) * xv**yv)
        assert val(diff(e, x), x=xv, y=yv) == pytest.approx(yv * xv ** (yv - 1))


def test_second_derivative():
    assert diff(x**3, x, x) is 6 * x
    assert diff(F.sin(x), x, x) is -F.sin(x)
    assert diff(x**3 * y, x, y) is 3 * x**2
    assert diff(x**3 * y, x, y) is diff(x**3 * y, y, x)
    assert diff(x**2, x, x, x) is as_term(0)


@pytest.mark.parametrize(
    "expr, dx",
    [
        (F.minimum(x, y), lambda a, b: float(a <= b)),
        (F.maximum(x, y), lambda a, b: float(b <= a)),
        (F.maximum(x**2, y), lambda a, b: 2 * a * float(b <= a * a)),
        (F.where(x < y, x**2, 3 * x), lambda a, b: 2 * a if a < b else 3.0),
        (F.where(y < 0, F.sin(x), x), lambda a, b: np.cos(a) if b < 0 else 1.0),
        (abs(x * y), lambda a, b: np.sign(a * b) * b),
    ],
    ids=["min", "max", "max_sq", "where", "where_cond_free", "abs_product"],
)
@pytest.mark.parametrize("point", [(0.3, 1.2), (1.7, -0.5), (-0.8, 0.1), (-1.1, -2.0)])
def test_nonsmooth_rules(expr, dx, point):
    a, b = point
    assert val(diff(expr, x), x=a, y=b) == pytest.approx(dx(a, b))


def test_relations_have_zero_derivative():
    assert diff(F.lt(x, y), x) is as_term(0)


def test_unregistered_derivative_raises_unsupported():
    fn = register_function("pdeflow_test_noderiv", 1, np.sinc)
    with pytest.raises(UnsupportedError, match="pdeflow_test_noderiv"):
        diff(fn(x**2), x)
    # independent of x: no rule needed
    assert diff(fn(y), x) is as_term(0)


def test_user_function_with_registered_derivative():
    softplus = register_function(
        "pdeflow_test_softplus",
        1,
        lambda a: np.log1p(np.exp(a)),
        derivatives=lambda a: (1 / (1 + F.exp(-a)),),
    )
    d = diff(softplus(2 * x), x)
    for a in (-1.0, 0.3, 2.0):
        assert val(d, x=a) == pytest.approx(2 / (1 + np.exp(-2 * a)))


def test_diff_argument_errors():
    with pytest.raises(TypeError):
        diff(x**2)
    with pytest.raises(TypeError):
        diff(x**2, x * y)


# Random expression trees vs finite differences -------------------------------------------

SYM_NS = SimpleNamespace(
    exp=F.exp, log=F.log, sin=F.sin, cos=F.cos, tan=F.tan, tanh=F.tanh, sqrt=F.sqrt
)
NUM_NS = SimpleNamespace(
    exp=np.exp, log=np.log, sin=np.sin, cos=np.cos, tan=np.tan, tanh=np.tanh, sqrt=np.sqrt
)

UNARY = {
    "exp": lambda m, a: m.exp(m.tanh(a)),
    "log": lambda m, a: m.log(1 + a * a),
    "sin": lambda m, a: m.sin(a),
    "cos": lambda m, a: m.cos(a),
    "tan": lambda m, a: m.tan(m.tanh(a)),
    "tanh": lambda m, a: m.tanh(a),
    "sqrt": lambda m, a: m.sqrt(a * a + 0.5),
    "square": lambda m, a: a**2,
    "cube": lambda m, a: a**3 / 4,
    "neg": lambda m, a: -a,
}
BINARY = {
    "add": lambda m, a, b: a + b,
    "sub": lambda m, a, b: a - b,
    "mul": lambda m, a, b: a * b,
    "div": lambda m, a, b: a / (2 + m.sin(b)),
    "pow": lambda m, a, b: (1 + a * a) ** m.tanh(b),
}

leaves = st.sampled_from(["x", "y", "z"]) | st.sampled_from([0.5, -1.5, 2.0, 3])
trees = st.recursive(
    leaves,
    lambda kids: (
        st.tuples(st.sampled_from(sorted(UNARY)), kids)
        | st.tuples(st.sampled_from(sorted(BINARY)), kids, kids)
    ),
    max_leaves=8,
)


def build(tree, m, env):
    if isinstance(tree, str):
        return env[tree]
    if not isinstance(tree, tuple):
        return tree
    if len(tree) == 2:
        return UNARY[tree[0]](m, build(tree[1], m, env))
    return BINARY[tree[0]](m, build(tree[1], m, env), build(tree[2], m, env))


def numeric(tree, p):
    return float(build(tree, NUM_NS, dict(zip("xyz", p, strict=True))) + 0.0 * p[0])


def sym_expr(tree):
    e = build(tree, SYM_NS, {"x": x, "y": y, "z": z})
    return e if not isinstance(e, int | float) else x * 0 + e


def at(p):
    return dict(zip(VARS, p, strict=True))


def fd_grad(fun, p, h=1e-6):
    g = np.empty(len(p))
    for i in range(len(p)):
        e = np.zeros(len(p))
        e[i] = h
        g[i] = (fun(p + e) - fun(p - e)) / (2 * h)
    return g


points = st.tuples(*[st.floats(-1.5, 1.5, allow_nan=False) for _ in range(3)]).map(np.array)


@settings(max_examples=50, deadline=None)
@given(tree=trees, p=points)
def test_gradient_matches_finite_differences(tree, p):
    e = sym_expr(tree)
    assert evaluate(e, at(p)) == pytest.approx(numeric(tree, p), rel=1e-10, abs=1e-12)
    g = np.array([float(evaluate(gi, at(p))) for gi in gradient(e, VARS)])
    want = fd_grad(lambda q: numeric(tree, q), p)
    np.testing.assert_allclose(g, want, rtol=1e-5, atol=1e-5 * (1 + np.abs(want).max()))
    for i, v in enumerate(VARS):
        assert float(evaluate(diff(e, v), at(p))) == pytest.approx(g[i], rel=1e-12, abs=1e-12)


@settings(max_examples=30, deadline=None)
@given(tree=trees, p=points, v=points)
def test_hessian_and_hvp_match_finite_differences(tree, p, v):
    e = sym_expr(tree)
    grad = gradient(e, VARS)
    H = hessian(e, VARS)
    assert H.shape == (3, 3)
    Hn = np.array([[float(evaluate(H[i, j], at(p))) for j in range(3)] for i in range(3)])
    np.testing.assert_array_equal(Hn, Hn.T)

    def g_num(q):
        return np.array([float(evaluate(gi, at(q))) for gi in grad])

    Hfd = np.empty((3, 3))
    for j in range(3):
        dq = np.zeros(3)
        dq[j] = 1e-6
        Hfd[:, j] = (g_num(p + dq) - g_num(p - dq)) / 2e-6
    np.testing.assert_allclose(Hn, Hfd, rtol=1e-5, atol=1e-5 * (1 + np.abs(Hfd).max()))
    Hv = np.array([float(evaluate(t, at(p))) for t in hvp(e, VARS, list(v))])
    np.testing.assert_allclose(Hv, Hn @ v, rtol=1e-9, atol=1e-9 * (1 + np.abs(Hn).max()))


def test_hessian_exact_entries():
    e = x**2 * y + F.sin(y * z)
    H = hessian(e, VARS)
    assert H[0, 0] is 2 * y
    assert H[0, 1] is 2 * x and H[1, 0] is H[0, 1]
    assert H[0, 2] is as_term(0)
    assert H[1, 2] is diff(diff(e, y), z)


def test_hvp_with_symbolic_vector():
    a, b = symbols("a b")
    e = x**3 + x * y**2
    out = hvp(e, [x, y], [a, b])
    vals = {x: 0.4, y: -1.2, a: 2.0, b: 0.5}
    H = np.array([[6 * 0.4, 2 * -1.2], [2 * -1.2, 2 * 0.4]])
    np.testing.assert_allclose([float(evaluate(t, vals)) for t in out], H @ [2.0, 0.5])
    with pytest.raises(ValueError):
        hvp(e, [x, y], [1.0])


# Memoization over the DAG -----------------------------------------------------------------


def unique_nodes(*roots) -> int:
    seen: set = set()
    stack = list(roots)
    while stack:
        t = stack.pop()
        if id(t) in seen:
            continue
        seen.add(id(t))
        if iscall(t):
            stack.extend(arguments(t))
    return len(seen)


def _nested(n):
    e = x
    for _ in range(n):
        e = e * e + x
    return e


@pytest.mark.parametrize("n", [50, 200])
def test_deep_shared_dag_derivative_is_linear_size(n):
    e = _nested(n)
    d = diff(e, x)
    assert unique_nodes(e) <= 4 * n + 4
    assert unique_nodes(d) <= 12 * n + 12
    # the derivative of the second order is linear too
    assert unique_nodes(diff(e, x, x)) <= 40 * n + 40


def test_deep_shared_dag_derivative_value():
    e = _nested(200)
    d = diff(e, x)
    xv = 0.1
    # e_{k+1} = e_k^2 + x, e'_{k+1} = 2 e_k e'_k + 1
    ev, dv = xv, 1.0
    for _ in range(200):
        ev, dv = ev * ev + xv, 2 * ev * dv + 1
    assert float(evaluate(e, {x: xv})) == pytest.approx(ev, rel=1e-12)
    assert float(evaluate(d, {x: xv})) == pytest.approx(dv, rel=1e-10)
    fd = (float(evaluate(e, {x: xv + 1e-7})) - float(evaluate(e, {x: xv - 1e-7}))) / 2e-7
    assert fd == pytest.approx(dv, rel=1e-5)


def test_gradient_of_deep_dag_shares_structure():
    e = y
    for _ in range(150):
        e = F.sin(e) * x + e * y
    g = gradient(e, [x, y])
    assert unique_nodes(*g) <= 20 * 150
