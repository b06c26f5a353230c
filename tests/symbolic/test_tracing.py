"""Tracing numpy code: evaluate(trace(f)) equals f run on numbers, for every construct."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from pdeflow.errors import ShapeError, TracingError, UnsupportedError
from pdeflow.symbolic import Sym, SymArray, array, evaluate, trace
from pdeflow.symbolic.arrays import array_nodes

FAST = settings(max_examples=30, deadline=None)

BUG_0D_CONST = (
    "bug: arrays.array_const turns a 0-d value into shape (1,) (np.ascontiguousarray), "
    "so assigning a number to one element (du[0] = 0) raises ShapeError"
)


def floats(lo=-2.0, hi=2.0):
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False, width=64)


def float_arrays(shape, lo=-2.0, hi=2.0):
    return hnp.arrays(np.float64, shape, elements=floats(lo, hi))


small_shapes = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4)


# Elementwise arithmetic and ufuncs ---------------------------------------------------------

BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / (b * b + 1.0),
    "rsub": lambda a, b: 3.0 - a * b,
    "rdiv": lambda a, b: 2.0 / (1.5 + np.sin(b)) + a,
    "minimum": np.minimum,
    "maximum": np.maximum,
    "pow_int": lambda a, b: a**3 - b**2,
    "pow_sym": lambda a, b: (a * a + 1.0) ** np.cos(b),
    "rpow": lambda a, b: 2.0 ** (a - b),
}

UNARY = {
    "exp": np.exp,
    "log": lambda a: np.log(a * a + 0.5),
    "sin": np.sin,
    "cos": np.cos,
    "tan": lambda a: np.tan(a / 2),
    "sqrt": lambda a: np.sqrt(a * a + 0.1),
    "tanh": np.tanh,
    "abs": np.abs,
    "abs_builtin": abs,
    "square": np.square,
    "negative": np.negative,
    "neg_op": lambda a: -a,
    "pos_op": lambda a: +a,
    "sinh": np.sinh,
    "cosh": np.cosh,
    "reciprocal": lambda a: np.reciprocal(a * a + 1.0),
    "log1p": lambda a: np.log1p(a * a),
    "expm1": np.expm1,
    "arctan": np.arctan,
    "float_power": lambda a: np.float_power(a * a + 1.0, 1.5),
}


@pytest.mark.parametrize("name", sorted(BINARY))
@settings(max_examples=8, deadline=None)
@given(data=st.data())
def test_binary_elementwise(traced_like_numpy, name, data):
    shape = data.draw(small_shapes)
    a = data.draw(float_arrays(shape))
    b = data.draw(float_arrays(shape))
    op = BINARY[name]
    traced_like_numpy(lambda u, v: op(u, v), a, b)


@pytest.mark.parametrize("name", sorted(UNARY))
@settings(max_examples=4, deadline=None)
@given(a=float_arrays((2, 3)))
def test_unary_ufunc(traced_like_numpy, name, a):
    op = UNARY[name]
    traced_like_numpy(lambda u: op(u), a)


def test_log_of_positive_input(traced_like_numpy):
    a = np.random.default_rng(0).uniform(0.1, 3.0, 7)
    traced_like_numpy(lambda u: np.log(u) + np.log2(u) - np.log10(u), a)


def test_inplace_operators(traced_like_numpy):
    def f(u):
        v = u * 1.0
        v += 2.0
        v *= u
        v -= np.sin(u)
        v /= 3.0
        return v

    traced_like_numpy(f, np.random.default_rng(1).normal(size=5))


@settings(max_examples=15, deadline=None)
@given(a=float_arrays((3, 1)), b=float_arrays((1, 4)), s=floats())
def test_broadcasting_column_with_row(traced_like_numpy, a, b, s):
    traced_like_numpy(lambda u, v, c: c * u + v * u - np.maximum(u, v), a, b, s)


@settings(max_examples=15, deadline=None)
@given(a=float_arrays((2, 3, 4)), b=float_arrays((4,)), c=float_arrays((3, 1)))
def test_broadcasting_three_ways(traced_like_numpy, a, b, c):
    traced_like_numpy(lambda u, v, w: u * v + w - np.exp(v) * w, a, b, c)


def test_scalars_and_0d_arrays(traced_like_numpy):
    u0 = np.random.default_rng(2).normal(size=4)
    zero_d = np.array(1.5)

    def f(u, a):
        return u * np.float64(2.0) + np.int64(3) + a * u[0] - zero_d * u

    traced_like_numpy(f, u0, 0.7)


def test_0d_traced_input(traced_like_numpy):
    traced_like_numpy(lambda u, v: np.sin(u) * v + u, np.array(0.4), np.arange(3.0))


# Slicing and indexing ----------------------------------------------------------------------

SLICES = {
    "step": lambda u: u[::2, 1::3],
    "negative_step": lambda u: u[::-1, 1:],
    "negative_index": lambda u: u[-1] * u[-2, -1],
    "neg_slice": lambda u: u[-3:-1, :-1],
    "ellipsis": lambda u: u[..., 1],
    "newaxis": lambda u: u[:, None, :] * u[None, :, :],
    "newaxis_ellipsis": lambda u: u[..., np.newaxis] + u[np.newaxis, ...][..., None],
    "int_array": lambda u: u[np.array([0, 2, 2, 1])],
    "int_array_2d": lambda u: u[np.array([[0, 1], [3, 2]]), np.array([1, 0])],
    "bool_mask": lambda u: u[np.array([True, False, True, True])],
    "bool_mask_2d": lambda u: u[np.arange(20).reshape(4, 5) % 3 == 0],
    "mixed": lambda u: u[1:, np.array([4, 0])],
    "scalar_elem": lambda u: u[2, 3] * u,
    "list_index": lambda u: u[[3, 0]],
}


@pytest.mark.parametrize("name", sorted(SLICES))
@settings(max_examples=3, deadline=None)
@given(a=float_arrays((4, 5)))
def test_slicing_and_fancy_indexing(traced_like_numpy, name, a):
    traced_like_numpy(SLICES[name], a)


@FAST
@given(
    a=float_arrays((9,)),
    start=st.integers(-9, 8),
    stop=st.integers(-9, 9),
    step=st.sampled_from([1, 2, 3, -1, -2]),
)
def test_random_slices(traced_like_numpy, a, start, stop, step):
    def f(u):
        return u[start:stop:step] * 2.0

    traced_like_numpy(f, a)


# In-place assignment into outputs ----------------------------------------------------------


def _heat_rhs(t, u, p):
    du = np.empty_like(u)
    du[1:-1] = p[0] * (u[2:] - 2 * u[1:-1] + u[:-2])
    du[:1] = -u[:1]
    du[-1:] = p[1] * u[-1:] ** 2
    return du


def test_inplace_slices_from_empty_like(traced_like_numpy):
    u0 = np.random.default_rng(3).normal(size=7)
    traced_like_numpy(_heat_rhs, 0.0, u0, (0.3, 1.2))


def test_assign_number_to_one_element(traced_like_numpy):
    def f(u):
        du = np.zeros_like(u)
        du[1:-1] = u[1:-1] ** 2
        du[0] = 0.0
        du[-1] = 1
        return du

    traced_like_numpy(f, np.arange(5.0))


def test_constant_scalar_result_is_0d(traced_like_numpy):
    traced_like_numpy(lambda u: u[0] - u[0] + 1.0, np.arange(3.0))


def test_assign_traced_scalar_to_one_element(traced_like_numpy):
    def f(u, p):
        du = np.zeros_like(u)
        du[1:-1] = u[1:-1] ** 2
        du[0] = u[1] * p
        du[-1] = p
        return du

    traced_like_numpy(f, np.arange(5.0), 0.25)


def test_inplace_2d_boundaries(traced_like_numpy):
    def f(u):
        du = np.zeros_like(u)
        du[1:-1, 1:-1] = u[:-2, 1:-1] + u[2:, 1:-1] + u[1:-1, :-2] + u[1:-1, 2:] - 4 * u[1:-1, 1:-1]
        du[0, :] = u[1, :] - u[0, :]
        du[:, -1] = u[:, -2] * 2
        du[np.array([2]), np.array([0])] = 7.0
        return du

    traced_like_numpy(f, np.random.default_rng(4).normal(size=(5, 6)))


def test_fill_and_setitem_mask(traced_like_numpy):
    mask = np.array([True, False, True, False, True])

    def f(u):
        du = np.empty_like(u)
        du.fill(1.5)
        du[mask] = u[mask] * 3
        return du

    traced_like_numpy(f, np.arange(5.0))


def test_setitem_on_traced_input_copy(traced_like_numpy):
    def f(u):
        v = u.copy()
        v[1:3] = np.exp(u[1:3])
        return v + u

    traced_like_numpy(f, np.linspace(0, 1, 5))


def test_out_kwarg(traced_like_numpy):
    def f(u):
        du = np.empty_like(u)
        np.multiply(u, u, out=du)
        np.add(du, 1.0, out=du)
        return du

    traced_like_numpy(f, np.linspace(-1, 1, 4))


# Structural numpy functions ---------------------------------------------------------------

STRUCTURAL = {
    "roll": lambda u: np.roll(u, 1),
    "roll_neg": lambda u: np.roll(u, -2),
    "roll_axis0": lambda u: np.roll(u, 1, axis=0) - np.roll(u, -1, axis=0),
    "roll_axis1": lambda u: np.roll(u, -1, axis=1) * np.roll(u, 3, axis=-1),
    "roll_tuple": lambda u: np.roll(u, (1, -1), axis=(0, 1)),
    "pad_constant": lambda u: np.pad(u, 1),
    "pad_constant_value": lambda u: np.pad(u, ((1, 2), (0, 1)), constant_values=2.5),
    "pad_edge": lambda u: np.pad(u, 2, mode="edge"),
    "pad_wrap": lambda u: np.pad(u, ((1, 1), (2, 0)), mode="wrap"),
    "pad_reflect": lambda u: np.pad(u, 1, mode="reflect"),
    "pad_symmetric": lambda u: np.pad(u, 1, mode="symmetric"),
    "concatenate": lambda u: np.concatenate([u, 2 * u, np.ones((1, 4))]),
    "concatenate_axis1": lambda u: np.concatenate((u[:, :1], np.sin(u)), axis=1),
    "stack": lambda u: np.stack([u, u**2]),
    "stack_axis": lambda u: np.stack([u, -u, u * 0.5], axis=-1),
    "hstack": lambda u: np.hstack([u, np.exp(u)]),
    "vstack": lambda u: np.vstack([u, u[0], np.zeros(4)]),
    "reshape": lambda u: u.reshape(4, 3) * np.arange(3.0),
    "reshape_tuple": lambda u: u.reshape((2, -1)),
    "np_reshape": lambda u: np.reshape(u, (12,)),
    "ravel": lambda u: u.ravel() + np.ravel(u)[::-1],
    "flatten": lambda u: u.flatten(),
    "transpose": lambda u: u.transpose() @ np.ones(3),
    "T": lambda u: u.T * np.arange(3.0),
    "np_transpose": lambda u: np.transpose(u),
    "swapaxes": lambda u: u.swapaxes(0, 1),
    "np_swapaxes": lambda u: np.swapaxes(u[None], 0, 2),
    "flip": lambda u: np.flip(u),
    "flip_axis": lambda u: np.flip(u, axis=1),
    "fliplr": lambda u: np.fliplr(u) + np.flipud(u),
    "squeeze_expand": lambda u: np.squeeze(np.expand_dims(u, 0)),
    "moveaxis": lambda u: np.moveaxis(u[None], 0, -1),
    "tile": lambda u: np.tile(u, (2, 1)),
    "repeat": lambda u: np.repeat(u, 2, axis=1),
    "broadcast_to": lambda u: np.broadcast_to(u[0], (5, 4)),
    "take": lambda u: np.take(u, [2, 0], axis=1),
    "diff": lambda u: np.diff(u),
    "diff_axis0_n2": lambda u: np.diff(u, n=2, axis=0),
    "clip": lambda u: np.clip(u, -0.5, 0.5),
    "clip_method": lambda u: u.clip(0.0, None),
    "where_const_mask": lambda u: np.where(np.arange(12).reshape(3, 4) % 2 == 0, u, -u),
    "where_const_mask_scalar": lambda u: np.where(np.eye(3, 4, dtype=bool), u, 0.0),
    "where_symbolic": lambda u: np.where(u > 0, u, 0),
    "where_symbolic_both": lambda u: np.where(u <= 0.1, np.sin(u), u**2),
    "rot90": lambda u: np.rot90(u),
    "where_const_mask_nonzero_scalar": lambda u: np.where(np.eye(3, 4) > 0, 2.5, u),
    "where_const_mask_traced_scalar": lambda u: np.where([True, False, True, False], u[0, 0], u),
    "take_index_array": lambda u: np.take(u, np.array([3, 0, 0]), axis=1),
    "repeat_counts": lambda u: np.repeat(u, np.array([1, 0, 2]), axis=0),
    "append": lambda u: np.append(u, 1.5),
    "append_axis": lambda u: np.append(u, np.ones((1, 4)), axis=0),
    "insert": lambda u: np.insert(u, 1, 7.0, axis=1),
    "delete": lambda u: np.delete(u, np.array([0, 2]), axis=1),
    "concatenate_list_const": lambda u: np.concatenate([u[0], [1.0, 2.0]]),
    "block": lambda u: np.block([[u, np.zeros((3, 1))], [np.ones((1, 4)), u[:1, :1]]]),
    "split": lambda u: np.split(u, np.array([1]), axis=1)[1] * 2,
    "array_split": lambda u: np.array_split(u, 2)[0],
    "atleast_3d": lambda u: np.atleast_3d(u),
}


@pytest.mark.parametrize("name", sorted(STRUCTURAL))
@settings(max_examples=3, deadline=None)
@given(a=float_arrays((3, 4)))
def test_structural_functions(traced_like_numpy, name, a):
    traced_like_numpy(STRUCTURAL[name], a)


@FAST
@given(data=st.data())
def test_roll_any_shift_and_axis(traced_like_numpy, data):
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=5))
    a = data.draw(float_arrays(shape))
    shift = data.draw(st.integers(-7, 7))
    axis = data.draw(st.none() | st.integers(-len(shape), len(shape) - 1))
    traced_like_numpy(lambda u: np.roll(u, shift, axis=axis), a)


@FAST
@given(data=st.data())
def test_pad_modes(traced_like_numpy, data):
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=2, min_side=2, max_side=4))
    a = data.draw(float_arrays(shape))
    mode = data.draw(st.sampled_from(["constant", "edge", "wrap", "reflect", "symmetric"]))
    width = data.draw(st.integers(0, 1 if mode == "reflect" else 2))
    kw = {"constant_values": data.draw(floats())} if mode == "constant" else {}
    traced_like_numpy(lambda u: np.pad(u, width, mode=mode, **kw), a)


# Reductions ---------------------------------------------------------------------------

AXES = [None, 0, 1, -1, (0, 2), (0, 1, 2)]


@pytest.mark.parametrize("axis", AXES, ids=str)
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("reduce", ["sum", "mean", "method_sum", "method_mean", "add_reduce"])
def test_sum_and_mean(traced_like_numpy, axis, keepdims, reduce):
    a = np.random.default_rng(5).normal(size=(2, 3, 4))
    fns = {
        "sum": lambda u: np.sum(u * u, axis=axis, keepdims=keepdims),
        "mean": lambda u: np.mean(np.sin(u), axis=axis, keepdims=keepdims),
        "method_sum": lambda u: u.sum(axis=axis, keepdims=keepdims),
        "method_mean": lambda u: (2 * u).mean(axis=axis, keepdims=keepdims),
        "add_reduce": lambda u: np.add.reduce(u, axis=axis, keepdims=keepdims),
    }
    traced_like_numpy(fns[reduce], a)


def test_sum_result_used_in_arithmetic(traced_like_numpy):
    traced_like_numpy(
        lambda u: u - u.mean() + np.sum(u, axis=0)[None, :], np.arange(6.0).reshape(2, 3)
    )


# Matrix products -----------------------------------------------------------------------

RNG = np.random.default_rng(6)
M_LEFT = RNG.normal(size=(3, 4))
M_RIGHT = RNG.normal(size=(5, 2))
V4 = RNG.normal(size=4)
V5 = RNG.normal(size=5)

MATMUL = {
    "left_2d": lambda u: M_LEFT @ u,
    "right_2d": lambda u: u @ M_RIGHT,
    "left_1d": lambda u: V4 @ u,
    "right_1d": lambda u: u @ V5,
    "both": lambda u: M_LEFT @ u @ M_RIGHT,
    "np_matmul": lambda u: np.matmul(M_LEFT, u),
    "np_dot": lambda u: np.dot(M_LEFT, u) + np.dot(u, M_RIGHT).sum(),
    "method_dot": lambda u: u.dot(V5),
    "vector_left": lambda u: M_LEFT @ u[:, 0],
    "symbolic_symbolic": lambda u: u.T @ u,
    "symbolic_matvec": lambda u: u.T @ u[:, 1],
    "symbolic_vecmat": lambda u: u[:, 0] @ u,
    "symbolic_dot": lambda u: u[0] @ u[1],
}


@pytest.mark.parametrize("name", sorted(MATMUL))
@settings(max_examples=3, deadline=None)
@given(a=float_arrays((4, 5)))
def test_matrix_products(traced_like_numpy, name, a):
    traced_like_numpy(MATMUL[name], a, rtol=1e-9, atol=1e-11)


def _sparse_with_explicit_zeros(n, seed):
    rng = np.random.default_rng(seed)
    A = sp.random(n, n, density=0.3, random_state=seed, format="csr")
    A = A + sp.eye(n, format="csr")
    A = sp.csr_matrix(A)
    # store explicit zeros: they must not create terms
    A.data[rng.random(A.nnz) < 0.3] = 0.0
    assert np.any(A.data == 0)
    return A


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
def test_scipy_sparse_matmul_values(traced_like_numpy, fmt):
    A = _sparse_with_explicit_zeros(8, 1).asformat(fmt)
    u0 = np.random.default_rng(7).normal(size=8)
    traced_like_numpy(lambda u: A @ u + u @ A, u0)
    if fmt != "coo":  # coo_matrix.dot raises TypeError for non-array operands (scipy)
        traced_like_numpy(lambda u: A.dot(u) - 2 * u, u0)
    traced_like_numpy(lambda u: A @ u, np.random.default_rng(8).normal(size=(8, 2)))


def test_scipy_sparse_zero_entries_create_no_terms():
    A = _sparse_with_explicit_zeros(10, 2)
    u = array("u", (10,))
    r = A @ u
    assert isinstance(r, SymArray)
    el = r.elements()
    dense = A.toarray()
    for i in range(10):
        want = {f"u[{j}]" for j in np.flatnonzero(dense[i])}
        got = {s.name for s in el[i].free_symbols}
        assert got == want, f"row {i}"
    x = np.random.default_rng(9).normal(size=10)
    np.testing.assert_allclose(evaluate(r, {u: x}), A @ x)


def test_dense_matrix_zeros_create_no_terms():
    n = 6
    M = np.diag(-2.0 * np.ones(n)) + np.diag(np.ones(n - 1), 1) + np.diag(np.ones(n - 1), -1)
    u = array("u", (n, n))
    r = M @ u + u @ M
    el = r.elements()
    for i in range(n):
        for j in range(n):
            want = {f"u[{k},{j}]" for k in range(n) if M[i, k]} | {
                f"u[{i},{k}]" for k in range(n) if M[k, j]
            }
            assert {s.name for s in el[i, j].free_symbols} == want


# Parameters and right-hand-side forms --------------------------------------------------------


def test_tuple_params_are_symbols(traced_like_numpy):
    out, inputs = trace(_heat_rhs, 0.0, np.zeros(5), (0.3, 1.2), return_inputs=True)
    assert isinstance(inputs["t"], Sym)
    assert [s.name for s in inputs["p"]] == ["p_0", "p_1"]
    names = {s.name for s in out.elements()[2].free_symbols}
    assert names == {"p_0", "u[1]", "u[2]", "u[3]"}
    traced_like_numpy(_heat_rhs, 0.5, np.random.default_rng(10).normal(size=6), (0.7, -0.4))


def test_dict_params_are_symbols(traced_like_numpy):
    def rhs(t, y, p):
        return p["k"] * np.roll(y, 1) - p["d"] * y**2 + np.sin(t)

    out, inputs = trace(rhs, 0.1, np.zeros(4), {"k": 1.0, "d": 2.0}, return_inputs=True)
    assert {k: v.name for k, v in inputs["p"].items()} == {"k": "p_k", "d": "p_d"}
    traced_like_numpy(rhs, 0.3, np.random.default_rng(11).normal(size=4), {"k": 0.4, "d": -1.1})


def _brusselator(t, y, p):
    a, b, alpha = p
    u, v = y[..., 0], y[..., 1]
    lap_u = np.roll(u, 1, 0) + np.roll(u, -1, 0) + np.roll(u, 1, 1) + np.roll(u, -1, 1) - 4 * u
    lap_v = np.roll(v, 1, 0) + np.roll(v, -1, 0) + np.roll(v, 1, 1) + np.roll(v, -1, 1) - 4 * v
    du = alpha * lap_u + b + u**2 * v - (a + 1) * u
    dv = alpha * lap_v + a * u - u**2 * v
    return np.stack([du, dv], axis=-1)


def test_brusselator_out_of_place(traced_like_numpy):
    y0 = np.random.default_rng(12).uniform(0, 1, (5, 5, 2))
    traced_like_numpy(_brusselator, 0.0, y0, (3.4, 1.0, 10.0))


def _inplace_rhs(dy, y, p, t):
    dy[1:-1] = p[0] * (y[:-2] - 2 * y[1:-1] + y[2:]) + np.tanh(y[1:-1]) * t
    dy[:1] = y[1:2] - y[:1]
    dy[-1:] = -y[-1:]


def test_inplace_rhs_form(traced_inplace_like_numpy):
    rng = np.random.default_rng(13)
    traced_inplace_like_numpy(_inplace_rhs, [0], np.zeros(6), rng.normal(size=6), (0.8,), 0.3)


def test_inplace_rhs_returns_written_argument():
    out = trace(_inplace_rhs, np.zeros(4), np.zeros(4), (1.0,), 0.0)
    assert isinstance(out, SymArray)
    assert out.shape == (4,)
    assert {s.name for s in out.elements()[1].free_symbols} == {"p_0", "y[0]", "y[1]", "y[2]", "t"}


def test_inplace_with_two_outputs(traced_inplace_like_numpy):
    def f(du, dv, u, v):
        du[...] = u * v
        dv[...] = u - v

    rng = np.random.default_rng(14)
    traced_inplace_like_numpy(
        f, [0, 1], np.zeros(3), np.zeros(3), rng.normal(size=3), rng.normal(size=3)
    )


def test_constant_arguments_pass_through(traced_like_numpy):
    def f(u, scale=2.0, flag=True):
        return u * scale if flag else -u

    out, inputs = trace(f, np.ones(3), return_inputs=True)
    assert set(inputs) == {"u"}
    np.testing.assert_allclose(evaluate(out, {"u": np.arange(3.0)}), 2 * np.arange(3.0))


def test_returns_tuple_and_list(traced_like_numpy):
    traced_like_numpy(lambda u, v: (u + v, [u * v, np.sum(v)]), np.ones(3) * 0.5, np.arange(3.0))


def test_already_symbolic_arguments():
    u = array("w", (3,))
    out = trace(lambda a: a * 2, u)
    np.testing.assert_allclose(evaluate(out, {"w": np.arange(3.0)}), [0, 2, 4])


# Laplacian in 2-D, a PDE composition, and structure -------------------------------------------


def _laplacian2d(u):
    return np.roll(u, 1, 0) + np.roll(u, -1, 0) + np.roll(u, 1, 1) + np.roll(u, -1, 1) - 4 * u


def _laplacian_slices(u):
    du = np.zeros_like(u)
    du[1:-1, 1:-1] = u[:-2, 1:-1] + u[2:, 1:-1] + u[1:-1, :-2] + u[1:-1, 2:] - 4 * u[1:-1, 1:-1]
    return du + u**3


@pytest.mark.parametrize("fn", [_laplacian2d, _laplacian_slices, _brusselator])
def test_array_ir_size_does_not_grow_with_n(fn):
    def nodes(n):
        if fn is _brusselator:
            out = trace(fn, 0.0, np.zeros((n, n, 2)), (3.4, 1.0, 10.0))
        else:
            out = trace(fn, np.zeros((n, n)))
        return len(array_nodes([out.term]))

    assert nodes(8) == nodes(64)
    assert nodes(8) < 20


def test_laplacian2d_values(traced_like_numpy):
    traced_like_numpy(_laplacian2d, np.random.default_rng(15).normal(size=(6, 7)))
    traced_like_numpy(_laplacian_slices, np.random.default_rng(16).normal(size=(5, 4)))


# Hypothesis: random compositions of supported constructs ---------------------------------------

OPS_1D = [
    lambda u: np.roll(u, 1) - 2 * u + np.roll(u, -1),
    lambda u: np.sin(u) * u,
    lambda u: np.pad(u[1:-1], 1, mode="edge"),
    lambda u: np.concatenate([u[1:], u[:1]]) * 0.5,
    lambda u: np.where(u > 0, u, 0.1 * u),
    lambda u: np.tanh(u) + u.mean(),
    lambda u: np.flip(u) * u,
    lambda u: np.clip(u, -1, 1) ** 2,
    lambda u: np.exp(-u * u),
    lambda u: np.maximum(u, np.roll(u, 2)),
]


@settings(max_examples=30, deadline=None)
@given(ops=st.lists(st.integers(0, len(OPS_1D) - 1), min_size=1, max_size=5), a=float_arrays((7,)))
def test_random_compositions(traced_like_numpy, ops, a):
    def f(u):
        for k in ops:
            u = OPS_1D[k](u)
        return u

    traced_like_numpy(f, a, rtol=1e-9, atol=1e-10)


# Errors ----------------------------------------------------------------------------------


def _line_of(fn, text):
    lines, start = inspect.getsourcelines(fn)
    for k, line in enumerate(lines):
        if text in line:
            return start + k
    raise AssertionError(f"{text!r} not in source")


def test_data_dependent_if_names_line_and_suggests_where():
    def f(u):
        if u[0] > 0:
            return u
        return -u

    with pytest.raises(TracingError) as ei:
        trace(f, np.zeros(3))
    msg = str(ei.value)
    assert "test_tracing.py" in msg
    assert f"line {_line_of(f, 'if u[0] > 0')}" in msg
    assert "np.where" in msg


def test_data_dependent_while_names_line():
    def f(u):
        v = u
        while v.sum() < 10:
            v = v * 2
        return v

    with pytest.raises(TracingError) as ei:
        trace(f, np.ones(3))
    msg = str(ei.value)
    assert f"test_tracing.py, line {_line_of(f, 'while v.sum()')}" in msg
    assert "np.where" in msg


def test_data_dependent_and_on_scalar_term():
    def f(u, a):
        return u * 2 if a and True else u

    with pytest.raises(TracingError, match="np.where"):
        trace(f, np.ones(3), 1.0)


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda u: np.fft.hfft(u), "hfft"),
        (lambda u: np.linalg.solve(np.eye(4), u), "solve"),
        (lambda u: np.cumprod(u), "cumprod"),
        (lambda u: np.sort(u), "sort"),
        (lambda u: np.argmax(u), "argmax"),
        (lambda u: np.arctan2(u, u), "arctan2"),
        (lambda u: np.multiply.reduce(u), "multiply"),
    ],
    ids=["hfft", "linalg.solve", "cumprod", "sort", "argmax", "ufunc_arctan2", "mul_reduce"],
)
def test_unsupported_function_named(call, name):
    with pytest.raises(UnsupportedError) as ei:
        trace(call, np.ones(4))
    assert name in str(ei.value)


def test_unsupported_is_a_tracing_error():
    with pytest.raises(TracingError):
        trace(lambda u: np.cumprod(u), np.ones(4))


def test_shape_mismatch_names_both_shapes():
    with pytest.raises(ShapeError) as ei:
        trace(lambda u: u[:3] + u[:4], np.ones(5))
    assert "(3,)" in str(ei.value) and "(4,)" in str(ei.value)


def test_shape_mismatch_2d_and_matmul():
    with pytest.raises(ShapeError, match=r"\(2, 3\).*\(4,\)|\(4,\).*\(2, 3\)"):
        trace(lambda u: u[:2, :3] * u[0], np.ones((4, 4)))
    with pytest.raises(ShapeError):
        trace(lambda u: np.ones((3, 5)) @ u, np.ones(4))


def test_setitem_shape_mismatch():
    def f(u):
        du = np.zeros_like(u)
        du[1:] = u
        return du

    with pytest.raises(ShapeError):
        trace(f, np.ones(4))


def test_float_of_traced_value():
    with pytest.raises(TracingError, match="float"):
        trace(lambda u: u * float(u[0]), np.ones(3))


def test_writing_into_plain_numpy_array_hints_zeros_like():
    def f(u):
        out = np.zeros(3)
        out[:] = u * 2
        return out

    with pytest.raises(TracingError, match="zeros_like"):
        trace(f, np.ones(3))


def test_inplace_output_left_partly_unassigned():
    def f(dy, y):
        dy[1:] = y[1:] ** 2

    with pytest.raises(TracingError) as ei:
        trace(f, np.zeros(4), np.zeros(4))
    msg = str(ei.value)
    assert "dy" in msg and "not fully assigned" in msg


def test_inplace_function_writing_nothing():
    def f(dy, y):
        y * 2

    with pytest.raises(TracingError, match="nothing to trace"):
        trace(f, np.zeros(3), np.zeros(3))


@pytest.mark.parametrize(
    "fn",
    [lambda u: u[u[0, 0]], lambda u: u[(0, u[1, 1])]],
    ids=["symbolic_int", "symbolic_in_tuple"],
)
def test_symbolic_index_unsupported(fn):
    with pytest.raises(UnsupportedError, match="index"):
        trace(fn, np.ones((3, 3)))


def test_symbolic_index_in_setitem_unsupported():
    def f(u, k):
        du = np.zeros_like(u)
        du[k] = 1.0
        return du

    with pytest.raises(UnsupportedError):
        trace(f, np.ones(3), 1.0)


def test_index_out_of_range_is_shape_error():
    with pytest.raises(ShapeError, match="out of range"):
        trace(lambda u: u[5], np.ones(3))
