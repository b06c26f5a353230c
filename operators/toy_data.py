"""Small in-process PDE sources for tests, demos and benchmarks (NOT production data).

These stand in for :mod:`pdeflow.datagen` where a quick, dependency-free source is wanted:
Darcy flow :math:`-\\nabla\\cdot(a\\nabla u) = f` with :math:`f = 1` and :math:`u = 0` on the
boundary of the unit interval or square, for a random coefficient :math:`a` that takes the
values 12 and 3 on the two sides of a thresholded Gaussian random field (the FNO paper's
recipe, on small grids).  Discretization: cell-centred finite volumes on the nodes
``x_i = i / (n - 1)`` with harmonic-mean face coefficients, solved exactly with scipy
(banded solve in 1-D, sparse LU in 2-D).

Each ``*_source(...)`` returns an online source: ``source(seed)`` is an endless generator of
``{"x": a, "y": u}`` dicts, deterministic in ``seed`` (see :mod:`pdeflow.operators.data`).

Examples
--------
>>> src = darcy1d_source(resolution=32)
>>> sample = next(iter(src(0)))
>>> sample["x"].shape, sample["y"].shape
((32,), (32,))
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import scipy.linalg
import scipy.sparse
import scipy.sparse.linalg

from pdeflow.errors import ConfigError

__all__ = [
    "grf",
    "darcy1d_solve",
    "darcy2d_solve",
    "darcy1d_source",
    "darcy2d_source",
    "FAMILIES",
    "make_source",
    "sample_arrays",
    "write_h5",
]

Source = Callable[[int], Iterator[dict[str, np.ndarray]]]


def grf(
    rng: np.random.Generator,
    resolution: int,
    ndim: int,
    alpha: float = 2.0,
    tau: float = 3.0,
    n_modes: int = 24,
) -> np.ndarray:
    """Gaussian random field on ``[0,1]^ndim``: a cosine series with spectrum
    :math:`(\\tau^2 + \\pi^2 |k|^2)^{-\\alpha/2}`, sampled on ``resolution`` nodes per axis."""
    x = np.linspace(0.0, 1.0, resolution)
    k = np.arange(n_modes)
    basis = np.cos(np.pi * np.outer(k, x))  # (K, n)
    grids = np.meshgrid(*([k] * ndim), indexing="ij")
    k2 = sum(g.astype(float) ** 2 for g in grids)
    coef = rng.standard_normal([n_modes] * ndim) * (tau**2 + np.pi**2 * k2) ** (-alpha / 2)
    coef.flat[0] = 0.0  # zero mean: balanced between the two coefficient values
    field = coef
    for _ in range(ndim):  # contract one axis at a time with the cosine basis
        field = np.tensordot(field, basis, axes=([0], [0]))
    return field


def _threshold(g: np.ndarray, high: float = 12.0, low: float = 3.0) -> np.ndarray:
    return np.where(g >= 0, high, low)


def _harmonic(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return 2.0 * a * b / (a + b)


def darcy1d_solve(a: np.ndarray, f: float = 1.0) -> np.ndarray:
    """Solve :math:`-(a u')' = f`, :math:`u(0) = u(1) = 0` on ``len(a)`` nodes."""
    n = a.size
    h = 1.0 / (n - 1)
    face = _harmonic(a[:-1], a[1:])  # n - 1 faces
    m = n - 2
    diag = (face[:-1] + face[1:]) / h**2
    off = -face[1:-1] / h**2
    ab = np.zeros((3, m))
    ab[0, 1:] = off
    ab[1] = diag
    ab[2, :-1] = off
    u = np.zeros(n)
    u[1:-1] = scipy.linalg.solve_banded((1, 1), ab, np.full(m, f))
    return u


def darcy2d_solve(a: np.ndarray, f: float = 1.0) -> np.ndarray:
    """Solve :math:`-\\nabla\\cdot(a\\nabla u) = f`, :math:`u = 0` on the boundary, ``a`` (n, n)."""
    n = a.shape[0]
    h = 1.0 / (n - 1)
    m = n - 2
    idx = np.arange(m * m).reshape(m, m)
    fx = _harmonic(a[:-1, :], a[1:, :])  # faces between rows i and i+1, (n-1, n)
    fy = _harmonic(a[:, :-1], a[:, 1:])  # (n, n-1)
    west = fx[:-1, 1:-1]  # face (i-1/2, j) for interior i=1..n-2
    east = fx[1:, 1:-1]
    south = fy[1:-1, :-1]
    north = fy[1:-1, 1:]
    diag = (west + east + south + north).ravel()
    rows, cols, vals = [idx.ravel()], [idx.ravel()], [diag]
    for coeff, di, dj in ((west, -1, 0), (east, 1, 0), (south, 0, -1), (north, 0, 1)):
        ii, jj = np.meshgrid(np.arange(m), np.arange(m), indexing="ij")
        ti, tj = ii + di, jj + dj
        ok = (ti >= 0) & (ti < m) & (tj >= 0) & (tj < m)
        rows.append(idx[ii[ok], jj[ok]])
        cols.append(idx[ti[ok], tj[ok]])
        vals.append(-coeff[ok])
    mat = scipy.sparse.csc_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(m * m, m * m)
    )
    u = np.zeros((n, n))
    u[1:-1, 1:-1] = scipy.sparse.linalg.spsolve(mat, np.full(m * m, f * h * h)).reshape(m, m)
    return u


def _coefficient(g: np.ndarray, kind: str) -> np.ndarray:
    if kind == "threshold":
        return _threshold(g)
    if kind == "lognormal":
        return np.exp(g / max(float(np.abs(g).max()), 1e-12))  # smooth, within [1/e, e]
    raise ConfigError(f"unknown coefficient kind {kind!r}; use 'threshold' or 'lognormal'")


def darcy1d_source(resolution: int = 64, kind: str = "threshold") -> Source:
    """Online source of 1-D Darcy samples ``{"x": a, "y": u}``, each shaped ``(resolution,)``.

    ``kind="threshold"``: ``a`` in {12, 3} (FNO recipe); ``"lognormal"``: smooth ``a = exp(g)``.
    """
    _coefficient(np.zeros(1), kind)  # validate now

    def source(seed: int) -> Iterator[dict[str, np.ndarray]]:
        rng = np.random.default_rng(seed)
        while True:
            a = _coefficient(grf(rng, resolution, 1), kind)
            yield {"x": a, "y": darcy1d_solve(a)}

    return source


def darcy2d_source(resolution: int = 32) -> Source:
    """Online source of 2-D Darcy samples, each field shaped ``(resolution, resolution)``."""

    def source(seed: int) -> Iterator[dict[str, np.ndarray]]:
        rng = np.random.default_rng(seed)
        while True:
            a = _threshold(grf(rng, resolution, 2, n_modes=16))
            yield {"x": a, "y": darcy2d_solve(a)}

    return source


FAMILIES: dict[str, Callable[..., Source]] = {
    "darcy1d": darcy1d_source,
    "darcy2d": darcy2d_source,
}


def make_source(family: str, **kwargs: Any) -> Source:
    """The toy source named ``family`` (one of :data:`FAMILIES`)."""
    if family not in FAMILIES:
        raise ConfigError(
            f"unknown toy family {family!r}; choose one of {', '.join(sorted(FAMILIES))}"
        )
    return FAMILIES[family](**kwargs)


def sample_arrays(source: Source, n: int, seed: int = 0) -> dict[str, np.ndarray]:
    """The first ``n`` samples of ``source(seed)`` stacked: ``{"x": (n, *S), "y": (n, *S)}``."""
    xs, ys = [], []
    for k, s in enumerate(source(seed)):
        if k >= n:
            break
        xs.append(s["x"])
        ys.append(s["y"])
    return {"x": np.stack(xs), "y": np.stack(ys)}


def write_h5(
    path: str | Path, source: Source, n: int, seed: int = 0, x_key: str = "a", y_key: str = "u"
) -> Path:
    """Write ``n`` samples of ``source(seed)`` to HDF5 datasets ``x_key`` and ``y_key``."""
    import h5py

    data = sample_arrays(source, n, seed)
    path = Path(path)
    with h5py.File(path, "w") as f:
        f.create_dataset(x_key, data=data["x"].astype(np.float32))
        f.create_dataset(y_key, data=data["y"].astype(np.float32))
        f.attrs["source"] = "pdeflow.operators.toy_data (test/demo data)"
    return path
