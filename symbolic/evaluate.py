"""Numeric evaluation and substitution of scalar terms and symbolic arrays."""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from pdeflow.errors import ShapeError
from pdeflow.symbolic.arrays import (
    FFT,
    ArrayConst,
    ArraySym,
    ArrayTerm,
    Linear,
    Map,
    array_nodes,
    element_owners,
    elementwise,
    fft_apply,
    fft_node,
    linear,
    substitute_placeholders,
)
from pdeflow.symbolic.interface import ADD, MUL, POW, arguments, iscall, maketerm, operation
from pdeflow.symbolic.terms import Num, Placeholder, Sym, Term, as_term
from pdeflow.symbolic.tracing import SymArray


class Env:
    """Values of symbols and symbolic arrays for numeric evaluation.

    Keys may be :class:`Sym`, :class:`SymArray`, :class:`ArraySym` or names
    (``str``); an element symbol ``u[i,j]`` is looked up in its array ``u``.
    """

    def __init__(self, subs=None, **kw):
        self.scalars: dict = {}
        self.arrays: dict = {}
        self.by_name: dict = {}
        for k, v in {**(subs or {}), **kw}.items():
            if isinstance(k, str):
                self.by_name[k] = v
            elif isinstance(k, SymArray):
                self.arrays[k.term] = v
            elif isinstance(k, ArraySym):
                self.arrays[k] = v
            elif isinstance(k, Sym):
                self.scalars[k] = v
            else:
                raise TypeError(f"cannot substitute for a key of type {type(k).__name__}")

    def scalar(self, s: Sym):
        """Value of scalar ``s``: given directly, by name, or read from an owning array.

        Raises KeyError if no value was given.
        """
        if s in self.scalars:
            return self.scalars[s]
        if s.name in self.by_name:
            return self.by_name[s.name]
        owners = element_owners(s)
        for a, k in reversed(owners):  # prefer an owner whose array was given
            if a in self.arrays or (
                a.name in self.by_name and np.size(self.by_name[a.name]) == a.size
            ):
                return np.asarray(self.array(a)).reshape(-1)[k]
        raise KeyError(f"no value given for symbol {s.name!r}")

    def array(self, a: ArraySym):
        """Value of array symbol ``a`` as a float array of shape ``a.shape``.

        Given directly or by name; raises KeyError if neither.
        """
        if a in self.arrays:
            v = self.arrays[a]
        elif a.name in self.by_name:
            v = self.by_name[a.name]
        else:
            raise KeyError(f"no value given for array {a.name!r} of shape {a.shape}")
        v = np.asarray(v, dtype=float)
        if v.shape != a.shape:
            if v.ndim == 1 and v.size == a.size:
                return v.reshape(a.shape)  # flat state vectors are accepted
            raise ShapeError(
                f"array {a.name!r} has shape {a.shape}, got a value of shape {v.shape}"
            )
        return v


def _num_value(v):
    return float(v) if isinstance(v, Fraction) else v


def eval_term(t: Term, env: Env, placeholders=None, memo=None):
    """Evaluate a scalar term; symbols may be bound to arrays (vectorized)."""
    memo = {} if memo is None else memo
    stack = [t]
    while stack:
        x = stack[-1]
        if x in memo:
            stack.pop()
            continue
        tx = type(x)
        if tx is Num:
            memo[x] = _num_value(x.value)
        elif tx is Sym:
            memo[x] = env.scalar(x)
        elif tx is Placeholder:
            memo[x] = placeholders[x.index]
        elif iscall(x):
            args = arguments(x)
            pending = [a for a in args if a not in memo]
            if pending:
                stack.extend(pending)
                continue
            vals = [memo[a] for a in args]
            op = operation(x)
            with np.errstate(all="ignore"):
                if op is ADD:
                    r = vals[0]
                    for v in vals[1:]:
                        r = r + v
                elif op is MUL:
                    r = vals[0]
                    for v in vals[1:]:
                        r = r * v
                elif op is POW:
                    r = np.power(np.asarray(vals[0], dtype=float), vals[1])
                    if np.ndim(r) == 0:
                        r = float(r)
                else:
                    r = op.numpy_impl(*vals)
                    if isinstance(r, np.ndarray) and r.dtype == bool:
                        r = r.astype(float)
            memo[x] = r
        else:
            raise TypeError(f"cannot evaluate {x!r}")
        stack.pop()
    return memo[t]


def eval_arrays(roots, env: Env) -> dict:
    """Evaluate every node of an array DAG; returns ``{node: ndarray}``."""
    vals: dict = {}
    for n in array_nodes(roots):
        tn = type(n)
        if tn is ArraySym:
            vals[n] = env.array(n)
        elif tn is ArrayConst:
            vals[n] = n.values.astype(float)
        elif tn is Linear:
            out = np.zeros(n.size) if n.offset is None else n.offset.copy()
            for a, b in zip(n.args, n.blocks, strict=True):
                out = out + b @ vals[a].reshape(-1)
            vals[n] = out.reshape(n.shape)
        elif tn is FFT:
            vals[n] = fft_apply(n, [vals[a] for a in n.args])
        elif tn is Map:
            args = [vals[a].reshape(-1) for a in n.args]
            r = eval_term(n.template, env, args)
            vals[n] = np.broadcast_to(np.asarray(r, dtype=float), (n.size,)).reshape(n.shape)
        else:
            raise TypeError(f"unknown array node {n!r}")
    return vals


def evaluate(expr, subs=None, **kw):
    """Numeric value of a term, a symbolic array, a Jacobian, or a list of them.

    Parameters
    ----------
    expr : Term, SymArray, SparseJacobian, or a list/tuple of these
    subs : dict
        Values by :class:`Sym`, :class:`SymArray` or name; symbols bound to
        arrays evaluate elementwise (vectorized).

    Returns
    -------
    float, ndarray, scipy.sparse.csr_matrix, or a list of these

    Examples
    --------
    >>> import numpy as np
    >>> from pdeflow.symbolic import symbols, evaluate, sin
    >>> x, = symbols("x")
    >>> evaluate(sin(x) ** 2, {x: np.array([0.0, np.pi / 2])})
    array([0., 1.])
    """
    env = subs if isinstance(subs, Env) else Env(subs, **kw)
    if isinstance(expr, list | tuple):
        return type(expr)(evaluate(e, env) for e in expr)
    if isinstance(expr, SymArray):
        return eval_arrays([expr.term], env)[expr.term].copy()
    if isinstance(expr, ArrayTerm):
        return eval_arrays([expr], env)[expr].copy()
    own = getattr(expr, "__symbolic_evaluate__", None)  # a SparseJacobian, say
    if own is not None:
        return own(env)
    if isinstance(expr, np.ndarray) and expr.dtype == object:
        memo: dict = {}
        return np.array(
            [eval_term(as_term(e), env, memo=memo) for e in expr.ravel()], dtype=float
        ).reshape(expr.shape)
    return eval_term(as_term(expr), env)


def _subst_term(t: Term, mapping: dict, memo: dict) -> Term:
    r = memo.get(t)
    if r is not None:
        return r
    if t in mapping:
        r = mapping[t]
    elif iscall(t):
        args = arguments(t)
        new = tuple(_subst_term(a, mapping, memo) for a in args)
        r = (
            t
            if all(a is b for a, b in zip(args, new, strict=True))
            else maketerm(operation(t), new)
        )
    else:
        r = t
    memo[t] = r
    return r


def substitute(expr, mapping: dict):
    """Replace symbols (or symbolic arrays) by terms, numbers or arrays.

    Parameters
    ----------
    expr : Term, SymArray, or a list/tuple of these
    mapping : dict
        ``{Sym: Term | number}`` and, for arrays, ``{SymArray: SymArray | ndarray}``.

    Examples
    --------
    >>> from pdeflow.symbolic import symbols, substitute
    >>> x, y = symbols("x y")
    >>> str(substitute(x**2 + y, {x: y + 1}))
    'y + (y + 1)**2'
    """
    scal = {}
    arrs = {}
    for k, v in mapping.items():
        if isinstance(k, SymArray | ArraySym):
            kt = k.term if isinstance(k, SymArray) else k
            vt = v.term if isinstance(v, SymArray) else None
            if vt is None:
                from pdeflow.symbolic.arrays import array_const

                vt = array_const(np.asarray(v, dtype=float))
            if vt.shape != kt.shape:
                raise ShapeError(
                    f"substitute: {kt.name!r} has shape {kt.shape}, value has {vt.shape}"
                )
            arrs[kt] = vt
        elif isinstance(k, Term):
            scal[k] = as_term(v)
        else:
            raise TypeError(f"cannot substitute for a key of type {type(k).__name__}")
    memo: dict = {}
    if isinstance(expr, list | tuple):
        return type(expr)(substitute(e, mapping) for e in expr)
    if isinstance(expr, SymArray):
        return SymArray(_subst_array(expr.term, scal, arrs, memo))
    return _subst_term(as_term(expr), scal, memo)


def _subst_array(root: ArrayTerm, scal: dict, arrs: dict, memo: dict) -> ArrayTerm:
    new: dict = {}
    for n in array_nodes([root]):
        tn = type(n)
        if tn is ArraySym:
            new[n] = arrs.get(n, n)
        elif tn is ArrayConst:
            new[n] = n
        elif tn is Linear:
            new[n] = linear(
                n.shape, [(new[a], b) for a, b in zip(n.args, n.blocks, strict=True)], n.offset
            )
        elif tn is FFT:
            new[n] = fft_node(n.kind, [new[a] for a in n.args], n.axes, n.s, n.norm, n.part)
        else:
            tmpl = _subst_term(n.template, scal, memo) if scal else n.template
            new[n] = elementwise(tmpl, [new[a] for a in n.args], n.shape)
    return new[root]


__all__ = ["evaluate", "substitute", "Env", "eval_term", "eval_arrays"]
_ = substitute_placeholders
