"""SKR ordering: sort a sequence of systems so that neighbours are similar.

Two families of orderings of ``N`` parameter fields:

* ``"greedy"`` — the SKR paper's nearest-neighbour path by Frobenius distance
  (Wang et al., "Accelerating Data Generation for Neural Operators via Krylov Subspace
  Recycling", ICLR 2024): start at the field farthest from the mean, then repeatedly go to
  the nearest unvisited field.  ``O(N^2 d)`` time via one Gram matrix, ``O(N^2)`` memory.
* scalable ``O(N log N)`` variants for ``N >= 10^4``: low-pass FFT features → PCA →
  ``"hilbert"`` or ``"morton"`` space-filling-curve sort, or ``"knn"``, a greedy chain
  over a k-d tree of those features (jumping along the Hilbert order when the local
  neighbourhood is exhausted).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import scipy.fft as sfft
from scipy.spatial import cKDTree

from pdeflow.errors import ConfigError, DataError, ShapeError

__all__ = [
    "skr_order",
    "path_length",
    "lowpass_coefficients",
    "lowpass_features",
    "hilbert_index",
    "morton_index",
]

OrderMethod = Literal["auto", "greedy", "hilbert", "morton", "knn", "none"]
_GREEDY_MAX = 4000


def _as_fields(params: object) -> np.ndarray:
    X = np.asarray(params, dtype=float)
    if X.ndim < 2:
        raise ShapeError(
            f"'params' must have shape (N, ...) with one parameter field per system; got {X.shape}."
        )
    if not np.isfinite(X).all():
        raise DataError("'params' contains NaN or Inf; remove non-finite values first.")
    return X


def skr_order(
    params: object,
    *,
    method: OrderMethod = "auto",
    low_pass: int = 8,
    n_components: int = 4,
) -> np.ndarray:
    """Return a permutation that orders the systems so that consecutive ones are close.

    Parameters
    ----------
    params : array_like, shape (N, *field_shape)
        One parameter field per system (e.g. ``(N, s, s)`` coefficients), or any
        ``(N, d)`` feature vectors.
    method : {"auto", "greedy", "hilbert", "morton", "knn", "none"}
        ``"auto"``: greedy for ``N <= 4000``, ``"knn"`` above.  ``"none"`` is the identity.
    low_pass : int
        Fourier modes kept per axis (both signs) by the scalable variants.
    n_components : int
        PCA dimensions kept by the scalable variants (2..6).

    Returns
    -------
    ndarray of int, shape (N,)
        ``order`` such that ``params[order]`` is the solve order.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((50, 8, 8))
    >>> order = skr_order(X)
    >>> sorted(order.tolist()) == list(range(50))
    True
    >>> bool(path_length(X, order) < path_length(X, rng.permutation(50)))
    True
    """
    X = _as_fields(params)
    N = X.shape[0]
    if method not in ("auto", "greedy", "hilbert", "morton", "knn", "none"):
        raise ConfigError(
            "The 'method' parameter of skr_order must be one of 'auto', 'greedy', 'hilbert', "
            f"'morton', 'knn', 'none'. Got {method!r}."
        )
    if not 2 <= n_components <= 6:
        raise ConfigError(
            "The 'n_components' parameter of skr_order must be an int in [2, 6]. "
            f"Got {n_components!r}."
        )
    if N <= 2 or method == "none":
        return np.arange(N)
    if method == "auto":
        method = "greedy" if N <= _GREEDY_MAX else "knn"
    if method == "greedy":
        return _greedy(X.reshape(N, -1))
    F = lowpass_features(X, low_pass=low_pass, n_components=n_components)
    if method == "morton":
        return np.argsort(morton_index(F), kind="stable")
    hil = np.argsort(hilbert_index(F), kind="stable")
    if method == "hilbert":
        return hil
    return _knn_chain(F, hil)


def path_length(params: object, order: np.ndarray) -> float:
    """Sum of Frobenius distances between consecutive fields in ``order``."""
    X = _as_fields(params).reshape(np.shape(params)[0], -1)
    d = np.diff(X[np.asarray(order)], axis=0)
    return float(np.sqrt(np.einsum("ij,ij->i", d, d)).sum())


def _greedy(X: np.ndarray) -> np.ndarray:
    """Nearest-neighbour path on the rows of ``X`` (shape (N, d))."""
    N = X.shape[0]
    sq = np.einsum("ij,ij->i", X, X)
    D = sq[:, None] + sq[None, :] - 2.0 * (X @ X.T)
    mean = X.mean(axis=0)
    cur = int(np.argmax(np.einsum("ij,ij->i", X - mean, X - mean)))
    order = np.empty(N, dtype=np.int64)
    order[0] = cur
    D[:, cur] = np.inf
    for t in range(1, N):
        nxt = int(np.argmin(D[cur]))
        order[t] = nxt
        D[:, nxt] = np.inf
        cur = nxt
    return order


def lowpass_coefficients(X: np.ndarray, *, low_pass: int = 8) -> np.ndarray:
    """The lowest Fourier modes of each field: ``low_pass`` per axis and sign.

    Parameters
    ----------
    X : ndarray, shape (N, *field_shape)
        Fields of 1–3 dimensions (or flat vectors, for which the FFT step is skipped).

    Returns
    -------
    ndarray, shape (N, n_features)
        Real and imaginary parts of the kept ``rfftn`` coefficients (the fields themselves,
        flattened, when they are short 1-D vectors).
    """
    N = X.shape[0]
    fdim = X.ndim - 1
    if not (fdim >= 2 or (fdim == 1 and X.shape[1] > 4 * low_pass)):
        return X.reshape(N, -1)
    axes = tuple(range(1, X.ndim))
    Fh = sfft.rfftn(X, axes=axes, workers=1)
    idx = [np.arange(N)]
    for ax in range(1, X.ndim - 1):
        n_ax = Fh.shape[ax]
        keep = np.arange(n_ax)
        if n_ax > 2 * low_pass:
            keep = np.r_[0:low_pass, n_ax - low_pass + 1 : n_ax]
        idx.append(keep)
    idx.append(np.arange(min(low_pass, Fh.shape[-1])))
    Fh = Fh[np.ix_(*idx)]
    return np.concatenate([Fh.real.reshape(N, -1), Fh.imag.reshape(N, -1)], axis=1)


def lowpass_features(X: np.ndarray, *, low_pass: int = 8, n_components: int = 4) -> np.ndarray:
    """Low-pass Fourier coefficients of each field (:func:`lowpass_coefficients`), reduced
    by PCA.

    Parameters
    ----------
    X : ndarray, shape (N, *field_shape)
        Fields of 1–3 dimensions (or flat vectors, for which the FFT step is skipped).

    Returns
    -------
    ndarray, shape (N, n_components)
        Scaled to the unit cube ``[0, 1]^n_components``.
    """
    feats = lowpass_coefficients(X, low_pass=low_pass)
    feats = feats - feats.mean(axis=0)
    _, _, Vt = np.linalg.svd(feats, full_matrices=False)
    P = feats @ Vt[:n_components].T
    lo, hi = P.min(axis=0), P.max(axis=0)
    # one common scale for all axes, so that distances keep their proportions
    return (P - lo) / max(float((hi - lo).max()), 1e-300)


def _quantize(F: np.ndarray, bits: int) -> np.ndarray:
    return np.minimum((F * (1 << bits)).astype(np.int64), (1 << bits) - 1)


def morton_index(F: np.ndarray, bits: int | None = None) -> np.ndarray:
    """Z-order (Morton) keys of points in the unit cube; shape (N, d) -> (N,)."""
    d = F.shape[1]
    bits = bits or min(20, 62 // d)
    Q = _quantize(F, bits)
    key = np.zeros(F.shape[0], dtype=np.int64)
    for j in range(bits - 1, -1, -1):
        for i in range(d):
            key = (key << 1) | ((Q[:, i] >> j) & 1)
    return key


def hilbert_index(F: np.ndarray, bits: int | None = None) -> np.ndarray:
    """Hilbert-curve keys of points in the unit cube; shape (N, d) -> (N,).

    Skilling's transpose algorithm ("Programming the Hilbert curve", AIP Conf. Proc. 707,
    2004), vectorized over points.
    """
    d = F.shape[1]
    bits = bits or min(20, 62 // d)
    X = _quantize(F, bits).T.copy()  # (d, N)
    M = 1 << (bits - 1)
    Q = M
    while Q > 1:
        P = Q - 1
        for i in range(d):
            hit = (X[i] & Q) != 0
            X[0] = np.where(hit, X[0] ^ P, X[0])
            t = np.where(hit, 0, (X[0] ^ X[i]) & P)
            X[0] ^= t
            X[i] ^= t
        Q >>= 1
    for i in range(1, d):
        X[i] ^= X[i - 1]
    t = np.zeros(X.shape[1], dtype=np.int64)
    Q = M
    while Q > 1:
        t = np.where((X[d - 1] & Q) != 0, t ^ (Q - 1), t)
        Q >>= 1
    X ^= t
    key = np.zeros(X.shape[1], dtype=np.int64)
    for j in range(bits - 1, -1, -1):
        for i in range(d):
            key = (key << 1) | ((X[i] >> j) & 1)
    return key


def _knn_chain(F: np.ndarray, fallback: np.ndarray, k: int = 16) -> np.ndarray:
    """Greedy chain over a k-d tree; when all ``k`` neighbours are used, jump along ``fallback``."""
    N = F.shape[0]
    tree = cKDTree(F)
    kq = min(k, N)
    _, nbrs = tree.query(F, k=kq)
    visited = np.zeros(N, dtype=bool)
    order = np.empty(N, dtype=np.int64)
    cur = int(fallback[0])
    ptr = 0
    for t in range(N):
        order[t] = cur
        visited[cur] = True
        if t == N - 1:
            break
        cand = nbrs[cur][~visited[nbrs[cur]]]
        if cand.size:
            cur = int(cand[0])
            continue
        _, more = tree.query(F[cur], k=min(4 * kq, N))
        more = np.atleast_1d(more)
        cand = more[~visited[more]]
        if cand.size:
            cur = int(cand[0])
            continue
        while visited[fallback[ptr]]:
            ptr += 1
        cur = int(fallback[ptr])
    return order
