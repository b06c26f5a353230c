"""Reduced-space Newton-CG on the PDE-constrained problems of datagen.families.control."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.optimize as so

from pdeflow.datagen.families.control import (
    darcy_inversion,
    poisson_control,
    semilinear_control,
)
from pdeflow.errors import ConfigError, DataError
from pdeflow.solvers.optim import minimize
from pdeflow.solvers.optim.nystrom import nystrom
from pdeflow.solvers.optim.pde import LinearCounts, ReducedState

PROBLEMS = {
    "semilinear": lambda n, b: semilinear_control(n, bounds=(-60.0, 60.0) if b else None),
    "poisson": lambda n, b: poisson_control(n, bounds=(-60.0, 60.0) if b else None),
    "darcy": lambda n, b: darcy_inversion(n, gamma=1.0, delta=1.0,
                                          bounds=(-0.2, 0.2) if b else None),
}


def _state(p, z):
    return ReducedState(p, z, p.w0, LinearCounts())


def _slope(eps: np.ndarray, rem: np.ndarray) -> float:
    return float(np.polyfit(np.log10(eps), np.log10(rem), 1)[0])


@pytest.mark.parametrize("name", ["semilinear", "darcy"])
def test_taylor_gradient_and_hessian_action(name: str) -> None:
    p = PROBLEMS[name](18, False)
    rng = np.random.default_rng(0)
    scale = 20.0 if name == "semilinear" else 0.3
    z = scale * rng.standard_normal(p.n_control)
    v = scale * rng.standard_normal(p.n_control)
    st = _state(p, z)
    Hv = st.hessian_action(v)
    eps = 10.0 ** -np.arange(0.0, 3.5, 0.5)
    r_grad, r_hess = [], []
    for e in eps:
        s2 = ReducedState(p, z + e * v, st.w, LinearCounts())
        r_grad.append(abs(s2.value - st.value - e * st.grad @ v))
        r_hess.append(np.linalg.norm(s2.grad - st.grad - e * Hv))
    r_grad, r_hess = np.array(r_grad), np.array(r_hess)
    # second-order decay over 6 decades of the remainder
    assert r_grad[0] / r_grad[-1] >= 1e6 * 0.5 and abs(_slope(eps, r_grad) - 2) < 0.15
    assert r_hess[0] / r_hess[-1] >= 1e6 * 0.5 and abs(_slope(eps, r_hess) - 2) < 0.15


def _lbfgs_reference(p) -> float:
    cache: dict = {}

    def fun(z):
        st = _state(p, z)
        cache["w"] = st.w
        return st.value, st.grad

    bounds = None if p.bounds is None else list(zip(*p.bounds, strict=True))
    res = so.minimize(fun, np.clip(p.z0, *(p.bounds or (-np.inf, np.inf))), jac=True,
                      method="L-BFGS-B", bounds=bounds,
                      options={"ftol": 1e-16, "gtol": 1e-13, "maxiter": 20000,
                               "maxfun": 40000, "maxcor": 30})
    return float(res.fun)


@pytest.mark.parametrize("bounded", [False, True])
@pytest.mark.parametrize("name", sorted(PROBLEMS))
def test_newton_cg_reaches_kkt_and_reference_objective(name: str, bounded: bool) -> None:
    p = PROBLEMS[name](18, bounded)
    res = minimize(p, method="adasketch")
    assert res.converged and res.kkt <= 1e-8
    ref = _lbfgs_reference(p)
    assert res.f == pytest.approx(ref, rel=1e-6)
    if bounded:
        lo, hi = p.bounds
        assert np.all(res.z >= lo) and np.all(res.z <= hi)
        assert np.any(res.z == lo) or np.any(res.z == hi)  # the bounds are active


@pytest.mark.parametrize("bounded", [False, True])
@pytest.mark.parametrize("name", sorted(PROBLEMS))
def test_sketched_and_plain_newton_cg_agree_at_64(name: str, bounded: bool) -> None:
    p = PROBLEMS[name](66, bounded)
    a = minimize(p, method="adasketch")
    b = minimize(p, method="newton")
    assert a.kkt <= 1e-8 and b.kkt <= 1e-8
    assert a.f == pytest.approx(b.f, rel=1e-6)


def test_nystrom_sketch_cuts_cg_iterations() -> None:
    p = semilinear_control(34)
    a = minimize(p, method="adasketch")
    b = minimize(p, method="newton")
    assert sum(a.cg_iterations) * 2 <= sum(b.cg_iterations)
    assert a.info["sketch_rank"] and a.info["sketch_rank"][0] >= 16


def test_nystrom_captures_the_leading_spectrum() -> None:
    p = semilinear_control(18)
    st = _state(p, np.zeros(p.n_control))
    H = np.column_stack([st.hessian_action(e, gauss_newton=True, with_reg=False)
                         for e in np.eye(p.n_control)])
    top = np.sort(np.linalg.eigvalsh(H))[::-1]
    pre = nystrom(lambda V: st.hessian_action(V, gauss_newton=True, with_reg=False),
                  p.n_control, p.reg_scale, np.random.default_rng(0))
    k = min(10, pre.rank)
    assert np.allclose(pre.lam[:k], top[:k], rtol=1e-6)


def test_nonfinite_residual_is_named() -> None:
    p = semilinear_control(10)
    bad = type(p)(**{**{f: getattr(p, f) for f in p.__dataclass_fields__},
                     "residual": lambda w, z: np.full(w.shape, np.nan)})
    with pytest.raises(DataError, match="'residual'"):
        minimize(bad, method="adasketch")


def test_reduced_problem_rejects_x0_and_unknown_options() -> None:
    p = semilinear_control(10)
    with pytest.raises(ConfigError):
        minimize(p, x0=np.zeros(p.n_control))
    with pytest.raises(ConfigError, match="unknown option"):
        minimize(p, sketch_size=3)


def test_full_space_minres_with_amg_block_preconditioner() -> None:
    from pdeflow.solvers.optim.fullspace import solve_full_space

    its = {}
    for n in (18, 34):
        p = poisson_control(n)
        full = solve_full_space(p)
        red = minimize(p, method="adasketch")
        assert full.converged and full.kkt <= 1e-8
        assert full.f == pytest.approx(red.f, rel=1e-8)
        its[n] = full.cg_iterations[0]
    assert its[34] <= 1.5 * its[18]  # MINRES iterations do not grow with the mesh
