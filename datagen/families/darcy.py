"""Darcy flow ``-∇·(a ∇u) = f`` on the unit square, ``u = 0`` on the boundary: two set-ups.

``darcy`` (:class:`Darcy`)
    The SKR paper's form: cell-centred finite volumes (:func:`cell_darcy_system`, built on
    :func:`~pdeflow.datagen.families.assembly.diffusion_matrix`: harmonic face means,
    ``u = 0`` half a cell outside the first cell centres), ``a = exp(GRF)``, ``f = 1``.
``darcy-fno`` (:class:`DarcyFNO`)
    FNO's data set (Li et al. 2020, arXiv:2010.08895): a node grid of ``solve_resolution``
    points per axis boundary included (:func:`node_diffusion_matrix`: 5-point stencil,
    arithmetic face means), ``a = 12`` where ``GRF >= 0`` and ``3`` elsewhere, ``f = 1``;
    the fields are stored at every ``r``-th node.

Arrays are indexed ``[i, j] = (x_i, y_j)``; unknowns are numbered in C order.

Why hand-written (not :func:`~pdeflow.datagen.families.from_rhs`): elliptic problems, no
time integration; their samples are linear systems solved as one SKR sequence per chunk
(matrices from :mod:`pdeflow.datagen.families.assembly`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, final

import numpy as np
import scipy.sparse as sp

from pdeflow.datagen import samplers
from pdeflow.datagen.families import FieldSpec, LinearFamily, register
from pdeflow.errors import ConfigError, ShapeError

from .assembly import (
    _node_coefficient,
    diffusion_matrix,
    node_boundary_rhs,
    node_diffusion_matrix,
)

__all__ = [
    "Darcy",
    "DarcyFNO",
    "cell_darcy_system",
    "node_diffusion_matrix",
    "node_boundary_rhs",
    "node_darcy_system",
]

#: Smallest ``resolution`` any family of this package accepts.
MIN_RESOLUTION = 4


# ---------------------------------------------------------------------------------------
# assembly (pure functions: tests plug manufactured coefficients and sources in here)
# ---------------------------------------------------------------------------------------
def _source(f: float | np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``f`` broadcast to ``shape`` and flattened (a new float64 array)."""
    f = np.asarray(f, dtype=float)
    if f.ndim and f.shape != shape:
        raise ShapeError(f"The source f has shape {f.shape}; expected {shape} or a scalar.")
    return np.broadcast_to(f, shape).ravel().copy()


def cell_darcy_system(
    K: np.ndarray, f: float | np.ndarray = 1.0
) -> tuple[sp.csr_matrix, np.ndarray]:
    """Cell-centred finite-volume system of ``-∇·(K ∇u) = f``, ``u = 0`` on the boundary.

    Parameters
    ----------
    K : ndarray, shape (s, s), positive
        Coefficient at the cell centres ``((i + 0.5) / s, (j + 0.5) / s)``.
    f : float or ndarray, shape (s, s)
        Source at the cell centres (default 1).

    Returns
    -------
    A : csr_matrix, shape (s², s²)
        Symmetric positive definite (:func:`~pdeflow.datagen.families.assembly.diffusion_matrix`).
    b : ndarray, shape (s²,)

    Examples
    --------
    >>> A, b = cell_darcy_system(np.ones((8, 8)))
    >>> A.shape, float(b.sum())
    ((64, 64), 64.0)
    """
    K = np.asarray(K, dtype=float)
    return diffusion_matrix(K), _source(f, K.shape)


def node_darcy_system(
    a: np.ndarray, f: float | np.ndarray = 1.0, g: np.ndarray | None = None
) -> tuple[sp.csr_matrix, np.ndarray]:
    """Node-grid system of ``-∇·(a ∇u) = f`` with ``u = g`` (default 0) on the boundary.

    Parameters
    ----------
    a : ndarray, shape (n, n), positive
        Node coefficient.
    f : float or ndarray, shape (n, n)
        Source at the nodes (only interior values are used).
    g : ndarray, shape (n, n), optional
        Boundary values (see :func:`node_boundary_rhs`).

    Returns
    -------
    A : csr_matrix, shape ((n-2)², (n-2)²)
    b : ndarray, shape ((n-2)²,)

    Examples
    --------
    >>> A, b = node_darcy_system(np.full((6, 6), 3.0))
    >>> A.shape, b.shape
    ((16, 16), (16,))
    """
    a = _node_coefficient(a)
    b = _source(f, a.shape).reshape(a.shape)[1:-1, 1:-1].ravel()
    if g is not None:
        b = b + node_boundary_rhs(a, g)
    return node_diffusion_matrix(a), b


# ---------------------------------------------------------------------------------------
# shared option checks
# ---------------------------------------------------------------------------------------
def check_grf_options(fam: Any, alpha: Any, tau: Any, prefix: str = "", dim: int = 2) -> None:
    """``alpha > dim / 2`` (finite variance) and ``tau > 0``; errors name ``prefix + option``."""
    fam._check_positive(f"{prefix}tau", tau)
    fam._check_positive(f"{prefix}alpha", alpha)
    if not alpha > dim / 2:
        raise ConfigError(
            f"The '{prefix}alpha' option of family {fam.name!r} must be a number > {dim / 2:g} "
            f"(a {dim}-D random field needs alpha > d/2 to have finite variance). "
            f"Got {alpha!r}."
        )


def check_common(fam: Any) -> None:
    """``resolution`` an int >= :data:`MIN_RESOLUTION`, ``seed`` an int >= 0."""
    fam._check_int("resolution", fam.resolution, MIN_RESOLUTION)
    fam._check_int("seed", fam.seed, 0)


def cell_centres(s: int) -> np.ndarray:
    """``(i + 0.5) / s``, shape (s,)."""
    return (np.arange(s) + 0.5) / s


# ---------------------------------------------------------------------------------------
# families
# ---------------------------------------------------------------------------------------
@register
@final
@dataclass(frozen=True)
class Darcy(LinearFamily):
    """Darcy flow as in the SKR paper: ``-∇·(a ∇u) = 1``, ``a = exp(GRF)``, cell-centred FV.

    Parameters
    ----------
    resolution : int
        Cells per axis (``resolution^dim`` unknowns).
    seed : int
    alpha, tau : float
        The GRF ``N(0, τ^{2α-d} (-Δ + τ²)^{-α})`` (Neumann, sampled at the cell centres).
    coefficient : {"lognormal", "threshold"}
        ``a = exp(GRF)``, or FNO's ``a = 12`` where ``GRF >= 0`` and ``3`` elsewhere.
    dim : {2, 3}
        The unit square or the unit cube.

    Notes
    -----
    Fields: ``a`` (input, (s,) * dim): permeability at the cell centres; ``u`` (output): pressure.

    Examples
    --------
    >>> fam = Darcy(resolution=16)
    >>> A, b = fam.assemble(fam.sample(0))
    >>> A.shape, fam.fields()["u"].shape
    ((256, 256), (16, 16))
    >>> Darcy(resolution=6, dim=3, coefficient="threshold").fields()["a"].shape
    (6, 6, 6)
    """

    resolution: int = 64
    seed: int = 0
    alpha: float = 2.0
    tau: float = 3.0
    coefficient: Literal["lognormal", "threshold"] = "lognormal"
    dim: int = 2
    name: ClassVar[str] = "darcy"

    def __post_init__(self) -> None:
        check_common(self)
        if self.dim not in (2, 3) or isinstance(self.dim, bool):
            raise ConfigError(f"The 'dim' option of family 'darcy' must be 2 or 3. "
                              f"Got {self.dim!r}.")
        if self.coefficient not in ("lognormal", "threshold"):
            raise ConfigError("The 'coefficient' option of family 'darcy' must be 'lognormal' "
                              f"or 'threshold'. Got {self.coefficient!r}.")
        check_grf_options(self, self.alpha, self.tau, dim=self.dim)

    @property
    def _shape(self) -> tuple[int, ...]:
        return (self.resolution,) * self.dim

    def fields(self) -> dict[str, FieldSpec]:
        s, axes = self._shape, ("x", "y", "z")[: self.dim]
        return {
            "a": FieldSpec("a", s, "input", axes, f"permeability ({self.coefficient} GRF) at "
                           "cell centres"),
            "u": FieldSpec("u", s, "output", axes, "pressure at cell centres"),
        }

    def coords(self) -> dict[str, np.ndarray]:
        c = cell_centres(self.resolution)
        return {ax: c.copy() for ax in ("x", "y", "z")[: self.dim]}

    def sample(self, i: int) -> dict[str, Any]:
        g = samplers.grf(self._shape, self.rng(i), alpha=self.alpha, tau=self.tau)
        if self.coefficient == "threshold":
            return {"a": samplers.threshold(g, high=12.0, low=3.0, level=0.0)}
        return {"a": samplers.lognormal(g)}

    def assemble(self, sample: Mapping[str, Any]) -> tuple[sp.csr_matrix, np.ndarray]:
        a = np.asarray(sample["a"], dtype=float)
        return diffusion_matrix(a), np.ones(a.size)

    def to_outputs(self, sample: Mapping[str, Any], solution: np.ndarray) -> dict[str, np.ndarray]:
        return {"u": np.asarray(solution, dtype=float).reshape(self._shape)}


@register
@final
@dataclass(frozen=True)
class DarcyFNO(LinearFamily):
    """FNO's Darcy data set: ``-∇·(a ∇u) = 1`` on a fine node grid, stored subsampled.

    ``a`` is ``threshold(GRF)`` (12 where ``GRF >= 0``, 3 elsewhere; ``GRF ~ N(0, (-Δ + 9)^{-2})``
    with the defaults) or ``exp(GRF)``, drawn at the ``solve_resolution²`` nodes; the system
    (:func:`node_darcy_system`) has the ``(solve_resolution - 2)²`` interior unknowns, and
    ``a`` and ``u`` (zero boundary included) are stored at every ``r``-th node,
    ``r = (solve_resolution - 1) / (resolution - 1)``.

    Parameters
    ----------
    resolution : int
        Stored nodes per axis (default 85, FNO's ``r = 5``).
    solve_resolution : int
        Solve nodes per axis, boundary included (default 421);
        ``(solve_resolution - 1) % (resolution - 1) == 0``.
    coefficient : {"threshold", "lognormal"}
    seed : int
    alpha, tau : float
        GRF parameters.

    Examples
    --------
    >>> fam = DarcyFNO(resolution=5, solve_resolution=17)
    >>> fam.stride, sorted(np.unique(fam.sample(0)["a"]).tolist())
    (4, [3.0, 12.0])
    """

    resolution: int = 85
    solve_resolution: int = 421
    coefficient: Literal["threshold", "lognormal"] = "threshold"
    seed: int = 0
    alpha: float = 2.0
    tau: float = 3.0
    name: ClassVar[str] = "darcy-fno"

    def __post_init__(self) -> None:
        check_common(self)
        self._check_int("solve_resolution", self.solve_resolution, self.resolution)
        check_grf_options(self, self.alpha, self.tau)
        if (self.solve_resolution - 1) % (self.resolution - 1):
            raise ConfigError(
                f"The 'solve_resolution' option ({self.solve_resolution}) of family "
                f"{self.name!r} minus 1 must be a multiple of the 'resolution' option "
                f"({self.resolution}) minus 1, so that every stored node is a solve node; "
                f"e.g. solve_resolution = {(self.resolution - 1) * 5 + 1}."
            )
        if self.coefficient not in ("threshold", "lognormal"):
            raise ConfigError(
                f"The 'coefficient' option of family {self.name!r} must be 'threshold' or "
                f"'lognormal'. Got {self.coefficient!r}."
            )

    @property
    def stride(self) -> int:
        """Solve nodes per stored node spacing, ``r``."""
        return (self.solve_resolution - 1) // (self.resolution - 1)

    def fields(self) -> dict[str, FieldSpec]:
        s = (self.resolution, self.resolution)
        return {
            "a": FieldSpec("a", s, "input", ("x", "y"), f"{self.coefficient}(GRF) at the nodes"),
            "u": FieldSpec("u", s, "output", ("x", "y"), "solution at the nodes, 0 on boundary"),
        }

    def coords(self) -> dict[str, np.ndarray]:
        c = np.linspace(0.0, 1.0, self.resolution)
        return {"x": c, "y": c.copy()}

    def sample(self, i: int) -> dict[str, Any]:
        """``a`` at the stored nodes and ``a_solve`` at every solve node (what is assembled)."""
        n = self.solve_resolution
        g = samplers.grf((n, n), self.rng(i), alpha=self.alpha, tau=self.tau)
        if self.coefficient == "threshold":
            a = samplers.threshold(g, high=12.0, low=3.0, level=0.0)
        else:
            a = samplers.lognormal(g)
        r = self.stride
        return {"a": a[::r, ::r].copy(), "a_solve": a}

    def _solve_coefficient(self, sample: Mapping[str, Any]) -> np.ndarray:
        n = self.solve_resolution
        a = sample.get("a_solve")
        if a is None and np.shape(sample["a"]) == (n, n):
            a = sample["a"]
        if a is None or np.shape(a) != (n, n):
            raise ShapeError(
                f"family {self.name!r}: a sample needs the coefficient on the solve grid, "
                f"'a_solve' of shape ({n}, {n}); draw samples with sample(i)."
            )
        return np.asarray(a, dtype=float)

    def assemble(self, sample: Mapping[str, Any]) -> tuple[sp.csr_matrix, np.ndarray]:
        return node_darcy_system(self._solve_coefficient(sample), 1.0)

    def solve_grid_solution(self, solution: np.ndarray) -> np.ndarray:
        """The solution vector as a ``(solve_resolution,) * 2`` node array, zero boundary."""
        n = self.solve_resolution
        u = np.zeros((n, n))
        u[1:-1, 1:-1] = np.asarray(solution, dtype=float).reshape(n - 2, n - 2)
        return u

    def to_outputs(self, sample: Mapping[str, Any], solution: np.ndarray) -> dict[str, np.ndarray]:
        r = self.stride
        return {"u": self.solve_grid_solution(solution)[::r, ::r].copy()}
