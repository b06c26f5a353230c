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
from pdeflow.symbolic.terms import Sym, Term, placeholder


def _template(m: Term, index_of: dict) -> tuple[Term, list[int]]:
    """Replace input symbols by placeholders in order of first appearance."""
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
    mapping = {s: placeholder(i) for i, s in enumerate(order)}
    return substitute_placeholders(m, mapping), [index_of[s] for s in order]


def lift_scalars(exprs: list[Term], inputs: list[Sym]) -> tuple[ArrayTerm, ArraySym]:
    """Array form of scalar outputs over scalar inputs.

    Returns
    -------
    root : ArrayTerm
        Shape ``(len(exprs),)``.
    y : ArraySym
        The stacked inputs, shape ``(len(inputs),)``.
    """
    index_of: dict = {}
    for j, s in enumerate(inputs):
        if not isinstance(s, Sym):
            raise CompilationError(f"scalar inputs must be symbols, got {type(s).__name__}")
        if s in index_of:
            raise CompilationError(f"input symbol {s.name!r} given twice")
        index_of[s] = j
    y = array_sym("y", (len(inputs),))
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
    where = np.empty(len(mono_id), dtype=np.int64)
    pos_in_group = np.empty(len(mono_id), dtype=np.int64)
    for m, j in mono_id.items():
        tmpl, idx = _template(m, index_of)
        g = groups.get(tmpl)
        if g is None:
            g = groups[tmpl] = (len(groups), [])
        where[j] = g[0]
        pos_in_group[j] = len(g[1])
        g[1].append(idx)
    rows_a = np.asarray(rows, dtype=np.int64)
    cols_a = np.asarray(cols, dtype=np.int64)
    vals_a = np.asarray(vals)
    pairs = []
    for tmpl, (gid, idx_lists) in groups.items():
        n_g = len(idx_lists)
        n_args = len(idx_lists[0])
        idx = np.asarray(idx_lists, dtype=np.int64).reshape(n_g, n_args)
        args = [gather([y], idx[:, a] + 1) for a in range(n_args)]
        arr = elementwise(tmpl, args, (n_g,))
        sel = where[cols_a] == gid
        blk = sp.csr_matrix(
            (vals_a[sel], (rows_a[sel], pos_in_group[cols_a[sel]])), shape=(n_out, n_g)
        )
        pairs.append((arr, blk))
    root = linear((n_out,), pairs, const if np.any(const) else None)
    return root, y


__all__ = ["lift_scalars"]
