"""Sparse Jacobians and sparsity patterns, at array level and for scalar terms.

For traced arrays the Jacobian is propagated through the array DAG with the
chain rule, node by node, as a *symbolic sparse matrix*: a CSR pattern plus
one array expression holding all nonzero values.

* ``Linear`` nodes (constant sparse matrices ``B``) give ``B @ J``: the pattern
  comes from a sparse product of index structures, the values from one
  constant sparse map of the child's values;
* ``Map`` nodes give ``sum_i diag(d template / d arg_i) @ J_i``, with the
  partial derivatives again elementwise templates.

No scalar term is built per equation, so the cost is numpy work on index
arrays, and the values stay one fused array expression ready for code
generation.  Scalar expressions per nonzero are materialized on demand
(:attr:`SparseJacobian.exprs`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from pdeflow.errors import ShapeError
from pdeflow.symbolic.arrays import (
    FFT,
    ArrayConst,
    ArraySym,
    ArrayTerm,
    Linear,
    Map,
    array_const,
    array_nodes,
    element_owner,
    element_terms,
    elementwise,
    fft_matrix,
    fft_node,
    gather,
    linear,
    placeholders_in,
)
from pdeflow.symbolic.calculus import Differentiator, derivative_template
from pdeflow.symbolic.interface import linear_parts
from pdeflow.symbolic.terms import Num, Sym, Term, add, as_term, mul, num, placeholder
from pdeflow.symbolic.tracing import SymArray


@dataclass(frozen=True)
class _SymSparse:
    """A sparse matrix with canonical CSR structure and symbolic values (shape ``(nnz,)``)."""

    shape: tuple[int, int]
    indptr: np.ndarray
    indices: np.ndarray
    values: ArrayTerm

    @property
    def nnz(self) -> int:
        return int(self.indices.size)

    def rows(self) -> np.ndarray:
        return np.repeat(np.arange(self.shape[0]), np.diff(self.indptr))


def _from_coo(shape, rows, cols):
    """Canonical CSR structure of (rows, cols) with duplicates merged.

    Returns the structure and, for every input entry, its position.
    """
    n = shape[1]
    key = rows.astype(np.int64) * n + cols.astype(np.int64)
    uniq, inv = np.unique(key, return_inverse=True)
    r = uniq // n
    c = uniq % n
    indptr = np.zeros(shape[0] + 1, dtype=np.int64)
    np.add.at(indptr, r + 1, 1)
    np.cumsum(indptr, out=indptr)
    return indptr, c.astype(np.int64), inv


def _num_times(B: sp.csr_matrix, S: _SymSparse) -> _SymSparse | None:
    """``B @ S`` for a numeric sparse ``B`` and symbolic ``S``."""
    B = sp.csr_matrix(B)
    coo = B.tocoo()
    mr, mk, mv = coo.row, coo.col, coo.data
    counts = S.indptr[mk + 1] - S.indptr[mk]
    total = int(counts.sum())
    if total == 0:
        return None
    starts = np.repeat(S.indptr[mk] - (np.cumsum(counts) - counts), counts)
    e = starts + np.arange(total)
    vv = np.repeat(mv, counts)
    shape = (B.shape[0], S.shape[1])
    if np.array_equal(B.indptr, np.arange(B.shape[0] + 1)):
        # one entry per row (a selection: slice, roll, gather): rows of S are
        # copied in order, so the structure needs no sorting or merging
        indptr = np.concatenate(([0], np.cumsum(counts)))
        indices = S.indices[e]
        P = sp.csr_matrix((vv, e, np.arange(total + 1)), shape=(total, S.nnz))
    else:
        rr = np.repeat(mr, counts)
        indptr, indices, pos = _from_coo(shape, rr, S.indices[e])
        P = sp.csr_matrix((vv, (pos, e)), shape=(indices.size, S.nnz))
    values = linear((indices.size,), [(S.values, P)], intern=False)
    return _SymSparse(shape, indptr, indices, values)


def _diag_times(d: ArrayTerm, S: _SymSparse) -> _SymSparse:
    """``diag(d.ravel()) @ S``."""
    rows = S.rows()
    dg = gather([d], rows + 1, intern=False)
    values = elementwise(mul(placeholder(0), placeholder(1)), [dg, S.values], (S.nnz,))
    return _SymSparse(S.shape, S.indptr, S.indices, values)


def _sum(mats: list[_SymSparse]) -> _SymSparse | None:
    """Sum of symbolic sparse matrices (union pattern, values mapped by position)."""
    mats = [m for m in mats if m is not None]
    if not mats:
        return None
    if len(mats) == 1:
        return mats[0]
    shape = mats[0].shape
    first = mats[0]
    if all(
        np.array_equal(m.indptr, first.indptr) and np.array_equal(m.indices, first.indices)
        for m in mats[1:]
    ):
        # same structure: the values simply add
        pairs = [(m.values, sp.identity(m.nnz, format="csr")) for m in mats]
        return _SymSparse(
            shape, first.indptr, first.indices, linear((first.nnz,), pairs, intern=False)
        )
    total = None
    for m in mats:
        pat = sp.csr_matrix((np.ones(m.nnz, dtype=np.int8), m.indices, m.indptr), shape=shape)
        total = pat if total is None else total + pat
    total.sort_indices()
    n = shape[1]
    out_rows = np.repeat(np.arange(shape[0], dtype=np.int64), np.diff(total.indptr))
    out_keys = out_rows * n + total.indices
    nnz = out_keys.size
    pairs = []
    for m in mats:
        pos = np.searchsorted(out_keys, m.rows().astype(np.int64) * n + m.indices)
        P = sp.csr_matrix((np.ones(m.nnz), (pos, np.arange(m.nnz))), shape=(nnz, m.nnz))
        pairs.append((m.values, P))
    return _SymSparse(
        shape,
        total.indptr.astype(np.int64),
        total.indices.astype(np.int64),
        linear((nnz,), pairs, intern=False),
    )


class _Variables:
    """Column layout of the variables: arrays and scalar symbols, in order."""

    def __init__(self, vars_):
        if isinstance(vars_, SymArray | ArraySym | Sym):
            vars_ = [vars_]
        self.array_offset: dict = {}
        self.array_cols: dict = {}  # ArraySym -> column of each of its elements (permuted vars)
        self.scalar_col: dict = {}
        self.blocks: list = []
        col = 0
        for v in vars_:
            if isinstance(v, SymArray):
                v = v.term
            perm = permuted_input(v) if isinstance(v, Linear) else None
            if perm is not None:
                src, order = perm
                if src in self.array_offset:
                    raise ValueError(f"variable array {src.name!r} given twice")
                cols = np.empty(src.size, dtype=np.int64)
                cols[order] = col + np.arange(src.size, dtype=np.int64)
                self.array_offset[src] = col
                self.array_cols[src] = cols
                self.blocks.append(v)
                col += src.size
                continue
            if isinstance(v, ArraySym):
                if v in self.array_offset:
                    raise ValueError(f"variable array {v.name!r} given twice")
                self.array_offset[v] = col
                self.blocks.append(v)
                col += v.size
            elif isinstance(v, Sym):
                owner = element_owner(v)
                if v in self.scalar_col:
                    raise ValueError(f"variable {v.name!r} given twice")
                self.scalar_col[v] = col
                self.blocks.append(v)
                col += 1
                del owner
            else:
                raise TypeError(
                    "Jacobian variables must be symbolic arrays (from trace/array), reshapes or "
                    "permutations of them (ravel, transpose), or symbols; got "
                    f"{_describe_var(v)}"
                )
        self.n = col

    def columns(self, a: ArraySym) -> np.ndarray | None:
        """The Jacobian column of each element of input ``a`` (``None``: not a variable)."""
        cols = self.array_cols.get(a)
        if cols is not None:
            return cols
        off = self.array_offset.get(a)
        return None if off is None else np.arange(off, off + a.size, dtype=np.int64)


def permuted_input(node) -> tuple[ArraySym, np.ndarray] | None:
    """``(source, order)`` if ``node`` only reorders the elements of one input array.

    ``node.ravel()[j]`` is ``source.ravel()[order[j]]``: a reshape, ravel, transpose,
    flip or roll of a traced input (each element exactly once, unscaled), else ``None``.
    """
    if type(node) is ArraySym:
        return node, np.arange(node.size, dtype=np.int64)
    if type(node) is not Linear or len(node.args) != 1 or node.offset is not None:
        return None
    src, b = node.args[0], node.blocks[0]
    if type(src) is not ArraySym or node.size != src.size or b.nnz != node.size:
        return None
    if not np.array_equal(b.indptr, np.arange(node.size + 1)) or not np.all(b.data == 1.0):
        return None
    order = np.asarray(b.indices, dtype=np.int64)
    if np.unique(order).size != order.size:
        return None
    return src, order


def variable_permutation(v, what: str) -> tuple[ArrayTerm, ArraySym, np.ndarray]:
    """``(node, source, order)`` of a derivative variable ``v`` (see :func:`permuted_input`).

    Raises
    ------
    TypeError
        ``v`` is not a traced input or a pure reordering of one; ``what`` names the caller
        (``"jvp"``, ``"vjp"``).
    """
    node = v.term if isinstance(v, SymArray) else v
    perm = permuted_input(node) if isinstance(node, ArraySym | Linear) else None
    if perm is None:
        raise TypeError(
            f"{what} variables must be symbolic arrays (or reshapes/permutations of them) or "
            f"symbols; got {_describe_var(node)}"
        )
    return node, perm[0], perm[1]


def _describe_var(v) -> str:
    if isinstance(v, Linear | Map):
        return (f"a computed {type(v).__name__} array of shape {v.shape} (not a pure "
                "reordering of one input's elements)")
    return type(v).__name__


def outputs_as_arrays(outputs) -> list[ArrayTerm]:
    """The array terms of traced outputs (a SymArray, an ArrayTerm or a list of them)."""
    if isinstance(outputs, SymArray):
        return [outputs.term]
    if isinstance(outputs, ArrayTerm):
        return [outputs]
    out = []
    for o in outputs:
        if isinstance(o, SymArray):
            out.append(o.term)
        elif isinstance(o, ArrayTerm):
            out.append(o)
        else:
            raise TypeError("mixing symbolic arrays and scalar terms in Jacobian outputs")
    return out


def _stack_rows(arrs: list[ArrayTerm]) -> ArrayTerm:
    """All outputs flattened into one vector (a single Linear node)."""
    if len(arrs) == 1:
        return arrs[0]
    total = sum(a.size for a in arrs)
    return gather(arrs, np.arange(1, total + 1))


def _array_jacobian(root: ArrayTerm, vs: _Variables) -> _SymSparse | None:
    memo: dict = {}
    n = vs.n
    for node in array_nodes([root]):
        tn = type(node)
        m = node.size
        if tn is ArraySym:
            cols = vs.columns(node)
            if cols is None:
                memo[node] = None
            else:
                memo[node] = _SymSparse(
                    (m, n), np.arange(m + 1, dtype=np.int64), cols, array_const(np.ones(m))
                )
        elif tn is ArrayConst:
            memo[node] = None
        elif tn is Linear:
            parts = [
                _num_times(b, memo[a])
                for a, b in zip(node.args, node.blocks, strict=True)
                if memo[a] is not None
            ]
            memo[node] = _sum(parts)
        elif tn is FFT:
            # a dense linear map (small transforms only; jvp() keeps FFTs structured)
            parts = [
                _num_times(fft_matrix(node, i), memo[a])
                for i, a in enumerate(node.args)
                if memo[a] is not None
            ]
            memo[node] = _sum(parts)
        elif tn is Map:
            parts = []
            used = placeholders_in(node.template)
            for i, a in enumerate(node.args):
                Ja = memo[a]
                if Ja is None or i not in used:
                    continue
                dt = derivative_template(node.template, i)
                if type(dt) is Num and dt.value == 0:
                    continue
                c = elementwise(dt, node.args, node.shape)
                parts.append(_diag_times(c, _reshape_rows(Ja, m)))
            for s in sorted(
                node.template.free_symbols & vs.scalar_col.keys(), key=lambda s: s.name
            ):
                dt = Differentiator(s)(node.template)
                if type(dt) is Num and dt.value == 0:
                    continue
                c = elementwise(dt, node.args, node.shape)
                col = vs.scalar_col[s]
                vals = gather([c], np.arange(1, m + 1), intern=False)
                parts.append(
                    _SymSparse(
                        (m, n),
                        np.arange(m + 1, dtype=np.int64),
                        np.full(m, col, dtype=np.int64),
                        vals,
                    )
                )
            memo[node] = _sum(parts)
        else:
            raise TypeError(f"unknown array node {node!r}")
    return memo[root]


def _reshape_rows(S: _SymSparse, m: int) -> _SymSparse:
    if S.shape[0] != m:
        raise ShapeError(f"internal: Jacobian rows {S.shape[0]} != node size {m}")
    return S


class SparseJacobian:
    """A sparse Jacobian: CSR pattern plus one expression per nonzero.

    Attributes
    ----------
    shape : (int, int)
        ``(number of outputs, number of variables)``.
    indptr, indices : int ndarray
        CSR structure (sorted column indices, no duplicates).
    values : ArrayTerm or None
        Array-level expression of shape ``(nnz,)`` holding all nonzeros in
        CSR order (traced arrays); ``None`` for scalar-term Jacobians.

    Unpacks as ``pattern, exprs = jacobian(...)``.
    """

    def __init__(self, shape, indptr, indices, values=None, exprs=None, variables=None):
        self.shape = tuple(shape)
        self.indptr = indptr
        self.indices = indices
        self.values = values
        self._exprs = exprs
        self.variables = variables

    @property
    def nnz(self) -> int:
        """Number of structurally nonzero entries."""
        return int(self.indices.size)

    @property
    def pattern(self) -> sp.csr_matrix:
        """The sparsity pattern as a CSR matrix whose data are ones."""
        return sp.csr_matrix((np.ones(self.nnz), self.indices, self.indptr), shape=self.shape)

    @property
    def exprs(self) -> list[Term]:
        """One scalar expression per nonzero, in CSR order (materialized on first use)."""
        if self._exprs is None:
            if self.values is None:
                self._exprs = []
            else:
                self._exprs = list(element_terms(self.values).ravel())
        return self._exprs

    def __iter__(self):
        yield self.pattern
        yield self.exprs

    def __getitem__(self, ij) -> Term:
        i, j = ij
        lo, hi = self.indptr[i], self.indptr[i + 1]
        k = np.searchsorted(self.indices[lo:hi], j)
        if k < hi - lo and self.indices[lo + k] == j:
            return self.exprs[lo + k]
        return as_term(0)

    def evaluate(self, subs=None, **kw) -> sp.csr_matrix:
        """Numeric CSR matrix at the given values of the symbols."""
        from pdeflow.symbolic.evaluate import Env, eval_arrays, eval_term

        env = subs if isinstance(subs, Env) else Env(subs, **kw)
        if self.values is not None:
            data = eval_arrays([self.values], env)[self.values].reshape(-1)
        else:
            memo: dict = {}
            data = np.array([eval_term(e, env, memo=memo) for e in self.exprs], dtype=float)
        return sp.csr_matrix((data, self.indices.copy(), self.indptr.copy()), shape=self.shape)

    #: :func:`pdeflow.symbolic.evaluate` of a Jacobian calls this (evaluate sits below)
    __symbolic_evaluate__ = evaluate

    def todense(self) -> np.ndarray:
        """Dense object array of expressions (zeros included)."""
        out = np.full(self.shape, as_term(0), dtype=object)
        rows = np.repeat(np.arange(self.shape[0]), np.diff(self.indptr))
        for r, c, e in zip(rows, self.indices, self.exprs, strict=True):
            out[r, c] = e
        return out

    def __repr__(self):
        return f"SparseJacobian(shape={self.shape}, nnz={self.nnz})"


def _scalar_outputs(outputs) -> list[Term] | None:
    if isinstance(outputs, Term):
        return [outputs]
    if isinstance(outputs, np.ndarray) and outputs.dtype == object:
        return [as_term(e) for e in outputs.ravel()]
    if isinstance(outputs, list | tuple) and all(
        isinstance(o, Term | int | float) for o in outputs
    ):
        return [as_term(o) for o in outputs]
    return None


def _scalar_vars(vars_) -> list[Sym]:
    if isinstance(vars_, SymArray):
        return list(vars_.elements().ravel())
    if isinstance(vars_, Sym):
        return [vars_]
    out = []
    for v in vars_:
        if isinstance(v, SymArray):
            out.extend(v.elements().ravel())
        elif isinstance(v, Sym):
            out.append(v)
        else:
            raise TypeError(f"Jacobian variables must be symbols, got {type(v).__name__}")
    return out


def _scalar_jacobian(exprs: list[Term], vars_: list[Sym], values: bool) -> SparseJacobian:
    """Jacobian of scalar terms; sums are differentiated term by term.

    Each output is split into ``const + sum(c * m)`` and only the terms ``m``
    that contain a variable are differentiated, each once per variable it
    contains (a reaction network's monomials have two or three), with the
    derivatives of shared terms reused across outputs.
    """
    col = {}
    for j, v in enumerate(vars_):
        if v in col:
            raise ValueError(f"variable {v} given twice")
        col[v] = j
    diffs: dict = {}
    dmemo: dict = {}
    indptr = [0]
    indices: list[int] = []
    out_exprs: list[Term] = []
    for e in exprs:
        if not values:
            indices.extend(sorted(col[s] for s in e.free_symbols if s in col))
            indptr.append(len(indices))
            continue
        _, parts = linear_parts(e)
        acc: dict = {}
        for c, m in parts:
            for s in m.free_symbols:
                j = col.get(s)
                if j is None:
                    continue
                key = (m, j)
                dm = dmemo.get(key)
                if dm is None:
                    d = diffs.get(j)
                    if d is None:
                        d = diffs[j] = Differentiator(vars_[j])
                    dm = dmemo[key] = d(m)
                acc.setdefault(j, []).append(dm if c == 1 else mul(num(c), dm))
        for j in sorted(acc):
            de = add(*acc[j])
            if type(de) is Num and de.value == 0:
                continue
            indices.append(j)
            out_exprs.append(de)
        indptr.append(len(indices))
    return SparseJacobian(
        (len(exprs), len(vars_)),
        np.asarray(indptr, dtype=np.int64),
        np.asarray(indices, dtype=np.int64),
        exprs=out_exprs if values else None,
        variables=vars_,
    )


def jacobian(outputs, vars, sparse: bool = True):
    """Jacobian of ``outputs`` with respect to ``vars``.

    Parameters
    ----------
    outputs : SymArray, list of SymArray, Term or list of Terms
        Traced arrays are flattened in C order and stacked.
    vars : SymArray, list of SymArray/Sym, or list of symbols
        The variables, flattened and stacked in order (columns).
    sparse : bool
        ``True`` returns a :class:`SparseJacobian` (pattern + one expression
        per nonzero); ``False`` a dense object array.

    Examples
    --------
    >>> import numpy as np
    >>> from pdeflow.symbolic import array, jacobian
    >>> u = array("u", (4,))
    >>> J = jacobian(np.roll(u, 1) * u, u)
    >>> J.pattern.toarray().astype(int)
    array([[1, 0, 0, 1],
           [1, 1, 0, 0],
           [0, 1, 1, 0],
           [0, 0, 1, 1]])
    """
    scal = _scalar_outputs(outputs)
    if scal is not None:
        J = _scalar_jacobian(scal, _scalar_vars(vars), True)
    else:
        vs = _Variables(vars if isinstance(vars, list | tuple) else [vars])
        root = _stack_rows(outputs_as_arrays(outputs))
        S = _array_jacobian(root, vs)
        m = root.size
        if S is None:
            J = SparseJacobian(
                (m, vs.n),
                np.zeros(m + 1, dtype=np.int64),
                np.zeros(0, dtype=np.int64),
                array_const(np.zeros(0)),
                variables=vs.blocks,
            )
        else:
            J = SparseJacobian(S.shape, S.indptr, S.indices, S.values, variables=vs.blocks)
    return J if sparse else J.todense()


def _tangent_seeds(vars_, tangents) -> tuple[dict, dict]:
    """Tangent array per input :class:`ArraySym`, tangent term per scalar symbol."""
    single = not isinstance(vars_, list | tuple)
    vars_ = [vars_] if single else list(vars_)
    tangents = [tangents] if single else list(tangents)
    if len(vars_) != len(tangents):
        raise ShapeError(f"jvp: {len(vars_)} variables but {len(tangents)} tangents")
    arrays: dict = {}
    scalars: dict = {}
    for v, t in zip(vars_, tangents, strict=True):
        if isinstance(v, Sym):
            scalars[v] = as_term(t)
            continue
        node, src, order = variable_permutation(v, "jvp")
        tn = t.term if isinstance(t, SymArray) else array_const(np.asarray(t, dtype=float))
        if tn.size != src.size:
            raise ShapeError(f"jvp: tangent of shape {tn.shape} for a variable of shape "
                             f"{node.shape}")
        inv = np.empty(src.size, dtype=np.int64)
        inv[order] = np.arange(src.size)
        arrays[src] = gather([tn], (inv + 1).reshape(src.shape))
    return arrays, scalars


def _jvp_node(node, tan: dict, scalars: dict):
    """Tangent of one node from its arguments' tangents (``None`` for zero)."""
    tn = type(node)
    if tn is Linear:
        pairs = [(tan[a], b) for a, b in zip(node.args, node.blocks, strict=True)
                 if tan[a] is not None]
        return linear(node.shape, pairs) if pairs else None
    if tn is FFT:
        if all(tan[a] is None for a in node.args):
            return None
        args = [tan[a] if tan[a] is not None else array_const(np.zeros(a.shape))
                for a in node.args]
        return fft_node(node.kind, args, node.axes, node.s, node.norm, node.part)
    if tn is not Map:
        return None
    n = len(node.args)
    extra: list = []
    terms = []
    used = placeholders_in(node.template)
    for i, a in enumerate(node.args):
        if tan[a] is None or i not in used:
            continue
        dt = derivative_template(node.template, i)
        if type(dt) is Num and dt.value == 0:
            continue
        terms.append(mul(dt, placeholder(n + len(extra))))
        extra.append(tan[a])
    for s in sorted(node.template.free_symbols & scalars.keys(), key=lambda s: s.name):
        terms.append(mul(Differentiator(s)(node.template), scalars[s]))
    if not terms:
        return None
    return elementwise(add(*terms), [*node.args, *extra], node.shape)


def jvp(outputs, vars, tangents):
    """Jacobian-vector product ``J @ v`` as a traced array (forward mode, structured).

    The tangent flows through the array graph node by node: linear maps and FFTs
    apply to it as they are (an FFT stays one FFT node, never a dense matrix),
    elementwise maps multiply it by their partial derivatives.  The result is an
    ordinary traced array: evaluate it, or compile it with the tangent as a
    second input.

    Parameters
    ----------
    outputs : SymArray or list of SymArray
    vars : SymArray, Sym, or a list of them
        Variables (reshapes/permutations of traced inputs are accepted).
    tangents : SymArray, ndarray or number, or a list aligned with ``vars``
        The direction, shaped like each variable (use ``array("v", shape)`` for a
        symbolic direction).

    Returns
    -------
    SymArray or list of SymArray
        Shaped like ``outputs``.

    Examples
    --------
    >>> import numpy as np
    >>> from pdeflow.symbolic import array, evaluate, jvp
    >>> u, v = array("u", (4,)), array("v", (4,))
    >>> Jv = jvp(u**2 * np.roll(u, 1), u, v)
    >>> evaluate(Jv, {u: np.arange(4.0), v: np.ones(4)})
    array([ 0.,  1.,  8., 21.])
    """
    arrays, scalars = _tangent_seeds(vars, tangents)
    single = isinstance(outputs, SymArray | ArrayTerm)
    roots = outputs_as_arrays(outputs)
    tan: dict = {}
    for node in array_nodes(roots):
        tan[node] = arrays.get(node) if type(node) is ArraySym else _jvp_node(node, tan, scalars)
    res = [SymArray(tan[r] if tan[r] is not None else array_const(np.zeros(r.shape)))
           for r in roots]
    return res[0] if single else res


def _array_sparsity(root: ArrayTerm, vs: _Variables) -> sp.csr_matrix | None:
    memo: dict = {}
    n = vs.n
    for node in array_nodes([root]):
        tn = type(node)
        m = node.size
        if tn is ArraySym:
            cols = vs.columns(node)
            memo[node] = (
                None
                if cols is None
                else sp.csr_matrix((np.ones(m, dtype=bool), cols, np.arange(m + 1)), shape=(m, n))
            )
        elif tn is ArrayConst:
            memo[node] = None
        elif tn is Linear:
            acc = None
            for a, b in zip(node.args, node.blocks, strict=True):
                P = memo[a]
                if P is None:
                    continue
                B = sp.csr_matrix((np.ones(b.nnz, dtype=bool), b.indices, b.indptr), shape=b.shape)
                Q = B @ P
                acc = Q if acc is None else acc + Q
            memo[node] = acc
        elif tn is FFT:
            acc = None
            for i, a in enumerate(node.args):
                P = memo[a]
                if P is None:
                    continue
                Q = (fft_matrix(node, i) != 0).astype(bool) @ P
                acc = Q if acc is None else acc + Q
            memo[node] = acc
        elif tn is Map:
            acc = None
            used = placeholders_in(node.template)
            for i, a in enumerate(node.args):
                P = memo[a]
                if P is None or i not in used:
                    continue
                acc = P if acc is None else acc + P
            cols = [vs.scalar_col[s] for s in node.template.free_symbols if s in vs.scalar_col]
            if cols:
                rr = np.repeat(np.arange(m), len(cols))
                cc = np.tile(np.asarray(cols), m)
                Q = sp.csr_matrix((np.ones(rr.size, dtype=bool), (rr, cc)), shape=(m, n))
                acc = Q if acc is None else acc + Q
            memo[node] = acc
    return memo[root]


def sparsity(outputs, vars) -> sp.csr_matrix:
    """Sparsity pattern of the Jacobian without differentiating (CSR, boolean data).

    Examples
    --------
    >>> import numpy as np
    >>> from pdeflow.symbolic import array, sparsity
    >>> u = array("u", (3,))
    >>> sparsity(np.exp(u[1:]) - u[:-1], u).toarray().astype(int)
    array([[1, 1, 0],
           [0, 1, 1]])
    """
    scal = _scalar_outputs(outputs)
    if scal is not None:
        J = _scalar_jacobian(scal, _scalar_vars(vars), False)
        P = J.pattern.astype(bool)
    else:
        vs = _Variables(vars if isinstance(vars, list | tuple) else [vars])
        root = _stack_rows(outputs_as_arrays(outputs))
        P = _array_sparsity(root, vs)
        if P is None:
            P = sp.csr_matrix((root.size, vs.n), dtype=bool)
    P = sp.csr_matrix(P)
    P.sum_duplicates()
    P.sort_indices()
    return P


__all__ = ["jacobian", "jvp", "sparsity", "SparseJacobian"]
