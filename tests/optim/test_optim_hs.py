"""Each Hock-Schittkowski problem converges from its standard start."""

from __future__ import annotations

import pytest

from pdeflow.solvers.optim import minimize
from pdeflow.solvers.optim.hs_problems import HS_NAMES, hs_problem

# Problems whose KKT matrix stays well enough conditioned for randomized Kaczmarz to reach
# KKT <= 1e-8 quickly.  hs26/hs46/hs49/hs50 have singular or very ill-conditioned Hessians
# at (or on the way to) the solution; Kaczmarz needs ~||K||_F^2 / sigma_min(K)^2 steps there.
KACZMARZ_OK = ("hs6", "hs7", "hs27", "hs28", "hs39", "hs40", "hs42", "hs48")
ILL_CONDITIONED = tuple(n for n in HS_NAMES if n not in KACZMARZ_OK)


def _check(name: str, method: str, **options: object) -> None:
    p = hs_problem(name)
    res = minimize(p, method=method, **options)
    assert res.converged
    assert res.kkt <= 1e-8
    assert abs(res.f - p.f_star) <= 1e-6, (name, res.f, p.f_star)


@pytest.mark.parametrize("name", HS_NAMES)
def test_newton_solves_every_hs_problem(name: str) -> None:
    _check(name, "newton")


@pytest.mark.parametrize("name", ["hs7", "hs39", "hs48", "hs50"])
def test_l1sqp_solves_hs_problems(name: str) -> None:
    _check(name, "l1sqp")


@pytest.mark.parametrize("name", ILL_CONDITIONED)
def test_adasketch_gaussian_full_sketch_solves_ill_conditioned_hs(name: str) -> None:
    # A Gaussian sketch with as many columns as KKT unknowns projects exactly in one step.
    _check(name, "adasketch", sketch="gaussian", sketch_size=8, seed=1)


@pytest.mark.parametrize("name", HS_NAMES)
def test_adasketch_countsketch_solves_every_hs_problem(name: str) -> None:
    # CountSketch hashes the KKT unknowns into min(8, N) columns: a few projections per
    # Newton step, where Kaczmarz needs ~1e5-1e6 steps on the ill-conditioned ones
    _check(name, "adasketch", sketch="countsketch", seed=0, max_iter=60)


@pytest.mark.parametrize("name", KACZMARZ_OK)
def test_adasketch_kaczmarz_solves_well_conditioned_hs(name: str) -> None:
    _check(name, "adasketch", sketch="kaczmarz", seed=0)


def test_kkt_residual_decreases() -> None:
    res = minimize(hs_problem("hs40"), method="adasketch", seed=0)
    kkt = res.log("kkt")
    assert kkt[-1] < 1e-3 * kkt[0]
    assert res.kkt < kkt[-1]
    # Local phase: monotone decrease over the last iterations.
    assert all(b < a for a, b in zip(kkt[-3:], kkt[-2:], strict=False))


@pytest.mark.parametrize("method", ["adasketch", "newton", "l1sqp"])
def test_every_accepted_step_satisfies_armijo(method: str) -> None:
    res = minimize(hs_problem("hs7"), method=method, seed=0)
    for rec in res.history:
        assert rec.slope < 0 or rec.step == 1.0
        slack = 10 * 2.3e-16 * abs(rec.merit)
        assert rec.merit_next <= rec.merit + 1e-4 * rec.step * rec.slope + slack


def test_three_methods_agree() -> None:
    p = hs_problem("hs40")
    results = [minimize(p, method=m, seed=0) for m in ("adasketch", "newton", "l1sqp")]
    for r in results[1:]:
        assert abs(r.f - results[0].f) < 1e-9
        assert max(abs(r.x - results[0].x)) < 1e-6
        assert max(abs(r.lam - results[0].lam)) < 1e-6
