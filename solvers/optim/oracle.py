"""Counted, shape-checked evaluation of a :class:`ConstrainedProblem`.

The drivers never call the user's callables directly: the :class:`Oracle` checks every
returned shape and value once per call (a wrong shape or a NaN becomes a clear
:class:`pdeflow.errors.DataError` or a ``NONFINITE`` status) and counts evaluations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from pdeflow.errors import DataError
from pdeflow.solvers.optim.problem import ConstrainedProblem

__all__ = ["Oracle", "Point", "NonFiniteError"]


class NonFiniteError(ArithmeticError):
    """Internal signal: a function returned NaN/Inf at an iterate (becomes a status)."""


@dataclass(frozen=True, slots=True)
class Point:
    """First-order information at one point.

    Attributes
    ----------
    x : ndarray, shape (n,)
    f : float
    c : ndarray, shape (m,)
    g : ndarray, shape (n,)
        Gradient of ``f``.
    J : scipy.sparse.csr_array, shape (m, n)
        Constraint Jacobian.
    """

    x: np.ndarray
    f: float
    c: np.ndarray
    g: np.ndarray
    J: sp.csr_array

    def grad_lagrangian(self, lam: np.ndarray) -> np.ndarray:
        """``grad f + J^T lam``, shape (n,)."""
        return self.g + self.J.T @ lam


class Oracle:
    """Evaluates a problem, checks shapes and finiteness, and counts calls.

    Parameters
    ----------
    problem : ConstrainedProblem
    n : int
        Number of variables (length of the start point).
    allow_empty : bool
        Accept problems with no equality constraints (the interior-point driver, where
        bounds or inequalities constrain the problem).
    """

    def __init__(self, problem: ConstrainedProblem, n: int, allow_empty: bool = False) -> None:
        self.problem = problem
        self.allow_empty = allow_empty
        self.n = n
        self.m: int | None = None
        self.nfev = 0
        self.ngev = 0
        self.njev = 0
        self.nhev = 0

    # -- checks -----------------------------------------------------------------------
    def _vector(self, value: Any, what: str, size: int) -> np.ndarray:
        v = np.asarray(value, dtype=float)
        if v.ndim == 0 and size == 1:
            v = v.reshape(1)
        if v.shape != (size,):
            raise DataError(
                f"{self.problem.name}: {what} must return shape ({size},); got {v.shape}"
            )
        return v

    def _matrix(self, value: Any, what: str, shape: tuple[int, int]) -> sp.csr_array:
        mat = sp.csr_array(value) if sp.issparse(value) else None
        if mat is None:
            dense = np.asarray(value, dtype=float)
            if dense.ndim == 1 and shape[0] == 1:
                dense = dense.reshape(1, -1)
            if dense.shape != shape:
                raise DataError(
                    f"{self.problem.name}: {what} must return shape {shape}; got {dense.shape}"
                )
            mat = sp.csr_array(dense)
        if mat.shape != shape:
            raise DataError(
                f"{self.problem.name}: {what} must return shape {shape}; got {mat.shape}"
            )
        mat = mat.astype(float)
        if not np.all(np.isfinite(mat.data)):
            raise NonFiniteError(f"{self.problem.name}: the function '{what}' returned NaN or Inf")
        return mat

    # -- evaluations --------------------------------------------------------------------
    def point(self, x: np.ndarray) -> Point:
        """Evaluate ``f, c, grad f, J`` at ``x``; raise :class:`NonFiniteError` on NaN/Inf."""
        p = self.problem
        fx = np.asarray(p.f(x), dtype=float)
        if fx.size != 1:
            raise DataError(f"{p.name}: f must return a scalar; got shape {fx.shape}")
        cx = np.asarray(p.cons(x), dtype=float).reshape(-1)
        self.nfev += 1
        if self.m is None:
            self.m = int(cx.shape[0])
            if self.m == 0 and not self.allow_empty:
                raise DataError(f"{p.name}: cons returned no constraints; use an unconstrained "
                                "solver for problems without constraints")
        cx = self._vector(cx, "cons", self.m)
        g = self._vector(p.grad(x), "grad", self.n)
        self.ngev += 1
        J = self._matrix(p.jac(x), "jac", (self.m, self.n))
        self.njev += 1
        for label, value in (("f", fx), ("cons", cx), ("grad", g)):
            if not np.all(np.isfinite(value)):
                raise NonFiniteError(f"{p.name}: the function '{label}' returned NaN or Inf")
        return Point(x=x, f=float(fx), c=cx, g=g, J=J)

    def inequalities(self, x: np.ndarray) -> tuple[np.ndarray, sp.csr_array]:
        """``g(x)`` (p,) and its Jacobian (p, n) as CSR; empty when the problem has none."""
        p = self.problem
        if p.ineq is None or p.ineq_jac is None:
            return np.zeros(0), sp.csr_array((0, self.n))
        gx = np.asarray(p.ineq(x), dtype=float).reshape(-1)
        G = self._matrix(p.ineq_jac(x), "ineq_jac", (gx.shape[0], self.n))
        if not np.all(np.isfinite(gx)):
            raise NonFiniteError(f"{p.name}: the function 'ineq' returned NaN or Inf")
        return gx, G

    def hessian(self, x: np.ndarray, lam: np.ndarray) -> sp.csr_array:
        """Hessian of the Lagrangian at ``(x, lam)``, shape (n, n), as CSR.

        Uses ``hess`` when the problem has it, else ``n`` Hessian-vector products.
        """
        p = self.problem
        if p.hess is not None:
            self.nhev += 1
            return self._matrix(p.hess(x, lam), "hess", (self.n, self.n))
        assert p.hvp is not None
        cols = np.empty((self.n, self.n))
        eye = np.eye(self.n)
        for j in range(self.n):
            cols[:, j] = self._vector(p.hvp(x, lam, eye[j]), "hvp", self.n)
        self.nhev += self.n
        sym = 0.5 * (cols + cols.T)
        return self._matrix(sym, "hvp", (self.n, self.n))
