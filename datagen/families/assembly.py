"""Matrix assembly of the built-in families: public functions, one module.

Cell-centred grids (``s`` cells per axis on the unit square/cube, ``x_i = (i + 1/2) / s``,
``u = 0`` imposed half a cell outside):

* :func:`diffusion_matrix` -- finite volumes of ``-∇·(K ∇u)``, harmonic face means;
* :func:`dirichlet_laplacian` -- the same with ``K = 1`` (cached, shared);
* :func:`helmholtz_matrix`, :func:`gaussian_source`, :func:`helmholtz_system` -- ``-Δu - k² u = f``
  (the SKR paper's 5-point Helmholtz).

Node grids (``n`` nodes per axis, boundary included, ``h = 1 / (n - 1)``):

* :func:`node_diffusion_matrix` -- 5-point ``-∇·(a ∇u)`` on the interior, arithmetic face
  means;
* :func:`node_laplacian` -- the same with ``a = 1`` (cached, shared).

Solvers never see these: a family assembles its systems here and hands them to
:mod:`pdeflow.solvers` as matrices.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from pdeflow.errors import DataError, ShapeError

__all__ = [
    "diffusion_matrix",
    "dirichlet_laplacian",
    "helmholtz_matrix",
    "gaussian_source",
    "helmholtz_system",
    "node_diffusion_matrix",
    "node_laplacian",
    "node_boundary_rhs",
]

_LAPLACIANS: dict[int, sp.csr_matrix] = {}
_CELL_LAPLACIANS: dict[tuple[int, int], sp.csr_matrix] = {}


# ---------------------------------------------------------------------------- cell grids
def diffusion_matrix(K: np.ndarray) -> sp.csr_matrix:
    """Finite-volume matrix of ``-∇·(K ∇u)`` on a cell-centred grid, ``u = 0`` on the boundary.

    Face coefficients are harmonic means of the two cells' ``K``; the grid spacing is
    ``h = 1 / size`` on every axis.  The CSR pattern of a grid shape is computed once and
    reused (only the values depend on ``K``), so assembling many samples costs a few
    vector operations each.

    Parameters
    ----------
    K : ndarray, shape (s,) * d, positive
        Cell coefficients, ``d`` = 1, 2 or 3.

    Returns
    -------
    csr_matrix, shape (s^d, s^d)
        Symmetric positive definite, indices sorted.
    """
    K = np.asarray(K, dtype=float)
    if not np.isfinite(K).all() or (K <= 0).any():
        raise DataError("The coefficient K must be finite and positive everywhere.")
    pattern = _diffusion_pattern(K.shape)
    k = K.ravel()
    N = k.size
    diag = np.zeros(N)
    vals = []
    for ax, (a, b, ends) in enumerate(pattern.faces):
        h2 = float(K.shape[ax]) ** 2
        Ka, Kb = k[a], k[b]
        t = 2.0 * Ka * Kb / (Ka + Kb) * h2
        # each index occurs once per term, so fancy-index sums equal np.add.at's, in order
        diag[a] += t
        diag[b] += t
        for e in ends:
            diag[e] += 2.0 * k[e] * h2
        vals += [-t, -t]
    vals.append(diag)
    data = np.concatenate(vals)[pattern.order]
    A = sp.csr_matrix((data, pattern.indices, pattern.indptr), shape=(N, N))
    A.has_sorted_indices = True
    return A


@dataclass(frozen=True)
class _Pattern:
    """CSR structure of :func:`diffusion_matrix` for one grid shape."""

    faces: tuple  # per axis: (low cells, high cells, (boundary cells at both ends))
    order: np.ndarray  # position in CSR data of each (face, face, ..., diagonal) value
    indices: np.ndarray
    indptr: np.ndarray


@functools.lru_cache(maxsize=8)
def _diffusion_pattern(shape: tuple[int, ...]) -> _Pattern:
    N = int(np.prod(shape))
    idx = np.arange(N).reshape(shape)
    faces, rows, cols = [], [], []
    for ax, s in enumerate(shape):
        a = idx.take(np.arange(s - 1), axis=ax).ravel()
        b = idx.take(np.arange(1, s), axis=ax).ravel()
        ends = tuple(idx.take([end], axis=ax).ravel() for end in (0, s - 1))
        faces.append((a, b, ends))
        rows += [a, b]
        cols += [b, a]
    rows.append(np.arange(N))
    cols.append(np.arange(N))
    r, c = np.concatenate(rows), np.concatenate(cols)
    order = np.lexsort((c, r))
    indptr = np.zeros(N + 1, dtype=np.int32)
    np.cumsum(np.bincount(r, minlength=N), out=indptr[1:])
    for arr in (order, indptr):
        arr.setflags(write=False)
    indices = c[order].astype(np.int32)
    indices.setflags(write=False)
    return _Pattern(tuple(faces), order, indices, indptr)


def dirichlet_laplacian(size: int, dim: int = 2) -> sp.csr_matrix:
    """The cell-centred Dirichlet Laplacian ``-Δ`` (:func:`diffusion_matrix` of ``K = 1``).

    Returns the SAME (cached) object for every call with the same ``(size, dim)``; do not
    modify it in place.

    Examples
    --------
    >>> dirichlet_laplacian(4).shape
    (16, 16)
    >>> dirichlet_laplacian(4) is dirichlet_laplacian(4)
    True
    """
    key = (int(size), int(dim))
    if key not in _CELL_LAPLACIANS:
        _CELL_LAPLACIANS[key] = diffusion_matrix(np.ones((key[0],) * key[1]))
    return _CELL_LAPLACIANS[key]


def helmholtz_matrix(k: np.ndarray) -> sp.csr_matrix:
    """``-Δ - diag(k²)`` on the cell-centred ``s x s`` grid (``k`` at the cell centres).

    Examples
    --------
    >>> A = helmholtz_matrix(np.full((4, 4), 2.0))
    >>> float(A[0, 0]) == float(dirichlet_laplacian(4)[0, 0]) - 4.0
    True
    """
    k = np.asarray(k, dtype=float)
    A = (dirichlet_laplacian(k.shape[0]) - sp.diags(k.ravel() ** 2)).tocsr()
    A.sort_indices()
    return A


def gaussian_source(size: int) -> np.ndarray:
    """The Helmholtz families' fixed source: a Gaussian of width ``0.1`` at the centre,
    scaled by ``s² / 50``; flat, shape ``(s²,)``."""
    x = (np.arange(size) + 0.5) / size
    f = np.exp(-50.0 * ((x[:, None] - 0.5) ** 2 + (x[None, :] - 0.5) ** 2))
    return f.ravel() * size**2 / 50.0


def helmholtz_system(
    k: np.ndarray, f: np.ndarray | None = None
) -> tuple[sp.csr_matrix, np.ndarray]:
    """Cell-centred system of ``-Δu - k² u = f``, ``u = 0`` on the boundary.

    Parameters
    ----------
    k : ndarray, shape (s, s)
        Wavenumber at the cell centres ``((i + 0.5) / s, (j + 0.5) / s)``.
    f : ndarray, shape (s, s), optional
        Source at the cell centres; default the family's fixed Gaussian source.

    Returns
    -------
    A : csr_matrix, shape (s², s²)
        Symmetric (positive definite while ``k²`` stays below the first Dirichlet eigenvalue
        ``≈ 2π²``).
    b : ndarray, shape (s²,)

    Examples
    --------
    >>> A, b = helmholtz_system(np.full((8, 8), 3.0))
    >>> A.shape, b.shape
    ((64, 64), (64,))
    """
    k = np.asarray(k, dtype=float)
    if k.ndim != 2 or k.shape[0] != k.shape[1]:
        raise ShapeError(f"The wavenumber k must be a square 2-D array. Got shape {k.shape}.")
    if not np.isfinite(k).all():
        raise DataError("The wavenumber k must be finite everywhere.")
    A, b = helmholtz_matrix(k), gaussian_source(k.shape[0])
    if f is not None:
        f = np.asarray(f, dtype=float)
        if f.shape != k.shape:
            raise ShapeError(f"The source f has shape {f.shape}; expected {k.shape}.")
        b = f.ravel().copy()
    return A, b


# ---------------------------------------------------------------------------- node grids
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


def node_laplacian(n: int) -> sp.csr_matrix:
    """The 5-point Dirichlet Laplacian on the interior of an ``n × n`` node grid (cached).

    Returns the SAME object for every call with the same ``n``.

    Returns
    -------
    csr_matrix, shape ((n-2)², (n-2)²)
        Symmetric positive definite; do not modify it in place.
    """
    n = int(n)
    if n not in _LAPLACIANS:
        _LAPLACIANS[n] = node_diffusion_matrix(np.ones((n, n)))
    return _LAPLACIANS[n]


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
