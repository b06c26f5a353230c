"""Seeded random inputs for problem families: Gaussian random fields and what is built on them.

Every sampler takes a ``numpy.random.Generator``; families pass
``np.random.default_rng([seed, i])`` so that sample ``i`` is reproducible on its own
(:class:`FieldSampler` does exactly that).

Gaussian random fields ``N(0, σ² (-Δ + τ² I)^{-α})`` on ``[0, 1]^d``:

* ``periodic=True``: the torus, Fourier basis ``exp(2πi k·x)``, eigenvalues ``(2π|k|)²``,
  sampled at the nodes ``x_j = j / s`` with one inverse FFT;
* ``periodic=False``: Neumann boundary, cosine basis, eigenvalues ``(π|k|)²``, sampled at
  cell centres with one inverse DCT-II (the orthonormal cosine eigenbasis
  ``Π_i sqrt(2 - δ_{k_i 0}) cos(π k_i x_i)`` of the Neumann Laplacian, eigenvalues
  ``π² |k|²``).

Built on them:

* :func:`threshold` and :func:`lognormal` -- piecewise-constant and positive coefficients
  (FNO's Darcy coefficient is ``threshold(grf(...))``);
* :func:`initial_condition` -- random periodic initial data (GRF, Fourier modes, bumps);
* :func:`boundary_ring`, :func:`ring_to_grid`, :func:`grid_to_ring` -- random Dirichlet data
  on the boundary nodes of a square node grid;
* :class:`FieldSampler` -- a frozen, validated spec whose sample ``i`` is drawn from
  ``np.random.default_rng([seed, i])``.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import scipy.fft as sfft

from pdeflow.errors import ConfigError, ShapeError

__all__ = [
    "grf",
    "grf_eigenvalues",
    "threshold",
    "lognormal",
    "initial_condition",
    "boundary_ring",
    "ring_to_grid",
    "grid_to_ring",
    "FieldSampler",
    "GRFSampler",
    "UniformNoise",
]


def _neumann_grf(
    shape: tuple[int, ...], rng: np.random.Generator, *, alpha: float, tau: float,
    sigma: float | None,
) -> np.ndarray:
    """The Neumann GRF at cell centres: one inverse DCT-II of the scaled white noise (the
    caller validated the options)."""
    d = len(shape)
    sigma = tau ** (0.5 * (2 * alpha - d)) if sigma is None else sigma
    k2 = np.zeros(shape)
    for ax, s in enumerate(shape):
        kk = (np.pi * np.arange(s)) ** 2
        k2 = k2 + kk.reshape([-1 if a == ax else 1 for a in range(d)])
    coef = sigma * (k2 + tau**2) ** (-alpha / 2)
    xi = rng.standard_normal(shape)
    return sfft.idctn(coef * xi, type=2, norm="ortho", workers=1) * np.sqrt(np.prod(shape))


# ---------------------------------------------------------------------------- validation
def _check_shape(shape: Any, where: str) -> tuple[int, ...]:
    """``shape`` as a tuple of 1-3 ints >= 2, or a ConfigError naming ``'shape'``."""
    try:
        shape = tuple(operator.index(s) for s in shape)
    except TypeError:
        raise ConfigError(
            f"The 'shape' parameter of {where} must be a tuple of 1-3 ints >= 2. Got {shape!r}."
        ) from None
    if not 1 <= len(shape) <= 3 or min(shape) < 2:
        raise ConfigError(
            f"The 'shape' parameter of {where} must have 1-3 axes of size >= 2. Got {shape!r}."
        )
    return shape


def _check(
    shape: tuple[int, ...],
    alpha: float,
    tau: float,
    sigma: float | None = None,
    where: str = "grf",
) -> int:
    """Validate a GRF's shape and covariance parameters; return the dimension ``d``."""
    d = len(_check_shape(shape, where))
    if not alpha > d / 2:
        raise ConfigError(
            f"The 'alpha' parameter of {where} must be > d/2 = {d / 2} (finite variance). "
            f"Got {alpha!r}."
        )
    if not tau > 0:
        raise ConfigError(f"The 'tau' parameter of {where} must be > 0. Got {tau!r}.")
    if sigma is not None and not sigma > 0:
        raise ConfigError(
            f"The 'sigma' parameter of {where} must be > 0 or None (default amplitude). "
            f"Got {sigma!r}."
        )
    return d


# ---------------------------------------------------------------------------- GRFs
def grf_eigenvalues(
    shape: tuple[int, ...],
    *,
    alpha: float = 2.0,
    tau: float = 3.0,
    sigma: float | None = None,
    periodic: bool = True,
) -> np.ndarray:
    """Covariance eigenvalues ``σ² (μ_k + τ²)^{-α}`` on the FFT (or DCT) index grid.

    Parameters
    ----------
    shape : tuple of int
        Grid points per axis, 1-3 axes of size >= 2.
    alpha, tau, sigma : float
        As in :func:`grf`.
    periodic : bool
        ``μ_k = (2π|k|)²`` with ``k`` in numpy FFT ordering, or ``μ_k = (π|k|)²`` with
        ``k_i = 0 .. s_i - 1`` (DCT-II ordering).

    Returns
    -------
    ndarray, shape ``shape``
        Entry ``k`` is the variance of the coefficient of the ``k``-th orthonormal
        eigenfunction, so ``E |fftn(g, norm="forward")_k|² = λ_k`` for a periodic field and
        ``E |dctn(g, norm="ortho")_k|² / M = λ_k`` for a Neumann one (``M`` grid points).

    Examples
    --------
    >>> lam = grf_eigenvalues((8,), alpha=1.0, tau=2.0, sigma=1.0)
    >>> float(lam[0])   # (0 + τ²)^{-α}
    0.25
    >>> bool(lam[1] == lam[-1])   # modes k and -k
    True
    """
    shape = tuple(int(s) for s in shape)
    d = _check(shape, alpha, tau, sigma, where="grf_eigenvalues")
    sigma = tau ** (0.5 * (2 * alpha - d)) if sigma is None else float(sigma)
    mu = np.zeros(shape)
    for ax, s in enumerate(shape):
        k = np.fft.fftfreq(s, d=1.0 / s) if periodic else np.arange(s)
        scale = 2.0 * np.pi if periodic else np.pi
        mu = mu + ((scale * k) ** 2).reshape([-1 if a == ax else 1 for a in range(d)])
    return sigma**2 * (mu + tau**2) ** (-alpha)


def grf(
    shape: tuple[int, ...],
    rng: np.random.Generator,
    *,
    alpha: float = 2.0,
    tau: float = 3.0,
    sigma: float | None = None,
    periodic: bool = False,
    zero_mean: bool = False,
) -> np.ndarray:
    """Draw one Gaussian random field ``N(0, σ² (-Δ + τ² I)^{-α})``.

    Parameters
    ----------
    shape : tuple of int
        Grid points per axis, 1-3 axes.
    rng : numpy Generator
    alpha, tau : float
        Smoothness (> d/2) and inverse length scale.
    sigma : float, optional
        Amplitude; default ``τ^{(2α - d)/2}`` (FNO's Darcy prior for α=2, τ=3).
    periodic : bool
        Torus (FFT, nodes ``j / s``) or Neumann (DCT, cell centres ``(j + 1/2) / s``).
    zero_mean : bool
        Drop the constant mode (FNO does this for Burgers and Navier-Stokes).

    Returns
    -------
    ndarray of float64, shape ``shape``
        Pointwise variance ``Σ_k λ_k`` (:func:`grf_eigenvalues`).

    Examples
    --------
    >>> g = grf((64,), np.random.default_rng(0), alpha=2, tau=5, sigma=25, periodic=True)
    >>> g.shape
    (64,)
    >>> g0 = grf((16, 16), np.random.default_rng(0), periodic=True, zero_mean=True)
    >>> bool(abs(g0.mean()) < 1e-12)
    True
    """
    shape = tuple(int(s) for s in shape)
    if not periodic:
        _check(shape, alpha, tau, sigma)
        g = _neumann_grf(shape, rng, alpha=alpha, tau=tau, sigma=sigma)
        return g - g.mean() if zero_mean else g
    lam = grf_eigenvalues(shape, alpha=alpha, tau=tau, sigma=sigma, periodic=True)
    if zero_mean:
        lam.flat[0] = 0.0
    xi = rng.standard_normal(shape)
    M = xi.size
    return np.fft.ifftn(np.sqrt(lam) * np.fft.fftn(xi)).real * np.sqrt(M)


# ---------------------------------------------------------------------------- transforms
def threshold(
    g: np.ndarray, *, high: float = 12.0, low: float = 3.0, level: float = 0.0
) -> np.ndarray:
    """Piecewise-constant field: ``high`` where ``g >= level``, ``low`` elsewhere.

    With the defaults this is FNO's Darcy coefficient ``a = 12·1[g >= 0] + 3·1[g < 0]``.

    Parameters
    ----------
    g : array_like, any shape
        Usually a GRF.
    high, low : float
        Values above and below the level.
    level : float
        Threshold.

    Returns
    -------
    ndarray of float64, shape of ``g``

    Examples
    --------
    >>> threshold(np.array([-1.0, 0.0, 2.0]))
    array([ 3., 12., 12.])
    """
    g = np.asarray(g, dtype=float)
    return np.where(g >= level, float(high), float(low))


def lognormal(g: np.ndarray, *, scale: float = 1.0) -> np.ndarray:
    """Positive field ``scale · exp(g)`` (log-normal if ``g`` is Gaussian).

    Parameters
    ----------
    g : array_like, any shape
    scale : float
        Positive prefactor (the median of the field where ``g`` is centred).

    Returns
    -------
    ndarray of float64, shape of ``g``

    Examples
    --------
    >>> lognormal(np.zeros(2), scale=2.0)
    array([2., 2.])
    """
    if not scale > 0:
        raise ConfigError(f"The 'scale' parameter of lognormal must be > 0. Got {scale!r}.")
    return float(scale) * np.exp(np.asarray(g, dtype=float))


# ---------------------------------------------------------------------------- initial data
#: Options of each :func:`initial_condition` kind, with their defaults.
IC_OPTIONS: dict[str, dict[str, Any]] = {
    "grf": {"alpha": 2.0, "tau": 3.0, "sigma": None, "zero_mean": False},
    "fourier": {"n_waves": 2, "k_max": 8},
    "bumps": {"n_bumps": 3},
}

_BUMP_WIDTHS = (0.05, 0.15)


def _positive_int(value: Any, name: str, where: str) -> int:
    try:
        n = operator.index(value)
    except TypeError:
        n = 0
    if n < 1:
        raise ConfigError(f"The '{name}' parameter of {where} must be an int >= 1. Got {value!r}.")
    return n


def _node_grid(shape: tuple[int, ...]) -> list[np.ndarray]:
    """Broadcastable periodic node coordinates ``x_j = j / s`` of each axis."""
    d = len(shape)
    return [
        (np.arange(s) / s).reshape([-1 if a == ax else 1 for a in range(d)])
        for ax, s in enumerate(shape)
    ]


def _fourier(shape: tuple[int, ...], rng: np.random.Generator, n_waves: int, k_max: int):
    d = len(shape)
    x = _node_grid(shape)
    u = np.zeros(shape)
    side = 2 * k_max + 1
    for _ in range(n_waves):
        if d == 1:
            k = (int(rng.integers(1, k_max + 1)),)
        else:  # uniform over the nonzero integer vectors with |k_a| <= k_max
            idx = int(rng.integers(0, side**d - 1))
            idx += idx >= (side**d) // 2  # skip the zero vector (the centre of the cube)
            k = tuple(int(c) - k_max for c in np.unravel_index(idx, (side,) * d))
        amplitude = rng.uniform(0.0, 1.0)
        phase = rng.uniform(0.0, 2.0 * np.pi)
        kx = sum(ka * xa for ka, xa in zip(k, x, strict=True))
        u = u + amplitude * np.sin(2.0 * np.pi * kx + phase)
    return u


def _periodic_gaussian(x: np.ndarray, centre: float, width: float) -> np.ndarray:
    """``Σ_m exp(-(x - c + m)² / (2 w²))`` over the images that matter (w <= 0.15)."""
    r = x - centre
    r = r - np.round(r)  # in [-1/2, 1/2]
    return sum(np.exp(-((r + m) ** 2) / (2.0 * width**2)) for m in (-1, 0, 1))


def _bumps(shape: tuple[int, ...], rng: np.random.Generator, n_bumps: int) -> np.ndarray:
    d = len(shape)
    x = _node_grid(shape)
    u = np.zeros(shape)
    for _ in range(n_bumps):
        centre = rng.uniform(0.0, 1.0, size=d)
        width = rng.uniform(*_BUMP_WIDTHS)
        amplitude = rng.uniform(-1.0, 1.0)
        bump = np.ones(shape)
        for xa, ca in zip(x, centre, strict=True):
            bump = bump * _periodic_gaussian(xa, ca, width)
        u = u + amplitude * bump
    return u


def initial_condition(
    shape: tuple[int, ...],
    rng: np.random.Generator,
    *,
    kind: Literal["grf", "fourier", "bumps"] = "grf",
    **options: Any,
) -> np.ndarray:
    """Draw a random smooth periodic initial condition on the nodes ``x_j = j / s`` of ``[0, 1)^d``.

    Kinds and their options (defaults in :data:`IC_OPTIONS`):

    ``"grf"``
        Periodic Gaussian random field (:func:`grf` with ``periodic=True``);
        options ``alpha=2.0, tau=3.0, sigma=None, zero_mean=False``.
    ``"fourier"``
        PDEBench-style ``Σ_{i<n_waves} A_i sin(2π k_i·x + φ_i)`` with ``A_i ~ U(0, 1)``,
        ``φ_i ~ U(0, 2π)``; in 1-D ``k_i ~ U{1..k_max}``, in 2-D/3-D ``k_i`` is uniform over the
        nonzero integer vectors with ``max_a |k_{i,a}| <= k_max``.  Options ``n_waves=2``,
        ``k_max=8`` (``k_max < min(shape) / 2``, so every wave is resolved).
    ``"bumps"``
        ``Σ_{b<n_bumps} a_b exp(-|x - c_b|² / (2 w_b²))`` summed over periodic images, with
        centres ``c_b ~ U[0, 1)^d``, widths ``w_b ~ U(0.05, 0.15)``, amplitudes
        ``a_b ~ U(-1, 1)``.  Option ``n_bumps=3``.

    Parameters
    ----------
    shape : tuple of int
        Nodes per axis, 1-3 axes of size >= 2.
    rng : numpy Generator
    kind : {"grf", "fourier", "bumps"}
    **options
        Options of ``kind``; an unknown one raises :class:`~pdeflow.errors.ConfigError`.

    Returns
    -------
    ndarray of float64, shape ``shape``

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> initial_condition((64,), rng, kind="fourier", n_waves=3, k_max=4).shape
    (64,)
    >>> initial_condition((32, 32), rng, kind="bumps").shape
    (32, 32)
    >>> initial_condition((32,), rng, kind="fourier", alpha=2.0)
    Traceback (most recent call last):
    ...
    pdeflow.errors.ConfigError: Unknown option(s) ['alpha'] for initial_condition kind 'fourier'; it takes ['k_max', 'n_waves'].
    """  # noqa: E501
    where = "initial_condition"
    if kind not in IC_OPTIONS:
        raise ConfigError(
            f"The 'kind' parameter of {where} must be one of {sorted(IC_OPTIONS)}. Got {kind!r}."
        )
    unknown = sorted(set(options) - set(IC_OPTIONS[kind]))
    if unknown:
        raise ConfigError(
            f"Unknown option(s) {unknown} for {where} kind {kind!r}; "
            f"it takes {sorted(IC_OPTIONS[kind])}."
        )
    opts = {**IC_OPTIONS[kind], **options}
    shape = _check_shape(shape, where)
    if kind == "grf":
        return grf(shape, rng, periodic=True, **opts)
    if kind == "fourier":
        n_waves = _positive_int(opts["n_waves"], "n_waves", where)
        k_max = _positive_int(opts["k_max"], "k_max", where)
        if not k_max < min(shape) / 2:
            raise ConfigError(
                f"The 'k_max' parameter of {where} must be < min(shape)/2 = {min(shape) / 2} "
                f"(resolved below the Nyquist wavenumber). Got {k_max!r}; refine the grid or "
                "lower k_max."
            )
        return _fourier(shape, rng, n_waves, k_max)
    return _bumps(shape, rng, _positive_int(opts["n_bumps"], "n_bumps", where))


# ---------------------------------------------------------------------------- boundary data
def _check_n(n: Any, where: str) -> int:
    try:
        n = operator.index(n)
    except TypeError:
        raise ConfigError(f"The 'n' parameter of {where} must be an int >= 2. Got {n!r}.") from None
    if n < 2:
        raise ConfigError(f"The 'n' parameter of {where} must be an int >= 2. Got {n!r}.")
    return n


def _ring_index(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Grid indices ``(i, j)`` of the ``4(n-1)`` boundary nodes, counter-clockwise from (0, 0)."""
    up = np.arange(n - 1)  # 0 .. n-2
    down = np.arange(n - 1, 0, -1)  # n-1 .. 1
    first = np.zeros(n - 1, dtype=int)
    last = np.full(n - 1, n - 1)
    i = np.concatenate([up, last, down, first])  # bottom, right, top, left
    j = np.concatenate([first, up, last, down])
    return i, j


def boundary_ring(
    n: int,
    rng: np.random.Generator,
    *,
    alpha: float = 1.5,
    tau: float = 3.0,
    sigma: float | None = None,
) -> np.ndarray:
    """Random Dirichlet data on the boundary nodes of an ``n x n`` node grid on ``[0, 1]²``.

    The ``4(n-1)`` boundary nodes (``x_i = i / (n-1)``), taken counter-clockwise from the
    corner ``(0, 0)`` along ``y = 0`` first, are the nodes ``t_m = m / (4(n-1))`` of a
    periodic 1-D GRF ``N(0, σ² (-d²/dt² + τ²)^{-α})`` in the normalized arclength ``t``
    (perimeter = 1), so the data is continuous all round, corners included.  ``τ`` is
    thus measured in inverse perimeters: the correlation length is about ``4 / τ`` sides.

    Order (arrays are indexed ``[i, j] = (x_i, y_j)``): bottom ``(i, 0)``, ``i = 0..n-2``;
    right ``(n-1, j)``, ``j = 0..n-2``; top ``(i, n-1)``, ``i = n-1..1``; left ``(0, j)``,
    ``j = n-1..1``.

    Parameters
    ----------
    n : int
        Nodes per side (>= 2).
    rng : numpy Generator
    alpha, tau, sigma : float
        As in :func:`grf` (``alpha > 1/2``); the default ``alpha = 1.5`` gives
        (almost) Lipschitz data.

    Returns
    -------
    ndarray of float64, shape ``(4 (n-1),)``
        Use :func:`ring_to_grid` to place it on the grid.

    Examples
    --------
    >>> ring = boundary_ring(17, np.random.default_rng(0))
    >>> ring.shape
    (64,)
    >>> u = ring_to_grid(ring, 17)
    >>> bool(u[0, 0] == ring[0] and u[16, 0] == ring[16] and u[16, 16] == ring[32])
    True
    """
    n = _check_n(n, "boundary_ring")
    shape = (4 * (n - 1),)
    _check(shape, alpha, tau, sigma, where="boundary_ring")
    return grf(shape, rng, alpha=alpha, tau=tau, sigma=sigma, periodic=True)


def ring_to_grid(values: np.ndarray, n: int) -> np.ndarray:
    """Place boundary values on an ``n x n`` node grid, zeros inside.

    Parameters
    ----------
    values : array_like, shape ``(..., 4 (n-1))``
        Boundary values in the order of :func:`boundary_ring`; leading axes are a batch.
    n : int
        Nodes per side.

    Returns
    -------
    ndarray of float64, shape ``(..., n, n)``, indexed ``[..., i, j] = (x_i, y_j)``

    Examples
    --------
    >>> ring_to_grid(np.arange(8.0), 3)
    array([[0., 7., 6.],
           [1., 0., 5.],
           [2., 3., 4.]])
    """
    n = _check_n(n, "ring_to_grid")
    values = np.asarray(values, dtype=float)
    if values.ndim < 1 or values.shape[-1] != 4 * (n - 1):
        raise ShapeError(
            f"ring_to_grid: 'values' must have 4*(n-1) = {4 * (n - 1)} entries on its last "
            f"axis for n = {n}. Got shape {values.shape}."
        )
    i, j = _ring_index(n)
    u = np.zeros(values.shape[:-1] + (n, n))
    u[..., i, j] = values
    return u


def grid_to_ring(u: np.ndarray) -> np.ndarray:
    """Boundary values of an ``n x n`` node grid, in the order of :func:`boundary_ring`.

    Parameters
    ----------
    u : array_like, shape ``(..., n, n)``
        Indexed ``[..., i, j] = (x_i, y_j)``, ``n >= 2``; leading axes are a batch.

    Returns
    -------
    ndarray, shape ``(..., 4 (n-1))``
        The inverse of :func:`ring_to_grid` on the boundary.

    Examples
    --------
    >>> grid_to_ring(np.arange(9.0).reshape(3, 3))
    array([0., 3., 6., 7., 8., 5., 2., 1.])
    """
    u = np.asarray(u)
    if u.ndim < 2 or u.shape[-1] != u.shape[-2] or u.shape[-1] < 2:
        raise ShapeError(
            f"grid_to_ring: 'u' must be a square node grid of shape (..., n, n) with n >= 2. "
            f"Got shape {u.shape}."
        )
    i, j = _ring_index(u.shape[-1])
    return u[..., i, j]


# ---------------------------------------------------------------------------- sampler spec
_TRANSFORMS = ("none", "threshold", "lognormal")


@dataclass(frozen=True)
class FieldSampler:
    """A frozen, validated GRF spec whose sample ``i`` is reproducible on its own.

    Sample ``i`` is ``transform(grf(shape, np.random.default_rng([seed, i]), ...))``: it
    depends only on ``(seed, i)``, not on which other samples were drawn or in what order.

    Attributes
    ----------
    shape : tuple of int
        Grid points per axis, 1-3 axes of size >= 2.
    alpha, tau, sigma : float
        Covariance ``σ² (-Δ + τ² I)^{-α}`` (:func:`grf`); ``sigma=None`` is ``τ^{(2α-d)/2}``.
    periodic : bool
        Torus (FFT, nodes) or Neumann (DCT, cell centres).
    transform : {"none", "threshold", "lognormal"}
        Applied to the field with its defaults: :func:`threshold` (values 12 and 3) or
        :func:`lognormal` (``exp(g)``).
    seed : int
        Dataset seed (>= 0).

    Examples
    --------
    >>> fs = FieldSampler((16, 16), transform="threshold", seed=7)
    >>> a = fs.sample(3)
    >>> sorted(np.unique(a).tolist())
    [3.0, 12.0]
    >>> bool(np.array_equal(fs.sample_many([5, 3])[1], a))
    True
    """

    shape: tuple[int, ...]
    alpha: float = 2.0
    tau: float = 3.0
    sigma: float | None = None
    periodic: bool = False
    transform: Literal["none", "threshold", "lognormal"] = "none"
    seed: int = 0

    def __post_init__(self) -> None:
        where = "FieldSampler"
        object.__setattr__(self, "shape", _check_shape(self.shape, where))
        _check(self.shape, self.alpha, self.tau, self.sigma, where=where)
        if not isinstance(self.periodic, bool | np.bool_):
            raise ConfigError(
                f"The 'periodic' parameter of {where} must be a bool. Got {self.periodic!r}."
            )
        if self.transform not in _TRANSFORMS:
            raise ConfigError(
                f"The 'transform' parameter of {where} must be one of {_TRANSFORMS}. "
                f"Got {self.transform!r}."
            )
        try:
            seed = operator.index(self.seed)
        except TypeError:
            seed = -1
        if seed < 0:
            raise ConfigError(
                f"The 'seed' parameter of {where} must be an int >= 0. Got {self.seed!r}."
            )

    def sample(self, i: int) -> np.ndarray:
        """Field of sample ``i`` (an int >= 0), shape ``shape``, float64."""
        try:
            index = operator.index(i)
        except TypeError:
            index = -1
        if index < 0:
            raise ConfigError(
                f"FieldSampler.sample: the sample index must be an int >= 0. Got {i!r}."
            )
        rng = np.random.default_rng([operator.index(self.seed), index])
        g = grf(
            self.shape,
            rng,
            alpha=self.alpha,
            tau=self.tau,
            sigma=self.sigma,
            periodic=bool(self.periodic),
        )
        if self.transform == "threshold":
            return threshold(g)
        if self.transform == "lognormal":
            return lognormal(g)
        return g

    def sample_many(self, indices: Iterable[int]) -> np.ndarray:
        """Fields of samples ``indices``, stacked: shape ``(len(indices), *shape)``."""
        fields = [self.sample(i) for i in indices]
        if not fields:
            return np.zeros((0, *self.shape))
        return np.stack(fields)


# ---------------------------------------------------------------------------- state samplers
def _per_component(shape: tuple[int, ...], values: Any, name: str) -> np.ndarray:
    """``values`` (a number, or one per leading component) broadcast against ``shape``."""
    arr = np.asarray(values, dtype=float)
    if arr.ndim == 0:
        return arr
    if arr.ndim != 1 or len(shape) < 2 or arr.size != shape[0]:
        raise ConfigError(
            f"The '{name}' of a state sampler must be a number or one per component "
            f"({shape[0] if shape else 0}); got {values!r} for the state shape {shape}."
        )
    return arr.reshape((-1,) + (1,) * (len(shape) - 1))


@dataclass(frozen=True)
class GRFSampler:
    """Initial states (or parameter fields) drawn as periodic Gaussian random fields.

    ``draw(rng, shape)`` gives ``mean + scale * grf(...)`` on the nodes ``j / s``: one
    independent field per leading component when ``shape`` has more than ``spatial_dims``
    axes (``(c, s, s)`` with ``spatial_dims=2``).  Used by
    :func:`pdeflow.datagen.families.from_rhs` as ``initial=`` or as a parameter.

    Attributes
    ----------
    alpha, tau, sigma : float
        Covariance ``σ² (-Δ + τ² I)^{-α}`` (:func:`grf`, ``periodic=True``).
    mean, scale : float or sequence of float
        Per component when a sequence.
    spatial_dims : int, optional
        Trailing axes that are space; default: all axes of a shape of up to 3 axes, else
        the last 3.

    Examples
    --------
    >>> g = GRFSampler(mean=(1.0, 0.0), scale=0.1, spatial_dims=2)
    >>> g.draw(np.random.default_rng(0), (2, 16, 16)).shape
    (2, 16, 16)
    """

    alpha: float = 2.0
    tau: float = 3.0
    sigma: float | None = None
    mean: Any = 0.0
    scale: Any = 1.0
    spatial_dims: int | None = None

    def draw(self, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
        """One field of ``shape`` (float64)."""
        shape = tuple(int(s) for s in shape)
        nd = self.spatial_dims or min(len(shape), 3)
        spatial, lead = shape[len(shape) - nd:], shape[: len(shape) - nd]
        count = int(np.prod(lead)) if lead else 1
        fields = [grf(spatial, rng, alpha=self.alpha, tau=self.tau, sigma=self.sigma,
                      periodic=True) for _ in range(count)]
        g = np.stack(fields).reshape(shape)
        return _per_component(shape, self.mean, "mean") + _per_component(
            shape, self.scale, "scale") * g


@dataclass(frozen=True)
class UniformNoise:
    """Initial states (or parameter fields) of independent uniform values in ``[low, high)``.

    ``low`` and ``high`` are numbers or one per leading component.

    Examples
    --------
    >>> u = UniformNoise(0.0, 0.5).draw(np.random.default_rng(0), (8,))
    >>> bool((u >= 0).all() and (u < 0.5).all())
    True
    """

    low: Any = 0.0
    high: Any = 1.0

    def draw(self, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
        """One field of ``shape`` (float64)."""
        shape = tuple(int(s) for s in shape)
        lo = _per_component(shape, self.low, "low")
        hi = _per_component(shape, self.high, "high")
        return lo + (hi - lo) * rng.random(shape)
