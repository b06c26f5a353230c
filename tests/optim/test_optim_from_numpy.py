"""ConstrainedProblem.from_numpy: derivatives by pdeflow.symbolic tracing, compiled by Numba."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from pdeflow.errors import TracingError
from pdeflow.solvers.optim import ConstrainedProblem, minimize
from pdeflow.solvers.optim.hs_problems import HS_NAMES, hs_problem

TOL = 1e-8


@pytest.mark.parametrize("name", HS_NAMES)
def test_from_numpy_solves_hs_like_from_jax(name: str) -> None:
    pn, pj = hs_problem(name, "numpy"), hs_problem(name, "jax")
    kw = dict(method="adasketch", seed=0, raise_on_failure=False, max_iter=60,
              max_sketch_steps=500_000)
    rn, rj = minimize(pn, **kw), minimize(pj, **kw)
    assert rj.converged and rj.kkt <= TOL
    assert rn.converged and rn.kkt <= TOL
    assert abs(rn.f - pn.f_star) <= 1e-6
    assert abs(rn.f - rj.f) <= 1e-8


def test_from_numpy_derivatives_equal_jax() -> None:
    pn, pj = hs_problem("hs46", "numpy"), hs_problem("hs46", "jax")
    rng = np.random.default_rng(1)
    x, lam = rng.normal(size=5), rng.normal(size=2)
    assert np.allclose(pn.grad(x), pj.grad(x), rtol=1e-12, atol=1e-12)
    assert sp.issparse(pn.jac(x)) and sp.issparse(pn.hess(x, lam))
    assert np.allclose(pn.jac(x).toarray(), pj.jac(x), rtol=1e-12, atol=1e-12)
    assert np.allclose(pn.hess(x, lam).toarray(), pj.hess(x, lam), rtol=1e-12, atol=1e-12)


def test_from_numpy_sparse_hessian_pattern() -> None:
    n = 200
    p = ConstrainedProblem.from_numpy(lambda x: np.sum((x[1:] - x[:-1] ** 2) ** 2),
                                      lambda x: [np.sum(x) - 1.0], np.zeros(n))
    H = p.hess(np.ones(n), np.ones(1))
    assert H.nnz <= 3 * n  # tridiagonal, not dense


def test_from_numpy_data_branch_is_a_tracing_error() -> None:
    def f(x):
        return x[0] ** 2 if x[0] > 0 else -x[0]

    with pytest.raises(TracingError):
        ConstrainedProblem.from_numpy(f, lambda x: [x[0] + x[1]], [1.0, 1.0])
