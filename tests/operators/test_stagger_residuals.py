"""The shipped residuals: compiled torch == hand-written numpy, gradcheck, solver trajectories."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pdeflow.datagen.families.heat import Heat
from pdeflow.errors import ConfigError, ShapeError
from pdeflow.operators.stagger import (
    HeatProblem,
    PhysicsResidual,
    TorusNavierStokesProblem,
    heat_residual,
    lid_driven_cavity,
    mac_navier_stokes_residual,
    torus_navier_stokes_residual,
)

RNG = np.random.default_rng(0)


def _t(a):
    return torch.as_tensor(np.asarray(a, dtype=np.float64))


# ------------------------------------------------------------- hand-written references
def heat_by_matrices(new, old, kappa, dt):
    """``(I + dt/2 A) u¹ - (I - dt/2 A) u⁰`` with the heat family's own matrices."""
    n = new.shape[0]
    L, R = Heat(resolution=n, n_steps=1, n_snapshots=1, T=dt).system(kappa)
    return (L @ new.ravel() - R @ old.ravel()).reshape(n, n)


def torus_ns_by_loops(new, old, nu, dt, forcing):
    n = new.shape[0]
    h = 1.0 / n

    def at(a, i, j):
        return a[i % n, j % n]

    def fields(psi):
        w = np.empty((n, n))
        for i in range(n):
            for j in range(n):
                w[i, j] = (
                    -(
                        at(psi, i + 1, j)
                        + at(psi, i - 1, j)
                        + at(psi, i, j + 1)
                        + at(psi, i, j - 1)
                        - 4 * psi[i, j]
                    )
                    / h**2
                )
        adv, lw = np.empty((n, n)), np.empty((n, n))
        for i in range(n):
            for j in range(n):
                u = (at(psi, i, j + 1) - at(psi, i, j - 1)) / (2 * h)
                v = -(at(psi, i + 1, j) - at(psi, i - 1, j)) / (2 * h)
                wx = (at(w, i + 1, j) - at(w, i - 1, j)) / (2 * h)
                wy = (at(w, i, j + 1) - at(w, i, j - 1)) / (2 * h)
                adv[i, j] = u * wx + v * wy
                lw[i, j] = (
                    at(w, i + 1, j)
                    + at(w, i - 1, j)
                    + at(w, i, j + 1)
                    + at(w, i, j - 1)
                    - 4 * w[i, j]
                ) / h**2
        return w, adv, lw

    w1, a1, l1 = fields(new)
    w0, a0, l0 = fields(old)
    x = np.arange(n) * h
    f = forcing * (
        np.sin(2 * np.pi * (x[:, None] + x[None, :]))
        + np.cos(2 * np.pi * (x[:, None] + x[None, :]))
    )
    return w1 - w0 + dt * (0.5 * (a1 + a0) - 0.5 * nu * (l1 + l0) - f)


def mac_by_loops(new, old, solid, ubc, vbc, nu, dt, pin):
    n = new.shape[1]
    h = 1.0 / n
    u1, v1, p1 = new
    u0, v0 = old[0], old[1]

    def at(a, i, j):
        return a[i % n, j % n]

    def lap(a, i, j):
        return (
            at(a, i + 1, j) + at(a, i - 1, j) + at(a, i, j + 1) + at(a, i, j - 1) - 4 * a[i, j]
        ) / h**2

    def adv_u(u, v, i, j):
        vbar = (at(v, i, j) + at(v, i + 1, j) + at(v, i, j - 1) + at(v, i + 1, j - 1)) / 4
        return u[i, j] * (at(u, i + 1, j) - at(u, i - 1, j)) / (2 * h) + vbar * (
            at(u, i, j + 1) - at(u, i, j - 1)
        ) / (2 * h)

    def adv_v(u, v, i, j):
        ubar = (at(u, i, j) + at(u, i - 1, j) + at(u, i, j + 1) + at(u, i - 1, j + 1)) / 4
        return ubar * (at(v, i + 1, j) - at(v, i - 1, j)) / (2 * h) + v[i, j] * (
            at(v, i, j + 1) - at(v, i, j - 1)
        ) / (2 * h)

    ru, rv, rc = np.empty((n, n)), np.empty((n, n)), np.empty((n, n))
    for i in range(n):
        for j in range(n):
            if solid[i, j] == 0 and at(solid, i + 1, j) == 0:
                ru[i, j] = (
                    u1[i, j]
                    - u0[i, j]
                    + dt
                    * (
                        0.5 * (adv_u(u1, v1, i, j) + adv_u(u0, v0, i, j))
                        - 0.5 * nu * (lap(u1, i, j) + lap(u0, i, j))
                        + (at(p1, i + 1, j) - p1[i, j]) / h
                    )
                )
            else:
                ru[i, j] = u1[i, j] - ubc[i, j]
            if solid[i, j] == 0 and at(solid, i, j + 1) == 0:
                rv[i, j] = (
                    v1[i, j]
                    - v0[i, j]
                    + dt
                    * (
                        0.5 * (adv_v(u1, v1, i, j) + adv_v(u0, v0, i, j))
                        - 0.5 * nu * (lap(v1, i, j) + lap(v0, i, j))
                        + (at(p1, i, j + 1) - p1[i, j]) / h
                    )
                )
            else:
                rv[i, j] = v1[i, j] - vbc[i, j]
            if solid[i, j] or (i, j) == pin:
                rc[i, j] = p1[i, j]
            else:
                rc[i, j] = dt * (u1[i, j] - at(u1, i - 1, j) + v1[i, j] - at(v1, i, j - 1)) / h
    return np.concatenate([ru.ravel(), rv.ravel(), rc.ravel()])


def _cavity(n):
    obstacle = np.zeros((n, n), dtype=bool)
    obstacle[n // 2 - 1 : n // 2 + 1, n // 2 - 1 : n // 2 + 1] = True
    return lid_driven_cavity(n, lid=1.0, obstacle=obstacle)


# ------------------------------------------------------------- compiled == hand-written
def test_heat_compiled_equals_family_matrices():
    n, dt = 12, 0.03
    kappa = 0.01 * np.exp(RNG.standard_normal((n, n)))
    new, old = RNG.standard_normal((2, 3, n, n))
    r = heat_residual(n, dt)
    got = r(_t(new), _t(old), kappa=_t(kappa)).numpy()
    want = np.stack([heat_by_matrices(new[b], old[b], kappa, dt).ravel() for b in range(3)])
    assert np.abs(got - want).max() <= 1e-12 * np.abs(want).max()
    assert (
        np.abs(r.numpy(new[0], old[0], kappa=kappa) - want[0]).max() <= 1e-12 * np.abs(want).max()
    )


def test_torus_ns_compiled_equals_loops():
    n, nu, dt = 10, 1e-3, 0.1
    new, old = 1e-2 * RNG.standard_normal((2, 2, n, n))
    r = torus_navier_stokes_residual(n, nu, dt, 0.1)
    got = r(_t(new), _t(old)).numpy()
    want = np.stack([torus_ns_by_loops(new[b], old[b], nu, dt, 0.1).ravel() for b in range(2)])
    assert np.abs(got - want).max() <= 1e-12 * np.abs(want).max()


def test_mac_ns_compiled_equals_loops():
    n, nu, dt = 10, 0.01, 0.02
    solid, ubc, vbc = _cavity(n)
    new, old = RNG.standard_normal((2, 2, 3, n, n))
    r = mac_navier_stokes_residual(n, nu, dt, pin=(1, 1))
    got = r(_t(new), _t(old), solid=_t(solid), ubc=_t(ubc), vbc=_t(vbc)).numpy()
    want = np.stack(
        [mac_by_loops(new[b], old[b], solid, ubc, vbc, nu, dt, (1, 1)) for b in range(2)]
    )
    assert np.abs(got - want).max() <= 1e-12 * np.abs(want).max()


def test_float32_batches_keep_their_dtype():
    r = heat_residual(8, 0.01)
    out = r(torch.zeros(4, 1, 8, 8), torch.zeros(4, 1, 8, 8), kappa=torch.ones(8, 8))
    assert out.dtype == torch.float32 and out.shape == (4, 64)


# ------------------------------------------------------------- gradcheck
def test_gradcheck_heat():
    r = heat_residual(6, 0.05)
    args = [torch.randn(2, 6, 6, dtype=torch.float64, requires_grad=True) for _ in range(2)]
    kappa = (0.5 + torch.rand(2, 6, 6, dtype=torch.float64)).requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b, k: r(a, b, kappa=k), (*args, kappa))


def test_gradcheck_torus_ns():
    r = torus_navier_stokes_residual(6, 1e-2, 0.1)
    args = [1e-2 * torch.randn(2, 36, dtype=torch.float64) for _ in range(2)]
    args = [a.requires_grad_() for a in args]
    assert torch.autograd.gradcheck(r, tuple(args))


def test_gradcheck_mac_ns():
    n = 6
    r = mac_navier_stokes_residual(n, 0.01, 0.02)
    solid, ubc, vbc = (_t(a) for a in lid_driven_cavity(n))
    args = [torch.randn(2, 3, n, n, dtype=torch.float64, requires_grad=True) for _ in range(2)]
    ubc = ubc.clone().requires_grad_()
    assert torch.autograd.gradcheck(
        lambda a, b, ub: r(a, b, solid=solid, ubc=ub, vbc=vbc), (*args, ubc)
    )


# ------------------------------------------------------------- on the solvers' trajectories
def _rms(a):
    return float(np.sqrt(np.mean(np.square(a))))


def test_heat_residual_vanishes_on_the_family_solution():
    p = HeatProblem(resolution=32, n_records=5, record_dt=0.1, steps_per_record=1)
    ref = p.reference([0, 1])
    kappa = np.stack([p.initial(i)["kappa"] for i in (0, 1)])
    traj = torch.cat([ref["u0"][:, None], ref["reference"]], dim=1)
    on_solver = max(
        _rms(p.residual(traj[:, m + 1], traj[:, m], kappa=_t(kappa)).numpy()) for m in range(5)
    )
    noise = torch.randn_like(traj[:, :2]) * traj.std()
    on_random = _rms(p.residual(noise[:, 1], noise[:, 0], kappa=_t(kappa)).numpy())
    assert on_solver <= 1e-3 * on_random
    assert on_solver < 1e-12  # one CN step of the family is exactly this residual


def test_torus_ns_residual_small_on_the_spectral_solution():
    p = TorusNavierStokesProblem(resolution=64, n_records=5, record_dt=0.1, nu=1e-3)
    ref = p.reference([0])
    traj = torch.cat([ref["u0"][:, None], ref["reference"]], dim=1)
    on_solver = max(_rms(p.residual(traj[:, m + 1], traj[:, m]).numpy()) for m in range(5))
    noise = torch.randn_like(traj[:, :2]) * traj.std()
    on_random = _rms(p.residual(noise[:, 1], noise[:, 0]).numpy())
    assert on_solver <= 1e-3 * on_random


def test_mac_ns_residual_on_a_newton_trajectory():
    """No MAC family exists: the reference is Newton on the residual itself (a lid-driven
    cavity with an obstacle, from rest); checks the residual is solvable and the steps
    converge, not an independent discretization."""
    n, steps = 10, 3
    r = mac_navier_stokes_residual(n, nu=0.05, dt=0.05)
    fields = {k: _t(a) for k, a in zip(("solid", "ubc", "vbc"), _cavity(n), strict=True)}
    state = torch.zeros(1, 3, n, n, dtype=torch.float64)
    traj = [state]
    for _ in range(steps):
        new = traj[-1].clone()
        for _ in range(20):
            res = r(new, traj[-1], **fields)[0]
            if res.abs().max() < 1e-13:
                break
            J = torch.func.jacrev(lambda x, old=traj[-1]: r(x, old, **fields)[0])(new)
            new = new - torch.linalg.solve(J.reshape(3 * n * n, -1), res).reshape(new.shape)
        traj.append(new)
    on_solver = max(_rms(r(traj[m + 1], traj[m], **fields).numpy()) for m in range(steps))
    noise = torch.randn(2, 1, 3, n, n, dtype=torch.float64)
    on_random = _rms(r(noise[0], noise[1], **fields).numpy())
    assert on_solver <= 1e-3 * on_random
    u = traj[-1][0, 0]
    assert u[2:-3, -2].mean() > 0.1  # the lid drags the fluid below it
    assert (
        u[n // 2 - 1 : n // 2 + 1, n // 2 - 1 : n // 2 + 1].abs().max() < 1e-12
    )  # obstacle at rest


# ------------------------------------------------------------- from_numpy and errors
def test_from_numpy_bakes_numbers_and_passes_fields():
    def relax(new, old, target, rate):
        return new - old - rate * (target - new)

    r = PhysicsResidual.from_numpy(relax, np.zeros(4), {"target": np.zeros(4), "rate": 0.5})
    assert r.constants == {"rate": 0.5} and r.field_shapes == {"target": (4,)}
    out = r(torch.ones(2, 4), torch.zeros(2, 4), target=torch.full((2, 4), 3.0))
    assert torch.allclose(out, torch.full((2, 4), 1.0 - 0.5 * 2.0))
    with pytest.raises(ConfigError, match="expects fields \\['target'\\]"):
        r(torch.ones(2, 4), torch.zeros(2, 4))
    with pytest.raises(ShapeError, match="must hold 4 values per sample"):
        r(torch.ones(2, 5), torch.zeros(2, 5), target=torch.zeros(4))
