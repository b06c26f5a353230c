"""GMRES with a reused incomplete LU for the Newton matrices of BDF (pdeflow.solvers.ode_krylov)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.linalg import expm
from scipy.sparse.linalg import spsolve

from pdeflow.errors import ConfigError
from pdeflow.solvers.ode import ODEProblem, solve
from pdeflow.solvers.ode_krylov import KrylovNewtonSolver


def _nonsymmetric(n, seed=0):
    rng = np.random.default_rng(seed)
    A = sp.random(n, n, density=5.0 / n, random_state=rng, format="csr")
    return (A + sp.diags(np.full(n, 6.0) + rng.random(n))).tocsr()


def _weak(**kw):
    """A poor preconditioner (ILU dropping most entries), so GMRES has to iterate."""
    return KrylovNewtonSolver(drop_tol=0.5, fill_factor=1.0, **kw)


def test_gmres_stops_on_the_true_residual_and_on_the_floor():
    A = _nonsymmetric(300)
    b = np.random.default_rng(1).standard_normal(300)
    for rtol in (1e-3, 1e-8):
        solver = _weak(rtol=rtol, max_iterations=80)
        x = solver.factor(A)(b)
        assert 1 < solver.stats["krylov_iterations"] <= 80 and solver.stats["retries"] == 0
        assert np.linalg.norm(b - A @ x) <= 1.01 * rtol * np.linalg.norm(b)
    full = _weak(rtol=1e-12, max_iterations=80)
    full.factor(A)(b)
    floored = _weak(rtol=1e-12, max_iterations=80)
    x = floored.factor(A)(b, None, 1e-2 * np.linalg.norm(b))  # an absolute floor
    assert np.linalg.norm(b - A @ x) <= 1e-2 * np.linalg.norm(b)
    assert floored.stats["krylov_iterations"] < full.stats["krylov_iterations"]


def test_zero_small_and_nonfinite_right_hand_sides():
    A = _nonsymmetric(50)
    solver = _weak()
    solve = solver.factor(A)
    assert not np.any(solve(np.zeros(50)))
    assert not np.any(solve(np.full(50, 1e-9), None, 1e-6))  # already below the floor
    assert solver.stats["krylov_iterations"] == 0
    b = np.ones(50)
    b[3] = np.nan
    assert np.isnan(solve(b)).all()  # passed back for the Newton iteration to reject
    assert solver.stats["lu_fallbacks"] == 0


def test_scaled_solves_bound_the_residual_in_error_weights():
    """Unknowns 8 orders of magnitude apart: with ``scale`` the residual is small in each
    unknown's own units; the plain 2-norm test leaves the small ones' rows unresolved."""
    n = 300
    rng = np.random.default_rng(7)
    J = -_nonsymmetric(n, seed=8)
    scale = np.logspace(-8, 0, n)[rng.permutation(n)]
    A = (sp.identity(n) - 0.5 * J).tocsr()
    x_true = scale * rng.standard_normal(n)
    b = A @ x_true

    def scaled_residual(x):
        return np.linalg.norm((b - A @ x) / scale) / np.linalg.norm(b / scale)

    def solve_with(sc):
        solver = KrylovNewtonSolver(rtol=1e-6, drop_tol=0.1, fill_factor=1, max_iterations=60)
        x = solver.factor(A)(b, sc)
        assert solver.stats["lu_fallbacks"] == 0 and solver.stats["krylov_iterations"] > 1
        return x

    assert scaled_residual(solve_with(scale)) <= 1.01e-6
    assert scaled_residual(solve_with(None)) > 5e-6  # 7.9e-6: 2-norm-converged only


def test_one_ilu_serves_a_sequence_of_shifts():
    J = -_nonsymmetric(400, seed=2)
    b = np.random.default_rng(3).standard_normal(400)
    I = sp.identity(400, format="csr")
    solver = KrylovNewtonSolver(rtol=1e-10, refresh_after=12)
    for c in (0.1, 0.12, 0.15, 0.2, 0.18, 0.25):
        A = (I - c * J).tocsr()
        x = solver.factor(A)(b)
        assert np.allclose(x, spsolve(A.tocsc(), b), rtol=1e-8, atol=1e-10)
    st = solver.stats
    assert st["matrices"] == 6 and st["solves"] == 6
    assert 1 <= st["ilu"] < 6, st  # the preconditioner is reused across shifts
    assert st["retries"] == 0 and st["lu_fallbacks"] == 0


def test_a_matrix_far_from_the_preconditioner_s_rebuilds_it():
    J = -_nonsymmetric(100, seed=6)
    I = sp.identity(100, format="csr")
    b = np.ones(100)
    solver = KrylovNewtonSolver(refresh_after=1000, max_drift=0.5)
    for c in (0.1, 0.11, 0.12):  # close: one ILU
        solver.factor((I - c * J).tocsr())(b)
    assert solver.stats["ilu"] == 1
    solver.factor((I - 1.0 * J).tocsr())(b)  # far: rebuilt although GMRES would cope
    assert solver.stats["ilu"] == 2


def test_a_solve_gmres_cannot_finish_falls_back_to_an_exact_lu_and_says_so():
    A = _nonsymmetric(200, seed=4)
    b = np.ones(200)
    solver = KrylovNewtonSolver(rtol=1e-12, max_iterations=1, drop_tol=0.5, fill_factor=1.0)
    x = solver.factor(A)(b)
    assert np.allclose(A @ x, b, rtol=1e-10, atol=1e-10)
    assert solver.stats["retries"] == 1 and solver.stats["lu_fallbacks"] == 1


@pytest.mark.parametrize("kwargs", [{"rtol": 0.0}, {"rtol": 1.5}, {"max_iterations": 0},
                                    {"refresh_after": -1}, {"max_drift": 0.0}])
def test_bad_krylov_settings(kwargs):
    with pytest.raises(ConfigError):
        KrylovNewtonSolver(**kwargs)


def _dense_linear_problem(n=240, seed=5):
    """y' = -M y with a dense M (heavy LU fill): y(t) = expm(-M t) y0."""
    rng = np.random.default_rng(seed)
    M = np.diag(np.logspace(0, 3, n)) + 0.5 * rng.random((n, n)) / n
    Ms = sp.csr_matrix(M)
    y0 = rng.random(n)
    prob = ODEProblem(lambda t, y: -(Ms @ y), y0, (0.0, 1.0), jac=lambda t, y: -Ms,
                      autonomous=True)
    return prob, expm(-M) @ y0


def test_bdf_auto_takes_gmres_where_the_lu_fills_in_and_matches_the_exact_solution():
    prob, exact = _dense_linear_problem()
    auto = solve(prob, method="BDF", rtol=1e-8, atol=1e-10)
    direct = solve(prob, method="BDF", rtol=1e-8, atol=1e-10, linear_solver="direct")
    assert auto.linear["linear_solver"] == "gmres"
    assert direct.linear["linear_solver"] in ("StaticLU", "SuperLU")
    assert auto.linear["lu_fallbacks"] == 0
    assert auto.nlu == auto.linear["ilu"] < auto.linear["matrices"]
    assert auto.stats["linear"]["krylov_iterations"] >= auto.linear["solves"]
    for sol in (auto, direct):
        assert np.allclose(sol.y[-1], exact, rtol=1e-5, atol=1e-9)


def test_bdf_gmres_on_a_sparse_pde_matches_direct():
    n = 200
    lap = sp.diags([np.ones(n - 1), -2 * np.ones(n), np.ones(n - 1)], [-1, 0, 1]) * n * n
    lap = lap.tocsr()

    def f(t, u):
        return lap @ u - u**3

    def jac(t, u):
        return (lap - sp.diags(3 * u**2)).tocsr()

    u0 = np.sin(np.pi * np.linspace(0, 1, n))
    prob = ODEProblem(f, u0, (0.0, 0.05), jac=jac, autonomous=True)
    g = solve(prob, method="BDF", rtol=1e-8, atol=1e-10, linear_solver="gmres")
    d = solve(prob, method="BDF", rtol=1e-8, atol=1e-10, linear_solver="direct")
    assert g.linear["linear_solver"] == "gmres" and d.linear["linear_solver"] == "StaticLU"
    assert np.allclose(g.y[-1], d.y[-1], rtol=1e-5, atol=1e-8)


def test_bad_linear_solver_options():
    prob, _ = _dense_linear_problem(n=20)
    with pytest.raises(ConfigError, match="'linear_solver'.*'gmres'"):
        solve(prob, method="BDF", linear_solver="cg")
    with pytest.raises(ConfigError, match="method='BDF'"):
        solve(prob, method="rodas4", linear_solver="gmres")
    no_jac = ODEProblem(lambda t, y: -y, np.ones(3), (0.0, 1.0))
    with pytest.raises(ConfigError, match="no Jacobian"):
        solve(no_jac, method="BDF", linear_solver="direct")
    dense_jac = ODEProblem(lambda t, y: -y, np.ones(3), (0.0, 1.0),
                           jac=lambda t, y: -np.eye(3))
    with pytest.raises(ConfigError, match="sparse Jacobian"):
        solve(dense_jac, method="BDF", linear_solver="gmres")


def test_bdf_gmres_keeps_the_direct_step_sequence_on_a_badly_scaled_network(reaction_data):
    """Repressilator species span ~10 orders of magnitude: a 2-norm GMRES test took 97k
    steps to t=8000 here; the error-weighted one takes the direct solver's ~550."""
    from pdeflow.symbolic.reactions import load_bngl_net

    net = load_bngl_net(reaction_data("Repressilator.net"))
    prob = ODEProblem.from_reaction_network(net, (0.0, 8000.0), target="numpy", jac=True)
    d = solve(prob, method="BDF", rtol=1e-8, atol=1e-8, linear_solver="direct")
    g = solve(prob, method="BDF", rtol=1e-8, atol=1e-8, linear_solver="gmres")
    assert g.steps <= 1.05 * d.steps, (g.steps, d.steps)
    assert g.linear["ilu"] < g.linear["matrices"]
    assert np.allclose(g.y[-1], d.y[-1], rtol=1e-4, atol=1e-6)
