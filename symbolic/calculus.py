"""Symbolic differentiation of scalar terms: ``diff``, ``gradient``, ``hessian``, ``hvp``.

Differentiation uses only the generic term interface and is memoized over the
DAG, so shared subterms are differentiated once and expression swell stays
linear in the DAG size.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pdeflow.errors import UnsupportedError
from pdeflow.symbolic.interface import ADD, MUL, POW, arguments, iscall, operation
from pdeflow.symbolic.terms import (
    ONE,
    ZERO,
    Num,
    Placeholder,
    Sym,
    Term,
    add,
    as_term,
    mul,
    num,
    power,
)


class Differentiator:
    """Memoized derivatives with respect to one variable.

    Parameters
    ----------
    var : Sym or Placeholder
        The variable.
    """

    __slots__ = ("var", "memo", "_is_sym")

    def __init__(self, var: Term):
        if type(var) not in (Sym, Placeholder):
            raise TypeError(f"can only differentiate with respect to a symbol, got {var!r}")
        self.var = var
        self.memo: dict = {}
        self._is_sym = type(var) is Sym

    def __call__(self, e: Term) -> Term:
        memo = self.memo
        r = memo.get(e)
        if r is not None:
            return r
        # iterative post-order to survive deep DAGs
        stack = [e]
        while stack:
            t = stack[-1]
            if t in memo:
                stack.pop()
                continue
            if not iscall(t):
                memo[t] = ONE if t is self.var else ZERO
                stack.pop()
                continue
            if self._is_sym and self.var not in t.free_symbols:
                memo[t] = ZERO
                stack.pop()
                continue
            args = arguments(t)
            pending = [a for a in args if a not in memo]
            if pending:
                stack.extend(pending)
                continue
            stack.pop()
            memo[t] = self._rule(t, args)
        return memo[e]

    def _rule(self, t: Term, args) -> Term:
        memo = self.memo
        op = operation(t)
        if op is ADD:
            return add(*(memo[a] for a in args))
        if op is MUL:
            terms = []
            for i, a in enumerate(args):
                da = memo[a]
                if da is ZERO:
                    continue
                terms.append(mul(da, *(args[:i] + args[i + 1 :])))
            return add(*terms) if terms else ZERO
        if op is POW and type(args[1]) is Num:
            b, e = args
            db = memo[b]
            if db is ZERO:
                return ZERO
            return mul(e, power(b, num(e.value - 1)), db)
        partials_fn = op.derivatives
        if partials_fn is None:
            if op.name in ("lt", "le", "eq", "ne", "and", "or", "not"):
                return ZERO  # piecewise-constant relations
            raise UnsupportedError(
                f"no derivative is registered for function {op.name!r}; pass derivatives= "
                "to register_function"
            )
        partials = partials_fn(*args)
        terms = []
        for a, p in zip(args, partials, strict=True):
            da = memo[a]
            if da is ZERO or p is ZERO:
                continue
            terms.append(mul(as_term(p), da))
        return add(*terms) if terms else ZERO


def diff(e: Term, *vars: Term) -> Term:
    """Derivative of ``e`` with respect to ``vars`` in turn (``diff(e, x, x)`` is d²e/dx²).

    Examples
    --------
    >>> from pdeflow.symbolic import symbols, diff, sin
    >>> x, y = symbols("x y")
    >>> str(diff(x**3 * y, x))
    '3*x**2*y'
    >>> str(diff(sin(x), x, x))
    '-sin(x)'
    """
    e = as_term(e)
    if not vars:
        raise TypeError("diff() needs at least one variable")
    for v in vars:
        e = Differentiator(v)(e)
    return e


def gradient(e: Term, vars: Sequence[Term]) -> list[Term]:
    """``[de/dv for v in vars]``.

    Examples
    --------
    >>> from pdeflow.symbolic import symbols, gradient
    >>> x, y = symbols("x y")
    >>> [str(g) for g in gradient(x * y**2, [x, y])]
    ['y**2', '2*x*y']
    """
    e = as_term(e)
    return [Differentiator(v)(e) for v in vars]


def hessian(e: Term, vars: Sequence[Term]) -> np.ndarray:
    """Dense Hessian as an object array of shape ``(n, n)``, symmetric by construction."""
    g = gradient(e, vars)
    n = len(vars)
    H = np.empty((n, n), dtype=object)
    ds = [Differentiator(v) for v in vars]
    for i in range(n):
        for j in range(i, n):
            H[i, j] = ds[j](g[i])
            H[j, i] = H[i, j]
    return H


def hvp(e: Term, vars: Sequence[Term], v: Sequence) -> list[Term]:
    """Hessian-vector product ``H(e) @ v`` without forming the Hessian.

    Computed as the gradient of the directional derivative ``grad(e) . v``;
    ``v`` may hold numbers or terms.
    """
    if len(v) != len(vars):
        raise ValueError(f"hvp: {len(vars)} variables but a vector of length {len(v)}")
    g = gradient(e, vars)
    s = add(*(mul(gi, as_term(vi)) for gi, vi in zip(g, v, strict=True)))
    return gradient(s, vars)


def derivative_template(template: Term, index: int) -> Term:
    """Derivative of an elementwise template with respect to its placeholder ``index``."""
    from pdeflow.symbolic.terms import placeholder

    return Differentiator(placeholder(index))(template)


__all__ = ["diff", "gradient", "hessian", "hvp", "Differentiator", "derivative_template"]
