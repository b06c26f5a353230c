"""The SKR paper's families in the one family layer (issue #20, item 1): the former
``pdeflow.solvers.families`` (Darcy, Darcy3D, Poisson, Helmholtz, HelmholtzIndefinite) are
datagen families; their matrices come from ``pdeflow.datagen.families.assembly`` and their
random fields from the one GRF of ``pdeflow.datagen.samplers``."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse.linalg as spla

from pdeflow.datagen import families, samplers
from pdeflow.datagen.families.assembly import (
    diffusion_matrix,
    dirichlet_laplacian,
    gaussian_source,
    helmholtz_matrix,
)
from pdeflow.errors import ConfigError

SKR = {
    "darcy": ("darcy", {}),
    "darcy-threshold": ("darcy", {"coefficient": "threshold"}),
    "darcy3d": ("darcy", {"dim": 3}),
    "poisson": ("poisson-cell", {}),
    "helmholtz": ("helmholtz", {}),
}


def test_neumann_grf_is_seeded_and_smooth():
    a = samplers.grf((64, 64), np.random.default_rng(0))
    np.testing.assert_array_equal(a, samplers.grf((64, 64), np.random.default_rng(0)))
    fields = np.stack([samplers.grf((64, 64), np.random.default_rng(i)) for i in range(40)])
    assert abs(fields.mean()) < 0.2
    c = np.corrcoef(fields[:, :-1, :].ravel(), fields[:, 1:, :].ravel())[0, 1]
    assert c > 0.95
    with pytest.raises(ConfigError, match="alpha"):
        samplers.grf((8, 8), np.random.default_rng(0), alpha=0.5)


@pytest.mark.parametrize("label", list(SKR))
def test_skr_families_are_spd_and_reproducible(label):
    name, opts = SKR[label]
    size = 6 if opts.get("dim") == 3 else 12
    fam = families.get(name, resolution=size, seed=3, **opts)
    feats, systems = fam.systems(2, start=5)
    (A, b), _ = systems
    n = size ** opts.get("dim", 2)
    assert A.shape == (n, n) and b.shape == (n,) and abs(A - A.T).max() == 0
    assert np.linalg.eigvalsh(A.toarray()).min() > 0
    again = families.get(name, resolution=size, seed=3, **opts).systems(1, start=5)[0]
    np.testing.assert_array_equal(feats[:1], again)
    assert not np.array_equal(feats[0], families.get(name, resolution=size, seed=4,
                                                     **opts).systems(1, start=5)[0][0])


def test_threshold_darcy_and_cell_poisson():
    a = families.get("darcy", resolution=32, coefficient="threshold").sample(0)["a"]
    assert set(np.unique(a)) == {3.0, 12.0}
    fam = families.get("poisson-cell", resolution=10)
    (A1, b1), (A2, b2) = fam.systems(2)[1]
    assert A1 is A2 is dirichlet_laplacian(10) and not np.array_equal(b1, b2)
    with pytest.raises(ConfigError, match="coefficient"):
        families.get("darcy", coefficient="binary")
    with pytest.raises(ConfigError, match="'dim'"):
        families.get("darcy", dim=4)


def test_indefinite_helmholtz_has_negative_eigenvalues():
    fam = families.get("helmholtz", resolution=30, k0=30.0, contrast=0.1)
    A, b = fam.assemble(fam.sample(0))
    ev = np.linalg.eigvalsh(A.toarray())
    assert (ev < 0).sum() >= 20 and (ev > 0).sum() > 700
    k = fam.sample(0)["k"]
    assert abs(A - helmholtz_matrix(k)).max() == 0
    np.testing.assert_array_equal(b, gaussian_source(30))


def test_diffusion_matrix_is_second_order():
    errs = []
    for s in (16, 32):
        x = (np.arange(s) + 0.5) / s
        u = np.outer(np.sin(np.pi * x), np.sin(np.pi * x))
        uh = spla.spsolve(diffusion_matrix(np.ones((s, s))).tocsc(), (2 * np.pi**2 * u).ravel())
        errs.append(np.abs(uh - u.ravel()).max())
    assert errs[1] < errs[0] / 3
