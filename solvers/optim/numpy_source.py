"""Derivatives of a constrained problem written in plain numpy, by :mod:`pdeflow.symbolic`.

Only :meth:`pdeflow.solvers.optim.ConstrainedProblem.from_numpy` uses this module.  ``f``,
``c`` (and ``g``) are traced once on a symbolic vector ``x``; the gradient is a reverse-mode
vector-Jacobian product of the traced graph, the constraint Jacobian is the sparse symbolic
Jacobian, and the Lagrangian Hessian is the sparse Jacobian of ``grad f + J^T lam`` with the
multipliers ``lam`` as compiled parameters.  Every piece is compiled with Numba.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse as sp

from pdeflow.errors import TracingError

__all__ = ["numpy_callables"]


def _stacked(value: Any) -> Any:
    """A traced output as a 1-D symbolic array (a list of scalars is stacked)."""
    from pdeflow.symbolic import SymArray

    if isinstance(value, list | tuple):
        value = np.stack(list(value)) if value else np.zeros(0)
    if isinstance(value, SymArray):
        return value.reshape(-1)
    return np.asarray(value, dtype=float).reshape(-1)


def _sparse_caller(cj: Any, shape: tuple[int, int], with_params: bool) -> Callable[..., Any]:
    """Wrap a :class:`CompiledJacobian` (or ``None`` for an empty matrix) as numpy-in/out."""
    if cj is None:
        empty = sp.csr_array(shape)
        return (lambda x, lam: empty) if with_params else (lambda x: empty)
    if with_params:
        return lambda x, lam: sp.csr_array(cj(np.asarray(x, float), np.asarray(lam, float)))
    return lambda x: sp.csr_array(cj(np.asarray(x, float)))


def numpy_callables(
    f: Callable[[Any], Any],
    c: Callable[[Any], Any] | None,
    x0: np.ndarray,
    g: Callable[[Any], Any] | None = None,
) -> dict[str, Callable[..., Any]]:
    """Trace ``f``, ``c`` and ``g`` and compile ``f``, ``grad f``, ``c``, ``J``, ``hess``.

    Parameters
    ----------
    f : callable ``x -> scalar``, numpy code
    c : callable ``x -> (m,)`` or None
        Equality constraints (``None``: none).
    x0 : ndarray, shape (n,)
        Fixes ``n``.
    g : callable ``x -> (p,)`` or None
        Inequality constraints ``g(x) <= 0``.

    Returns
    -------
    dict
        Keys ``f, grad, cons, jac, hess`` and, when ``g`` is given, ``ineq, ineq_jac``.
        ``hess(x, lam)`` is the sparse Hessian of ``f + lam[:m] . c + lam[m:] . g``.

    Examples
    --------
    >>> import numpy as np
    >>> fns = numpy_callables(lambda x: x @ x, lambda x: [x[0] + x[1] - 1.0], np.zeros(2))
    >>> fns["grad"](np.array([1.0, 2.0])), fns["hess"](np.zeros(2), np.ones(1)).toarray()
    (array([2., 4.]), array([[2., 0.],
           [0., 2.]]))
    """
    from pdeflow.symbolic import array, compile, vjp

    n = int(x0.shape[0])
    x = array("x", (n,))
    fo = f(x)
    if not hasattr(fo, "term"):
        raise TracingError("f does not depend on x (it returned a constant); nothing to "
                           "minimize")
    if fo.size != 1:
        raise TracingError(f"f must return a scalar; it returned shape {fo.shape}")
    one = np.ones(fo.shape)
    outs = {"cons": _stacked(c(x)) if c is not None else None,
            "ineq": _stacked(g(x)) if g is not None else None}
    sizes = {k: (0 if o is None else int(o.shape[0])) for k, o in outs.items()}
    m_all = sizes["cons"] + sizes["ineq"]
    lam = array("lam", (max(m_all, 1),))
    f_fn = compile(fo, [x])
    grad_sym = vjp(fo, x, one)
    roots, cots = [fo], [one]
    start = 0
    for key in ("cons", "ineq"):
        if outs[key] is not None and hasattr(outs[key], "term") and sizes[key]:
            roots.append(outs[key])
            cots.append(lam[start:start + sizes[key]])
        start += sizes[key]
    grad_l = vjp(roots, x, cots)
    hess_cj = _compiled_jacobian(grad_l, x, [lam])
    fns: dict[str, Callable[..., Any]] = {
        "f": lambda v, fn=f_fn: float(np.asarray(fn(np.asarray(v, float))).reshape(-1)[0]),
        "grad": _dense_caller(compile(grad_sym, [x])),
    }
    pad = np.zeros(max(m_all, 1))

    def hess(v: np.ndarray, mult: np.ndarray) -> sp.csr_array:
        pad[:m_all] = np.asarray(mult, float).reshape(-1)
        return _sparse_caller(hess_cj, (n, n), True)(v, pad)

    fns["hess"] = hess
    for key, jkey in (("cons", "jac"), ("ineq", "ineq_jac")):
        out = outs[key]
        if out is None and key == "ineq":
            continue
        if out is None:
            fns[key], fns[jkey] = (lambda v: np.zeros(0)), _sparse_caller(None, (0, n), False)
        elif hasattr(out, "term"):
            fns[key] = _dense_caller(compile(out, [x]))
            cj = _compiled_jacobian(out, x, None)
            fns[jkey] = _sparse_caller(cj, (int(out.shape[0]), n), False)
        else:  # constant constraints: no dependence on x
            fns[key] = lambda v, out=out: out.copy()
            fns[jkey] = _sparse_caller(None, (int(out.shape[0]), n), False)
    return fns


def _compiled_jacobian(out: Any, x: Any, params: list | None) -> Any:
    """Compiled sparse Jacobian of a traced array, or ``None`` when it has no nonzeros.

    The array-level Jacobian is tried first (code size independent of ``n``); traces it
    cannot differentiate (some 0-d intermediate shapes) fall back to one scalar
    expression per output entry.
    """
    from pdeflow.errors import ShapeError
    from pdeflow.symbolic import compile_jacobian, jacobian

    try:
        if not jacobian(out, x).nnz:
            return None
        return compile_jacobian(out, [x], params=params)
    except ShapeError:
        terms = list(out.elements().ravel())
        if not jacobian(terms, x).nnz:
            return None
        return compile_jacobian(terms, [x], params=params)


def _dense_caller(fn: Any) -> Callable[[np.ndarray], np.ndarray]:
    return lambda v: np.asarray(fn(np.asarray(v, float)), dtype=float).reshape(-1)
