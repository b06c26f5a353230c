"""How many threads pdeflow's compute pools use: BLAS/OpenMP (through ``threadpoolctl``) and
torch's intra-op pool.

Thread pools that ask for more threads than there are free cores do not just share the cores:
a pool's threads wait for each other at every barrier, and a descheduled thread stalls the
rest.  On a 2-core machine with one other busy process, measured here: SKR (GCRO-DR) on a
4,096-unknown convection-diffusion sequence took 5.6 s with OpenBLAS's two threads against
0.67 s with one, and an FNO training step 1.3-4.3 s with torch's two threads against 0.5-0.6 s
with one.  So pdeflow picks thread counts itself, unless told otherwise:

==========================  =============================================================
where                       threads
==========================  =============================================================
Krylov solves               BLAS limited to 1 inside every GMRES, GCRO-DR, CG, recycled-CG
                            solve and ``solve_sequence`` (their dense kernels are small: a
                            few dozen vectors; the limit is set once per solve, ~0.1 ms)
data-generation workers     ``threads // workers`` each (at least 1): BLAS, OpenMP, torch
training (``Trainer.fit``)  torch's count, lowered to the cores that other processes leave
                            free (measured from ``/proc/stat`` when training starts:
                            since the last measurement, or over 0.1 s); never raised
==========================  =============================================================

Setting it: the ``threads`` field of a config (``TrainerConfig``, ``GenerateConfig``), the
CLI's global ``pdeflow --threads N``, :func:`set_threads` / the :func:`threads` context
manager, or the environment variable ``PDEFLOW_THREADS`` (read when the setting is needed).
A setting is used as it is (torch gets exactly ``N`` threads); Krylov solves keep one BLAS
thread regardless.

Examples
--------
>>> from pdeflow.threads import threads, threads_per_worker
>>> threads_per_worker(workers=4, threads=8)
2
>>> with threads(1):
...     pass          # BLAS and torch run one thread here
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

from pdeflow.errors import ConfigError

__all__ = [
    "ENV_VAR",
    "usable_cores",
    "busy_cores",
    "default_threads",
    "configured_threads",
    "check_threads",
    "threads_per_worker",
    "set_threads",
    "threads",
    "blas_threads",
    "single_blas_thread",
    "krylov_threads",
    "torch_threads",
    "training_threads",
]

#: Environment variable holding the thread setting (a positive integer).
ENV_VAR = "PDEFLOW_THREADS"
#: Seconds over which :func:`busy_cores` samples ``/proc/stat``.
SAMPLE_SECONDS = 0.1
#: Seconds a measured :func:`default_threads` is reused.
CACHE_SECONDS = 5.0
#: :func:`default_threads` measures the load since its previous measurement when that was at
#: most this many seconds ago (no 0.1 s sleep), else over a fresh 0.1 s.
REUSE_SECONDS = 60.0

_explicit: int | None = None  # set by set_threads()
_original_blas: Any = None  # threadpoolctl limiter holding the limits before set_threads()
_original_torch: int | None = None
_measured: tuple[float, int] | None = None  # (time.monotonic(), default_threads)
_last_reading: tuple[float, tuple[int, int] | None, float] | None = None  # see _reading
_controller: tuple[int, Any] | None = None  # (len(sys.modules), ThreadpoolController)


# ------------------------------------------------------------------------------ counting
def usable_cores() -> int:
    """Cores this process may run on (``os.sched_getaffinity``; ``os.cpu_count`` elsewhere)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def check_threads(value: Any, where: str) -> int:
    """``value`` (an int or a decimal string) as a positive int.

    Raises
    ------
    ConfigError
        One line naming ``where``: ``value`` is not a positive integer.
    """
    if isinstance(value, bool):
        value = None
    try:
        n = int(str(value).strip()) if isinstance(value, str) else value
    except ValueError:
        n = None
    if not isinstance(n, int) or n < 1:
        raise ConfigError(
            f"{where} must be a positive integer (a number of threads). Got {value!r}."
        )
    return n


def configured_threads() -> int | None:
    """The explicit setting: :func:`set_threads`, else ``$PDEFLOW_THREADS``, else None.

    Raises
    ------
    ConfigError
        ``PDEFLOW_THREADS`` is set to something other than a positive integer.
    """
    if _explicit is not None:
        return _explicit
    env = os.environ.get(ENV_VAR, "").strip()
    return check_threads(env, f"The environment variable {ENV_VAR}") if env else None


def _cpu_ticks(cpus: set[int]) -> tuple[int, int] | None:
    """(busy, total) clock ticks of ``cpus`` since boot, from ``/proc/stat``; None elsewhere."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    busy = total = 0
    for line in lines:
        name, *fields = line.split()
        if not name.startswith("cpu") or name == "cpu" or int(name[3:]) not in cpus:
            continue
        # user nice system idle iowait irq softirq steal (guest time is inside user)
        v = [int(x) for x in fields[:8]]
        busy += v[0] + v[1] + v[2] + v[5] + v[6] + v[7]
        total += sum(v)
    return (busy, total) if total else None


def _reading(cpus: set[int]) -> tuple[float, tuple[int, int] | None, float]:
    """(monotonic time, /proc/stat ticks of ``cpus``, this process's CPU seconds)."""
    own = os.times()
    return time.monotonic(), _cpu_ticks(cpus), own.user + own.system


def busy_cores(window: float = SAMPLE_SECONDS, since_last: bool = False) -> float:
    """Cores kept busy by other processes, sampled over ``window`` seconds.

    The CPU time of this machine's usable cores (``/proc/stat``, steal time included) minus this
    process's own CPU time, divided by the elapsed time.  0.0 where ``/proc/stat`` cannot be read.

    Parameters
    ----------
    window : float
        Seconds to sample (this call sleeps that long).
    since_last : bool
        Measure since the previous call instead, without sleeping, when that was between
        ``window`` and :data:`REUSE_SECONDS` seconds ago (a longer average, free of charge).

    Returns
    -------
    float
        Busy cores, in ``[0, usable_cores()]``.
    """
    global _last_reading
    try:
        cpus = os.sched_getaffinity(0)
    except AttributeError:
        return 0.0
    first = _last_reading
    if not (
        since_last
        and first is not None
        and first[1] is not None
        and window <= time.monotonic() - first[0] <= REUSE_SECONDS
    ):
        first = _reading(cpus)
        if first[1] is None:
            return 0.0
        time.sleep(window)
    second = _last_reading = _reading(cpus)
    if second[1] is None or first[1] is None or second[1][1] <= first[1][1]:
        return 0.0
    busy_frac = (second[1][0] - first[1][0]) / (second[1][1] - first[1][1])
    own = (second[2] - first[2]) / max(second[0] - first[0], 1e-9)
    return min(float(len(cpus)), max(0.0, busy_frac * len(cpus) - own))


def default_threads() -> int:
    """Threads pdeflow uses when none is configured: the usable cores that other processes
    leave free, at least 1 (a busy core counts from half a core of load).

    Measured with :func:`busy_cores`: since the previous measurement if that was at most
    :data:`REUSE_SECONDS` ago, else over 0.1 s; reused for :data:`CACHE_SECONDS`.  The
    explicit setting (:func:`configured_threads`) wins when there is one.
    """
    global _measured
    explicit = configured_threads()
    if explicit is not None:
        return explicit
    now = time.monotonic()
    if _measured is None or now - _measured[0] > CACHE_SECONDS:
        free = usable_cores() - int(busy_cores(since_last=True) + 0.5)
        _measured = (time.monotonic(), max(1, free))
    return _measured[1]


def threads_per_worker(workers: int, threads: int | None = None) -> int:
    """Threads for each of ``workers`` worker processes: ``threads // workers``, at least 1.

    Parameters
    ----------
    workers : int
        Worker processes sharing this machine.
    threads : int, optional
        The total; default the configured setting, else :func:`usable_cores` (the workers are
        the load, so the total is not reduced by measured load).

    Examples
    --------
    >>> threads_per_worker(2, threads=2), threads_per_worker(3, threads=8), threads_per_worker(4, 2)
    (1, 2, 1)
    """
    workers = check_threads(workers, "The number of workers")
    total = threads if threads is not None else configured_threads()
    total = usable_cores() if total is None else check_threads(total, "'threads'")
    return max(1, total // workers)


# ------------------------------------------------------------------------------ BLAS
def _blas() -> Any:
    """threadpoolctl's controller of the loaded BLAS libraries, rescanned after new imports
    (a scan costs a few ms; a new module may have loaded another BLAS)."""
    global _controller
    key = len(sys.modules)
    if _controller is None or _controller[0] != key:
        from threadpoolctl import ThreadpoolController

        _controller = (key, ThreadpoolController().select(user_api="blas"))
    return _controller[1]


def blas_threads() -> int:
    """The largest thread count of the loaded BLAS libraries (1 when none is loaded)."""
    return max((lib.get_num_threads() for lib in _blas().lib_controllers), default=1)


@contextlib.contextmanager
def single_blas_thread() -> Iterator[None]:
    """Run the block with every loaded BLAS limited to one thread, then restore the limits.

    A no-op (a few µs) when they already run one thread, so nested solves pay once.
    """
    blas = _blas()
    if all(lib.get_num_threads() <= 1 for lib in blas.lib_controllers):
        yield
        return
    with blas.limit(limits=1):
        yield


def krylov_threads[F: Callable[..., Any]](fn: F) -> F:
    """Decorator: the Krylov solve ``fn`` runs with one BLAS thread (:func:`single_blas_thread`).

    Its dense work is on a few dozen vectors (Arnoldi, Givens rotations, GCRO-DR's harmonic
    Ritz update, recycled CG's small eigenproblems): too small to gain from threads, and slowed
    down many times when the BLAS threads outnumber the free cores.
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with single_blas_thread():
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


# ------------------------------------------------------------------------------ setting
def _torch() -> Any:
    """torch if it is already imported (pdeflow never imports it just to set threads)."""
    return sys.modules.get("torch")


def set_threads(n: int | None) -> None:
    """Set the threads of every pool pdeflow uses, for the rest of the process.

    Parameters
    ----------
    n : int or None
        Threads for BLAS (all loaded libraries, through ``threadpoolctl``), torch's intra-op
        pool (if torch is imported) and the settings pdeflow derives from it (training,
        workers).  ``None`` drops the setting and restores the limits found before the first
        call (``PDEFLOW_THREADS`` applies again if set).

    Raises
    ------
    ConfigError
        ``n`` is not a positive integer.

    Examples
    --------
    >>> import pdeflow
    >>> pdeflow.set_threads(1)
    >>> pdeflow.threads.configured_threads()
    1
    >>> pdeflow.set_threads(None)
    """
    global _explicit, _original_blas, _original_torch
    from threadpoolctl import threadpool_limits

    torch = _torch()
    if n is None:
        _explicit = None
        if _original_blas is not None:
            _original_blas.restore_original_limits()
            _original_blas = None
        if torch is not None and _original_torch is not None:
            torch.set_num_threads(_original_torch)
        _original_torch = None
        return
    n = check_threads(n, "'threads'")
    if torch is not None and _original_torch is None:
        _original_torch = torch.get_num_threads()  # before the OpenMP limit below changes it
    limiter = threadpool_limits(limits=n)
    if _original_blas is None:
        _original_blas = limiter
    if torch is not None:
        torch.set_num_threads(n)
    _explicit = n


@contextlib.contextmanager
def threads(n: int | None) -> Iterator[int | None]:
    """Run the block with ``n`` threads (as :func:`set_threads`), then restore everything.

    ``n=None`` leaves everything as it is.  Yields ``n``.
    """
    global _explicit
    if n is None:
        yield None
        return
    from threadpoolctl import threadpool_limits

    n = check_threads(n, "'threads'")
    before, torch = _explicit, _torch()
    torch_before = torch.get_num_threads() if torch is not None else None
    try:
        with threadpool_limits(limits=n):
            if torch is not None:
                torch.set_num_threads(n)
            _explicit = n
            yield n
    finally:
        _explicit = before
        if torch is not None and torch_before is not None:
            torch.set_num_threads(torch_before)


@contextlib.contextmanager
def torch_threads(n: int | None = None) -> Iterator[int]:
    """torch's intra-op threads for a block, restored after it.

    ``n``, else the configured setting, else torch's current count lowered to
    :func:`default_threads` (the cores other processes leave free); never raised above it.
    Yields the count used.  torch must be imported.
    """
    import torch

    before = torch.get_num_threads()
    if n is None:
        n = configured_threads()
    if n is None:
        n = min(before, default_threads()) if before > 1 else before
    else:
        n = check_threads(n, "'threads'")
    if n != before:
        torch.set_num_threads(n)
    try:
        yield n
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


def training_threads[F: Callable[..., Any]](method: F) -> F:
    """Decorator for a method of an object with ``self.config.threads`` (e.g. ``Trainer.fit``):
    the method runs inside :func:`torch_threads` of that setting."""

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        with torch_threads(getattr(getattr(self, "config", None), "threads", None)):
            return method(self, *args, **kwargs)

    return wrapper  # type: ignore[return-value]
