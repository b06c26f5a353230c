"""Bad input gets a typed error; failures end with a clear status or ConvergenceError."""

from __future__ import annotations

import numpy as np
import pytest

from pdeflow.errors import ConfigError, ConvergenceError, DataError
from pdeflow.solvers.optim import ConstrainedProblem, OptimStatus, minimize
from pdeflow.solvers.optim.hs_problems import hs_problem


def _quadratic(**overrides: object) -> ConstrainedProblem:
    kw: dict = dict(
        f=lambda x: float(x @ x), grad=lambda x: 2 * x,
        cons=lambda x: np.array([x.sum() - 1.0]), jac=lambda x: np.ones((1, x.size)),
        hess=lambda x, lam: 2 * np.eye(x.size), x0=np.zeros(3),
    )
    kw.update(overrides)
    return ConstrainedProblem(**kw)


def test_nonfinite_x0_is_data_error() -> None:
    with pytest.raises(DataError, match="non-finite"):
        minimize(_quadratic(), x0=[0.0, np.nan, 1.0])
    with pytest.raises(DataError, match="non-finite"):
        _quadratic(x0=np.array([np.inf, 0.0]))


def test_wrong_shapes_are_data_errors() -> None:
    with pytest.raises(DataError, match=r"shape \(3,\)"):
        minimize(_quadratic(), x0=np.zeros(4))
    with pytest.raises(DataError, match="grad must return shape"):
        minimize(_quadratic(grad=lambda x: np.zeros(2)))
    with pytest.raises(DataError, match="jac must return shape"):
        minimize(_quadratic(jac=lambda x: np.ones((2, 3))))
    with pytest.raises(DataError, match="1-D"):
        minimize(_quadratic(), x0=np.zeros((3, 1)))


def test_config_errors() -> None:
    with pytest.raises(ConfigError, match="method"):
        minimize(_quadratic(), method="bfgs")
    with pytest.raises(ConfigError, match="unknown option"):
        minimize(_quadratic(), tolerance=1e-3)
    with pytest.raises(ConfigError, match=r"'tol' parameter of minimize must be a float"):
        minimize(_quadratic(), tol=-1.0)
    with pytest.raises(ConfigError, match="sketch"):
        minimize(_quadratic(), sketch="fourier")
    with pytest.raises(ConfigError, match="second derivatives"):
        ConstrainedProblem(f=lambda x: 0.0, grad=lambda x: x, cons=lambda x: x,
                           jac=lambda x: np.eye(x.size))


def test_non_convergence_raises_with_reason_and_iterations() -> None:
    with pytest.raises(ConvergenceError, match=r"after 2 iterations with MAX_ITER"):
        minimize(hs_problem("hs6"), method="newton", max_iter=2)
    res = minimize(hs_problem("hs6"), method="newton", max_iter=2, raise_on_failure=False)
    assert res.status is OptimStatus.MAX_ITER and not res.converged


@pytest.mark.parametrize("method", ["adasketch", "newton", "l1sqp"])
def test_inconsistent_constraints_end_with_singular_status(method: str) -> None:
    p = _quadratic(cons=lambda x: np.array([x.sum() - 1.0, x.sum() - 2.0]),
                   jac=lambda x: np.ones((2, x.size)))
    res = minimize(p, method=method, raise_on_failure=False)
    assert res.status is OptimStatus.SINGULAR_KKT
    with pytest.raises(ConvergenceError, match="rank-deficient"):
        minimize(p, method=method)


def test_nan_objective_ends_with_nonfinite_status() -> None:
    p = _quadratic(f=lambda x: float(np.sqrt(x[0]) + x @ x), x0=np.array([-1.0, 0.0, 0.0]))
    with pytest.warns(RuntimeWarning):
        res = minimize(p, raise_on_failure=False)
    assert res.status is OptimStatus.NONFINITE
    assert "NaN" in res.status.message


def test_penalty_eta1_increases_when_needed() -> None:
    res = minimize(hs_problem("hs6"), method="newton", eta1=1e-8)
    assert res.converged
    eta1 = res.log("eta1")
    assert eta1.max() > 1e-8 and np.all(np.diff(eta1) >= 0)


def test_penalty_eta2_decreases_at_accuracy_floor() -> None:
    # A huge eta2 makes the ||grad L||^2 term dominate; the driver must lower it.
    res = minimize(hs_problem("hs7"), method="newton", eta2=1e6)
    assert res.converged
    assert res.log("eta2").min() <= 1e6


def test_seeded_determinism() -> None:
    p = hs_problem("hs7")
    a = minimize(p, method="adasketch", seed=5)
    b = minimize(p, method="adasketch", seed=5)
    c = minimize(p, method="adasketch", seed=6)
    assert np.array_equal(a.x, b.x) and a.history == b.history
    assert a.sketch_steps != c.sketch_steps


def test_result_is_immutable() -> None:
    res = minimize(_quadratic())
    with pytest.raises(ValueError):
        res.x[0] = 1.0
    with pytest.raises(AttributeError):
        res.status = OptimStatus.MAX_ITER  # type: ignore[misc]
