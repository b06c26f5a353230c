"""Poisson ``-Δu = f`` on the unit square with random Dirichlet data: one matrix, many right sides.

Node grid of ``resolution`` points per axis, boundary included (``h = 1 / (s - 1)``); the
unknowns are the ``(s - 2)²`` interior nodes, 5-point Laplacian
(:func:`~pdeflow.datagen.families.darcy.node_diffusion_matrix` with ``a = 1``).  The
boundary values ``g`` move to the right-hand side.  Every sample shares one matrix object,
so a direct solve factorizes once per chunk.

Why hand-written (not :func:`~pdeflow.datagen.families.from_rhs`): an elliptic problem, no
time integration; its samples are linear systems solved as one SKR sequence per chunk
(matrices from :mod:`pdeflow.datagen.families.assembly`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, final

import numpy as np
import scipy.sparse as sp

from pdeflow.datagen import samplers
from pdeflow.datagen.families import FieldSpec, LinearFamily, register
from pdeflow.errors import ShapeError

from .assembly import dirichlet_laplacian, node_laplacian
from .darcy import cell_centres, check_common, check_grf_options, node_boundary_rhs

__all__ = ["Poisson", "PoissonCell", "poisson_system", "node_laplacian"]

def poisson_system(f: np.ndarray, g: np.ndarray) -> tuple[sp.csr_matrix, np.ndarray]:
    """Node-grid system of ``-Δu = f`` on the unit square with ``u = g`` on the boundary.

    Parameters
    ----------
    f : ndarray, shape (n, n)
        Source at the nodes (boundary entries unused).
    g : ndarray, shape (n, n)
        Dirichlet values at the boundary nodes (interior entries unused).

    Returns
    -------
    A : csr_matrix, shape ((n-2)², (n-2)²)
        :func:`node_laplacian` ``(n)`` (shared, cached).
    b : ndarray, shape ((n-2)²,)
        ``f`` at the interior nodes plus the boundary neighbours' ``g / h²``.

    Examples
    --------
    >>> A, b = poisson_system(np.zeros((5, 5)), np.ones((5, 5)))
    >>> bool(np.allclose(sp.linalg.spsolve(A, b), 1.0))
    True
    """
    f = np.asarray(f, dtype=float)
    g = np.asarray(g, dtype=float)
    if f.ndim != 2 or f.shape[0] != f.shape[1] or f.shape != g.shape:
        raise ShapeError(
            f"f and g must be square node arrays of one shape. Got {f.shape} and {g.shape}."
        )
    n = f.shape[0]
    b = f[1:-1, 1:-1].ravel() + node_boundary_rhs(np.ones((n, n)), g)
    return node_laplacian(n), b


@register
@final
@dataclass(frozen=True)
class Poisson(LinearFamily):
    """``-Δu = f`` in the unit square, ``u = g`` on its boundary; ``f`` a GRF, ``g`` a GRF ring.

    Parameters
    ----------
    resolution : int
        Nodes per axis, boundary included.
    seed : int
    alpha, tau : float
        GRF of the source ``f`` (Neumann/DCT, non-periodic).
    boundary_alpha, boundary_tau : float
        Periodic GRF along the boundary (:func:`pdeflow.datagen.samplers.boundary_ring`).

    Notes
    -----
    Fields: ``f`` (input, (s, s)) source; ``g`` (input, (s, s)) boundary values, zero inside;
    ``u`` (output, (s, s)) solution, boundary included.

    Examples
    --------
    >>> fam = Poisson(resolution=16)
    >>> (A0, _), (A1, _) = fam.assemble(fam.sample(0)), fam.assemble(fam.sample(1))
    >>> A0 is A1, A0.shape
    (True, (196, 196))
    """

    resolution: int = 64
    seed: int = 0
    alpha: float = 2.0
    tau: float = 3.0
    boundary_alpha: float = 1.5
    boundary_tau: float = 3.0
    name: ClassVar[str] = "poisson"

    def __post_init__(self) -> None:
        check_common(self)
        check_grf_options(self, self.alpha, self.tau)
        check_grf_options(self, self.boundary_alpha, self.boundary_tau, "boundary_", dim=1)

    def fields(self) -> dict[str, FieldSpec]:
        s = (self.resolution, self.resolution)
        return {
            "f": FieldSpec("f", s, "input", ("x", "y"), "source at the nodes"),
            "g": FieldSpec("g", s, "input", ("x", "y"), "Dirichlet values, 0 inside"),
            "u": FieldSpec("u", s, "output", ("x", "y"), "solution at the nodes"),
        }

    def coords(self) -> dict[str, np.ndarray]:
        c = np.linspace(0.0, 1.0, self.resolution)
        return {"x": c, "y": c.copy()}

    def sample(self, i: int) -> dict[str, Any]:
        s = self.resolution
        rng = self.rng(i)
        f = samplers.grf((s, s), rng, alpha=self.alpha, tau=self.tau)
        ring = samplers.boundary_ring(s, rng, alpha=self.boundary_alpha, tau=self.boundary_tau)
        return {"f": f, "g": samplers.ring_to_grid(ring, s)}

    def features(self, sample: Mapping[str, Any]) -> np.ndarray:
        """``f`` and ``g`` flattened and concatenated, shape (2 s²,)."""
        f = np.asarray(sample["f"], dtype=float).ravel()
        return np.concatenate([f, np.asarray(sample["g"], dtype=float).ravel()])

    def assemble(self, sample: Mapping[str, Any]) -> tuple[sp.csr_matrix, np.ndarray]:
        return poisson_system(sample["f"], sample["g"])

    def to_outputs(self, sample: Mapping[str, Any], solution: np.ndarray) -> dict[str, np.ndarray]:
        s = self.resolution
        u = np.array(sample["g"], dtype=float)
        u[1:-1, 1:-1] = np.asarray(solution, dtype=float).reshape(s - 2, s - 2)
        return {"u": u}


@register
@final
@dataclass(frozen=True)
class PoissonCell(LinearFamily):
    """The SKR paper's Poisson: ``-Δu = f`` on the unit square, ``u = 0`` on the boundary,
    ``f`` a Neumann GRF; cell-centred (one matrix, :func:`dirichlet_laplacian`, shared by
    every sample; only the right-hand side changes).

    Parameters
    ----------
    resolution : int
        Cells per axis.
    seed : int
    alpha, tau : float
        GRF of the source ``f`` (Neumann/DCT, at the cell centres).

    Examples
    --------
    >>> fam = PoissonCell(resolution=8)
    >>> (A, b), (A2, _) = fam.assemble(fam.sample(0)), fam.assemble(fam.sample(1))
    >>> A is A2, b.shape
    (True, (64,))
    """

    resolution: int = 64
    seed: int = 0
    alpha: float = 2.0
    tau: float = 3.0
    name: ClassVar[str] = "poisson-cell"

    def __post_init__(self) -> None:
        check_common(self)
        check_grf_options(self, self.alpha, self.tau)

    def fields(self) -> dict[str, FieldSpec]:
        s = (self.resolution, self.resolution)
        return {
            "f": FieldSpec("f", s, "input", ("x", "y"), "source at the cell centres"),
            "u": FieldSpec("u", s, "output", ("x", "y"), "solution at the cell centres"),
        }

    def coords(self) -> dict[str, np.ndarray]:
        c = cell_centres(self.resolution)
        return {"x": c, "y": c.copy()}

    def sample(self, i: int) -> dict[str, Any]:
        s = self.resolution
        return {"f": samplers.grf((s, s), self.rng(i), alpha=self.alpha, tau=self.tau)}

    def assemble(self, sample: Mapping[str, Any]) -> tuple[sp.csr_matrix, np.ndarray]:
        f = np.asarray(sample["f"], dtype=float)
        return dirichlet_laplacian(f.shape[0]), f.ravel().copy()

    def to_outputs(self, sample: Mapping[str, Any], solution: np.ndarray) -> dict[str, np.ndarray]:
        s = self.resolution
        return {"u": np.asarray(solution, dtype=float).reshape(s, s)}
