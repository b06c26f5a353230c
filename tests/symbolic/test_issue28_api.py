"""Issue #28 items 11 (static_params), 12 (Jacobian of reshaped inputs) and 13 (scalar systems
built from traced arrays): each compared with direct evaluation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pdeflow.errors import CompilationError, TracingError
from pdeflow.symbolic import array, compile, compile_jacobian, evaluate, jacobian, sparsity, trace

N = 3


def _two_field(y):
    u, v = y[0], y[1]
    return np.stack([u * v**2 - np.roll(u, 1, 0), np.roll(v, -1, 1) + 2 * u - v**3])


# Item 12: a reshape/ravel/transpose of an input is the same variables ----------------------


def test_jacobian_of_raveled_input_equals_jacobian_of_input():
    y = array("y", (2, N, N))
    out = _two_field(y)
    yv = np.random.default_rng(0).random((2, N, N))
    J = evaluate(jacobian(out, y), {y: yv}).toarray()
    Jr = evaluate(jacobian(out, np.ravel(y)), {y: yv}).toarray()
    Jrs = evaluate(jacobian(out, y.reshape(2, -1)), {y: yv}).toarray()
    np.testing.assert_array_equal(Jr, J)
    np.testing.assert_array_equal(Jrs, J)
    assert np.count_nonzero(J) > 2 * N * N


def test_jacobian_of_transposed_input_permutes_columns():
    y = array("y", (2, N, N))
    out = _two_field(y)
    yv = np.random.default_rng(1).random((2, N, N))
    J = evaluate(jacobian(out, y), {y: yv}).toarray()
    yt = np.transpose(y, (2, 1, 0))
    Jt = evaluate(jacobian(out, yt), {y: yv}).toarray()
    perm = np.arange(yv.size).reshape(yv.shape).transpose(2, 1, 0).ravel()
    np.testing.assert_array_equal(Jt, J[:, perm])
    np.testing.assert_array_equal(sparsity(out, yt).toarray(), Jt != 0)
    # finite differences in the permuted variables
    def f(z):
        return evaluate(out, {y: z.reshape(yv.shape[::-1]).transpose(2, 1, 0)}).ravel()

    z0, h = yv.transpose(2, 1, 0).ravel(), 1e-6
    fd = np.stack([(f(z0 + h * e) - f(z0 - h * e)) / (2 * h) for e in np.eye(z0.size)], 1)
    np.testing.assert_allclose(Jt, fd, atol=1e-6)


def test_jacobian_refuses_computed_variables_clearly():
    y = array("y", (4,))
    with pytest.raises(TypeError, match="pure reordering"):
        jacobian(y**2, 2 * y)
    with pytest.raises(TypeError, match="pure reordering"):
        jacobian(y**2, y[:2])  # a slice is not all the variables


def test_compile_and_compile_jacobian_accept_a_raveled_input():
    y = array("y", (2, N, N))
    out = _two_field(y)
    yv = np.random.default_rng(2).random((2, N, N))
    f = compile(out, [np.ravel(y)], target="numpy")
    np.testing.assert_allclose(f(yv.ravel()), evaluate(out, {y: yv}).ravel(), rtol=1e-14)
    Jf = compile_jacobian(out, [np.ravel(y)], target="numpy")
    np.testing.assert_allclose(Jf(yv.ravel()).toarray(),
                               evaluate(jacobian(out, y), {y: yv}).toarray(), rtol=1e-14)
    with pytest.raises(CompilationError, match="permuted order"):
        compile(out, [np.transpose(y)], target="numpy")


# Item 13: scalar systems from elements of traced arrays, array parameters ----------------


def _network():
    y = array("y", (4,))
    k = array("k", (3,))
    r = [k[0] * y[0] * y[1], k[1] * y[2], k[2] * y[3] ** 2]  # 0-d traced arrays
    out = [-r[0] + r[1], -r[0], r[0] - r[1] + 2 * r[2], -2 * r[2]]
    return y, k, out


def _network_ref(yv, kv):
    r = [kv[0] * yv[0] * yv[1], kv[1] * yv[2], kv[2] * yv[3] ** 2]
    return np.array([-r[0] + r[1], -r[0], r[0] - r[1] + 2 * r[2], -2 * r[2]])


@pytest.mark.parametrize(
    ("target", "optimize"),
    [("numpy", False), ("numba", False), ("python", True), ("numba", True)],
)
def test_scalar_system_of_0d_arrays_with_array_parameter_compiles(target, optimize):
    y, k, out = _network()
    yv = np.array([1.0, 2.0, 0.5, 0.3])
    kv = np.array([0.7, 1.3, 2.1])
    f = compile(out, [y], params=[k], target=target, optimize=optimize)
    np.testing.assert_allclose(f(yv, kv, 0.0), _network_ref(yv, kv), rtol=1e-14)
    direct = np.array([evaluate(o, {y: yv, k: kv}) for o in out])
    np.testing.assert_allclose(f(yv, kv, 0.0), direct, rtol=1e-14)


def test_list_mixing_0d_arrays_and_terms_is_a_scalar_system():
    y, k, out = _network()
    out[-1] = -2 * k.item(2) * y.item(3) ** 2  # a plain term among 0-d arrays
    yv = np.array([1.0, 2.0, 0.5, 0.3])
    kv = np.array([0.7, 1.3, 2.1])
    for target in ("numpy", "numba"):
        f = compile(out, [y], params=[k], target=target)
        np.testing.assert_allclose(f(yv, kv, 0.0), _network_ref(yv, kv), rtol=1e-14)


@pytest.mark.parametrize("optimize", [False, True])
def test_scalar_terms_take_an_array_parameter_vector(optimize):
    y = array("y", (2,))
    k = array("k", (3,))
    a, b = y.item(0), y.item(1)  # plain scalar terms
    out = [-k.item(0) * a * b + k.item(2), k.item(0) * a * b - k.item(1) * b]
    yv, kv = np.array([0.3, 2.0]), np.array([1.5, 0.25, 4.0])
    ref = [-kv[0] * yv[0] * yv[1] + kv[2], kv[0] * yv[0] * yv[1] - kv[1] * yv[1]]
    f = compile(out, [y], params=[k], target="numba", optimize=optimize)
    np.testing.assert_allclose(f(yv, kv, 0.0), ref, rtol=1e-14)


def test_scalar_system_takes_a_reshaped_or_transposed_input():
    y = array("y", (2, 2))
    out = [y[0, 0] * y[1, 0], y[0, 1] - y[1, 1] ** 2]
    yv = np.array([[1.0, 2.0], [3.0, 4.0]])
    ref = [yv[0, 0] * yv[1, 0], yv[0, 1] - yv[1, 1] ** 2]
    f = compile(out, [np.ravel(y)], target="numpy", optimize=False)
    np.testing.assert_allclose(f(yv.ravel()), ref)
    g = compile(out, [y.T], target="python", optimize=True)  # state in transposed order
    np.testing.assert_allclose(g(yv.T.ravel()), ref)


def test_scalar_system_jacobian_with_array_parameter():
    y, k, out = _network()
    yv = np.array([1.0, 2.0, 0.5, 0.3])
    kv = np.array([0.7, 1.3, 2.1])
    J = compile_jacobian(out, [y], params=[k], target="numpy")(yv, kv).toarray()
    h = 1e-6
    fd = np.stack([(_network_ref(yv + h * e, kv) - _network_ref(yv - h * e, kv)) / (2 * h)
                   for e in np.eye(4)], 1)
    np.testing.assert_allclose(J, fd, atol=1e-8)


def test_array_program_reads_element_symbols_of_an_array_parameter():
    u = array("u", (3,))
    k = array("k", (2,))
    out = k.item(0) * u + k.item(1) * u**2  # templates hold the symbols k[0], k[1]
    uv, kv = np.array([1.0, 2.0, 3.0]), np.array([0.5, -1.5])
    f = compile(out, [u], params=[k], target="numpy")
    np.testing.assert_allclose(f(uv, kv), kv[0] * uv + kv[1] * uv**2, rtol=1e-15)


# static_params -----------------------------------------------------------------------------


def _scalar_math_rhs(t, u, p):
    rate = math.exp(p[0])  # scalar math on a parameter
    if float(p[1]) > 0:  # and a branch on one
        return -rate * u + t
    return rate * u


def test_scalar_math_on_parameters_needs_static_params():
    with pytest.raises(TracingError, match="static_params=True"):
        trace(_scalar_math_rhs, 0.0, np.ones(3), (0.5, 1.0))


@pytest.mark.parametrize("p", [(0.5, 1.0), (0.5, -1.0)])
def test_static_params_bind_numbers_and_keep_time_symbolic(p):
    du, ins = trace(_scalar_math_rhs, 0.0, np.ones(3), p, static_params=True,
                    return_inputs=True)
    assert ins["p"] == p
    uv, tv = np.array([1.0, -2.0, 0.25]), 0.7
    got = evaluate(du, {ins["u"]: uv, ins["t"]: tv})
    np.testing.assert_allclose(got, _scalar_math_rhs(tv, uv, p), rtol=1e-15)
    f = compile(du, [ins["u"]], target="numpy")
    np.testing.assert_allclose(f(uv, None, tv), _scalar_math_rhs(tv, uv, p), rtol=1e-15)


def test_static_params_by_name():
    def rhs(t, u, p, q):
        return -float(p) * u + q * u**2

    du, ins = trace(rhs, 0.0, np.ones(2), 2.0, 3.0, static_params=["p"], return_inputs=True)
    assert ins["p"] == 2.0 and str(ins["q"]) == "q"
    np.testing.assert_allclose(evaluate(du, {ins["u"]: np.array([1.0, 2.0]), ins["q"]: 3.0}),
                               [1.0, 8.0])
    with pytest.raises(TracingError, match="not arguments"):
        trace(rhs, 0.0, np.ones(2), 2.0, 3.0, static_params=["nope"])


def test_static_params_bind_a_parameter_array_by_name():
    def rhs(t, u, p):
        return -math.exp(p[0]) * u + float(p[1])

    pv = np.array([0.0, 2.0])
    with pytest.raises(TracingError, match="static_params"):
        trace(rhs, 0.0, np.ones(2), pv)
    du, ins = trace(rhs, 0.0, np.ones(2), pv, static_params=["p"], return_inputs=True)
    np.testing.assert_allclose(evaluate(du, {ins["u"]: np.array([1.0, 3.0])}), [1.0, -1.0])
