"""Executors of the generation pipeline: the local process pool (default), Dask, the same
data from both, a killed pool worker, and the settings that cannot go together."""

from __future__ import annotations

import logging
import os
import threading
import time
from concurrent.futures.process import BrokenProcessPool

import h5py
import numpy as np
import psutil
import pytest

from pdeflow.datagen.config import GenerateConfig
from pdeflow.datagen.executors import ProcessPool, open_executor
from pdeflow.datagen.pipeline import generate
from pdeflow.datagen.storage import verify
from pdeflow.errors import ConfigError

SMALL = dict(family="darcy", resolution=16, solver="direct", progress_mode="off")


def _fields(path) -> dict[str, np.ndarray]:
    with h5py.File(path, "r") as f:
        return {k: f["fields"][k][:] for k in f["fields"]}


def test_process_pool_and_dask_write_the_same_dataset(tmp_path):
    pool = generate(
        n=12, workers=2, out=tmp_path / "pool.h5", chunk_size=3, executor="processes", **SMALL
    )
    dask = generate(n=12, workers=2, out=tmp_path / "dask.h5", chunk_size=3, **SMALL)
    assert (pool.scheduler, dask.scheduler) == ("local processes", "local Dask cluster")
    assert pool.written == dask.written == 12 and pool.restarts == 0
    a, b = _fields(tmp_path / "pool.h5"), _fields(tmp_path / "dask.h5")
    assert a.keys() == b.keys()
    for key in a:  # a direct solve per sample: bitwise the same samples and solutions
        np.testing.assert_array_equal(a[key], b[key])
    assert "local processes" in pool.summary()


def test_auto_run_on_the_embedded_cluster_matches_the_equation(tmp_path):
    """The default path (embedded Dask cluster, SKR ordering, auto solver with its pilots)."""
    out = tmp_path / "skr.h5"
    report = generate(family="darcy", n=40, resolution=24, workers=2, out=out, progress_mode="off")
    assert report.written == 40 and report.order_seconds > 0
    assert verify(out).ok
    from pdeflow.datagen import families

    fam = families.get("darcy", resolution=24)
    u = _fields(out)["u"]
    for i in (0, 17, 39):
        A, b = fam.assemble(fam.sample(i))
        x = u[i].astype(float).ravel()
        assert np.linalg.norm(A @ x - b) / np.linalg.norm(b) < 1e-4


def test_process_pool_restarts_after_a_worker_dies():
    pool = ProcessPool(1)
    try:
        assert pool.submit(pow, 2, 10).result(timeout=60) == 1024
        with pytest.raises(BrokenProcessPool):
            pool.submit(os._exit, 1).result(timeout=60)  # the worker process exits
        with pytest.raises(BrokenProcessPool):
            pool.submit(pow, 2, 3)
        pool.restart()
        assert pool.restarts == 1
        assert pool.submit(pow, 2, 3).result(timeout=60) == 8
        assert list(pool.map(abs, [-1, -2])) == [1, 2]
    finally:
        pool.shutdown()


@pytest.mark.parametrize("executor", ["processes", "auto"])
def test_generation_survives_a_killed_worker(tmp_path, caplog, executor):
    """kill -9 one worker process mid-run: the pool is replaced (the embedded Dask cluster's
    nanny starts a new worker), its chunks run again, and every sample is written exactly
    once."""
    me = psutil.Process()
    before = {p.pid for p in me.children(recursive=True)}
    killed: list[int] = []

    def killer() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not killed:
            fresh = [p for p in me.children(recursive=True) if p.pid not in before]
            if len(fresh) >= 2:
                time.sleep(0.3)  # let the workers start on their chunks
                fresh[-1].kill()
                killed.append(fresh[-1].pid)
            time.sleep(0.02)

    t = threading.Thread(target=killer, daemon=True)
    t.start()
    out = tmp_path / "killed.h5"
    with caplog.at_level(logging.WARNING, logger="pdeflow.datagen"):
        report = generate(
            family="darcy",
            resolution=48,
            solver="direct",
            n=96,
            workers=2,
            chunk_size=2,
            out=out,
            progress_mode="off",
            executor=executor,
        )
    t.join(timeout=5)
    assert killed, "the test never saw the worker processes"
    assert report.written == 96
    if executor == "processes":
        assert report.restarts >= 1 and "worker process died" in caplog.text
    assert verify(out).ok  # includes: no sample written twice
    with h5py.File(out, "r") as f:
        assert f["done"][:].all()


def test_executor_settings_that_do_not_go_together(tmp_path):
    with pytest.raises(ConfigError, match="'executor'"):
        GenerateConfig(
            family="darcy",
            n=3,
            out=str(tmp_path / "x.h5"),
            executor="processes",
            scheduler="tcp://127.0.0.1:8786",
        )
    with pytest.raises(ConfigError, match="'executor'"):
        GenerateConfig(family="darcy", n=3, out=str(tmp_path / "x.h5"), executor="threads")
    cfg = GenerateConfig(family="darcy", n=3, out=str(tmp_path / "x.h5"), executor="processes")
    with pytest.raises(ConfigError, match="'executor'"), open_executor(cfg, client=object()):
        pass
    assert not (tmp_path / "x.h5").exists()


def _blas_threads_after_a_task() -> int:
    from threadpoolctl import threadpool_info

    from pdeflow.datagen import families
    from pdeflow.datagen.pipeline import _features_chunk

    _features_chunk(families.get("darcy", resolution=8), np.arange(2))
    return max((p["num_threads"] for p in threadpool_info()), default=1)


def test_forked_dask_workers_run_their_share_of_blas_threads():
    """Forked workers inherit the parent's BLAS pools; the first task limits them to cores ÷
    workers threads (two workers x two BLAS threads on two cores made GCRO-DR 4x slower)."""
    from dask.distributed import Client

    from pdeflow.datagen.executors import local_cluster

    with local_cluster(1, threads=2) as cluster, Client(cluster) as client:
        assert client.submit(_blas_threads_after_a_task).result() == 2
    # the nannies above left their variables set in this process; they must not stick
    with local_cluster(1, threads=1) as cluster, Client(cluster) as client:
        assert client.submit(_blas_threads_after_a_task).result() == 1
        # Dask's 20 ms event-loop tick took 3% of a core in every idle worker
        ticks = client.run(lambda dask_worker: dask_worker._tick_interval)
        assert list(ticks.values()) == [0.5]
        assert cluster.scheduler._tick_interval == 0.5


_OVERLAPPING_FORKS_SCRIPT = """
import os, sys, threading, time

forking = set()  # threads between fork's 'before' and 'after in parent' callbacks
overlaps = []

def audit(event, args):
    if event == "os.fork" and forking - {threading.get_ident()}:
        overlaps.append(threading.get_ident())

def before():
    forking.add(threading.get_ident())
    time.sleep(0.3)  # a wide window: a concurrent fork from another thread lands in it

sys.addaudithook(audit)
os.register_at_fork(before=before, after_in_parent=lambda: forking.discard(threading.get_ident()))

if __name__ == "__main__":
    from pdeflow.datagen.executors import local_cluster

    with local_cluster(3) as cluster:
        started = len(cluster.scheduler_info["workers"])
    print(started, len(overlaps))
"""


@pytest.mark.skipif(not hasattr(os, "register_at_fork"), reason="the nannies spawn here")
def test_embedded_cluster_never_forks_two_workers_at_once(tmp_path):
    """filelock 4.x (imported by jax, torch) raises in a thread that forks while another
    thread's fork is under way; each nanny forks from a thread of its own, so the cluster
    starts its workers one at a time (CI failed on this once)."""
    import subprocess
    import sys

    script = tmp_path / "forks.py"
    script.write_text(_OVERLAPPING_FORKS_SCRIPT)
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.split() == ["3", "0"]
