"""Lowering: an array DAG (or a list of scalar terms) to a target-neutral program.

The program is a list of steps over flat float64 buffers:

* :class:`MapStep` -- one loop ``dst[k] = template(src_0[acc_0(k)], ...)``.
  Arguments that are pure gathers (slices, rolls, pads of one source) are
  *not* materialized: each is read through an access ``src[k + d(k)]``,
  where the shift ``d`` is piecewise constant over runs of ``k``.  The run
  table (start, stop, d_0, d_1, ...) is the "family" of equations that share
  one stencil: a 2-D grid has the interior plus a few boundary groups.  When
  the shifts are not piecewise constant (irregular gathers), per-element
  index arrays are used instead.
* :class:`CsrStep` -- a general constant sparse linear map (matrix products,
  sums, means).
* :class:`ScalarStep` -- straight-line code for irregular scalar systems,
  split into chunks.

Buffers: ``y`` (the flat inputs), ``p`` (parameters), ``out`` (the result)
and temporaries ``b<i>``; constants ``c<i>``; tables ``r<i>``/``i<i>``.
Only these generated names appear in code: no user string reaches a
generated source.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from pdeflow.errors import CompilationError
from pdeflow.symbolic.arrays import (
    ArrayConst,
    ArraySym,
    ArrayTerm,
    Linear,
    Map,
    array_nodes,
    placeholders_in,
)
from pdeflow.symbolic.terms import Sym, Term

#: longest run of one loop; long runs are split so parallel loops balance
RUN_CHUNK = 4096


@dataclass(frozen=True)
class Buffer:
    """A flat float64 array: ``kind`` is 'y', 'out', 'tmp' or 'const'."""

    name: str
    kind: str
    size: int
    base: int = 0  # element offset inside the named array ('y' and 'out' views)


@dataclass
class MapStep:
    """``dsts[j][base + k] = templates[j](args)`` for ``k`` in ``range(size)``.

    One loop computes several same-sized outputs, sharing their loads and
    common subexpressions.  ``sources[i]`` is the buffer argument ``i`` reads
    from (``None`` if unused).  With ``runs`` (R, 2 + n_used): for each run,
    ``k`` in ``[start, stop)`` reads ``src_i[k + d_i]``.  Otherwise it reads
    ``src_i[index_i[k]]``.
    """

    dsts: list
    templates: list
    sources: list
    size: int
    runs: np.ndarray | None = None
    runs_name: str = ""
    index: list | None = None
    index_names: list = field(default_factory=list)


@dataclass
class CsrStep:
    """``dst[base + r] = offset[r] + sum_j (blocks_j @ src_j)[r]`` over ``rows`` (or all)."""

    dst: Buffer
    sources: list
    blocks: list  # csr matrices, columns are absolute positions in the source arrays
    names: list  # (indptr, indices, data) names per block
    offset: np.ndarray | None
    offset_name: str = ""
    rows: np.ndarray | None = None  # rows of dst to write (all when None)
    rows_name: str = ""


@dataclass
class ScalarStep:
    """Straight-line code ``dst[j] = exprs[j]`` for irregular systems."""

    dst: Buffer
    exprs: list


@dataclass
class Program:
    """A lowered computation, ready for a backend."""

    steps: list
    n_in: int
    n_out: int
    out_shape: tuple
    params: list  # Sym, in the order of p
    time: Sym | None
    inputs: list  # ArraySym or Sym, in the order of y
    temps: list  # Buffer
    consts: dict  # name -> ndarray (int64 or float64)
    input_offsets: dict  # ArraySym/Sym -> offset in y
    kind: str = "array"  # or "scalar"
    param_slots: dict = field(default_factory=dict)  # scalar Sym -> index in p
    n_p: int = 0

    def leaf_symbols(self) -> dict:
        """Scalar symbols allowed in templates, mapped to ('p', j) or ('t',)."""
        d = {s: ("p", j) for s, j in self.param_slots.items()}
        if self.time is not None:
            d[self.time] = ("t",)
        return d


class _Namer:
    def __init__(self):
        self.n = {}

    def __call__(self, prefix: str) -> str:
        i = self.n.get(prefix, 0)
        self.n[prefix] = i + 1
        return f"{prefix}{i}"


def _pure_gather(node: Linear) -> tuple[ArrayTerm, np.ndarray] | None:
    """``(source, col index per row)`` if ``node`` copies one element per row, unscaled."""
    if len(node.args) != 1 or node.offset is not None:
        return None
    b = node.blocks[0]
    if b.nnz != node.size or not np.array_equal(b.indptr, np.arange(node.size + 1)):
        return None
    if not np.all(b.data == 1.0):
        return None
    return node.args[0], b.indices


def _runs(shifts: list[np.ndarray], m: int) -> np.ndarray:
    """Run table: rows (start, stop, d_0, ...) where all shifts are constant."""
    if m == 0:
        return np.zeros((0, 2 + len(shifts)), dtype=np.int64)
    if shifts:
        D = np.stack(shifts, axis=1)
        change = np.any(D[1:] != D[:-1], axis=1)
        starts = np.concatenate(([0], np.nonzero(change)[0] + 1))
    else:
        D = np.zeros((m, 0), dtype=np.int64)
        starts = np.array([0])
    stops = np.concatenate((starts[1:], [m]))
    # split long runs into chunks (parallel balance)
    lens = stops - starts
    nchunks = np.maximum(1, (lens + RUN_CHUNK - 1) // RUN_CHUNK)
    s2 = np.repeat(starts, nchunks) + RUN_CHUNK * (
        np.arange(nchunks.sum()) - np.repeat(np.cumsum(nchunks) - nchunks, nchunks)
    )
    e2 = np.minimum(s2 + RUN_CHUNK, np.repeat(stops, nchunks))
    dd = D[np.repeat(starts, nchunks)]
    return np.concatenate([s2[:, None], e2[:, None], dd], axis=1).astype(np.int64)


def _merge_into(a: MapStep, b: MapStep) -> None:
    """Fuse map step ``b`` into ``a`` (same size): shared reads become shared placeholders."""
    from pdeflow.symbolic.arrays import substitute_placeholders
    from pdeflow.symbolic.terms import placeholder

    # a.index is aligned with the used sources of a (in order)
    a_used = [i for i, s in enumerate(a.sources) if s is not None]
    key_of = {}
    for j, i in enumerate(a_used):
        key_of[(a.sources[i].name, a.index[j].tobytes())] = i
    b_used = [i for i, s in enumerate(b.sources) if s is not None]
    ren = {}
    for j, i in enumerate(b_used):
        k = (b.sources[i].name, b.index[j].tobytes())
        if k in key_of:
            ren[placeholder(i)] = placeholder(key_of[k])
        else:
            new_i = len(a.sources)
            a.sources.append(b.sources[i])
            a.index.append(b.index[j])
            key_of[k] = new_i
            ren[placeholder(i)] = placeholder(new_i)
    for tm in b.templates:
        a.templates.append(substitute_placeholders(tm, ren))
    a.dsts.extend(b.dsts)


def lower_arrays(
    roots: list[ArrayTerm], inputs: list, params: list, time: Sym | None
) -> Program:
    """Lower traced array outputs to a :class:`Program`.

    Parameters
    ----------
    roots : list of ArrayTerm
        Outputs; flattened and stacked into ``out``.
    inputs : list of ArraySym
        Flattened and stacked into ``y``, in order.
    params : list of Sym
        The entries of ``p``, in order.
    time : Sym or None
        The time symbol ``t``.
    """
    name = _Namer()
    offsets: dict = {}
    n_in = 0
    for a in inputs:
        if not isinstance(a, ArraySym):
            raise CompilationError(f"inputs must be symbolic arrays, got {type(a).__name__}")
        if a in offsets:
            raise CompilationError(f"input array {a.name!r} given twice")
        offsets[a] = n_in
        n_in += a.size
    # parameters: scalar symbols and whole parameter arrays, stacked into p
    p_offsets: dict = {}
    scalar_params: list = []
    n_p = 0
    for s in params:
        if isinstance(s, ArraySym):
            if s in offsets:
                raise CompilationError(f"array {s.name!r} is both an input and a parameter")
            p_offsets[s] = n_p
            n_p += s.size
        elif isinstance(s, Sym):
            scalar_params.append((s, n_p))
            n_p += 1
        else:
            raise CompilationError(f"parameters must be symbols or symbolic arrays, got {s!r}")
    n_out = sum(r.size for r in roots)
    allowed = {s for s, _ in scalar_params} | ({time} if time is not None else set())
    nodes = array_nodes(roots)
    for nd in nodes:
        if type(nd) is ArraySym and nd not in offsets and nd not in p_offsets:
            raise CompilationError(
                f"the outputs depend on the array {nd.name!r}, which is not among the inputs"
            )
        if type(nd) is Map:
            extra = nd.template.free_symbols - allowed
            if extra:
                names = ", ".join(sorted(s.name for s in extra))
                raise CompilationError(
                    f"the outputs depend on symbol(s) {names}, which are neither parameters "
                    "nor the time variable; pass them in params="
                )

    consts: dict = {}
    steps: list = []
    temps: list = []
    buf_of: dict = {}

    # Output placement: roots (and contiguous identity blocks of a root gather) write into out.
    out_place: dict = {}
    covered = []
    o = 0
    for r in roots:
        if type(r) in (Map, Linear):
            out_place[r] = Buffer("out", "out", r.size, o)
        elif type(r) is ArraySym or type(r) is ArrayConst:
            pass
        o += r.size
    # A stacked root (np.stack/concatenate of maps): let each map write its slice directly.
    for r in roots:
        if type(r) is Linear and out_place.get(r) is not None and r.offset is None:
            base = out_place[r].base
            direct = []
            for a, b in zip(r.args, r.blocks, strict=True):
                if type(a) is not Map or a in out_place:
                    continue
                rows = np.nonzero(np.diff(b.indptr))[0]
                if rows.size != a.size or b.nnz != a.size:
                    continue
                if np.all(b.data == 1.0) and np.array_equal(b.indices, np.arange(a.size)) and \
                        rows[-1] - rows[0] == a.size - 1 if a.size else False:
                    out_place[a] = Buffer("out", "out", a.size, base + int(rows[0]))
                    direct.append(a)
            covered.append((r, direct))

    def buffer(nd) -> Buffer:
        b = buf_of.get(nd)
        if b is not None:
            return b
        t = type(nd)
        if t is ArraySym:
            if nd in p_offsets:
                b = Buffer("p", "p", nd.size, p_offsets[nd])
            else:
                b = Buffer("y", "y", nd.size, offsets[nd])
        elif t is ArrayConst:
            nm = name("c")
            consts[nm] = nd.values.reshape(-1).astype(np.float64)
            b = Buffer(nm, "const", nd.size)
        elif nd in out_place:
            b = out_place[nd]
        else:
            b = Buffer(name("b"), "tmp", nd.size)
            temps.append(b)
        buf_of[nd] = b
        return b

    # Which Linear nodes are inlined as accesses (pure gathers read only by maps)?
    consumers: dict = {}
    for nd in nodes:
        if type(nd) in (Linear, Map):
            for a in nd.args:
                consumers.setdefault(a, []).append(nd)
    inlined: dict = {}
    for nd in nodes:
        if type(nd) is Linear and nd not in out_place:
            g = _pure_gather(nd)
            if g is not None and all(type(c) is Map for c in consumers.get(nd, [])):
                inlined[nd] = g

    for nd in nodes:
        t = type(nd)
        if t in (ArraySym, ArrayConst) or nd in inlined:
            continue
        if t is Map:
            used = placeholders_in(nd.template)
            sources, shifts, index = [], [], []
            for i, a in enumerate(nd.args):
                if i not in used:
                    sources.append(None)
                    continue
                if a in inlined:
                    src, cols = inlined[a]
                    sb = buffer(src)
                    pos = cols.astype(np.int64) + sb.base
                else:
                    sb = buffer(a)
                    pos = np.arange(a.size, dtype=np.int64) + sb.base
                sources.append(sb)
                index.append(pos)
                shifts.append(pos - np.arange(nd.size, dtype=np.int64))
            dst = buffer(nd)
            step = MapStep([dst], [nd.template], sources, nd.size, index=index)
            prev = steps[-1] if steps else None
            if isinstance(prev, MapStep) and prev.size == nd.size and not (
                {d.name for d in prev.dsts if d.kind == "tmp"}
                & {b.name for b in sources if b is not None}
            ):
                _merge_into(prev, step)
            else:
                steps.append(step)
        elif t is Linear:
            dst = buffer(nd)
            skip = set()
            for r, direct in covered:
                if r is nd:
                    skip = set(direct)
            srcs, blocks, names = [], [], []
            for a, b in zip(nd.args, nd.blocks, strict=True):
                if a in skip:
                    continue
                sb = buffer(a) if a not in inlined else None
                if sb is None:
                    # a pure gather feeding a CSR step: compose its selection into the block
                    src, cols = inlined[a]
                    sb = buffer(src)
                    sel = sp.csr_matrix(
                        (np.ones(cols.size), (np.arange(cols.size), cols)), shape=(a.size, src.size)
                    )
                    b = sp.csr_matrix(b @ sel)
                b = sp.csr_matrix(b)
                b.sort_indices()
                nms = (name("ip"), name("ix"), name("dv"))
                consts[nms[0]] = b.indptr.astype(np.int64)
                consts[nms[1]] = b.indices.astype(np.int64) + sb.base
                consts[nms[2]] = b.data.astype(np.float64)
                srcs.append(sb)
                blocks.append(b)
                names.append(nms)
            off = nd.offset
            step = CsrStep(dst, srcs, blocks, names, off)
            if skip:
                covered_rows = np.zeros(nd.size, dtype=bool)
                for a, b in zip(nd.args, nd.blocks, strict=True):
                    if a in skip:
                        covered_rows[np.diff(b.indptr) > 0] = True
                step.rows = np.nonzero(~covered_rows)[0].astype(np.int64)
                step.rows_name = name("w")
                consts[step.rows_name] = step.rows
                if step.rows.size == 0:
                    continue
            if off is not None:
                step.offset_name = name("o")
                consts[step.offset_name] = off.astype(np.float64)
            steps.append(step)

    # Roots that are plain inputs or constants: copy.
    o = 0
    for r in roots:
        if type(r) in (ArraySym, ArrayConst):
            sb = buffer(r)
            blk = sp.identity(r.size, format="csr")
            nms = (name("ip"), name("ix"), name("dv"))
            consts[nms[0]] = blk.indptr.astype(np.int64)
            consts[nms[1]] = blk.indices.astype(np.int64) + sb.base
            consts[nms[2]] = blk.data.astype(np.float64)
            steps.append(CsrStep(Buffer("out", "out", r.size, o), [sb], [blk], [nms], None))
        o += r.size

    for st in steps:
        if isinstance(st, MapStep):
            used = [i for i, b in enumerate(st.sources) if b is not None]
            pos = [st.index[j] for j in range(len(used))]
            runs = _runs([p - np.arange(st.size, dtype=np.int64) for p in pos], st.size)
            st.index_names = [name("i") for _ in used]
            if runs.shape[0] <= max(8, st.size // 8):
                st.runs = runs
                st.runs_name = name("r")
    return Program(
        steps=steps, n_in=n_in, n_out=n_out, out_shape=(n_out,), params=list(params), time=time,
        inputs=list(inputs), temps=temps, consts=consts, input_offsets=offsets,
        param_slots=dict(scalar_params), n_p=n_p,
    )


def lower_scalars(exprs: list[Term], inputs: list[Sym], params: list, time: Sym | None) -> Program:
    """Lower a list of scalar output terms over scalar input symbols (irregular systems)."""
    offsets = {}
    for j, s in enumerate(inputs):
        if not isinstance(s, Sym):
            raise CompilationError(f"scalar inputs must be symbols, got {type(s).__name__}")
        if s in offsets:
            raise CompilationError(f"input symbol {s.name!r} given twice")
        offsets[s] = j
    allowed = set(inputs) | set(params) | ({time} if time is not None else set())
    for e in exprs:
        extra = e.free_symbols - allowed
        if extra:
            names = ", ".join(sorted(s.name for s in extra)[:5])
            raise CompilationError(
                f"the outputs depend on symbol(s) {names}, which are neither inputs, parameters "
                "nor the time variable"
            )
    out = Buffer("out", "out", len(exprs), 0)
    for s in params:
        if not isinstance(s, Sym):
            raise CompilationError(f"parameters of a scalar system must be symbols, got {s!r}")
    return Program(
        steps=[ScalarStep(out, list(exprs))], n_in=len(inputs), n_out=len(exprs),
        out_shape=(len(exprs),), params=list(params), time=time, inputs=list(inputs), temps=[],
        consts={}, input_offsets=offsets, kind="scalar",
        param_slots={s: j for j, s in enumerate(params)}, n_p=len(params),
    )


__all__ = ["Program", "MapStep", "CsrStep", "ScalarStep", "Buffer", "lower_arrays", "lower_scalars"]
