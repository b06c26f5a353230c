"""Issue #28 item 11: np.fft, np.gradient, np.einsum and np.cumsum in traced code.

Every traced function is compared with the same numpy code run on numbers: evaluated,
and compiled for the numpy, torch and jax targets.
"""

from __future__ import annotations

import numpy as np
import pytest

from pdeflow.errors import CompilationError, ShapeError, UnsupportedError
from pdeflow.symbolic import (
    ComplexSymArray,
    array,
    compile,
    evaluate,
    jacobian,
    jvp,
    sparsity,
    trace,
    vjp,
)
from pdeflow.symbolic.arrays import FFT, array_nodes

TARGETS = ["numpy", "numba", "torch", "jax"]
NU = 0.07


# Spectral Burgers: u_t = -u u_x + nu u_xx on [0, 2 pi), periodic -------------------------

N = 32
K = np.fft.rfftfreq(N, 1.0 / N)  # integer wavenumbers


def burgers(t, u, p):
    uh = np.fft.rfft(u)
    ux = np.fft.irfft(1j * K * uh, N)
    uxx = np.fft.irfft(-(K**2) * uh, N)
    return -u * ux + p[0] * uxx


def _u0():
    x = 2 * np.pi * np.arange(N) / N
    return np.sin(x) + 0.4 * np.cos(3 * x) + 0.2


@pytest.fixture(scope="module")
def burgers_trace():
    return trace(burgers, 0.0, _u0(), (NU,), return_inputs=True)


def test_spectral_burgers_is_a_graph_of_fft_nodes(burgers_trace):
    du, _ = burgers_trace
    kinds = sorted({(n.kind, n.part) for n in array_nodes([du.term]) if type(n) is FFT})
    assert kinds == [("irfftn", "re"), ("rfftn", "im"), ("rfftn", "re")]


def test_spectral_burgers_evaluates_like_numpy(burgers_trace):
    du, ins = burgers_trace
    u0 = _u0()
    got = evaluate(du, {ins["u"]: u0, ins["p"][0]: NU})
    np.testing.assert_allclose(got, burgers(0.0, u0, (NU,)), rtol=0, atol=1e-12)


@pytest.mark.parametrize("target", TARGETS)
def test_spectral_burgers_compiles_like_numpy(burgers_trace, target):
    du, ins = burgers_trace
    f = compile(du, [ins["u"]], params=list(ins["p"]), target=target)
    rng = np.random.default_rng(3)
    for u in (_u0(), rng.standard_normal(N)):
        ref = burgers(0.0, u, (NU,))
        got = np.asarray(f(u, np.array([NU]), 0.0))
        assert np.abs(got - ref).max() <= 1e-12 * max(1.0, np.abs(ref).max())


def _fd_jacobian(fun, x0, h=1e-6):
    return np.stack(
        [(fun(x0 + h * e) - fun(x0 - h * e)) / (2 * h) for e in np.eye(x0.size)], axis=1
    )


def test_jacobian_through_fft_matches_finite_differences(burgers_trace):
    du, ins = burgers_trace
    u0 = _u0()
    J = jacobian(du, ins["u"])
    Jv = evaluate(J, {ins["u"]: u0, ins["p"][0]: NU}).toarray()
    fd = _fd_jacobian(lambda z: burgers(0.0, z, (NU,)), u0)
    np.testing.assert_allclose(Jv, fd, atol=1e-7)
    # spectral derivatives couple every point: the pattern is dense
    assert J.nnz == N * N
    np.testing.assert_array_equal(sparsity(du, ins["u"]).toarray(), Jv != 0)


@pytest.mark.parametrize("target", TARGETS)
def test_jvp_through_fft_matches_dense_jacobian(burgers_trace, target):
    du, ins = burgers_trace
    u, v = ins["u"], array("v", (N,))
    Jv = jvp(du, u, v)
    # the tangent program keeps the transforms structured (no dense matrix)
    assert any(type(n) is FFT and n.args[0] in (v.term,) for n in array_nodes([Jv.term]))
    u0, v0 = _u0(), np.random.default_rng(4).standard_normal(N)
    dense = evaluate(jacobian(du, u), {u: u0, ins["p"][0]: NU}).toarray()
    f = compile(Jv, [u, v], params=list(ins["p"]), target=target)
    got = np.asarray(f(np.concatenate([u0, v0]), np.array([NU]), 0.0))
    np.testing.assert_allclose(got, dense @ v0, rtol=0, atol=1e-12 * np.abs(dense).max())
    fd = (burgers(0.0, u0 + 1e-6 * v0, (NU,)) - burgers(0.0, u0 - 1e-6 * v0, (NU,))) / 2e-6
    np.testing.assert_allclose(got, fd, atol=1e-6)


def test_jvp_with_respect_to_a_parameter(burgers_trace):
    du, ins = burgers_trace
    u0 = _u0()
    got = evaluate(jvp(du, ins["p"][0], 1.0), {ins["u"]: u0, ins["p"][0]: NU})
    uxx = np.fft.irfft(-(K**2) * np.fft.rfft(u0), N)
    np.testing.assert_allclose(got, uxx, atol=1e-12)


def test_numba_target_runs_ffts_between_compiled_segments(burgers_trace):
    du, ins = burgers_trace
    f = compile(du, [ins["u"]], params=list(ins["p"]), target="numba")
    assert "np.fft.rfft(" in f.source and "def seg" in f.source
    g = f.bind(np.array([NU]))  # the ODE solvers' fast path
    out = np.empty(N)
    np.testing.assert_allclose(g(out, _u0()), burgers(0.0, _u0(), (NU,)), rtol=0, atol=1e-12)


def test_cuda_source_refuses_ffts_clearly(burgers_trace):
    from pdeflow.symbolic.codegen import lower
    from pdeflow.symbolic.codegen.source import cuda_source

    du, ins = burgers_trace
    with pytest.raises(CompilationError, match="target='numba', 'numpy', 'jax' or 'torch'"):
        cuda_source(lower(du, [ins["u"]], params=list(ins["p"])))


ROOTS = {
    "fft_is_the_output": lambda u, p: np.fft.irfft(1j * K * np.fft.rfft(u), N),
    "stacked_with_input": lambda u, p: np.stack([np.fft.irfft(np.fft.rfft(u) * p[0], N),
                                                 np.fft.fft(u).real, u]),
}


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("name", sorted(ROOTS))
def test_fft_nodes_as_outputs_compile(name, target):
    fun = ROOTS[name]
    u0 = np.random.default_rng(12).standard_normal(N)
    out, ins = trace(fun, u0, (2.0,), return_inputs=True)
    f = compile(out, [ins["u"]], params=list(ins["p"]), target=target)
    got = np.asarray(f(u0, np.array([2.0]), 0.0))
    np.testing.assert_allclose(got, np.ravel(fun(u0, (2.0,))), rtol=0, atol=1e-12)


def test_large_fft_jacobian_is_refused_with_the_way_out():
    u = array("u", (4096,))
    out = np.fft.irfft(np.fft.rfft(u) * 2.0, 4096)
    with pytest.raises(ShapeError, match="jvp"):
        jacobian(out, u)


def test_spectral_burgers_solves_like_scipy_end_to_end():
    from scipy.integrate import solve_ivp

    from pdeflow.solvers.ode import ODEProblem, solve

    prob = ODEProblem.from_function(burgers, _u0(), (0.0, 0.3), (NU,), target="numpy")
    sol = solve(prob, method="rodas4", rtol=1e-9, atol=1e-11)
    ref = solve_ivp(lambda t, u: burgers(t, u, (NU,)), (0.0, 0.3), _u0(), method="DOP853",
                    rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(np.asarray(sol.y)[-1], ref.y[:, -1], atol=1e-7)


# 2-D: vorticity form of Navier-Stokes on the torus (rfft2/irfft2) ------------------------

M = 8


def vorticity(t, w, p):
    kx = np.fft.fftfreq(M, 1.0 / M)
    ky = np.fft.rfftfreq(M, 1.0 / M)
    KX, KY = np.meshgrid(kx, ky, indexing="ij")
    K2 = KX**2 + KY**2
    K2[0, 0] = 1.0
    wh = np.fft.rfft2(w)
    psih = wh / K2
    u = np.fft.irfft2(1j * KY * psih, (M, M))
    v = np.fft.irfft2(-1j * KX * psih, (M, M))
    wx = np.fft.irfft2(1j * KX * wh, (M, M))
    wy = np.fft.irfft2(1j * KY * wh, (M, M))
    return -(u * wx + v * wy) + p[0] * np.fft.irfft2(-K2 * wh, (M, M))


@pytest.mark.parametrize("target", TARGETS)
def test_vorticity_navier_stokes_compiles_like_numpy(target):
    w0 = np.random.default_rng(5).standard_normal((M, M))
    dw, ins = trace(vorticity, 0.0, w0, (0.01,), return_inputs=True)
    f = compile(dw, [ins["w"]], params=list(ins["p"]), target=target)
    ref = vorticity(0.0, w0, (0.01,)).ravel()
    got = np.asarray(f(w0.ravel(), np.array([0.01]), 0.0))
    assert np.abs(got - ref).max() <= 1e-12 * np.abs(ref).max()


# Every transform, sizes, norms ----------------------------------------------------------

CASES = {
    "fft": lambda u: np.fft.fft(u).imag,
    "ifft": lambda u: np.fft.ifft(u * (1 + 0.5j)).real,
    "rfft": lambda u: np.fft.rfft(u).real,
    "rfft_n_pad": lambda u: np.fft.rfft(u, 12).imag,
    "irfft_odd": lambda u: np.fft.irfft(np.fft.rfft(u) * (1 + 2j), 9),
    "irfft_crop": lambda u: np.fft.irfft(np.fft.rfft(u), 6),
    "fft_ortho": lambda u: np.fft.fft(u, norm="ortho").real,
    "ifft_forward": lambda u: np.fft.ifft(u, norm="forward").imag,
    "fft2": lambda u: np.fft.fft2(u.reshape(2, 5)).imag,
    "ifft2": lambda u: np.abs(np.fft.ifft2(u.reshape(5, 2))),
    "rfft2": lambda u: np.fft.rfft2(u.reshape(2, 5)).real,
    "irfft2": lambda u: np.fft.irfft2(np.fft.rfft2(u.reshape(2, 5)) * 1j, (2, 5)),
    "fftn_s": lambda u: np.fft.fftn(u.reshape(2, 5), s=(3, 4), axes=(0, 1)).real,
    "rfftn_axes": lambda u: np.fft.rfftn(u.reshape(2, 5), axes=(0,)).imag,
    "irfftn": lambda u: np.fft.irfftn(np.fft.rfftn(u.reshape(2, 5)), s=(2, 5), axes=(0, 1)),
    "complex_ops": lambda u: (
        np.conj(np.fft.fft(u)) * np.fft.fft(u[::-1]) / (2.0 + np.fft.fft(u) ** 2)
    ).real,
    "exp_phase": lambda u: np.fft.ifft(np.fft.fft(u) * np.exp(1j * np.arange(10.0))).real,
    "dealias": lambda u: _dealias(u),
    "fftshift": lambda u: np.fft.fftshift(np.fft.fft(u)).imag + np.fft.fftshift(u),
    "real_imag_funcs": lambda u: np.real(np.fft.fft(u)) - np.imag(np.fft.fft(u)),
    "real_input_helpers": lambda u: np.real(u) + np.imag(u) + np.conj(u),
    "zeros_like_fill": lambda u: _filled(u),
    "copy_semantics": lambda u: _copy_semantics(u),
}


def _filled(u):
    uh = np.fft.rfft(u)
    a = np.zeros_like(uh)
    a[1:] = uh[1:]  # drop the mean
    return np.fft.irfft(a, u.size)


def _copy_semantics(u):
    z = u + 0j  # a new array: writing into it must leave u alone
    z[0] = 5.0
    return u + z.real


def _dealias(u):
    uh = np.fft.rfft(u)
    uh[4:] = 0
    return np.fft.irfft(uh, u.size)


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_transform_matches_numpy(name):
    fun = CASES[name]
    u0 = np.random.default_rng(6).standard_normal(10)
    out = trace(fun, u0)
    u = array("u", (10,))
    ref = fun(u0)
    assert out.shape == np.shape(ref)
    np.testing.assert_allclose(evaluate(out, {u: u0}), ref, rtol=0, atol=1e-12)
    f = compile(out, [u], target="numpy")
    np.testing.assert_allclose(f(u0), np.ravel(ref), rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", sorted(CASES))
def test_vjp_through_each_transform_is_the_transposed_jacobian(name):
    fun = CASES[name]
    rng = np.random.default_rng(8)
    u0 = rng.standard_normal(10)
    u = array("u", (10,))
    out = fun(u)
    w0 = rng.standard_normal(out.shape)
    dense = evaluate(jacobian(out, u), {u: u0}).toarray()
    got = evaluate(vjp(out, u, w0), {u: u0})
    np.testing.assert_allclose(got, dense.T @ w0.ravel(), rtol=0, atol=1e-12)


@pytest.mark.parametrize("target", TARGETS)
def test_vjp_of_spectral_burgers_compiles(burgers_trace, target):
    du, ins = burgers_trace
    u, nu, w = ins["u"], ins["p"][0], array("w", (N,))
    gu, gnu = vjp(du, [u, nu], w)
    u0, w0 = _u0(), np.random.default_rng(9).standard_normal(N)
    dense = evaluate(jacobian(du, [u, nu]), {u: u0, nu: NU}).toarray()
    f = compile([gu, gnu.reshape(1)], [u, w], params=[nu], target=target)
    got = np.asarray(f(np.concatenate([u0, w0]), np.array([NU]), 0.0))
    np.testing.assert_allclose(got, dense.T @ w0, rtol=0, atol=1e-12 * np.abs(dense).max())


def test_jvp_and_vjp_agree_where_the_dense_jacobian_is_refused():
    n = 1024  # rfft's dense matrix would have 513 x 1024 entries: refused, products are not
    k = np.fft.rfftfreq(n, 1.0 / n)

    def f(z):
        zh = np.fft.rfft(z)
        return z * np.fft.irfft(1j * k * zh, n) + np.fft.irfft(-(k**2) * zh, n)

    u = array("u", (n,))
    out = f(u)
    with pytest.raises(ShapeError):
        jacobian(out, u)
    rng = np.random.default_rng(10)
    u0, v0, w0 = rng.standard_normal((3, n))
    Jv = evaluate(jvp(out, u, v0), {u: u0})
    JTw = evaluate(vjp(out, u, w0), {u: u0})
    assert abs(w0 @ Jv - JTw @ v0) <= 1e-10 * abs(w0 @ Jv)
    fd = (f(u0 + 1e-7 * v0) - f(u0 - 1e-7 * v0)) / 2e-7
    np.testing.assert_allclose(Jv, fd, rtol=0, atol=1e-6 * np.abs(fd).max())


def test_rfft_output_is_complex_traced_array():
    uh = np.fft.rfft(array("u", (6,)))
    assert isinstance(uh, ComplexSymArray) and uh.shape == (4,)
    assert uh.dtype == np.complex128


def test_rfft_of_complex_is_refused():
    with pytest.raises(TypeError, match="rfft"):
        trace(lambda u: np.fft.irfft(np.fft.rfft(np.fft.fft(u))), np.ones(4))


# np.gradient, np.cumsum, np.einsum -------------------------------------------------------

COORD = np.cumsum(np.linspace(0.5, 1.5, 5))
A35 = np.arange(15.0).reshape(3, 5) - 4.0
OTHER = np.linspace(-1.0, 2.0, 20).reshape(5, 4)

LINEAR_FUNCS = {
    "gradient": lambda a: np.gradient(a)[0],
    "gradient_spacing_axis": lambda a: np.gradient(a, 0.3, axis=1),
    "gradient_coords_order2": lambda a: np.gradient(a, COORD, 0.5, edge_order=2)[0],
    "cumsum_flat": lambda a: np.cumsum(a),
    "cumsum_axis": lambda a: np.cumsum(a, axis=1),
    "cumsum_method": lambda a: a.cumsum(0),
    "einsum_matmul": lambda a: np.einsum("ij,jk->ik", A35, a),
    "einsum_full": lambda a: np.einsum("ij,ij", a, OTHER),
    "einsum_implicit": lambda a: np.einsum("ij,j", a, np.arange(4.0)),
    "einsum_transpose": lambda a: np.einsum("ji", a),
    "einsum_ellipsis": lambda a: np.einsum("...j,kj->...k", a, np.ones((2, 4))),
    "einsum_trace": lambda a: np.einsum("ii->i", a[:4]),
}


@pytest.mark.parametrize("name", sorted(LINEAR_FUNCS))
def test_linear_numpy_functions_match_numpy(name):
    fun = LINEAR_FUNCS[name]
    a0 = np.random.default_rng(7).standard_normal((5, 4))
    a = array("a", (5, 4))
    out = fun(a)
    ref = fun(a0)
    assert out.shape == np.shape(ref)
    np.testing.assert_allclose(evaluate(out, {a: a0}), ref, rtol=1e-13, atol=1e-13)
    f = compile(out, [a], target="numpy")
    np.testing.assert_allclose(f(a0.ravel()), np.ravel(ref), rtol=1e-13, atol=1e-13)


def test_einsum_of_two_traced_operands_is_refused():
    a = array("a", (3,))
    with pytest.raises(UnsupportedError, match="several traced operands"):
        np.einsum("i,i", a, a)


def test_gradient_matrix_is_built_in_linear_time_on_long_axes():
    n = 200_000  # a dense identity would need 320 GB
    x = np.cumsum(np.random.default_rng(11).uniform(0.5, 1.5, n))
    u = array("u", (n,))
    u0 = np.sin(x / 1000.0)
    g = np.gradient(u, x, edge_order=2)
    np.testing.assert_allclose(evaluate(g, {u: u0}), np.gradient(u0, x, edge_order=2),
                               rtol=1e-12, atol=1e-15)


def test_gradient_of_too_short_axis_raises_like_numpy():
    with pytest.raises(ValueError):
        np.gradient(array("u", (2,)), edge_order=2)


def test_cumsum_and_einsum_refuse_what_they_cannot_trace_exactly():
    with pytest.raises(UnsupportedError, match="dense"):
        np.cumsum(array("u", (5000,)))
    with pytest.raises(UnsupportedError, match="complex"):
        np.einsum("ij,j->i", np.ones((2, 3)) * 1j, array("u", (3,)))
