"""Darcy flow ``-∇·(a ∇u) = f`` on the unit square, ``u = 0`` on the boundary: two set-ups.

``darcy`` (:class:`Darcy`)
    The SKR paper's form: cell-centred finite volumes (:func:`cell_darcy_system`, built on
    :func:`pdeflow.solvers.families.diffusion_matrix`: harmonic face means, ``u = 0`` half a
    cell outside the first cell centres), ``a = exp(GRF)``, ``f = 1``.
``darcy-fno`` (:class:`DarcyFNO`)
    FNO's data set (Li et al. 2020, arXiv:2010.08895): a node grid of ``solve_resolution``
    points per axis boundary included (:func:`node_diffusion_matrix`: 5-point stencil,
    arithmetic face means), ``a = 12`` where ``GRF >= 0`` and ``3`` elsewhere, ``f = 1``;
    the fields are stored at every ``r``-th node.

Arrays are indexed ``[i, j] = (x_i, y_j)``; unknowns are numbered in C order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, final

import numpy as np
import scipy.sparse as sp

from pdeflow.datagen import samplers
from pdeflow.datagen.families import FieldSpec, LinearFamily, register
from pdeflow.errors import ConfigError, DataError, ShapeError
from pdeflow.solvers.families import diffusion_matrix

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
        Symmetric positive definite (:func:`pdeflow.solvers.families.diffusion_matrix`).
    b : ndarray, shape (s²,)

    Examples
    --------
    >>> A, b = cell_darcy_system(np.ones((8, 8)))
    >>> A.shape, float(b.sum())
    ((64, 64), 64.0)
    """
    K = np.asarray(K, dtype=float)
    return diffusion_matrix(K), _source(f, K.shape)


def _node_coefficient(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=float)
    if a.ndim != 2 or min(a.shape) < 3:
        raise ShapeError(
            f"The node coefficient must be 2-D with >= 3 nodes per axis. Got shape {a.shape}."
        )
    if not np.isfinite(a).all() or (a <= 0).any():
        raise DataError("The coefficient a must be finite and positive at every node.")
    return a


def _face_coefficients(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``a`` at the x-faces ``(nx-1, ny)`` and y-faces ``(nx, ny-1)``, divided by ``h²``."""
    nx, ny = a.shape
    fx = 0.5 * (a[1:, :] + a[:-1, :]) * float(nx - 1) ** 2
    fy = 0.5 * (a[:, 1:] + a[:, :-1]) * float(ny - 1) ** 2
    return fx, fy


def node_diffusion_matrix(a: np.ndarray) -> sp.csr_matrix:
    """5-point node-grid matrix of ``-∇·(a ∇u)`` on the interior nodes, ``u = 0`` on the boundary.

    Node ``(i, j)`` sits at ``(i h_x, j h_y)`` with ``h_x = 1 / (n_x - 1)``; the coefficient of
    the face between two neighbouring nodes is the arithmetic mean of their values.  Row
    ``(i, j)`` of the interior reads ``Σ_faces a_face (u_ij - u_neighbour) / h²``; terms with a
    boundary neighbour keep only their diagonal part (see :func:`node_boundary_rhs` for
    non-zero boundary values).  Built from five diagonals, without loops over points.

    Parameters
    ----------
    a : ndarray, shape (n_x, n_y), positive
        Coefficient at every node, boundary included.

    Returns
    -------
    csr_matrix, shape (m, m), ``m = (n_x - 2)(n_y - 2)``
        Symmetric positive definite; unknown ``(i, j)`` (interior node ``(i + 1, j + 1)``)
        has index ``i (n_y - 2) + j``.

    Examples
    --------
    >>> A = node_diffusion_matrix(np.ones((5, 5)))
    >>> A.shape, A[0, 0]
    ((9, 9), np.float64(64.0))
    """
    a = _node_coefficient(a)
    fx, fy = _face_coefficients(a)
    mx, my = a.shape[0] - 2, a.shape[1] - 2
    m = mx * my
    west, east = fx[:-1, 1:-1], fx[1:, 1:-1]  # faces i-1/2 and i+1/2 of interior nodes
    south, north = fy[1:-1, :-1], fy[1:-1, 1:]
    diag = (west + east + south + north).ravel()
    # A[r, r+1] = -north(r) unless r is on the top row of unknowns; A[r, r+my] = -east(r)
    up1 = -north.copy()
    up1[:, -1] = 0.0
    up1 = up1.ravel()[:-1]
    upm = -east[:-1, :].ravel()
    A = sp.diags([upm, up1, diag, up1, upm], [-my, -1, 0, 1, my], shape=(m, m), format="csr")
    A.sort_indices()
    return A


def node_boundary_rhs(a: np.ndarray, g: np.ndarray) -> np.ndarray:
    """What Dirichlet values ``g`` on the boundary nodes add to the right-hand side.

    Parameters
    ----------
    a : ndarray, shape (n_x, n_y), positive
        Node coefficient.
    g : ndarray, shape (n_x, n_y)
        Boundary values on the boundary nodes; interior entries are ignored.

    Returns
    -------
    ndarray, shape ((n_x - 2)(n_y - 2),)
        ``Σ_{boundary neighbours} a_face g / h²`` for every interior node.
    """
    a = _node_coefficient(a)
    g = np.asarray(g, dtype=float)
    if g.shape != a.shape:
        raise ShapeError(f"Boundary values g have shape {g.shape}; the grid is {a.shape}.")
    G = g.copy()
    G[1:-1, 1:-1] = 0.0  # only boundary nodes contribute
    fx, fy = _face_coefficients(a)
    r = (
        fx[:-1, 1:-1] * G[:-2, 1:-1]
        + fx[1:, 1:-1] * G[2:, 1:-1]
        + fy[1:-1, :-1] * G[1:-1, :-2]
        + fy[1:-1, 1:] * G[1:-1, 2:]
    )
    return r.ravel()


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

    Options
    -------
    resolution : int
        Cells per axis (``resolution²`` unknowns).
    seed : int
    alpha, tau : float
        The GRF ``N(0, τ^{2α-2} (-Δ + τ²)^{-α})`` (Neumann, sampled at the cell centres).

    Fields
    ------
    ``a`` (input, (s, s)): permeability at the cell centres; ``u`` (output, (s, s)): pressure.

    Examples
    --------
    >>> fam = Darcy(resolution=16)
    >>> A, b = fam.assemble(fam.sample(0))
    >>> A.shape, fam.fields()["u"].shape
    ((256, 256), (16, 16))
    """

    resolution: int = 64
    seed: int = 0
    alpha: float = 2.0
    tau: float = 3.0
    name: ClassVar[str] = "darcy"

    def __post_init__(self) -> None:
        check_common(self)
        check_grf_options(self, self.alpha, self.tau)

    def fields(self) -> dict[str, FieldSpec]:
        s = (self.resolution, self.resolution)
        return {
            "a": FieldSpec("a", s, "input", ("x", "y"), "permeability exp(GRF) at cell centres"),
            "u": FieldSpec("u", s, "output", ("x", "y"), "pressure at cell centres"),
        }

    def coords(self) -> dict[str, np.ndarray]:
        c = cell_centres(self.resolution)
        return {"x": c, "y": c.copy()}

    def sample(self, i: int) -> dict[str, Any]:
        s = self.resolution
        g = samplers.grf((s, s), self.rng(i), alpha=self.alpha, tau=self.tau)
        return {"a": samplers.lognormal(g)}

    def assemble(self, sample: Mapping[str, Any]) -> tuple[sp.csr_matrix, np.ndarray]:
        return cell_darcy_system(sample["a"], 1.0)

    def to_outputs(self, sample: Mapping[str, Any], solution: np.ndarray) -> dict[str, np.ndarray]:
        s = self.resolution
        return {"u": np.asarray(solution, dtype=float).reshape(s, s)}


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

    Options
    -------
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
