"""Problem families and the GRF sampler."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse.linalg as spla

from pdeflow.errors import ConfigError
from pdeflow.solvers import (
    Darcy,
    Darcy3D,
    Helmholtz,
    HelmholtzIndefinite,
    Poisson,
    diffusion_matrix,
    grf,
    make_family,
)


def test_grf_is_seeded_and_has_the_right_spectrum():
    a = grf((64, 64), np.random.default_rng(0))
    b = grf((64, 64), np.random.default_rng(0))
    np.testing.assert_array_equal(a, b)
    fields = np.stack([grf((64, 64), np.random.default_rng(i)) for i in range(40)])
    assert abs(fields.mean()) < 0.2
    # smooth: neighbouring cells are strongly correlated
    c = np.corrcoef(fields[:, :-1, :].ravel(), fields[:, 1:, :].ravel())[0, 1]
    assert c > 0.95
    with pytest.raises(ConfigError, match="alpha"):
        grf((8, 8), np.random.default_rng(0), alpha=0.5)


def test_samples_are_reproducible_per_index():
    fam = Darcy(size=16, seed=3)
    np.testing.assert_array_equal(fam.sample(5), Darcy(size=16, seed=3).sample(5))
    assert not np.array_equal(fam.sample(5), fam.sample(6))
    assert not np.array_equal(fam.sample(5), Darcy(size=16, seed=4).sample(5))


def test_threshold_darcy_values():
    K = Darcy(size=32, coefficient="threshold").sample(0)
    assert set(np.unique(K)) == {3.0, 12.0}


@pytest.mark.parametrize(
    "fam",
    [
        Darcy(size=12),
        Darcy(size=12, coefficient="threshold"),
        Darcy3D(size=6),
        Poisson(size=12),
        Helmholtz(size=12),
    ],
    ids=lambda f: f.name,
)
def test_spd_families(fam):
    A, b = fam.assemble(fam.sample(0))
    assert A.shape == (fam.n, fam.n) and b.shape == (fam.n,)
    assert abs(A - A.T).max() == 0
    assert np.linalg.eigvalsh(A.toarray()).min() > 0
    assert fam.symmetric


def test_helmholtz_indefinite_has_negative_eigenvalues():
    fam = HelmholtzIndefinite(size=30)
    A, _ = fam.assemble(fam.sample(0))
    ev = np.linalg.eigvalsh(A.toarray())
    assert (ev < 0).sum() >= 20 and (ev > 0).sum() > 700


def test_diffusion_matrix_is_second_order():
    # -u'' = pi^2 sin(pi x) sin(pi y) * 2 with u = sin sin; error decreases ~ h^2
    errs = []
    for s in (16, 32):
        x = (np.arange(s) + 0.5) / s
        u = np.outer(np.sin(np.pi * x), np.sin(np.pi * x))
        f = 2 * np.pi**2 * u
        uh = spla.spsolve(diffusion_matrix(np.ones((s, s))).tocsc(), f.ravel())
        errs.append(np.abs(uh - u.ravel()).max())
    assert errs[1] < errs[0] / 3


def test_poisson_shares_one_matrix():
    fam = Poisson(size=10)
    A1, b1 = fam.assemble(fam.sample(0))
    A2, b2 = fam.assemble(fam.sample(1))
    assert A1 is A2 and not np.array_equal(b1, b2)


def test_make_family_rejects_unknowns():
    assert make_family("darcy", size=8).n == 64
    with pytest.raises(ConfigError, match="Unknown family"):
        make_family("heat")
    with pytest.raises(ConfigError, match="Bad options"):
        make_family("darcy", sizee=8)
    with pytest.raises(ConfigError, match="coefficient"):
        Darcy(coefficient="binary")
