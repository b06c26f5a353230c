"""Set-up of the embedded Dask cluster's workers (a module of its own: it imports Dask)."""

from __future__ import annotations

import signal
import threading
from typing import Any

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
