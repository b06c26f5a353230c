"""Source generation for every target from one lowered :class:`Program`.

Each backend is a function ``program -> (source, const_names)`` producing a
module whose function ``kernel(out, y, p, t, *temps, *consts)`` (loop
targets) or ``kernel(y, p, t, *consts) -> out`` (functional targets) computes
the program.  All names in the source are generated here.
"""

from __future__ import annotations

import re

import numpy as np

from pdeflow.errors import CompilationError
from pdeflow.symbolic.arrays import placeholders_in
from pdeflow.symbolic.codegen.emit import Emitter, literal
from pdeflow.symbolic.codegen.lower import (
    COEF_BASE,
    Buffer,
    CsrStep,
    FFTStep,
    MapStep,
    Program,
    ScalarStep,
)
from pdeflow.symbolic.terms import Placeholder, Sym

#: statements per generated function for straight-line (irregular) code
CHUNK_STATEMENTS = 400


def _arr(b: Buffer) -> str:
    return b.name


def _idx(base: int, k: str, stride: int = 1) -> str:
    kk = f"{stride}*{k}" if stride != 1 else k
    return f"{kk} + {base}" if base else kk


def _dst(b: Buffer, k: str) -> str:
    return f"{b.name}[{_u(_idx(b.base, k, b.stride))}]"


def _u(index: str) -> str:
    """An index Numba may use without its negative-index wraparound test.

    Every generated position is a valid element (lowering computes them from the
    arrays' own sizes), so it is cast to ``uint64``: Numba then skips the sign test and
    add that it emits for each signed index.  Measured on the RD3 kernel at N=128: 108 ->
    68 us per call.
    """
    return f"np.uint64({index})"


def _slot(i: int) -> str:
    """Loop-local name of load ``i`` (``x``) or weight ``i - COEF_BASE`` (``w``)."""
    return f"w{i - COEF_BASE}" if i >= COEF_BASE else f"x{i}"


def _leaf_factory(program: Program, placeholder_code, element_code=None, hoisted=False):
    leaves = program.leaf_symbols()

    def leaf(t):
        if type(t) is Placeholder:
            return placeholder_code(t.index)
        if type(t) is Sym:
            where = leaves.get(t)
            if where is not None:
                if where[0] == "t":
                    return "t"
                # hoisted: parameters read once into locals (stores cannot alias them)
                return f"pv{where[1]}" if hoisted else f"p[{where[1]}]"
            if element_code is not None and t in program.input_offsets:
                return element_code(program.input_offsets[t])
        raise KeyError(f"unbound symbol in generated code: {t!r}")

    return leaf


def const_arrays(program: Program) -> dict:
    """All constant arrays a kernel takes, by generated name (index arrays included)."""
    consts = dict(program.consts)
    for st in program.steps:
        if isinstance(st, MapStep):
            if st.runs is not None:
                consts[st.runs_name] = st.runs
                if st.coef_runs is not None:
                    consts[st.coef_runs_name] = np.ascontiguousarray(st.coef_runs)
            else:
                for nm, ix in zip(st.index_names, st.index, strict=True):
                    consts[nm] = ix
                for nm, c in zip(st.coef_names, st.coefs, strict=True):
                    consts[nm] = c
    return consts


def every_const(program: Program) -> dict:
    """Every constant any backend may ask for: tables, index and weight arrays, runs."""
    out = dict(program.consts)
    out.update(all_index_consts(program))
    for st in program.steps:
        if isinstance(st, MapStep) and st.runs is not None:
            out[st.runs_name] = st.runs
            if st.coef_runs is not None:
                out[st.coef_runs_name] = np.ascontiguousarray(st.coef_runs)
    return out


def all_index_consts(program: Program) -> dict:
    """Per-element index and weight arrays of every map step, by generated name."""
    out = {}
    for st in program.steps:
        if isinstance(st, MapStep):
            out.update(zip(st.index_names, st.index, strict=True))
            out.update(zip(st.coef_names, st.coefs, strict=True))
    return out


def _signature(program: Program, consts: dict) -> list[str]:
    return ["out", "y", "p", "t"] + [b.name for b in program.temps] + list(consts)


# ---------------------------------------------------------------------------
# Loop targets (Numba CPU)
# ---------------------------------------------------------------------------


def numba_source(program: Program, parallel: bool) -> tuple[str, list[str]]:
    """Numba module source; ``kernel(out, y, p, t, *temps, *consts)``.

    A program with FFT steps becomes several compiled segments (the steps between
    transforms) called from a plain Python ``kernel`` that runs each transform with
    ``numpy.fft`` in between, writing into the same scratch arrays.
    """
    consts = const_arrays(program)
    extra: dict = {}
    loop = "prange" if parallel else "range"
    body: list[str] = []
    helpers: list[str] = []
    for n, st in enumerate(program.steps):
        body.append(f"# step {n}: {type(st).__name__}")
        if isinstance(st, MapStep):
            body += _numba_map(program, st, parallel, extra)
        elif isinstance(st, CsrStep) and _scatter_form(st, parallel):
            body += _numba_csr_scatter(st, extra)
        elif isinstance(st, CsrStep):
            body += _numba_csr_rows(st, loop)
        elif isinstance(st, ScalarStep):
            body += _scalar_chunks(program, st, helpers)
        elif isinstance(st, FFTStep):
            comment = body.pop()
            body += [_FFT_MARK, comment, *_numba_fft(st), _FFT_MARK]
    consts.update(extra)
    # only the tables this kernel reads: each array argument costs the dispatcher a type
    # check per call (a serial kernel reads the merged periodic runs, not the plain ones)
    text = "\n".join(body + helpers)
    consts = {n: v for n, v in consts.items() if re.search(rf"\b{re.escape(n)}\b", text)}
    return _numba_module(program, parallel, body, helpers, consts), list(
        _kernel_tables(consts)), extra


def _kernel_tables(consts: dict) -> dict:
    """The tables passed as kernel arguments (small ones are frozen into the module)."""
    return {n: v for n, v in consts.items() if not _freezable(v)}


def _numba_module(program: Program, parallel: bool, body: list, helpers: list,
                  consts: dict) -> str:
    """The module text: frozen tables, helpers, the jitted kernel (or FFT segments)."""
    # small tables become module constants that Numba freezes into the machine code: no
    # argument to type-check per call (a stencil's run tables: a few dozen entries)
    frozen = {n: v for n, v in consts.items() if _freezable(v)}
    sig = ", ".join(_signature(program, _kernel_tables(consts)))
    lines = [
        "import math",
        "import numpy as np",
        "from numba import njit, prange",
        "",
    ]
    lines += [f"{n} = {_array_literal(v)}" for n, v in frozen.items()]
    lines += [""] if frozen else []
    lines += helpers
    hoist = [f"pv{j} = p[{j}]" for j in sorted(set(program.param_slots.values()))]
    jit = f"@njit(cache=True, parallel={bool(parallel)}, fastmath=False, nogil=True)"
    if _FFT_MARK not in body:
        lines += [jit, f"def kernel({sig}):"]
        lines += ["    " + b for b in hoist + body] or ["    pass"]
        lines.append("")
        return "\n".join(lines)
    # compiled segments between the transforms, called from a Python driver
    driver: list[str] = []
    names = [a.strip() for a in sig.split(",")]
    for i, (is_fft, chunk) in enumerate(_split_at_marks(body)):
        if is_fft:
            driver += chunk
        elif any(not ln.lstrip().startswith("#") for ln in chunk):
            lines += [jit, f"def seg{i}({sig}):"]
            lines += ["    " + b for b in hoist + chunk]
            lines.append("")
            driver.append(f"seg{i}({', '.join(names)})")
    lines += [f"def kernel({sig}):"] + ["    " + d for d in driver] + [""]
    return "\n".join(lines)


def _numba_serial_runs(st: MapStep, extra: dict) -> list:
    """Serial run loops ``(header lines, indent)``: periodic runs, the hottest one unrolled."""
    used = range(len(st.sources))
    # serial: runs that repeat with a period (one per grid row) become one entry
    r, rw = f"{st.runs_name}p", f"{st.coef_runs_name}p"
    table, wtable = periodic_runs(st.runs, st.coef_runs)
    loops = []
    hot = _hot_row(table, st.size)
    if hot is not None:
        # the largest group (a grid's interior) gets a loop of its own whose
        # offsets and weights are constants the compiler folds into addresses
        # and arithmetic; the other groups keep the table loop
        row = [int(v) for v in table[hot]]
        head = [f"d{i} = {row[4 + i]}" for i in used]
        head += [f"w{c} = {literal(float(wtable[hot, c]))}" for c in range(len(st.coefs))]
        head += _periodic_loop(row[0], row[1], row[2], row[3])
        loops.append((head, "        "))
        table = np.delete(table, hot, axis=0)
        wtable = np.delete(wtable, hot, axis=0)
    if table.shape[0]:
        extra[r] = table
        if st.coefs:
            extra[rw] = wtable
        head = [f"for q in range({r}.shape[0]):",
                f"    ln = {r}[q, 1]",
                f"    stp = {r}[q, 2]"]
        head += [f"    d{i} = {r}[q, {4 + i}]" for i in used]
        head += [f"    w{c} = {rw}[q, {c}]" for c in range(len(st.coefs))]
        head += ["    " + h for h in _periodic_loop(f"{r}[q, 0]", "ln", "stp", f"{r}[q, 3]")]
        loops.append((head, "            "))
    return loops


def _numba_map(program: Program, st: MapStep, parallel: bool, extra: dict) -> list[str]:
    """One map step: run-table loops (serial or parallel) or an index-table loop."""
    loop = "prange" if parallel else "range"
    used = range(len(st.sources))
    em = Emitter(_leaf_factory(program, _slot, hoisted=True), "scalar", prefix="v")
    exprs = em.emit(st.templates)
    body: list[str] = []
    inner = []
    loops = None  # serial run tables: (loop header, indent) per loop over `inner`
    if st.runs is not None and not parallel:
        loops = _numba_serial_runs(st, extra)
        for i in used:
            pos = _u(f"{_idx(0, 'k', st.strides[i])} + d{i}")
            inner.append(f"x{i} = {_arr(st.sources[i])}[{pos}]")
    elif st.runs is not None:
        r = st.runs_name
        body.append(f"for q in {loop}({r}.shape[0]):")
        body.append(f"    k0 = {r}[q, 0]")
        body.append(f"    k1 = {r}[q, 1]")
        for i in used:
            body.append(f"    d{i} = {r}[q, {2 + i}]")
        for c in range(len(st.coefs)):
            body.append(f"    w{c} = {st.coef_runs_name}[q, {c}]")
        body.append("    for k in range(k0, k1):")
        for i in used:
            pos = _u(f"{_idx(0, 'k', st.strides[i])} + d{i}")
            inner.append(f"x{i} = {_arr(st.sources[i])}[{pos}]")
        pad = "        "
    else:
        body.append(f"for k in {loop}({st.size}):")
        for i in used:
            inner.append(f"x{i} = {_arr(st.sources[i])}[{_u(f'{st.index_names[i]}[k]')}]")
        for c, nm in enumerate(st.coef_names):
            inner.append(f"w{c} = {nm}[k]")
        pad = "    "
    inner += em.lines
    for dst, expr in zip(st.dsts, exprs, strict=True):
        inner.append(f"{_dst(dst, 'k')} = {expr}")
    if loops is None:  # the loop headers are in body already
        loops = [([], pad)]
    for head, indent in loops:
        body += head
        body += [indent + line for line in inner]
    return body


def _numba_csr_scatter(st: CsrStep, extra: dict) -> list[str]:
    """Several sparse blocks, most rows empty in most blocks: one pass per block over its
    nonzeros (``out[row] += w * src``) instead of every row visiting every block."""
    init = f"{st.offset_name}[r]" if st.offset_name else "0.0"
    body = [f"for r in range({st.dst.size}):", f"    {_dst(st.dst, 'r')} = {init}"]
    for src, blk, (ip, ix, dv) in zip(st.sources, st.blocks, st.names, strict=True):
        rows_of = f"{ip}r"
        extra[rows_of] = np.repeat(np.arange(blk.shape[0]), np.diff(blk.indptr))
        body.append(f"for jj in range({blk.nnz}):")
        body.append(
            f"    {_dst(st.dst, f'{rows_of}[jj]')} += "
            f"{dv}[jj] * {_arr(src)}[{_u(f'{ix}[jj]')}]"
        )
    return body


def _numba_csr_rows(st: CsrStep, loop: str) -> list[str]:
    """A sparse linear map, row by row (all rows, or those of ``st.rows``)."""
    body = []
    rows = st.rows_name
    if rows:
        body.append(f"for q in {loop}({rows}.shape[0]):")
        body.append(f"    r = {rows}[q]")
    else:
        body.append(f"for r in {loop}({st.dst.size}):")
    body.append(f"    acc = {st.offset_name}[r]" if st.offset_name else "    acc = 0.0")
    for src, (ip, ix, dv) in zip(st.sources, st.names, strict=True):
        body.append(f"    for jj in range({ip}[r], {ip}[r + 1]):")
        body.append(f"        acc += {dv}[jj] * {_arr(src)}[{_u(f'{ix}[jj]')}]")
    body.append(f"    {_dst(st.dst, 'r')} = acc")
    return body


def _numba_fft(st: FFTStep) -> list[str]:
    """A transform run by ``numpy.fft`` between compiled segments."""
    body = _fft_lines(st, "np")
    for part, dst in sorted(st.dsts.items()):
        val = f"fz.{'real' if part == 're' else 'imag'}.reshape(-1)"
        target = _view(dst) if dst.kind != "tmp" else f"{dst.name}[:]"
        body.append(f"{target} = {val}")
    return body


#: separates the FFT steps (run by numpy) from the compiled ones in a Numba body
_FFT_MARK = "# --- fft ---"


def _split_at_marks(body: list[str]) -> list[tuple[bool, list[str]]]:
    """``[(is_fft, lines), ...]``: the body cut at :data:`_FFT_MARK` pairs."""
    out: list = []
    cur: list[str] = []
    inside = False
    for ln in body:
        if ln == _FFT_MARK:
            if cur:
                out.append((inside, cur))
            cur, inside = [], not inside
            continue
        cur.append(ln)
    if cur:
        out.append((inside, cur))
    return out


#: tables of at most this many entries are module constants of the Numba source
FROZEN_MAX = 4096


def _freezable(v) -> bool:
    a = np.asarray(v)
    return a.size <= FROZEN_MAX and a.dtype in (np.int64, np.float64) and a.ndim in (1, 2)


def _array_literal(v) -> str:
    """Source of a numpy array with the same values, dtype and shape (numeric literals
    only; floats round-trip exactly through ``repr``)."""
    a = np.asarray(v)
    flat = a.ravel()
    if a.dtype == np.int64:
        items, dtype = ", ".join(str(int(x)) for x in flat), "np.int64"
    else:
        items, dtype = ", ".join(literal(x) for x in flat), "np.float64"
    return f"np.array([{items}], dtype={dtype}).reshape({tuple(int(d) for d in a.shape)})"


def _periodic_loop(start, length, step, count) -> list[str]:
    """Headers of the loops over ``count`` runs of ``length`` elements, ``step`` apart
    (numbers or the names of variables that hold them)."""
    return [f"for c_ in range({count}):",
            f"    k0 = {start} + c_ * {step}",
            f"    for k in range(k0, k0 + {length}):"]


#: elements a run group needs for a loop with constant offsets of its own
HOT_ROW_MIN = 64


def _hot_row(table: np.ndarray, size: int) -> int | None:
    """The periodic-run row with the most elements, if it is worth a loop of its own
    (at least :data:`HOT_ROW_MIN` elements and a quarter of the step)."""
    if table.shape[0] == 0:
        return None
    counts = table[:, 1] * table[:, 3]
    hot = int(np.argmax(counts))
    if counts[hot] < max(HOT_ROW_MIN, size // 4):
        return None
    return hot


def _scatter_form(st: CsrStep, parallel: bool) -> bool:
    """Whether a serial kernel should accumulate ``st`` block by block over nonzeros."""
    if parallel or st.rows_name or len(st.blocks) < 2:
        return False
    visits = st.dst.size * len(st.blocks)  # row form: every row visits every block
    return sum(b.nnz for b in st.blocks) < visits // 2


def periodic_runs(runs: np.ndarray, coef_runs):
    """Merge runs that repeat with a period into ``(start, length, step, count, d...)`` rows.

    Runs with the same length, shifts and weights whose starts form an arithmetic
    progression (the same boundary group on every grid row) become one row, so a 2-D
    grid needs a handful of entries instead of several per row.  Element order does not
    matter: every element is computed independently.
    """
    n = runs.shape[0]
    if n == 0:
        w = np.zeros((0, 0 if coef_runs is None else coef_runs.shape[1]))
        return np.zeros((0, runs.shape[1] + 2), dtype=np.int64), w
    lens = runs[:, 1] - runs[:, 0]
    key = [lens[:, None], runs[:, 2:]]
    if coef_runs is not None:
        key.append(np.ascontiguousarray(coef_runs).view(np.int64))
    _, group = np.unique(np.concatenate(key, axis=1), axis=0, return_inverse=True)
    group = group.reshape(-1)
    rows, wrows = [], []
    for g in np.unique(group):
        idx = np.nonzero(group == g)[0]
        idx = idx[np.argsort(runs[idx, 0], kind="stable")]
        starts = runs[idx, 0]
        i = 0
        while i < idx.size:
            j = i + 1
            step = int(starts[j] - starts[i]) if j < idx.size else 0
            while j + 1 < idx.size and starts[j + 1] - starts[j] == step:
                j += 1
            count = (j - i + 1) if j < idx.size else 1
            if count == 1:
                step = 0
            first = idx[i]
            rows.append([starts[i], lens[first], step, count, *runs[first, 2:]])
            if coef_runs is not None:
                wrows.append(coef_runs[first])
            i += count
    table = np.asarray(rows, dtype=np.int64)
    w = (
        np.asarray(wrows, dtype=np.float64)
        if coef_runs is not None
        else np.zeros((table.shape[0], 0))
    )
    return np.ascontiguousarray(table), np.ascontiguousarray(w)


def _scalar_chunks(program: Program, st: ScalarStep, helpers: list[str]) -> list[str]:
    """Straight-line code in chunk functions; returns the calls for the kernel body."""
    em = Emitter(_leaf_factory(program, None, lambda j: f"y[{j}]"), "scalar", prefix="v")
    calls = []
    chunk: list[str] = []
    n_chunk = 0

    def flush():
        nonlocal chunk, n_chunk
        if not chunk:
            return
        name = f"chunk{n_chunk}"
        n_chunk += 1
        helpers.append("@njit(cache=True, fastmath=False, nogil=True)")
        helpers.append(f"def {name}(out, y, p, t):")
        helpers.extend("    " + c for c in chunk)
        helpers.append("")
        calls.append(f"{name}(out, y, p, t)")
        chunk = []

    # temporaries are local to one chunk, so each chunk re-emits what it needs
    for j, e in enumerate(st.exprs):
        em.lines = []
        em.names = {}
        (expr,) = em.emit([e])
        chunk += em.lines
        chunk.append(f"out[{st.dst.base + j}] = {expr}")
        if len(chunk) >= CHUNK_STATEMENTS:
            flush()
    flush()
    return calls


# ---------------------------------------------------------------------------
# Whole-array numpy target (flat, unbatched; JAX and torch: :func:`batched_source`)
# ---------------------------------------------------------------------------


def array_source(program: Program, module: str = "np") -> tuple[str, list[str]]:
    """Vectorized numpy source; ``kernel(y, p, t, *consts) -> out``."""
    if module != "np":
        raise CompilationError(f"array_source writes numpy code; {module!r} targets use "
                               "batched_source")
    consts = dict(program.consts)
    body: list[str] = []
    consts.update(all_index_consts(program))
    body.append(f"out = np.empty({program.n_out})")
    for b in program.temps:
        body.append(f"{b.name} = None")

    def write(dst: Buffer, rows: str | None, value: str):
        """``out`` at ``rows`` (None: all of ``dst``, written as a slice) = ``value``."""
        if dst.kind == "out":
            if rows is None:
                stop = dst.base + dst.stride * (dst.size - 1) + 1
                target = f"{dst.base}:{stop}" + (f":{dst.stride}" if dst.stride != 1 else "")
            else:
                scaled = f"{dst.stride}*{rows}" if dst.stride != 1 else rows
                target = f"{dst.base} + {scaled}" if dst.base else scaled
            body.append(f"out[{target}] = {value}")
        else:
            body.append(f"{dst.name} = {value}")

    def src(b: Buffer) -> str:
        return b.name

    for n, st in enumerate(program.steps):
        body.append(f"# step {n}: {type(st).__name__}")
        if isinstance(st, MapStep):
            for i, s in enumerate(st.sources):
                body.append(f"x{i} = {src(s)}[{_index_or_slice(st.index[i], st.index_names[i])}]")
            for c, nm in enumerate(st.coef_names):
                body.append(f"w{c} = {nm}")
            em = Emitter(_leaf_factory(program, _slot), "array", module=module)
            exprs = em.emit(st.templates)
            body += em.lines
            for dst, tmpl, expr in zip(st.dsts, st.templates, exprs, strict=True):
                if placeholders_in(tmpl):
                    full = expr  # reads a load or a weight array: already of the step's size
                else:
                    full = f"np.broadcast_to({expr}, ({st.size},))"
                write(dst, None, full)
        elif isinstance(st, CsrStep):
            if len(st.names) > 1:
                # one bincount over every block's entries (not one per block, then sums)
                gathered = ", ".join(f"{dv} * {src(s)}[{ix}]"
                                     for s, (_, ix, dv) in zip(st.sources, st.names, strict=True))
                acc = (f"np.bincount({joined_rows_name(st)}, weights=np.concatenate(("
                       f"{gathered})), minlength={st.dst.size})")
            else:
                terms = []
                for s, (ip, ix, dv) in zip(st.sources, st.names, strict=True):
                    rows_var = f"{ip}_rows"
                    terms.append(f"np.bincount({rows_var}, weights={dv} * {src(s)}[{ix}], "
                                 f"minlength={st.dst.size})")
                acc = " + ".join(terms) if terms else f"np.zeros({st.dst.size})"
            if st.offset_name:
                acc = f"({acc}) + {st.offset_name}"
            if st.rows_name:
                val = f"({acc})[{st.rows_name}]"
                if st.dst.kind == "out":
                    write(st.dst, st.rows_name, val)
                else:
                    body.append(f"{st.dst.name} = {acc}")
            else:
                if st.dst.kind == "out":
                    write(st.dst, None, acc)
                else:
                    body.append(f"{st.dst.name} = {acc}")
        elif isinstance(st, FFTStep):
            body += _fft_lines(st, module)
            for part, dst in sorted(st.dsts.items()):
                val = f"fz.{'real' if part == 're' else 'imag'}.reshape(-1)"
                write(dst, None, val)
        elif isinstance(st, ScalarStep):
            em = Emitter(_leaf_factory(program, None, lambda j: f"y[{j}]"), "array", module=module)
            exprs = em.emit(st.exprs)
            body += em.lines
            items = ", ".join(f"np.broadcast_to({e}, ())" for e in exprs)
            body.append(f"out = np.stack([{items}])")
    body.append("return out")
    extra = []
    for st in program.steps:
        if isinstance(st, CsrStep):
            if len(st.names) > 1:
                extra.append(joined_rows_name(st))
            else:
                for ip, _, _ in st.names:
                    extra.append(f"{ip}_rows")
    sig = ", ".join(["y", "p", "t"] + list(consts) + extra)
    head = ["import math", "import numpy as np", ""]
    lines = head + [f"def kernel({sig}):"] + ["    " + b for b in body] + [""]
    return "\n".join(lines), list(consts) + extra


def _index_or_slice(pos: np.ndarray, name: str) -> str:
    """A slice for positions in arithmetic progression (no gather copy), else the index
    array's name."""
    if pos.size == 0:
        return name
    start = int(pos[0])
    step = int(pos[1] - pos[0]) if pos.size > 1 else 1
    if step < 1 or not np.array_equal(pos, start + step * np.arange(pos.size)):
        return name
    stop = start + step * (pos.size - 1) + 1
    return f"{start}:{stop}" + (f":{step}" if step != 1 else "")


def _view(b: Buffer) -> str:
    """The flat elements of buffer ``b`` (a slice of ``y``/``p``/``out``, or a whole array)."""
    if b.kind in ("tmp", "const"):
        return b.name
    stop = b.base + b.stride * (b.size - 1) + 1
    return f"{b.name}[{b.base}:{stop}" + (f":{b.stride}]" if b.stride != 1 else "]")


def _fft_lines(st: FFTStep, module: str, batched: bool = False) -> list[str]:
    """``fz = <module>.fft.<kind>(...)`` for one FFT step; ``batched``: over the trailing
    axes of arrays whose leading axes ``bs`` are a batch."""
    shape = tuple(int(d) for d in st.in_shape)
    view, lead = (_bview, "bs + ") if batched else (_view, "")
    parts = [f"{view(b)}.reshape({lead}{shape})" for b in st.sources]
    if len(parts) == 2:
        x = (f"torch.complex({parts[0]}, {parts[1]})" if module == "torch"
             else f"({parts[0]} + 1j * {parts[1]})")
    else:
        x = parts[0]
    # batched: axes counted from the end
    axes = tuple(int(a) - len(shape) for a in st.axes) if batched else tuple(st.axes)
    if len(axes) == 1:  # the 1-D functions: less argument handling per call than the n-D
        axis = "dim" if module == "torch" else "axis"
        return [f"fz = {module}.fft.{st.kind[:-1]}({x}, n={st.s[0]}, {axis}={axes[0]}, "
                f"norm={st.norm!r})"]
    kw = "dim" if module == "torch" else "axes"
    return [f"fz = {module}.fft.{st.kind}({x}, s={tuple(st.s)}, {kw}={axes}, "
            f"norm={st.norm!r})"]


def no_fft(program: Program, target: str) -> None:
    """Refuse a target that cannot run a program's FFTs (they run as library calls)."""
    if any(isinstance(st, FFTStep) for st in program.steps):
        raise CompilationError(
            f"the traced code uses FFTs, which the {target!r} target does not compile; use "
            "target='numba', 'numpy', 'jax' or 'torch' (their FFT libraries run the transforms)"
        )


def joined_rows_name(st: CsrStep) -> str:
    """The numpy target's table of row ids of all of ``st``'s blocks, one after another."""
    return f"{st.names[0][0]}_all_rows"


def csr_row_ids(indptr: np.ndarray) -> np.ndarray:
    """Row id of every stored entry of a CSR structure."""
    return np.repeat(np.arange(indptr.size - 1, dtype=np.int64), np.diff(indptr))


# ---------------------------------------------------------------------------
# CUDA (numba-cuda): one kernel per step, one thread per element or row
# ---------------------------------------------------------------------------


#: threads per CUDA block (one block per run chunk in run-table kernels)
CUDA_BLOCK = 256


def rechunk_runs(runs: np.ndarray, coef_runs, chunk: int):
    """Split runs into pieces of at most ``chunk`` elements (weights follow their run)."""
    lens = runs[:, 1] - runs[:, 0]
    n = np.maximum(1, (lens + chunk - 1) // chunk)
    rep = np.repeat(np.arange(runs.shape[0]), n)
    offs = chunk * (np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n))
    out = runs[rep].copy()
    out[:, 0] = runs[rep, 0] + offs
    out[:, 1] = np.minimum(out[:, 0] + chunk, runs[rep, 1])
    w = None if coef_runs is None else np.ascontiguousarray(coef_runs[rep])
    return np.ascontiguousarray(out), w


def cuda_source(program: Program):
    """CUDA module source, constant names, extra constants, and the launch plan.

    The plan is ``[(kernel name, n threads, arg names, n blocks or None)]``.
    """
    no_fft(program, "cuda")
    lines = ["import math", "import numpy as np", "from numba import cuda", ""]
    extra_consts: dict = {}
    plan = []
    for n, st in enumerate(program.steps):
        kname = f"step{n}"
        if isinstance(st, MapStep):
            used = range(len(st.sources))
            bufs = sorted(
                ({_arr(st.sources[i]) for i in used} | {_arr(d) for d in st.dsts}) - {"p"}
            )
            gpu_runs = None
            if st.runs is not None:
                gpu_runs, gpu_w = rechunk_runs(st.runs, st.coef_runs, CUDA_BLOCK)
                rname, wname = f"{st.runs_name}g", f"{st.coef_runs_name}g"
                extra_consts[rname] = gpu_runs
                tables = [rname]
                if st.coefs:
                    extra_consts[wname] = gpu_w
                    tables.append(wname)
            else:
                tables = list(st.index_names) + list(st.coef_names)
            args = ["p", "t"] + bufs + tables
            em = Emitter(_leaf_factory(program, _slot), "scalar", prefix="v")
            exprs = em.emit(st.templates)
            lines.append("@cuda.jit(cache=True)")
            lines.append(f"def {kname}({', '.join(args)}):")
            if gpu_runs is not None:
                # one thread block per run chunk: the block reads its run's shifts once
                lines.append("    q = cuda.blockIdx.x")
                lines.append(f"    k = {rname}[q, 0] + cuda.threadIdx.x")
                lines.append(f"    if k < {rname}[q, 1]:")
                for i in used:
                    kk = _idx(0, "k", st.strides[i])
                    lines.append(
                        f"        x{i} = {_arr(st.sources[i])}[{_u(f'{kk} + {rname}[q, {2 + i}]')}]"
                    )
                for c in range(len(st.coefs)):
                    lines.append(f"        w{c} = {wname}[q, {c}]")
            else:
                lines.append("    k = cuda.grid(1)")
                lines.append(f"    if k < {st.size}:")
                for i in used:
                    lines.append(
                        f"        x{i} = {_arr(st.sources[i])}[{_u(f'{st.index_names[i]}[k]')}]"
                    )
                for c, nm in enumerate(st.coef_names):
                    lines.append(f"        w{c} = {nm}[k]")
            lines += ["        " + ln for ln in em.lines]
            for dst, expr in zip(st.dsts, exprs, strict=True):
                lines.append(f"        {_dst(dst, 'k')} = {expr}")
            lines.append("")
            if gpu_runs is not None:
                plan.append((kname, gpu_runs.shape[0] * CUDA_BLOCK, args, gpu_runs.shape[0]))
            else:
                plan.append((kname, st.size, args, None))
        elif isinstance(st, CsrStep):
            bufs = sorted({_arr(s) for s in st.sources} | {_arr(st.dst)})
            cargs = [x for nms in st.names for x in nms]
            if st.offset_name:
                cargs.append(st.offset_name)
            if st.rows_name:
                cargs.append(st.rows_name)
            args = bufs + cargs
            n_threads = int(st.rows.size) if st.rows_name else st.dst.size
            lines.append("@cuda.jit(cache=True)")
            lines.append(f"def {kname}({', '.join(args)}):")
            lines.append("    q = cuda.grid(1)")
            lines.append(f"    if q < {n_threads}:")
            lines.append(f"        r = {st.rows_name}[q]" if st.rows_name else "        r = q")
            lines.append(
                f"        acc = {st.offset_name}[r]" if st.offset_name else "        acc = 0.0"
            )
            for s, (ip, ix, dv) in zip(st.sources, st.names, strict=True):
                lines.append(f"        for jj in range({ip}[r], {ip}[r + 1]):")
                lines.append(f"            acc += {dv}[jj] * {_arr(s)}[{_u(f'{ix}[jj]')}]")
            lines.append(f"        {_dst(st.dst, 'r')} = acc")
            lines.append("")
            plan.append((kname, n_threads, args, None))
        else:
            raise NotImplementedError("straight-line scalar systems are not compiled for CUDA")
    names = sorted(
        {a for _, _, args, _ in plan for a in args}
        - {"p", "t", "y", "out"}
        - {b.name for b in program.temps}
    )
    return "\n".join(lines), names, plan, extra_consts


__all__ = [
    "numba_source",
    "array_source",
    "cuda_source",
    "batched_source",
    "const_arrays",
    "csr_row_ids",
    "every_const",
    "all_index_consts",
]


# ---------------------------------------------------------------------------
# Batched functional targets (JAX, torch): leading batch dimensions, no in-place writes
# ---------------------------------------------------------------------------

#: module header of the batched targets: ``_b(x, ref, shape)`` is ``x`` in ``ref``'s
#: dtype and device, broadcast to ``shape``; ``_t`` makes a tensor of a number (torch)
_BATCHED_HEAD = {
    "jnp": [
        "import math",
        "import jax",
        "import jax.numpy as jnp",
        "",
        "def _b(x, ref, shape):",
        "    return jnp.broadcast_to(jnp.asarray(x, dtype=ref.dtype), shape)",
        "",
    ],
    "torch": [
        "import math",
        "import torch",
        "",
        "def _t(x, ref):",
        "    return x if torch.is_tensor(x) else torch.as_tensor(x, dtype=ref.dtype, "
        "device=ref.device)",
        "",
        "def _b(x, ref, shape):",
        "    if not torch.is_tensor(x) or x.dtype != ref.dtype:",
        "        x = torch.as_tensor(x, dtype=ref.dtype, device=ref.device)",
        "    return x if x.shape == shape else x.expand(shape)",
        "",
    ],
}

#: name of the batched targets' permutation table that orders the output pieces
OUT_ORDER = "out_order"


def _bview(b: Buffer) -> str:
    """The elements of buffer ``b`` along the last axis (leading axes: the batch)."""
    if b.kind in ("tmp", "const"):
        return b.name
    stop = b.base + b.stride * (b.size - 1) + 1
    return f"{b.name}[..., {b.base}:{stop}" + (f":{b.stride}]" if b.stride != 1 else "]")


def batched_source(program: Program, module: str) -> tuple[str, list[str], dict]:
    """Batched functional source for ``module`` ``"jnp"`` or ``"torch"``.

    The module's ``kernel(y, p, t, *consts) -> out`` maps ``y`` of shape
    ``(..., n_in)`` to ``(..., n_out)``; the leading axes are a batch (``y`` is
    already broadcast against ``p``'s leading axes by the caller).  ``p`` is
    ``(P,)`` or ``(..., P)``.  Nothing is written in place: every step makes new
    arrays and the output pieces are joined once at the end (one ``cat`` and,
    when the pieces are out of order, one gather), so ``vmap`` and autograd work.

    Returns
    -------
    source : str
    const_names : list of str
        The names of the constant arguments after ``t``, in order.
    extra : dict
        Constants made here (row ids of sparse steps, the output order), by name.
    """
    if module not in _BATCHED_HEAD:
        raise CompilationError(f"batched code is for 'jnp' or 'torch', not {module!r}")
    w = _Batched(program, module)
    for n, st in enumerate(program.steps):
        w.body.append(f"# step {n}: {type(st).__name__}")
        if isinstance(st, MapStep):
            w.map_step(st)
        elif isinstance(st, CsrStep):
            w.csr_step(st)
        elif isinstance(st, FFTStep):
            w.body += _fft_lines(st, module, batched=True)
            for part, dst in sorted(st.dsts.items()):
                w.write(dst, f"fz.{'real' if part == 're' else 'imag'}.reshape(bs + (-1,))")
        elif isinstance(st, ScalarStep):
            w.scalar_step(st)
    body = w.body + _join_pieces(w.pieces, program.n_out, module, w.extra)
    body.append("return out")
    names = list(w.consts) + list(w.extra)
    head = _BATCHED_HEAD[module]
    lines = head + [f"def kernel(y, p, t, {', '.join(names)}):"] + ["    " + b for b in body]
    return "\n".join(lines + [""]), names, w.extra


class _Batched:
    """The body of a batched kernel being written (:func:`batched_source`), step by step."""

    def __init__(self, program: Program, module: str):
        self.program, self.module = program, module
        self.torch_ = module == "torch"
        self.consts = dict(program.consts)
        self.consts.update(all_index_consts(program))
        self.extra: dict = {}
        self.body = ["bs = y.shape[:-1]"]
        self.pieces: list[tuple[str, np.ndarray]] = []  # output pieces: (variable, positions)
        self.leaves = program.leaf_symbols()
        if self.torch_ and program.param_slots:
            # every parameter once, as views: one call instead of a slice per use
            kinds = {type(st) for st in program.steps}
            self.body += ["pm = p.unsqueeze(-1).unbind(-2)"] if MapStep in kinds else []
            self.body += ["ps = p.unbind(-1)"] if ScalarStep in kinds else []

    def take(self, arr: str, idx: str) -> str:
        """``arr[..., idx]`` for an index array (torch: index_select, 3x faster per call)."""
        return f"torch.index_select({arr}, -1, {idx})" if self.torch_ else f"{arr}[..., {idx}]"

    def write(self, dst: Buffer, value: str, rows: np.ndarray | None = None) -> None:
        """Assign a step's value: a temporary, or a piece of the output joined at the end."""
        if dst.kind == "out":
            var = f"o{len(self.pieces)}"
            self.body.append(f"{var} = {value}")
            local = np.arange(dst.size) if rows is None else rows
            self.pieces.append((var, dst.positions(local)))
        else:
            self.body.append(f"{dst.name} = {value}")

    def param_leaf(self, keep_dim: bool):
        """Leaf printer: placeholders, parameters (kept as a trailing axis or not), t."""
        leaves, torch_, program = self.leaves, self.torch_, self.program

        def leaf(t):
            if type(t) is Placeholder:
                return _slot(t.index)
            where = leaves.get(t) if type(t) is Sym else None
            if where is not None:
                if where[0] == "t":
                    return "t"
                j = where[1]
                if torch_:
                    return f"pm[{j}]" if keep_dim else f"ps[{j}]"
                return f"p[..., {j}:{j + 1}]" if keep_dim else f"p[..., {j}]"
            if type(t) is Sym and t in program.input_offsets:
                return f"y[..., {program.input_offsets[t]}]"
            raise KeyError(f"unbound symbol in generated code: {t!r}")

        return leaf

    def map_step(self, st: MapStep) -> None:
        """Gathered loads, then the templates as whole-array expressions."""
        for i, s in enumerate(st.sources):
            sel = _index_or_slice(st.index[i], st.index_names[i])
            load = self.take(s.name, sel) if sel == st.index_names[i] else f"{s.name}[..., {sel}]"
            self.body.append(f"x{i} = {load}")
        for c, nm in enumerate(st.coef_names):
            self.body.append(f"w{c} = {nm}")
        em = Emitter(self.param_leaf(True), "array", module=self.module)
        exprs = em.emit(st.templates)
        self.body += em.lines
        for dst, expr in zip(st.dsts, exprs, strict=True):
            self.write(dst, f"_b({expr}, y, bs + ({st.size},))")

    def csr_step(self, st: CsrStep) -> None:
        """A sparse linear map as scatter-adds into zeros (index_add / .at[].add)."""
        module, consts = self.module, self.consts
        terms = []
        for s, (ip, ix, dv) in zip(st.sources, st.names, strict=True):
            rows_var = f"{ip}_rows"
            self.extra[rows_var] = csr_row_ids(consts[ip])
            g = f"{dv} * {self.take(s.name, ix)}"
            if s.kind == "const":
                g = f"_b({g}, y, bs + ({consts[ix].size},))"
            empty = f"{module}.zeros(bs + ({st.dst.size},), dtype=y.dtype"
            if module == "torch":
                terms.append(f"{empty}, device=y.device).index_add(-1, {rows_var}, {g})")
            else:
                terms.append(f"{empty}).at[..., {rows_var}].add({g})")
        acc = " + ".join(terms) if terms else f"_b(0.0, y, bs + ({st.dst.size},))"
        if st.offset_name:
            acc = f"({acc}) + {st.offset_name}"
        if st.rows_name:
            if st.dst.kind == "out":
                self.write(st.dst, self.take(f"({acc})", st.rows_name), st.rows)
            else:
                self.body.append(f"{st.dst.name} = {acc}")
        else:
            self.write(st.dst, acc)

    def scalar_step(self, st: ScalarStep) -> None:
        """Straight-line outputs stacked along the last axis."""
        em = Emitter(self.param_leaf(False), "array", module=self.module)
        exprs = em.emit(st.exprs)
        self.body += em.lines
        items = ", ".join(f"_b({e}, y, bs)" for e in exprs)
        axis = "dim" if self.module == "torch" else "axis"
        self.write(st.dst, f"{self.module}.stack([{items}], {axis}=-1)")


def _join_pieces(pieces: list, n_out: int, module: str, extra: dict) -> list[str]:
    """Lines that join the output pieces into ``out`` (later writes win, unwritten
    entries are zero)."""
    cat = "torch.cat" if module == "torch" else "jnp.concatenate"
    axis = "dim" if module == "torch" else "axis"
    last = np.full(n_out, -1, dtype=np.int64)
    offset = 0
    for _, pos in pieces:
        last[pos] = offset + np.arange(pos.size)
        offset += pos.size
    names = [v for v, _ in pieces]
    lines = []
    if np.any(last < 0):
        lines.append("o_zero = _b(0.0, y, bs + (1,))")
        names.append("o_zero")
        last[last < 0] = offset
    if len(names) == 1:
        lines.append(f"out = {names[0]}")
    else:
        lines.append(f"out = {cat}([{', '.join(names)}], {axis}=-1)")
    if offset != n_out or not np.array_equal(last, np.arange(n_out)):
        extra[OUT_ORDER] = last
        lines.append("out = " + (f"torch.index_select(out, -1, {OUT_ORDER})" if module == "torch"
                                 else f"out[..., {OUT_ORDER}]"))
    return lines
