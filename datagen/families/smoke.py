"""Buoyant smoke in a closed box open at the top (the Text2PDE ``NS2D`` setting, small).

State on ``s × s`` cell centres ``(x_i, y_j) = ((i + ½) h, (j + ½) h)``, ``h = 1/s``, ``y``
up: smoke density ``d`` and velocity ``(u, v)``.  Each of ``n_frames · substeps`` steps of
length ``dt = T / (n_frames · substeps)``:

1. inflow: ``d ← max(d, q)`` with ``q`` a smooth disc of radius ``radius`` centred at
   ``(source_x, source_y)``;
2. buoyancy: ``v ← v + dt · buoyancy · d``;
3. semi-Lagrangian advection of ``d``, ``u``, ``v`` (bilinear, back-traced by ``dt · u``);
4. pressure projection: ``Δp = ∇·u`` (5-point Laplacian; Neumann at the walls, ``p = 0``
   above the top), ``u ← u - ∇p``, walls set to no-through-flow.  The Laplacian is
   factorized once per resolution (sparse LU, cached) and reused for every step and sample.

Velocities are collocated with the density (central differences), as in Stam's *stable
fluids*: the projection removes most, not all, of the divergence.

Parameters per sample (on the 0.01 grid, so captions round-trip them): ``source_x`` in
``[0.2, 0.8]`` and ``buoyancy`` in ``[0.5, 1.5]``.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, final

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from scipy.ndimage import map_coordinates

from pdeflow.datagen.families import register
from pdeflow.datagen.families._base import FieldSpec, PointwiseFamily
from pdeflow.errors import ConfigError, DataError

__all__ = ["SmokeBuoyancy", "poisson_factor"]


@functools.lru_cache(maxsize=8)
def poisson_factor(s: int) -> Any:
    """Sparse LU of the ``s² × s²`` pressure Laplacian (Neumann on three walls, Dirichlet
    at the top), scaled by ``h² = 1/s²``; computed once per ``s``."""
    def second_difference(dirichlet_end: bool) -> sp.csc_matrix:
        main = -2.0 * np.ones(s)
        main[0] = -1.0
        main[-1] = -3.0 if dirichlet_end else -1.0
        return sp.diags([np.ones(s - 1), main, np.ones(s - 1)], [-1, 0, 1], format="csc")

    eye = sp.identity(s, format="csc")
    lap = sp.kron(second_difference(False), eye) + sp.kron(eye, second_difference(True))
    return spla.splu(sp.csc_matrix(lap * float(s * s)))


@final
@register
@dataclass(frozen=True)
class SmokeBuoyancy(PointwiseFamily):
    """2-D buoyant smoke plume; parameters: source position and buoyancy.

    Parameters
    ----------
    resolution : int
        Cells per axis ``s`` (>= 8).
    n_frames : int
        Stored frames, at ``t_k = k T / n_frames``, ``k = 1 .. n_frames``.
    T : float
        Final time.
    substeps : int
        Time steps per stored frame.
    source_y, radius : float
        Height of the source centre and its radius (units of the box side).
    seed : int

    Notes
    -----
    Shapes: input ``source`` (s, s), the inflow disc ``q``; output ``trajectory``
    (n_frames, 3, s, s), channels ``(d, u, v)``, indexed ``[k, c, i, j]`` at ``(t_k, x_i,
    y_j)``.  Statistics: ``iterations`` = time steps, ``residual`` = relative divergence
    left after the last projection.

    Examples
    --------
    >>> fam = SmokeBuoyancy(resolution=16, n_frames=4)
    >>> fam.solve([0]).fields["trajectory"].shape
    (1, 4, 3, 16, 16)
    >>> sorted(fam.sample(0))
    ['buoyancy', 'source', 'source_x']
    """

    resolution: int = 64
    n_frames: int = 16
    T: float = 2.0
    substeps: int = 4
    source_y: float = 0.12
    radius: float = 0.07
    seed: int = 0
    name: ClassVar[str] = "smoke-buoyancy"

    def __post_init__(self) -> None:
        self._check_int("resolution", self.resolution, 8)
        self._check_int("n_frames", self.n_frames, 1)
        self._check_int("substeps", self.substeps, 1)
        self._check_int("seed", self.seed, 0)
        for opt in ("T", "source_y", "radius"):
            self._check_positive(opt, getattr(self, opt))
        if not self.source_y < 1.0:
            raise ConfigError(
                f"The 'source_y' option of family 'smoke-buoyancy' must be < 1. "
                f"Got {self.source_y!r}."
            )

    def fields(self) -> dict[str, FieldSpec]:
        s, n = self.resolution, self.n_frames
        return {
            "source": FieldSpec("source", (s, s), "input", ("x", "y"), "inflow density"),
            "trajectory": FieldSpec(
                "trajectory", (n, 3, s, s), "output", ("t", "c", "x", "y"),
                "density (1), velocity u, v (box sides per time unit)",
            ),
        }

    def coords(self) -> dict[str, np.ndarray]:
        x = (np.arange(self.resolution) + 0.5) / self.resolution
        t = self.T * np.arange(1, self.n_frames + 1) / self.n_frames
        return {"t": t, "c": np.arange(3.0), "x": x, "y": x.copy()}

    def param_names(self) -> tuple[str, ...]:
        return ("source_x", "buoyancy")

    def sample(self, i: int) -> dict[str, Any]:
        rng = self.rng(i)
        source_x = round(float(rng.uniform(0.2, 0.8)), 2)
        buoyancy = round(float(rng.uniform(0.5, 1.5)), 2)
        return {"source": self.source(source_x), "source_x": source_x, "buoyancy": buoyancy}

    def source(self, source_x: float) -> np.ndarray:
        """The inflow disc ``q`` (s, s): 1 inside, a linear edge one cell wide."""
        x = (np.arange(self.resolution) + 0.5) / self.resolution
        r = np.hypot(x[:, None] - source_x, x[None, :] - self.source_y)
        return np.clip((self.radius - r) * self.resolution + 0.5, 0.0, 1.0)

    def solve_one(self, sample: Mapping[str, Any]) -> tuple[dict[str, np.ndarray], dict]:
        s = self.resolution
        q = np.asarray(sample["source"], dtype=float)
        if q.shape != (s, s) or not np.isfinite(q).all():
            raise DataError(
                f"family 'smoke-buoyancy': 'source' must be a finite array of shape {(s, s)}; "
                f"got shape {q.shape}."
            )
        b = float(sample["buoyancy"])
        dt = self.T / (self.n_frames * self.substeps)
        d, u, v = np.zeros((s, s)), np.zeros((s, s)), np.zeros((s, s))
        out = np.empty((self.n_frames, 3, s, s))
        residual = 0.0
        for k in range(self.n_frames):
            for _ in range(self.substeps):
                d = np.maximum(d, q)
                v = v + dt * b * d
                d, u, v = _advect((d, u, v), u, v, dt * s)
                u, v, residual = _project(u, v)
            out[k] = d, u, v
        return {"trajectory": out}, {"iterations": self.n_frames * self.substeps,
                                     "residual": residual}


def _advect(fields, u, v, scale):
    """Semi-Lagrangian step: each field read at ``x - dt·u`` (bilinear, clamped)."""
    s = u.shape[0]
    i, j = np.meshgrid(np.arange(s, dtype=float), np.arange(s, dtype=float), indexing="ij")
    coords = np.stack([i - scale * u, j - scale * v])
    return tuple(map_coordinates(f, coords, order=1, mode="nearest") for f in fields)


def _divergence(u, v):
    s = u.shape[0]
    up = np.pad(u, ((1, 1), (0, 0)))  # walls: u = 0 outside
    vp = np.concatenate([np.zeros((s, 1)), v, v[:, -1:]], axis=1)  # open top: dv/dy = 0
    return 0.5 * s * ((up[2:] - up[:-2]) + (vp[:, 2:] - vp[:, :-2]))


def _project(u, v):
    """Remove the gradient part of ``(u, v)``; returns ``u, v`` and the relative divergence
    left."""
    s = u.shape[0]
    div = _divergence(u, v)
    p = poisson_factor(s).solve(div.ravel()).reshape(s, s)
    pp = np.pad(p, ((1, 1), (1, 0)), mode="edge")  # Neumann on walls and floor
    pp = np.concatenate([pp, -pp[:, -1:]], axis=1)  # p = 0 halfway above the top cell
    u = u - 0.5 * s * (pp[2:, 1:-1] - pp[:-2, 1:-1])
    v = v - 0.5 * s * (pp[1:-1, 2:] - pp[1:-1, :-2])
    u[0], u[-1], v[:, 0] = 0.0, 0.0, 0.0
    norm = float(np.linalg.norm(div))
    return u, v, float(np.linalg.norm(_divergence(u, v)) / norm) if norm > 0 else 0.0
