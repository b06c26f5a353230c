"""Problem sources (JAX autodiff vs hand-written numpy), the logistic and PDE problems."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from pdeflow.solvers.optim import ConstrainedProblem, minimize
from pdeflow.solvers.optim.logistic import load_dataset, logistic_problem
from pdeflow.solvers.optim.poisson_control import poisson_control


def test_jax_derivatives_match_hand_written_numpy() -> None:
    num = logistic_problem("breast_cancer", seed=0)
    X, y = load_dataset("breast_cancer")
    Xy = X * y[:, None]
    rng = np.random.default_rng(0)
    A = rng.standard_normal((10, X.shape[1]))
    w_feas = rng.standard_normal(X.shape[1])
    w_feas /= np.linalg.norm(w_feas)
    b = A @ w_feas

    def f(w):
        return jnp.mean(jnp.logaddexp(0.0, -(Xy @ w)))

    def c(w):
        return jnp.concatenate([A @ w - b, jnp.array([w @ w - 1.0])])

    jx = ConstrainedProblem.from_jax(f, c, num.x0, dense_hessian=False)
    w = np.random.default_rng(1).standard_normal(X.shape[1]) * 0.3
    lam = np.random.default_rng(2).standard_normal(11)
    v = np.random.default_rng(3).standard_normal(X.shape[1])
    np.testing.assert_allclose(jx.f(w), num.f(w), rtol=1e-12)
    np.testing.assert_allclose(jx.grad(w), num.grad(w), rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(jx.cons(w), num.cons(w), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(jx.jac(w), num.jac(w), rtol=1e-12, atol=1e-13)
    assert jx.hess is None  # only the HVP is compiled when dense_hessian=False
    np.testing.assert_allclose(jx.hvp(w, lam, v), num.hess(w, lam) @ v, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", ["breast_cancer", "digits"])
def test_logistic_regression_converges_feasible(name: str) -> None:
    p = logistic_problem(name)
    res = minimize(p, method="newton")
    assert res.kkt <= 1e-8
    assert abs(res.x @ res.x - 1.0) < 1e-9


def test_logistic_adasketch_matches_newton() -> None:
    p = logistic_problem("breast_cancer")
    a = minimize(p, method="adasketch", seed=0)
    b = minimize(p, method="newton")
    assert abs(a.f - b.f) < 1e-8
    assert a.sketch_steps > a.iterations  # really iterative


def test_poisson_control_newton_one_step() -> None:
    res = minimize(poisson_control(8), method="newton")
    assert res.converged and res.iterations == 1 and res.kkt <= 1e-8
    M = 8 * 8
    w, z = res.x[:M], res.x[M:]
    from pdeflow.solvers.optim.poisson_control import laplacian_2d

    np.testing.assert_allclose(laplacian_2d(8) @ w, z, atol=1e-9)


def test_hvp_only_problem() -> None:
    p = ConstrainedProblem(
        f=lambda x: (x[0] + x[1]) ** 2 + (x[1] + x[2]) ** 2,
        grad=lambda x: np.array([2 * (x[0] + x[1]), 2 * (x[0] + x[1]) + 2 * (x[1] + x[2]),
                                 2 * (x[1] + x[2])]),
        cons=lambda x: np.array([x[0] + 2 * x[1] + 3 * x[2] - 1]),
        jac=lambda x: np.array([[1.0, 2.0, 3.0]]),
        hvp=lambda x, lam, v: np.array([2 * (v[0] + v[1]), 2 * v[0] + 4 * v[1] + 2 * v[2],
                                        2 * (v[1] + v[2])]),
        x0=np.array([-4.0, 1.0, 1.0]),
    )
    res = minimize(p, method="newton")
    np.testing.assert_allclose(res.x, [0.5, -0.5, 0.5], atol=1e-9)
