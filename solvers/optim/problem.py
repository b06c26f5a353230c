"""The constrained problem: ``min f(x)  subject to  c(x) = 0,  g(x) <= 0``.

A :class:`ConstrainedProblem` holds plain callables, so derivatives may come from anywhere:
hand-written numpy, :meth:`ConstrainedProblem.from_jax` (JAX autodiff), or any other
source that returns arrays of the documented shapes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, final

import numpy as np
import scipy.sparse as sp

from pdeflow.errors import ConfigError, DataError

__all__ = ["ConstrainedProblem", "as_vector"]

Matrix = np.ndarray | sp.spmatrix | sp.sparray


def as_vector(x: Any, name: str, size: int | None = None) -> np.ndarray:
    """Return ``x`` as a finite float64 vector, or raise :class:`DataError`.

    Parameters
    ----------
    x : array_like, shape (size,)
    name : str
        Used in the error message.
    size : int, optional
        Required length.
    """
    try:
        v = np.asarray(x, dtype=float)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{name} must be a real vector; got {type(x).__name__}") from exc
    if v.ndim != 1:
        raise DataError(f"{name} must be a 1-D vector; got shape {v.shape}")
    if size is not None and v.shape[0] != size:
        raise DataError(f"{name} must have shape ({size},); got shape {v.shape}")
    if not np.all(np.isfinite(v)):
        bad = np.flatnonzero(~np.isfinite(v))[:5].tolist()
        raise DataError(f"{name} has non-finite entries (NaN or Inf) at indices {bad}")
    return v


@final
@dataclass(frozen=True, slots=True)
class ConstrainedProblem:
    """An equality-constrained nonlinear program ``min f(x) s.t. c(x) = 0``.

    Parameters
    ----------
    f : callable ``x -> float``
        Objective.
    grad : callable ``x -> ndarray, shape (n,)``
        Gradient of ``f``.
    cons : callable ``x -> ndarray, shape (m,)``
        Equality constraints ``c(x)``.
    jac : callable ``x -> ndarray or scipy.sparse matrix, shape (m, n)``
        Constraint Jacobian ``J = dc/dx`` (dense or sparse).
    hess : callable ``(x, lam) -> ndarray or sparse, shape (n, n)``, optional
        Hessian of the Lagrangian ``L = f + lam^T c`` with respect to ``x``.
    hvp : callable ``(x, lam, v) -> ndarray, shape (n,)``, optional
        Hessian-vector product of the Lagrangian.  Used when ``hess`` is absent: the
        Hessian is then assembled column by column (``n`` products), so prefer ``hess``
        for large ``n``.
    x0 : array_like, shape (n,), optional
        Standard start point, used when :func:`minimize` gets no ``x0``.
    ineq : callable ``x -> ndarray, shape (p,)``, optional
        Inequality constraints ``g(x) <= 0``.  With them, ``lam`` in ``hess``/``hvp`` has
        ``m + p`` entries (equalities first) and the Lagrangian is
        ``f + lam[:m] . c + lam[m:] . g``.  ``cons`` may then return an empty vector.
    ineq_jac : callable ``x -> ndarray or sparse, shape (p, n)``, optional
        Jacobian of ``g``; required with ``ineq``.
    bounds : sequence of (low, high) pairs or scipy.optimize.Bounds, optional
        Default bounds ``low <= x <= high`` (``None`` or ``inf`` for no bound), used when
        :func:`minimize` gets no ``bounds``.
    name : str
        Label used in logs and benchmark tables.
    f_star : float, optional
        Known optimal value, for tests and benchmarks only.

    Examples
    --------
    >>> import numpy as np
    >>> from pdeflow.solvers.optim import ConstrainedProblem, minimize
    >>> p = ConstrainedProblem(
    ...     f=lambda x: x @ x, grad=lambda x: 2 * x,
    ...     cons=lambda x: np.array([x.sum() - 1.0]), jac=lambda x: np.ones((1, x.size)),
    ...     hess=lambda x, lam: 2 * np.eye(x.size), x0=np.zeros(2))
    >>> np.round(minimize(p).x, 6)
    array([0.5, 0.5])
    """

    f: Callable[[np.ndarray], float]
    grad: Callable[[np.ndarray], np.ndarray]
    cons: Callable[[np.ndarray], np.ndarray]
    jac: Callable[[np.ndarray], Matrix]
    hess: Callable[[np.ndarray, np.ndarray], Matrix] | None = None
    hvp: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray] | None = None
    x0: np.ndarray | None = None
    name: str = "problem"
    f_star: float | None = None
    ineq: Callable[[np.ndarray], np.ndarray] | None = None
    ineq_jac: Callable[[np.ndarray], Matrix] | None = None
    bounds: Any = None

    def __post_init__(self) -> None:
        for label in ("f", "grad", "cons", "jac"):
            if not callable(getattr(self, label)):
                raise ConfigError(
                    f"The '{label}' parameter of ConstrainedProblem must be callable. "
                    f"Got {type(getattr(self, label)).__name__}."
                )
        if (self.ineq is None) != (self.ineq_jac is None):
            raise ConfigError("ConstrainedProblem needs 'ineq' and 'ineq_jac' together "
                              "(inequality constraints g(x) <= 0 and their Jacobian)")
        for label in ("hess", "hvp", "ineq", "ineq_jac"):
            value = getattr(self, label)
            if value is not None and not callable(value):
                raise ConfigError(
                    f"The '{label}' parameter of ConstrainedProblem must be callable or None. "
                    f"Got {type(value).__name__}."
                )
        if self.hess is None and self.hvp is None:
            raise ConfigError(
                "ConstrainedProblem needs second derivatives: pass 'hess' (Hessian of the "
                "Lagrangian) or 'hvp' (Hessian-vector product), or build the problem with "
                "ConstrainedProblem.from_jax"
            )
        if self.x0 is not None:
            object.__setattr__(self, "x0", as_vector(self.x0, "x0"))

    @property
    def n(self) -> int | None:
        """Number of variables, known when ``x0`` was given."""
        return None if self.x0 is None else int(self.x0.shape[0])

    @classmethod
    def from_jax(
        cls,
        f: Callable[[Any], Any],
        c: Callable[[Any], Any] | None,
        x0: Any,
        *,
        g: Callable[[Any], Any] | None = None,
        bounds: Any = None,
        name: str = "jax-problem",
        f_star: float | None = None,
        dense_hessian: bool | None = None,
    ) -> ConstrainedProblem:
        """Build a problem from JAX-traceable ``f`` and ``c``, with derivatives by autodiff.

        The gradient is ``jit(grad(f))``; the Jacobian is ``jacrev`` when there are fewer
        constraints than variables and ``jacfwd`` otherwise; the Hessian-vector product is
        forward-over-reverse (``jvp`` of ``grad`` of the Lagrangian).  Everything is traced
        and evaluated in float64 (inside ``jax.enable_x64``) without changing JAX's global
        configuration.

        Parameters
        ----------
        f : callable ``x -> scalar``, JAX-traceable
        c : callable ``x -> (m,)``, JAX-traceable, or None
        x0 : array_like, shape (n,)
            Start point (also fixes ``n``).
        g : callable ``x -> (p,)``, JAX-traceable, optional
            Inequality constraints ``g(x) <= 0``.
        bounds : sequence of (low, high) pairs, optional
            Default bounds (see the class).
        dense_hessian : bool, optional
            Also compile the dense Hessian of the Lagrangian (``jax.hessian``).  Defaults to
            ``n <= 2000``; otherwise only the HVP is compiled.

        Examples
        --------
        >>> import jax.numpy as jnp
        >>> p = ConstrainedProblem.from_jax(lambda x: jnp.sum(x ** 2),
        ...                                 lambda x: jnp.array([x[0] + x[1] - 1.0]), [0.0, 0.0])
        >>> float(p.f(p.x0))
        0.0
        """
        from pdeflow.solvers.optim.jax_source import jax_callables

        x0v = as_vector(x0, "x0")
        if dense_hessian is None:
            dense_hessian = x0v.shape[0] <= 2000
        fns = jax_callables(f, c, x0v, dense_hessian=dense_hessian, g=g)
        return cls(x0=x0v, name=name, f_star=f_star, bounds=bounds, **fns)

    @property
    def has_inequalities(self) -> bool:
        """True when the problem has inequality constraints ``g(x) <= 0``."""
        return self.ineq is not None

    @classmethod
    def from_numpy(
        cls,
        f: Callable[[Any], Any],
        c: Callable[[Any], Any] | None,
        x0: Any,
        *,
        g: Callable[[Any], Any] | None = None,
        bounds: Any = None,
        name: str = "numpy-problem",
        f_star: float | None = None,
    ) -> ConstrainedProblem:
        """Build a problem from plain numpy ``f``, ``c`` (and ``g``), derivatives by tracing.

        ``f`` and ``c`` are traced once with :mod:`pdeflow.symbolic`; the gradient, the
        sparse constraint Jacobian and the sparse Hessian of the Lagrangian are derived
        symbolically and compiled with Numba (see
        :func:`pdeflow.solvers.optim.numpy_source.numpy_callables`).  The functions must
        not branch on the values of ``x`` (use ``np.where``); a list of scalars returned
        by ``c`` is stacked.

        Parameters
        ----------
        f : callable ``x -> scalar``
        c : callable ``x -> (m,)`` or None
            Equality constraints ``c(x) = 0``.
        x0 : array_like, shape (n,)
            Start point (also fixes ``n``).
        g : callable ``x -> (p,)``, optional
            Inequality constraints ``g(x) <= 0``.
        bounds : sequence of (low, high) pairs, optional
            Default bounds (see the class).
        name : str
        f_star : float, optional

        Returns
        -------
        ConstrainedProblem

        Examples
        --------
        >>> import numpy as np
        >>> from pdeflow.solvers.optim import ConstrainedProblem, minimize
        >>> p = ConstrainedProblem.from_numpy(lambda x: (1 - x[0]) ** 2,
        ...                                   lambda x: [10 * (x[1] - x[0] ** 2)], [-1.2, 1.0])
        >>> np.round(minimize(p, method="newton").x, 6)
        array([1., 1.])
        """
        from pdeflow.solvers.optim.numpy_source import numpy_callables

        x0v = as_vector(x0, "x0")
        fns = numpy_callables(f, c, x0v, g)
        return cls(x0=x0v, name=name, f_star=f_star, bounds=bounds, **fns)
