"""A straight-line program as level-grouped tables, run by one cached Numba interpreter.

Numba compiles straight-line code slowly (:data:`.emit.CHUNK`: ~0.1 s per statement), so a
reaction network's optimized program of ~10^4 instructions would take tens of minutes.
Here the program becomes data instead:

* every instruction gets its ASAP level (leaves and constants are level 0); the
  instructions of one level are independent;
* within a level, instructions are grouped by operation; a group is one tight loop of
  the interpreter over index tables (``v[base + k] = v[a[k]] * v[b[k]]``), and n-ary
  sums, products, minima and maxima read their operands through a CSR table;
* values are renumbered so that each group writes a contiguous run of the value buffer
  ``v = [y | p | t | constants | instructions in group order]`` (``y``, ``p`` and ``t``
  are copied in whole at each call);
* a product of two or three factors read only by one sum is computed inside that sum's
  loop, not stored and reloaded; a sum's operands are laid out as plain terms, then
  products of two factors, then of three (no padding), and each of those runs is added
  into two interleaved partial sums (:func:`summation_chains`), so the additions form two
  dependency chains instead of one.

The interpreter (:func:`_run`) is compiled once per machine (``cache=True``), so a program
of any size is ready in the time it takes to build its tables.  Each operation is
computed with the same arithmetic, in the same order, as the straight-line code that
:func:`.emit.slp_source` prints (which prints sums in the order above, left folds for
``*``, ``a * b + c`` for ``fma``, repeated products for small integer powers, ``sqrt``
for ``1/2``), so the two forms give the same bits, apart from the library functions'
rounding.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from pdeflow.errors import CompilationError, ShapeError

# group kinds: n-ary folds read a CSR table, the others fixed argument slots
_FOLD = {"mul": 1, "min": 2, "max": 3}
_SUM = 4  # a sum of plain terms and of products of 2 or 3 factors (computed in its loop)
_ADD2, _MUL2 = 8, 9
_FIXED = {
    "neg": 10, "sub": 11, "div": 12, "fma": 13, "fpow": 14, "where": 15,
    "lt": 16, "le": 17, "eq": 18, "ne": 19, "and": 20, "or": 21, "not": 22, "sign": 23,
    "exp": 30, "log": 31, "sin": 32, "cos": 33, "tan": 34, "sinh": 35, "cosh": 36,
    "tanh": 37, "asin": 38, "acos": 39, "atan": 40, "abs": 41,
}
_POWI, _SQRT, _RSQRT, _POWF = 50, 51, 52, 53

#: operations the interpreter runs (``num`` and ``pow`` included)
SUPPORTED = frozenset(_FOLD) | frozenset(_FIXED) | {"num", "pow", "add"}

_HEADER = 12


def supports(slp) -> bool:
    """Whether every instruction of ``slp`` has a table form."""
    return all(op in SUPPORTED for op, _, _ in slp.instrs)


def _pow_kind(e) -> tuple[int, float]:
    """The interpreter's kind and payload for ``x ** e`` (as :class:`.Emitter` prints it)."""
    if isinstance(e, int) or (isinstance(e, float) and e.is_integer() and abs(e) <= 8):
        n = int(e)
        if 1 <= abs(n) <= 8:
            return _POWI, float(n)
    if e == Fraction(1, 2) or e == 0.5:
        return _SQRT, 0.5
    if e == Fraction(-1, 2) or e == -0.5:
        return _RSQRT, -0.5
    return _POWF, float(e)


def _fused_products(slp) -> set[int]:
    """Products of 2 or 3 factors read once, by a sum (and not outputs): the sum's loop
    multiplies them itself (``x * 1.0`` and ``x * 1.0 * 1.0`` are exact, so a plain term
    is padded with ones), which saves storing and reloading them."""
    nl = len(slp.leaves)
    uses = slp.uses()
    outs = set(slp.outputs)
    fused: set[int] = set()
    for op, _, args in slp.instrs:
        if op != "add":
            continue
        for a in args:
            if a >= nl and uses[a] == 1 and a not in outs:
                aop, _, aargs = slp.instrs[a - nl]
                if aop == "mul" and len(aargs) in (2, 3):
                    fused.add(a)
    return fused


def sum_sections(slp, fused: set[int] | None = None) -> dict[int, tuple[list, list, list]]:
    """The sums the interpreter runs with its sum loop: instruction index -> operands (value
    ids, in program order) split into plain terms, fused products of two factors and fused
    products of three factors (see :func:`summation_chains` for the order of additions)."""
    nl = len(slp.leaves)
    if fused is None:
        fused = _fused_products(slp)
    sums = {}
    for k, (op, _, args) in enumerate(slp.instrs):
        if op == "add" and (len(args) != 2 or any(a in fused for a in args)):
            sections: tuple[list, list, list] = ([], [], [])
            for a in args:
                sections[len(slp.instrs[a - nl][2]) - 1 if a in fused else 0].append(a)
            sums[k] = sections
    return sums


def summation_chains(sections) -> tuple[list, list]:
    """The order of additions in a sum: ``fold(first) + fold(second)``, left folds.

    Within each section the terms alternate between two partial sums (two dependency
    chains of additions instead of one: ~15% faster on the BCR network).  The printed
    source adds in the same order, so both forms give the same bits."""
    first: list = []
    second: list = []
    for sec in sections:
        first += sec[0::2]
        second += sec[1::2]
    return first, second


def _instruction_keys(slp, sums: dict) -> tuple[list, list, list]:
    """``(keys, constants, level)``: ``(level, kind, payload, k)`` per computed instruction
    (sorted: the groups of one level and kind), the constant instructions, each value's
    level.  Products fused into a sum are computed inside it and get no key."""
    leaves, instrs = slp.leaves, slp.instrs
    nl, n = len(leaves), len(instrs)
    level = [0] * (nl + n)
    keys: list = []
    consts: list[int] = []
    fused = _fused_products(slp)
    for k, (op, pl, args) in enumerate(instrs):
        if op == "num":
            consts.append(k)
            continue
        if op not in SUPPORTED:
            raise CompilationError(f"no table form for the e-graph operation {op!r}")
        lv = 1 + max((level[a] for a in args), default=0)
        level[nl + k] = lv
        if nl + k in fused:
            continue  # computed inside the sum that reads it
        if k in sums:
            kind, payload = _SUM, 0.0
        elif op in ("add", "mul") and len(args) == 2:
            kind, payload = (_ADD2 if op == "add" else _MUL2), 0.0
        elif op in _FOLD:
            kind, payload = _FOLD[op], 0.0
        elif op == "pow":
            kind, payload = _pow_kind(pl)
        else:
            kind, payload = _FIXED[op], 0.0
        keys.append((lv, kind, payload, k))
    keys.sort()
    return keys, consts, level


def _encode_groups(slp, keys: list, sums: dict, pos: list, exponent_slot: dict) -> list:
    """``[group kinds, group bounds, a0, a1, a2, csr operands]`` of the interpreter."""
    instrs, nl = slp.instrs, len(slp.leaves)
    m = len(keys)
    a0 = np.zeros(m, dtype=np.int64)
    a1 = np.zeros(m, dtype=np.int64)
    a2 = np.zeros(m, dtype=np.int64)
    csr: list[int] = []
    gkind: list[int] = []
    gptr: list[int] = [0]
    for j, (lv, kind, payload, k) in enumerate(keys):
        args = [pos[a] for a in instrs[k][2]]
        if kind == _SUM:
            # [end, plain terms, products of 2 factors, products of 3 factors]
            plain, pairs, triples = sums[k]
            a0[j] = len(csr)
            csr.append(0)
            csr.extend(pos[a] for a in plain)
            a1[j] = len(csr)
            csr.extend(pos[b] for a in pairs for b in instrs[a - nl][2])
            a2[j] = len(csr)
            csr.extend(pos[b] for a in triples for b in instrs[a - nl][2])
            csr[a0[j]] = len(csr)
        elif kind < _ADD2:
            a0[j], a1[j] = len(csr), len(csr) + len(args)
            csr.extend(args)
        else:
            for slot, a in zip((a0, a1, a2), args, strict=False):
                slot[j] = a
        if kind == _POWI:
            a1[j] = int(payload) + 16  # the integer exponent, offset to stay >= 0
        elif kind == _POWF:
            a1[j] = exponent_slot[payload]
        if j == 0 or (lv, kind, payload) != keys[j - 1][:3]:
            if j:
                gptr.append(j)
            gkind.append(kind)
    if m:
        gptr.append(m)
    return [np.array(gkind, np.int64), np.array(gptr, np.int64), a0, a1, a2,
            np.array(csr, np.int64)]


class SLPTables:
    """The tables of one program, and the buffers its interpreter writes.

    Attributes
    ----------
    itab : ndarray of uint32
        Header (sizes and offsets), group kinds and bounds, argument slots, CSR operands
        and output positions.
    values : ndarray of float64, shape (len(y) + len(p) + 1 + constants + instructions,)
        The value buffer; constants (and the exponents of non-integer powers) are
        written once, here.
    n_groups, n_levels : int
    """

    def __init__(self, slp, inputs, params=(), time=None):
        leaves, instrs = slp.leaves, slp.instrs
        nl, n = len(leaves), len(instrs)
        sums = sum_sections(slp, _fused_products(slp))
        keys, consts, level = _instruction_keys(slp, sums)
        # exponents of x ** e (non-integer e) are read from constant slots
        exponents = sorted({pay for _, kind, pay, _ in keys if kind == _POWF})
        const_values = [float(instrs[k][1]) for k in consts] + exponents
        # the buffer starts with y, p and the time, copied whole at each call (a plain
        # copy is cheaper than gathering the leaves one by one)
        slot = {s: j for j, s in enumerate(inputs)}
        slot.update({s: len(inputs) + j for j, s in enumerate(params)})
        if time is not None:
            slot[time] = len(inputs) + len(params)
        missing = [leaf for leaf in leaves if leaf not in slot]
        if missing:
            raise CompilationError(
                f"the program reads {missing[0]!r}, which is neither an input, a parameter "
                "nor the time"
            )
        head = len(inputs) + len(params) + 1
        exponent_slot = {e: head + len(consts) + j for j, e in enumerate(exponents)}
        base = head + len(const_values)
        pos = [slot[leaf] for leaf in leaves] + [0] * n  # value id -> buffer position
        for j, k in enumerate(consts):
            pos[nl + k] = head + j
        for j, (_, _, _, k) in enumerate(keys):
            pos[nl + k] = base + j
        parts = _encode_groups(slp, keys, sums, pos, exponent_slot)
        m = len(keys)
        outs = np.array([pos[o] for o in slp.outputs], dtype=np.int64)
        bounds = np.cumsum([_HEADER] + [q.size for q in parts])
        header = np.zeros(_HEADER, dtype=np.int64)
        ng = parts[0].size
        header[:5] = (len(params), ng, base, len(outs), len(inputs))
        header[5:5 + len(bounds)] = bounds
        itab = np.concatenate([header, *parts, outs])
        if itab.max(initial=0) >= 2**32:
            raise CompilationError("the program is too large for 32-bit tables")
        self.itab = itab.astype(np.uint32)
        self.values = np.zeros(base + m)
        self.values[head:base] = const_values
        self.n_in, self.n_p = len(inputs), len(params)
        self.n_groups = ng
        self.n_levels = max(level, default=0)

    def run(self, out: np.ndarray, y: np.ndarray, p: np.ndarray, t: float) -> np.ndarray:
        """Evaluate into ``out`` (``float64``, one entry per output); returns ``out``."""
        if y.shape != (self.n_in,) or p.shape != (self.n_p,) or out.shape != (self.itab[3],):
            raise ShapeError(f"expected y of {self.n_in}, p of {self.n_p}, out of "
                             f"{self.itab[3]} entries")
        shared_kernel()(out, y, p, t, self.values, self.itab)
        return out


_KERNEL = None


def shared_kernel():
    """The one Numba interpreter of level-grouped tables (compiled on first use)."""
    global _KERNEL
    if _KERNEL is None:
        _KERNEL = _build_kernel()
    return _KERNEL


def _build_kernel():
    import math

    from numba import njit

    @njit(cache=True, nogil=True, fastmath=False)
    def _run(out, y, p, t, v, it):  # noqa: C901 - one branch per operation kind
        u = np.uint64
        npar, ng, base, no, ny = u(it[0]), u(it[1]), u(it[2]), u(it[3]), u(it[4])
        gkind = it[it[5]:it[6]]
        gptr = it[it[6]:it[7]]
        a0 = it[it[7]:it[8]]
        a1 = it[it[8]:it[9]]
        a2 = it[it[9]:it[10]]
        csr = it[it[10]:it[11]]
        outs = it[it[11]:]
        for i in range(ny):
            v[i] = y[i]
        for i in range(npar):
            v[ny + i] = p[i]
        v[ny + npar] = t
        for g in range(ng):
            kind = gkind[g]
            lo = u(gptr[g])
            hi = u(gptr[g + u(1)])
            if kind < 8:
                for k in range(lo, hi):
                    s = u(a0[k])
                    e = u(a1[k])
                    if kind == 4:
                        # two interleaved partial sums per section: the additions form
                        # two dependency chains instead of one
                        acc = 0.0
                        acc2 = 0.0
                        jj = s + u(1)
                        while jj + u(1) < e:
                            acc = acc + v[u(csr[jj])]
                            acc2 = acc2 + v[u(csr[jj + u(1)])]
                            jj += u(2)
                        if jj < e:
                            acc = acc + v[u(csr[jj])]
                        jj = e
                        e = u(a2[k])
                        while jj + u(3) < e:
                            acc = acc + v[u(csr[jj])] * v[u(csr[jj + u(1)])]
                            acc2 = acc2 + v[u(csr[jj + u(2)])] * v[u(csr[jj + u(3)])]
                            jj += u(4)
                        if jj < e:
                            acc = acc + v[u(csr[jj])] * v[u(csr[jj + u(1)])]
                        jj = e
                        e = u(csr[s])
                        while jj + u(5) < e:
                            acc = acc + (v[u(csr[jj])] * v[u(csr[jj + u(1)])]
                                         * v[u(csr[jj + u(2)])])
                            acc2 = acc2 + (v[u(csr[jj + u(3)])] * v[u(csr[jj + u(4)])]
                                           * v[u(csr[jj + u(5)])])
                            jj += u(6)
                        if jj < e:
                            acc = acc + (v[u(csr[jj])] * v[u(csr[jj + u(1)])]
                                         * v[u(csr[jj + u(2)])])
                        v[base + k] = acc + acc2
                        continue
                    acc = v[u(csr[s])]
                    if kind == 1:
                        for jj in range(s + u(1), e):
                            acc = acc * v[u(csr[jj])]
                    elif kind == 2:
                        for jj in range(s + u(1), e):
                            acc = min(acc, v[u(csr[jj])])
                    else:
                        for jj in range(s + u(1), e):
                            acc = max(acc, v[u(csr[jj])])
                    v[base + k] = acc
            elif kind == 8:
                for k in range(lo, hi):
                    v[base + k] = v[u(a0[k])] + v[u(a1[k])]
            elif kind == 9:
                for k in range(lo, hi):
                    v[base + k] = v[u(a0[k])] * v[u(a1[k])]
            elif kind == 13:
                for k in range(lo, hi):
                    v[base + k] = v[u(a0[k])] * v[u(a1[k])] + v[u(a2[k])]
            elif kind < 30 or kind >= 50:
                for k in range(lo, hi):
                    a = v[u(a0[k])]
                    b = v[u(a1[k])]
                    if kind == 10:
                        r = -a
                    elif kind == 11:
                        r = a - b
                    elif kind == 12:
                        r = a / b
                    elif kind == 14:
                        r = a ** b
                    elif kind == 15:
                        r = b if a != 0.0 else v[u(a2[k])]
                    elif kind == 16:
                        r = 1.0 if a < b else 0.0
                    elif kind == 17:
                        r = 1.0 if a <= b else 0.0
                    elif kind == 18:
                        r = 1.0 if a == b else 0.0
                    elif kind == 19:
                        r = 1.0 if a != b else 0.0
                    elif kind == 20:
                        r = 1.0 if (a != 0.0 and b != 0.0) else 0.0
                    elif kind == 21:
                        r = 1.0 if (a != 0.0 or b != 0.0) else 0.0
                    elif kind == 22:
                        r = 1.0 if a == 0.0 else 0.0
                    elif kind == 23:
                        r = 1.0 if a > 0.0 else (-1.0 if a < 0.0 else 0.0)
                    elif kind == 50:
                        n = np.int64(a1[k]) - 16
                        r = a
                        for _ in range(abs(n) - 1):
                            r = r * a
                        if n < 0:
                            r = 1.0 / r
                    elif kind == 51:
                        r = math.sqrt(a)
                    elif kind == 52:
                        r = 1.0 / math.sqrt(a)
                    else:
                        r = a ** b
                    v[base + k] = r
            else:
                for k in range(lo, hi):
                    a = v[u(a0[k])]
                    if kind == 30:
                        r = math.exp(a)
                    elif kind == 31:
                        r = math.log(a)
                    elif kind == 32:
                        r = math.sin(a)
                    elif kind == 33:
                        r = math.cos(a)
                    elif kind == 34:
                        r = math.tan(a)
                    elif kind == 35:
                        r = math.sinh(a)
                    elif kind == 36:
                        r = math.cosh(a)
                    elif kind == 37:
                        r = math.tanh(a)
                    elif kind == 38:
                        r = math.asin(a)
                    elif kind == 39:
                        r = math.acos(a)
                    elif kind == 40:
                        r = math.atan(a)
                    else:
                        r = abs(a)
                    v[base + k] = r
        for j in range(no):
            out[j] = v[u(outs[j])]

    return _run


__all__ = ["SLPTables", "supports", "SUPPORTED", "sum_sections", "summation_chains"]
