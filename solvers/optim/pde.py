"""Reduced-space problems ``min J(w) + R(z)  s.t.  F(w, z) = 0`` and their adjoint calculus.

The solver knows no PDE: a :class:`ReducedSpaceProblem` hands it the state residual ``F``,
its Jacobians ``B = dF/dw`` (the state operator) and ``C = dF/dz``, the second derivatives
of ``p . F`` (or ``None`` for Gauss-Newton), a data misfit ``J(w)`` and a quadratic
regularization ``R(z) = 1/2 z^T R z``.  Eliminating the state gives the reduced objective
``j(z) = J(w(z)) + R(z)`` with, at a state ``w`` and adjoint ``p`` (``B^T p = -grad J``)::

    grad j = R z + C^T p,
    H v    = R v + C^T q + W_wz^T dw + W_zz v,   dw = -B^{-1} C v,
    q      = -B^{-T} ((J_ww + W_ww) dw + W_wz v),

Every solve with ``B`` or ``B^T`` goes through one factorization per Newton step
(:func:`pdeflow.solvers.direct.factorize`, whose LDL^T analysis is reused across steps);
batches of solves (a sketch's columns) go through :func:`pdeflow.solvers.solve_sequence`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from pdeflow.errors import ConfigError, ConvergenceError, DataError
from pdeflow.solvers.direct import factorize

__all__ = ["ReducedSpaceProblem", "ReducedState", "LinearCounts"]

Sparse = Any


@dataclass(frozen=True)
class ReducedSpaceProblem:
    """A PDE-constrained problem in reduced form (the solver sees no PDE by name).

    Parameters
    ----------
    residual : callable ``(w, z) -> (N_w,)``
        State equation ``F(w, z) = 0``.
    state_jac : callable ``(w, z) -> sparse (N_w, N_w)``
        ``B = dF/dw``, the state operator (nonsingular).
    control_jac : callable ``(w, z) -> sparse (N_w, N_z)``
        ``C = dF/dz``.
    misfit : callable ``w -> (float, (N_w,))``
        Data misfit ``J(w)`` and its gradient.
    misfit_hess : callable ``w -> sparse (N_w, N_w)``
        Hessian of ``J``.
    reg : sparse (N_z, N_z)
        Symmetric positive definite regularization ``R`` (``R(z) = 1/2 z^T R z``).
    w0, z0 : ndarray, shapes (N_w,), (N_z,)
        Start state (a guess for the first state solve) and start control.
    residual_hess : callable ``(w, z, p) -> (W_ww, W_wz, W_zz)``, optional
        Second derivatives of ``p . F(w, z)`` (sparse, shapes (N_w, N_w), (N_w, N_z),
        (N_z, N_z)); ``None`` for a Gauss-Newton Hessian.
    bounds : (lb, ub), optional
        Control bounds, arrays of shape (N_z,) (``+-inf`` for none).
    reg_scale : float, optional
        When ``reg`` is ``reg_scale * I`` this scalar lets the Nystrom preconditioner use
        it as its shift; otherwise the prior-preconditioned eigensolver is used.
    residual_weight : float
        Weight of the state residual in the reported KKT norm: ``h^2`` turns a
        finite-difference residual (entries ``O(1/h^2)``, rounding ``~ eps/h^2``) into the
        mass-weighted (weak-form) residual that matches ``h^2``-weighted objectives.
    name : str
    info : dict
        Problem data for plots and reports (grid size, truth, ...).
    """

    residual: Callable[[np.ndarray, np.ndarray], np.ndarray]
    state_jac: Callable[[np.ndarray, np.ndarray], Sparse]
    control_jac: Callable[[np.ndarray, np.ndarray], Sparse]
    misfit: Callable[[np.ndarray], tuple[float, np.ndarray]]
    misfit_hess: Callable[[np.ndarray], Sparse]
    reg: Sparse
    w0: np.ndarray
    z0: np.ndarray
    residual_hess: Callable[..., tuple[Sparse, Sparse, Sparse]] | None = None
    bounds: tuple[np.ndarray, np.ndarray] | None = None
    reg_scale: float | None = None
    residual_weight: float = 1.0
    name: str = "reduced-problem"
    info: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        for label in ("residual", "state_jac", "control_jac", "misfit", "misfit_hess"):
            if not callable(getattr(self, label)):
                raise ConfigError(f"The '{label}' parameter of ReducedSpaceProblem must be "
                                  f"callable. Got {type(getattr(self, label)).__name__}.")

    @property
    def n_control(self) -> int:
        """Number of control variables ``N_z``."""
        return int(self.z0.shape[0])

    def full_space(self) -> Any:
        """The same problem as a full-space :class:`ConstrainedProblem` in ``x = (w, z)``.

        Used by ``minimize(..., method="newton")`` (exact KKT solves, the reference the
        reduced-space solver is checked against) and by the benchmarks' peers.

        Returns
        -------
        ConstrainedProblem
            ``n = N_w + N_z`` variables, ``m = N_w`` constraints ``F(w, z) = 0``; its
            ``bounds`` bound the control part only.
        """
        from pdeflow.solvers.optim.problem import ConstrainedProblem

        nw = int(self.w0.shape[0])
        R = sp.csr_array(self.reg)

        def split(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            return x[:nw], x[nw:]

        def f(x: np.ndarray) -> float:
            return self.objective(*split(x))

        def grad(x: np.ndarray) -> np.ndarray:
            w, z = split(x)
            return np.concatenate([self.misfit(w)[1], R @ z])

        def jac(x: np.ndarray) -> sp.csr_array:
            w, z = split(x)
            return sp.csr_array(sp.hstack([self.state_jac(w, z), self.control_jac(w, z)]))

        def hess(x: np.ndarray, lam: np.ndarray) -> sp.csr_array:
            w, z = split(x)
            Hww, Hzz = self.misfit_hess(w), R
            if self.residual_hess is None:
                return sp.csr_array(sp.block_diag([Hww, Hzz]))
            Www, Wwz, Wzz = self.residual_hess(w, z, lam)
            return sp.csr_array(sp.block_array([[Hww + Www, Wwz], [Wwz.T, Hzz + Wzz]]))

        bounds = None
        if self.bounds is not None:
            lo = np.concatenate([np.full(nw, -np.inf), self.bounds[0]])
            hi = np.concatenate([np.full(nw, np.inf), self.bounds[1]])
            bounds = [(a, b) for a, b in zip(lo, hi, strict=True)]
        return ConstrainedProblem(
            f=f, grad=grad, cons=lambda x: self.residual(*split(x)), jac=jac, hess=hess,
            x0=np.concatenate([self.w0, self.z0]), name=f"{self.name}-full", bounds=bounds)

    def objective(self, w: np.ndarray, z: np.ndarray) -> float:
        """``J(w) + 1/2 z^T R z``."""
        return float(self.misfit(w)[0] + 0.5 * z @ (self.reg @ z))


@dataclass
class LinearCounts:
    """Work of the state/adjoint solves: factorizations, solves, Krylov iterations."""

    factorizations: int = 0
    solves: int = 0
    state_newton: int = 0
    krylov: int = 0


def _finite(v: np.ndarray, what: str, name: str) -> np.ndarray:
    if not np.all(np.isfinite(v)):
        raise DataError(f"{name}: the function '{what}' returned NaN or Inf")
    return v


class ReducedState:
    """State, adjoint, gradient and Hessian actions at one control ``z``.

    Parameters
    ----------
    problem : ReducedSpaceProblem
    z : ndarray, shape (N_z,)
    w_guess : ndarray, shape (N_w,)
        Start of the state Newton iteration (the previous state).
    counts : LinearCounts
        Updated in place.
    previous : callable, optional
        The factorization of the previous step's ``B`` (its analysis is reused).
    state_tol : float
        Relative residual of the state solve.
    """

    def __init__(self, problem: ReducedSpaceProblem, z: np.ndarray, w_guess: np.ndarray,
                 counts: LinearCounts, previous: Any = None, state_tol: float = 1e-13) -> None:
        self.problem, self.z, self.counts = problem, z, counts
        self.solve_B = previous
        self.w = self._state(w_guess, state_tol)
        p = problem
        self.J, gJ = p.misfit(self.w)
        _finite(np.atleast_1d(self.J), "misfit", p.name)
        self.C = sp.csr_array(p.control_jac(self.w, z))
        self.adj = -self.solve(_finite(gJ, "misfit", p.name), transpose=True)
        self.value = float(self.J + 0.5 * z @ (p.reg @ z))
        self.grad = p.reg @ z + self.C.T @ self.adj
        self.W = (p.residual_hess(self.w, z, self.adj) if p.residual_hess is not None
                  else None)
        self.Jww = sp.csr_array(p.misfit_hess(self.w))

    def _factor(self, w: np.ndarray) -> None:
        self.B = sp.csr_array(self.problem.state_jac(w, self.z))
        _finite(self.B.data, "state_jac", self.problem.name)
        self.solve_B = factorize(sp.csr_matrix(self.B), previous=self.solve_B)
        self.symmetric = abs(self.B - self.B.T).max() <= 1e-14 * abs(self.B).max()
        self.counts.factorizations += 1

    def _state(self, w: np.ndarray, tol: float) -> np.ndarray:
        """Newton's method on ``F(w, z) = 0`` with the state operator ``B``."""
        p = self.problem
        w = np.array(w, dtype=float)
        r = _finite(np.asarray(p.residual(w, self.z), float), "residual", p.name)
        scale = max(1.0, float(np.linalg.norm(r)))
        for _ in range(50):
            self._factor(w)
            dw = self.solve(r)
            w = w - dw
            self.counts.state_newton += 1
            r = _finite(np.asarray(p.residual(w, self.z), float), "residual", p.name)
            wnorm = max(1.0, float(np.linalg.norm(w)))
            small_step = np.linalg.norm(dw) <= 1e-13 * wnorm
            if small_step or np.linalg.norm(r) <= tol * scale:
                if np.linalg.norm(dw) > 1e-9 * wnorm:  # B moved: factor it at the state
                    self._factor(w)
                return w
        raise ConvergenceError(f"{p.name}: the state solve did not converge in 50 Newton "
                               f"steps (residual {np.linalg.norm(r):.3e})")

    def solve(self, rhs: np.ndarray, transpose: bool = False) -> np.ndarray:
        """``B^{-1} rhs`` or ``B^{-T} rhs``; ``rhs`` (N_w,) or (N_w, k)."""
        self.counts.solves += 1 if rhs.ndim == 1 else rhs.shape[1]
        solve = self.solve_B
        if transpose and not self.symmetric:
            solve = factorize(sp.csr_matrix(self.B.T))
        if rhs.ndim == 1:
            return np.asarray(solve(rhs))
        return np.column_stack([solve(rhs[:, j]) for j in range(rhs.shape[1])])

    def hessian_action(self, V: np.ndarray, gauss_newton: bool = False,
                       with_reg: bool = True) -> np.ndarray:
        """Reduced Hessian times ``V`` (N_z,) or (N_z, k) by one forward and one adjoint solve.

        ``dw = -B^{-1} C v``; ``q = -B^{-T} (J_ww dw + W_ww dw + W_wz v)``;
        ``H v = R v + C^T q + W_wz^T dw + W_zz v`` (second-order terms dropped for
        Gauss-Newton).  ``with_reg=False`` leaves out ``R v`` (the data-misfit part).
        """
        dw = -self.solve(np.asarray(self.C @ V))
        rhs = self.Jww @ dw
        use_w = self.W is not None and not gauss_newton
        if use_w:
            Www, Wwz, Wzz = self.W
            rhs = rhs + Www @ dw + Wwz @ V
        out = self.C.T @ (-self.solve(np.asarray(rhs), transpose=True))
        if use_w:
            out = out + Wwz.T @ dw + Wzz @ V
        return out + self.problem.reg @ V if with_reg else out
