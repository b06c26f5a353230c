"""Steppers of :mod:`pdeflow.solvers.ode`: one explicit and one stiff method.

A stepper is mostly data (its tableau) plus two methods, in the spirit of
diffrax: :meth:`AbstractStepper.init` builds the per-integration state and
:meth:`AbstractStepper.step` attempts one step of size ``h`` and always returns
the same :class:`StepResult` (new state, error estimate, interpolant, whether the
linear algebra succeeded).  State goes in and comes out explicitly; the adaptive
driver (:func:`pdeflow.solvers.ode.solve`) owns the step-size control.

* :class:`DormandPrince` (``"rk45"``): explicit 5(4) pair with FSAL and its
  4th-order continuous extension (Dormand & Prince 1980; Shampine 1986).
* :class:`Rodas4` (``"rodas4"``): the stiffly accurate 6-stage Rosenbrock method
  of order 4(3) of Hairer & Wanner (*Solving ODEs II*, Sec. IV.7, code ``RODAS``)
  with its 3rd-order dense output.  Each attempted step factorizes
  ``W = I/(gamma h) - J`` once with sparse LU (:class:`SparseShiftedLU`) and does six
  triangular solves.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import splu

__all__ = [
    "AbstractStepper",
    "DormandPrince",
    "Rodas4",
    "StepResult",
    "SparseShiftedLU",
    "Interpolant",
]


# ----------------------------------------------------------------- interpolants
@dataclass(frozen=True, eq=False)
class Interpolant:
    """Dense output on one step ``[t0, t0 + h]``: ``y(t0 + s h)`` for ``s`` in [0, 1].

    ``kind`` is ``"dp"`` (``y0 + Q @ [s, s^2, s^3, s^4]``, ``Q`` of shape (n, 4)
    already scaled by ``h``) or ``"rodas"`` (``y0 (1-s) + s (y1 + (1-s)(c3 + s c4))``).
    """

    kind: str
    t0: float
    h: float
    y0: np.ndarray
    data: tuple[np.ndarray, ...]

    def __call__(self, t: float) -> np.ndarray:
        s = (t - self.t0) / self.h
        if self.kind == "dp":
            (Q,) = self.data
            return self.y0 + Q @ np.array([s, s * s, s**3, s**4])
        y1, c3, c4 = self.data
        s1 = 1.0 - s
        return self.y0 * s1 + s * (y1 + s1 * (c3 + s * c4))


@dataclass(frozen=True, eq=False)
class StepResult:
    """What one attempted step returns.

    Attributes
    ----------
    y : ndarray, shape (n,)
        The proposed new state (meaningless when ``ok`` is False).
    error : ndarray, shape (n,)
        The local error estimate (unscaled).
    interp : Interpolant or None
        Dense output on the step.
    state : Any
        The stepper state to use if the step is accepted.
    retry_state : Any
        The stepper state to use if the step is rejected (keeps work done at ``t``).
    ok : bool
        False when the linear algebra failed (a singular iteration matrix).
    """

    y: np.ndarray
    error: np.ndarray
    interp: Interpolant | None
    state: Any
    retry_state: Any
    ok: bool = True


class AbstractStepper(abc.ABC):
    """One integration method: ``init`` then repeated ``step``.

    Attributes
    ----------
    name : str
    order : int
        Order of the propagated solution.
    error_order : int
        Order of the embedded solution; step control uses ``err**(-1/(error_order+1))``.
    implicit : bool
        Whether it needs the Jacobian.
    """

    name: str
    order: int
    error_order: int
    implicit: bool = False
    predictive: bool = False

    @abc.abstractmethod
    def init(self, fun, jac, t0: float, y0: np.ndarray, stats: dict) -> Any:
        """Per-integration state at ``(t0, y0)``."""

    @abc.abstractmethod
    def step(self, state, t: float, y: np.ndarray, h: float, stats: dict) -> StepResult:
        """Attempt one step of size ``h`` from ``(t, y)``."""


# ------------------------------------------------------------------- Dormand–Prince
class DormandPrince(AbstractStepper):
    """Dormand–Prince 5(4), FSAL, with the 4th-order continuous extension.

    Tableau as in Hairer, Nørsett & Wanner, *Solving ODEs I*, Table II.5.2; the
    dense-output polynomial coefficients ``P`` are Shampine's (also used by scipy's
    ``RK45``).
    """

    name = "rk45"
    order = 5
    error_order = 4
    C = np.array([0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1])
    A = (
        (),
        (1 / 5,),
        (3 / 40, 9 / 40),
        (44 / 45, -56 / 15, 32 / 9),
        (19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729),
        (9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656),
    )
    B = np.array([35 / 384, 0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84])
    E = np.array([-71 / 57600, 0, 71 / 16695, -71 / 1920, 17253 / 339200, -22 / 525, 1 / 40])
    P = np.array([
        [1, -8048581381 / 2820520608, 8663915743 / 2820520608, -12715105075 / 11282082432],
        [0, 0, 0, 0],
        [0, 131558114200 / 32700410799, -68118460800 / 10900136933,
         87487479700 / 32700410799],
        [0, -1754552775 / 470086768, 14199869525 / 1410260304, -10690763975 / 1880347072],
        [0, 127303824393 / 49829197408, -318862633887 / 49829197408,
         701980252875 / 199316789632],
        [0, -282668133 / 205662961, 2019193451 / 616988883, -1453857185 / 822651844],
        [0, 40617522 / 29380423, -110615467 / 29380423, 69997945 / 29380423],
    ])

    def init(self, fun, jac, t0, y0, stats):
        stats["nfev"] += 1
        return (fun, fun(t0, y0))

    def step(self, state, t, y, h, stats):
        fun, f0 = state
        K = np.empty((7, y.size))
        K[0] = f0
        for i in range(1, 6):
            dy = h * (np.asarray(self.A[i]) @ K[:i])
            K[i] = fun(t + self.C[i] * h, y + dy)
        y_new = y + h * (self.B @ K[:6])
        K[6] = fun(t + h, y_new)
        stats["nfev"] += 6
        err = h * (self.E @ K)
        interp = Interpolant("dp", t, h, y, (h * (K.T @ self.P),))
        return StepResult(y_new, err, interp, (fun, K[6]), state)


# ------------------------------------------------------------------ sparse LU of W
class SparseShiftedLU:
    """Sparse LU of ``W = shift * I - J`` for a Jacobian with a fixed CSR pattern.

    At construction the fill-reducing column ordering (COLAMD or minimum degree on
    ``A^T + A``, whichever fills less; both depend only on the pattern) is computed once,
    and the union pattern of ``J`` and the diagonal is laid out already symmetrically
    permuted, with the positions of ``J``'s nonzeros
    and of the diagonal inside it.  Assembling ``W`` for a new ``shift`` or new
    Jacobian values is then two vectorized scatters, and each factorization calls
    ``splu(..., permc_spec="NATURAL")``.  Above ``DENSE_MAX`` unknowns a
    :class:`~pdeflow.solvers.sparse_lu.StaticLU` comes first: its ordering and symbolic
    factorization are computed once here, each factorization is numeric only (diagonal
    pivots); SuperLU is the fallback when a pivot fails.

    Parameters
    ----------
    indptr, indices : ndarray or None
        CSR pattern of ``J`` (shape ``(n, n)``); None for a generic ``J`` whose pattern
        may change (then every factorization orders and assembles from scratch).
    n : int
    """

    def __init__(self, indptr, indices, n: int):
        n = int(n)
        self.n = n
        self._generic = indptr is None
        if self._generic:
            return
        rows = np.repeat(np.arange(n), np.diff(indptr))
        cols = np.asarray(indices)
        r = np.concatenate([rows, np.arange(n)])
        c = np.concatenate([cols, np.arange(n)])
        self._rc = (r, c, cols.size)
        self._data = None  # the SuperLU path's layout, built by _layout() on first use
        self.ordering = None  # the SuperLU path's fill-reducing ordering, once laid out
        self._static = None
        if n > DENSE_MAX:
            # numeric refactorization on a pattern analysed once (SuperLU above as the
            # pivoting fallback when a diagonal pivot fails)
            from .sparse_lu import StaticLU

            static = StaticLU(sp.csr_matrix((np.ones(r.size), (r, c)), shape=(n, n)))
            if static.worthwhile:
                self._static = static
                self._static_j = static.positions(rows, cols)
                self._static_d = static.positions(np.arange(n), np.arange(n))
                self._static_data = np.zeros(static._mi.size)

    def _layout(self) -> None:
        """The SuperLU path's ordering and permuted pattern, built on first use (a stiff
        solve whose StaticLU never fails a pivot does not pay for the COLAMD probe)."""
        n = self.n
        r, c, nnz = self._rc
        if n > DENSE_MAX:
            probe = sp.csc_matrix((np.where(r == c, 4.0, 1.0), (r, c)), shape=(n, n))
            # SuperLU's perm_c maps column j of W to column perm_c[j] of W Pc.  The ordering
            # with the least fill on the probe wins: COLAMD for unsymmetric patterns, minimum
            # degree on A^T + A for (near-)symmetric ones (Gray-Scott 64x64: 0.78M entries
            # and 0.07 s per factorization against COLAMD's 1.7M and 0.17 s)
            best = None
            for spec in ORDERINGS:
                lu = splu(probe, permc_spec=spec)
                fill = lu.L.nnz + lu.U.nnz
                if best is None or fill < best[0]:
                    best = (fill, lu.perm_c.copy(), spec)
            _, q, self.ordering = best
        else:
            q = np.arange(n)
            self.ordering = "dense"
        self._q = q  # W[r, c] is stored at (q[r], q[c]); b is permuted by inv = q^-1
        self._inv = np.argsort(q)
        rp, cp = q[r], q[c]
        key = cp.astype(np.int64) * n + rp
        uniq, inv_key = np.unique(key, return_inverse=True)
        self._j_pos = inv_key[:nnz]
        self._d_pos = inv_key[nnz:]
        self._indptr = np.searchsorted(uniq // n, np.arange(n + 1)).astype(np.int32)
        self._indices = (uniq % n).astype(np.int32)
        self._data = np.zeros(uniq.size)

    def factor(self, jdata, shift):
        """Factorize ``shift*I - J``; returns a ``solve(b)`` callable or None if singular.

        ``jdata`` is the data array on the fixed pattern, or (generic mode) any sparse
        or dense matrix ``J``.
        """
        if self._generic:
            if self.n <= DENSE_MAX:
                J = jdata.toarray() if sp.issparse(jdata) else np.asarray(jdata, dtype=float)
                return _dense_factor(np.diag(np.full(self.n, shift)) - J)
            W = (sp.identity(self.n, format="csc") * shift - sp.csc_matrix(jdata)).tocsc()
            try:
                return splu(W, permc_spec="COLAMD").solve
            except RuntimeError:  # "Factor is exactly singular"
                return None
        if self._static is not None:
            sd = self._static_data
            sd.fill(0.0)
            sd[self._static_j] = -jdata
            sd[self._static_d] += shift
            if self._static.factor(data=sd):
                return self._static.solver()
        if self._data is None:
            self._layout()
        d = self._data
        d.fill(0.0)
        d[self._j_pos] = -jdata  # positions are unique: a CSR pattern has no duplicates
        d[self._d_pos] += shift
        n = self.n
        if n <= DENSE_MAX:
            W = sp.csc_matrix((d, self._indices, self._indptr), shape=(n, n)).toarray()
            return _dense_factor(W)
        W = sp.csc_matrix((d.copy(), self._indices, self._indptr), shape=(n, n))
        try:
            lu = splu(W, permc_spec="NATURAL")
        except RuntimeError:
            return None
        q, inv = self._q, self._inv
        return lambda b: lu.solve(b[inv])[q]


DENSE_MAX = 32  # below this size a dense LU beats SuperLU's per-call overhead
ORDERINGS = ("COLAMD", "MMD_AT_PLUS_A")  # fill-reducing orderings tried once per pattern


def _dense_factor(W):
    """Dense LU of ``W``: a ``solve(b)`` callable, or None if singular."""
    from scipy.linalg.lapack import dgetrf, dgetrs  # direct LAPACK: no wrapper overhead

    lu, piv, info = dgetrf(W)
    if info != 0 or not np.all(np.isfinite(lu)):
        return None
    return lambda b: dgetrs(lu, piv, b)[0]


# ---------------------------------------------------------------------- Rodas4
class Rodas4(AbstractStepper):
    """Stiffly accurate Rosenbrock method of order 4(3), 6 stages (``RODAS``).

    Coefficients of Hairer & Wanner's ``rodas.f`` (``METH=1``) in the
    ``W = I/(gamma h) - J`` form: stage ``i`` solves
    ``W k_i = f(t + c_i h, y + sum_j a_ij k_j) + h d_i f_t + sum_j c_ij k_j / h``;
    the last stage's ``k_6`` is both the final update and the error estimate.
    Non-autonomous problems get ``f_t`` by a forward difference (one extra RHS
    evaluation per step); autonomous ones skip it.
    """

    name = "rodas4"
    order = 4
    error_order = 3
    implicit = True
    predictive = True
    gamma = 0.25
    c = (0.0, 0.386, 0.21, 0.63, 1.0, 1.0)
    d = (0.25, -0.1043, 0.1035, -0.3620000000000023e-01)
    a = (
        (),
        (0.1544e01,),
        (0.9466785280815826, 0.2557011698983284),
        (0.3314825187068521e01, 0.2896124015972201e01, 0.9986419139977817),
        (0.1221224509226641e01, 0.6019134481288629e01, 0.1253708332932087e02,
         -0.6878860361058950),
    )
    cc = (
        (),
        (-0.56688e01,),
        (-0.2430093356833875e01, -0.2063599157091915),
        (-0.1073529058151375, -0.9594562251023355e01, -0.2047028614809616e02),
        (0.7496443313967647e01, -0.1024680431464352e02, -0.3399990352819905e02,
         0.1170890893206160e02),
        (0.8083246795921522e01, -0.7981132988064893e01, -0.3152159432874371e02,
         0.1631930543123136e02, -0.6058818238834054e01),
    )
    d2 = (0.1012623508344586e02, -0.7487995877610167e01, -0.3480091861555747e02,
          -0.7992771707568823e01, 0.1025137723295662e01)
    d3 = (-0.6762803392801253, 0.6087714651680015e01, 0.1643084320892478e02,
          0.2476722511418386e02, -0.6594389125716872e01)

    def init(self, fun, jac, t0, y0, stats):
        """``jac`` is a :class:`JacobianSource`; the state caches work done at ``(t, y)``."""
        from .ode_kernels import combine  # Numba: imported when a stiff solve starts

        return {"fun": fun, "jac": jac, "f0": None, "J": None, "ft": None,
                "lu": SparseShiftedLU(jac.indptr, jac.indices, y0.size), "combine": combine}

    def _at(self, state, t, y, stats):
        fun, jac = state["fun"], state["jac"]
        f0 = state["f0"]
        if f0 is None:
            f0 = fun(t, y)
            stats["nfev"] += 1
        J = state["J"]
        if J is None:
            J = jac.data(t, y)
            stats["njev"] += 1
        ft = state["ft"]
        if ft is None:
            if jac.autonomous:
                ft = 0.0
            else:
                dt = np.sqrt(np.finfo(float).eps) * max(1.0, abs(t))
                ft = (fun(t + dt, y) - f0) / dt
                stats["nfev"] += 1
        return f0, J, ft

    def step(self, state, t, y, h, stats):
        fun, combine = state["fun"], state["combine"]
        f0, J, ft = self._at(state, t, y, stats)
        retry = dict(state, f0=f0, J=J, ft=ft)
        solve = state["lu"].factor(J, 1.0 / (self.gamma * h))
        stats["nlu"] += 1
        if solve is None:
            return StepResult(y, np.full(y.size, np.inf), None, retry, retry, ok=False)
        a, cc, d, c = _RODAS_A, _RODAS_C, self.d, self.c
        # stages as rows of one array; each combination base + scale * sum_j w_j k_j is
        # one pass of a compiled kernel (not numpy temporaries)
        n = y.size
        k = np.empty((6, n))
        f = f0
        has_ft = not np.isscalar(ft)
        inv_h = 1.0 / h
        for i in range(6):
            rhs = f if i == 0 else combine(np.empty(n), f, k, cc[i], i, inv_h)
            if i < 4 and has_ft:
                rhs = rhs + (h * d[i]) * ft
            k[i] = solve(rhs)
            if i == 5:
                break
            if i < 4:
                yi = combine(np.empty(n), y, k, a[i + 1], i + 1, 1.0)
            else:  # stage 6 argument: Y5 + k5
                yi = yi + k[4]
            f = fun(t + c[i + 1] * h, yi)
            stats["nfev"] += 1
        y_new = yi + k[5]
        c3 = _RODAS_D2 @ k[:5]
        c4 = _RODAS_D3 @ k[:5]
        interp = Interpolant("rodas", t, h, y, (y_new, c3, c4))
        new_state = dict(state, f0=None, J=None, ft=None)
        return StepResult(y_new, k[5], interp, new_state, retry)


_RODAS_A = [np.array(r) for r in Rodas4.a]
_RODAS_C = [np.array(r) for r in Rodas4.cc]
_RODAS_D2, _RODAS_D3 = np.array(Rodas4.d2), np.array(Rodas4.d3)


@dataclass(frozen=True)
class JacobianSource:
    """Jacobian values on a fixed CSR pattern, however the problem provides them.

    ``data(t, y)`` returns the CSR ``data`` array for ``indptr``/``indices``; with
    ``indptr=None`` it returns a whole (sparse) matrix whose pattern may change.
    """

    indptr: np.ndarray
    indices: np.ndarray
    data: Any
    autonomous: bool


STEPPERS: dict[str, type[AbstractStepper]] = {"rk45": DormandPrince, "rodas4": Rodas4}
