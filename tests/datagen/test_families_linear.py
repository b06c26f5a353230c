"""Linear problem families of pdeflow.datagen: darcy, darcy-fno, poisson, helmholtz."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import scipy.sparse.linalg as sla

from pdeflow.datagen import families, samplers
from pdeflow.datagen.families import ChunkResult, LinearFamily
from pdeflow.datagen.families.darcy import (
    cell_centres,
    cell_darcy_system,
    node_darcy_system,
    node_diffusion_matrix,
)
from pdeflow.datagen.families.helmholtz import helmholtz_system
from pdeflow.datagen.families.poisson import poisson_system
from pdeflow.errors import ConfigError, ShapeError

SMALL = {
    "darcy": {"resolution": 16},
    "darcy-fno": {"resolution": 9, "solve_resolution": 33},
    "poisson": {"resolution": 16},
    "helmholtz": {"resolution": 16},
}
NAMES = sorted(SMALL)


def make(name: str, **options) -> LinearFamily:
    fam = families.get(name, **{**SMALL[name], **options})
    assert isinstance(fam, LinearFamily)
    return fam


def unknowns(fam: LinearFamily, sample: dict, u: np.ndarray) -> np.ndarray:
    """The solution vector of ``fam.assemble(sample)`` recovered from a stored ``u``."""
    if fam.name == "poisson":
        return u[1:-1, 1:-1].ravel()
    if fam.name == "darcy-fno":
        assert fam.stride == 1
        return u[1:-1, 1:-1].ravel()
    return u.ravel()


def rate(errors: list[float], h: list[float]) -> float:
    return float(np.polyfit(np.log(h), np.log(errors), 1)[0])


def grid(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.meshgrid(x, x, indexing="ij")


def bubble(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``sin(πx) sin(πy)``: zero on the boundary, ``-Δ = 2π²`` times itself."""
    return np.sin(np.pi * x) * np.sin(np.pi * y)


# ------------------------------------------------------------------------------ solving
@pytest.mark.parametrize("name", NAMES)
def test_solve_satisfies_the_discrete_equation(name):
    # darcy-fno stored at its solve resolution, so the stored u holds every unknown
    fam = make(name, resolution=17, solve_resolution=17) if name == "darcy-fno" else make(name)
    res = fam.solve([0, 1, 2])
    assert isinstance(res, ChunkResult)
    assert res.indices.tolist() == [0, 1, 2]
    assert set(res.fields) == set(fam.fields())
    for fname, spec in fam.fields().items():
        arr = res.fields[fname]
        assert arr.shape == (3, *spec.shape) and arr.dtype == np.float64
        assert np.isfinite(arr).all()
    for stat in ("iterations", "residual", "time"):
        assert res.stats[stat].shape == (3,)
        assert np.isfinite(res.stats[stat]).all()
    assert (res.stats["residual"] < 1e-6).all()
    for m, i in enumerate(res.indices):
        s = fam.sample(int(i))
        for fname in fam.inputs:
            np.testing.assert_array_equal(res.fields[fname][m], s[fname])
        A, b = fam.assemble(s)
        x = unknowns(fam, s, res.fields["u"][m])
        assert np.linalg.norm(A @ x - b) / np.linalg.norm(b) < 1e-6
        assert np.abs(res.fields["u"][m]).max() > 0  # not a trivial solution


@pytest.mark.parametrize("name", NAMES)
def test_declarations(name):
    fam = make(name)
    s = fam.resolution
    specs = fam.fields()
    assert list(specs)[-1] == "u" and fam.outputs == ["u"]
    assert all(spec.shape == (s, s) and spec.axes == ("x", "y") for spec in specs.values())
    c = fam.coords()
    assert set(c) == {"x", "y"} and c["x"].shape == (s,) and c["x"].dtype == np.float64
    np.testing.assert_array_equal(c["x"], c["y"])
    if name in ("darcy", "helmholtz"):
        np.testing.assert_allclose(c["x"], (np.arange(s) + 0.5) / s)
    else:
        np.testing.assert_allclose(c["x"], np.linspace(0.0, 1.0, s))
    sample = fam.sample(0)
    for fname in fam.inputs:
        assert np.shape(sample[fname]) == specs[fname].shape
    assert fam.options()["resolution"] == s and fam.options()["seed"] == 0


# ------------------------------------------------------------------------------ convergence
def test_darcy_converges_at_second_order():
    errors, hs = [], []
    for s in (12, 24, 48):
        X, Y = grid(cell_centres(s))
        a = 2.5
        A, b = cell_darcy_system(np.full((s, s), a), a * 2 * np.pi**2 * bubble(X, Y))
        u = sla.spsolve(A.tocsc(), b)
        errors.append(np.abs(u - bubble(X, Y).ravel()).max())
        hs.append(1.0 / s)
    assert 1.8 < rate(errors, hs) < 2.2
    assert errors[-1] < 1e-3


def test_darcy_fno_converges_at_second_order():
    errors, hs = [], []
    for n in (9, 17, 33):
        X, Y = grid(np.linspace(0.0, 1.0, n))
        a = 3.0
        A, b = node_darcy_system(np.full((n, n), a), a * 2 * np.pi**2 * bubble(X, Y))
        u = sla.spsolve(A.tocsc(), b)
        errors.append(np.abs(u - bubble(X, Y)[1:-1, 1:-1].ravel()).max())
        hs.append(1.0 / (n - 1))
    assert 1.8 < rate(errors, hs) < 2.2
    assert errors[-1] < 2e-3


def test_node_darcy_with_variable_coefficient_converges_at_second_order():
    # -∇·(a∇u) = f with a = 1 + x + 2y², u = sin(πx) sin(πy), f manufactured
    errors, hs = [], []
    for n in (9, 17, 33):
        X, Y = grid(np.linspace(0.0, 1.0, n))
        a = 1.0 + X + 2.0 * Y**2
        u = bubble(X, Y)
        ux = np.pi * np.cos(np.pi * X) * np.sin(np.pi * Y)
        uy = np.pi * np.sin(np.pi * X) * np.cos(np.pi * Y)
        f = a * 2 * np.pi**2 * u - (1.0 * ux + 4.0 * Y * uy)
        A, b = node_darcy_system(a, f)
        errors.append(np.abs(sla.spsolve(A.tocsc(), b) - u[1:-1, 1:-1].ravel()).max())
        hs.append(1.0 / (n - 1))
    assert 1.8 < rate(errors, hs) < 2.2


def test_poisson_converges_at_second_order_with_boundary_data():
    # harmonic part with non-zero boundary data plus a part with a manufactured source
    def exact(x, y):
        return np.sin(np.pi * x) * np.sinh(np.pi * y) / np.sinh(np.pi) + np.exp(x) * np.cos(2 * y)

    errors, hs = [], []
    for n in (9, 17, 33):
        X, Y = grid(np.linspace(0.0, 1.0, n))
        U = exact(X, Y)
        g = U.copy()
        g[1:-1, 1:-1] = 0.0
        A, b = poisson_system(3.0 * np.exp(X) * np.cos(2 * Y), g)
        errors.append(np.abs(sla.spsolve(A.tocsc(), b) - U[1:-1, 1:-1].ravel()).max())
        hs.append(1.0 / (n - 1))
    assert 1.8 < rate(errors, hs) < 2.2
    assert errors[-1] < 1e-3


def test_poisson_reproduces_a_harmonic_quadratic_exactly():
    # x² - y² + 3xy is harmonic and the 5-point Laplacian is exact on quadratics
    n = 11
    X, Y = grid(np.linspace(0.0, 1.0, n))
    U = X**2 - Y**2 + 3 * X * Y
    fam = families.get("poisson", resolution=n)
    A, b = fam.assemble({"f": np.zeros((n, n)), "g": U})
    u = fam.to_outputs({"g": U}, sla.spsolve(A.tocsc(), b))["u"]
    np.testing.assert_allclose(u, U, atol=1e-12)


def test_helmholtz_converges_at_second_order():
    errors, hs = [], []
    for s in (12, 24, 48):
        X, Y = grid(cell_centres(s))
        k = 2.5
        A, b = helmholtz_system(np.full((s, s), k), (2 * np.pi**2 - k**2) * bubble(X, Y))
        errors.append(np.abs(sla.spsolve(A.tocsc(), b) - bubble(X, Y).ravel()).max())
        hs.append(1.0 / s)
    assert 1.8 < rate(errors, hs) < 2.2
    assert errors[-1] < 1e-3


# ------------------------------------------------------------------------------ assembly details
def test_node_diffusion_matrix_matches_a_pointwise_stencil():
    rng = np.random.default_rng(3)
    n = 7
    a = 1.0 + rng.random((n, n))
    A = node_diffusion_matrix(a).toarray()
    h2 = float(n - 1) ** 2
    m = n - 2
    ref = np.zeros((m * m, m * m))
    for i in range(1, n - 1):
        for j in range(1, n - 1):
            r = (i - 1) * m + (j - 1)
            for di, dj in ((1, 0), (-1, 0), (0, 1), (0, -1)):
                c = 0.5 * (a[i, j] + a[i + di, j + dj]) * h2
                ref[r, r] += c
                ii, jj = i + di - 1, j + dj - 1
                if 0 <= ii < m and 0 <= jj < m:
                    ref[r, ii * m + jj] -= c
    np.testing.assert_allclose(A, ref, rtol=1e-14)
    np.testing.assert_allclose(A, A.T)


def test_node_assembly_rejects_bad_input():
    with pytest.raises(ShapeError, match="3 nodes"):
        node_diffusion_matrix(np.ones((2, 5)))
    with pytest.raises(ValueError, match="positive"):
        node_diffusion_matrix(-np.ones((5, 5)))
    with pytest.raises(ShapeError, match="source f"):
        node_darcy_system(np.ones((5, 5)), np.ones((4, 4)))


def test_poisson_shares_one_matrix_object():
    fam = make("poisson")
    (A0, b0), (A1, b1) = fam.assemble(fam.sample(0)), fam.assemble(fam.sample(1))
    assert A0 is A1
    assert not np.allclose(b0, b1)
    f = fam.features(fam.sample(0))
    assert f.shape == (2 * 16 * 16,)


def test_poisson_boundary_values_follow_the_ring():
    fam = make("poisson")
    s = fam.sample(4)
    g = s["g"]
    assert np.all(g[1:-1, 1:-1] == 0.0)
    assert np.abs(g[0, :]).max() > 0 and np.abs(g[:, -1]).max() > 0
    u = fam.solve([4]).fields["u"][0]
    edges = (np.s_[0, :], np.s_[-1, :], np.s_[:, 0], np.s_[:, -1])
    for e in edges:
        np.testing.assert_array_equal(u[e], g[e])


def test_helmholtz_follows_the_assembly_conventions():
    from pdeflow.datagen.families.assembly import gaussian_source, helmholtz_matrix

    fam = make("helmholtz", k0=2.0, seed=5)
    k = fam.sample(3)["k"]
    g = samplers.grf((16, 16), fam.rng(3))
    np.testing.assert_allclose(k, 2.0 * (1.0 + 0.3 * np.tanh(g)), rtol=1e-14)
    A, b = fam.assemble(fam.sample(3))
    assert abs(A - helmholtz_matrix(k)).max() < 1e-12 and np.allclose(b, gaussian_source(16))


def test_darcy_is_lognormal_on_the_cell_grid():
    fam = make("darcy", seed=2)
    g = samplers.grf((16, 16), fam.rng(1))
    np.testing.assert_allclose(fam.sample(1)["a"], np.exp(g))
    A, b = fam.assemble(fam.sample(1))
    np.testing.assert_array_equal(b, np.ones(256))


# ------------------------------------------------------------------------------ darcy-fno
def test_darcy_fno_coefficient_is_two_valued():
    fam = make("darcy-fno")
    for i in range(3):
        s = fam.sample(i)
        assert set(np.unique(s["a"]).tolist()) == {3.0, 12.0}
        assert set(np.unique(s["a_solve"]).tolist()) == {3.0, 12.0}
    ln = make("darcy-fno", coefficient="lognormal").sample(0)["a"]
    assert (ln > 0).all() and len(np.unique(ln)) > 50


def test_darcy_fno_stores_every_rth_solve_node():
    fam = make("darcy-fno")  # 33 solve nodes, 9 stored: r = 4
    assert fam.stride == 4
    sample = fam.sample(1)
    np.testing.assert_array_equal(sample["a"], sample["a_solve"][::4, ::4])
    A, b = fam.assemble(sample)
    assert A.shape == (31 * 31, 31 * 31)
    x = sla.spsolve(A.tocsc(), b)
    fine = np.zeros((33, 33))
    fine[1:-1, 1:-1] = x.reshape(31, 31)
    np.testing.assert_array_equal(fam.to_outputs(sample, x)["u"], fine[::4, ::4])
    stored = fam.solve([1]).fields["u"][0]
    np.testing.assert_allclose(stored, fine[::4, ::4], rtol=0, atol=1e-7 * np.abs(fine).max())
    assert np.all(stored[0, :] == 0) and np.all(stored[:, -1] == 0)


def test_darcy_fno_bad_stride_names_both_options():
    with pytest.raises(ConfigError, match="solve_resolution") as exc:
        families.get("darcy-fno", resolution=10, solve_resolution=33)
    assert "'resolution'" in str(exc.value)
    with pytest.raises(ConfigError, match="solve_resolution"):
        families.get("darcy-fno", resolution=17, solve_resolution=9)
    with pytest.raises(ConfigError, match="coefficient"):
        families.get("darcy-fno", resolution=9, solve_resolution=33, coefficient="binary")


def test_darcy_fno_defaults_are_fnos():
    fam = families.get("darcy-fno")
    assert (fam.solve_resolution, fam.resolution, fam.stride) == (421, 85, 5)


# ------------------------------------------------------------------------------ reproducibility
@pytest.mark.parametrize("name", NAMES)
def test_samples_are_reproducible_per_seed(name):
    a, b, other = make(name, seed=7), make(name, seed=7), make(name, seed=8)
    for i in (0, 5):
        sa, sb, so = a.sample(i), b.sample(i), other.sample(i)
        for f in a.inputs:
            np.testing.assert_array_equal(sa[f], sb[f])
            assert not np.allclose(sa[f], so[f])
    for f in a.inputs:
        assert not np.allclose(a.sample(0)[f], a.sample(1)[f])


# ------------------------------------------------------------------------------ bad options
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("resolution", 2),
        ("resolution", "64"),
        ("resolution", True),
        ("resolution", 16.0),
        ("seed", -1),
        ("tau", 0.0),
        ("alpha", 1.0),
        ("alpha", "2"),
    ],
)
def test_bad_options_name_the_option(name, option, value):
    with pytest.raises(ConfigError, match=f"'{option}'"):
        families.get(name, **{**SMALL[name], option: value})


@pytest.mark.parametrize("k0", [0.0, -3.0, "3", None])
def test_helmholtz_k0_must_be_positive(k0):
    with pytest.raises(ConfigError, match="'k0'"):
        families.get("helmholtz", resolution=16, k0=k0)


def test_poisson_boundary_alpha_must_give_finite_variance():
    with pytest.raises(ConfigError, match="'boundary_alpha'"):
        families.get("poisson", resolution=16, boundary_alpha=0.5)


def test_unknown_option_lists_the_valid_ones():
    with pytest.raises(ConfigError, match="bogus") as exc:
        families.get("darcy", bogus=1)
    for option in ("resolution", "seed", "alpha", "tau"):
        assert option in str(exc.value)


@pytest.mark.parametrize("name", NAMES)
def test_families_are_frozen_and_registered(name):
    fam = make(name)
    assert families.family_class(name) is type(fam) and fam.name == name and fam.linear
    with pytest.raises(dataclasses.FrozenInstanceError):
        fam.seed = 3  # type: ignore[misc]
