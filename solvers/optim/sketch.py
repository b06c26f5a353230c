"""Randomized iterative sketching solvers for the symmetric KKT system ``K z = b``.

All are sketch-and-project methods (Gower & Richtarik, 2015).  With the residual
``r = b - K z`` and a random sketch ``S`` (N x s), one step moves ``z`` so that the new
residual is ``r`` minus its projection onto ``range(K S)``::

    z <- z + S y,   y = argmin_y ||r - K S y||,   r <- r - K S y.

Because ``K`` is symmetric, ``K e_i`` is row ``i`` of ``K``; with ``S = e_i`` the step
reads and writes one CSR row, so :class:`Kaczmarz` costs ``O(nnz(row))`` per step *and*
keeps the full residual and ``||r||^2`` exact, which the adaptive accuracy test needs at
every step.  (The reference Julia code recomputes ``K z - b`` at every step, ``O(nnz(K))``.)

Expected rates on a consistent nonsingular system, per step:

==================  =====================================================================
solver              ``E ||r_{k+1}||^2 <= rho ||r_k||^2`` (or error norm for row Kaczmarz)
==================  =====================================================================
``kaczmarz``        ``rho = 1 - sigma_min(K)^2 / ||K||_F^2`` (rows sampled by norm^2)
``row_kaczmarz``    same rho, for ``E ||z_k - z*||^2`` (Strohmer & Vershynin, 2009)
``gaussian``        ``rho <= 1 - (2/pi) sigma_min(K)^2 / ||K||_F^2`` for any size s
``block``           ``rho <= 1 - sigma_min(K)^2 / ||K||_F^2`` (s rows by norm^2)
``countsketch``     sparse +-1 sketch, one nonzero per row of S; no closed-form rho
==================  =====================================================================
"""

from __future__ import annotations

import abc
from typing import Any, final

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp

from pdeflow.errors import ConfigError
from pdeflow.solvers.optim.linsolve import AbstractKKTSolver, LinearState
from pdeflow.solvers.optim.sketch_kernels import kaczmarz_columns, kaczmarz_rows

__all__ = [
    "AbstractSketchSolver",
    "Kaczmarz",
    "RowKaczmarz",
    "GaussianSketch",
    "BlockSketch",
    "CountSketch",
    "make_sketch",
    "SKETCHES",
    "kaczmarz_rate",
]


def kaczmarz_rate(K: Any) -> float:
    """The Kaczmarz contraction ``1 - sigma_min(K)^2 / ||K||_F^2`` (dense; small K only)."""
    Kd = K.toarray() if sp.issparse(K) else np.asarray(K, dtype=float)
    s = np.linalg.svd(Kd, compute_uv=False)
    return float(1.0 - s[-1] ** 2 / np.sum(s**2))


class AbstractSketchSolver(AbstractKKTSolver):
    """A randomized sketch solver: samples rows by squared norm, runs in chunks.

    Subclasses implement :meth:`_run` (at most ``steps`` steps, stopping at ``tol``).
    """

    name = "sketch"
    #: Steps between two exact residual recomputations (drift control), in units of N.
    resync_sweeps = 64

    def start(
        self, K: sp.csr_array, b: np.ndarray, rng: np.random.Generator,
        n_primal: int | None = None,
    ) -> LinearState:
        del n_primal
        norms2 = np.asarray(K.multiply(K).sum(axis=1)).ravel()
        inv = np.divide(1.0, norms2, out=np.zeros_like(norms2), where=norms2 > 0)
        cdf = np.cumsum(norms2)
        state = LinearState(
            b=b, z=np.zeros_like(b), r=b.copy(), rnorm=float(np.linalg.norm(b)),
            cache={"inv_norm2": inv, "cdf": cdf, "rng": rng, "rr": float(b @ b), "since": 0},
        )
        state.flops = 2.0 * K.nnz + K.shape[0]
        return state

    @staticmethod
    def _sample(state: LinearState, size: int) -> np.ndarray:
        cdf = state.cache["cdf"]
        u = state.cache["rng"].random(size) * cdf[-1]
        return np.minimum(np.searchsorted(cdf, u, side="right"), cdf.shape[0] - 1).astype(
            np.int64
        )

    def refine(
        self, K: sp.csr_array, state: LinearState, tol: float, max_steps: int
    ) -> LinearState:
        n = K.shape[0]
        budget = int(max_steps)
        while state.rnorm > tol and budget > 0:
            chunk = min(budget, max(4096, n))
            taken = self._run(K, state, tol, chunk)
            budget -= taken
            state.steps += taken
            state.cache["since"] += taken
            if state.cache["since"] >= self.resync_sweeps * n:
                state.r = state.b - K @ state.z
                state.flops += 2.0 * K.nnz
                state.cache["since"] = 0
            state.cache["rr"] = float(state.r @ state.r)
            state.flops += 2.0 * n
            state.rnorm = float(np.sqrt(state.cache["rr"]))
        return state

    @abc.abstractmethod
    def _run(self, K: sp.csr_array, state: LinearState, tol: float, steps: int) -> int:
        """Take up to ``steps`` steps (stop early at ``||r|| <= tol``); return steps taken."""


@final
class Kaczmarz(AbstractSketchSolver):
    """Randomized Kaczmarz in column-action form, ``S = e_i`` with ``P(i) ~ ||k_i||^2``.

    Each step is ``O(nnz(row i))`` and keeps ``r = b - K z`` and ``||r||^2`` exact, so
    the accuracy test is checked after every step at ``O(1)`` extra cost.
    """

    name = "kaczmarz"

    def _run(self, K: sp.csr_array, state: LinearState, tol: float, steps: int) -> int:
        order = self._sample(state, steps)
        taken, rr, flops = kaczmarz_columns(
            K.indptr, K.indices, K.data, state.cache["inv_norm2"], order,
            state.z, state.r, state.cache["rr"], tol * tol,
        )
        state.cache["rr"] = rr
        state.flops += flops
        return int(taken)


@final
class RowKaczmarz(AbstractSketchSolver):
    """Classic row-action randomized Kaczmarz (Strohmer & Vershynin), ``O(nnz(row))`` steps.

    Only the sampled residual entry is formed per step; the full residual (one ``K z``
    product) is checked every ``check_every`` steps (default: ``N``, one sweep), i.e. an
    amortized ``O(nnz(K) / N)`` per step.

    Parameters
    ----------
    check_every : int, optional
        Steps between full residual checks.
    """

    name = "row_kaczmarz"

    def __init__(self, check_every: int | None = None) -> None:
        if check_every is not None and int(check_every) < 1:
            raise ConfigError(
                "The 'check_every' parameter of RowKaczmarz must be an int in [1, inf). "
                f"Got {check_every!r}."
            )
        self.check_every = None if check_every is None else int(check_every)

    def _run(self, K: sp.csr_array, state: LinearState, tol: float, steps: int) -> int:
        every = self.check_every or K.shape[0]
        taken = 0
        while taken < steps:
            size = min(every, steps - taken)
            order = self._sample(state, size)
            state.flops += kaczmarz_rows(
                K.indptr, K.indices, K.data, state.cache["inv_norm2"], order, state.b, state.z
            )
            taken += size
            state.r = state.b - K @ state.z
            state.flops += 2.0 * K.nnz
            if float(np.linalg.norm(state.r)) <= tol:
                break
        state.cache["since"] = 0
        return taken

    def __repr__(self) -> str:
        return f"RowKaczmarz(check_every={self.check_every})"


class _ProjectionSketch(AbstractSketchSolver):
    """Shared projection step for sketches of size ``s``: ``y = argmin ||r - W y||``."""

    def __init__(self, size: int = 8) -> None:
        if int(size) < 1:
            raise ConfigError(
                f"The 'size' parameter of {type(self).__name__} must be an int in [1, inf). "
                f"Got {size!r}."
            )
        self.size = int(size)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(size={self.size})"

    @staticmethod
    def _project(W: np.ndarray, r: np.ndarray) -> np.ndarray:
        y, *_ = sla.lstsq(W, r, lapack_driver="gelsy", check_finite=False)
        return y


@final
class GaussianSketch(_ProjectionSketch):
    """Dense Gaussian sketch ``S`` (N x size): ``O(size nnz(K) + N size^2)`` per step."""

    name = "gaussian"

    def _run(self, K: sp.csr_array, state: LinearState, tol: float, steps: int) -> int:
        n = K.shape[0]
        s = min(self.size, n)
        rng = state.cache["rng"]
        for k in range(steps):
            G = rng.standard_normal((n, s))
            W = np.asarray(K @ G)
            y = self._project(W, state.r)
            state.z += G @ y
            state.r -= W @ y
            state.flops += 2.0 * s * K.nnz + 2.0 * n * s * s + 4.0 * n * s
            if float(state.r @ state.r) <= tol * tol:
                return k + 1
        return steps


@final
class BlockSketch(_ProjectionSketch):
    """Block Kaczmarz: ``S`` selects ``size`` coordinates sampled by squared row norm.

    One step reads only the selected rows: ``O(nnz(rows) size + size^3)``, and the
    residual update touches only their nonzeros.
    """

    name = "block"

    def _run(self, K: sp.csr_array, state: LinearState, tol: float, steps: int) -> int:
        n = K.shape[0]
        s = min(self.size, n)
        rr = state.cache["rr"]
        for k in range(steps):
            rows = np.unique(self._sample(state, s))
            Kb = K[rows]
            gram = (Kb @ Kb.T).toarray()
            rhs = Kb @ state.r
            y, *_ = sla.lstsq(gram, rhs, lapack_driver="gelsy", check_finite=False)
            state.z[rows] += y
            counts = np.diff(Kb.indptr)
            np.subtract.at(state.r, Kb.indices, Kb.data * np.repeat(y, counts))
            rr -= 2.0 * float(y @ rhs) - float(y @ gram @ y)
            nnz = float(Kb.nnz)
            state.flops += 2.0 * nnz * len(rows) + 4.0 * nnz + float(len(rows)) ** 3
            if rr <= tol * tol:
                rr = float(state.r @ state.r)
                if rr <= tol * tol:
                    state.cache["rr"] = rr
                    return k + 1
        state.cache["rr"] = rr
        return steps


@final
class CountSketch(_ProjectionSketch):
    """Sparse sketch: every coordinate hashed to one of ``size`` columns with a random sign.

    ``K S`` has at most ``nnz(K)`` nonzeros, so a step costs ``O(nnz(K) size)``.
    """

    name = "countsketch"
    #: up to this many unknowns a step multiplies dense arrays (K is densified once per
    #: linear system): building a scipy sparse S per step costs more than the product
    dense_max = 256

    def _run(self, K: sp.csr_array, state: LinearState, tol: float, steps: int) -> int:
        n = K.shape[0]
        s = min(self.size, n)
        rng = state.cache["rng"]
        rows = np.arange(n)
        dense = state.cache.get("dense_K")
        if dense is None and n <= self.dense_max:
            dense = state.cache["dense_K"] = K.toarray()
        for k in range(steps):
            cols = rng.integers(0, s, n)
            signs = rng.choice(np.array([-1.0, 1.0]), n)
            if dense is not None:
                S = np.zeros((n, s))
                S[rows, cols] = signs
                W = dense @ S
            else:
                S = sp.csr_array((signs, (rows, cols)), shape=(n, s))
                W = (K @ S).toarray()
            y = self._project(W, state.r)
            state.z += S @ y
            state.r -= W @ y
            state.flops += 2.0 * K.nnz + 2.0 * n * s * s + 4.0 * n * s
            if float(state.r @ state.r) <= tol * tol:
                return k + 1
        return steps


SKETCHES: dict[str, type[AbstractSketchSolver]] = {
    "kaczmarz": Kaczmarz,
    "row_kaczmarz": RowKaczmarz,
    "gaussian": GaussianSketch,
    "block": BlockSketch,
    "countsketch": CountSketch,
}


def make_sketch(spec: str | AbstractSketchSolver, size: int | None = None) -> AbstractSketchSolver:
    """Return a sketch solver from its name (``SKETCHES``) or pass an instance through.

    Parameters
    ----------
    spec : str or AbstractSketchSolver
    size : int, optional
        Sketch size for ``gaussian``, ``block`` and ``countsketch``.
    """
    if isinstance(spec, AbstractSketchSolver):
        return spec
    if spec not in SKETCHES:
        raise ConfigError(
            f"The 'sketch' parameter of minimize must be one of {sorted(SKETCHES)} or an "
            f"AbstractSketchSolver instance. Got {spec!r}."
        )
    cls = SKETCHES[spec]
    if spec in ("gaussian", "block", "countsketch"):
        return cls(size=size if size is not None else 8)  # type: ignore[call-arg]
    return cls()
