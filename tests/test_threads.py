"""Thread control (issue #28, item 6): default counts, one BLAS thread inside Krylov solves,
and the ``threads`` setting reaching BLAS and torch from the config, the CLI and the API."""

from __future__ import annotations

import os

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla
import torch
from threadpoolctl import threadpool_limits

import pdeflow
from pdeflow import threads as T
from pdeflow.cli import main
from pdeflow.errors import ConfigError


@pytest.fixture(autouse=True)
def _clean_setting(monkeypatch):
    """Every test starts without a setting, BLAS and torch at two threads, and leaves them so."""
    monkeypatch.delenv(T.ENV_VAR, raising=False)
    monkeypatch.setattr(T, "_measured", None)
    pdeflow.set_threads(None)
    torch_before = torch.get_num_threads()
    torch.set_num_threads(2)
    with threadpool_limits(2, user_api="blas"):
        yield
    pdeflow.set_threads(None)
    torch.set_num_threads(torch_before)


# ---------------------------------------------------------------------- default counts
@pytest.mark.parametrize(
    ("workers", "threads", "expected"),
    [(2, 2, 1), (1, 2, 2), (3, 8, 2), (4, 2, 1), (2, 16, 8), (5, 5, 1)],
)
def test_threads_per_worker_divides_the_total(workers, threads, expected):
    assert T.threads_per_worker(workers, threads) == expected


def test_threads_per_worker_defaults_to_cores_or_the_setting(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)))
    assert T.usable_cores() == 8
    assert T.threads_per_worker(2) == 4
    assert T.threads_per_worker(3) == 2
    monkeypatch.setenv(T.ENV_VAR, "6")
    assert T.threads_per_worker(2) == 3
    pdeflow.set_threads(1)  # the explicit setting wins over the environment
    assert T.threads_per_worker(2) == 1


@pytest.mark.parametrize("bad", ["0", "-2", "two", "1.5"])
def test_bad_environment_value_is_a_one_line_config_error(monkeypatch, bad):
    monkeypatch.setenv(T.ENV_VAR, bad)
    with pytest.raises(ConfigError, match="PDEFLOW_THREADS must be a positive integer") as info:
        T.configured_threads()
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("bad", [0, -1, 2.0, True, "x"])
def test_bad_thread_counts_are_refused(bad):
    with pytest.raises(ConfigError, match="'threads' must be a positive integer"):
        pdeflow.set_threads(bad)
    with pytest.raises(ConfigError):
        T.threads_per_worker(0, 2)


@pytest.mark.parametrize(
    ("cores", "busy", "expected"), [(2, 0.3, 2), (2, 0.7, 1), (2, 1.4, 1), (2, 2.0, 1), (8, 2.6, 5)]
)
def test_default_threads_leave_busy_cores_alone(monkeypatch, cores, busy, expected):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cores)))
    monkeypatch.setattr(T, "busy_cores", lambda window=T.SAMPLE_SECONDS, since_last=False: busy)
    assert T.default_threads() == expected
    monkeypatch.setenv(T.ENV_VAR, "3")
    assert T.default_threads() == 3


def test_busy_cores_reads_proc_stat_and_leaves_out_this_process(monkeypatch):
    # two cores: 150 of 200 ticks busy during the window -> 1.5 cores, this process asleep
    readings = iter([(100, 1000), (250, 1200)])
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})
    monkeypatch.setattr(T, "_cpu_ticks", lambda cpus: next(readings))
    # this process's CPU time held still: a 10 ms tick of it inside the short window
    # would otherwise be subtracted as a whole core (a flaky result on a loaded machine)
    frozen = os.times()
    monkeypatch.setattr(os, "times", lambda: frozen)
    assert T.busy_cores(window=0.02) == pytest.approx(1.5, abs=0.1)
    # since the previous reading: one more reading, no sleep (busy 50 of 100 ticks: 1 core)
    readings = iter([(300, 1300)])
    assert T.busy_cores(window=0.0, since_last=True) == pytest.approx(1.0, abs=0.1)
    monkeypatch.undo()  # the real /proc/stat gives a value in range
    assert 0.0 <= T.busy_cores(window=0.02) <= T.usable_cores()


# ---------------------------------------------------------------------- Krylov solves
def _recording_preconditioner(seen: list[int]):
    def M(r: np.ndarray) -> np.ndarray:
        seen.append(T.blas_threads())
        return r

    return M


def _system(n: int = 64) -> tuple[sp.csr_matrix, np.ndarray]:
    A = sp.diags([-1.0, 2.1, -0.8], [-1, 0, 1], shape=(n, n), format="csr")
    return A, np.ones(n)


@pytest.mark.parametrize("name", ["gmres", "fgmres", "gcrodr", "cg", "recycled_cg"])
def test_krylov_solves_run_one_blas_thread_inside(name):
    from pdeflow import solvers

    A, b = _system()
    if name in ("cg", "recycled_cg"):
        A = (A + A.T) * 0.5
    seen: list[int] = []
    assert T.blas_threads() == 2
    res = getattr(solvers, name)(A, b, M=_recording_preconditioner(seen), rtol=1e-10)
    assert res.converged
    assert seen and set(seen) == {1}
    assert T.blas_threads() == 2  # restored after the solve


def test_solve_sequence_runs_one_blas_thread_inside():
    from pdeflow.solvers import solve_sequence

    A, _ = _system(50)
    seen: list[int] = []

    def matvec(x: np.ndarray) -> np.ndarray:
        seen.append(T.blas_threads())
        return A @ x

    L = spla.LinearOperator(A.shape, matvec=matvec, dtype=float)
    systems = [(L, np.ones(50)), (L, np.arange(50.0))]
    res = solve_sequence(systems, "skr", params=np.array([[0.0], [1.0]]), rtol=1e-10)
    assert res.solutions.shape == (2, 50)
    assert seen and set(seen) == {1}
    assert T.blas_threads() == 2


def test_single_blas_thread_nests_and_restores():
    with T.single_blas_thread():
        assert T.blas_threads() == 1
        with T.single_blas_thread():
            assert T.blas_threads() == 1
        assert T.blas_threads() == 1
    assert T.blas_threads() == 2


# ---------------------------------------------------------------------- the setting
def test_set_threads_reaches_blas_and_torch_and_none_restores():
    pdeflow.set_threads(1)
    assert (T.blas_threads(), torch.get_num_threads(), T.configured_threads()) == (1, 1, 1)
    pdeflow.set_threads(None)
    assert (T.blas_threads(), torch.get_num_threads(), T.configured_threads()) == (2, 2, None)


def test_threads_context_manager_restores():
    with T.threads(1) as n:
        assert n == 1
        assert (T.blas_threads(), torch.get_num_threads(), T.configured_threads()) == (1, 1, 1)
    assert (T.blas_threads(), torch.get_num_threads(), T.configured_threads()) == (2, 2, None)


def test_cli_threads_option_reaches_blas_torch_and_the_config(capsys):
    assert (
        main(["--threads", "1", "--print-config", "generate", "darcy", "--n", "4", "--out", "x.h5"])
        == 0
    )
    assert "threads: 1" in capsys.readouterr().out
    assert (T.blas_threads(), torch.get_num_threads(), T.configured_threads()) == (1, 1, 1)


def test_cli_reads_the_environment_and_rejects_bad_values(monkeypatch, capsys):
    monkeypatch.setenv(T.ENV_VAR, "1")
    assert main(["--print-config", "train", "fno", "--online", "darcy1d"]) == 0
    assert (T.blas_threads(), torch.get_num_threads()) == (1, 1)
    pdeflow.set_threads(None)
    capsys.readouterr()
    monkeypatch.setenv(T.ENV_VAR, "lots")
    assert main(["info"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "PDEFLOW_THREADS must be a positive integer" in err
    assert main(["--threads", "0", "info"]) == 2


def _train_recording_threads(threads: int | None) -> list[int]:
    from pdeflow.operators import FNO, StreamDataset, Trainer, TrainerConfig
    from pdeflow.operators.losses import LpLoss
    from pdeflow.operators.toy_data import darcy1d_source

    seen: list[int] = []
    l2 = LpLoss()

    def loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        seen.append(torch.get_num_threads())
        return l2(pred, target)

    stream = StreamDataset(darcy1d_source(16), samples_per_epoch=4)
    config = TrainerConfig(epochs=1, batch_size=2, progress="off", device="cpu", threads=threads)
    Trainer(FNO(1, 1, modes=4, width=4), config, loss=loss).fit(stream, val=stream.take(2))
    return seen


def test_trainer_config_threads_reach_torch():
    assert set(_train_recording_threads(1)) == {1}
    assert torch.get_num_threads() == 2  # restored after fit


def test_training_default_lowers_torch_threads_to_the_free_cores(monkeypatch):
    monkeypatch.setattr(T, "default_threads", lambda: 1)  # another process keeps a core busy
    assert set(_train_recording_threads(None)) == {1}
    assert torch.get_num_threads() == 2
    torch.set_num_threads(1)  # never raised above what torch was set to
    monkeypatch.setattr(T, "default_threads", lambda: 2)
    assert set(_train_recording_threads(None)) == {1}


def _worker_threads() -> tuple[int, str, int]:
    return T.blas_threads(), os.environ[T.ENV_VAR], torch.get_num_threads()


def test_process_pool_workers_get_their_share():
    from pdeflow.datagen.executors import ProcessPool

    pool = ProcessPool(2, threads=4)
    try:
        assert pool.submit(_worker_threads).result() == (2, "2", 2)
    finally:
        pool.shutdown()
    pool = ProcessPool(2, threads=2)
    try:
        assert pool.submit(_worker_threads).result() == (1, "1", 1)
    finally:
        pool.shutdown()
