"""Brusselator reaction–diffusion: nothing but :func:`~pdeflow.datagen.families.from_rhs`
over its numpy code.

``u_t = D_u Δu + a - (b + 1) u + u² v``, ``v_t = D_v Δv + b u - u² v`` on the periodic unit
square, 5-point Laplacian on ``s x s`` nodes (``h = 1 / s``).  Each sample draws ``b`` in
``(2.5, 3.5)`` (``a = 1``: past the Hopf point ``b = 1 + a²``, so the states oscillate) and
an initial state ``(a, b / a)`` plus a periodic GRF perturbation; it stores ``u`` and ``v`` at
10 times up to ``t = 10``.  ``method="auto"`` integrates with rk45 while the diffusion is
not stiff (``s`` up to about 64 with these constants) and BDF with the analytic sparse
Jacobian above.

Examples
--------
>>> from pdeflow.datagen import families
>>> fam = families.get("brusselator", resolution=16)
>>> fam.fields()["y0"].shape, fam.fields()["u"].shape, fam.param_names()
((2, 16, 16), (10, 16, 16), ('b',))
"""

from __future__ import annotations

import numpy as np

from pdeflow.datagen.families import register
from pdeflow.datagen.families.rhs import from_rhs
from pdeflow.datagen.samplers import GRFSampler

__all__ = ["Brusselator", "brusselator", "state_shape"]


def _laplacian(a: np.ndarray) -> np.ndarray:
    s = a.shape[-1]
    return s * s * (np.roll(a, 1, 0) + np.roll(a, -1, 0) + np.roll(a, 1, 1)
                    + np.roll(a, -1, 1) - 4 * a)


def brusselator(t: float, y: np.ndarray, p: dict) -> np.ndarray:
    """The RHS: ``y`` of shape ``(2, s, s)`` (u, v), ``p`` with ``a, b, Du, Dv``."""
    u, v = y[0], y[1]
    u2v = u * u * v
    return np.stack([
        p["Du"] * _laplacian(u) + p["a"] - (p["b"] + 1.0) * u + u2v,
        p["Dv"] * _laplacian(v) + p["b"] * u - u2v,
    ])


def state_shape(resolution: int) -> tuple[int, int, int]:
    """``(2, s, s)``: u and v on ``s x s`` nodes."""
    return (2, resolution, resolution)


Brusselator = register(type(from_rhs(
    "brusselator", brusselator, state_shape=state_shape, resolution=32,
    components=("u", "v"),
    initial=GRFSampler(alpha=2.0, tau=3.0, sigma=3.0, mean=(1.0, 3.0), scale=0.1,
                       spatial_dims=2),
    params={"a": 1.0, "b": (2.5, 3.5), "Du": 2e-4, "Dv": 1e-3},
    times=np.linspace(1.0, 10.0, 10), rtol=1e-6, atol=1e-8,
    description="Brusselator reaction-diffusion (from_rhs over its numpy code): random b "
                "and perturbed steady state; u, v at 10 times.",
)))
