"""scipy's BDF whose sparse iteration matrices ``I - c J`` are solved by pdeflow.

:class:`StaticLUBDF` is what :func:`pdeflow.solvers.ode.solve` hands to ``solve_ivp`` for
``method="BDF"`` with a sparse Jacobian.  Its ``linear_solver`` (a constructor keyword):

* ``"direct"``: :class:`~pdeflow.solvers.sparse_lu.StaticLU` (ordering and symbolic
  analysis once per solve, numeric refactorization per matrix; SuperLU with pivoting
  where a diagonal pivot fails or the factors fill in heavily);
* ``"gmres"``: :class:`~pdeflow.solvers.ode_krylov.KrylovNewtonSolver` (GMRES with an
  incomplete LU reused across matrices, residual in the error weights of the Newton
  iterate, which ``fun`` is wrapped to record);
* ``"auto"``: ``"gmres"`` where StaticLU finds the fill heavy (the BCR network: 15.6 s
  direct, 5.8-6.4 s gmres, same steps), else ``"direct"`` (RD3).

``linear_stats`` (a dict) receives the solver used (``"linear_solver"``) and, live, the
Krylov solver's counts (``"counts"``).  Everything else, step control included, is scipy's.

Examples
--------
>>> import numpy as np, scipy.sparse as sp
>>> from scipy.integrate import solve_ivp
>>> from pdeflow.solvers.ode_bdf import StaticLUBDF
>>> J = sp.diags([-1.0, -2.0, -3.0], format="csr")
>>> stats = {}
>>> r = solve_ivp(lambda t, y: J @ y, (0.0, 1.0), np.ones(3), method=StaticLUBDF,
...               jac=lambda t, y: J, linear_stats=stats)
>>> r.success, stats["linear_solver"] in ("StaticLU", "SuperLU")
(True, True)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.integrate import BDF
from scipy.sparse.linalg import splu

from pdeflow.errors import ConfigError, ShapeError

from .ode_krylov import KrylovNewtonSolver
from .sparse_lu import StaticLU

__all__ = ["StaticLUBDF"]


def _solve_plain(LU: Callable[[np.ndarray], np.ndarray], b: np.ndarray) -> np.ndarray:
    return LU(b)


class StaticLUBDF(BDF):
    """scipy's BDF with pdeflow's sparse linear solvers (see the module docstring).

    Parameters
    ----------
    *args, **kwargs
        scipy's ``BDF`` arguments.
    linear_solver : {"auto", "direct", "gmres"}
    linear_stats : dict, optional
        Receives ``"linear_solver"`` and ``"counts"``.
    """

    def __init__(
        self,
        *args: Any,
        linear_solver: str = "auto",
        linear_stats: dict | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self._linear_solver = linear_solver
        self._report = {} if linear_stats is None else linear_stats
        self._state: dict = {}
        if not sp.issparse(self.J):
            if linear_solver == "gmres":
                raise ConfigError("linear_solver='gmres' needs a sparse Jacobian; the "
                                  "problem's jac returned a dense array")
            self._report.update({"linear_solver": "dense LU", "counts": {}})
            return
        self.lu = self._factor
        self.solve_lu = _solve_plain

    def _factor(self, A: sp.spmatrix) -> Callable:
        """scipy's ``lu`` hook: a solver for ``A``; the first call picks the linear solver."""
        self.nlu += 1
        if "lu" not in self._state:
            self._choose(A)
        krylov = self._state["krylov"]
        return krylov.factor(A) if krylov is not None else self._direct(A)

    def _choose(self, A: sp.spmatrix) -> None:
        """StaticLU's analysis decides between the direct solvers and, for ``"auto"``,
        whether to go Krylov; an explicit ``"gmres"`` needs none of it."""
        static = None if self._linear_solver == "gmres" else StaticLU(A)
        heavy = static is not None and not static.worthwhile  # SuperLU wins
        self._state["lu"] = static if static is not None and not heavy else False
        use_krylov = static is None or (self._linear_solver == "auto" and heavy)
        self._state["krylov"] = KrylovNewtonSolver() if use_krylov else None
        self._report["linear_solver"] = (
            "gmres" if use_krylov else ("SuperLU" if heavy else "StaticLU"))
        self._report["counts"] = self._state["krylov"].stats if use_krylov else {}
        if use_krylov:
            self._scaled_krylov_steps()

    def _direct(self, A: sp.spmatrix) -> Callable:
        static = self._state.get("lu")
        if static is not False:
            try:
                ok = static.factor(A)
            except ShapeError:  # the pattern of I - c J grew: analyse it again
                static = self._state["lu"] = StaticLU(A)
                ok = static.worthwhile and static.factor(A)
            if ok:
                return static.solver()
        return splu(sp.csc_matrix(A)).solve

    def _scaled_krylov_steps(self) -> None:
        """From now on, solve with the Krylov solver in the error weights of the Newton
        iterate: ``solve_bdf_system`` evaluates ``fun`` there before each solve."""
        fun, rtol, atol = self.fun, self.rtol, self.atol
        # residual bound in error-weight units: 5% of the Newton tolerance (RMS), CVODE's
        # default linear-solver factor
        step_floor = 0.05 * self.newton_tol * math.sqrt(self.n)
        newton_point = {"y": self.y}

        def fun_at(t: float, y: np.ndarray) -> np.ndarray:
            newton_point["y"] = y
            return fun(t, y)

        self.fun = fun_at
        self.solve_lu = lambda LU, b: LU(b, atol + rtol * np.abs(newton_point["y"]), step_floor)
