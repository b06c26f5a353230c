"""Lift irregular scalar systems (reaction networks) to the array IR.

A big system of scalar outputs, such as a mass-action network, is a sparse
sum of terms: ``out_i = c_i + sum_j C_ij * m_j`` where the ``m_j`` are the
distinct non-sum terms (monomials such as ``k*y3*y7``, or rate laws).  Terms
that differ only by *which* inputs they read share one template
(``p_4*_0*_1`` with index lists), so the system becomes a few elementwise
maps over gathered inputs plus one constant sparse matrix: the same two node
kinds traced array code produces.  Generated code is then a handful of loops
whatever the size of the network, instead of megabytes of straight-line code.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from pdeflow.errors import CompilationError
from pdeflow.symbolic.arrays import (
    ArraySym,
    ArrayTerm,
    array_sym,
    elementwise,
    gather,
    linear,
    substitute_placeholders,
)
from pdeflow.symbolic.interface import arguments, iscall, linear_parts
from pdeflow.symbolic.terms import Mul, Sym, Term, placeholder


def _template_cached(m: Term, index_of: dict, n_in: int, cache: dict) -> tuple[Term, list[int]]:
    """:func:`_template`, shared by monomials of one shape (``k_3*y_1*y_2``, ``k_7*y_4*y_5``).

    A product of distinct input or parameter symbols is keyed by the kind and exponent of
    each factor in its sorted order; the first such monomial fixes the template and where
    each placeholder's symbol sits among the factors.
    """
    if type(m) is not Mul or m.coeff != 1 or not all(type(b) is Sym for b, _ in m.factors):
        return _template(m, index_of, n_in)
    bases = [b for b, _ in m.factors]
    if not all(b in index_of for b in bases):
        return _template(m, index_of, n_in)
    key = tuple((index_of[b] >= n_in, e) for b, e in m.factors)
    hit = cache.get(key)
    if hit is None:
        tmpl, idx = _template(m, index_of, n_in)
        where = {index_of[b]: j for j, b in enumerate(bases)}
        hit = cache[key] = (tmpl, [where[i] for i in idx])
    tmpl, perm = hit
    return tmpl, [index_of[bases[j]] for j in perm]


def _template(m: Term, index_of: dict, n_in: int) -> tuple[Term, list[int]]:
    """Replace input symbols by placeholders in order of first appearance.

    Inputs (positions below ``n_in``) come first, then parameters, so that one
    placeholder reads the same array in every term of a template group.
    """
    order: list = []
    seen: set = set()
    stack = [m]
    visited: set = set()
    while stack:  # deterministic pre-order over the interface
        t = stack.pop()
        if t in visited:
            continue
        visited.add(t)
        if type(t) is Sym:
            if t in index_of and t not in seen:
                seen.add(t)
                order.append(t)
        elif iscall(t):
            stack.extend(reversed(arguments(t)))
    order.sort(key=lambda s: index_of[s] >= n_in)  # stable: inputs, then parameters
    mapping = {s: placeholder(i) for i, s in enumerate(order)}
    return substitute_placeholders(m, mapping), [index_of[s] for s in order]


def lift_scalars(
    exprs: list[Term], inputs: list[Sym], params: list[Sym] | None = None
) -> tuple[ArrayTerm, ArraySym, ArraySym | None]:
    """Array form of scalar outputs over scalar inputs (and scalar parameters).

    Parameter symbols are read like inputs, through index tables into one
    parameter array: ``k_3*y_1*y_2`` and ``k_7*y_4*y_5`` share the template
    ``_0*_1*_2``, so a network with one parameter per reaction still compiles
    to a handful of loops (not one loop per parameter).

    Parameters
    ----------
    exprs : list of Term
        The outputs.
    inputs : list of Sym
        The state symbols, in the order of ``y``.
    params : list of Sym, optional
        The parameter symbols, in the order of ``p``.

    Returns
    -------
    root : ArrayTerm
        Shape ``(len(exprs),)``.
    y : ArraySym
        The stacked inputs, shape ``(len(inputs),)``.
    p : ArraySym or None
        The stacked parameters, shape ``(len(params),)`` (``None`` without params).

    Examples
    --------
    >>> from pdeflow.symbolic.terms import sym
    >>> a, b, k = sym("a"), sym("b"), sym("k")
    >>> root, y, p = lift_scalars([k * a * b, -k * a * b], [a, b], [k])
    >>> root.shape, y.shape, p.shape
    ((2,), (2,), (1,))
    """
    index_of: dict = {}
    for j, s in enumerate(inputs):
        if not isinstance(s, Sym):
            raise CompilationError(f"scalar inputs must be symbols, got {type(s).__name__}")
        if s in index_of:
            raise CompilationError(f"input symbol {s.name!r} given twice")
        index_of[s] = j
    y = array_sym("y", (len(inputs),))
    p = None
    n_in = len(inputs)
    if params:
        p = array_sym("p", (len(params),))
        for j, s in enumerate(params):
            if s in index_of:
                raise CompilationError(f"symbol {s.name!r} is both an input and a parameter")
            index_of[s] = n_in + j  # positions past the inputs read p
    n_out = len(exprs)
    const = np.zeros(n_out)
    mono_id: dict = {}
    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []
    for i, e in enumerate(exprs):
        c0, parts = linear_parts(e)
        const[i] += float(c0)
        for c, m in parts:
            c = float(c)
            j = mono_id.get(m)
            if j is None:
                j = mono_id[m] = len(mono_id)
            rows.append(i)
            cols.append(j)
            vals.append(c)
    # group monomials by template
    groups: dict = {}
    shapes: dict = {}
    where = np.empty(len(mono_id), dtype=np.int64)
    pos_in_group = np.empty(len(mono_id), dtype=np.int64)
    for m, j in mono_id.items():
        tmpl, idx = _template_cached(m, index_of, n_in, shapes)
        key = (tmpl, sum(i < n_in for i in idx))  # same slots read the same arrays
        g = groups.get(key)
        if g is None:
            g = groups[key] = (len(groups), [])
        where[j] = g[0]
        pos_in_group[j] = len(g[1])
        g[1].append(idx)
    rows_a = np.asarray(rows, dtype=np.int64)
    cols_a = np.asarray(cols, dtype=np.int64)
    vals_a = np.asarray(vals)
    pairs = []
    for (tmpl, _), (gid, idx_lists) in groups.items():
        n_g = len(idx_lists)
        n_args = len(idx_lists[0])
        idx = np.asarray(idx_lists, dtype=np.int64).reshape(n_g, n_args)
        args = [_read(y, p, idx[:, a], n_in) for a in range(n_args)]
        arr = elementwise(tmpl, args, (n_g,))
        sel = where[cols_a] == gid
        blk = sp.csr_matrix(
            (vals_a[sel], (rows_a[sel], pos_in_group[cols_a[sel]])), shape=(n_out, n_g)
        )
        pairs.append((arr, blk))
    root = linear((n_out,), pairs, const if np.any(const) else None)
    return root, y, p


def _read(y: ArraySym, p: ArraySym | None, idx: np.ndarray, n_in: int) -> ArrayTerm:
    """Gather of ``y`` (positions below ``n_in``) or of ``p`` (the others)."""
    if p is None or np.all(idx < n_in):
        return gather([y], idx + 1)
    if np.all(idx >= n_in):
        return gather([p], idx - n_in + 1)
    return gather([y, p], idx + 1)  # not reached: slots are sorted by kind


__all__ = ["lift_scalars"]
