"""Tests of pdeflow.solvers.ode: orders, stiff references, compiled problems, errors."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.integrate import solve_ivp

from pdeflow.errors import ConfigError, ConvergenceError, DataError
from pdeflow.solvers.ode import ODEProblem, ODEStatus, solve


# ---------------------------------------------------------------- problems
def riccati():
    """y' = -y^2, y(0) = 1: y = 1 / (1 + t) (autonomous, with its Jacobian)."""
    return ODEProblem(lambda t, y: -(y**2), [1.0], (0.0, 2.0),
                      jac=lambda t, y: sp.csr_matrix([[-2.0 * y[0]]]), autonomous=True)


def robertson():
    def f(t, y):
        y1, y2, y3 = y
        return np.array([-0.04 * y1 + 1e4 * y2 * y3,
                         0.04 * y1 - 1e4 * y2 * y3 - 3e7 * y2**2,
                         3e7 * y2**2])

    def jac(t, y):
        y1, y2, y3 = y
        return sp.csr_matrix(np.array([[-0.04, 1e4 * y3, 1e4 * y2],
                                       [0.04, -1e4 * y3 - 6e7 * y2, -1e4 * y2],
                                       [0.0, 6e7 * y2, 0.0]]))

    return f, jac


def heat_rhs(t, u, p):
    """Periodic 1-D heat equation with a cubic reaction term (traced by pdeflow)."""
    return p[0] * (np.roll(u, 1) - 2 * u + np.roll(u, -1)) - p[1] * u**3


def heat_inplace(du, u, p, t):
    du[:] = heat_rhs(t, u, p)


# ------------------------------------------------------------ convergence order
@pytest.mark.parametrize("method, order", [("rk45", 5), ("rodas4", 4)])
def test_fixed_step_order(method, order):
    # each on a problem where it shows its asymptotic order at these h
    # (rodas4 is super-convergent on y' = y cos t, rk45 on the Riccati equation)
    if method == "rk45":
        prob, exact = ODEProblem(lambda t, y: y * np.cos(t), [1.0], (0.0, 5.0)), np.exp(np.sin(5))
    else:
        prob, exact = riccati(), 1 / 3
    hs = np.array([0.2, 0.1, 0.05])
    errs = [abs(solve(prob, method=method, adaptive=False, first_step=h).y[-1, 0] - exact)
            for h in hs]
    observed = np.polyfit(np.log(hs), np.log(errs), 1)[0]
    assert abs(observed - order) <= 0.5, (method, errs, observed)


@pytest.mark.parametrize("method", ["BDF", "Radau", "rodas4", "rk45"])
def test_adaptive_error_follows_tolerance(method):
    # adaptive methods cannot fix h: check tolerance proportionality instead
    prob = riccati()
    e = [abs(solve(prob, method=method, rtol=r, atol=r * 1e-2).y[-1, 0] - 1 / 3)
         for r in (1e-4, 1e-7)]
    assert e[1] < e[0] / 30 and e[1] < 1e-6


def test_nonautonomous_rodas_and_dense_output():
    prob = ODEProblem(lambda t, y: -y + np.sin(t), [1.0], (0.0, 2.0))
    exact = lambda t: 1.5 * np.exp(-t) + 0.5 * (np.sin(t) - np.cos(t))  # noqa: E731
    for method in ("rodas4", "rk45", "BDF"):
        sol = solve(prob, method=method, rtol=1e-9, atol=1e-12)
        ts = np.linspace(0, 2, 7)
        assert np.allclose(sol(ts)[:, 0], exact(ts), atol=1e-6), method
        assert sol(0.7).shape == (1,)


# -------------------------------------------------------------------- stiff
@pytest.fixture(scope="module")
def robertson_reference():
    f, jac = robertson()
    return solve_ivp(f, (0, 1e5), [1.0, 0, 0], method="Radau", rtol=1e-10, atol=1e-14,
                     jac=jac, t_eval=[40.0, 1e5])


@pytest.mark.parametrize("method", ["rodas4", "BDF", "Radau"])
def test_robertson_matches_scipy_radau(method, robertson_reference):
    f, jac = robertson()
    ref = robertson_reference
    prob = ODEProblem(f, [1.0, 0.0, 0.0], (0.0, 1e5), jac=jac, autonomous=True)
    sol = solve(prob, method=method, rtol=1e-8, atol=1e-12, t_eval=[40.0, 1e5])
    rel = np.abs(sol.y / ref.y.T - 1)
    assert rel.max() <= 1e-4, rel


def test_sparse_stiff_pde_compiled_matches_scipy_bdf():
    n = 40
    u0 = np.sin(np.linspace(0, np.pi, n))
    p = (100.0, 1.0)
    prob = ODEProblem.from_function(heat_rhs, u0, (0.0, 1.0), p, target="numpy")
    J = prob.jac(0.0, prob.y0)
    assert sp.issparse(J) and J.nnz <= 3 * n
    ref = solve_ivp(lambda t, y: heat_rhs(t, y, p), (0, 1), u0, method="BDF", rtol=1e-9,
                    atol=1e-11, jac_sparsity=J)
    for method in ("rodas4", "BDF"):
        sol = solve(prob, method=method, rtol=1e-7, atol=1e-10)
        assert np.allclose(sol.y[-1], ref.y[:, -1], rtol=1e-4, atol=1e-8), method


def test_stats_and_immutability():
    sol = solve(riccati(), method="rodas4", rtol=1e-6)
    assert sol.status is ODEStatus.SUCCESS and sol.status.converged
    assert sol.steps > 0 and sol.rejected >= 0
    assert sol.njev == sol.steps and sol.nlu == sol.steps + sol.rejected
    assert sol.nfev >= 6 * sol.steps
    assert sol.y.shape == (sol.steps + 1, 1) and sol.t[0] == 0 and sol.t[-1] == 2
    with pytest.raises(ValueError):
        sol.y[0, 0] = 1.0
    with pytest.raises(AttributeError):
        sol.steps = 3
    s2 = solve(riccati(), method="rk45", t_eval=[0.5, 1.0])
    assert s2.t.tolist() == [0.5, 1.0] and s2.njev == 0 and s2.nlu == 0
    assert set(s2.stats) == {"nfev", "njev", "nlu", "steps", "rejected"}
    s3 = solve(riccati(), method="BDF")
    assert s3.rejected is None and s3.nlu >= 1 and s3.steps > 0


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize("kwargs, match", [
    ({"y0": [np.nan]}, "non-finite"),
    ({"y0": []}, "empty"),
    ({"tspan": (1.0, 0.0)}, "increasing"),
    ({"rhs": lambda t, y: np.zeros(3)}, "same size"),
    ({"jac": lambda t, y: sp.identity(2)}, "shape"),
])
def test_bad_problem(kwargs, match):
    args = {"rhs": lambda t, y: -y, "y0": [1.0], "tspan": (0.0, 1.0)} | kwargs
    with pytest.raises(DataError, match=match):
        ODEProblem(**args)


def test_bad_options():
    prob = riccati()
    with pytest.raises(ConfigError, match="'rodas4'"):
        solve(prob, method="lsoda")
    with pytest.raises(ConfigError, match="max_steps"):
        solve(prob, max_step_count=3)
    with pytest.raises(ConfigError, match="rtol"):
        solve(prob, rtol=-1.0)
    with pytest.raises(ConfigError, match="form"):
        ODEProblem.from_function(heat_rhs, np.ones(4), (0, 1), (1.0, 1.0), form="weird")


def test_non_convergence_message_and_partial_result():
    blowup = ODEProblem(lambda t, y: y**2, [1.0], (0.0, 2.0))  # y = 1/(1-t): blows up at 1
    with pytest.raises(ConvergenceError, match=r"failed at t=1 .*accepted steps"):
        solve(blowup, method="rk45")
    sol = solve(riccati(), method="rk45", max_steps=3, raise_on_failure=False)
    assert sol.status is ODEStatus.MAX_STEPS and sol.t_final < 2.0
    with pytest.raises(ConvergenceError, match="max_steps"):
        solve(riccati(), method="rodas4", max_steps=3)


# ------------------------------------------------------------- from_function
def test_form_comes_from_the_signature_and_a_trial_call_not_from_names():
    u0 = np.linspace(0.1, 1.0, 6)
    p = (3.0, 0.5)
    ref = ODEProblem.from_function(heat_rhs, u0, (0.0, 1.0), p, target="numpy")

    def inplace(a, b, c, d):  # in-place, names no rule could guess
        a[:] = heat_rhs(d, b, c)

    prob = ODEProblem.from_function(inplace, u0, (0.0, 1.0), p, target="numpy")
    assert np.allclose(prob.rhs(0.0, u0), ref.rhs(0.0, u0))

    def looks_inplace(dy, y, p, t):  # four parameters and in-place names, but returns dy
        return -y

    with pytest.raises(ConfigError, match="did not return None.*form="):
        ODEProblem.from_function(looks_inplace, u0, (0.0, 1.0), p, target="numpy")
    with pytest.raises(ConfigError, match="open positional parameters.*form='oop'"):
        ODEProblem.from_function(lambda *a: -a[1], u0, (0.0, 1.0), p, target="numpy")
    with pytest.raises(ConfigError, match="2 positional parameters.*form="):
        ODEProblem.from_function(lambda t, y: -y, u0, (0.0, 1.0), p, target="numpy")

    def writes_nothing(t, y, p):  # three parameters: out-of-place, but returns None
        pass

    with pytest.raises(ConfigError, match="did not return an array of y0's shape"):
        ODEProblem.from_function(writes_nothing, u0, (0.0, 1.0), p, target="numpy")
    # a declared form is taken as it is, without a trial call
    calls = []

    def counted(du, u, p, t):
        calls.append(type(u).__name__)
        du[:] = heat_rhs(t, u, p)

    ODEProblem.from_function(counted, u0, (0.0, 1.0), p, target="numpy", form="inplace")
    assert "ndarray" not in calls  # only traced calls


def test_from_function_numba_end_to_end():
    n = 16
    u0 = np.sin(np.linspace(0, np.pi, n))
    p = (50.0, 1.0)
    prob = ODEProblem.from_function(heat_rhs, u0, (0.0, 0.5), p)  # numba target
    assert set(prob.timings) >= {"trace", "codegen", "compile", "jac_codegen", "jac_compile"}
    assert "def kernel" in prob.source["rhs"] and prob.autonomous
    assert np.allclose(prob.rhs(0.1, u0), heat_rhs(0.1, u0, p))
    sol = solve(prob, method="auto", rtol=1e-8, atol=1e-10)
    ref = solve_ivp(lambda t, y: heat_rhs(t, y, p), (0, 0.5), u0, method="Radau", rtol=1e-10,
                    atol=1e-12)
    assert np.allclose(sol.y[-1], ref.y[:, -1], rtol=1e-5, atol=1e-9)


def test_from_function_inplace_form_and_shapes():
    u0 = np.linspace(0.1, 1.0, 6)
    p = (3.0, 0.5)
    a = ODEProblem.from_function(heat_inplace, u0, (0.0, 1.0), p, target="numpy")
    b = ODEProblem.from_function(heat_rhs, u0, (0.0, 1.0), p, target="numpy")
    assert np.allclose(a.rhs(0.0, u0), b.rhs(0.0, u0))
    assert np.allclose(a.jac(0.0, u0).toarray(), b.jac(0.0, u0).toarray())

    def grid(t, u, k):  # 2-D state, array parameter, time-dependent forcing
        return -k * u + t

    k = np.arange(1.0, 7.0)
    g = ODEProblem.from_function(grid, np.ones((2, 3)), (0.0, 1.0), k.reshape(2, 3),
                                 target="numpy")
    assert g.n == 6 and g.shape == (2, 3) and not g.autonomous
    sol = solve(g, method="rodas4", rtol=1e-8, atol=1e-10)
    # y' = -k y + t, y(0) = 1: y = e^{-kt} + (kt - 1 + e^{-kt}) / k^2
    exact = np.exp(-k) + (k - 1 + np.exp(-k)) / k**2
    assert np.allclose(sol.y[-1], exact, rtol=1e-6)
    assert g.unflatten(sol.y[-1]).shape == (2, 3)


def test_from_terms_and_reaction_network():
    from pdeflow.symbolic import sym
    from pdeflow.symbolic.reactions import parse_bngl_net

    x, y, k = sym("x"), sym("y"), sym("k")
    prob = ODEProblem.from_terms([-k * x, k * x], [x, y], [1.0, 0.0], (0.0, 1.0), params=[k],
                                 pvalues={"k": 2.0}, target="numpy")
    sol = solve(prob, method="rodas4", rtol=1e-9, atol=1e-12)
    assert np.allclose(sol.y[-1], [np.exp(-2), 1 - np.exp(-2)], rtol=1e-6)
    net = parse_bngl_net("""
begin parameters
  1 k1 1.0
  2 k2 0.5
end parameters
begin species
  1 A() 1
  2 B() 0
  3 C() 0
end species
begin reactions
  1 1 2 k1
  2 2 3 k2
end reactions
""")
    rp = ODEProblem.from_reaction_network(net, (0.0, 3.0), target="numpy")
    sol = solve(rp, rtol=1e-9, atol=1e-12)
    ref = solve_ivp(net.rhs_numpy, (0, 3), net.y0, method="Radau", rtol=1e-11, atol=1e-13)
    assert np.allclose(sol.y[-1], ref.y[:, -1], rtol=1e-6, atol=1e-10)


def test_from_terms_with_the_e_graph_optimizer():
    """optimize=True: the optimized RHS (table form) gives the same solution as without;
    a time-dependent system stays non-autonomous; targets without it are refused."""
    from pdeflow.symbolic import sin, sym

    x, y, k, t = sym("x"), sym("y"), sym("k"), sym("t")
    rhs = [-k * x * y + k * x + k * y, k * x * y - y * (1 + sin(t))]
    kw = dict(params=[k], pvalues=[2.0])
    base = ODEProblem.from_terms(rhs, [x, y], [1.0, 0.5], (0.0, 3.0), **kw)
    opt = ODEProblem.from_terms(rhs, [x, y], [1.0, 0.5], (0.0, 3.0), optimize=True, **kw)
    assert not opt.autonomous and opt.source["rhs"].startswith("v")  # the program listing
    yv = np.array([0.7, 1.9])
    np.testing.assert_allclose(opt.rhs(1.3, yv), base.rhs(1.3, yv), rtol=1e-14)
    a = solve(base, method="rodas4", rtol=1e-10, atol=1e-12)
    b = solve(opt, method="rodas4", rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(b.y[-1], a.y[-1], rtol=1e-9)
    auto = ODEProblem.from_terms(rhs[:1] + [x - y], [x, y], [1.0, 0.5], (0.0, 1.0),
                                 optimize=True, **kw)
    assert auto.autonomous
    with pytest.raises(ConfigError, match="optimize=True compiles for 'numba' or 'python'"):
        ODEProblem.from_terms(rhs, [x, y], [1.0, 0.5], (0.0, 3.0), target="numpy",
                              optimize=True, **kw)


def test_compiled_jacobian_concatenate_slices():
    def f(t, u, p):
        lap = np.concatenate([[0.0], u[:-2] - 2 * u[1:-1] + u[2:], [0.0]])
        return p[0] * lap - p[1] * u**3

    u = np.linspace(0.5, 1.0, 5)
    prob = ODEProblem.from_function(f, u, (0.0, 1.0), (2.0, 1.0), target="numpy")
    expected = np.array([0, -4, -4, -4, 0]) - 3 * u**2
    assert np.allclose(np.diag(prob.jac(0.0, u).toarray()), expected)


def test_stepper_kernels_match_numpy():
    """The compiled stage combination and error norm compute what their numpy forms do."""
    from pdeflow.solvers.ode_kernels import combine, scaled_rms

    rng = np.random.default_rng(7)
    k = rng.standard_normal((6, 50))
    base, w = rng.standard_normal(50), rng.standard_normal(6)
    for m in range(6):
        got = combine(np.empty(50), base, k, w, m, 0.25)
        np.testing.assert_allclose(got, base + 0.25 * (w[:m] @ k[:m]), rtol=1e-13, atol=1e-15)
    err, y, y1 = rng.standard_normal((3, 50))
    atol = np.full(50, 1e-3)
    sc = atol + 1e-2 * np.maximum(np.abs(y), np.abs(y1))
    want = np.sqrt(np.mean((err / sc) ** 2))
    assert scaled_rms(err, y, y1, atol, 1e-2) == pytest.approx(want, rel=1e-13)


# ------------------------------------------------------------ small systems: LSODA
def test_lsoda_matches_scipy_on_robertson_with_and_without_dense_output():
    """method="LSODA": with t_eval and no dense output one Fortran call (odeint), else
    scipy's solve_ivp; both agree with a tight Radau reference."""
    f, jac = robertson()
    prob = ODEProblem(f, [1.0, 0.0, 0.0], (0.0, 40.0), jac=jac)
    t_eval = np.linspace(0.0, 40.0, 9)
    ref = solve_ivp(f, (0.0, 40.0), [1.0, 0.0, 0.0], method="Radau", rtol=1e-12, atol=1e-14,
                    t_eval=t_eval, jac=lambda t, y: jac(t, y).toarray())
    fast = solve(prob, method="LSODA", rtol=1e-9, atol=1e-12, t_eval=t_eval, dense_output=False)
    full = solve(prob, method="LSODA", rtol=1e-9, atol=1e-12, t_eval=t_eval)
    for sol in (fast, full):
        assert sol.status is ODEStatus.SUCCESS and sol.method == "LSODA"
        np.testing.assert_array_equal(sol.t, t_eval)
        np.testing.assert_allclose(sol.y, ref.y.T, rtol=1e-6, atol=1e-12)
        assert sol.njev > 0  # the analytic Jacobian was used
    assert fast.dense is None and fast.steps > 0 and fast.t_final == 40.0
    np.testing.assert_allclose(full(20.0), ref.y[:, 4], rtol=1e-6, atol=1e-12)
    # t_eval inside (t0, t1): only those rows, the integration still ends at t1
    part = solve(prob, method="LSODA", t_eval=[5.0, 10.0], dense_output=False)
    assert part.t.tolist() == [5.0, 10.0] and part.t_final == 40.0


def test_auto_takes_lsoda_for_small_systems_and_bdf_above():
    from pdeflow.solvers.ode import SMALL_SYSTEM

    small = ODEProblem(lambda t, y: -y, np.ones(SMALL_SYSTEM), (0.0, 1.0))
    big = ODEProblem(lambda t, y: -y, np.ones(SMALL_SYSTEM + 1), (0.0, 1.0))
    assert solve(small).method == "LSODA"
    assert solve(big).method == "BDF"
    np.testing.assert_allclose(solve(small).y[-1], np.exp(-1.0), rtol=1e-5)


def test_lsoda_failure_raises_with_the_reason():
    blowup = ODEProblem(lambda t, y: y**2, [1.0], (0.0, 2.0))  # y = 1/(1 - t)
    with pytest.raises(ConvergenceError, match="LSODA"):
        solve(blowup, method="LSODA", t_eval=[0.5, 1.5], dense_output=False)
    sol = solve(blowup, method="LSODA", t_eval=[0.5, 1.5], dense_output=False,
                raise_on_failure=False)
    assert not sol.status.converged and sol.t.tolist() == [0.5] and sol.t_final < 1.5
    assert sol.y[0, 0] == pytest.approx(2.0, rel=1e-5)
    with pytest.raises(ConfigError, match="adaptive=False"):
        solve(blowup, method="LSODA", adaptive=False, t_eval=[1.0], dense_output=False)


def test_small_systems_default_to_straight_line_python_without_a_jacobian():
    """target="auto", jac=None: a small system gets one straight-line Python function and no
    Jacobian (nothing to JIT-compile); above SMALL_SYSTEM states Numba code and the sparse
    Jacobian; jac=True on a small system compiles the Jacobian as numpy code."""
    from pdeflow.solvers.ode import SMALL_SYSTEM
    from pdeflow.symbolic import sym

    xs = [sym(f"x{i}") for i in range(SMALL_SYSTEM + 1)]
    small = ODEProblem.from_terms([-x for x in xs[:3]], xs[:3], np.ones(3), (0.0, 1.0))
    assert small.rhs_compiled.target == "python" and small.jac is None
    sol = solve(small, rtol=1e-9, atol=1e-12, t_eval=[1.0], dense_output=False)
    assert sol.method == "LSODA"
    np.testing.assert_allclose(sol.y[-1], np.exp(-1.0), rtol=1e-7)
    with_jac = ODEProblem.from_terms([-x * x for x in xs[:3]], xs[:3], np.ones(3), (0.0, 1.0),
                                     jac=True)
    np.testing.assert_allclose(with_jac.jac(0.0, np.full(3, 2.0)).toarray(), -4 * np.eye(3))
    big = ODEProblem.from_terms([-x for x in xs], xs, np.ones(len(xs)), (0.0, 1.0))
    assert big.rhs_compiled.target == "numba" and big.jac is not None


def test_reaction_network_with_time_is_non_autonomous():
    from pdeflow.symbolic.reactions import parse_bngl_net

    net = parse_bngl_net("""
begin parameters
  1 k 1.0
end parameters
begin species
  1 A() 0
end species
begin functions
  1 f() k*time()
end functions
begin reactions
  1 0 1 f
end reactions
""")
    prob = ODEProblem.from_reaction_network(net, (0.0, 2.0))
    assert not prob.autonomous
    sol = solve(prob, rtol=1e-10, atol=1e-12, t_eval=[2.0], dense_output=False)
    assert sol.y[-1, 0] == pytest.approx(2.0, rel=1e-8)  # A(t) = k t^2 / 2
    sol = solve(prob, method="rodas4", rtol=1e-10, atol=1e-12)
    assert sol.y[-1, 0] == pytest.approx(2.0, rel=1e-8)


def test_shifted_lu_takes_the_ordering_with_less_fill():
    """A (structurally symmetric) periodic 2-D Laplacian: minimum degree on A^T + A fills
    less than COLAMD (32x32: 38k against 66k entries); the SuperLU path solves with it."""
    from scipy.sparse.linalg import splu

    from pdeflow.solvers.ode_methods import SparseShiftedLU

    m = 32
    ring = sp.diags([1.0, -2.0, 1.0], [-1, 0, 1], shape=(m, m)).tolil()
    ring[0, m - 1] = ring[m - 1, 0] = 1.0
    J = (sp.kron(sp.identity(m), ring) + sp.kron(ring, sp.identity(m))).tocsr()
    J.sort_indices()
    n = J.shape[0]
    lu = SparseShiftedLU(J.indptr, J.indices, n)
    lu._static = None  # the SuperLU path (StaticLU would take this one)
    solve = lu.factor(J.data, 10.0)
    assert lu.ordering == "MMD_AT_PLUS_A"
    W = (sp.identity(n) * 10.0 - J).tocsc()
    fills = {s: (lambda f: f.L.nnz + f.U.nnz)(splu(W, permc_spec=s))
             for s in ("COLAMD", "MMD_AT_PLUS_A")}
    assert fills["MMD_AT_PLUS_A"] < 0.7 * fills["COLAMD"]
    b = np.random.default_rng(0).standard_normal(n)
    np.testing.assert_allclose(W @ solve(b), b, atol=1e-12)


def test_from_function_static_params_binds_numbers_at_trace_time():
    """float(p[i]) and math.exp(p[i]) need static_params=True; the RHS then holds the values."""
    import math

    from pdeflow.errors import TracingError

    def f(t, u, p):
        return -math.exp(p[0]) * u + float(p[1]) * (np.roll(u, 1) - u)

    p = (np.log(2.0), 0.5)
    with pytest.raises(TracingError, match="static_params=True"):
        ODEProblem.from_function(f, np.ones(5), (0.0, 1.0), p, target="numpy")
    prob = ODEProblem.from_function(f, np.ones(5), (0.0, 1.0), p, target="numpy",
                                    static_params=True)
    y = np.arange(5.0)
    np.testing.assert_allclose(prob.rhs(0.0, y), f(0.0, y, p), rtol=1e-14)
    J = prob.jac(0.0, y).toarray()
    np.testing.assert_allclose(np.diag(J), -2.5)
    sol = solve(prob, method="BDF", rtol=1e-10, atol=1e-12)
    assert sol.status.converged
    np.testing.assert_allclose(sol.y[-1], np.exp(-2.0), rtol=1e-7)  # uniform state: u' = -2u
