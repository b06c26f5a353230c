"""Sparse Jacobians of traced PDE codes and of scalar terms: values, patterns, sparsity."""

from __future__ import annotations

import importlib.util
from types import SimpleNamespace

import numpy as np
import pytest
import scipy.sparse as sp
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from pdeflow.symbolic import (
    SparseJacobian,
    array,
    as_term,
    evaluate,
    jacobian,
    sparsity,
    symbols,
    trace,
)
from pdeflow.symbolic import functions as F

FD_TOL = 1e-7  # |FD entry| above this counts as a structural nonzero


def _brusselator(t, y, p):
    a, b, alpha = p
    u, v = y[..., 0], y[..., 1]
    lap_u = np.roll(u, 1, 0) + np.roll(u, -1, 0) + np.roll(u, 1, 1) + np.roll(u, -1, 1) - 4 * u
    lap_v = np.roll(v, 1, 0) + np.roll(v, -1, 0) + np.roll(v, 1, 1) + np.roll(v, -1, 1) - 4 * v
    du = alpha * lap_u + b + u**2 * v - (a + 1) * u
    dv = alpha * lap_v + a * u - u**2 * v
    return np.stack([du, dv], axis=-1)


def _inplace_1d(dy, y, p, t):
    dy[1:-1] = p[0] * (y[:-2] - 2 * y[1:-1] + y[2:]) + np.sin(y[1:-1]) * y[2:]
    dy[:1] = p[1] * (y[1:2] - y[:1])
    dy[-1:] = -(y[-1:] ** 3)


def _neumann_matrix(n):
    M = np.diag(-2.0 * np.ones(n)) + np.diag(np.ones(n - 1), 1) + np.diag(np.ones(n - 1), -1)
    M[0, 1] = 2.0
    M[-1, -2] = 2.0
    return M


N_RD = 4
MX = _neumann_matrix(N_RD)
MY = _neumann_matrix(N_RD).T.copy()


def _rd_dense(t, u, p):
    """3-species reaction-diffusion of Symbolics.jl's auto-parallel tutorial (dense Mx, My)."""
    alpha2, alpha3, beta1, beta2, beta3, r1, r2, d = p
    A, B, C = u[:, :, 0], u[:, :, 1], u[:, :, 2]
    alpha1 = np.linspace(0.5, 1.5, N_RD)[None, :] * np.ones((N_RD, 1))
    da = d * (MY @ A + A @ MX) + alpha1 - beta1 * A - r1 * A * B + r2 * C
    db = alpha2 - beta2 * B - r1 * A * B + r2 * C
    dc = alpha3 - beta3 * C + r1 * A * B - r2 * C
    return np.stack([da, db, dc], axis=-1)


def _check_against_fd(out, var, subs, fun, x0, fd_jacobian, scalar_vars=()):
    """Jacobian of ``out`` w.r.t. ``var`` (+ scalar symbols) vs finite differences of ``fun``."""
    vars_ = [var, *scalar_vars]
    J = jacobian(out, vars_)
    assert isinstance(J, SparseJacobian)
    Jn = J.evaluate(subs)
    assert sp.isspmatrix_csr(Jn) or isinstance(Jn, sp.csr_array)
    Jfd = fd_jacobian(fun, x0)
    assert Jn.shape == Jfd.shape
    np.testing.assert_allclose(Jn.toarray(), Jfd, rtol=1e-5, atol=1e-6)
    # pattern: CSR structure of J, equal to the nonzeros of the FD Jacobian
    P = J.pattern
    assert P.shape == Jfd.shape
    assert np.array_equal(P.toarray() != 0, np.abs(Jfd) > FD_TOL)
    # same structure as sparsity(), which does not differentiate
    S = sparsity(out, vars_)
    assert np.array_equal(S.toarray().astype(bool), P.toarray() != 0)
    assert np.array_equal(S.indptr, J.indptr) and np.array_equal(S.indices, J.indices)
    return J


def test_brusselator_2d_roll(traced_with_subs, finite_difference_jacobian):
    n = 4
    p = (3.4, 1.0, 10.0)
    y0 = np.random.default_rng(0).uniform(0.1, 1.0, (n, n, 2))
    out, subs = traced_with_subs(_brusselator, 0.0, y0, p)
    inputs = trace(_brusselator, 0.0, y0, p, return_inputs=True)[1]
    J = _check_against_fd(
        out,
        inputs["y"],
        subs,
        lambda q: _brusselator(0.0, q.reshape(n, n, 2), p),
        y0.ravel(),
        finite_difference_jacobian,
    )
    # 5-point stencil in its own species plus the coupling to the other species
    assert J.nnz == n * n * 2 * 6


def test_inplace_1d_slices_and_boundaries(finite_difference_jacobian):
    n = 7
    p = (0.8, 1.3)
    y0 = np.random.default_rng(1).normal(size=n)
    out, inputs = trace(_inplace_1d, np.zeros(n), y0, p, 0.0, return_inputs=True)
    subs = {inputs["y"]: y0, inputs["p"][0]: p[0], inputs["p"][1]: p[1]}

    def fun(q):
        dy = np.zeros(n)
        _inplace_1d(dy, q, p, 0.0)
        return dy

    J = _check_against_fd(out, inputs["y"], subs, fun, y0, finite_difference_jacobian)
    dense = J.pattern.toarray().astype(int)
    assert dense[0].tolist() == [1, 1, 0, 0, 0, 0, 0]
    assert dense[-1].tolist() == [0, 0, 0, 0, 0, 0, 1]
    assert dense[3].tolist() == [0, 0, 1, 1, 1, 0, 0]


def test_dense_matrix_reaction_diffusion(finite_difference_jacobian):
    p = tuple(np.random.default_rng(2).uniform(0.5, 2.0, 8))
    u0 = np.random.default_rng(3).uniform(0.1, 1.0, (N_RD, N_RD, 3))
    out, inputs = trace(_rd_dense, 0.0, u0, p, return_inputs=True)
    subs = {inputs["u"]: u0} | {s: v for s, v in zip(inputs["p"], p, strict=True)}
    J = _check_against_fd(
        out,
        inputs["u"],
        subs,
        lambda q: _rd_dense(0.0, q.reshape(N_RD, N_RD, 3), p),
        u0.ravel(),
        finite_difference_jacobian,
    )
    # the zeros of the dense Mx/My create no entries: row of A at an interior point has
    # the 5-point stencil plus B and C at the same point
    k = (1 * N_RD + 2) * 3
    assert J.indptr[k + 1] - J.indptr[k] == 7


def test_scalar_parameters_as_variables(finite_difference_jacobian):
    n = 5
    alpha = 0.7

    def rhs(t, u, p):
        return p[0] * (np.roll(u, 1) - 2 * u + np.roll(u, -1)) + np.exp(-p[0] * u) * p[1]

    u0 = np.random.default_rng(4).normal(size=n)
    params = (alpha, 1.5)
    out, inputs = trace(rhs, 0.0, u0, params, return_inputs=True)
    a_sym, b_sym = inputs["p"]
    subs = {inputs["u"]: u0, a_sym: alpha, b_sym: 1.5}

    def fun(q):
        return rhs(0.0, q[:n], (q[n], 1.5))

    J = _check_against_fd(
        out,
        inputs["u"],
        subs,
        fun,
        np.append(u0, alpha),
        finite_difference_jacobian,
        scalar_vars=[a_sym],
    )
    assert J.shape == (n, n + 1)
    assert np.all(J.pattern.toarray()[:, n] == 1)


def test_several_outputs_and_variables(finite_difference_jacobian):
    n = 5
    u = array("ju", (n,))
    v = array("jv", (n,))
    du = np.roll(u, 1) * v - u
    dv = np.tanh(v[::-1]) + u**2
    J = jacobian([du, dv], [v, u])
    assert J.shape == (2 * n, 2 * n)
    rng = np.random.default_rng(5)
    u0, v0 = rng.normal(size=n), rng.normal(size=n)

    def fun(q):
        vv, uu = q[:n], q[n:]
        return np.concatenate([np.roll(uu, 1) * vv - uu, np.tanh(vv[::-1]) + uu**2])

    Jfd = finite_difference_jacobian(fun, np.concatenate([v0, u0]))
    np.testing.assert_allclose(J.evaluate({u: u0, v: v0}).toarray(), Jfd, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(
        evaluate(J, {"ju": u0, "jv": v0}).toarray(), Jfd, rtol=1e-6, atol=1e-7
    )


def test_pattern_is_subset_of_sparsity_where_derivatives_vanish():
    n = 6
    u = array("su", (n,))
    v = array("sv", (n,))
    out = np.where(u > 0, v, 0.0) + np.sign(np.roll(u, 1)) * v + v**2
    J = jacobian(out, [u, v])
    S = sparsity(out, [u, v])
    P = J.pattern.toarray() != 0
    Sd = S.toarray().astype(bool)
    assert np.all(Sd[P])
    assert not np.any(P[:, :n])  # every derivative w.r.t. u vanishes identically
    assert Sd[:, :n].sum() == 2 * n  # ...but u does appear in the expressions
    assert np.array_equal(P[:, n:], np.eye(n, dtype=bool))


def test_jacobian_of_output_independent_of_variables():
    u = array("iu", (3,))
    v = array("iv", (3,))
    J = jacobian(np.sin(v), u)
    assert J.shape == (3, 3) and J.nnz == 0
    assert J.evaluate({v: np.ones(3)}).nnz == 0
    assert sparsity(np.sin(v), u).nnz == 0


# Unpacking, dense form, element access -----------------------------------------------------


def test_unpack_pattern_and_exprs():
    u = array("pu", (4,))
    out = np.roll(u, 1) * u
    pattern, exprs = jacobian(out, u)
    assert isinstance(pattern, sp.csr_matrix)
    assert pattern.toarray().astype(int).tolist() == [
        [1, 0, 0, 1],
        [1, 1, 0, 0],
        [0, 1, 1, 0],
        [0, 0, 1, 1],
    ]
    assert len(exprs) == pattern.nnz == 8
    u0 = np.array([0.5, -1.0, 2.0, 3.0])
    vals = [float(evaluate(e, {u: u0})) for e in exprs]
    want = np.diag(np.roll(u0, 1)) + np.roll(np.diag(u0), -1, axis=1)
    np.testing.assert_allclose(vals, want[pattern.nonzero()])
    # exprs mention the element symbols: d(u[3]*u[0])/du[0] is u[3]
    assert exprs[0] is u.item(3)


def test_dense_jacobian():
    u = array("du_", (3,))
    out = u * np.roll(u, -1)
    D = jacobian(out, u, sparse=False)
    assert isinstance(D, np.ndarray) and D.dtype == object and D.shape == (3, 3)
    assert D[0, 2] is as_term(0)
    assert D[0, 1] is u.item(0)
    u0 = np.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(evaluate(D, {u: u0}), jacobian(out, u).evaluate({u: u0}).toarray())


def test_getitem_and_evaluate_csr_values():
    u = array("gu", (5,))
    out = np.exp(u[1:]) - u[:-1] ** 2
    J = jacobian(out, u)
    u0 = np.linspace(-1, 1, 5)
    M = J.evaluate({u: u0})
    assert isinstance(M, sp.csr_matrix) and M.shape == (4, 5)
    want = np.zeros((4, 5))
    want[np.arange(4), np.arange(1, 5)] = np.exp(u0[1:])
    want[np.arange(4), np.arange(4)] = -2 * u0[:-1]
    np.testing.assert_allclose(M.toarray(), want)
    assert J[0, 1] is F.exp(u.item(1))
    assert J[0, 4] is as_term(0)


# Scalar-term Jacobians vs SymPy ---------------------------------------------------------------

SYM_NS = SimpleNamespace(sin=F.sin, exp=F.exp, log=F.log, tanh=F.tanh, sqrt=F.sqrt)
SYMPY_NS = SimpleNamespace(
    sin=sympy.sin, exp=sympy.exp, log=sympy.log, tanh=sympy.tanh, sqrt=sympy.sqrt
)


def _exprs(m, a, b, c):
    return [
        a * b + m.sin(c),
        m.exp(a * c) - b**3,
        m.log(1 + a**2) * m.tanh(b),
        m.sqrt(c**2 + 1) + a / (2 + b**2),
        c**2,
        a ** (b**2 + 1),
    ]


def test_scalar_jacobian_matches_sympy():
    a, b, c = symbols("a b c")
    exprs = _exprs(SYM_NS, a, b, c)
    J = jacobian(exprs, [a, b, c])
    sa, sb, sc = sympy.symbols("a b c", positive=True)
    Js = sympy.Matrix(_exprs(SYMPY_NS, sa, sb, sc)).jacobian([sa, sb, sc])
    # structure: the zeros of SymPy's Jacobian are absent from the pattern
    assert np.array_equal(J.pattern.toarray() != 0, np.array(Js.tolist()) != 0)
    fn = sympy.lambdify([sa, sb, sc], Js, "numpy")
    for pt in [(0.3, 1.1, -0.7), (1.5, 0.2, 2.0)]:
        got = J.evaluate(dict(zip([a, b, c], pt, strict=True))).toarray()
        np.testing.assert_allclose(got, np.array(fn(*pt), dtype=float), rtol=1e-12, atol=1e-14)


@pytest.mark.skipif(
    importlib.util.find_spec("pdeflow.symbolic.sympy_interop") is None,
    reason="pdeflow.symbolic.sympy_interop not written yet",
)
def test_scalar_jacobian_matches_sympy_symbolically():
    from pdeflow.symbolic.sympy_interop import to_sympy

    a, b, c = symbols("a b c")
    exprs = _exprs(SYM_NS, a, b, c)
    D = jacobian(exprs, [a, b, c], sparse=False)
    Js = sympy.Matrix([to_sympy(e) for e in exprs]).jacobian([to_sympy(v) for v in (a, b, c)])
    mine = sympy.Matrix([[to_sympy(e) for e in row] for row in D])
    assert sympy.simplify(mine - Js) == sympy.zeros(*Js.shape)


def test_scalar_jacobian_of_array_elements_and_sparsity():
    u = array("eu", (4,))
    exprs = list((np.roll(u, 1) * u).elements())
    J = jacobian(exprs, [u])
    assert np.array_equal(J.pattern.toarray(), jacobian(np.roll(u, 1) * u, u).pattern.toarray())
    assert np.array_equal(sparsity(exprs, u).toarray(), J.pattern.toarray() != 0)
    x, y = symbols("x y")
    assert sparsity([x * y, y**2, as_term(3)], [x, y]).toarray().tolist() == [
        [True, True],
        [False, True],
        [False, False],
    ]


# Hypothesis: random elementwise + stencil compositions ------------------------------------------

OPS = [
    lambda u: np.roll(u, 1) - 2 * u + np.roll(u, -1),
    lambda u: np.sin(u) * np.roll(u, 2),
    lambda u: np.tanh(u) ** 2,
    lambda u: np.exp(-u * u) + u,
    lambda u: np.pad(u[1:] - u[:-1], (1, 0), mode="edge"),
    lambda u: np.concatenate([u[:1], u[1:] * u[:-1]]),
    lambda u: u * u.mean(),
    lambda u: np.flip(u) * u + 0.5,
    lambda u: np.where(np.arange(u.size) % 2 == 0, u**3, np.cos(u)),
]


@settings(max_examples=30, deadline=None)
@given(
    ops=st.lists(st.integers(0, len(OPS) - 1), min_size=1, max_size=4),
    u0=hnp.arrays(np.float64, (6,), elements=st.floats(-1.5, 1.5)),
)
def test_random_compositions_match_fd(finite_difference_jacobian, ops, u0):
    def f(u):
        for k in ops:
            u = OPS[k](u)
        return u

    u = array("hu", (6,))
    out = f(u)
    J = jacobian(out, u)
    Jn = J.evaluate({u: u0}).toarray()
    Jfd = finite_difference_jacobian(f, u0)
    np.testing.assert_allclose(Jn, Jfd, rtol=1e-5, atol=1e-6 * (1 + np.abs(Jfd).max()))
    S = sparsity(out, u).toarray().astype(bool)
    P = J.pattern.toarray() != 0
    assert np.all(S[P])
    assert not np.any(np.abs(Jfd)[~P] > 1e-6 * (1 + np.abs(Jfd).max()))


def test_parameter_inside_pad_constant_and_product():
    p = symbols("pad_p")[0]
    u = array("pad_u", (4,))
    out = np.pad(u, 1, constant_values=p) * p
    J = jacobian(out, [u, p])
    M = J.evaluate({u: np.arange(4.0), p: 2.0}).toarray()
    want = np.zeros((6, 5))
    want[np.arange(1, 5), np.arange(4)] = 2.0
    want[:, 4] = [4.0, 0.0, 1.0, 2.0, 3.0, 4.0]
    np.testing.assert_allclose(M, want)
    assert np.array_equal(sparsity(out, [u, p]).toarray(), J.pattern.toarray() != 0)


def test_reductions_to_0d_outputs():
    u = array("red_u", (4,))
    u0 = np.array([0.5, 1.0, -2.0, 3.0])
    J = jacobian(np.sum(u**2), u)
    assert J.shape == (1, 4)
    np.testing.assert_allclose(J.evaluate({u: u0}).toarray(), [2 * u0])
    J = jacobian([np.mean(u), u[0] * u[1]], u)
    np.testing.assert_allclose(
        J.evaluate({u: u0}).toarray(), [[0.25] * 4, [u0[1], u0[0], 0.0, 0.0]]
    )
