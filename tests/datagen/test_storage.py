"""HDF5 dataset storage: layout round trip, resume, crash safety, verify, info."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
import zlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import ClassVar

import h5py
import numpy as np
import pytest

from pdeflow.datagen import storage
from pdeflow.datagen.families._base import ChunkResult, FieldSpec, PointwiseFamily
from pdeflow.datagen.storage import DatasetWriter, compact_ranges, verify
from pdeflow.errors import ConfigError, DataError

CONFIG = {"family": "fake", "n_samples": 12, "solver": {"rtol": 1e-8, "k": [1, 2]}}


@dataclass(frozen=True)
class Fake(PointwiseFamily):
    """Input ``a`` (s, s), output ``u = k a (t + 1)`` (nt, s, s), parameter ``k``."""

    name: ClassVar[str] = "fake"
    resolution: int = 8
    seed: int = 0
    nt: int = 3
    scale: float = 1.0

    def fields(self):
        s = self.resolution
        return {
            "a": FieldSpec("a", (s, s), "input", ("x", "y"), "coefficient [1]"),
            "u": FieldSpec("u", (self.nt, s, s), "output", ("t", "x", "y"), "solution [m]"),
        }

    def coords(self):
        s = self.resolution
        return {
            "x": np.linspace(0, 1, s),
            "y": np.linspace(0, 2, s),
            "t": 0.1 * np.arange(self.nt),
        }

    def param_names(self):
        return ("k",)

    def sample(self, i):
        rng = self.rng(i)
        return {
            "a": self.scale * rng.standard_normal((self.resolution,) * 2),
            "k": rng.uniform(1, 2),
        }

    def solve_one(self, sample):
        u = np.stack([sample["a"] * sample["k"] * (j + 1) for j in range(self.nt)])
        return {"u": u}, {"iterations": 3 + sample["k"], "residual": 1e-9}


def _create(path, fam=None, n=12, **kw):
    fam = fam or Fake()
    return DatasetWriter.create(path, fam, n, config=CONFIG | {"n_samples": n}, seed=0, **kw)


def _full(path, fam=None, n=12):
    fam = fam or Fake()
    with _create(path, fam, n) as w:
        w.write(fam.solve(range(n)))
        w.finish()
    return fam


# ------------------------------------------------------------------------------- round trip
def test_round_trip_out_of_order_chunks(tmp_path):
    fam, path = Fake(), tmp_path / "sub" / "d.h5"
    t0 = time.time()
    with _create(path, fam) as w:
        for chunk in ([5, 2, 9], [11, 0], [1, 3, 4, 6, 7, 8, 10]):
            assert w.write(fam.solve(chunk)) == len(chunk)
        assert w.done_count() == 12 and w.missing().size == 0
        w.finish()
    t1 = time.time()
    ref = fam.solve(range(12))
    with h5py.File(path, "r") as f:
        a = dict(f.attrs)
        assert a["format"] == "pdeflow-dataset" and a["format_version"] == 2
        assert a["family"] == "fake" and a["n_samples"] == 12 and a["seed"] == 0
        assert json.loads(a["family_options"]) == {"resolution": 8, "seed": 0, "nt": 3, "scale": 1}
        assert json.loads(a["config"]) == CONFIG
        assert a["status"] == "complete" and a["dtype"] == "float32"
        assert a["pdeflow_version"] == "0.1.0"
        assert re.fullmatch(r"|[0-9a-f]{40}", a["git_hash"])
        assert datetime.fromisoformat(a["created"]).utcoffset().total_seconds() == 0
        for name in ("a", "u"):
            ds = f["fields"][name]
            assert ds.dtype == np.float32 and ds.chunks == (1, *ds.shape[1:])
            assert ds.compression == "lzf"
            np.testing.assert_array_equal(ds[...], ref.fields[name].astype(np.float32))
            crc = [zlib.crc32(row.tobytes()) for row in ds[...]]
            np.testing.assert_array_equal(f["checksums"][name][...], crc)
        assert f["fields/u"].attrs["role"] == "output"
        assert json.loads(f["fields/u"].attrs["axes"]) == ["t", "x", "y"]
        assert f["fields/a"].attrs["description"] == "coefficient [1]"
        for axis, values in fam.coords().items():
            np.testing.assert_array_equal(f["coords"][axis][...], values)
        np.testing.assert_array_equal(f["params/k"][...], ref.params["k"])
        np.testing.assert_array_equal(f["stats/iterations"][...], ref.stats["iterations"])
        np.testing.assert_array_equal(f["stats/residual"][...], 1e-9)
        assert (f["stats/time"][...] >= 0).all()
        assert set(f["stats/method"][...]) == {b"fake"}
        assert (t0 <= f["stats/written_at"][...]).all() and (f["stats/written_at"][...] <= t1).all()
        assert (f["done"][...] == 1).all() and (f["write_count"][...] == 1).all()
    report = verify(path)
    assert report.ok and report.n_done == 12 and report.problems == []


def test_float64_gzip_and_no_compression(tmp_path):
    fam = Fake()
    ref = fam.solve(range(4))
    for compression in ("gzip", None):
        path = tmp_path / f"{compression}.h5"
        with _create(path, fam, 4, dtype="float64", compression=compression) as w:
            w.write(ref)
            w.finish()
        with h5py.File(path, "r") as f:
            assert f["fields/u"].dtype == np.float64 and f.attrs["dtype"] == "float64"
            assert f["fields/u"].compression == compression
            np.testing.assert_array_equal(f["fields/u"][...], ref.fields["u"])
        assert verify(path).ok


def test_create_refuses_existing_file_and_bad_options(tmp_path):
    path = tmp_path / "d.h5"
    _full(path, n=2)
    with pytest.raises(DataError, match="exists") as err:
        _create(path, n=2)
    assert isinstance(err.value, FileExistsError)
    with _create(path, n=3, overwrite=True) as w:
        assert w.n_samples == 3 and w.done_count() == 0
    with pytest.raises(ConfigError, match="'dtype'"):
        _create(tmp_path / "e.h5", dtype="float16")
    with pytest.raises(ConfigError, match="'compression'"):
        _create(tmp_path / "e.h5", compression="zstd")
    with pytest.raises(ConfigError, match="'n_samples'"):
        _create(tmp_path / "e.h5", n=0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.h5"]  # no temporary left


def test_same_chunk_twice_writes_nothing_the_second_time(tmp_path):
    fam = Fake()
    with _create(tmp_path / "d.h5", fam) as w:
        assert w.write(fam.solve([0, 1, 2, 3])) == 4
        assert w.write(fam.solve([0, 1, 2, 3])) == 0
        assert w.write(fam.solve([3, 4, 2, 5])) == 2
        np.testing.assert_array_equal(w.missing(), np.arange(6, 12))
    with h5py.File(tmp_path / "d.h5", "r") as f:
        np.testing.assert_array_equal(f["write_count"][...], [1] * 6 + [0] * 6)


def test_write_rejects_bad_chunks_and_writes_nothing(tmp_path):
    fam = Fake()
    good = fam.solve([0, 1])
    with _create(tmp_path / "d.h5", fam) as w:
        cases = [
            (ChunkResult(np.array([0, 12]), good.fields, good.params, good.stats), "out of range"),
            (ChunkResult(np.array([1, 1]), good.fields, good.params, good.stats), "repeat"),
            (
                ChunkResult(
                    good.indices, good.fields | {"v": good.fields["a"]}, good.params, good.stats
                ),
                r"unknown field\(s\) \['v'\]",
            ),
            (
                ChunkResult(good.indices, {"a": good.fields["a"]}, good.params, good.stats),
                r"lacks field\(s\) \['u'\]",
            ),
            (
                ChunkResult(
                    good.indices,
                    good.fields | {"a": good.fields["a"][:, :4]},
                    good.params,
                    good.stats,
                ),
                r"Field 'a' of the chunk has shape \(2, 4, 8\)",
            ),
            (ChunkResult(good.indices, good.fields, {}, good.stats), r"lacks parameter"),
            (ChunkResult(good.indices, good.fields, good.params, {}), "statistic"),
        ]
        for chunk, message in cases:
            with pytest.raises(DataError, match=message):
                w.write(chunk)
        assert w.done_count() == 0
        w.close()
        with pytest.raises(DataError, match="closed"):
            w.write(good)


# ------------------------------------------------------------------------------------ resume
def test_resume_writes_the_missing_half(tmp_path):
    fam, path = Fake(), tmp_path / "d.h5"
    with _create(path, fam) as w:
        w.write(fam.solve([0, 2, 4, 6, 8, 10]))
    with DatasetWriter.resume(path, family=fam, config=CONFIG) as w:
        np.testing.assert_array_equal(w.missing(), [1, 3, 5, 7, 9, 11])
        assert w.missing().dtype == np.int64 and w.done_count() == 6
        assert w.write(fam.solve(w.missing())) == 6
        w.finish()
    assert verify(path).ok
    assert storage.info(path)["status"] == "complete"


def test_resume_refuses_a_different_family_or_config(tmp_path):
    path = tmp_path / "d.h5"
    with _create(path) as w:
        w.write(Fake().solve([0]))
    with pytest.raises(DataError, match=r"option\(s\) \['scale'\]"):
        DatasetWriter.resume(path, family=Fake(scale=2.0))
    with pytest.raises(DataError, match=r"\['resolution'\]"):
        DatasetWriter.resume(path, family=Fake(resolution=4))
    with pytest.raises(DataError, match=r"\['solver.rtol'\]"):
        DatasetWriter.resume(path, config=CONFIG | {"solver": {"rtol": 1e-6, "k": [1, 2]}})
    with pytest.raises(DataError, match="'n_samples'"):
        DatasetWriter.resume(path, config=CONFIG | {"n_samples": 20})

    @dataclass(frozen=True)
    class Other(Fake):
        name: ClassVar[str] = "other"

    with pytest.raises(DataError, match="'family'"):
        DatasetWriter.resume(path, family=Other())
    with DatasetWriter.resume(path, family=Fake(), config=CONFIG) as w:  # still resumable
        assert w.done_count() == 1


def test_resume_refuses_foreign_and_future_files(tmp_path):
    with h5py.File(tmp_path / "x.h5", "w") as f:
        f["data"] = np.zeros(3)
    with pytest.raises(DataError, match="not a pdeflow dataset"):
        DatasetWriter.resume(tmp_path / "x.h5")
    _full(tmp_path / "d.h5", n=2)
    with h5py.File(tmp_path / "d.h5", "r+") as f:
        f.attrs["format_version"] = 3
    with pytest.raises(DataError, match="format_version 3"):
        DatasetWriter.resume(tmp_path / "d.h5")
    with pytest.raises(DataError, match="No dataset file"):
        DatasetWriter.resume(tmp_path / "none.h5")


# ------------------------------------------------------------------------------ crash safety
CHILD = """
import sys
sys.path.insert(0, {tests!r})
from test_storage import Fake, _create
fam = Fake(resolution=16)
with _create({path!r}, fam, {n}) as w:
    w.sync_seconds = {sync}
    for start in range(0, {n}, {m}):
        w.write(fam.solve(range(start, start + {m})))
        print("flushed", start // {m} + 1, flush=True)
    import time
    time.sleep(60)
"""


def test_kill_9_leaves_only_complete_samples_and_resumes(tmp_path):
    path, n, m, k = tmp_path / "d.h5", 4000, 4, 10
    code = CHILD.format(tests=str(Path(__file__).parent), path=str(path), n=n, m=m, sync=0.0)
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        for line in child.stdout:
            if int(line.split()[1]) >= k:
                child.send_signal(signal.SIGKILL)
                break
    finally:
        child.kill()
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    report = verify(path)
    assert report.n_samples == n and k * m <= report.n_done
    assert report.n_done % m == 0  # whole chunks only
    assert report.problems == [
        f"{n - report.n_done} of {n} samples missing: {report.n_done}-{n - 1}"
    ]
    fam = Fake(resolution=16)
    with DatasetWriter.resume(path, family=fam) as w:
        np.testing.assert_array_equal(w.missing(), np.arange(report.n_done, n))
        assert w.write(fam.solve(w.missing())) == n - report.n_done
        w.finish()
    final = verify(path)
    assert final.ok, final.problems
    with h5py.File(path, "r") as f:
        rows = [0, report.n_done - 1, report.n_done, n - 1]
        np.testing.assert_array_equal(
            f["fields/u"][rows], fam.solve(rows).fields["u"].astype(np.float32)
        )


def test_delayed_sync_marks_nothing_it_has_not_flushed(tmp_path):
    """With sync_seconds > 0 (as generate runs) a kill -9 loses the unsynced chunks whole."""
    path, n, m = tmp_path / "d.h5", 64, 4
    code = CHILD.format(tests=str(Path(__file__).parent), path=str(path), n=n, m=m, sync=1e9)
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        lines = [child.stdout.readline() for _ in range(n // m)]
        assert lines[-1].split() == ["flushed", str(n // m)]
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait(timeout=30)
    report = verify(path)
    # every chunk's fields were written, but none was synced: no sample is marked done
    assert report.n_done == 0 and report.problems == [f"{n} of {n} samples missing: 0-{n - 1}"]
    fam = Fake(resolution=16)
    with DatasetWriter.resume(path, family=fam) as w:
        w.sync_seconds = 1e9
        assert w.write(fam.solve(range(0, 8))) == 8
        assert w.write(fam.solve(range(4, 12))) == 4  # done in memory before the sync
        np.testing.assert_array_equal(w.missing(), np.arange(12, n))
        with h5py.File(path, "r") as g:  # the same HDF5 file object: nothing marked yet
            assert not g["done"][:12].any()
        w.flush()
        with h5py.File(path, "r") as g:
            np.testing.assert_array_equal(g["done"][:13], [1] * 12 + [0])
            np.testing.assert_array_equal(
                g["stats/iterations"][:12], fam.solve(range(12)).stats["iterations"]
            )
        w.write(fam.solve(w.missing()))
        w.finish()  # syncs the rest
    final = verify(path)
    assert final.ok, final.problems


# ------------------------------------------------------------------------------------ verify
def test_verify_finds_corruption(tmp_path):
    path = tmp_path / "d.h5"
    _full(path)
    with h5py.File(path, "r+") as f:
        row = f["fields/u"][4]
        raw = row.reshape(-1).view(np.uint8).copy()
        raw[4] ^= 0x01  # lowest mantissa bit of the 2nd float32: still finite, other bytes
        f["fields/u"][4] = raw.view(np.float32).reshape(row.shape)
        a = f["fields/a"][7]
        a[1, 2] = np.nan
        f["fields/a"][7] = a
        f["write_count"][9] = 2
    report = verify(path)
    assert not report.ok and report.n_done == 12
    assert report.problems == [
        "1 done sample(s) with write_count != 1 (written more than once or never counted): 9",
        "field 'a': 1 sample(s) with non-finite values: 7",
        "field 'a': 1 checksum mismatch(es): 7",
        "field 'u': 1 checksum mismatch(es): 4",
    ]
    no_crc = verify(path, check_checksums=False)
    assert not any("checksum" in p for p in no_crc.problems) and len(no_crc.problems) == 2


def test_verify_reports_missing_samples_as_ranges(tmp_path):
    fam, path = Fake(), tmp_path / "d.h5"
    with _create(path, fam) as w:
        w.write(fam.solve([0, 1, 2, 6, 7, 8, 10]))
        report = verify(path)  # readable while this process writes it
    assert report.n_done == 7
    assert report.problems == ["5 of 12 samples missing: 3-5, 9, 11"]
    assert compact_ranges(np.arange(0, 100, 2), limit=3) == "0, 2, 4, ... (47 more ranges)"


def test_verify_reports_truncated_and_foreign_files(tmp_path):
    path = tmp_path / "d.h5"
    _full(path)
    size = path.stat().st_size
    with open(path, "r+b") as fh:
        fh.truncate(size // 2)
    report = verify(path)
    assert not report.ok and len(report.problems) == 1
    assert "truncated" in report.problems[0]
    (tmp_path / "text.h5").write_text("not hdf5")
    assert not verify(tmp_path / "text.h5").ok
    assert "No dataset file" in verify(tmp_path / "nothing.h5").problems[0]
    with pytest.raises(DataError, match="truncated"):
        storage.info(path)


def test_verify_complete_file_with_partial_status(tmp_path):
    fam, path = Fake(), tmp_path / "d.h5"
    with _create(path, fam, 3) as w:
        w.write(fam.solve(range(3)))
    assert verify(path).problems == [
        "every sample is done but status is not 'complete' (finish() not run)"
    ]


# -------------------------------------------------------------------------------------- info
def test_info_and_format_info(tmp_path):
    path = tmp_path / "d.h5"
    fam = Fake()
    with _create(path, fam) as w:
        w.write(fam.solve([0, 1, 2]))
    d = storage.info(path)
    ref = fam.solve([0, 1, 2])
    assert d["family"] == "fake" and d["options"]["scale"] == 1.0
    assert (d["n_samples"], d["n_done"], d["status"]) == (12, 3, "partial")
    assert d["fields"]["u"] == {
        "shape": (12, 3, 8, 8),
        "dtype": "float32",
        "role": "output",
        "axes": ("t", "x", "y"),
    }
    assert d["coords"]["y"] == {"size": 8, "min": 0.0, "max": 2.0}
    assert d["params"] == ["k"]
    assert d["stats"]["iterations_mean"] == pytest.approx(ref.stats["iterations"].mean())
    assert d["stats"]["iterations_max"] == pytest.approx(ref.stats["iterations"].max())
    assert d["stats"]["residual_max"] == pytest.approx(1e-9)
    assert d["stats"]["methods"] == ["fake"] and d["stats"]["time_total"] >= 0
    assert d["provenance"]["config"] == CONFIG and d["provenance"]["seed"] == 0
    assert d["file_size"] == path.stat().st_size
    text = storage.format_info(d)
    assert "3 of 12 done, status partial" in text
    assert "u        output  (12, 3, 8, 8) float32 (t,x,y)" in text
    assert "residual max 1e-09" in text and "layout v2" in text


# -------------------------------------------------------------------------------- throughput
def test_write_throughput_vs_raw_h5py(tmp_path):
    """Measured, not asserted: 200 samples of two 128 x 128 float32 fields, chunks of 20."""
    n, s, m = 200, 128, 20
    fam = Fake(resolution=s, nt=1)
    rng = np.random.default_rng(0)
    fields = {
        "a": rng.standard_normal((n, s, s)).astype(np.float32),
        "u": rng.standard_normal((n, 1, s, s)).astype(np.float32),
    }
    stats = {k: np.zeros(n) for k in ("iterations", "residual", "time")}

    def chunk(lo):
        sl = slice(lo, lo + m)
        return ChunkResult(
            np.arange(lo, lo + m),
            {k: v[sl] for k, v in fields.items()},
            {"k": np.ones(m)},
            {k: v[sl] for k, v in stats.items()},
            "raw",
        )

    t0 = time.perf_counter()
    with h5py.File(tmp_path / "raw.h5", "w") as f:
        for name, arr in fields.items():
            f.create_dataset(
                name, arr.shape, np.float32, chunks=(1, *arr.shape[1:]), compression="lzf"
            )
        for lo in range(0, n, m):
            for name, arr in fields.items():
                f[name][lo : lo + m] = arr[lo : lo + m]
    t_raw = time.perf_counter() - t0
    t0 = time.perf_counter()
    with DatasetWriter.create(tmp_path / "w.h5", fam, n, config={}, seed=0) as w:
        for lo in range(0, n, m):
            w.write(chunk(lo))
        w.finish()
    t_writer = time.perf_counter() - t0
    mb = sum(a.nbytes for a in fields.values()) / 2**20
    print(
        f"\nwrite throughput, {n} samples x 2 fields {s}x{s} float32 ({mb:.1f} MiB), lzf, "
        f"chunks of {m}: raw h5py {mb / t_raw:.0f} MiB/s ({t_raw:.3f} s), DatasetWriter "
        f"{mb / t_writer:.0f} MiB/s ({t_writer:.3f} s), ratio {t_writer / t_raw:.2f}"
    )
    with h5py.File(tmp_path / "w.h5", "r") as f:
        np.testing.assert_array_equal(f["fields/u"][...], fields["u"])
