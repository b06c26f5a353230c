"""The shipped residuals: heat, Navier-Stokes on the torus (ψ), Navier-Stokes on a MAC grid.

Each is a plain numpy function ``fn(new, old, **params)`` of one implicit step, written
with ``np.roll`` stencils and masks, multiplied by ``dt`` so that it is measured in the
units of the state; the builders trace and compile it (:class:`PhysicsResidual`).
Arrays are indexed ``[i, j] = (x_i, y_j)`` on the unit square, ``h = 1 / n``.
"""

from __future__ import annotations

import numpy as np

from pdeflow.errors import ConfigError
from pdeflow.operators.stagger.residual import PhysicsResidual

__all__ = [
    "heat_residual",
    "heat_step",
    "lid_driven_cavity",
    "mac_navier_stokes_residual",
    "mac_navier_stokes_step",
    "torus_navier_stokes_residual",
    "torus_navier_stokes_step",
]


def _check(name: str, value: float, low: float = 0.0) -> None:
    if not np.isfinite(value) or value <= low:
        raise ConfigError(f"The {name!r} parameter must be a finite number > {low}. Got {value!r}.")


# ---------------------------------------------------------------------------------- heat
def _diffusion(u, kappa, n):
    """``∇·(κ∇u)`` finite volumes, harmonic-mean faces, ``u = 0`` half a cell outside."""
    out = 0.0 * u
    idx = np.arange(n)
    for ax in (0, 1):
        shape = (n, 1) if ax == 0 else (1, n)
        inner = (idx < n - 1).astype(float).reshape(shape)  # the face i+1/2 is interior
        k_next = np.roll(kappa, -1, ax)
        t = 2.0 * kappa * k_next / (kappa + k_next) * (n * n)
        flux = inner * t * (np.roll(u, -1, ax) - u) - (1.0 - inner) * 2.0 * kappa * (n * n) * u
        back = np.roll(inner * t * (u - np.roll(u, -1, ax)), 1, ax)
        first = (idx == 0).astype(float).reshape(shape)
        out = out + flux + (1.0 - first) * back - first * 2.0 * kappa * (n * n) * u
    return out


def heat_step(new, old, kappa, dt):
    """Crank-Nicolson residual of ``u_t = ∇·(κ∇u)``, ``u = 0`` on the boundary.

    ``r = u¹ - u⁰ - dt/2 (L u¹ + L u⁰)``, ``L`` the finite-volume operator of the ``heat``
    family (cell-centred, harmonic-mean faces): zero exactly when ``old -> new`` is one of
    that family's Crank-Nicolson steps of length ``dt``.

    Parameters
    ----------
    new, old : ndarray, shape (n, n)
    kappa : ndarray, shape (n, n), positive
    dt : float

    Returns
    -------
    ndarray, shape (n, n)
    """
    n = new.shape[0]
    return new - old - 0.5 * dt * (_diffusion(new, kappa, n) + _diffusion(old, kappa, n))


def heat_residual(n: int, dt: float) -> PhysicsResidual:
    """Compiled :func:`heat_step` on an ``n × n`` grid; field ``kappa``.

    Examples
    --------
    >>> import torch
    >>> r = heat_residual(8, 0.01)
    >>> r(torch.zeros(2, 1, 8, 8), torch.zeros(2, 1, 8, 8), kappa=torch.ones(2, 1, 8, 8)).shape
    torch.Size([2, 64])
    """
    _check("dt", dt)
    z = np.zeros((n, n))
    return PhysicsResidual.from_numpy(heat_step, z, {"kappa": z + 1.0, "dt": dt})


# ------------------------------------------------------------------ Navier-Stokes, torus
def _lap(a, n):
    return (np.roll(a, 1, 0) + np.roll(a, -1, 0) + np.roll(a, 1, 1) + np.roll(a, -1, 1) - 4 * a) * (
        n * n
    )


def _dx(a, ax, n):
    return (np.roll(a, -1, ax) - np.roll(a, 1, ax)) * (0.5 * n)


def torus_navier_stokes_step(new, old, nu, dt, forcing):
    """Crank-Nicolson residual of 2-D Navier-Stokes in streamfunction form on the torus.

    The state is ``ψ``; ``w = -Δψ`` and ``u = ∇^⊥ψ = (ψ_y, -ψ_x)`` are second-order
    stencils, and ``r = w¹ - w⁰ + dt [(N¹ + N⁰)/2 - ν (Δw¹ + Δw⁰)/2 - f]`` with
    ``N = u·∇w`` and the ``navier-stokes`` family's forcing
    ``f = forcing · (sin 2π(x + y) + cos 2π(x + y))``, ``x_i = i / n``.

    Parameters
    ----------
    new, old : ndarray, shape (n, n)
        Streamfunction at ``t + dt`` and ``t``.
    nu, dt, forcing : float

    Returns
    -------
    ndarray, shape (n, n)
        In units of vorticity.
    """
    n = new.shape[0]
    x = np.arange(n) / n
    phase = 2.0 * np.pi * (x[:, None] + x[None, :])
    f = forcing * (np.sin(phase) + np.cos(phase))

    def parts(psi):
        w = -_lap(psi, n)
        adv = _dx(psi, 1, n) * _dx(w, 0, n) - _dx(psi, 0, n) * _dx(w, 1, n)
        return w, adv, _lap(w, n)

    w1, n1, l1 = parts(new)
    w0, n0, l0 = parts(old)
    return w1 - w0 + dt * (0.5 * (n1 + n0) - 0.5 * nu * (l1 + l0) - f)


def torus_navier_stokes_residual(
    n: int, nu: float = 1e-3, dt: float = 0.1, forcing: float = 0.1
) -> PhysicsResidual:
    """Compiled :func:`torus_navier_stokes_step` on an ``n × n`` torus (no fields).

    Examples
    --------
    >>> import torch
    >>> r = torus_navier_stokes_residual(8)
    >>> round(float(r(torch.zeros(1, 64), torch.zeros(1, 64)).abs().max()), 5)  # dt · max|f|
    0.01414
    """
    _check("nu", nu)
    _check("dt", dt)
    return PhysicsResidual.from_numpy(
        torus_navier_stokes_step, np.zeros((n, n)), {"nu": nu, "dt": dt, "forcing": forcing}
    )


# ------------------------------------------------------------------- Navier-Stokes, MAC
def mac_navier_stokes_step(new, old, solid, ubc, vbc, nu, dt, pin_i, pin_j):
    """Implicit residual of incompressible Navier-Stokes on a staggered (MAC) grid.

    Cell ``(i, j)`` has centre ``((i+½)h, (j+½)h)`` and pressure ``p[i, j]``; ``u[i, j]``
    lives on its east face, ``v[i, j]`` on its north face.  ``solid`` marks solid cells
    (walls, obstacle).  On faces between two fluid cells the momentum residual is

    ``u¹ - u⁰ + dt [(A¹ + A⁰)/2 - ν (Δu¹ + Δu⁰)/2 + ∂ₓp¹]``

    (Crank-Nicolson advection and diffusion, implicit pressure; ``A = u ∂ₓu + v̄ ∂ᵧu``,
    central differences, ``v̄`` the mean of the four nearest ``v``), likewise for ``v``;
    on every other face the velocity equals the imposed one, ``u¹ - ubc`` (walls 0, a
    moving lid, an inflow).  Fluid cells carry ``dt · ∇·u¹``, except the cell
    ``(pin_i, pin_j)``, whose redundant divergence equation fixes ``p = 0`` instead;
    solid cells carry ``p¹``.

    Parameters
    ----------
    new, old : ndarray, shape (3, n, n)
        ``(u, v, p)`` at ``t + dt`` and ``t``.
    solid : ndarray, shape (n, n)
        1 in solid cells, 0 in fluid; the outer ring of cells must be solid.
    ubc, vbc : ndarray, shape (n, n)
        Imposed face velocities (read where a face touches a solid cell).
    nu, dt : float
    pin_i, pin_j : int
        A fluid cell.

    Returns
    -------
    tuple of three ndarrays, shape (n, n)
        Momentum in x, momentum in y, continuity.
    """
    n = new.shape[1]
    u1, v1, p1 = new[0], new[1], new[2]
    u0, v0 = old[0], old[1]
    fluid = 1.0 - solid
    fu = fluid * np.roll(fluid, -1, 0)
    fv = fluid * np.roll(fluid, -1, 1)

    def lap(a):
        return _lap(a, n)

    def adv_u(u, v):
        vbar = 0.25 * (v + np.roll(v, -1, 0) + np.roll(v, 1, 1) + np.roll(np.roll(v, -1, 0), 1, 1))
        return u * _dx(u, 0, n) + vbar * _dx(u, 1, n)

    def adv_v(u, v):
        ubar = 0.25 * (u + np.roll(u, 1, 0) + np.roll(u, -1, 1) + np.roll(np.roll(u, 1, 0), -1, 1))
        return ubar * _dx(v, 0, n) + v * _dx(v, 1, n)

    mu = (
        u1
        - u0
        + dt
        * (
            0.5 * (adv_u(u1, v1) + adv_u(u0, v0))
            - 0.5 * nu * (lap(u1) + lap(u0))
            + (np.roll(p1, -1, 0) - p1) * n
        )
    )
    mv = (
        v1
        - v0
        + dt
        * (
            0.5 * (adv_v(u1, v1) + adv_v(u0, v0))
            - 0.5 * nu * (lap(v1) + lap(v0))
            + (np.roll(p1, -1, 1) - p1) * n
        )
    )
    div = (u1 - np.roll(u1, 1, 0) + v1 - np.roll(v1, 1, 1)) * n
    pin = np.zeros((n, n))
    pin[int(pin_i), int(pin_j)] = 1.0
    ru = fu * mu + (1.0 - fu) * (u1 - ubc)
    rv = fv * mv + (1.0 - fv) * (v1 - vbc)
    rc = fluid * (1.0 - pin) * dt * div + (solid + pin) * p1
    return ru, rv, rc


def mac_navier_stokes_residual(
    n: int, nu: float = 1e-2, dt: float = 0.01, pin: tuple[int, int] = (1, 1)
) -> PhysicsResidual:
    """Compiled :func:`mac_navier_stokes_step`: state (3, n, n), fields solid, ubc, vbc.

    Examples
    --------
    >>> import torch
    >>> r = mac_navier_stokes_residual(8)
    >>> solid, ubc, vbc = (torch.as_tensor(a) for a in lid_driven_cavity(8))
    >>> z = torch.zeros(1, 3, 8, 8, dtype=torch.float64)
    >>> r(z, z, solid=solid, ubc=ubc, vbc=vbc).shape
    torch.Size([1, 192])
    """
    _check("nu", nu)
    _check("dt", dt)
    z = np.zeros((n, n))
    params = {"solid": z, "ubc": z, "vbc": z, "nu": nu, "dt": dt, "pin_i": pin[0], "pin_j": pin[1]}
    return PhysicsResidual.from_numpy(mac_navier_stokes_step, np.zeros((3, n, n)), params)


def lid_driven_cavity(
    n: int, lid: float = 1.0, obstacle: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fields ``(solid, ubc, vbc)`` of a lid-driven cavity, optionally with an obstacle.

    The outer ring of cells is wall; the top wall (``j = n-1``) moves with ``u = lid``;
    ``obstacle`` (bool, (n, n)) adds solid cells.

    Returns
    -------
    tuple of ndarray, shape (n, n) each

    Examples
    --------
    >>> solid, ubc, vbc = lid_driven_cavity(6)
    >>> int(solid.sum()), float(ubc[:, -1].max())
    (20, 1.0)
    """
    solid = np.ones((n, n))
    solid[1:-1, 1:-1] = 0.0
    if obstacle is not None:
        solid = np.maximum(solid, np.asarray(obstacle, dtype=float))
    ubc = np.zeros((n, n))
    ubc[:, -1] = lid
    return solid, ubc, np.zeros((n, n))
