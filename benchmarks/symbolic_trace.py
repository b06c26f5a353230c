"""Tracing numpy PDE code and its sparse Jacobian: pdeflow against SymPy and SymEngine.

Every tool traces the *same* numpy functions (:mod:`_pde_cases`): pdeflow with
:func:`pdeflow.symbolic.trace`, SymPy and SymEngine by running the function on object
arrays of their symbols (``np.empty(shape, dtype=object)`` filled with ``Symbol``\\ s;
numpy then does every operation, dense matmuls with ``Mx``/``My`` included, element by
element).  Measured per case and grid size ``N``:

trace
    pdeflow: ``trace(f, t, y, p)`` (array-level IR).  Peers: building the object arrays
    of symbols plus running ``f`` on them (one scalar expression per equation).
jacobian
    The sparse Jacobian with respect to the state, pattern *and* values, as a CSR
    pattern.  pdeflow: ``jacobian(out, y)``, whose values are one array-level expression
    (ready for code generation).  Peers: for every output expression, ``e.diff(s)`` for
    each state symbol ``s`` among its free symbols (a fair sparse Jacobian).
materialize (pdeflow only, reported apart)
    ``J.exprs``: one scalar term per nonzero, built on demand.  Not part of the
    Jacobian time above, because code generation consumes the array expression.
memory
    Peak resident set size (``VmHWM`` of ``/proc/<pid>/status``) of the tool's worker
    process after its cold run, absolute and above the same process just before tracing
    (interpreter, imports, example arguments, the N=4 warm-up).

Timing protocol: each tool runs in its own ``spawn`` worker process per case and size,
which imports only that tool and does one untimed run at N=4 (lazy imports).  Its first
run ("cold", also the memory measurement) is capped at ``--timeout`` seconds
(``--sympy-timeout`` for SymPy): a run that does not finish is killed and reported as
``> elapsed`` (with an extrapolation from the Jacobian rows it completed), so its ratio is
a lower bound.  Tools whose cold run fits ``--warm-budget`` then repeat, in interleaved
rounds across the workers (rotated order, one worker busy at a time, ``gc.collect()``
and SymPy's ``clear_cache()`` before every run, nothing of the previous run kept alive).
A ratio is ``peer / pdeflow`` (above 1: pdeflow faster), of the two medians where the
peer has repeats, else of the two cold runs.

Where a peer's trace of the dense ``rd3`` is cut off (SymEngine at N=128), its Jacobian is
timed on expressions from the stencil twin of the same code
(:func:`_pde_cases.rd3_stencil_rhs`: the three diagonals of ``Mx``/``My`` only), which
the checks show to be identical, term for term, to those of the dense products; the
table marks these ``[cold, twin]``.

Correctness (pdeflow): ``evaluate`` of the traced output against the numpy function
and the Jacobian-vector product against central differences at a random state, at every
size; at N=8 the full Jacobian against finite differences and against SymEngine's
derivatives; the sparsity pattern against every peer that finished.

Run::

    .venv/bin/python benchmarks/symbolic_trace.py            # N = 32 and 128 (~3-4 min)
    .venv/bin/python benchmarks/symbolic_trace.py --quick    # N = 32 only
    .venv/bin/python benchmarks/symbolic_trace.py --sizes 16 64 --timeout 20 --profile
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import gc
import hashlib
import inspect
import io
import math
import multiprocessing
import pstats
import resource
import sys
import time
from pathlib import Path

import numpy as np
from _pde_cases import CASES, STENCIL_TWINS

try:
    from _harness import CompareResult, Timing, describe_ratio, machine_info, write_results
except ImportError:  # the shared harness is missing: a minimal stand-in
    CompareResult = Timing = None
    machine_info = None

    def describe_ratio(ratio: float) -> str:
        return "n/a" if math.isnan(ratio) else f"{ratio:.2f}x"

    def write_results(name, payload):
        import json

        out = Path(__file__).resolve().parent / "results" / f"{name}-{int(time.time())}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(payload, indent=2, default=str) + "\n")
        print(f"results written to {out}")
        return out


TOOLS = ("pdeflow", "symengine", "sympy")
PEERS = ("symengine", "sympy")
METRICS = ("trace", "jacobian")
# goals of issue 3: (peer, N) -> minimum ratio peer/pdeflow, for both trace and Jacobian
GOALS = {
    ("sympy", 32): 30.0, ("sympy", 128): 30.0,
    ("symengine", 32): 1.0, ("symengine", 128): 10.0,
}
BIG_N, BIG_SECONDS, BIG_BYTES = 128, 60.0, 4 * 2**30


# ---------------------------------------------------------------------- the tools
def _state_name(f) -> str:
    return list(inspect.signature(f).parameters)[1]


class PdeflowTool:
    """pdeflow: array-level trace, array-level sparse Jacobian."""

    name = "pdeflow"

    def __init__(self):
        import pdeflow.symbolic as S

        self.S = S

    def trace(self, f, args):
        out, inputs = self.S.trace(f, *args, return_inputs=True)
        return out, inputs[_state_name(f)]

    def jacobian(self, traced, progress=None):
        out, y = traced
        J = self.S.jacobian(out, y)
        return J.pattern, J

    @staticmethod
    def materialize(J):
        return J.exprs


class ObjectArrayTool:
    """SymPy or SymEngine: the numpy code runs on object arrays of scalar symbols."""

    def __init__(self, name: str):
        self.name = name
        if name == "sympy":
            import sympy

            self.mod = sympy
            self.clear_cache = sympy.core.cache.clear_cache
        else:
            import symengine

            self.mod = symengine
            self.clear_cache = None

    def symbols(self, name, value):
        Symbol = self.mod.Symbol
        if isinstance(value, np.ndarray):
            arr = np.empty(value.shape, dtype=object)
            for idx in np.ndindex(value.shape):
                arr[idx] = Symbol(f"{name}[{','.join(map(str, idx))}]")
            return arr
        if isinstance(value, tuple | list):
            return tuple(Symbol(f"{name}_{i}") for i in range(len(value)))
        return Symbol(name)

    def trace(self, f, args):
        names = list(inspect.signature(f).parameters)
        sym_args = [self.symbols(n, a) for n, a in zip(names, args, strict=False)]
        out = f(*sym_args)
        return out, sym_args[1]

    def jacobian(self, traced, progress=None):
        out, y = traced
        var = y.ravel()
        col = {s: j for j, s in enumerate(var)}
        exprs = np.asarray(out).ravel()
        m = exprs.size
        every = max(1, m // 50)
        indptr = [0]
        indices: list[int] = []
        values = []
        for i, e in enumerate(exprs):
            for j in sorted(col[s] for s in e.free_symbols if s in col):
                values.append(e.diff(var[j]))
                indices.append(j)
            indptr.append(len(indices))
            if progress is not None and (i + 1) % every == 0:
                progress(i + 1, m)
        import scipy.sparse as sp

        pattern = sp.csr_matrix(
            (np.ones(len(indices)), np.asarray(indices, dtype=np.int64), np.asarray(indptr)),
            shape=(m, var.size),
        )
        return pattern, values


def make_tool(name: str):
    return PdeflowTool() if name == "pdeflow" else ObjectArrayTool(name)


def pattern_digest(P) -> str:
    h = hashlib.sha1()
    h.update(np.asarray(P.shape, dtype=np.int64).tobytes())
    h.update(np.asarray(P.indptr, dtype=np.int64).tobytes())
    h.update(np.asarray(P.indices, dtype=np.int64).tobytes())
    return h.hexdigest()[:16]


# ---------------------------------------------------------------------- cold runs
def _vmhwm(pid: int | str = "self") -> int | None:
    """Peak RSS of a process from ``/proc/<pid>/status`` (``VmHWM``), in bytes."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return None


def _maxrss() -> int:
    """This process's peak RSS.  ``VmHWM``, not ``ru_maxrss``: a spawned child's
    ``ru_maxrss`` starts at its parent's peak (it survives fork + exec on Linux)."""
    hwm = _vmhwm()
    if hwm is not None:
        return hwm
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB


def _worker(tool_name, case, N, twin, conn):
    """A tool's process: imports only that tool, then runs trace + Jacobian on request."""
    try:
        make_rhs, make_args = CASES[case]
        f, args = (STENCIL_TWINS[case] if twin else make_rhs)(N), make_args(N)
        tool = make_tool(tool_name)
        # one tiny untimed run first: lazy imports and one-time initialization
        tool.jacobian(tool.trace(make_rhs(4), make_args(4)))
        J = None
        first = True
        conn.send(("ready", _maxrss()))
        while True:
            cmd = conn.recv()
            if cmd == "stop":
                return
            if cmd == "materialize":
                t0 = time.perf_counter()
                n = len(tool.materialize(J))
                conn.send(("done", {"materialize_s": time.perf_counter() - t0,
                                    "materialized": n, "peak_rss_with_exprs_bytes": _maxrss()}))
                continue
            J = None  # nothing of the previous run stays alive
            if getattr(tool, "clear_cache", None):
                tool.clear_cache()
            gc.collect()
            t0 = time.perf_counter()
            traced = tool.trace(f, args)
            t1 = time.perf_counter()
            conn.send(("trace", t1 - t0))

            def progress(done, total, t1=t1):
                conn.send(("rows", done, total, time.perf_counter() - t1))

            pattern, J = tool.jacobian(traced, progress if first else None)
            t2 = time.perf_counter()
            res = {"trace_s": t1 - t0, "jacobian_s": t2 - t1, "peak_rss_bytes": _maxrss()}
            if first:
                res |= {"nnz": int(pattern.nnz), "pattern": pattern_digest(pattern)}
            first = False
            del traced, pattern
            conn.send(("done", res))
    except BaseException as exc:  # report, never hang the parent
        conn.send(("error", f"{type(exc).__name__}: {exc}"))


class Worker:
    """Parent side of :func:`_worker`: one spawned process per tool, case and size."""

    def __init__(self, tool, case, N, twin=False):
        ctx = multiprocessing.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker, args=(tool, case, N, twin, child), daemon=True)
        self.proc.start()
        child.close()
        self.alive = True
        msg = self._recv(180.0)  # imports and the warm-up run
        if msg is None or msg[0] != "ready":
            self.close()
            raise RuntimeError(f"{tool} worker failed to start: {msg}")
        self.baseline_rss = msg[1]

    def _recv(self, timeout):
        if self.conn.poll(max(timeout, 0.0)):
            try:
                return self.conn.recv()
            except EOFError:
                return ("error", f"worker died (exit code {self.proc.exitcode})")
        return None

    def call(self, cmd, timeout) -> dict:
        """Send ``cmd``; returns the result, or a record of the timeout/error."""
        rec: dict = {"status": "error"}
        self.conn.send(cmd)
        start = time.monotonic()
        while True:
            msg = self._recv(start + timeout - time.monotonic())
            if msg is None:
                rec |= {"status": "timeout", "elapsed_s": time.monotonic() - start,
                        "peak_rss_bytes": _vmhwm(self.proc.pid)}
                self.close()
                return rec
            kind = msg[0]
            if kind == "trace":
                rec["trace_s"] = msg[1]
            elif kind == "rows":
                rec["rows_done"], rec["rows_total"], rec["jacobian_elapsed_s"] = msg[1:]
            elif kind == "done":
                rec |= msg[1]
                rec["status"] = "ok"
                return rec
            else:
                rec["error"] = msg[1]
                self.close()
                return rec

    def close(self):
        if self.alive and self.proc.is_alive():
            with contextlib.suppress(OSError, BrokenPipeError):
                self.conn.send("stop")
            self.proc.join(5)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(5)
        self.alive = False


def measure(tools, case, N, args, twin=False) -> tuple[dict, dict]:
    """Cold run of every tool (capped), then interleaved warm repeats of the quick ones.

    Returns ``(cold, warm)``: ``cold[tool]`` is the first run's record (with memory);
    ``warm[tool]`` the ``{"trace": [...], "jacobian": [...]}`` samples of later runs.
    """
    workers, cold = {}, {}
    warm = {k: {"trace": [], "jacobian": []} for k in tools}
    try:
        for k in tools:
            timeout = args.sympy_timeout if k == "sympy" else args.timeout
            workers[k] = w = Worker(k, case, N, twin)
            cold[k] = c = w.call("run", timeout)
            c["baseline_rss_bytes"] = w.baseline_rss
            err = f"  ({c['error']})" if "error" in c else ""
            label = " on the stencil twin" if twin else ""
            print(f"  cold {k:<9} {c['status']:<7}{label} trace {fmt_s(c.get('trace_s'))}, "
                  f"jacobian {fmt_s(c.get('jacobian_s'))}, peak RSS "
                  f"{fmt_mb(c.get('peak_rss_bytes'))}{err}", flush=True)
        counts = {}
        for k in tools:
            c = cold[k]
            per = c.get("trace_s", math.inf) + c.get("jacobian_s", math.inf)
            counts[k] = 0 if c["status"] != "ok" else int(min(args.repeats,
                                                              args.warm_budget // per))
        names = [k for k in tools if counts[k] > 0]
        for r in range(max(counts.values(), default=0)):
            for k in names[r % len(names):] + names[: r % len(names)]:
                if r < counts[k]:
                    rec = workers[k].call("run", 10 * args.warm_budget)
                    if rec["status"] == "ok":
                        warm[k]["trace"].append(rec["trace_s"])
                        warm[k]["jacobian"].append(rec["jacobian_s"])
        w = workers.get("pdeflow")
        if w is not None and w.alive and N <= args.materialize_max_n:
            rec = w.call("materialize", args.timeout)
            cold["pdeflow"] |= {k: v for k, v in rec.items() if k != "status"}
    finally:
        for w in workers.values():
            w.close()
    return cold, warm


# ---------------------------------------------------------------------- correctness
def check_pdeflow(case, N, peers_cold: dict, rng_seed=1) -> dict:
    """pdeflow's trace and Jacobian against the numpy code, finite differences, peers."""
    import pdeflow.symbolic as S

    make_rhs, make_args = CASES[case]
    f = make_rhs(N)
    t, y, p = make_args(N, seed=rng_seed)
    out, inputs = S.trace(f, t, y, p, return_inputs=True)
    ys = inputs[_state_name(f)]
    subs = {ys: y, "t": t, **{f"p_{i}": v for i, v in enumerate(p)}}
    ref = f(t, y, p)
    got = S.evaluate(out, subs)
    res = {"output_max_rel_err": float(np.abs(got - ref).max() / np.abs(ref).max())}
    J = S.jacobian(out, ys)
    Jn = S.evaluate(J, subs)
    h = 1e-6
    errs = []
    for k in range(3):
        v = np.random.default_rng(100 + k).standard_normal(y.shape)
        fd = ((f(t, y + h * v, p) - f(t, y - h * v, p)) / (2 * h)).ravel()
        errs.append(np.abs(Jn @ v.ravel() - fd).max() / np.abs(fd).max())
    res["jvp_vs_fd_max_rel_err"] = float(max(errs))
    digest = pattern_digest(J.pattern)
    res["pattern_matches"] = {
        k: rec.get("pattern") == digest for k, rec in peers_cold.items() if "pattern" in rec
    }
    ok = res["output_max_rel_err"] < 1e-10 and res["jvp_vs_fd_max_rel_err"] < 1e-6
    res["ok"] = bool(ok and all(res["pattern_matches"].values()))
    return res


def check_small(case, N=8) -> dict:
    """At a small size: the full Jacobian against finite differences and SymEngine."""
    import symengine

    import pdeflow.symbolic as S

    make_rhs, make_args = CASES[case]
    f = make_rhs(N)
    t, y, p = make_args(N, seed=2)
    out, inputs = S.trace(f, t, y, p, return_inputs=True)
    ys = inputs[_state_name(f)]
    subs = {ys: y, "t": t, **{f"p_{i}": v for i, v in enumerate(p)}}
    Jn = S.evaluate(S.jacobian(out, ys), subs).toarray()
    n = y.size
    h = 1e-6
    fd = np.empty((n, n))
    for j in range(n):
        e = np.zeros(n)
        e[j] = h
        e = e.reshape(y.shape)
        fd[:, j] = ((f(t, y + e, p) - f(t, y - e, p)) / (2 * h)).ravel()
    tool = ObjectArrayTool("symengine")
    traced = tool.trace(f, (t, y, p))
    P, vals = tool.jacobian(traced)
    Y = traced[1].ravel()
    env = {s: float(v) for s, v in zip(Y, y.ravel(), strict=True)}
    env |= {symengine.Symbol("t"): t}
    env |= {symengine.Symbol(f"p_{i}"): v for i, v in enumerate(p)}
    se = np.zeros((n, n))
    rows = np.repeat(np.arange(n), np.diff(P.indptr))
    for r, c, e in zip(rows, P.indices, vals, strict=True):
        se[r, c] = float(e.subs(env))
    scale = np.abs(fd).max()
    res = {
        "N": N,
        "dense_vs_fd_max_rel_err": float(np.abs(Jn - fd).max() / scale),
        "dense_vs_symengine_max_rel_err": float(np.abs(Jn - se).max() / np.abs(se).max()),
    }
    res["ok"] = bool(res["dense_vs_fd_max_rel_err"] < 1e-6
                     and res["dense_vs_symengine_max_rel_err"] < 1e-12)
    if case in STENCIL_TWINS:  # the twin must give the peers' very expressions
        same = {}
        for k in PEERS:
            peer = ObjectArrayTool(k)
            a = peer.trace(f, (t, y, p))[0].ravel()
            b = peer.trace(STENCIL_TWINS[case](N), (t, y, p))[0].ravel()
            same[k] = bool(all(x == z for x, z in zip(a, b, strict=True)))
        res["stencil_twin_identical"] = same
        res["ok"] = res["ok"] and all(same.values())
    return res


# ---------------------------------------------------------------------- profiling
def profile_pdeflow(case, N, top=10) -> str:
    """cProfile of pdeflow's trace + Jacobian; the ``top`` functions by own time."""
    tool = PdeflowTool()
    make_rhs, make_args = CASES[case]
    f, args = make_rhs(N), make_args(N)
    prof = cProfile.Profile()
    prof.enable()
    traced = tool.trace(f, args)
    tool.jacobian(traced)
    prof.disable()
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(top)
    return buf.getvalue()


# ---------------------------------------------------------------------- reporting
def fmt_s(x: float | None) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    if x >= 1:
        return f"{x:.2f} s"
    return f"{x * 1e3:.1f} ms"


def fmt_mb(b) -> str:
    return "-" if b is None else f"{b / 2**20:.0f} MiB"


def summarize(tool, metric, cold: dict, warm: list[float], twin: dict | None = None) -> dict:
    """Seconds for one tool and metric: median of warm repeats, else the cold run.

    ``twin``: a cold run on the stencil twin of the case, whose Jacobian stands in when
    the tool's trace of the original timed out.
    """
    if warm:
        return {"seconds": float(np.median(warm)), "kind": "median", "n": len(warm), "bound": False}
    key = f"{metric}_s"
    if key in cold:
        return {"seconds": cold[key], "kind": "cold", "n": 1, "bound": False}
    if metric == "jacobian" and twin is not None and "trace_s" in twin:
        out = summarize(tool, metric, twin, [])
        out["kind"] = "cold, twin" if out["kind"] == "cold" else out["kind"] + ", twin"
        return out
    if cold.get("status") == "timeout":
        el = cold.get("elapsed_s")
        if metric == "trace":
            return {"seconds": el, "kind": "timeout", "n": 0, "bound": True}
        if "trace_s" in cold and el is not None:
            jac = el - cold["trace_s"]
            est = None
            if cold.get("rows_done"):
                est = cold["jacobian_elapsed_s"] * cold["rows_total"] / cold["rows_done"]
            return {"seconds": jac, "kind": "timeout", "n": 0, "bound": True, "estimate": est,
                    "rows": f"{cold.get('rows_done', 0)}/{cold.get('rows_total', '?')}"}
        return {"seconds": None, "kind": "not reached", "n": 0, "bound": True}
    return {"seconds": None, "kind": cold.get("status", "error"), "n": 0, "bound": True}


def cell(s: dict) -> str:
    if s["seconds"] is None:
        return s["kind"]
    if s["bound"]:
        txt = f"> {fmt_s(s['seconds'])}"
        if s.get("estimate"):
            txt += f" (~{fmt_s(s['estimate'])}, {s['rows']} rows)"
        return txt
    return fmt_s(s["seconds"]) + (f" [{s['kind']}]" if s["kind"] != "median" else "")


def goal_verdict(ratio: float | None, want: float, bound: bool) -> str:
    if ratio is None:
        return "UNMEASURED"
    if ratio >= want:
        return "PASS"
    return "UNDECIDED" if bound else "MISS"


def run_case(case, N, tools, args) -> tuple[dict, list, list, list]:
    """Cold runs, warm repeats and checks of one case; returns (record, rows, goals, compares)."""
    print(f"\n### {case}, N={N}", flush=True)
    cold, warm = measure(tools, case, N, args)
    twins = {}
    redo = [k for k in tools if k in args.twin_peers and case in STENCIL_TWINS
            and cold[k]["status"] == "timeout" and "trace_s" not in cold[k]]
    if redo:
        twins = measure(redo, case, N, args, twin=True)[0]
    counts = {k: len(warm[k]["trace"]) for k in tools}
    checks = check_pdeflow(case, N, {k: v for k, v in cold.items() if k != "pdeflow"})
    rec = {"case": case, "N": N, "cold": cold, "cold_stencil_twin": twins, "warm_samples": warm,
           "warm_counts": counts, "checks": checks, "summary": {}}
    rows, goals, compares = [], [], []
    for metric in METRICS:
        summ = {k: summarize(k, metric, cold[k], warm[k][metric], twins.get(k)) for k in tools}
        rec["summary"][metric] = summ
        ours = summ["pdeflow"]["seconds"]
        measured = {k: Timing(tuple(warm[k][metric])) for k in tools if warm[k][metric]}
        if Timing is not None and "pdeflow" in measured and len(measured) > 1:
            cr = CompareResult(f"{metric}: {case}, N={N} (warm repeats)", measured,
                               repeats=max(counts.values()), warmup=0,
                               meta={"repeats_per_tool": counts})
            compares.append(cr)
            print(cr.format())
        row = [case, str(N), metric, cell(summ["pdeflow"])]
        for k in PEERS:
            if k not in summ:
                continue
            s = summ[k]
            base = ours if s["kind"] == "median" else cold["pdeflow"].get(f"{metric}_s", ours)
            s["ratio"] = ratio = None if s["seconds"] is None else s["seconds"] / base
            rtxt = "-" if ratio is None else (">" if s["bound"] else "") + f"{ratio:.1f}x"
            row.append(f"{cell(s)}  {rtxt}")
            want = GOALS.get((k, N))
            if want is not None:
                goals.append((f"{case:<12} N={N:<4} {metric:<9} vs {k:<10} >= {want:g}x", rtxt,
                               goal_verdict(ratio, want, s["bound"])))
        rows.append(row)
    p = cold["pdeflow"]
    npeers = len([k for k in PEERS if k in tools])
    rows.append([case, str(N), "exprs*", fmt_s(p.get("materialize_s"))] + [""] * npeers)
    mem = []
    for k in tools:
        peak = cold[k].get("peak_rss_bytes")
        grow = None if peak is None else peak - cold[k].get("baseline_rss_bytes", 0)
        mem.append(f"{fmt_mb(peak)} (+{fmt_mb(grow)})")
    rows.append([case, str(N), "peak RSS", *mem])
    if N == BIG_N:
        total = p.get("trace_s", math.inf) + p.get("jacobian_s", math.inf)
        rss = p.get("peak_rss_bytes") or math.inf
        ok = total <= BIG_SECONDS and rss <= BIG_BYTES
        goals.append((f"{case:<12} N={N:<4} pdeflow trace+jacobian <= 60 s, <= 4 GB",
                      f"{fmt_s(total)}, {fmt_mb(rss)}", "PASS" if ok else "MISS"))
    matches = ", ".join(
        f"{k} {'same' if v else 'DIFFERS'}" for k, v in checks["pattern_matches"].items()
    )
    goals.append((f"{case:<12} N={N:<4} correct: evaluate, J@v vs FD, pattern vs peers",
                  f"{checks['output_max_rel_err']:.0e}, {checks['jvp_vs_fd_max_rel_err']:.0e}, "
                  f"{matches or '-'}", "PASS" if checks["ok"] else "MISS"))
    return rec, rows, goals, compares


def print_table(rows, tools) -> None:
    header = ["case", "N", "metric", "pdeflow"] + [f"{k} (ratio)" for k in PEERS if k in tools]
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    print("\n" + "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    for r in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)))
    print(
        "times: median of repeats in the tool's own worker process; [cold] = its first run\n"
        "only; '> t' = cut off after t s (~ extrapolated from the Jacobian rows done), so the\n"
        "ratio is a lower bound.  ratio = peer / pdeflow (above 1: pdeflow faster), against\n"
        "pdeflow's median, or its cold run where the peer has only a cold run.\n"
        "exprs* = pdeflow materializing J.exprs (one scalar term per nonzero), cold, NOT in\n"
        "'jacobian'.  peak RSS = VmHWM of the worker after its cold run (+ growth over its\n"
        "pre-trace baseline: interpreter, imports, example arguments, N=4 warm-up)."
    )


def print_goals(goals) -> None:
    gw = max(len(g[0]) for g in goals)
    vw = max(len(g[1]) for g in goals)
    print("\nGoals (issue 3):")
    for name, val, verdict in goals:
        print(f"  {name.ljust(gw)}  {val.ljust(vw)}  {verdict}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N = 32 only")
    parser.add_argument("--sizes", type=int, nargs="+", default=None, help="grid sizes N")
    parser.add_argument("--cases", nargs="+", choices=sorted(CASES), default=list(CASES))
    parser.add_argument("--tools", nargs="+", choices=TOOLS, default=list(TOOLS))
    parser.add_argument("--repeats", type=int, default=7, help="warm repeats per tool (max)")
    parser.add_argument("--warm-budget", type=float, default=6.0,
                        help="seconds of warm repeats allowed per tool and case")
    parser.add_argument("--timeout", type=float, default=30.0,
                        help="cap in seconds on each cold run (a subprocess) of pdeflow/SymEngine")
    parser.add_argument("--sympy-timeout", type=float, default=20.0,
                        help="cap in seconds on each cold run of SymPy")
    parser.add_argument("--twin-peers", nargs="*", choices=PEERS, default=["symengine"],
                        help="peers whose Jacobian is timed on the stencil twin of a case when "
                        "their trace of the case itself timed out")
    parser.add_argument("--materialize-max-n", type=int, default=32,
                        help="time pdeflow's J.exprs in the cold run up to this N")
    parser.add_argument("--profile", action="store_true",
                        help="print cProfile of pdeflow at the largest N even if all goals pass")
    args = parser.parse_args(argv)
    if "pdeflow" not in args.tools:
        parser.error("--tools must include pdeflow")
    if args.repeats < 1:
        parser.error(f"--repeats must be >= 1, got {args.repeats}")
    sizes = args.sizes or ([32] if args.quick else [32, 128])
    start_all = time.perf_counter()
    if CompareResult is None:
        print("note: benchmarks/_harness.py not found; using a minimal local fallback")

    tools = list(args.tools)
    records, rows, goals, compares = [], [], [], []
    for case in args.cases:
        for N in sizes:
            rec, r, g, c = run_case(case, N, tools, args)
            records.append(rec)
            rows += r
            goals += g
            compares += c
    small = {case: check_small(case) for case in args.cases}
    for case, r in small.items():
        twin = r.get("stencil_twin_identical")
        twin_txt = "" if twin is None else ", twin " + ("same" if all(twin.values()) else "DIFFERS")
        goals.append((f"{case:<12} N=8    full J vs FD, vs SymEngine values",
                      f"{r['dense_vs_fd_max_rel_err']:.0e}, "
                      f"{r['dense_vs_symengine_max_rel_err']:.0e}{twin_txt}",
                      "PASS" if r["ok"] else "MISS"))
    print_table(rows, args.tools)
    print_goals(goals)

    misses = [g for g in goals if g[2] == "MISS"]
    profiles = {}
    if misses or args.profile:
        N = max(sizes)
        for case in args.cases:
            profiles[f"{case}, N={N}"] = text = profile_pdeflow(case, N)
            print(f"\ncProfile of pdeflow trace + jacobian, {case}, N={N} (top 10, own time):")
            print("\n".join(line for line in text.splitlines()[:30] if line.strip()))
    elapsed = time.perf_counter() - start_all
    print(f"\ntotal benchmark time {elapsed:.0f} s")
    payload = {"cases": records, "small_checks": small, "compare": compares,
               "goals": [{"goal": g[0], "value": g[1], "verdict": g[2]} for g in goals],
               "profiles": profiles, "args": vars(args), "elapsed_s": elapsed}
    if machine_info is None:
        payload["machine"] = {"python": sys.version}
    write_results("symbolic_trace", payload)
    return 1 if misses else 0


if __name__ == "__main__":
    sys.exit(main())
