"""Merit functions: the exact augmented Lagrangian and the l1 penalty.

Exact augmented Lagrangian (Hong, Na, Mahoney & Kolar, ICML 2023, eq. (3))::

    L_eta(x, lam) = f + lam^T c + eta1/2 ||c||^2 + eta2/2 ||grad_x L||^2.

Its gradient is ``(grad_x L + eta1 J^T c + eta2 H grad_x L,  c + eta2 J grad_x L)`` with
``H`` the Hessian of the Lagrangian, so the directional derivative along ``(dx, dlam)``
splits into three parts, linear in the penalties::

    slope = a0 + eta1 a1 + eta2 a2,
    a0 = grad_x L^T dx + c^T dlam,   a1 = c^T J dx,   a2 = grad_x L^T (H dx + J^T dlam).

The driver uses this split to pick the smallest penalties that make the inexact Newton
direction a descent direction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

__all__ = ["SlopeParts", "augmented_lagrangian", "slope_parts", "l1_merit"]


@dataclass(frozen=True, slots=True)
class SlopeParts:
    """Directional derivative of ``L_eta`` as ``a0 + eta1 a1 + eta2 a2``."""

    a0: float
    a1: float
    a2: float

    def slope(self, eta1: float, eta2: float) -> float:
        """The directional derivative for penalties ``(eta1, eta2)``."""
        return self.a0 + eta1 * self.a1 + eta2 * self.a2


def augmented_lagrangian(
    f: float, c: np.ndarray, grad_l: np.ndarray, lam: np.ndarray, eta1: float, eta2: float
) -> float:
    """``f + lam^T c + eta1/2 ||c||^2 + eta2/2 ||grad_x L||^2``.

    Shapes: ``c, lam`` (m,), ``grad_l`` (n,).
    """
    return float(f + lam @ c + 0.5 * eta1 * (c @ c) + 0.5 * eta2 * (grad_l @ grad_l))


def slope_parts(
    grad_l: np.ndarray,
    c: np.ndarray,
    H: sp.csr_array,
    J: sp.csr_array,
    dx: np.ndarray,
    dlam: np.ndarray,
) -> SlopeParts:
    """The three parts of the directional derivative of ``L_eta`` along ``(dx, dlam)``.

    Parameters
    ----------
    grad_l : ndarray, shape (n,)
    c : ndarray, shape (m,)
    H : sparse, shape (n, n)
        Hessian of the Lagrangian (unregularized: the merit uses the true curvature).
    J : sparse, shape (m, n)
    dx : ndarray, shape (n,)
    dlam : ndarray, shape (m,)
    """
    a0 = float(grad_l @ dx + c @ dlam)
    a1 = float(c @ (J @ dx))
    a2 = float(grad_l @ (H @ dx + J.T @ dlam))
    return SlopeParts(a0, a1, a2)


def l1_merit(f: float, c: np.ndarray, mu: float) -> float:
    """``f + mu ||c||_1``; shape of ``c`` is (m,)."""
    return float(f + mu * np.sum(np.abs(c)))
