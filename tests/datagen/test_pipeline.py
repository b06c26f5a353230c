"""The generation pipeline: Dask (embedded and external), resume after kill -9 and Ctrl-C,
lost workers, configuration errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from pdeflow.datagen import families
from pdeflow.datagen.config import GenerateConfig
from pdeflow.datagen.pipeline import generate, plan_chunks, sample_features
from pdeflow.datagen.storage import verify
from pdeflow.errors import ConfigError

BIN = Path(sys.executable).parent
PDEFLOW = str(BIN / "pdeflow")


def _default_sigint() -> None:
    """In the child: SIGINT back to its default, so Python installs KeyboardInterrupt.

    A shell that runs the suite in the background (``make test &``) starts it with SIGINT
    ignored, and an ignored SIGINT is inherited by every child process."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"PDEFLOW_PROGRESS": "plain", "OMP_NUM_THREADS": "1", **extra})
    return env


def _residual_ok(path: Path, family_name: str, options: dict, samples: list[int]) -> None:
    """Stored inputs are the family's samples; stored outputs solve the discrete equation."""
    fam = families.get(family_name, **options)
    with h5py.File(path, "r") as f:
        for i in samples:
            ref = fam.sample(i)
            a = f["fields/a"][i]
            np.testing.assert_allclose(a, ref["a"], rtol=1e-6)
            A, b = fam.assemble(ref)
            u = f["fields/u"][i].astype(float).ravel()
            # u is stored as float32: its rounding (6e-8 relative) times ||A|| ~ 8 s^2 bounds
            # the residual at about 1e-5 for s = 48
            assert np.linalg.norm(A @ u - b) / np.linalg.norm(b) < 1e-4


@pytest.fixture(scope="module")
def client():
    """One local Dask cluster (2 processes) shared by the in-process tests."""
    from dask.distributed import Client

    from pdeflow.datagen.pipeline import local_cluster

    cluster = local_cluster(2)
    c = Client(cluster)
    yield c
    c.close()
    cluster.close()


def test_generate_darcy_with_skr_on_a_client(client, tmp_path):
    out = tmp_path / "darcy.h5"
    rep = generate(
        family="darcy",
        n=24,
        resolution=16,
        solver="skr",
        chunk_size=6,
        out=str(out),
        client=client,
        progress_mode="off",
    )
    assert rep.written == 24 and rep.already_done == 0
    assert rep.workers == 2 and rep.chunk_size == 6
    assert set(rep.methods) and all(m.startswith("skr") for m in rep.methods)
    assert rep.mean_iterations > 0
    v = verify(out)
    assert v.ok, v.problems
    with h5py.File(out, "r") as f:
        assert f["fields/u"].shape == (24, 16, 16)
        assert (f["write_count"][:] == 1).all()
        cfg = json.loads(f.attrs["config"])
        assert cfg["solver"] == "skr" and cfg["n"] == 24
    _residual_ok(out, "darcy", {"resolution": 16}, [0, 7, 23])
    # the operators' HDF5 reader understands the layout (fields under /fields)
    from pdeflow.operators.data import H5FieldDataset

    ds = H5FieldDataset(out, "a", "u")
    assert len(ds) == 24 and tuple(ds[3]["y"].shape) == (1, 16, 16)
    ds.close()
    # a second call on a complete file with resume does nothing
    rep2 = generate(
        family="darcy", n=24, resolution=16, solver="skr", chunk_size=6, out=str(out),
        client=client, progress_mode="off", resume=True,
    )
    assert rep2.written == 0 and rep2.already_done == 24


def test_auto_solver_resolves_once_and_records_choice(client, tmp_path):
    out = tmp_path / "auto.h5"
    rep = generate(
        family="darcy", n=40, resolution=24, chunk_size=8, out=str(out), client=client,
        progress_mode="off",
    )
    assert rep.written == 40
    # the first wave (2 workers x 2 chunks) may each run the trial; all later chunks
    # reuse the first pick, so at most 4 distinct trial outcomes appear
    assert sum(rep.methods.values()) == 40
    with h5py.File(out, "r") as f:
        methods = {m.decode().strip() for m in f["stats/method"][:]}
    assert methods == set(rep.methods)
    assert verify(out).ok


def test_pointwise_family_needs_no_ordering(client, tmp_path):
    out = tmp_path / "adv.h5"
    rep = generate(
        family="advection", n=6, resolution=32, out=str(out), client=client,
        progress_mode="off", options={"n_snapshots": 3},
    )
    assert rep.written == 6 and rep.order_seconds < 5
    assert verify(out).ok


def test_local_cluster_workers_keep_adaptive_malloc(client):
    """Dask's nannies export MALLOC_TRIM_THRESHOLD_ (2.4x slower solves); ours do not,
    and keep cores ÷ workers BLAS threads each."""
    from pdeflow.threads import threads_per_worker

    env = client.run(
        lambda: (os.environ.get("MALLOC_TRIM_THRESHOLD_"), os.environ.get("OMP_NUM_THREADS"))
    )
    assert len(env) == 2
    share = str(threads_per_worker(2))  # cores ÷ workers (1 on two cores)
    assert all(trim is None and omp == share for trim, omp in env.values()), env


def test_features_and_chunks():
    fam = families.get("darcy", resolution=16)
    F = sample_features(fam, [0, 1, 2])
    assert F.shape[0] == 3 and np.isfinite(F).all()
    # the same sample gives the same features; different samples differ
    np.testing.assert_array_equal(F[1], sample_features(fam, [1])[0])
    assert not np.allclose(F[0], F[1])
    chunks = plan_chunks(np.arange(10), 4)
    assert [c.tolist() for c in chunks] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    # guided: full chunks while there is plenty left, then shrinking ones, order kept
    order = np.random.default_rng(0).permutation(224)
    guided = plan_chunks(order, 28, workers=2)
    np.testing.assert_array_equal(np.concatenate(guided), order)
    sizes = [len(c) for c in guided]
    assert sizes[0] == 28 and max(sizes) == 28 and min(sizes[:-1]) >= 4
    assert sizes[-4:] == sorted(sizes[-4:], reverse=True) and sizes[-2] <= 8


def test_config_errors_name_the_field(tmp_path):
    with pytest.raises(ConfigError, match="'n'"):
        GenerateConfig(family="darcy", n=0, out="x.h5")
    with pytest.raises(ConfigError, match="'solver'"):
        GenerateConfig(family="darcy", n=3, out="x.h5", solver="lu")
    with pytest.raises(ConfigError, match="'scheduler'"):
        GenerateConfig(family="darcy", n=3, out="x.h5", scheduler="localhost:8786")
    with pytest.raises(ConfigError, match="Unknown family"):
        generate(family="darcyy", n=3, out=str(tmp_path / "x.h5"), progress_mode="off")
    with pytest.raises(ConfigError, match="resolution"):
        generate(family="darcy", n=3, out=str(tmp_path / "x.h5"), options={"resolution": 8})
    existing = tmp_path / "exists.h5"
    existing.write_bytes(b"not hdf5")
    with pytest.raises(ConfigError, match="'out'.*--resume"):
        generate(family="darcy", n=3, resolution=8, out=str(existing), progress_mode="off")
    assert existing.read_bytes() == b"not hdf5"  # nothing was lost
    with pytest.raises(ConfigError, match="'resume'"):
        generate(family="darcy", n=3, out=str(tmp_path / "none.h5"), resume=True)


def test_cli_bad_config_file_names_the_field(tmp_path):
    cfg = tmp_path / "gen.yaml"
    cfg.write_text("family: darcy\nn: 10\nout: x.h5\nworkers: 0\n")
    r = subprocess.run(
        [PDEFLOW, "generate", "--config", str(cfg)], capture_output=True, text=True,
        env=_env(), cwd=tmp_path, timeout=120,
    )
    assert r.returncode == 2
    assert "field 'workers'" in r.stderr and "gen.yaml" in r.stderr
    cfg.write_text("family: darcy\nn: 10\nout: x.h5\nbogus: 1\n")
    r = subprocess.run(
        [PDEFLOW, "generate", "--config", str(cfg)], capture_output=True, text=True,
        env=_env(), cwd=tmp_path, timeout=120,
    )
    assert r.returncode == 2 and "bogus" in r.stderr
    assert not (tmp_path / "x.h5").exists()


def _wait_for_progress(proc: subprocess.Popen, fraction_at_least: float, timeout: float) -> str:
    """Read the child's plain progress lines until one reports >= fraction."""
    deadline = time.time() + timeout
    seen = ""
    while time.time() < deadline:
        line = proc.stderr.readline()
        if not line:
            if proc.poll() is not None:
                break
            continue
        seen += line
        if "progress generating" in line and "%)" in line:
            pct = float(line.split("(")[1].split("%")[0])
            if pct / 100 >= fraction_at_least:
                return seen
    raise AssertionError(f"no progress >= {fraction_at_least} within {timeout} s:\n{seen}")


N_SUBPROCESS = 240  # enough work (several seconds) that a signal lands mid-run


def _generate_cmd(out: Path, *extra: str) -> list[str]:
    return [
        PDEFLOW, "generate", "darcy", "--n", str(N_SUBPROCESS), "--resolution", "48",
        "--solver", "cg",
        "--preconditioner", "jacobi", "--rtol", "1e-10", "--workers", "1", "--chunk-size", "4",
        "--out", str(out), *extra,
    ]


@pytest.mark.slow
def test_ctrl_c_then_kill_9_then_resume_completes_without_duplicates(tmp_path):
    out = tmp_path / "d.h5"
    # 1) Ctrl-C: exit 130, the file is valid and says how to resume
    proc = subprocess.Popen(
        _generate_cmd(out), stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        env=_env(), cwd=tmp_path, start_new_session=True, preexec_fn=_default_sigint,
    )
    _wait_for_progress(proc, 0.1, timeout=120)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "--resume" in err
    v = verify(out)
    assert 0 < v.n_done < N_SUBPROCESS
    assert all("missing" in p for p in v.problems), v.problems
    first_done = v.n_done
    # 2) kill -9 in the middle of the resumed run
    proc = subprocess.Popen(
        _generate_cmd(out, "--resume"), stderr=subprocess.PIPE, stdout=subprocess.PIPE,
        text=True, env=_env(), cwd=tmp_path, start_new_session=True,
    )
    _wait_for_progress(proc, 0.2, timeout=120)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    v = verify(out)
    assert first_done <= v.n_done < N_SUBPROCESS
    assert all("missing" in p for p in v.problems), v.problems
    # 3) resume completes it: every sample once, all intact
    r = subprocess.run(
        _generate_cmd(out, "--resume"), capture_output=True, text=True, env=_env(),
        cwd=tmp_path, timeout=300,
    )
    assert r.returncode == 0, r.stderr
    assert "already there" in r.stdout
    v = verify(out)
    assert v.ok and v.n_done == N_SUBPROCESS, v.problems
    with h5py.File(out, "r") as f:
        assert (f["write_count"][:] == 1).all()
        assert f.attrs["status"] == "complete"
    _residual_ok(out, "darcy", {"resolution": 48}, [0, 17, N_SUBPROCESS - 1])


@pytest.mark.slow
def test_external_scheduler_survives_a_killed_worker(tmp_path):
    """`dask scheduler` + two `dask worker` processes on loopback; one worker is killed
    (SIGKILL) while it holds tasks; every sample is still written exactly once."""
    sfile = tmp_path / "scheduler.json"
    procs = []
    env = _env()
    try:
        procs.append(
            subprocess.Popen(
                [str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", "0",
                 "--no-dashboard", "--scheduler-file", str(sfile)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=tmp_path,
            )
        )
        deadline = time.time() + 60
        while not sfile.exists() and time.time() < deadline:
            time.sleep(0.2)
        address = json.loads(sfile.read_text())["address"]
        workers = [
            subprocess.Popen(
                [str(BIN / "dask"), "worker", address, "--nthreads", "1", "--no-nanny",
                 "--no-dashboard", "--name", f"w{k}"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=tmp_path,
            )
            for k in range(2)
        ]
        procs += workers
        from dask.distributed import Client

        watcher = Client(address, timeout="30s")
        watcher.wait_for_workers(2, timeout=60)
        out = tmp_path / "ext.h5"
        gen = subprocess.Popen(
            [*_generate_cmd(out), "--scheduler", address],
            stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, cwd=tmp_path,
        )
        # kill the worker named w0 as soon as it is processing a task
        victim = None
        deadline = time.time() + 120
        while victim is None and time.time() < deadline and gen.poll() is None:
            info = watcher.scheduler_info()["workers"]
            for addr, w in info.items():
                if w.get("name") == "w0" and watcher.processing([addr]).get(addr):
                    victim = workers[0]
            time.sleep(0.05)
        assert victim is not None, "worker w0 never got a task"
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=30)
        stdout, stderr = gen.communicate(timeout=300)
        watcher.close()
        assert gen.returncode == 0, stderr
        assert f"{N_SUBPROCESS} written now" in stdout
        v = verify(out)
        assert v.ok and v.n_done == N_SUBPROCESS, v.problems
        with h5py.File(out, "r") as f:
            assert (f["write_count"][:] == 1).all()
        _residual_ok(out, "darcy", {"resolution": 48}, [3, 30])
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(timeout=30)


def test_operators_online_darcy_streams_from_datagen():
    """`pdeflow train fno --online darcy` trains on the datagen solver stream."""
    from pdeflow.operators.data import StreamDataset
    from pdeflow.operators.recipes import online_source

    source = online_source("darcy", 16)
    assert source.spatial_ndim == 2
    ds = StreamDataset(source, 3, buffer_size=1, spatial_ndim=source.spatial_ndim)
    items = list(ds)
    assert len(items) == 3
    assert all(tuple(it["x"].shape) == (1, 16, 16) for it in items)
    # the targets are solutions of the family's discrete equation for the streamed inputs
    fam = families.get("darcy", resolution=16)
    a = items[0]["x"][0].double().numpy()
    A, b = fam.assemble({"a": a})
    u = items[0]["y"][0].double().numpy().ravel()
    assert np.linalg.norm(A @ u - b) / np.linalg.norm(b) < 1e-5
