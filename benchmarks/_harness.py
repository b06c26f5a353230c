"""The benchmark harness: time pdeflow against named peers in one run, on one machine.

Every ``benchmarks/*.py`` script uses it the same way::

    from _harness import compare, write_results

    result = compare("poisson 2d, n=256", pdeflow_solve, {"scipy spsolve": scipy_solve})
    write_results("poisson", {"cases": [result]})

Rules the harness enforces so that ratios are honest:

* all candidates run in the same process, after ``warmup`` untimed calls each (JIT
  compilation, caches);
* repeats are **interleaved** (round r runs every candidate once, in an order rotated
  each round), so drifting clock speed or a noisy neighbour affects every candidate alike;
* the ratio reported for a peer is ``peer median / pdeflow median``: above 1 means
  pdeflow is that many times faster;
* an optional ``check(pdeflow_output, peer_output)`` verifies that every peer computed
  the same thing as pdeflow before anything is timed.

Memory: :func:`peak_memory` measures either Python-heap allocations with
``tracemalloc`` (in process; sees numpy buffers but not torch/JAX/PETSc native memory)
or the peak resident set size of a fresh subprocess (Linux ``VmHWM``, else
``ru_maxrss``; sees everything, including the interpreter and imports, reported
separately as a baseline).

Results are written as JSON to ``benchmarks/results/`` (git-ignored), together with
:func:`machine_info`.  ``PDEFLOW_BENCH_RESULTS`` points elsewhere.
"""

from __future__ import annotations

import datetime as _dt
import importlib.metadata
import json
import math
import multiprocessing
import os
import platform
import queue
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import Any, Literal

__all__ = [
    "Timing",
    "CompareResult",
    "MemoryResult",
    "compare",
    "machine_info",
    "write_results",
    "peak_memory",
    "RESULTS_DIR",
]

RESULTS_DIR = Path(__file__).resolve().parent / "results"
PDEFLOW = "pdeflow"
_VERSION_PACKAGES = ("numpy", "scipy", "torch", "jax", "jaxlib", "numba", "pdeflow")


# ---------------------------------------------------------------------- timing
@dataclass(frozen=True)
class Timing:
    """Wall-clock samples of one candidate, in seconds."""

    samples: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def min(self) -> float:
        return min(self.samples)

    @property
    def max(self) -> float:
        return max(self.samples)

    def to_dict(self) -> dict[str, Any]:
        return {
            "median_s": self.median,
            "min_s": self.min,
            "max_s": self.max,
            "samples_s": list(self.samples),
        }


@dataclass(frozen=True)
class CompareResult:
    """Timings of pdeflow and its peers on one case.

    Attributes
    ----------
    name : str
        The case ("poisson 2d, n=256").
    timings : dict of str to Timing
        ``"pdeflow"`` first, then each peer.
    repeats, warmup : int
        As passed to :func:`compare`.
    """

    name: str
    timings: dict[str, Timing]
    repeats: int
    warmup: int
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def peers(self) -> list[str]:
        return [k for k in self.timings if k != PDEFLOW]

    def ratio(self, peer: str) -> float:
        """``peer median / pdeflow median``: how many times faster pdeflow is than ``peer``."""
        ours = self.timings[PDEFLOW].median
        theirs = self.timings[peer].median
        if ours <= 0:
            return math.inf if theirs > 0 else math.nan
        return theirs / ours

    @property
    def ratios(self) -> dict[str, float]:
        return {peer: self.ratio(peer) for peer in self.peers}

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "repeats": self.repeats,
            "warmup": self.warmup,
            "timings": {k: t.to_dict() for k, t in self.timings.items()},
            "ratios_peer_over_pdeflow": self.ratios,
            "meta": self.meta,
        }

    def format(self) -> str:
        """A plain-text table: median/min/max per candidate and each peer's ratio."""
        width = max(len(k) for k in self.timings) + 2
        lines = [
            f"== {self.name}  ({self.repeats} interleaved repeats, {self.warmup} warmup)",
            f"{'candidate':<{width}}{'median':>12}{'min':>12}{'max':>12}   ratio",
        ]
        for key, t in self.timings.items():
            row = f"{key:<{width}}{_fmt_s(t.median):>12}{_fmt_s(t.min):>12}{_fmt_s(t.max):>12}"
            if key != PDEFLOW:
                row += "   " + describe_ratio(self.ratio(key))
            lines.append(row)
        return "\n".join(lines)


def describe_ratio(ratio: float) -> str:
    """``2.0 -> "pdeflow 2.00x faster"``, ``0.5 -> "pdeflow 2.00x slower"``."""
    if math.isnan(ratio):
        return "n/a"
    if ratio >= 1:
        return f"pdeflow {ratio:.2f}x faster"
    return f"pdeflow {1 / ratio:.2f}x slower"


def _fmt_s(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.3f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.3f} ms"
    return f"{seconds * 1e6:.1f} us"


def _call(fn: Callable[..., Any], setup: Callable[[], Any] | None) -> tuple[float, Any]:
    args = () if setup is None else (setup(),)
    start = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - start, out


def compare(
    name: str,
    pdeflow_fn: Callable[..., Any],
    peers: Mapping[str, Callable[..., Any]],
    repeats: int = 5,
    warmup: int = 1,
    setup: Callable[[], Any] | None = None,
    check: Callable[[Any, Any], None] | None = None,
    *,
    quiet: bool = False,
    meta: Mapping[str, Any] | None = None,
) -> CompareResult:
    """Time ``pdeflow_fn`` and every peer side by side, with interleaved repeats.

    Parameters
    ----------
    name
        The case, as it should appear in the report.
    pdeflow_fn
        pdeflow's implementation.
    peers
        Peer name -> implementation of the same computation (e.g. ``{"scipy": ...}``).
    repeats
        Timed calls per candidate (>= 1).
    warmup
        Untimed calls per candidate before timing (>= 0).
    setup
        If given, called before every call (untimed) and its return value passed as the
        single argument, so each call gets fresh inputs.  Otherwise functions take no
        arguments.
    check
        If given, called as ``check(pdeflow_output, peer_output)`` for each peer on the
        first (warmup or timed) call; it should raise if the outputs disagree.
    quiet
        Do not print the table.
    meta
        Extra JSON-ready data stored on the result (problem size, tolerances...).

    Returns
    -------
    CompareResult
        Samples and ratios; ``result.format()`` is the table printed here.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    if warmup < 0:
        raise ValueError(f"warmup must be >= 0, got {warmup}")
    if PDEFLOW in peers:
        raise ValueError(f"a peer cannot be named {PDEFLOW!r}")
    candidates: dict[str, Callable[..., Any]] = {PDEFLOW: pdeflow_fn, **peers}
    names = list(candidates)

    outputs: dict[str, Any] = {}
    for _ in range(warmup):
        for key in names:
            _, out = _call(candidates[key], setup)
            outputs.setdefault(key, out)

    samples: dict[str, list[float]] = {key: [] for key in names}
    for r in range(repeats):
        shift = r % len(names)
        for key in names[shift:] + names[:shift]:
            seconds, out = _call(candidates[key], setup)
            samples[key].append(seconds)
            outputs.setdefault(key, out)
        if r == 0 and warmup == 0 and check is not None:
            _run_checks(check, outputs, names)
    if warmup > 0 and check is not None:
        _run_checks(check, outputs, names)

    result = CompareResult(
        name=name,
        timings={key: Timing(tuple(samples[key])) for key in names},
        repeats=repeats,
        warmup=warmup,
        meta=dict(meta or {}),
    )
    if not quiet:
        print(result.format(), flush=True)
    return result


def _run_checks(check: Callable[[Any, Any], None], outputs: dict[str, Any], names: list[str]):
    for key in names[1:]:
        try:
            check(outputs[PDEFLOW], outputs[key])
        except Exception as exc:
            raise AssertionError(f"{key!r} disagrees with pdeflow: {exc}") from exc


# ---------------------------------------------------------------------- machine
def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_bytes() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def _gpu_names() -> tuple[list[str], str]:
    smi = shutil.which("nvidia-smi")
    if smi:
        try:
            out = subprocess.run(
                [smi, "--query-gpu=name", "--format=csv,noheader"],
                capture_output=True,
                text=True,
                timeout=20,
                check=True,
            ).stdout
            names = [ln.strip() for ln in out.splitlines() if ln.strip()]
            if names:
                return names, "nvidia-smi"
        except (subprocess.SubprocessError, OSError):
            pass
    torch = sys.modules.get("torch")  # only if the benchmark already imported it
    if torch is not None:
        try:
            if torch.cuda.is_available():
                n = torch.cuda.device_count()
                return [torch.cuda.get_device_name(i) for i in range(n)], "torch.cuda"
        except Exception:
            pass
    return [], "nvidia-smi" if smi else "none found (no nvidia-smi, torch.cuda not available)"


def _git_commit() -> dict[str, Any]:
    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        status = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    sha = commit.stdout.strip() if commit.returncode == 0 else None
    dirty = bool(status.stdout.strip()) if status.returncode == 0 else None
    return {"commit": sha, "dirty": dirty}


def machine_info() -> dict[str, Any]:
    """Describe the machine and software a benchmark ran on (JSON-ready).

    Returns CPU model, logical cores (and those this process may use), total memory, OS,
    Python, versions of numpy/scipy/torch/jax/numba/pdeflow (from package metadata, without
    importing them), GPU names (from ``nvidia-smi``, or ``torch.cuda`` when the benchmark
    already imported torch) and the git commit of the checkout (``dirty`` when tracked
    files have uncommitted changes).
    """
    versions = {}
    for pkg in _VERSION_PACKAGES:
        try:
            versions[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            versions[pkg] = None
    gpus, gpu_source = _gpu_names()
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "cores_usable": usable,
        "memory_bytes": _memory_bytes(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "versions": versions,
        "gpus": gpus,
        "gpu_source": gpu_source,
        "git": _git_commit(),
        "hostname": platform.node(),
    }


# ---------------------------------------------------------------------- results
def _jsonable(obj: Any) -> Any:
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    if is_dataclass(obj) and not isinstance(obj, type):
        return asdict(obj)
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "tolist"):  # numpy arrays and scalars
        return obj.tolist()
    if isinstance(obj, set | frozenset | tuple):
        return list(obj)
    raise TypeError(f"cannot write {type(obj).__name__} to JSON")


def write_results(
    benchmark_name: str,
    payload: Mapping[str, Any],
    results_dir: str | Path | None = None,
) -> Path:
    """Write ``payload`` and :func:`machine_info` to ``<results_dir>/<name>-<timestamp>.json``.

    Parameters
    ----------
    benchmark_name
        Used in the file name (characters other than letters, digits, ``._-`` become ``_``).
    payload
        JSON-ready data; :class:`CompareResult`, dataclasses, paths and numpy values are
        converted.
    results_dir
        Default ``$PDEFLOW_BENCH_RESULTS`` or ``benchmarks/results``; created if missing.

    Returns
    -------
    Path
        The file written (never overwrites an earlier one).
    """
    directory = Path(
        results_dir or os.environ.get("PDEFLOW_BENCH_RESULTS") or RESULTS_DIR
    ).expanduser()
    directory.mkdir(parents=True, exist_ok=True)
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", benchmark_name).strip("_") or "benchmark"
    now = _dt.datetime.now(_dt.UTC)
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    path = directory / f"{safe}-{stamp}.json"
    n = 1
    while path.exists():
        path = directory / f"{safe}-{stamp}-{n}.json"
        n += 1
    document = {
        "benchmark": benchmark_name,
        "created_utc": now.isoformat(timespec="seconds"),
        "command": [Path(sys.executable).name, *sys.argv],
        "machine": machine_info(),
        **dict(payload),
    }
    text = json.dumps(document, indent=2, default=_jsonable, allow_nan=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(text + "\n", encoding="utf-8")
    tmp.replace(path)
    print(f"results written to {path}", flush=True)
    return path


# ---------------------------------------------------------------------- memory
@dataclass(frozen=True)
class MemoryResult:
    """Peak memory of one call.

    Attributes
    ----------
    method : {"tracemalloc", "rss"}
        How it was measured (see :func:`peak_memory`).
    peak_bytes : int
        ``tracemalloc``: peak Python-heap bytes allocated during the call.
        ``rss``: peak resident set size of the subprocess over its whole life.
    baseline_bytes : int
        ``tracemalloc``: 0.  ``rss``: the subprocess's RSS just before the call
        (interpreter plus imports), so ``peak_bytes - baseline_bytes`` is the call's own
        peak growth.
    """

    method: str
    peak_bytes: int
    baseline_bytes: int = 0

    @property
    def delta_bytes(self) -> int:
        return self.peak_bytes - self.baseline_bytes

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "delta_bytes": self.delta_bytes}


def _maxrss_bytes() -> int:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss if sys.platform == "darwin" else rss * 1024  # Linux reports KiB


def _proc_status_bytes(key: str) -> int | None:
    """A ``/proc/self/status`` memory field (``VmRSS``, ``VmHWM``) in bytes; Linux only."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _rss_child(fn: Callable[..., Any], args: tuple, queue: Any) -> None:
    try:
        # ru_maxrss survives fork+exec, so it can report the parent's size; on Linux use
        # this image's own high-water mark (VmHWM), reset to the current RSS first.
        try:
            Path("/proc/self/clear_refs").write_text("5")
        except OSError:
            pass
        before = _proc_status_bytes("VmRSS") or _maxrss_bytes()
        fn(*args)
        queue.put(("ok", before, _proc_status_bytes("VmHWM") or _maxrss_bytes()))
    except BaseException as exc:  # report, do not hang the parent
        queue.put(("error", f"{type(exc).__name__}: {exc}", 0))


def peak_memory(
    fn: Callable[..., Any],
    *args: Any,
    method: Literal["tracemalloc", "rss"] = "tracemalloc",
    timeout: float = 600.0,
) -> MemoryResult:
    """Measure the peak memory of ``fn(*args)``.

    Parameters
    ----------
    fn, args
        The call to measure.  For ``method="rss"`` both must be picklable (a module-level
        function), because the call runs in a fresh ``spawn`` subprocess.
    method
        ``"tracemalloc"`` (default): in this process, the peak of memory allocated through
        Python's allocators during the call, numpy array buffers included; blind to
        native allocations of torch, JAX, PETSc or Numba-compiled code.
        ``"rss"``: the peak resident set size of a fresh ``spawn`` subprocess, which sees
        all memory, native included, but also the interpreter and whatever the module
        imports.  On Linux it is the process's ``VmHWM`` (reset to the current RSS just
        before the call via ``/proc/self/clear_refs`` where allowed); elsewhere
        ``resource.getrusage().ru_maxrss``, which can include the parent's size at fork.
        ``baseline_bytes`` is the RSS just before the call.
    timeout
        Seconds to wait for the subprocess (``rss`` only).

    Returns
    -------
    MemoryResult
    """
    if method == "tracemalloc":
        was_tracing = tracemalloc.is_tracing()
        if not was_tracing:
            tracemalloc.start()
        tracemalloc.reset_peak()
        start, _ = tracemalloc.get_traced_memory()
        try:
            fn(*args)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            if not was_tracing:
                tracemalloc.stop()
        return MemoryResult("tracemalloc", max(0, peak - start))
    if method == "rss":
        return _peak_rss(fn, args, timeout)
    raise ValueError(f"method must be 'tracemalloc' or 'rss', got {method!r}")


def _peak_rss(fn: Callable[..., Any], args: tuple, timeout: float) -> MemoryResult:
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    proc = ctx.Process(target=_rss_child, args=(fn, args, results), daemon=True)
    # The child unpickles _rss_child from this module: make sure it can import it.
    here = str(Path(__file__).resolve().parent)
    added = here not in sys.path
    if added:
        sys.path.append(here)
    try:
        proc.start()
    finally:
        if added:
            sys.path.remove(here)
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                status, a, b = results.get(timeout=0.2)
                break
            except queue.Empty:
                if not proc.is_alive():
                    raise RuntimeError(
                        f"peak_memory subprocess exited with code {proc.exitcode} before "
                        "reporting (is the function picklable, defined at module level?)"
                    ) from None
                if time.monotonic() > deadline:
                    raise TimeoutError(f"peak_memory subprocess ran past {timeout:g} s") from None
    finally:
        proc.join(timeout=10)
        if proc.is_alive():
            proc.kill()
            proc.join()
    if status != "ok":
        raise RuntimeError(f"peak_memory subprocess failed: {a}")
    return MemoryResult("rss", int(b), int(a))
