"""Bounds and inequality constraints: the primal-dual interior-point path of minimize."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.optimize as so

from pdeflow.errors import ConfigError, ConvergenceError, DataError
from pdeflow.solvers.optim import ConstrainedProblem, OptimStatus, minimize
from pdeflow.solvers.optim.hs_problems import HS_INEQ_NAMES, hs_problem


@pytest.mark.parametrize("source", ["numpy", "jax"])
@pytest.mark.parametrize("name", HS_INEQ_NAMES)
def test_hs_inequality_problems_reach_published_optimum(name: str, source: str) -> None:
    p = hs_problem(name, source)
    for method in ("newton", "adasketch"):
        res = minimize(p, method=method)
        assert res.converged and res.kkt <= 1e-8
        assert abs(res.f - p.f_star) <= 1e-6 * max(1.0, abs(p.f_star))


def _rosen(x):
    return 100.0 * (x[1] - x[0] ** 2) ** 2 + (1 - x[0]) ** 2


@pytest.mark.parametrize("with_equality", [False, True])
def test_bounded_rosenbrock_agrees_with_slsqp_for_every_method(with_equality: bool) -> None:
    bounds = [(-1.5, 0.8), (-0.5, 2.0)]
    c = (lambda x: [x[0] + x[1] - 1.2]) if with_equality else None
    x0 = [0.0, 0.0] if with_equality else [-1.2, 1.0]
    p = ConstrainedProblem.from_numpy(_rosen, c, x0)
    cons = [{"type": "eq", "fun": lambda x: x[0] + x[1] - 1.2}] if with_equality else []
    ref = so.minimize(lambda x: _rosen(x), x0, method="SLSQP", bounds=bounds,
                      constraints=cons, options={"ftol": 1e-14, "maxiter": 500})
    for method in ("newton", "adasketch"):
        res = minimize(p, method=method, bounds=bounds)
        assert res.kkt <= 1e-8
        assert np.allclose(res.x, ref.x, atol=1e-6)
        assert res.f == pytest.approx(ref.fun, rel=1e-6)
        lower, upper = res.info["bound_multipliers"]
        assert (upper[0] > 1e-3) == (not with_equality)  # x0 <= 0.8 is active without c


def test_bounds_from_scipy_bounds_object() -> None:
    p = ConstrainedProblem.from_numpy(lambda x: (x[0] - 3) ** 2 + (x[1] + 1) ** 2, None,
                                      [0.0, 0.0])
    res = minimize(p, method="newton", bounds=so.Bounds([0, 0], [1, 1]))
    assert np.allclose(res.x, [1.0, 0.0], atol=1e-7)


def test_bad_bounds_are_clear_errors() -> None:
    p = hs_problem("hs35", "numpy")
    with pytest.raises(DataError, match="inconsistent"):
        minimize(p, bounds=[(1, 0), (0, 1), (0, 1)])
    with pytest.raises(ConfigError, match="3 \\(low, high\\) pairs"):
        minimize(p, bounds=[(0, 1)])
    with pytest.raises(ConfigError, match="equality constraints only"):
        minimize(p, method="l1sqp")


def test_nonfinite_function_is_named() -> None:
    p = ConstrainedProblem.from_numpy(lambda x: np.log(x[0] - 5.0) + x[1] ** 2,
                                      lambda x: [x[0] + x[1] - 1.0], [1.0, 0.0])
    res = minimize(p, method="newton", raise_on_failure=False)
    assert res.status is OptimStatus.NONFINITE
    assert "'f'" in res.info["nonfinite"]
    with pytest.raises(ConvergenceError, match="the function 'f' returned NaN"):
        minimize(p, method="newton")


def test_inconsistent_constraints_with_bounds_get_a_status() -> None:
    # x0 + x1 = 1 and x0 + x1 = 2 cannot both hold: rank-deficient and inconsistent.
    p = ConstrainedProblem.from_numpy(lambda x: x @ x, lambda x: [x[0] + x[1] - 1.0,
                                                                 x[0] + x[1] - 2.0],
                                      [0.5, 0.5], bounds=[(0, 3), (0, 3)])
    res = minimize(p, method="newton", raise_on_failure=False, max_iter=50)
    assert res.status is OptimStatus.SINGULAR_KKT
    assert "inconsistent" in res.info["reason"]
    assert res.iterations < 50


def test_redundant_constraints_are_regularized_and_solved() -> None:
    # the same constraint twice: rank-deficient but consistent; IPOPT-style delta_c works
    p = ConstrainedProblem.from_numpy(lambda x: x @ x, lambda x: [x[0] + x[1] - 1.0,
                                                                 2 * x[0] + 2 * x[1] - 2.0],
                                      [0.2, 0.2], bounds=[(0, 3), (0, 3)])
    res = minimize(p, method="newton")
    assert np.allclose(res.x, [0.5, 0.5], atol=1e-7)
