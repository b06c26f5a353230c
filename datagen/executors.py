"""Where the chunk tasks of :func:`pdeflow.datagen.generate` run.

Two kinds, both used through the ``concurrent.futures.Executor`` interface (``submit``,
``map``, futures that ``concurrent.futures.wait`` understands):

* Dask (the default): an embedded ``LocalCluster`` of ``workers`` processes
  (:func:`local_cluster`; on Linux its nannies fork the workers, which start in ~0.15 s with
  every module imported, against ~2 s for spawned ones), an existing scheduler, or a given
  client, wrapped by ``Client.get_executor``.  The same code spreads a run over several
  machines.  The tasks of a lost worker are retried by Dask.
* :class:`ProcessPool` (``executor="processes"``): ``workers`` local processes
  (``ProcessPoolExecutor``), forked when this process runs no other thread; a pool whose worker
  died is replaced (:meth:`ProcessPool.restart`) and the lost chunks are run again.  It has no
  scheduler, so it costs less per task (a 64^2 Darcy run of 256 samples: 1.0 s against 1.6 s).

:func:`open_executor` picks one from the settings.
"""

from __future__ import annotations

import contextlib
import functools
import multiprocessing
import os
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pdeflow.errors import ConfigError
from pdeflow.threads import ENV_VAR, check_threads, set_threads, threads_per_worker

if TYPE_CHECKING:
    from .config import GenerateConfig

__all__ = [
    "ProcessPool",
    "RunningExecutor",
    "THREAD_VARS",
    "local_cluster",
    "one_thread_per_worker",
    "set_worker_threads",
    "process_pool",
    "start_method",
    "open_executor",
]


#: The variable :func:`local_cluster` sets for its workers: their threads each.
WORKER_ENV_VAR = "PDEFLOW_WORKER_THREADS"

#: Environment variables set to each worker's thread count (:func:`set_worker_threads`).
THREAD_VARS = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMBA_NUM_THREADS",
)


def set_worker_threads(threads: int | None = None) -> None:
    """Worker set-up (process-pool initializer, and the first task on every worker): BLAS,
    OpenMP and torch run ``threads`` threads in this worker.

    ``threads`` defaults to ``$PDEFLOW_WORKER_THREADS`` as :func:`local_cluster` sets it for
    its workers (cores ÷ workers), else 1 (a worker of an external cluster: the processes are
    the parallelism).  Dask's nannies set their workers' variables in this process before
    they fork, and leave them set, so the share has a variable of its own: ``PDEFLOW_THREADS``
    of the parent stays as the user set it.
    """
    env = os.environ.get(WORKER_ENV_VAR, "").strip()
    n = threads if threads is not None else (check_threads(env, WORKER_ENV_VAR) if env else 1)
    for var in (*THREAD_VARS, ENV_VAR):
        os.environ[var] = str(n)
    set_threads(n)  # numpy's BLAS is loaded before this runs (fork, or unpickling): limit it now


#: The former name of :func:`set_worker_threads` (one thread was its only setting).
one_thread_per_worker = set_worker_threads


def start_method() -> str:
    """fork on Linux when this process runs no other Python thread (an event loop, a
    notebook kernel, a progress display could hold a lock the child inherits), else
    spawn, which imports the modules again in the workers (forkserver would leave its socket
    in TMPDIR).

    Idle BLAS/OpenMP thread pools (numpy starts one at import) re-initialize after a fork,
    as with every ``multiprocessing`` pool on Linux, so they do not count."""
    if sys.platform.startswith("linux") and threading.active_count() == 1:
        return "fork"
    return "spawn"


def process_pool(workers: int, threads: int | None = None) -> ProcessPoolExecutor:
    """A ``ProcessPoolExecutor`` of ``workers`` processes, started by :func:`start_method`,
    each with ``threads // workers`` threads (:func:`pdeflow.threads.threads_per_worker`;
    default: the ``threads`` setting, else the usable cores); forked workers are all
    started here, from the calling thread."""
    method = start_method()
    per_worker = threads_per_worker(workers, threads)
    pool = ProcessPoolExecutor(
        workers,
        mp_context=multiprocessing.get_context(method),
        initializer=functools.partial(set_worker_threads, per_worker),
    )
    if method == "fork":
        # fork every worker now (the first task starts them all), before the caller starts
        # any thread of its own; Python warns about the idle BLAS pools' threads
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "This process .* is multi-threaded")
            pool.submit(int).result()
    return pool


class ProcessPool:
    """A ``ProcessPoolExecutor`` of ``workers`` processes that can be replaced after one of
    its processes dies.

    Parameters
    ----------
    workers : int
        Processes.
    threads : int, optional
        Threads of all workers together (see :func:`process_pool`).
    """

    def __init__(self, workers: int, threads: int | None = None) -> None:
        self.workers = int(workers)
        self.threads = threads
        self.restarts = 0
        self._pool = self._new()

    def _new(self) -> ProcessPoolExecutor:
        return process_pool(self.workers, self.threads)

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        """Run ``fn(*args, **kwargs)`` in a worker process; return its future."""
        return self._pool.submit(fn, *args, **kwargs)

    def map(self, fn: Callable[..., Any], *iterables: Any) -> Iterator[Any]:
        """Apply ``fn`` to the items of ``iterables`` in the workers; yield results in order."""
        return self._pool.map(fn, *iterables)

    def restart(self) -> None:
        """Replace a broken pool (a worker process died) with a fresh one."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._pool = self._new()
        self.restarts += 1

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop the worker processes (waiting for running tasks when ``wait``)."""
        self._pool.shutdown(wait=wait, cancel_futures=cancel_futures)

    def terminate(self, timeout: float = 5.0) -> None:
        """Stop now: cancel the queued tasks and end the worker processes (SIGTERM, then
        SIGKILL after ``timeout`` seconds), without waiting for the running tasks.

        What a stopped run needs: its finished results are saved, and a SIGTERM from a
        scheduler (SLURM, Kubernetes) leaves a grace period that running chunks would use up.
        """
        # the pool's processes (CPython keeps them in ``_processes``; absent: nothing to end)
        processes = list((getattr(self._pool, "_processes", None) or {}).values())
        self._pool.shutdown(wait=False, cancel_futures=True)
        for proc in processes:
            with contextlib.suppress(OSError, ValueError):
                proc.terminate()
        deadline = time.monotonic() + timeout
        for proc in processes:
            with contextlib.suppress(OSError, ValueError):
                proc.join(max(0.0, deadline - time.monotonic()))
                if proc.is_alive():
                    proc.kill()
                    proc.join(1.0)
        self._pool.shutdown(wait=True)

    def __repr__(self) -> str:
        return f"ProcessPool(workers={self.workers}, restarts={self.restarts})"


@dataclass
class RunningExecutor:
    """An executor with what the report needs: where it runs, its start-up time and its
    number of parallel workers."""

    executor: Any
    where: str
    startup_seconds: float
    workers: int

    @property
    def can_restart(self) -> bool:
        """Whether a lost worker can be replaced and its chunk resubmitted."""
        return isinstance(self.executor, ProcessPool)


def local_cluster(workers: int, threads: int | None = None) -> Any:
    """A ``LocalCluster`` of ``workers`` processes with one Dask thread each, no dashboard.

    Each worker's BLAS/OpenMP/torch pools get ``threads // workers`` threads
    (:func:`pdeflow.threads.threads_per_worker`; default: the ``threads`` setting, else the
    usable cores), set by the first task (``pipeline._worker_setup``).

    On Linux the nannies fork the worker processes (Dask's
    ``distributed.worker.multiprocessing-method``), which then start with every module of this
    process imported; elsewhere they are spawned (and import pdeflow again).  The workers
    start one at a time (``_dask_worker.SerialStartNanny``): fork guards such as filelock's refuse
    two threads forking at once.

    Raises
    ------
    RuntimeError
        The workers could not start; the usual cause is a script that starts the cluster
        at import time (worker processes re-import the main module): put the call under
        ``if __name__ == "__main__":``.
    """
    import logging

    import dask
    from dask.distributed import LocalCluster

    from ._dask_worker import SerialStartNanny

    # Dask's nannies export MALLOC_TRIM_THRESHOLD_=65536 to their workers; setting it turns
    # off glibc's adaptive mmap threshold, so every temporary array above 128 KiB is mapped
    # and unmapped again (page faults on each solver iteration): measured 2.4x slower
    # AMG-CG solves at 128^2.  Keep Dask's thread limits, drop that one variable.
    environ = dict(dask.config.get("distributed.nanny.pre-spawn-environ", {}))
    environ.pop("MALLOC_TRIM_THRESHOLD_", None)
    # each worker's share of the threads, as the nannies' own environment: it wins over the
    # pre-spawn config, which yields to this process's variables, and the nannies of an
    # earlier cluster left theirs set here (forked workers: set in the parent before a fork)
    per_worker = str(threads_per_worker(workers, threads))
    worker_env = {v: per_worker for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    worker_env.update({"OPENBLAS_NUM_THREADS": per_worker, WORKER_ENV_VAR: per_worker})
    try:
        settings = {
            "distributed.nanny.pre-spawn-environ": environ,
            "distributed.worker.multiprocessing-method": (
                "fork" if sys.platform.startswith("linux") else "spawn"
            ),
            # the workers' statistical profiler samples every task's stack each 10 ms
            "distributed.worker.profile.enabled": False,
            # psutil polling of every process (Dask's system monitor, default every 0.5 s)
            "distributed.admin.system-monitor.interval": "5s",
            # every Dask server (scheduler, nannies, workers) wakes each 20 ms by default to
            # measure its event loop's latency: measured 6% of a core in this process and 3%
            # in each idle worker, taken from the solves; 500 ms (Dask's own test setting)
            # costs 1.2% and 0.5%
            "distributed.admin.tick.interval": "500ms",
        }
        with dask.config.set(settings), warnings.catch_warnings():
            # the nannies fork from Dask's event-loop thread while this thread waits: Python
            # warns about forking a multi-threaded process (see start_method for the risk)
            warnings.filterwarnings("ignore", "This process .* is multi-threaded")
            return LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                # one worker process started at a time (concurrent forks trip fork guards)
                worker_class=SerialStartNanny,
                env=worker_env,
                # no memory monitor polling each worker's RSS every 100 ms (nothing to spill:
                # a task's result goes straight to the writer)
                memory_limit=0,
                dashboard_address=None,
                # the scheduler's small HTTP server: any free port, not 8787
                scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                # task errors reach the caller through the futures; Dask's own ERROR lines
                # (e.g. a last heartbeat racing the shutdown) are noise in a terminal
                silence_logs=logging.CRITICAL,
            )
    except RuntimeError as exc:
        root = exc  # Dask's "Nanny failed to start." wraps the reason
        while (root.__cause__ or root.__context__) is not None:
            root = root.__cause__ or root.__context__
        reason = str(exc) if root is exc else f"{exc} {type(root).__name__}: {root}"
        raise RuntimeError(
            f"the local Dask cluster could not start its {workers} worker process(es) ({reason}). "
            "In a script, call pdeflow.datagen.generate under 'if __name__ == \"__main__\":' "
            "(worker processes import the main module)."
        ) from exc


def _dask_worker_count(client: Any) -> int:
    try:
        return max(1, sum(client.nthreads().values()))
    except Exception:  # noqa: BLE001 - a client without nthreads(): assume one
        return 1


@contextlib.contextmanager
def _dask(
    workers: int, scheduler: str | None, client: Any, threads: int | None = None
) -> Iterator[RunningExecutor]:
    t0 = time.perf_counter()
    if client is not None:
        where = str(getattr(client.scheduler, "address", "client"))
        ex = client.get_executor(pure=False)
        yield RunningExecutor(ex, where, 0.0, _dask_worker_count(client))
        return
    from dask.distributed import Client

    if scheduler is not None:
        try:
            c = Client(scheduler, timeout="20s")
        except OSError as exc:
            raise ConfigError(
                f"field 'scheduler': cannot connect to the Dask scheduler at {scheduler} ({exc})"
            ) from None
        try:
            t_up = time.perf_counter() - t0
            ex = c.get_executor(pure=False)
            yield RunningExecutor(ex, scheduler, t_up, _dask_worker_count(c))
        finally:
            c.close()
        return
    cluster = local_cluster(workers, threads)
    c = Client(cluster)
    try:
        from ._dask_worker import QuietWorker

        c.register_plugin(QuietWorker())
        yield RunningExecutor(
            c.get_executor(pure=False),
            "local Dask cluster",
            time.perf_counter() - t0,
            _dask_worker_count(c),
        )
    finally:
        c.close()
        cluster.close()


@contextlib.contextmanager
def open_executor(config: GenerateConfig, client: Any = None) -> Iterator[RunningExecutor]:
    """The executor of a :func:`~pdeflow.datagen.generate` run, shut down on exit.

    ``executor="processes"`` gives a :class:`ProcessPool` of ``config.workers`` processes;
    anything else Dask: ``client``, ``config.scheduler``, or an embedded ``LocalCluster``.
    """
    if client is not None and config.executor == "processes":
        raise ConfigError("field 'executor': 'processes' cannot use a Dask client; drop one")
    if config.executor != "processes":
        with _dask(config.workers, config.scheduler, client, config.threads) as running:
            yield running
        return
    t0 = time.perf_counter()
    pool = ProcessPool(config.workers, config.threads)
    try:
        yield RunningExecutor(pool, "local processes", time.perf_counter() - t0, config.workers)
    except BaseException:
        # stopped (a signal, a failed chunk): end the workers instead of letting them finish
        # chunks nobody will write
        pool.terminate()
        raise
    pool.shutdown(wait=True, cancel_futures=True)
