"""Random-input samplers: GRF covariances, transforms, initial/boundary data, per-sample seeds."""

from __future__ import annotations

import doctest

import numpy as np
import pytest
import scipy.fft as sfft

from pdeflow.datagen import samplers
from pdeflow.datagen.samplers import (
    FieldSampler,
    boundary_ring,
    grf,
    grf_eigenvalues,
    grid_to_ring,
    initial_condition,
    lognormal,
    ring_to_grid,
    threshold,
)
from pdeflow.errors import ConfigError, ShapeError


def _draws(shape, n, seed, **kw):
    rng = np.random.default_rng(seed)
    return np.stack([grf(shape, rng, **kw) for _ in range(n)])


def _variance_se(lam, n):
    """Relative standard error of mean(g²) over ``n`` draws: mean over the grid of one draw
    is Σ_k |c_k|² (Parseval), whose variance is 2 Σ λ_k²."""
    return np.sqrt(2 * (lam**2).sum() / n) / lam.sum()


def _shell_ratios(power, lam, periodic=True):
    """Mean of ``power / lam`` over each shell ``round(|k|)`` (FFT or DCT index grid)."""
    ks = [np.fft.fftfreq(s, 1.0 / s) if periodic else np.arange(s) for s in lam.shape]
    kk = np.sqrt(sum(k**2 for k in np.meshgrid(*ks, indexing="ij")))
    shell = np.rint(kk).astype(int).ravel()
    ratio = (power / np.where(lam > 0, lam, 1.0)).ravel()
    keep = lam.ravel() > 0
    return np.array([ratio[(shell == r) & keep].mean() for r in np.unique(shell[keep])])


# --------------------------------------------------------------------- periodic GRF spectra
@pytest.mark.parametrize(
    "shape, n, alpha, tau",
    [((64,), 4000, 2.0, 10.0), ((16, 16), 2000, 2.0, 10.0)],
)
def test_periodic_grf_power_spectrum_matches_eigenvalues(shape, n, alpha, tau):
    g = _draws(shape, n, seed=1, alpha=alpha, tau=tau, periodic=True)
    lam = grf_eigenvalues(shape, alpha=alpha, tau=tau, periodic=True)
    axes = tuple(range(1, g.ndim))
    # |fftn(g)_k|^2 / M^2 = |coefficient of exp(2πi k·x)|^2, whose mean is λ_k
    power = (np.abs(sfft.fftn(g, axes=axes, norm="forward")) ** 2).mean(axis=0)
    ratios = _shell_ratios(power, lam)
    assert np.abs(ratios - 1).max() < 0.10, ratios
    # every single mode within 6 standard errors (real modes: sqrt(2/n))
    assert np.abs(power / lam - 1).max() < 6 * np.sqrt(2 / n)
    # pointwise variance = Σ λ_k, within 5% > 4 standard errors
    assert 4 * _variance_se(lam, n) < 0.05
    assert np.mean(g**2) == pytest.approx(lam.sum(), rel=0.05)


def test_periodic_grf_zero_mean_removes_constant_mode():
    shape, n = (16, 16), 2000
    g = _draws(shape, n, seed=2, periodic=True, zero_mean=True, alpha=2.5, tau=7.0)
    lam = grf_eigenvalues(shape, alpha=2.5, tau=7.0, periodic=True)
    means = g.mean(axis=(1, 2))
    assert np.abs(means).max() < 1e-14 * 100 * g.std()
    power = (np.abs(sfft.fftn(g, axes=(1, 2), norm="forward")) ** 2).mean(axis=0)
    assert power[0, 0] < 1e-28
    lam0 = lam.copy()
    lam0[0, 0] = 0.0
    assert np.abs(_shell_ratios(power, lam0) - 1).max() < 0.10
    assert 4 * _variance_se(lam0, n) < 0.05
    assert np.mean(g**2) == pytest.approx(lam0.sum(), rel=0.05)


def test_periodic_covariance_is_the_greens_function_of_helmholtz():
    """α = 1, σ = 1 in 1-D: C(r) = cosh(τ(r - 1/2)) / (2τ sinh(τ/2)), the periodic Green's
    function of -d²/dx² + τ²."""
    s, tau, n = 64, 3.0, 4000
    x = np.arange(s) / s
    exact = np.cosh(tau * (x - 0.5)) / (2 * tau * np.sinh(tau / 2))
    lam = grf_eigenvalues((s,), alpha=1.0, tau=tau, sigma=1.0, periodic=True)
    k = np.fft.fftfreq(s, 1.0 / s)
    truncated = (lam * np.cos(2 * np.pi * np.outer(x, k))).sum(axis=1)
    # missing modes: +s/2 and |k| > s/2, whose sum is below (2π s/2)^-2 + 2 / (4π² s/2)
    tail = 1 / (np.pi * s) ** 2 + 2 / (4 * np.pi**2 * (s // 2))
    assert np.abs(truncated - exact).max() <= tail < 0.01 * exact[0]
    g = _draws((s,), n, seed=3, alpha=1.0, tau=tau, sigma=1.0, periodic=True)
    empirical = np.array([(g * np.roll(g, -m, axis=1)).mean() for m in range(s)])
    # standard error of a covariance entry <= sqrt(2/n) C(0) = 2.2% C(0)
    assert np.abs(empirical - exact).max() < 4.5 * np.sqrt(2 / n) * exact[0]


# --------------------------------------------------------------------- Neumann (DCT) GRF
def test_neumann_grf_dct_coefficients_match_eigenvalues():
    shape, n = (16, 16), 2000
    g = _draws(shape, n, seed=4, periodic=False, alpha=2.0, tau=10.0)
    lam = grf_eigenvalues(shape, periodic=False, alpha=2.0, tau=10.0)
    coef = sfft.dctn(g, axes=(1, 2), norm="ortho") / np.sqrt(np.prod(shape))
    power = (coef**2).mean(axis=0)
    assert np.abs(_shell_ratios(power, lam, periodic=False) - 1).max() < 0.10
    assert np.abs(power / lam - 1).max() < 6 * np.sqrt(2 / n)
    assert 4 * _variance_se(lam, n) < 0.05
    assert np.mean(g**2) == pytest.approx(lam.sum(), rel=0.05)


def test_neumann_covariance_is_the_greens_function_of_helmholtz():
    """α = 1, σ = 1 in 1-D: G(x, y) = cosh(τ min) cosh(τ (1 - max)) / (τ sinh τ), the
    Neumann Green's function of -d²/dx² + τ², at the cell centres."""
    s, tau, n = 64, 3.0, 4000
    xc = (np.arange(s) + 0.5) / s
    lo, hi = np.minimum.outer(xc, xc), np.maximum.outer(xc, xc)
    exact = np.cosh(tau * lo) * np.cosh(tau * (1 - hi)) / (tau * np.sinh(tau))
    lam = grf_eigenvalues((s,), alpha=1.0, tau=tau, sigma=1.0, periodic=False)
    k = np.arange(s)
    phi = np.sqrt(np.where(k == 0, 1.0, 2.0)) * np.cos(np.pi * np.outer(xc, k))
    truncated = (phi * lam) @ phi.T
    tail = 2 / (np.pi**2 * (s - 1))  # >= Σ_{m >= s} 2 φ_m² / (π m)², the missing modes
    assert np.abs(truncated - exact).max() <= tail < 0.01 * exact.max()
    g = _draws((s,), n, seed=5, alpha=1.0, tau=tau, sigma=1.0, periodic=False)
    empirical = g.T @ g / n
    assert np.abs(empirical - exact).max() < 4.5 * np.sqrt(2 / n) * exact.max()


# --------------------------------------------------------------------- reproducibility
def test_field_sampler_is_reproducible_per_index():
    fs = FieldSampler((16, 16), seed=11)
    a3 = fs.sample(3)
    np.testing.assert_array_equal(a3, FieldSampler((16, 16), seed=11).sample(3))
    np.testing.assert_array_equal(a3, grf((16, 16), np.random.default_rng([11, 3]), periodic=False))
    assert not np.allclose(a3, fs.sample(4))
    assert not np.allclose(a3, FieldSampler((16, 16), seed=12).sample(3))
    forward = fs.sample_many([0, 1, 2, 3])
    backward = fs.sample_many([3, 2, 1, 0])
    assert forward.shape == (4, 16, 16)
    np.testing.assert_array_equal(forward, backward[::-1])
    np.testing.assert_array_equal(forward[3], a3)
    assert fs.sample_many([]).shape == (0, 16, 16)
    assert fs.sample(np.int64(3)).tobytes() == a3.tobytes()


def test_field_sampler_transforms_and_periodic():
    g = FieldSampler((32,), periodic=True, seed=5).sample(0)
    np.testing.assert_array_equal(g, grf((32,), np.random.default_rng([5, 0]), periodic=True))
    a = FieldSampler((32,), periodic=True, seed=5, transform="threshold").sample(0)
    np.testing.assert_array_equal(a, np.where(g >= 0, 12.0, 3.0))
    b = FieldSampler((32,), periodic=True, seed=5, transform="lognormal").sample(0)
    np.testing.assert_allclose(b, np.exp(g), rtol=1e-15)
    assert FieldSampler([8, 8]).shape == (8, 8)


# --------------------------------------------------------------------- transforms
def test_threshold_gives_exactly_two_values():
    g = grf((32, 32), np.random.default_rng(0))
    a = threshold(g)
    assert set(np.unique(a)) == {3.0, 12.0}
    np.testing.assert_array_equal(a == 12.0, g >= 0)
    level = float(np.median(g))
    b = threshold(g, high=1.0, low=-1.0, level=level)
    assert set(np.unique(b)) == {-1.0, 1.0}
    np.testing.assert_array_equal(b == 1.0, g >= level)
    assert (b == 1.0).sum() == g.size // 2
    np.testing.assert_array_equal(threshold(np.array([0.0])), [12.0])  # g == level is high


def test_lognormal_is_positive_and_exponential():
    g = 30 * grf((64,), np.random.default_rng(1), periodic=True)
    c = lognormal(g, scale=0.5)
    assert c.min() > 0
    np.testing.assert_allclose(np.log(c / 0.5), g, atol=1e-12)
    with pytest.raises(ConfigError, match="'scale'"):
        lognormal(g, scale=0.0)


# --------------------------------------------------------------------- initial conditions
@pytest.mark.parametrize("shape", [(64,), (32, 32), (16, 16, 16)])
@pytest.mark.parametrize("kind", ["grf", "fourier", "bumps"])
def test_initial_condition_shapes(kind, shape):
    u = initial_condition(
        shape, np.random.default_rng(0), kind=kind, **({"k_max": 4} if kind == "fourier" else {})
    )
    assert u.shape == shape
    assert u.dtype == np.float64
    assert np.all(np.isfinite(u)) and np.ptp(u) > 0


def test_initial_condition_grf_forwards_options():
    u = initial_condition((32,), np.random.default_rng(7), alpha=2.5, tau=7.0, zero_mean=True)
    g = grf((32,), np.random.default_rng(7), alpha=2.5, tau=7.0, periodic=True, zero_mean=True)
    np.testing.assert_array_equal(u, g)


@pytest.mark.parametrize("shape", [(64,), (32, 32), (16, 16, 16)])
def test_fourier_initial_condition_is_band_limited(shape):
    k_max = 3 if len(shape) == 3 else 6
    for i in range(5):
        u = initial_condition(
            shape, np.random.default_rng([0, i]), kind="fourier", n_waves=4, k_max=k_max
        )
        spec = np.abs(np.fft.fftn(u, norm="forward"))
        ks = np.meshgrid(*[np.fft.fftfreq(s, 1.0 / s) for s in shape], indexing="ij")
        beyond = np.max([np.abs(k) for k in ks], axis=0) > k_max
        assert spec[beyond].max() < 1e-13
        assert spec[~beyond].max() > 1e-3
        assert abs(spec.flat[0]) < 1e-14  # sines have zero mean
        assert np.abs(u).max() <= 4.0  # 4 waves of amplitude < 1


def test_fourier_single_wave_1d():
    s = 64
    for i in range(10):
        u = initial_condition((s,), np.random.default_rng(i), kind="fourier", n_waves=1, k_max=5)
        spec = np.abs(np.fft.rfft(u)) * 2 / s  # amplitude of each sine
        k = int(np.argmax(spec))
        assert 1 <= k <= 5
        assert 0 < spec[k] < 1
        assert np.delete(spec, k).max() < 1e-12


@pytest.mark.parametrize("shape", [(64,), (64, 64)])
def test_bumps_are_smooth_and_periodic(shape):
    """Gaussians summed over periodic images: the spectrum decays like exp(-2π² w² k²),
    so there is no jump at the wrap-around (a jump would decay like 1/k)."""
    for i in range(5):
        u = initial_condition(shape, np.random.default_rng([1, i]), kind="bumps", n_bumps=4)
        spec = np.abs(np.fft.fftn(u, norm="forward"))
        ks = np.meshgrid(*[np.fft.fftfreq(s, 1.0 / s) for s in shape], indexing="ij")
        high = np.max([np.abs(k) for k in ks], axis=0) >= 24  # exp(-2π² 0.05² 24²) ≈ 4e-13
        assert spec[high].max() < 1e-10 * spec.max()
        assert np.abs(u).max() <= 4.0 + 1e-9


def test_initial_condition_errors_name_the_problem():
    rng = np.random.default_rng(0)
    with pytest.raises(ConfigError, match="'kind'.*'waves'"):
        initial_condition((32,), rng, kind="waves")
    with pytest.raises(ConfigError, match=r"\['alpha'\].*'fourier'"):
        initial_condition((32,), rng, kind="fourier", alpha=2.0)
    with pytest.raises(ConfigError, match=r"\['n_waves'\].*'grf'"):
        initial_condition((32,), rng, n_waves=2)
    with pytest.raises(ConfigError, match="'k_max'"):
        initial_condition((32,), rng, kind="fourier", k_max=16)
    with pytest.raises(ConfigError, match="'n_waves'"):
        initial_condition((32,), rng, kind="fourier", n_waves=0)
    with pytest.raises(ConfigError, match="'n_bumps'"):
        initial_condition((32,), rng, kind="bumps", n_bumps=1.5)
    with pytest.raises(ConfigError, match="'alpha'"):
        initial_condition((32, 32), rng, alpha=1.0)
    with pytest.raises(ConfigError, match="'shape'"):
        initial_condition((32, 1), rng, kind="bumps")


# --------------------------------------------------------------------- boundary data
def test_ring_order_on_a_hand_made_ring():
    expected = np.array(
        [
            [0.0, 7.0, 6.0],  # i = 0: (0,0) start, (0,1) and (0,2) on the left edge
            [1.0, 0.0, 5.0],  # i = 1: bottom (1,0), interior, top (1,2)
            [2.0, 3.0, 4.0],  # i = 2: right edge going up
        ]
    )
    np.testing.assert_array_equal(ring_to_grid(np.arange(8.0), 3), expected)
    np.testing.assert_array_equal(grid_to_ring(expected), np.arange(8.0))
    # n = 2: the four corners, counter-clockwise from (0, 0)
    np.testing.assert_array_equal(ring_to_grid([1.0, 2.0, 3.0, 4.0], 2), [[1, 4], [2, 3]])
    # bottom edge first: ring[:n-1] are the nodes (i, 0), i = 0..n-2
    n = 6
    u = ring_to_grid(np.arange(4.0 * (n - 1)), n)
    np.testing.assert_array_equal(u[:-1, 0], np.arange(n - 1))
    np.testing.assert_array_equal(u[-1, :-1], np.arange(n - 1, 2 * (n - 1)))
    np.testing.assert_array_equal(u[::-1, -1][:-1], np.arange(2 * (n - 1), 3 * (n - 1)))
    np.testing.assert_array_equal(u[0, ::-1][:-1], np.arange(3 * (n - 1), 4 * (n - 1)))
    assert not u[1:-1, 1:-1].any()


def test_ring_grid_round_trip():
    n = 17
    ring = boundary_ring(n, np.random.default_rng(0))
    assert ring.shape == (4 * (n - 1),)
    u = ring_to_grid(ring, n)
    np.testing.assert_array_equal(grid_to_ring(u), ring)
    assert not u[1:-1, 1:-1].any()
    # grid_to_ring ignores the interior; batches go through both ways
    v = np.random.default_rng(1).standard_normal((3, n, n))
    np.testing.assert_array_equal(ring_to_grid(grid_to_ring(v), n)[:, 0, :], v[:, 0, :])
    np.testing.assert_array_equal(grid_to_ring(ring_to_grid(grid_to_ring(v), n)), grid_to_ring(v))


def test_boundary_ring_is_continuous_at_corners_and_wrap():
    n, draws = 33, 300
    rings = np.stack([boundary_ring(n, np.random.default_rng([2, i])) for i in range(draws)])
    std = np.sqrt(np.mean(rings**2))
    lam = grf_eigenvalues((4 * (n - 1),), alpha=1.5, tau=3.0, periodic=True)
    assert std == pytest.approx(np.sqrt(lam.sum()), rel=0.1)
    u = ring_to_grid(rings, n)
    c = n - 1
    jumps = {  # each corner with its two neighbours, and the wrap ring[-1] -> ring[0]
        "wrap": rings[:, -1] - rings[:, 0],
        "(0,0)-(1,0)": u[:, 0, 0] - u[:, 1, 0],
        "(n-1,0)": u[:, c, 0] - u[:, c - 1, 0],
        "(n-1,0)-(n-1,1)": u[:, c, 0] - u[:, c, 1],
        "(n-1,n-1)": u[:, c, c] - u[:, c, c - 1],
        "(n-1,n-1)-(n-2,n-1)": u[:, c, c] - u[:, c - 1, c],
        "(0,n-1)": u[:, 0, c] - u[:, 1, c],
        "(0,n-1)-(0,n-2)": u[:, 0, c] - u[:, 0, c - 1],
    }
    # a periodic GRF with α = 1.5: rms step / std ≈ 0.042 between any two neighbours
    # (independent edges would jump by ~1.4 std at the corners)
    for name, jump in jumps.items():
        assert np.sqrt(np.mean(jump**2)) < 0.07 * std, name


def test_ring_shape_errors():
    with pytest.raises(ShapeError, match="4\\*\\(n-1\\) = 12"):
        ring_to_grid(np.zeros(11), 4)
    with pytest.raises(ShapeError, match="square"):
        grid_to_ring(np.zeros((4, 5)))
    with pytest.raises(ShapeError, match="square"):
        grid_to_ring(np.zeros(4))
    with pytest.raises(ConfigError, match="'n'"):
        ring_to_grid(np.zeros(0), 1)
    with pytest.raises(ConfigError, match="'n'"):
        boundary_ring(1, np.random.default_rng(0))


# --------------------------------------------------------------------- bad inputs
def _grf_p(**kw):
    shape = kw.pop("shape", (16,))
    return grf(shape, np.random.default_rng(0), periodic=True, **kw)


def _grf_n(**kw):
    shape = kw.pop("shape", (16,))
    return grf(shape, np.random.default_rng(0), periodic=False, **kw)


def _eig(**kw):
    return grf_eigenvalues(kw.pop("shape", (16,)), **kw)


def _sampler(**kw):
    return FieldSampler(kw.pop("shape", (16,)), **kw)


def _ic(**kw):
    return initial_condition(kw.pop("shape", (16,)), np.random.default_rng(0), **kw)


BUILDERS = [_grf_p, _grf_n, _eig, _sampler, _ic]


@pytest.mark.parametrize("build", BUILDERS)
@pytest.mark.parametrize(
    "bad, name",
    [
        ({"alpha": 0.5}, "alpha"),  # d = 1: alpha must exceed 1/2
        ({"shape": (8, 8), "alpha": 1.0}, "alpha"),  # d = 2: alpha must exceed 1
        ({"tau": 0.0}, "tau"),
        ({"tau": -1.0}, "tau"),
        ({"sigma": -1.0}, "sigma"),
        ({"shape": (4, 4, 4, 4), "alpha": 5.0}, "shape"),
        ({"shape": (8, 1)}, "shape"),
        ({"shape": ()}, "shape"),
    ],
)
def test_bad_parameters_raise_config_error_naming_them(build, bad, name):
    with pytest.raises(ConfigError, match=f"'{name}'"):
        build(**bad)


def test_bad_sampler_options():
    with pytest.raises(ConfigError, match="'transform'.*'exp'"):
        FieldSampler((8,), transform="exp")
    with pytest.raises(ConfigError, match="'seed'"):
        FieldSampler((8,), seed=-1)
    with pytest.raises(ConfigError, match="'periodic'"):
        FieldSampler((8,), periodic="yes")
    with pytest.raises(ConfigError, match="'shape'"):
        FieldSampler(8)
    with pytest.raises(ConfigError, match="index"):
        FieldSampler((8,)).sample(-1)
    with pytest.raises(ConfigError, match="'alpha'"):
        boundary_ring(8, np.random.default_rng(0), alpha=0.5)


def test_docstring_examples_run():
    result = doctest.testmod(samplers, optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.attempted >= 15
    assert result.failed == 0
