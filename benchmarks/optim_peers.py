"""Shared peers for optim_hs.py and optim_pde.py (a helper module, not a benchmark).

scipy trust-constr / SLSQP, and IPOPT through casadi.

Shared by ``optim_hs.py`` and ``optim_pde.py``.  Every peer returns the same summary
(x, iterations, function evaluations) and the KKT residual is measured the same way for
everyone: ``||(grad f + J^T lam_ls, c)||_2`` with least-squares multipliers at the final x.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np
import scipy.optimize as so
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from pdeflow.solvers.optim import ConstrainedProblem


def kkt_ls(p: ConstrainedProblem, x: np.ndarray) -> float:
    """KKT residual at ``x`` with least-squares multipliers (the same yardstick for all)."""
    g = p.grad(x)
    c = np.asarray(p.cons(x), dtype=float)
    J = p.jac(x)
    J = sp.csr_array(J) if sp.issparse(J) else sp.csr_array(np.atleast_2d(np.asarray(J)))
    if J.shape[1] <= 600:
        lam = np.linalg.lstsq(J.T.toarray(), -g, rcond=None)[0]
    else:
        lam = spla.lsqr(J.T, -g, atol=1e-14, btol=1e-14, iter_lim=20000)[0]
    return float(np.linalg.norm(np.concatenate([g + J.T @ lam, c])))


def scipy_peer(p: ConstrainedProblem, method: str, tol: float = 1e-8) -> dict[str, Any]:
    """Run scipy.optimize.minimize with ``method`` ('SLSQP' or 'trust-constr')."""
    x0 = p.x0
    m = int(np.asarray(p.cons(x0)).size)
    zeros = np.zeros(m)
    if method == "SLSQP":
        cons = [{"type": "eq", "fun": p.cons,
                 "jac": lambda x: np.asarray(p.jac(x).todense() if sp.issparse(p.jac(x))
                                             else p.jac(x))}]
        res = so.minimize(p.f, x0, jac=p.grad, constraints=cons, method="SLSQP",
                          options={"ftol": 1e-14, "maxiter": 1000})
    else:
        def chess(x: np.ndarray, v: np.ndarray) -> Any:
            return p.hess(x, v) - p.hess(x, zeros)

        nlc = so.NonlinearConstraint(p.cons, 0.0, 0.0, jac=p.jac, hess=chess)
        res = so.minimize(p.f, x0, jac=p.grad, hess=lambda x: p.hess(x, zeros),
                          constraints=[nlc], method="trust-constr",
                          options={"gtol": tol, "xtol": 1e-14, "maxiter": 3000})
    return {"x": res.x, "iterations": int(getattr(res, "nit", 0)),
            "nfev": int(res.nfev), "success": bool(res.success)}


@contextlib.contextmanager
def casadi_hs_helpers() -> Iterator[None]:
    """Let the HS specs' ``_stack/_sin/_log`` helpers build casadi expressions."""
    import casadi as ca

    from pdeflow.solvers.optim import hs_problems as hs

    saved = (hs._stack, hs._sin, hs._log)
    hs._stack, hs._sin, hs._log = (lambda *a: ca.vertcat(*a)), ca.sin, ca.log
    try:
        yield
    finally:
        hs._stack, hs._sin, hs._log = saved


def ipopt_solver(f_expr: Any, g_expr: Any, x: Any, tol: float = 1e-8) -> Any:
    """An IPOPT (MUMPS) nlpsol for ``min f s.t. g = 0``, quiet, exact Hessian."""
    import casadi as ca

    opts = {"ipopt.tol": tol, "ipopt.constr_viol_tol": tol, "ipopt.dual_inf_tol": tol,
            "ipopt.print_level": 0, "print_time": False, "ipopt.sb": "yes",
            "ipopt.max_iter": 3000}
    return ca.nlpsol("s", "ipopt", {"x": x, "f": f_expr, "g": g_expr}, opts)


def run_ipopt(solver: Any, x0: np.ndarray) -> dict[str, Any]:
    sol = solver(x0=x0, lbg=0, ubg=0)
    st = solver.stats()
    return {"x": np.asarray(sol["x"]).ravel(), "iterations": int(st["iter_count"]),
            "nfev": int(st.get("n_call_nlp_f", 0)), "success": bool(st["success"])}
