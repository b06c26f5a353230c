"""Compiled vector kernels of the ODE steppers (Numba, compiled once per machine).

A Rosenbrock step combines its stages with small weighted sums over vectors of the
problem's size, and the adaptive driver measures every step's error in a weighted RMS
norm.  Done with numpy, each of these is three to seven array operations (a
temporary each, plus Python overhead): on RD3 at N=32 about a fifth of a whole stiff
solve.  Here each is one pass over memory.
"""

from __future__ import annotations

import math

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def combine(out, base, k, w, m, scale):  # pragma: no cover - compiled
    """``out = base + scale * (w[0] k[0] + ... + w[m-1] k[m-1])``.

    Parameters
    ----------
    out, base : ndarray, shape (n,)
    k : ndarray, shape (>= m, n)
        Stage vectors, one per row.
    w : ndarray, shape (>= m,)
    m : int
    scale : float
    """
    n = out.shape[0]
    for e in range(n):
        s = 0.0
        for j in range(m):
            s += w[j] * k[j, e]
        out[e] = base[e] + scale * s
    return out


@numba.njit(cache=True, nogil=True)
def scaled_rms(err, y, y_new, atol, rtol):  # pragma: no cover - compiled
    """``sqrt(mean((err / (atol + rtol * max(|y|, |y_new|)))**2))``; ``atol`` of shape (n,)."""
    n = err.shape[0]
    s = 0.0
    for e in range(n):
        sc = atol[e] + rtol * max(abs(y[e]), abs(y_new[e]))
        q = err[e] / sc
        s += q * q
    return math.sqrt(s / n)


def warm_up() -> None:
    """Load (the first time on a machine: compile) the kernels on tiny arrays."""
    v = np.ones(2)
    combine(np.empty(2), v, np.ones((1, 2)), v, 1, 1.0)
    scaled_rms(v, v, v, v, 1e-6)


__all__ = ["combine", "scaled_rms", "warm_up"]
