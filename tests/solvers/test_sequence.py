"""solve_sequence: solutions in the original order, every strategy, auto reports its pick."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse.linalg as spla

from pdeflow.datagen import families
from pdeflow.errors import ConfigError, ConvergenceError
from pdeflow.solvers import (
    AMG,
    SolveStatus,
    solve_sequence,
)


@pytest.fixture(scope="module")
def darcy():
    return families.get("darcy", resolution=20, seed=1).systems(12)


def _check(systems, res, rtol):
    assert res.solutions.shape == (len(systems), systems[0][1].shape[0])
    for (A, b), x in zip(systems, res.solutions, strict=True):
        assert np.linalg.norm(A @ x - b) <= 1.01 * rtol * np.linalg.norm(b)


@pytest.mark.parametrize(
    ("method", "pc"),
    [
        ("skr", None),
        ("skr", "ilu"),
        ("skr-cg", None),
        ("skr-cg", "amg"),
        ("gmres", "jacobi"),
        ("cg", "amg"),
        ("direct", None),
    ],
)
def test_every_strategy_solves_in_original_order(darcy, method, pc):
    params, systems = darcy
    res = solve_sequence(systems, method, params=params, preconditioner=pc, rtol=1e-9)
    _check(systems, res, 1e-9)
    assert res.method == method
    assert np.array_equal(np.sort(res.order), np.arange(len(systems)))
    assert [r.index for r in res.reports] == list(range(len(systems)))
    assert sorted(r.position for r in res.reports) == list(range(len(systems)))


def test_skr_uses_fewer_iterations_than_gmres(darcy):
    params, systems = darcy
    base = solve_sequence(systems, "gmres", rtol=1e-8)
    skr = solve_sequence(systems, "skr", params=params, rtol=1e-8)
    assert skr.iterations.sum() < 0.6 * base.iterations.sum()
    assert skr.order.tolist() != list(range(len(systems)))  # it did reorder


def test_auto_reports_its_choice(darcy):
    params, systems = darcy
    res = solve_sequence(systems, "auto", params=params, rtol=1e-8)
    _check(systems, res, 1e-8)
    assert res.choice["picked"].split("+")[0] == res.method
    assert res.method in ("direct", "skr-cg", "cg")
    assert all(v > 0 for v in res.choice["estimated_seconds_per_system"].values())


def test_auto_on_nonsymmetric_candidates():
    params, systems = families.get("helmholtz", k0=30.0, contrast=0.1, resolution=16).systems(6)
    res = solve_sequence(systems, "auto", params=params, rtol=1e-8)
    assert "indefinite" in res.choice["reason"]
    assert res.method in ("direct", "skr", "gmres")
    _check(systems, res, 1e-8)


def test_direct_reuses_a_shared_matrix():
    params, systems = families.get("poisson-cell", resolution=16).systems(5)
    res = solve_sequence(systems, "direct")
    _check(systems, res, 1e-10)


def test_explicit_order_and_bad_order(darcy):
    params, systems = darcy
    perm = np.arange(len(systems))[::-1]
    res = solve_sequence(systems, "skr", order=perm)
    assert np.array_equal(res.order, perm)
    with pytest.raises(ConfigError, match="permutation"):
        solve_sequence(systems, "skr", order=[0, 0, 1])
    with pytest.raises(ConfigError, match="'method' parameter"):
        solve_sequence(systems, "fastest")


def test_failure_raises_or_is_recorded(darcy):
    params, systems = darcy
    with pytest.raises(ConvergenceError, match="DIVERGED_ITS"):
        solve_sequence(systems, "gmres", max_iter=3)
    res = solve_sequence(systems, "gmres", max_iter=3, raise_on_failure=False)
    assert all(r.status is SolveStatus.DIVERGED_ITS for r in res.reports)


def test_preconditioner_refresh_reuses_hierarchy():
    params, systems = families.get("helmholtz", resolution=24).systems(8)
    res = solve_sequence(
        systems, "skr-cg", params=params, preconditioner=AMG(), pc_refresh=4, rtol=1e-8
    )
    _check(systems, res, 1e-8)
    ref = spla.spsolve(systems[3][0].tocsc(), systems[3][1])
    np.testing.assert_allclose(res.solutions[3], ref, atol=1e-6 * np.abs(ref).max())
