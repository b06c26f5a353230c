"""Problem families: parameter samplers with per-sample seeds and their sparse systems.

Every family is a frozen dataclass with two methods,

* ``sample(i) -> params``: the parameter field of sample ``i`` (seeded by ``(seed, i)``,
  so samples can be drawn in any order, on any worker);
* ``assemble(params) -> (A, b)``: the CSR matrix and right-hand side,

plus ``symmetric`` (the matrix is symmetric) and ``n`` (unknowns).  Solvers never know which
PDE they solve.  All grids are cell-centred on the unit square/cube with ``u = 0`` on the
boundary (imposed at half a cell), ``size`` cells per axis.

Families
--------
``Darcy``            ``-∇·(K ∇u) = 1``, ``K = exp(GRF)`` or FNO's thresholded GRF (12 / 3).
``Darcy3D``          The same on the unit cube.
``Poisson``          ``-Δu = f``, ``f`` a GRF (one matrix, many right-hand sides).
``Helmholtz``        ``-Δu - k(x)² u = f`` (5-point FD, as in the SKR paper),
                     ``k = k0 (1 + 0.3 tanh GRF)``;
                     with the default ``k0 = 3`` it is symmetric positive definite.
``HelmholtzIndefinite``  The same with ``k0 = 30``: symmetric indefinite (tens of negative
                     eigenvalues), the hard case for Krylov methods.
"""

from __future__ import annotations

import abc
import functools
from dataclasses import dataclass
from typing import ClassVar, Literal, final

import numpy as np
import scipy.sparse as sp

from pdeflow.errors import ConfigError, DataError

from .grf import grf

__all__ = [
    "AbstractFamily",
    "Darcy",
    "Darcy3D",
    "Poisson",
    "Helmholtz",
    "HelmholtzIndefinite",
    "diffusion_matrix",
    "make_family",
]


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


class AbstractFamily(abc.ABC):
    """A parametrized PDE: ``sample(i) -> params``, ``assemble(params) -> (A, b)``."""

    name: ClassVar[str]
    symmetric: ClassVar[bool]
    size: int
    seed: int

    @property
    @abc.abstractmethod
    def shape(self) -> tuple[int, ...]:
        """Shape of a parameter field (and of the grid)."""

    @property
    def n(self) -> int:
        """Number of unknowns."""
        return int(np.prod(self.shape))

    def rng(self, i: int) -> np.random.Generator:
        """The generator of sample ``i`` (independent of every other sample)."""
        if i < 0:
            raise ConfigError(f"Sample indices must be >= 0. Got {i!r}.")
        return np.random.default_rng([self.seed, int(i)])

    @abc.abstractmethod
    def sample(self, i: int) -> np.ndarray:
        """Parameter field of sample ``i``; shape :attr:`shape`."""

    @abc.abstractmethod
    def assemble(self, params: np.ndarray) -> tuple[sp.csr_matrix, np.ndarray]:
        """Return ``(A, b)``: CSR matrix of shape (n, n) and right-hand side of shape (n,)."""

    def systems(
        self, count: int, start: int = 0
    ) -> tuple[np.ndarray, list[tuple[sp.csr_matrix, np.ndarray]]]:
        """Samples ``start .. start + count - 1``: their parameters (count, *shape) and systems."""
        params = np.stack([self.sample(i) for i in range(start, start + count)])
        return params, [self.assemble(p) for p in params]

    def _check_size(self, low: int = 4) -> None:
        if not isinstance(self.size, int) or self.size < low:
            raise ConfigError(
                f"The 'size' parameter of {type(self).__name__} must be an int >= {low}. "
                f"Got {self.size!r}."
            )


@final
@dataclass(frozen=True)
class Darcy(AbstractFamily):
    """2-D Darcy flow in flux form, ``-∇·(K ∇u) = 1``.

    Parameters
    ----------
    size : int
        Cells per axis (``size²`` unknowns; 80 gives the paper's 6,400).
    coefficient : {"lognormal", "threshold"}
        ``K = exp(GRF)``, or FNO's ``K = 12`` where ``GRF >= 0`` and ``3`` elsewhere.
    seed : int
    alpha, tau : float
        GRF parameters.

    Examples
    --------
    >>> fam = Darcy(size=16, coefficient="threshold")
    >>> A, b = fam.assemble(fam.sample(0))
    >>> A.shape, sorted(set(np.unique(fam.sample(0))))
    ((256, 256), [3.0, 12.0])
    """

    size: int = 80
    coefficient: Literal["lognormal", "threshold"] = "lognormal"
    seed: int = 0
    alpha: float = 2.0
    tau: float = 3.0
    name: ClassVar[str] = "darcy"
    symmetric: ClassVar[bool] = True

    def __post_init__(self) -> None:
        self._check_size()
        if self.coefficient not in ("lognormal", "threshold"):
            raise ConfigError(
                "The 'coefficient' parameter of Darcy must be 'lognormal' or 'threshold'. "
                f"Got {self.coefficient!r}."
            )

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.size, self.size)

    def sample(self, i: int) -> np.ndarray:
        g = grf(self.shape, self.rng(i), alpha=self.alpha, tau=self.tau)
        return np.where(g >= 0, 12.0, 3.0) if self.coefficient == "threshold" else np.exp(g)

    def assemble(self, params: np.ndarray) -> tuple[sp.csr_matrix, np.ndarray]:
        return diffusion_matrix(params), np.ones(self.n)


@final
@dataclass(frozen=True)
class Darcy3D(AbstractFamily):
    """3-D Darcy flow ``-∇·(K ∇u) = 1`` on the unit cube, ``K = exp(GRF)`` (``size³`` unknowns)."""

    size: int = 64
    seed: int = 0
    alpha: float = 2.0
    tau: float = 3.0
    name: ClassVar[str] = "darcy3d"
    symmetric: ClassVar[bool] = True

    def __post_init__(self) -> None:
        self._check_size()

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.size,) * 3

    def sample(self, i: int) -> np.ndarray:
        return np.exp(grf(self.shape, self.rng(i), alpha=self.alpha, tau=self.tau))

    def assemble(self, params: np.ndarray) -> tuple[sp.csr_matrix, np.ndarray]:
        return diffusion_matrix(params), np.ones(self.n)


@final
@dataclass(frozen=True)
class Poisson(AbstractFamily):
    """2-D Poisson ``-Δu = f`` with a GRF source: one matrix, many right-hand sides."""

    size: int = 64
    seed: int = 0
    alpha: float = 2.0
    tau: float = 3.0
    name: ClassVar[str] = "poisson"
    symmetric: ClassVar[bool] = True

    def __post_init__(self) -> None:
        self._check_size()

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.size, self.size)

    def sample(self, i: int) -> np.ndarray:
        return grf(self.shape, self.rng(i), alpha=self.alpha, tau=self.tau)

    def assemble(self, params: np.ndarray) -> tuple[sp.csr_matrix, np.ndarray]:
        return _laplacian(self.size), np.asarray(params, dtype=float).ravel().copy()


_LAPLACIANS: dict[int, sp.csr_matrix] = {}


def _laplacian(size: int) -> sp.csr_matrix:
    """The (cached, shared) Dirichlet Laplacian: every Poisson sample returns the same object."""
    if size not in _LAPLACIANS:
        _LAPLACIANS[size] = diffusion_matrix(np.ones((size, size)))
    return _LAPLACIANS[size]


def _helmholtz(size: int, k: np.ndarray) -> tuple[sp.csr_matrix, np.ndarray]:
    A = _laplacian(size) - sp.diags(np.asarray(k, dtype=float).ravel() ** 2)
    A = A.tocsr()
    A.sort_indices()
    x = (np.arange(size) + 0.5) / size
    f = np.exp(-50.0 * ((x[:, None] - 0.5) ** 2 + (x[None, :] - 0.5) ** 2))
    return A, f.ravel() * size**2 / 50.0


@final
@dataclass(frozen=True)
class Helmholtz(AbstractFamily):
    """2-D Helmholtz ``-Δu - k(x)² u = f``, 5-point FD, ``k = k0 (1 + 0.3 tanh GRF)``.

    ``f`` is a fixed Gaussian source at the centre.  With ``k0 = 3`` (default, as in the
    paper's moderate-wavenumber setting) the matrix is SPD; larger ``k0`` makes it indefinite.
    ``size = 100`` gives the paper's 10,000 unknowns.
    """

    size: int = 100
    k0: float = 3.0
    seed: int = 0
    alpha: float = 2.0
    tau: float = 3.0
    name: ClassVar[str] = "helmholtz"
    symmetric: ClassVar[bool] = True

    def __post_init__(self) -> None:
        self._check_size()
        if not self.k0 > 0:
            raise ConfigError(f"The 'k0' parameter of Helmholtz must be > 0. Got {self.k0!r}.")

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.size, self.size)

    def sample(self, i: int) -> np.ndarray:
        g = grf(self.shape, self.rng(i), alpha=self.alpha, tau=self.tau)
        return self.k0 * (1.0 + 0.3 * np.tanh(g))

    def assemble(self, params: np.ndarray) -> tuple[sp.csr_matrix, np.ndarray]:
        return _helmholtz(self.size, params)


@final
@dataclass(frozen=True)
class HelmholtzIndefinite(AbstractFamily):
    """High-wavenumber Helmholtz (``k0 = 30``, about 20 points per wavelength at ``size = 100``).

    Symmetric but indefinite: CG does not apply, and the paper's positive-definite
    tricks do not either.
    """

    size: int = 100
    k0: float = 30.0
    seed: int = 0
    alpha: float = 2.0
    tau: float = 3.0
    name: ClassVar[str] = "helmholtz-indefinite"
    symmetric: ClassVar[bool] = True

    def __post_init__(self) -> None:
        self._check_size()
        if not self.k0 > 0:
            raise ConfigError(
                f"The 'k0' parameter of HelmholtzIndefinite must be > 0. Got {self.k0!r}."
            )

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.size, self.size)

    def sample(self, i: int) -> np.ndarray:
        g = grf(self.shape, self.rng(i), alpha=self.alpha, tau=self.tau)
        return self.k0 * (1.0 + 0.1 * np.tanh(g))

    def assemble(self, params: np.ndarray) -> tuple[sp.csr_matrix, np.ndarray]:
        return _helmholtz(self.size, params)


_FAMILIES: dict[str, type[AbstractFamily]] = {
    "darcy": Darcy,
    "darcy3d": Darcy3D,
    "poisson": Poisson,
    "helmholtz": Helmholtz,
    "helmholtz-indefinite": HelmholtzIndefinite,
}


def make_family(name: str, **options: object) -> AbstractFamily:
    """Build a family by name (``"darcy"``, ``"darcy3d"``, ``"poisson"``, ``"helmholtz"``,
    ``"helmholtz-indefinite"``); ``options`` go to its constructor (unknown ones raise)."""
    try:
        cls = _FAMILIES[name]
    except KeyError:
        raise ConfigError(f"Unknown family {name!r}; choose one of {sorted(_FAMILIES)}.") from None
    try:
        return cls(**options)  # type: ignore[arg-type]
    except TypeError as exc:
        raise ConfigError(f"Bad options for family {name!r}: {exc}") from None
