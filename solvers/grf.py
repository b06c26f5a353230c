"""Seeded Gaussian random fields ``N(0, σ² (-Δ + τ²)^{-α})`` on ``[0, 1]^d`` (Neumann, via DCT).

The field is expanded in the orthonormal cosine eigenbasis of the Neumann Laplacian,
``φ_k(x) = Π_i sqrt(2 - δ_{k_i 0}) cos(π k_i x_i)`` with eigenvalue ``π² |k|²``, and sampled at
cell centres with one inverse DCT-II.  With the defaults ``α = 2, τ = 3`` and
``σ = τ^{(2α - d)/2}`` this is the prior of the FNO Darcy data set (Li et al., 2021).
"""

from __future__ import annotations

import numpy as np
import scipy.fft as sfft

from pdeflow.errors import ConfigError

__all__ = ["grf"]


def grf(
    shape: tuple[int, ...],
    rng: np.random.Generator,
    *,
    alpha: float = 2.0,
    tau: float = 3.0,
    sigma: float | None = None,
) -> np.ndarray:
    """Draw one Gaussian random field on a cell-centred grid.

    Parameters
    ----------
    shape : tuple of int
        Grid shape, 1–3 dimensions (``(s, s)`` for 2-D).
    rng : numpy Generator
        Source of randomness (use ``np.random.default_rng([seed, i])`` for sample ``i``).
    alpha, tau : float
        Smoothness and inverse length scale of the covariance ``(-Δ + τ²)^{-α}``.
    sigma : float, optional
        Amplitude; defaults to ``τ^{(2α - d)/2}``.

    Returns
    -------
    ndarray, shape ``shape``

    Examples
    --------
    >>> g = grf((32, 32), np.random.default_rng(0))
    >>> g.shape
    (32, 32)
    """
    d = len(shape)
    if not 1 <= d <= 3 or min(shape) < 2:
        raise ConfigError(
            f"The 'shape' parameter of grf must have 1-3 axes of size >= 2. Got {shape!r}."
        )
    if alpha <= d / 2:
        raise ConfigError(
            f"The 'alpha' parameter of grf must be > d/2 = {d / 2} (finite variance). "
            f"Got {alpha!r}."
        )
    if tau <= 0:
        raise ConfigError(f"The 'tau' parameter of grf must be > 0. Got {tau!r}.")
    sigma = tau ** (0.5 * (2 * alpha - d)) if sigma is None else sigma
    k2 = np.zeros(shape)
    for ax, s in enumerate(shape):
        kk = (np.pi * np.arange(s)) ** 2
        k2 = k2 + kk.reshape([-1 if a == ax else 1 for a in range(d)])
    coef = sigma * (k2 + tau**2) ** (-alpha / 2)
    xi = rng.standard_normal(shape)
    return sfft.idctn(coef * xi, type=2, norm="ortho", workers=1) * np.sqrt(np.prod(shape))
