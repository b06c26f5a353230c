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
    FFT,
    ArrayConst,
    ArraySym,
    ArrayTerm,
    Linear,
    Map,
    array_nodes,
    element_terms,
    placeholders_in,
    substitute_placeholders,
)
from pdeflow.symbolic.terms import Sym, Term, add, mul, num, placeholder

#: longest run of one loop; long runs are split so parallel loops balance
RUN_CHUNK = 4096
#: placeholders from this index on stand for per-element weights, not loads
COEF_BASE = 1 << 20
#: most entries per row of a constant linear map inlined into a loop as a stencil
MAX_STENCIL = 9


@dataclass(frozen=True)
class Buffer:
    """A flat float64 array: ``kind`` is 'y', 'out', 'tmp' or 'const'."""

    name: str
    kind: str
    size: int
    base: int = 0  # element offset inside the named array ('y' and 'out' views)
    stride: int = 1  # element k lives at base + stride * k

    def positions(self, local) -> np.ndarray:
        """Positions in the named array of local element indices."""
        return self.base + self.stride * np.asarray(local, dtype=np.int64)


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
    sources: list  # Buffer per load placeholder 0..L-1
    size: int
    runs: np.ndarray | None = None
    runs_name: str = ""
    index: list | None = None  # source positions per load, (size,) int64 each
    index_names: list = field(default_factory=list)
    coefs: list = field(default_factory=list)  # per-element weights, placeholder COEF_BASE + c
    coef_runs: np.ndarray | None = None  # (R, C) weights per run
    coef_runs_name: str = ""
    coef_names: list = field(default_factory=list)
    strides: list = field(default_factory=list)  # per load: src[stride*k + d]


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
class FFTStep:
    """``dsts[part] = part(numpy.fft.<kind>(src reshaped to in_shape, s, axes, norm))``.

    ``sources`` is one buffer (a real input) or two (real and imaginary parts);
    ``dsts`` maps ``"re"``/``"im"`` to the buffers of the parts that are used.
    """

    dsts: dict
    sources: list
    kind: str
    in_shape: tuple
    s: tuple
    axes: tuple
    norm: str


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


def _stencil(node: Linear):
    """``(source, cols (m, K), weights (m, K))`` for a one-source map with few entries per row.

    Entries of each row are ordered by their offset ``col - row`` so that a
    slot means the same neighbour on every interior row; rows with fewer
    entries are padded with weight 0.
    """
    if len(node.args) != 1 or node.offset is not None:
        return None
    b = sp.csr_matrix(node.blocks[0])
    counts = np.diff(b.indptr)
    m = node.size
    if m == 0 or counts.max(initial=0) > MAX_STENCIL:
        return None
    K = int(counts.max(initial=0))
    if K == 0:
        return None
    rows = np.repeat(np.arange(m), counts)
    # align slots by neighbour offset when few offsets occur: then a slot reads the same
    # neighbour on every row, boundary rows included (missing neighbours get weight 0)
    firsts = b.indices[b.indptr[:-1][counts > 0]].astype(np.int64)
    stride = _dominant_stride(firsts) if firsts.size > 1 else 1
    rel_s = b.indices.astype(np.int64) - stride * rows
    offsets = np.unique(rel_s)
    if offsets.size <= MAX_STENCIL:
        n_src = node.args[0].size
        cols = stride * np.arange(m)[:, None] + offsets[None, :]
        # a missing neighbour beyond the source's ends (weight 0) reads the row's own
        # position instead: the same shift along a boundary row, so the row stays one run
        # (clipping to the ends would give every boundary element a shift of its own)
        outside = (cols < 0) | (cols > n_src - 1)
        home = np.clip(stride * np.arange(m), 0, max(n_src - 1, 0))
        cols = np.where(outside, home[:, None], cols)
        w = np.zeros((m, offsets.size))
        slot = np.searchsorted(offsets, rel_s)
        cols[rows, slot] = b.indices
        w[rows, slot] = b.data
        return node.args[0], cols.astype(np.int64), w
    rel = b.indices.astype(np.int64) - rows
    order = np.lexsort((rel, rows))
    slot = np.arange(b.nnz) - np.repeat(b.indptr[:-1], counts)
    cols = np.zeros((m, K), dtype=np.int64)
    w = np.zeros((m, K))
    first = np.where(counts > 0, b.indices[np.minimum(b.indptr[:-1], max(b.nnz - 1, 0))], 0)
    cols[:] = first[:, None]
    cols[rows, slot] = b.indices[order]
    w[rows, slot] = b.data[order]
    return node.args[0], cols, w


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

    key_of = {
        (s.name, ix.tobytes()): i for i, (s, ix) in enumerate(zip(a.sources, a.index, strict=True))
    }
    ren = {}
    for i, (sb, ix) in enumerate(zip(b.sources, b.index, strict=True)):
        k = (sb.name, ix.tobytes())
        if k not in key_of:
            key_of[k] = len(a.sources)
            a.sources.append(sb)
            a.index.append(ix)
        ren[placeholder(i)] = placeholder(key_of[k])
    ckey = {c.tobytes(): j for j, c in enumerate(a.coefs)}
    for j, c in enumerate(b.coefs):
        k = c.tobytes()
        if k not in ckey:
            ckey[k] = len(a.coefs)
            a.coefs.append(c)
        ren[placeholder(COEF_BASE + j)] = placeholder(COEF_BASE + ckey[k])
    for tm in b.templates:
        a.templates.append(substitute_placeholders(tm, ren))
    a.dsts.extend(b.dsts)


class _Loads:
    """Numbering of the loads and weights of one map step (deduplicated)."""

    def __init__(self):
        self.sources: list = []
        self.index: list = []
        self.coefs: list = []
        self._key: dict = {}
        self._ckey: dict = {}

    def load(self, buf: Buffer, pos: np.ndarray):
        from pdeflow.symbolic.terms import placeholder

        k = (buf.name, pos.tobytes())
        i = self._key.get(k)
        if i is None:
            i = self._key[k] = len(self.sources)
            self.sources.append(buf)
            self.index.append(pos)
        return placeholder(i)

    def coef(self, w: np.ndarray):
        from pdeflow.symbolic.terms import placeholder

        k = w.tobytes()
        j = self._ckey.get(k)
        if j is None:
            j = self._ckey[k] = len(self.coefs)
            self.coefs.append(np.ascontiguousarray(w, dtype=np.float64))
        return placeholder(COEF_BASE + j)


def _dominant_stride(pos: np.ndarray) -> int:
    """The most common step between consecutive positions (1 for short arrays)."""
    if pos.size < 2:
        return 1
    d = np.diff(pos)
    vals, counts = np.unique(d, return_counts=True)
    s = int(vals[np.argmax(counts)])
    return s if s > 0 else 1


def _nice_float(v: float):
    f = float(v)
    return int(f) if f.is_integer() and abs(f) < 2**53 else f


def lower_arrays(roots: list[ArrayTerm], inputs: list, params: list, time: Sym | None) -> Program:
    """Lower traced array outputs to a :class:`Program`.

    One step per node kind: elementwise maps become :class:`MapStep` loops (with pure
    gathers and small stencils inlined as reads), constant linear maps :class:`CsrStep`,
    transforms :class:`FFTStep`; then each map gets its run table.

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

    Returns
    -------
    Program

    Examples
    --------
    >>> import numpy as np
    >>> from pdeflow.symbolic import array
    >>> u = array("u", (4,))
    >>> prog = lower_arrays([(u * np.roll(u, 1)).term], [u.term], [], None)
    >>> [type(st).__name__ for st in prog.steps], prog.n_out
    (['MapStep'], 4)
    """
    offsets, n_in = _input_offsets(inputs)
    p_offsets, scalar_params, n_p = _param_offsets(params, offsets)
    nodes = array_nodes(roots)
    scalar_params += _element_params(nodes, p_offsets, scalar_params)
    _check_leaves(nodes, offsets, p_offsets, scalar_params, time)
    low = _Lowering(offsets, p_offsets)
    low.place_outputs(roots)
    low.plan_inlining(nodes)
    for nd in nodes:
        t = type(nd)
        if t in (ArraySym, ArrayConst) or nd in low.inlined or nd in low.stencils:
            continue
        if t is FFT:
            low.fft_step(nd)
        elif t is Map:
            low.map_step(nd)
        elif t is Linear:
            low.linear_step(nd)
    low.copy_leaf_roots(roots)
    for st in low.steps:
        if isinstance(st, MapStep):
            _plan_runs(st, low.name)
    return Program(
        steps=low.steps,
        n_in=n_in,
        n_out=sum(r.size for r in roots),
        out_shape=(sum(r.size for r in roots),),
        params=list(params),
        time=time,
        inputs=list(inputs),
        temps=low.temps,
        consts=low.consts,
        input_offsets=offsets,
        param_slots=dict(scalar_params),
        n_p=n_p,
    )


def _input_offsets(inputs: list) -> tuple[dict, int]:
    """``({ArraySym: offset in y}, n_in)``."""
    offsets: dict = {}
    n_in = 0
    for a in inputs:
        if not isinstance(a, ArraySym):
            raise CompilationError(f"inputs must be symbolic arrays, got {type(a).__name__}")
        if a in offsets:
            raise CompilationError(f"input array {a.name!r} given twice")
        offsets[a] = n_in
        n_in += a.size
    return offsets, n_in


def _param_offsets(params: list, offsets: dict) -> tuple[dict, list, int]:
    """Parameters stacked into ``p``: ``({ArraySym: offset}, [(Sym, slot)], n_p)``."""
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
    return p_offsets, scalar_params, n_p


def _element_params(nodes: list, p_offsets: dict, scalar_params: list) -> list:
    """Element symbols of a parameter array (``k[2]``, from ``k.item(2)``) and their slots."""
    known = {s for s, _ in scalar_params}
    if not p_offsets or not any(
        type(nd) is Map and nd.template.free_symbols - known for nd in nodes
    ):
        return []
    return [(e, off + j) for s, off in p_offsets.items()
            for j, e in enumerate(element_terms(s).ravel())]


def _check_leaves(nodes, offsets, p_offsets, scalar_params, time) -> None:
    """Every array leaf is an input or parameter; every template symbol a parameter or t."""
    allowed = {s for s, _ in scalar_params} | ({time} if time is not None else set())
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


def _direct_slices(r: Linear, base: int, out_place: dict) -> list:
    """Maps stacked by root ``r`` that can write their rows of ``out`` themselves."""
    direct = []
    # how many arguments write each row: a map may only own rows nobody else adds to
    writers = np.zeros(r.size, dtype=np.int64)
    for b in r.blocks:
        writers += np.diff(b.indptr) > 0
    for a, b in zip(r.args, r.blocks, strict=True):
        if type(a) is not Map or a in out_place or a.size == 0:
            continue
        rows = np.nonzero(np.diff(b.indptr))[0]
        if np.any(writers[rows] != 1):
            continue
        if rows.size != a.size or b.nnz != a.size:
            continue
        if not (np.all(b.data == 1.0) and np.array_equal(b.indices, np.arange(a.size))):
            continue
        # rows form an arithmetic progression: the map writes out[base + s*k]
        stride = int(rows[1] - rows[0]) if a.size > 1 else 1
        if stride > 0 and np.array_equal(rows, rows[0] + stride * np.arange(a.size)):
            out_place[a] = Buffer("out", "out", a.size, base + int(rows[0]), stride)
            direct.append(a)
    return direct


def _plan_runs(st: MapStep, name: _Namer) -> None:
    """Strides, table names and (when runs are few) the run table of a map step."""
    ar = np.arange(st.size, dtype=np.int64)
    st.strides = [_dominant_stride(p) for p in st.index]
    shifts = [p - sd * ar for p, sd in zip(st.index, st.strides, strict=True)]
    # weights change -> new run: encode them as extra (exact) integer keys
    keys = shifts + [np.unique(c, return_inverse=True)[1].astype(np.int64) for c in st.coefs]
    runs = _runs(keys, st.size)
    st.index_names = [name("i") for _ in st.index]
    st.coef_names = [name("cw") for _ in st.coefs]
    if runs.shape[0] <= max(8, st.size // 4):
        n_l = len(st.index)
        st.runs = np.ascontiguousarray(runs[:, : 2 + n_l])
        st.runs_name = name("r")
        if st.coefs:
            starts = runs[:, 0]
            st.coef_runs = np.stack([c[starts] for c in st.coefs], axis=1)
            st.coef_runs_name = name("rcw")


def _csr_names(name: _Namer, consts: dict, b, sb: Buffer) -> tuple:
    """Register the (indptr, source positions, data) tables of block ``b`` reading ``sb``."""
    nms = (name("ip"), name("ix"), name("dv"))
    consts[nms[0]] = b.indptr.astype(np.int64)
    consts[nms[1]] = sb.positions(b.indices)
    consts[nms[2]] = b.data.astype(np.float64)
    return nms


class _Lowering:
    """The state of one :func:`lower_arrays`: buffers, tables and steps so far."""

    def __init__(self, offsets: dict, p_offsets: dict):
        self.offsets, self.p_offsets = offsets, p_offsets
        self.name = _Namer()
        self.consts: dict = {}
        self.steps: list = []
        self.temps: list = []
        self.buf_of: dict = {}
        self.out_place: dict = {}
        self.covered: list = []
        self.inlined: dict = {}
        self.stencils: dict = {}
        self.fft_steps: dict = {}

    def place_outputs(self, roots: list) -> None:
        """Roots (and contiguous identity blocks of a root gather) write into out."""
        o = 0
        for r in roots:
            if type(r) in (Map, Linear, FFT):
                self.out_place[r] = Buffer("out", "out", r.size, o)
            o += r.size
        # a stacked root (np.stack/concatenate of maps): each map writes its slice directly
        for r in roots:
            if type(r) is Linear and self.out_place.get(r) is not None and r.offset is None:
                direct = _direct_slices(r, self.out_place[r].base, self.out_place)
                self.covered.append((r, direct))

    def buffer(self, nd) -> Buffer:
        """The buffer holding node ``nd`` (created on first use)."""
        b = self.buf_of.get(nd)
        if b is not None:
            return b
        t = type(nd)
        if t is ArraySym:
            if nd in self.p_offsets:
                b = Buffer("p", "p", nd.size, self.p_offsets[nd])
            else:
                b = Buffer("y", "y", nd.size, self.offsets[nd])
        elif t is ArrayConst:
            nm = self.name("c")
            self.consts[nm] = nd.values.reshape(-1).astype(np.float64)
            b = Buffer(nm, "const", nd.size)
        elif nd in self.out_place:
            b = self.out_place[nd]
        else:
            b = Buffer(self.name("b"), "tmp", nd.size)
            self.temps.append(b)
        self.buf_of[nd] = b
        return b

    def plan_inlining(self, nodes: list) -> None:
        """Linear nodes read only by maps: pure gathers and small stencils become reads."""
        consumers: dict = {}
        for nd in nodes:
            if type(nd) in (Linear, Map, FFT):
                for a in nd.args:
                    consumers.setdefault(a, []).append(nd)
        for nd in nodes:
            if type(nd) is Linear and nd not in self.out_place:
                if not all(type(c) is Map for c in consumers.get(nd, [])):
                    continue
                g = _pure_gather(nd)
                if g is not None:
                    self.inlined[nd] = g
                else:
                    st = _stencil(nd)
                    if st is not None:
                        self.stencils[nd] = st

    def fft_step(self, nd: FFT) -> None:
        """The real and imaginary parts of one transform share one FFT step."""
        key = (nd.kind, nd.axes, nd.s, nd.norm, nd.args)
        step = self.fft_steps.get(key)
        if step is None:
            step = self.fft_steps[key] = FFTStep(
                {}, [self.buffer(a) for a in nd.args], nd.kind, nd.args[0].shape, nd.s,
                nd.axes, nd.norm)
            self.steps.append(step)
        step.dsts[nd.part] = self.buffer(nd)

    def _read(self, a, loads: _Loads) -> Term:
        """The template term reading argument ``a`` of a map (a load, weight or stencil)."""
        if type(a) is ArrayConst:
            # constant data become per-element weights: piecewise-constant ones
            # (masks, coefficients) then live in the run table, not in memory traffic
            return loads.coef(a.values.reshape(-1).astype(np.float64))
        if a in self.inlined and type(self.inlined[a][0]) is ArrayConst:
            src, cols = self.inlined[a]
            return loads.coef(src.values.reshape(-1).astype(np.float64)[cols])
        if a in self.inlined:
            src, cols = self.inlined[a]
            sb = self.buffer(src)
            return loads.load(sb, sb.positions(cols))
        if a in self.stencils:
            src, cols, w = self.stencils[a]
            sb = self.buffer(src)
            terms = []
            for j in range(cols.shape[1]):
                wj = w[:, j]
                if not np.any(wj):
                    continue
                x = loads.load(sb, sb.positions(cols[:, j]))
                if np.all(wj == wj[0]):
                    terms.append(mul(num(_nice_float(wj[0])), x))
                else:
                    terms.append(mul(loads.coef(wj), x))
            return add(*terms)
        sb = self.buffer(a)
        return loads.load(sb, sb.positions(np.arange(a.size)))

    def map_step(self, nd: Map) -> None:
        """One loop; fused into the previous map loop of the same size when it may."""
        used = placeholders_in(nd.template)
        loads = _Loads()
        mapping = {placeholder(i): self._read(a, loads)
                   for i, a in enumerate(nd.args) if i in used}
        template = substitute_placeholders(nd.template, mapping)
        sources, index = loads.sources, loads.index
        dst = self.buffer(nd)
        step = MapStep([dst], [template], sources, nd.size, index=index, coefs=loads.coefs)
        prev = self.steps[-1] if self.steps else None
        if (
            isinstance(prev, MapStep)
            and prev.size == nd.size
            and not (
                {d.name for d in prev.dsts if d.kind == "tmp"}
                & {b.name for b in sources if b is not None}
            )
        ):
            _merge_into(prev, step)
        else:
            self.steps.append(step)

    def linear_step(self, nd: Linear) -> None:
        """A constant sparse linear map; rows that stacked maps write themselves are skipped."""
        dst = self.buffer(nd)
        skip = set()
        for r, direct in self.covered:
            if r is nd:
                skip = set(direct)
        srcs, blocks, names = [], [], []
        for a, b in zip(nd.args, nd.blocks, strict=True):
            if a in skip:
                continue
            sb = self.buffer(a) if a not in self.inlined else None
            if sb is None:
                # a pure gather feeding a CSR step: compose its selection into the block
                src, cols = self.inlined[a]
                sb = self.buffer(src)
                sel = sp.csr_matrix(
                    (np.ones(cols.size), (np.arange(cols.size), cols)), shape=(a.size, src.size)
                )
                b = sp.csr_matrix(b @ sel)
            b = sp.csr_matrix(b)
            b.sort_indices()
            srcs.append(sb)
            blocks.append(b)
            names.append(_csr_names(self.name, self.consts, b, sb))
        off = nd.offset
        step = CsrStep(dst, srcs, blocks, names, off)
        if skip:
            covered_rows = np.zeros(nd.size, dtype=bool)
            for a, b in zip(nd.args, nd.blocks, strict=True):
                if a in skip:
                    covered_rows[np.diff(b.indptr) > 0] = True
            step.rows = np.nonzero(~covered_rows)[0].astype(np.int64)
            step.rows_name = self.name("rows")
            self.consts[step.rows_name] = step.rows
            if step.rows.size == 0:
                return
        if off is not None:
            step.offset_name = self.name("o")
            self.consts[step.offset_name] = off.astype(np.float64)
        self.steps.append(step)

    def copy_leaf_roots(self, roots: list) -> None:
        """Roots that are plain inputs or constants: copied into out."""
        o = 0
        for r in roots:
            if type(r) in (ArraySym, ArrayConst):
                sb = self.buffer(r)
                blk = sp.identity(r.size, format="csr")
                nms = _csr_names(self.name, self.consts, blk, sb)
                self.steps.append(
                    CsrStep(Buffer("out", "out", r.size, o), [sb], [blk], [nms], None))
            o += r.size


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
        steps=[ScalarStep(out, list(exprs))],
        n_in=len(inputs),
        n_out=len(exprs),
        out_shape=(len(exprs),),
        params=list(params),
        time=time,
        inputs=list(inputs),
        temps=[],
        consts={},
        input_offsets=offsets,
        kind="scalar",
        param_slots={s: j for j, s in enumerate(params)},
        n_p=len(params),
    )


__all__ = [
    "Program", "MapStep", "CsrStep", "FFTStep", "ScalarStep", "Buffer", "lower_arrays",
    "lower_scalars",
]
