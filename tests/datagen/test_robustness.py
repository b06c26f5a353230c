"""Lost work and unclear failures (issue #28, items 3-5): SIGTERM keeps finished samples,
damaged samples are found, named and repaired bitwise, odd output paths fail in one line."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from pdeflow.cli import main
from pdeflow.datagen import open_dataset
from pdeflow.datagen.config import GenerateConfig
from pdeflow.datagen.pipeline import GenerationInterrupted, generate, resume_command
from pdeflow.datagen.repair import repair
from pdeflow.datagen.storage import format_info, info, verify
from pdeflow.errors import DataError

BIN = Path(sys.executable).parent
PDEFLOW = str(BIN / "pdeflow")

#: what "bitwise identical" compares: every per-sample array a run stores except the two
#: wall-clock ones (stats/time, stats/written_at)
COMPARED = (
    "fields",
    "params",
    "checksums",
    "stats/iterations",
    "stats/residual",
    "stats/method",
    "done",
    "write_count",
    "solve",
)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update({"PDEFLOW_PROGRESS": "plain", "OMP_NUM_THREADS": "1", "PDEFLOW_LOG_LEVEL": "INFO"})
    return env


def _default_signals() -> None:
    """In the child: SIGINT/SIGTERM at their defaults (a background shell ignores SIGINT)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _arrays(path: Path) -> dict[str, np.ndarray]:
    out = {}
    with h5py.File(path, "r") as f:
        for name in COMPARED:
            if name not in f:
                continue
            obj = f[name]
            if isinstance(obj, h5py.Group):
                out.update({f"{name}/{k}": ds[...] for k, ds in obj.items()})
            else:
                out[name] = obj[...]
    return out


def _assert_bitwise(a: Path, b: Path) -> None:
    x, y = _arrays(a), _arrays(b)
    assert sorted(x) == sorted(y)
    for name in x:
        assert x[name].dtype == y[name].dtype, name
        # bytes, so that NaN residuals compare equal and -0.0 differs from 0.0
        assert x[name].tobytes() == y[name].tobytes(), f"{name} differs"


def _done_count(path: Path) -> int:
    """Samples marked done in a file another process is writing (0 while it is absent)."""
    try:
        with h5py.File(path, "r", locking=False) as f:
            return int(np.count_nonzero(f["done"][...]))
    except (OSError, KeyError):
        return 0


def _wait_for_done(proc: subprocess.Popen, path: Path, at_least: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        n = _done_count(path)
        if n >= at_least:
            return n
        if proc.poll() is not None:
            raise AssertionError(f"the run ended (rc {proc.returncode}) before {at_least} done")
        time.sleep(0.1)
    raise AssertionError(f"fewer than {at_least} samples done within {timeout} s")


# ------------------------------------------------------------------- item 3: SIGTERM
# navier-stokes 16^2 over T=20: ~0.4 s a sample here, independent of its chunk, so a
# resumed file can be compared bit for bit with an uninterrupted one
N_SIG = 32
SIG_ARGS = ["navier-stokes", "--n", str(N_SIG), "--resolution", "16", "-o", "T=20",
            "--chunk-size", "2", "--workers", "2"]  # fmt: skip


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ref") / "ref.h5"
    r = subprocess.run(
        [PDEFLOW, "generate", *SIG_ARGS, "--executor", "processes", "--out", str(out)],
        capture_output=True, text=True, env=_env(), timeout=600,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    return out


@pytest.mark.slow
@pytest.mark.parametrize(
    ("executor", "signum"),
    [("processes", signal.SIGTERM), ("dask", signal.SIGTERM), ("processes", signal.SIGINT)],
)
def test_signal_keeps_finished_samples_and_resume_is_bitwise(
    tmp_path, uninterrupted, executor, signum
):
    out = tmp_path / "d.h5"
    proc = subprocess.Popen(
        [PDEFLOW, "generate", *SIG_ARGS, "--executor", executor, "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(), cwd=tmp_path,
        preexec_fn=_default_signals,
    )  # fmt: skip
    try:
        seen = _wait_for_done(proc, out, 2, timeout=300)
        os.kill(proc.pid, signum)  # the main process only, as `kill` and `timeout` do
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    name = signal.Signals(signum).name
    assert proc.returncode == 128 + signum, err  # 143 for SIGTERM, 130 for SIGINT
    lines = [ln for ln in err.splitlines() if f"interrupted by {name}:" in ln]
    assert len(lines) == 1, err
    kept = int(lines[0].split(f"interrupted by {name}: ")[1].split(" of ")[0])
    # every sample marked done before the signal, and the message's count, is in the file
    with h5py.File(out, "r") as f:
        done = int(f["done"][...].sum())
        assert f.attrs["status"] == "partial"
    assert seen <= kept == done < N_SIG, err
    assert verify(out).damaged == []
    # the printed command resumes it, and the result is what an uninterrupted run stores
    command = shlex.split(lines[0].split("complete it with: ")[1])
    assert command[:2] == ["pdeflow", "generate"] and command[-1] == "--resume"
    r = subprocess.run(
        [PDEFLOW, *command[1:]], capture_output=True, text=True, env=_env(), cwd=tmp_path,
        timeout=600,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert f"{N_SIG - kept} written now, {kept} already there" in r.stdout
    assert verify(out).ok
    _assert_bitwise(out, uninterrupted)


API_SCRIPT = """
import json, sys
from pdeflow.datagen import generate
from pdeflow.datagen.pipeline import GenerationInterrupted

if __name__ == "__main__":
    try:
        generate(family="navier-stokes", n={n}, resolution=16, options={{"T": 20}},
                 chunk_size=2, workers=2, executor="processes", out=sys.argv[1],
                 progress_mode="off")
    except GenerationInterrupted as exc:
        print(json.dumps({{"kept": exc.kept, "code": exc.exit_code, "resume": exc.resume,
                          "keyboard": isinstance(exc, KeyboardInterrupt)}}))
        sys.exit(0)
    sys.exit(5)
"""


@pytest.mark.slow
def test_sigterm_in_python_api_raises_generation_interrupted(tmp_path):
    script = tmp_path / "run.py"
    script.write_text(textwrap.dedent(API_SCRIPT.format(n=N_SIG)))
    out = tmp_path / "d.h5"
    proc = subprocess.Popen(
        [sys.executable, str(script), str(out)], stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, env=_env(), cwd=tmp_path,
        preexec_fn=_default_signals,
    )  # fmt: skip
    try:
        _wait_for_done(proc, out, 2, timeout=300)
        proc.send_signal(signal.SIGTERM)
        stdout, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    result = json.loads(stdout.strip().splitlines()[-1])
    assert result["code"] == 143 and result["keyboard"] is True
    with h5py.File(out, "r") as f:
        assert int(f["done"][...].sum()) == result["kept"]
    assert 2 <= result["kept"] < N_SIG
    assert f"interrupted by SIGTERM: {result['kept']} of {N_SIG} samples" in err
    assert result["resume"].endswith("--resume") and str(out) in result["resume"]


def test_resume_command_spells_out_every_non_default_setting():
    cfg = GenerateConfig(
        family="heat", n=8, out="my data/h.h5", workers=3, chunk_size=2,
        options={"kappa": 0.5, "scheme": "crank-nicolson"}, overwrite=True,
    )  # fmt: skip
    cmd = resume_command(cfg)
    assert shlex.split(cmd) == [
        "pdeflow", "generate", "heat", "--n", "8", "--out", "my data/h.h5", "--workers", "3",
        "--chunk-size", "2", "-o", "kappa=0.5", "-o", "scheme=crank-nicolson", "--resume",
    ]  # fmt: skip
    assert GenerationInterrupted(signal.SIGTERM).exit_code == 143


def test_resume_command_with_threads_runs_through_the_cli(capsys):
    """``threads`` is the global ``pdeflow --threads`` option, not a ``generate`` flag."""
    from pdeflow.cli import main

    cfg = GenerateConfig(family="heat", n=8, out="h.h5", threads=3)
    argv = shlex.split(resume_command(cfg))
    assert argv[:3] == ["pdeflow", "--threads", "3"]
    assert main([*argv[1:], "--print-config"]) == 0
    printed = capsys.readouterr().out
    assert "threads: 3" in printed and "resume: true" in printed


def test_a_signal_waits_for_the_chunk_being_written_and_a_second_is_ignored():
    from pdeflow.datagen.pipeline import _StopSignals

    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    steps = []
    with pytest.raises(GenerationInterrupted) as info_:
        with _StopSignals() as stop:
            with stop.critical():  # as writer.write(chunk) runs
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(0.05)  # the handler has run by now, and deferred the signal
                steps.append("chunk written")
                os.kill(os.getpid(), signal.SIGINT)  # a second signal: ignored
                time.sleep(0.05)
            steps.append("not reached")
    assert steps == ["chunk written"]
    assert info_.value.signum == signal.SIGTERM and info_.value.exit_code == 143
    # the previous handlers are back
    assert {s: signal.getsignal(s) for s in before} == before


# -------------------------------------------------------------- item 4: damaged samples
N_BAD = 64
BAD = 33


def _make(
    path: Path, family: str, compression: str, n: int = N_BAD, resolution: int = 16, **extra
) -> None:
    generate(
        family=family, n=n, resolution=resolution, out=path, workers=1, executor="processes",
        compression=compression, progress_mode="off", **extra,
    )  # fmt: skip


def _flip_32_bytes(path: Path, field: str, sample: int) -> None:
    """Invert 32 bytes in the middle of the stored chunk of ``sample`` of ``field``."""
    with h5py.File(path, "r") as f:
        ds = f["fields"][field]
        chunk = ds.id.get_chunk_info_by_coord((sample,) + (0,) * (ds.ndim - 1))
    assert chunk.size >= 64
    offset = chunk.byte_offset + chunk.size // 2 - 16
    with open(path, "r+b") as fh:
        fh.seek(offset)
        data = fh.read(32)
        fh.seek(offset)
        fh.write(bytes(b ^ 0xFF for b in data))


CASES = [  # family, compression, field, extra settings
    ("darcy", "gzip", "u", {"solver": "direct"}),  # filter failure on read
    ("darcy", "none", "a", {"solver": "direct"}),  # reads fine, checksum mismatch
    ("heat", "lzf", "u", {}),  # a pointwise family, time-dependent field
]


@pytest.mark.parametrize(("family", "compression", "field", "extra"), CASES)
def test_damaged_sample_is_named_and_repaired_bitwise(tmp_path, family, compression, field, extra):
    path, clean = tmp_path / "d.h5", tmp_path / "clean.h5"
    _make(path, family, compression, **extra)
    shutil.copy(path, clean)
    _flip_32_bytes(path, field, BAD)

    # verify names exactly the bad sample (not the whole block read with it)
    rep = verify(path)
    assert not rep.ok and rep.damaged == [BAD], rep.problems
    assert any(p.endswith(f": {BAD}") for p in rep.problems), rep.problems
    # info shows it (not "complete")
    d = info(path)
    assert d["damaged"] == [BAD] and d["status"] == "damaged"
    assert f"pdeflow dataset repair {path}" in format_info(d)
    assert info(path, check=False)["damaged"] is None
    # reading it raises DataError naming the sample and the command; neighbours read
    ds = open_dataset(path)
    ds[BAD - 1], ds[BAD + 1]  # noqa: B018 - they read
    with pytest.raises(DataError, match=rf"Sample {BAD} of field '{field}'.*dataset repair"):
        ds[BAD]
    with pytest.raises(DataError, match=rf"Sample {BAD} of field"):
        ds.read(field)
    ds.close()

    # repair regenerates exactly that sample: the file is bitwise what the clean run stored
    report = repair(path)
    assert report.damaged == [BAD] and report.exact, report.summary()
    assert verify(path).ok
    _assert_bitwise(path, clean)
    with h5py.File(path, "r") as f:
        assert f.attrs["status"] == "complete"
    assert open_dataset(path)[BAD]["index"] == BAD
    assert repair(path).damaged == []  # nothing left to do


def test_repair_of_a_file_without_solve_records_says_it_is_inexact(tmp_path):
    """A file written before the /solve records existed: it opens, verifies and repairs
    as before, solving the damaged sample without its chunk (exact=False)."""
    path, clean = tmp_path / "d.h5", tmp_path / "clean.h5"
    generate(family="darcy", n=16, resolution=16, solver="skr", out=path, workers=1,
             executor="processes", progress_mode="off")  # fmt: skip
    with h5py.File(path, "r+") as f:
        del f["solve"]  # the layout as it was before the records
    shutil.copy(path, clean)
    assert verify(path).ok
    _flip_32_bytes(path, "u", 5)
    report = repair(path)
    assert report.damaged == [5] and not report.exact
    assert "not bit for bit" in report.summary()
    assert verify(path).ok
    with h5py.File(path, "r") as f, h5py.File(clean, "r") as g:
        assert "solve" not in f
        np.testing.assert_array_equal(f["fields/a"][...], g["fields/a"][...])  # inputs exact
        np.testing.assert_allclose(f["fields/u"][5], g["fields/u"][5], rtol=0, atol=1e-6)
        assert f["fields/u"][5].tobytes() != g["fields/u"][5].tobytes()  # solved alone
        untouched = np.arange(16) != 5
        np.testing.assert_array_equal(f["fields/u"][untouched], g["fields/u"][untouched])


AUTO_SCRIPT = """
import sys
import pdeflow.solvers.sequence as seq
from pdeflow.datagen import generate


if __name__ == "__main__":
    # as on a large grid: no factorization among the candidates, so "auto" picks CG or
    # SKR-CG (forked workers inherit the class attribute; this process runs one thread)
    seq.AutoStrategy.direct_max_unknowns = (0, 0)
    generate(family="darcy", n=64, resolution=16, solver="auto", workers=1,
             executor="processes", compression="lzf", out=sys.argv[1], progress_mode="off")
"""


def _chunks(path: Path) -> dict[int, list[int]]:
    """Recorded chunks: chunk id -> its samples in solve-call order."""
    with h5py.File(path, "r") as f:
        chunk, pos = f["solve/chunk"][...], f["solve/position"][...]
    return {
        int(c): np.flatnonzero(chunk == c)[np.argsort(pos[chunk == c])].tolist()
        for c in np.unique(chunk)
    }


@pytest.mark.parametrize("solver", ["skr", "auto"])
def test_recycling_solver_repair_is_bitwise(tmp_path, solver):
    path, clean, again = tmp_path / "d.h5", tmp_path / "clean.h5", tmp_path / "again.h5"
    if solver == "skr":
        for out in (path, again):
            _make(out, "darcy", "lzf", solver="skr", chunk_size=32)
        # determinism first: two clean runs store the same bits (one BLAS thread a worker)
        _assert_bitwise(path, again)
    else:
        script = tmp_path / "auto.py"
        script.write_text(textwrap.dedent(AUTO_SCRIPT))
        r = subprocess.run([sys.executable, str(script), str(path)], capture_output=True,
                           text=True, env=_env(), timeout=600)  # fmt: skip
        assert r.returncode == 0, r.stderr
    shutil.copy(path, clean)
    with h5py.File(path, "r") as f:
        methods = {m.decode() for m in f["stats/method"][...]}
        iterations = f["stats/iterations"][...]
    assert methods <= {"skr", "skr-cg+amg", "cg+amg"}, methods  # recycled or AMG-refreshed
    assert iterations.min() >= 1
    chunks = _chunks(path)
    assert -1 not in chunks and len(chunks) >= 2
    assert sorted(i for m in chunks.values() for i in m) == list(range(N_BAD))
    # sample 33, and one sample (not the first solved) of every other chunk, pilot included
    bad = sorted({BAD} | {m[len(m) // 2] for m in chunks.values() if BAD not in m})
    for i in bad:
        _flip_32_bytes(path, "u", i)
    assert verify(path).damaged == bad

    report = repair(path)
    assert report.damaged == bad and report.exact, report.summary()
    assert "bitwise what a clean run stores" in report.summary()
    assert verify(path).ok
    _assert_bitwise(path, clean)  # fields, params, checksums, iterations, residual, method


def test_repair_is_bitwise_with_several_blas_threads(tmp_path):
    """The workers solve with one BLAS thread; a repair in a process with more solves its
    chunk with one as well (at 64^2, SKR's small GEMMs summed over two threads changed the
    last bits of every sample of a chunk)."""
    from threadpoolctl import threadpool_limits

    path, clean = tmp_path / "d.h5", tmp_path / "clean.h5"
    _make(path, "darcy", "lzf", n=32, resolution=64, solver="skr", chunk_size=16)
    shutil.copy(path, clean)
    _flip_32_bytes(path, "u", 20)
    with threadpool_limits(2):
        report = repair(path)
    assert report.damaged == [20] and report.exact
    _assert_bitwise(path, clean)


def test_dataset_verify_and_repair_commands(tmp_path, capsys):
    path = tmp_path / "d.h5"
    _make(path, "darcy", "gzip", solver="direct")
    _flip_32_bytes(path, "u", BAD)
    capsys.readouterr()
    assert main(["dataset", "verify", str(path)]) == 1
    out, err = capsys.readouterr()
    assert f"1 sample(s) unreadable (damaged chunk): {BAD}" in out and "0-63" not in out
    assert f"repair with: pdeflow dataset repair {path}" in err
    assert main(["dataset", "info", str(path)]) == 0
    out, _ = capsys.readouterr()
    assert "status damaged" in out and f"damaged    1 sample(s): {BAD}" in out
    assert main(["dataset", "repair", str(path)]) == 0
    out, _ = capsys.readouterr()
    assert f"repaired 1 damaged sample(s) of {path}: {BAD}" in out
    assert main(["dataset", "verify", str(path)]) == 0


# --------------------------------------------------------------- item 5: output paths
def _gen(out: str, *extra: str) -> list[str]:
    return ["generate", "darcy", "--n", "2", "--resolution", "8", "--solver", "direct",
            "--workers", "1", "--executor", "processes", "--out", out, *extra]  # fmt: skip


def _one_line_error(capfd) -> str:
    err = capfd.readouterr().err.strip()
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux /proc")
def test_unwritable_folder_is_one_line(capfd):
    assert main(_gen("/proc/x.h5")) == 1
    line = _one_line_error(capfd)
    assert "'/proc/x.h5'" in line and "cannot create a file in folder '/proc'" in line


def test_path_under_a_regular_file_is_one_line(tmp_path, capfd):
    plain = tmp_path / "notes.txt"
    plain.write_text("hello")
    for out in (plain / "x.h5", plain / "deeper" / "x.h5"):
        assert main(_gen(str(out))) == 1
        line = _one_line_error(capfd)
        assert f"'{plain}' is a file, not a folder" in line
    assert plain.read_text() == "hello"


def test_missing_parent_folders_are_created_with_a_line(tmp_path, capfd):
    out = tmp_path / "new" / "sub" / "x.h5"
    assert main(_gen(str(out))) == 0
    err = capfd.readouterr().err
    assert f"created folder {out.parent} for the dataset {out} (and 1 parent(s))" in err
    assert verify(out).ok
    # an existing folder: no such line
    assert main(_gen(str(tmp_path / "new" / "y.h5"))) == 0
    assert "created folder" not in capfd.readouterr().err


def test_overwrite_refuses_what_is_not_a_pdeflow_dataset(tmp_path, capfd):
    text = tmp_path / "results.txt"
    text.write_text("my results")
    foreign = tmp_path / "other.h5"
    with h5py.File(foreign, "w") as f:
        f.create_dataset("a", data=np.arange(3))
        f.attrs["format"] = "someone-else"
    folder = tmp_path / "folder.h5"
    folder.mkdir()
    for target, why in (
        (text, "not an HDF5 file"),
        (foreign, "attribute 'format' is 'someone-else'"),
        (folder, "is a directory"),
    ):
        assert main(_gen(str(target), "--overwrite")) == 1
        line = _one_line_error(capfd)
        assert str(target) in line and why in line, line
    assert text.read_text() == "my results"
    with h5py.File(foreign, "r") as f:
        assert f["a"][...].tolist() == [0, 1, 2]
    # a pdeflow dataset is replaced
    ours = tmp_path / "ours.h5"
    assert main(_gen(str(ours))) == 0
    assert main(_gen(str(ours), "--overwrite")) == 0
    assert verify(ours).ok
