"""Set-up of the embedded Dask cluster's workers (a module of its own: it imports Dask)."""

from __future__ import annotations

import asyncio
import signal
import threading
import weakref
from typing import Any, ClassVar

from distributed import Nanny
from distributed.diagnostics.plugin import WorkerPlugin


class QuietWorker(WorkerPlugin):
    """On every worker, also one a nanny restarts: Ctrl-C is left to the process that runs
    ``generate`` (it shuts the cluster down and saves the file; a ``KeyboardInterrupt``
    traceback per worker would only be noise).  The one-BLAS-thread limit is set by the
    tasks themselves (``pipeline._worker_setup``), for every executor."""

    name = "pdeflow-worker-setup"

    def setup(self, worker: Any) -> None:
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, signal.SIG_IGN)


class SerialStartNanny(Nanny):
    """A nanny that starts its worker process while no other nanny of this event loop is
    starting one.

    Each nanny forks (or spawns) its worker from a thread of its own, so the nannies of a
    cluster fork concurrently.  Libraries that guard ``os.fork`` with an audit hook refuse
    that: filelock 4.x raises ``RuntimeError: os.fork is unsafe while filelock is changing
    descriptor ownership`` in a thread that forks while another thread's fork is under way
    (it is imported by jax, torch and huggingface_hub).  One start at a time costs ~0.15 s
    per worker (a forked worker's start-up) and covers the restarts after a worker dies.
    """

    _locks: ClassVar[weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock]] = (
        weakref.WeakKeyDictionary()
    )

    async def instantiate(self) -> Any:
        loop = asyncio.get_running_loop()
        lock = self._locks.setdefault(loop, asyncio.Lock())
        async with lock:
            return await super().instantiate()
