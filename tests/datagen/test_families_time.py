"""Time-dependent families (heat, burgers, navier-stokes, advection): discrete equations,
convergence against exact solutions, the family contract, reproducibility, bad options."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from pdeflow.datagen import families
from pdeflow.datagen.families import ChunkResult
from pdeflow.datagen.families.assembly import diffusion_matrix
from pdeflow.errors import ConfigError, ConvergenceError, DataError

# small, fast configurations of every family
SMALL = {
    "heat": dict(resolution=8, n_steps=8, n_snapshots=4, T=0.5),
    "burgers": dict(resolution=32, T=0.1, n_snapshots=3),
    "navier-stokes": dict(resolution=16, T=0.2, n_snapshots=2),
    "advection": dict(resolution=32, T=0.2, n_snapshots=4),
}


def _order(errors: list[float]) -> np.ndarray:
    """Observed orders between successive halvings."""
    e = np.asarray(errors)
    return np.log2(e[:-1] / e[1:])


# ---------------------------------------------------------------------------- contract
@pytest.mark.parametrize("name", sorted(SMALL))
def test_solve_chunk_shapes_and_values(name):
    fam = families.get(name, **SMALL[name])
    res = fam.solve([0, 1])
    assert isinstance(res, ChunkResult) and len(res) == 2
    assert res.indices.tolist() == [0, 1]
    coords = fam.coords()
    for fname, spec in fam.fields().items():
        arr = res.fields[fname]
        assert arr.shape == (2, *spec.shape)
        assert np.isfinite(arr).all()
        for ax, n in zip(spec.axes, spec.shape, strict=True):
            assert coords[ax].shape == (n,)
    assert fam.inputs and fam.outputs
    assert (res.stats["iterations"] >= SMALL[name]["n_snapshots"]).all()
    assert (res.stats["time"] > 0).all()
    np.testing.assert_allclose(coords["t"][-1], SMALL[name]["T"])
    assert np.all(np.diff(coords["t"]) > 0) and coords["t"][0] > 0


@pytest.mark.parametrize("name", sorted(SMALL))
def test_reproducible_per_seed_and_index(name):
    fam = families.get(name, **SMALL[name])
    key = fam.inputs[0]
    a, b = fam.solve([1, 0]), fam.solve([0, 1])
    for f in a.fields:
        np.testing.assert_array_equal(a.fields[f][0], b.fields[f][1])
        np.testing.assert_array_equal(a.fields[f][1], b.fields[f][0])
    assert not np.allclose(fam.sample(0)[key], fam.sample(1)[key])
    other = families.get(name, **SMALL[name], seed=1)
    assert not np.allclose(fam.sample(0)[key], other.sample(0)[key])
    np.testing.assert_array_equal(
        fam.sample(3)[key], families.get(name, **SMALL[name]).sample(3)[key]
    )


BAD = [
    (name, option, value)
    for name in ("heat", "burgers", "navier-stokes", "advection")
    for option, value in [
        ("resolution", 3),
        ("resolution", 8.0),
        ("T", 0.0),
        ("T", -1.0),
        ("n_snapshots", 0),
        ("seed", -1),
    ]
] + [
    ("burgers", "nu", 0.0),
    ("burgers", "nu", -0.1),
    ("burgers", "cfl", 0.0),
    ("burgers", "solve_resolution", 48),
    ("navier-stokes", "nu", 0.0),
    ("navier-stokes", "cfl", -0.5),
    ("navier-stokes", "dt_max", 0.0),
    ("navier-stokes", "forcing", "yes"),
    ("navier-stokes", "solve_resolution", 100),
    ("heat", "kappa", 0.0),
    ("heat", "n_steps", 9),
    ("heat", "scheme", "rk4"),
    ("heat", "diffusivity", "threshold"),
    ("advection", "cfl", 0.0),
    ("advection", "cfl", 0.95),
    ("advection", "scheme", "upwind"),
    ("advection", "beta", float("nan")),
    ("advection", "k_max", 16),
]


@pytest.mark.parametrize(("name", "option", "value"), BAD)
def test_bad_options_name_the_option(name, option, value):
    opts = {**SMALL[name], option: value}
    with pytest.raises(ConfigError, match=f"'{option}'"):
        families.get(name, **opts)


def test_unknown_option_raises():
    with pytest.raises(ConfigError, match="viscosity"):
        families.get("burgers", viscosity=0.1)


@pytest.mark.parametrize("name", sorted(SMALL))
def test_bad_sample_data_raises_data_error(name):
    fam = families.get(name, **SMALL[name])
    good = fam.sample(0)
    key = fam.inputs[0]
    bad = dict(good, **{key: np.full_like(good[key], np.nan)})
    with pytest.raises(DataError, match=key):
        fam.solve([0], samples=[bad])
    short = dict(good, **{key: good[key][:-1]})
    with pytest.raises(DataError, match="shape"):
        fam.solve([0], samples=[short])


def test_unstable_time_steps_raise_with_advice():
    """Courant numbers far beyond the explicit schemes' limits are caught, not stored."""
    fam = families.get("burgers", resolution=64, nu=0.01, T=0.5, n_snapshots=5, cfl=5.0)
    with pytest.raises(ConvergenceError, match="'cfl'"):
        fam.solve([0])
    ns = families.get(
        "navier-stokes", resolution=16, nu=1e-5, T=5.0, n_snapshots=1, cfl=3.0, dt_max=1.0
    )
    with pytest.raises(ConvergenceError, match="'cfl'"):
        ns.solve([0], samples=[{"w0": 30.0 * ns.sample(0)["w0"]}])


# ---------------------------------------------------------------------------- heat
def _heat_matrices(kappa: np.ndarray, dt: float, theta: float):
    A = diffusion_matrix(kappa)
    eye = sp.identity(A.shape[0])
    return eye + theta * dt * A, eye - (1.0 - theta) * dt * A


@pytest.mark.parametrize(("scheme", "theta"), [("crank-nicolson", 0.5), ("backward-euler", 1.0)])
def test_heat_satisfies_discrete_equation_every_step(scheme, theta):
    fam = families.get("heat", resolution=12, n_steps=6, n_snapshots=6, T=0.3, scheme=scheme)
    res = fam.solve([0])
    u0, kappa, u = res.fields["u0"][0], res.fields["kappa"][0], res.fields["u"][0]
    assert kappa.std() > 0.1 * kappa.mean()  # lognormal: a varying coefficient
    L, R = _heat_matrices(kappa, fam.dt, theta)
    traj = np.concatenate([u0[None], u]).reshape(7, -1)
    for n in range(6):
        rhs = R @ traj[n]
        assert np.linalg.norm(L @ traj[n + 1] - rhs) <= 1e-12 * np.linalg.norm(rhs)
    assert res.stats["residual"][0] < 1e-12
    # the energy decays monotonically (A is SPD; both schemes are contractive)
    norms = np.linalg.norm(traj, axis=1)
    assert np.all(np.diff(norms) < 0)


def _heat_eigenmode(s: int, kappa: float, T: float, n_steps: int, scheme: str):
    fam = families.get(
        "heat",
        resolution=s,
        diffusivity="constant",
        kappa=kappa,
        T=T,
        n_steps=n_steps,
        n_snapshots=1,
        scheme=scheme,
    )
    x = fam.coords()["x"]
    mode = np.outer(np.sin(np.pi * x), np.sin(np.pi * x))
    sample = {"u0": mode, "kappa": np.full((s, s), kappa)}
    u = fam.solve([0], samples=[sample]).fields["u"][0, -1]
    return u, mode


def test_heat_space_convergence_order_two():
    kappa, T = 0.1, 0.5
    errors = []
    for s in (8, 16, 32):
        u, mode = _heat_eigenmode(s, kappa, T, 200, "crank-nicolson")
        exact = np.exp(-2.0 * np.pi**2 * kappa * T) * mode
        errors.append(np.abs(u - exact).max())
    orders = _order(errors)
    assert np.all((orders > 1.9) & (orders < 2.1)), (errors, orders)


@pytest.mark.parametrize(("scheme", "order"), [("backward-euler", 1.0), ("crank-nicolson", 2.0)])
def test_heat_time_convergence_order(scheme, order):
    s, kappa, T = 16, 0.1, 0.5
    h = 1.0 / s
    lam_h = 2.0 * (4.0 / h**2) * np.sin(np.pi * h / 2.0) ** 2  # exact discrete eigenvalue
    errors = []
    for n_steps in (8, 16, 32):
        u, mode = _heat_eigenmode(s, kappa, T, n_steps, scheme)
        errors.append(np.abs(u - np.exp(-lam_h * kappa * T) * mode).max())
    orders = _order(errors)
    assert np.all(np.abs(orders - order) < 0.15), (errors, orders)


# ---------------------------------------------------------------------------- burgers
def test_burgers_conserves_the_mean_and_dissipates_energy():
    fam = families.get("burgers", resolution=64, T=0.5, n_snapshots=5)
    res = fam.solve([0, 1])
    u0, u = res.fields["u0"], res.fields["u"]
    assert np.abs(u0.mean(axis=1)).max() > 1e-3  # the prior has a nonzero mean mode
    np.testing.assert_allclose(u.mean(axis=2), u0.mean(axis=1)[:, None] * np.ones(5), atol=1e-12)
    energy = np.concatenate([u0[:, None], u], axis=1).var(axis=2)
    assert np.all(np.diff(energy, axis=1) < 0)


def test_burgers_single_snapshot_shape():
    fam = families.get("burgers", resolution=32, T=0.05)
    assert fam.fields()["u"].shape == (32,)
    assert fam.solve([0, 1]).fields["u"].shape == (2, 32)


def test_burgers_time_self_convergence_order_four():
    base = dict(resolution=64, nu=0.02, T=0.25)
    ref = families.get("burgers", **base, cfl=0.05).solve([0]).fields["u"][0]
    errors = [
        np.abs(families.get("burgers", **base, cfl=c).solve([0]).fields["u"][0] - ref).max()
        for c in (0.8, 0.4, 0.2)
    ]
    orders = _order(errors)
    assert np.all((orders > 3.5) & (orders < 4.8)), (errors, orders)


def test_burgers_spectral_convergence_in_space():
    """Refining the solve grid (small dt) shrinks the differences geometrically."""
    base = dict(resolution=32, nu=0.02, T=0.25, cfl=0.1)
    ref = families.get("burgers", **base, solve_resolution=256).solve([0]).fields["u"][0]
    errors = [
        np.abs(
            families.get("burgers", **base, solve_resolution=S).solve([0]).fields["u"][0] - ref
        ).max()
        for S in (32, 64, 128)
    ]
    assert errors[0] < 1e-2 and errors[1] < errors[0] / 300 and errors[2] < errors[1] / 300, errors


def _burgers_pde_residual(n: int) -> float:
    s, nu, T = 64, 0.05, 0.2
    fam = families.get("burgers", resolution=s, nu=nu, T=T, n_snapshots=n)
    u = fam.solve([0]).fields["u"][0]
    dt = T / n
    k = np.fft.rfftfreq(s, d=1.0 / s)
    ik = 2j * np.pi * k
    ut = (u[2:] - u[:-2]) / (2.0 * dt)
    um = u[1:-1]
    flux_x = np.fft.irfft(np.where(k < s / 3, ik, 0) * np.fft.rfft(um**2 / 2.0), n=s)
    uxx = np.fft.irfft(ik**2 * np.fft.rfft(um), n=s)
    res = ut + flux_x - nu * uxx
    late = slice(n // 2, None)  # past the stiff initial transient
    return float(np.linalg.norm(res[late]) / np.linalg.norm(ut[late]))


def test_burgers_trajectory_satisfies_the_pde_at_second_order():
    residuals = [_burgers_pde_residual(n) for n in (20, 40, 80)]
    orders = _order(residuals)
    assert residuals[-1] < 1e-3 and np.all((orders > 1.8) & (orders < 3.2)), (residuals, orders)


# ---------------------------------------------------------------------------- navier-stokes
def _grid(s: int):
    x = np.arange(s) / s
    return x[:, None], x[None, :]


def test_navier_stokes_taylor_green_decay_order_two():
    """A Taylor-Green vortex decays like ``exp(-8π²νt)`` (its advection term vanishes); the
    CFL-controlled steps grow as it slows down, so the order is measured in step counts."""
    s, nu, T = 16, 0.02, 1.0
    X, Y = _grid(s)
    w0 = 5.0 * np.sin(2 * np.pi * X) * np.sin(2 * np.pi * Y)  # max |u| + |v| = 5 / (4π)
    exact = np.exp(-8.0 * np.pi**2 * nu * T) * w0
    errors, steps = [], []
    for cfl in (0.2, 0.1, 0.05):
        fam = families.get(
            "navier-stokes",
            resolution=s,
            nu=nu,
            T=T,
            n_snapshots=2,
            cfl=cfl,
            dt_max=1.0,
            forcing=False,
        )
        res = fam.solve([0], samples=[{"w0": w0}])
        errors.append(np.abs(res.fields["w"][0, -1] - exact).max() / np.abs(exact).max())
        steps.append(res.stats["iterations"][0])
    # dt = cfl h / max(|u| + |v|) at the start; the flow then slows by exp(-8π²νT) ≈ 0.2
    n_start = T * s * (5.0 / (4.0 * np.pi)) / 0.2
    assert 0.2 * n_start < steps[0] < n_start and steps[2] > steps[1] > steps[0]
    orders = np.log(np.divide(errors[:-1], errors[1:])) / np.log(np.divide(steps[1:], steps[:-1]))
    assert errors[-1] < 2e-4 and np.all((orders > 1.8) & (orders < 2.3)), (errors, orders)


def test_navier_stokes_forced_shear_flow_order_two():
    """From rest, FNO's forcing drives the exact shear flow ``w_s (1 - exp(-8π²νt))``."""
    s, nu, T = 16, 0.05, 1.0
    X, Y = _grid(s)
    w_s = 0.1 * (np.sin(2 * np.pi * (X + Y)) + np.cos(2 * np.pi * (X + Y))) / (8 * np.pi**2 * nu)
    errors = []
    for dt_max in (0.05, 0.025, 0.0125):  # 5, 10, 20 steps per record interval
        fam = families.get("navier-stokes", resolution=s, nu=nu, T=T, n_snapshots=4, dt_max=dt_max)
        w = fam.solve([0], samples=[{"w0": np.zeros((s, s))}]).fields["w"][0]
        t = fam.coords()["t"]
        exact = w_s[None] * (1.0 - np.exp(-8.0 * np.pi**2 * nu * t))[:, None, None]
        errors.append(np.abs(w - exact).max() / np.abs(w_s).max())
    orders = _order(errors)
    assert errors[-1] < 1e-3 and np.all((orders > 1.8) & (orders < 2.3)), (errors, orders)


def _ns_pde_residual(n: int) -> float:
    s, nu, T = 32, 1e-3, 0.2
    fam = families.get(
        "navier-stokes", resolution=s, nu=nu, T=T, n_snapshots=n, sigma=7.0**0.75
    )
    w0 = 30.0 * fam.sample(0)["w0"]  # strong enough that advection dominates w_t
    w = fam.solve([0], samples=[{"w0": w0}]).fields["w"][0]
    dt = T / n
    kx = np.fft.fftfreq(s, d=1.0 / s)[:, None]
    ky = np.fft.rfftfreq(s, d=1.0 / s)[None, :]
    dx, dy = 2j * np.pi * kx, 2j * np.pi * ky
    lap = dx**2 + dy**2
    keep = (np.abs(kx) < s / 3) & (ky < s / 3)
    wm = w[1:-1]
    wh = np.fft.rfft2(wm)
    psi = np.where(lap != 0, -wh / np.where(lap != 0, lap, 1), 0)
    ir = lambda a: np.fft.irfft2(a, s=(s, s))  # noqa: E731
    u, v = ir(dy * psi), ir(-dx * psi)
    adv = ir(keep * np.fft.rfft2(u * ir(dx * wh) + v * ir(dy * wh)))
    X, Y = _grid(s)
    f = 0.1 * (np.sin(2 * np.pi * (X + Y)) + np.cos(2 * np.pi * (X + Y)))
    wt = (w[2:] - w[:-2]) / (2.0 * dt)
    res = wt + adv - nu * ir(lap * wh) - f
    assert np.linalg.norm(adv) > 0.5 * np.linalg.norm(wt)  # the nonlinear term matters
    return float(np.linalg.norm(res) / np.linalg.norm(wt))


def test_navier_stokes_trajectory_satisfies_the_pde_at_second_order():
    residuals = [_ns_pde_residual(n) for n in (10, 20, 40)]
    orders = _order(residuals)
    assert residuals[-1] < 1e-2 and np.all((orders > 1.8) & (orders < 2.5)), (residuals, orders)


def test_navier_stokes_spectral_convergence_in_space():
    """The stored w0 is the exact initial condition on every solve grid, and refining the
    solve grid (small dt) shrinks the differences geometrically."""
    w = {}
    for S in (16, 32, 64, 128):
        fam = families.get(
            "navier-stokes",
            resolution=16,
            solve_resolution=S,
            T=0.5,
            n_snapshots=1,
            cfl=0.1,
            dt_max=0.01,
            sigma=7.0**0.75,
        )
        res = fam.solve([0])
        w[S] = res.fields["w"]
        np.testing.assert_array_equal(res.fields["w0"][0], fam.sample(0)["w0"])
    scale = np.abs(w[128]).max()
    errors = [np.abs(w[S] - w[128]).max() / scale for S in (16, 32, 64)]
    assert errors[0] < 1e-2 and errors[1] < errors[0] / 300 and errors[2] < errors[1] / 300, errors


# ---------------------------------------------------------------------------- advection
def _exact_profile(x: np.ndarray) -> np.ndarray:
    return np.sin(2 * np.pi * x) + 0.5 * np.cos(6 * np.pi * x + 0.3)


@pytest.mark.parametrize("beta", [1.0, -0.7])
def test_advection_lax_wendroff_stencil_every_step(beta):
    s, cfl = 64, 0.8
    T = 20 * cfl / (s * abs(beta))  # one step per snapshot
    fam = families.get(
        "advection", resolution=s, beta=beta, T=T, n_snapshots=20, cfl=cfl, scheme="lax-wendroff"
    )
    res = fam.solve([0])
    assert res.stats["iterations"][0] == 20
    traj = np.concatenate([res.fields["u0"], res.fields["u"][0]])
    c = beta * cfl / abs(beta)
    up, um = np.roll(traj[:-1], -1, axis=1), np.roll(traj[:-1], 1, axis=1)
    lw = traj[:-1] - c / 2 * (up - um) + c**2 / 2 * (up - 2 * traj[:-1] + um)
    np.testing.assert_allclose(traj[1:], lw, atol=1e-13 * np.abs(traj).max())


def test_advection_spectral_rk4_stages_every_step():
    s, beta, cfl = 32, 1.3, 0.7
    dt = cfl / (s * beta)
    fam = families.get("advection", resolution=s, beta=beta, T=10 * dt, n_snapshots=10, cfl=cfl)
    res = fam.solve([0])
    traj = np.concatenate([res.fields["u0"], res.fields["u"][0]])
    k = np.fft.rfftfreq(s, d=1.0 / s)
    ik = np.where(k < s / 2, 2j * np.pi * k, 0)

    def rhs(u):
        return -beta * np.fft.irfft(ik * np.fft.rfft(u), n=s)

    for n in range(10):
        u = traj[n]
        k1 = rhs(u)
        k2 = rhs(u + dt / 2 * k1)
        k3 = rhs(u + dt / 2 * k2)
        k4 = rhs(u + dt * k3)
        step = u + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        np.testing.assert_allclose(traj[n + 1], step, atol=1e-13)


def test_advection_lax_wendroff_converges_at_order_two():
    beta, T = 1.0, 0.5
    errors = []
    for s in (32, 64, 128):
        fam = families.get(
            "advection", resolution=s, beta=beta, T=T, n_snapshots=2, scheme="lax-wendroff"
        )
        x = fam.coords()["x"]
        u = fam.solve([0], samples=[{"u0": _exact_profile(x)}]).fields["u"][0]
        exact = np.stack([_exact_profile(x - beta * t) for t in fam.coords()["t"]])
        errors.append(np.abs(u - exact).max())
    orders = _order(errors)
    assert np.all((orders > 1.9) & (orders < 2.2)), (errors, orders)


def test_advection_spectral_rk4_converges_at_order_four_in_time():
    s, beta, T = 32, 2.0, 0.5
    errors = []
    for cfl in (0.8, 0.4, 0.2):
        fam = families.get("advection", resolution=s, beta=beta, T=T, n_snapshots=1, cfl=cfl)
        x = fam.coords()["x"]
        u = fam.solve([0], samples=[{"u0": _exact_profile(x)}]).fields["u"][0, -1]
        errors.append(np.abs(u - _exact_profile(x - beta * T)).max())
    orders = _order(errors)
    assert errors[-1] < 1e-4 and np.all((orders > 3.8) & (orders < 4.3)), (errors, orders)


def test_advection_default_initial_condition_is_band_limited():
    fam = families.get("advection", resolution=64, k_max=5, T=0.1, n_snapshots=1)
    spec = np.abs(np.fft.rfft(fam.sample(2)["u0"]))
    assert spec[6:].max() < 1e-10 * spec.max()
    assert spec[0] < 1e-10 * spec.max()


# ---------------------------------------------------------------------------- helpers
@pytest.mark.parametrize("shape", [(8,), (9,), (6, 8)])
def test_fourier_upsample_interpolates_band_limited_data(shape):
    from pdeflow.datagen.families.burgers import fourier_upsample

    u = np.random.default_rng(0).standard_normal(shape)
    fine = fourier_upsample(u, 72)
    assert fine.shape == (72,) * len(shape)
    np.testing.assert_allclose(
        fine[tuple(slice(None, None, 72 // s) for s in shape)], u, atol=1e-13
    )
    # a single resolved wave is reproduced exactly on the fine grid
    x = np.arange(shape[0]) / shape[0]
    wave = np.cos(2 * np.pi * 2 * x + 0.4)
    xf = np.arange(72) / 72
    np.testing.assert_allclose(
        fourier_upsample(wave, 72), np.cos(2 * np.pi * 2 * xf + 0.4), atol=1e-13
    )
