"""Derivatives of a constrained problem by JAX autodiff (float64, jit-compiled).

Only :meth:`pdeflow.solvers.optim.ConstrainedProblem.from_jax` uses this module; JAX is
imported lazily so the rest of :mod:`pdeflow.solvers.optim` works without it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["jax_callables"]


def jax_callables(
    f: Callable[[Any], Any], c: Callable[[Any], Any] | None, x0: np.ndarray, *,
    dense_hessian: bool, g: Callable[[Any], Any] | None = None,
) -> dict[str, Callable[..., Any]]:
    """Compile ``f``, ``grad f``, ``c``, ``J``, the Lagrangian Hessian and its HVP.

    Parameters
    ----------
    f : callable ``x -> scalar``
    c : callable ``x -> (m,)``
    x0 : ndarray, shape (n,)
        Used only to decide between forward and reverse mode for the Jacobian.
    dense_hessian : bool
        Also compile ``jax.hessian`` of the Lagrangian.
    g : callable ``x -> (p,)``, optional
        Inequality constraints ``g(x) <= 0`` (adds ``ineq`` and ``ineq_jac``; the
        multipliers of ``hess``/``hvp`` are then ``m + p`` long, equalities first).

    Returns
    -------
    dict
        Keys ``f, grad, cons, jac, hvp`` and ``hess`` (``None`` unless ``dense_hessian``),
        each a numpy-in / numpy-out callable.
    """
    import jax
    import jax.numpy as jnp

    def cons(x: Any) -> Any:
        return jnp.zeros(0) if c is None else jnp.reshape(jnp.asarray(c(x)), (-1,))

    def ineq(x: Any) -> Any:
        return jnp.zeros(0) if g is None else jnp.reshape(jnp.asarray(g(x)), (-1,))

    with jax.enable_x64(True):
        m = int(np.asarray(cons(jnp.asarray(x0))).shape[0])

    def lagrangian(x: Any, lam: Any) -> Any:
        return f(x) + jnp.dot(lam, jnp.concatenate([cons(x), ineq(x)]))

    jac_mode = jax.jacrev if m < x0.shape[0] else jax.jacfwd
    grad_l = jax.grad(lagrangian, argnums=0)

    def hvp(x: Any, lam: Any, v: Any) -> Any:
        return jax.jvp(lambda y: grad_l(y, lam), (x,), (v,))[1]

    compiled = {
        "f": jax.jit(f),
        "grad": jax.jit(jax.grad(f)),
        "cons": jax.jit(cons),
        "jac": jax.jit(jac_mode(cons)),
        "hvp": jax.jit(hvp),
    }
    if g is not None:
        compiled["ineq"] = jax.jit(ineq)
        compiled["ineq_jac"] = jax.jit(jax.jacrev(ineq))
    if dense_hessian:
        compiled["hess"] = jax.jit(jax.hessian(lagrangian, argnums=0))

    def wrap(fn: Callable[..., Any], scalar: bool = False) -> Callable[..., Any]:
        def call(*args: np.ndarray) -> Any:
            with jax.enable_x64(True):
                out = np.asarray(fn(*(np.asarray(a, dtype=np.float64) for a in args)))
            return float(out) if scalar else out

        call.__name__ = getattr(fn, "__name__", "jax_fn")
        return call

    out: dict[str, Callable[..., Any] | None] = {
        key: wrap(fn, scalar=key == "f") for key, fn in compiled.items()
    }
    out.setdefault("hess", None)
    return out
