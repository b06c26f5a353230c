"""Layout v2: field dtypes (integers exact), ragged fields, /mesh, per-sample status."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import pytest

from pdeflow.datagen import families, open_dataset
from pdeflow.datagen.families import (
    ChunkResult,
    FieldSpec,
    PointwiseFamily,
    SampleReport,
    SharedMesh,
)
from pdeflow.datagen.storage import (
    DatasetWriter,
    encode_chunk,
    format_info,
    info,
    verify,
)
from pdeflow.errors import ConfigError, DataError

sys.path.insert(0, str(Path(__file__).resolve().parent))
from toy_ragged import PointClouds, TriMeshes  # noqa: E402


def _write(path, fam, n, compression="gzip", encoded=False, chunks=((0, 3), (3, 6))):
    with DatasetWriter.create(path, fam, n, config={}, seed=0, compression=compression) as w:
        for lo, hi in chunks:
            c = fam.solve(range(lo, min(hi, n)))
            if encoded:
                encode_chunk(c, *w.encoding, fields=w.field_encodings)
            w.write(c)
        w.finish()
    return path


# ------------------------------------------------------------------ FieldSpec
def test_fieldspec_dtype_and_ragged_are_validated():
    spec = FieldSpec("pos", (None, 3), "input", ("p", "d"), dtype="float32", ragged=True)
    assert spec.row_shape == (3,) and spec.ragged
    with pytest.raises(ConfigError, match="'dtype' must be one of"):
        FieldSpec("a", (4,), "input", ("x",), dtype="int8")
    with pytest.raises(ConfigError, match="ragged"):
        FieldSpec("a", (None, 3), "input", ("p", "d"))  # None without ragged=True
    with pytest.raises(ConfigError, match="ragged"):
        FieldSpec("a", (4, 3), "input", ("p", "d"), ragged=True)
    with pytest.raises(DataError, match="ragged"):
        _ = spec.channel_layout


# ------------------------------------------------------------------ round trips
@pytest.mark.parametrize("compression", ["gzip", "lzf", None])
@pytest.mark.parametrize("encoded", [False, True])
def test_ragged_round_trip_is_exact(tmp_path, compression, encoded):
    fam = PointClouds()
    path = _write(tmp_path / "p.h5", fam, 6, compression, encoded)
    rep = verify(path)
    assert rep.ok, str(rep)
    ds = open_dataset(path)
    assert len(ds) == 6 and ds.ragged
    for i in range(6):
        want = fam.sample(i)
        got = ds[i]
        assert got["index"] == i
        for name in ("pos", "types", "ids"):
            assert got[name].dtype == want[name].dtype
            np.testing.assert_array_equal(got[name], want[name])
        assert got["ids"].min() > 2**53  # not representable exactly as float64
    ds.close()
    with h5py.File(path, "r", locking=False) as f:
        assert f["ragged/types/data"].dtype == np.int32
        assert f["ragged/ids/data"].dtype == np.int64
        start = f["ragged/pos/offsets"][:, 0]
        assert (start % f["ragged/pos"].attrs["chunk_rows"] == 0).all()


def test_ragged_data_grows_past_its_preallocation(tmp_path):
    fam = PointClouds(n_min=6000, n_max=12000)  # 2-3 chunks per sample: the data grows
    path = _write(tmp_path / "big.h5", fam, 4, chunks=((0, 2), (2, 4)))
    assert verify(path).ok
    ds = open_dataset(path)
    np.testing.assert_array_equal(ds[3]["pos"], fam.sample(3)["pos"])


def test_mesh_family_round_trip_and_graph_items(tmp_path):
    fam = TriMeshes()
    path = _write(tmp_path / "m.h5", fam, 5)
    ds = open_dataset(path, as_graph=True, inputs=["points", "coef"], outputs=["u"])
    g = ds[2]
    want = fam.sample(2)
    np.testing.assert_array_equal(g.cells.numpy(), want["cells"])
    assert g.cells.dtype.is_floating_point is False and g.num_nodes == len(want["points"])
    assert tuple(g.x.shape) == (len(want["points"]), 3) and tuple(g.y.shape) == (g.num_nodes, 1)
    assert int(g.sample_index) == 2


def test_open_dataset_refuses_channels_of_ragged_fields(tmp_path):
    path = _write(tmp_path / "p.h5", PointClouds(), 6)
    with pytest.raises(ConfigError, match="ragged"):
        open_dataset(path).read("pos")


# ------------------------------------------------------------------ integer fields
def test_int_field_given_floats_is_a_one_line_error_and_loses_nothing(tmp_path):
    good, bad = PointClouds(), PointClouds(floats_for_types=True)
    # on the family side (a worker's solve)
    with pytest.raises(DataError, match="'types' is declared int32 but the family yielded "
                       "float64") as e:
        bad.solve([0])
    assert "\n" not in str(e.value)
    # on the writer side: a chunk built by hand, plain and encoded
    path = tmp_path / "p.h5"
    with DatasetWriter.create(path, good, 4, config={}, seed=0) as w:
        w.write(good.solve([0, 1]))
        c = good.solve([2, 3])
        c.fields["types"] = [t.astype(np.float64) for t in c.fields["types"]]
        with pytest.raises(DataError, match="declared int32"):
            w.write(c)
        with pytest.raises(DataError, match="declared int32"):
            encode_chunk(c, *w.encoding, fields=w.field_encodings)
        assert w.done_count() == 2
    rep = verify(path)
    assert rep.n_done == 2 and all("missing" in p for p in rep.problems), rep.problems
    np.testing.assert_array_equal(open_dataset(path, require_complete=False)[1]["types"],
                                  good.sample(1)["types"])


# ------------------------------------------------------------------ corrupted offsets
@pytest.mark.parametrize("how", ["past_end", "overlap", "misaligned"])
def test_offsets_that_disagree_with_the_data_are_reported(tmp_path, how):
    path = _write(tmp_path / "p.h5", PointClouds(), 6)
    with h5py.File(path, "r+") as f:
        off = f["ragged/pos/offsets"]
        rows = f["ragged/pos/data"].shape[0]
        if how == "past_end":
            off[4] = (off[4, 0], rows + 10)
        elif how == "overlap":
            off[4] = off[1]
        else:
            off[4] = (off[4, 0] + 1, off[4, 1] + 1)
    rep = verify(path)
    assert not rep.ok
    assert any("offsets of" in p and "disagree with its data" in p for p in rep.problems)
    assert 4 in rep.damaged and set(rep.damaged) <= {1, 4, 5}  # 4 and what it overlaps
    with pytest.raises(DataError, match="offsets disagree with the stored data") as e:
        open_dataset(path)
    assert "\n" not in str(e.value) and "pdeflow dataset repair" in str(e.value)


def test_flipped_byte_in_ragged_data_fails_its_checksum(tmp_path):
    path = _write(tmp_path / "p.h5", PointClouds(), 6, compression=None)
    with h5py.File(path, "r+") as f:
        a, b = f["ragged/ids/offsets"][2]
        ids = f["ragged/ids/data"]
        ids[a] = ids[a] ^ 1
    rep = verify(path)
    assert rep.damaged == [2] and any("checksum" in p for p in rep.problems)
    ds = open_dataset(path)
    with pytest.raises(DataError, match="Sample 2 of field 'ids'"):
        ds[2]
    assert ds[3]["index"] == 3  # its neighbours still read


# ------------------------------------------------------------------ status and stats
def test_status_and_extra_stats_are_stored_counted_and_summarized(tmp_path):
    fam = PointClouds()
    path = _write(tmp_path / "p.h5", fam, 6)
    ref = fam.solve(range(6))
    failed = np.flatnonzero(~ref.converged).tolist()
    assert failed  # the toy marks some samples
    rep = verify(path)
    assert rep.ok and rep.not_converged == failed and "marked not converged" in str(rep)
    d = info(path)
    st = d["status_summary"]
    assert st["not_converged"] == failed and st["converged"] == 6 - len(failed)
    assert st["counts"]["not_converged"] == len(failed)
    assert st["messages"] == ["toy solver stalled"]
    assert d["extra_stats"]["energy_drift"]["max"] == pytest.approx(0.5)
    text = format_info(d)
    assert f"{len(failed)} not converged" in text and "energy_drift" in text
    ds = open_dataset(path)
    assert (~ds.status["converged"]).sum() == len(failed)
    assert len(open_dataset(path, converged_only=True)) == 6 - len(failed)


def test_linear_family_keeps_each_system_status(tmp_path):
    fam = families.get("darcy", resolution=8)
    c = fam.solve(range(3), families.SolverSettings(method="cg", preconditioner="jacobi"))
    assert c.converged.all() and (c.status == 2).all()  # SolveStatus.CONVERGED_RTOL
    c = fam.solve(range(3), families.SolverSettings(method="cg", max_iter=2, rtol=1e-12))
    assert not c.converged.any() and (c.status == -3).all()  # DIVERGED_ITS, kept
    assert all("max_iter" in m for m in c.messages)
    path = tmp_path / "d.h5"
    with DatasetWriter.create(path, fam, 3, config={}, seed=0) as w:
        w.write(c)
        w.finish()
    d = info(path)
    assert d["status_summary"]["counts"] == {"diverged_its": 3}
    assert d["status_summary"]["not_converged"] == [0, 1, 2]


@dataclass(frozen=True)
class _FreeDict(PointwiseFamily):
    name = "free-dict"
    seed: int = 0
    report: tuple = (("iters", 3),)
    nan: bool = False

    def fields(self):
        return {"a": FieldSpec("a", (4,), "input", ("x",)),
                "u": FieldSpec("u", (4,), "output", ("x",))}

    def coords(self):
        return {"x": np.linspace(0, 1, 4)}

    def sample(self, i):
        return {"a": self.rng(i).random(4)}

    def solve_one(self, sample):
        u = sample["a"] * (np.nan if self.nan else 1.0)
        return {"u": u}, dict(self.report)


def test_pointwise_family_reads_no_free_form_dict():
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['iters'\]"):
        _FreeDict().solve([0])
    with pytest.raises(ConfigError, match="no 'iterations'"):
        _FreeDict(report=(("residual", 0.1),)).solve([0])
    c = _FreeDict(report=(("iterations", 5),)).solve([0, 1])
    assert c.stats["iterations"].tolist() == [5, 5] and c.converged.all()


def test_non_finite_output_is_marked_not_converged():
    c = _FreeDict(report=(("iterations", 5),), nan=True).solve([0])
    assert not c.converged[0] and c.status[0] == int(families.SampleStatus.NONFINITE)
    assert "non-finite" in c.messages[0]


def test_samplereport_is_returned_as_is():
    r = SampleReport(iterations=3, converged=False, code=1, message="stalled")
    assert SampleReport.coerce(r, "x") is r


# ------------------------------------------------------------------ shared mesh
@dataclass(frozen=True)
class _OnMesh(PointwiseFamily):
    name = "on-mesh"
    seed: int = 0

    def _mesh(self):
        pts = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
        return SharedMesh(pts, np.array([[0, 1, 2], [0, 2, 3]]), "triangle",
                          boundary_tags=np.array([1, 1, 2, 2]))

    def mesh(self):
        return self._mesh()

    def fields(self):
        return {"f": FieldSpec("f", (4,), "input", ("node",)),
                "u": FieldSpec("u", (4,), "output", ("node",))}

    def coords(self):
        return {}

    def sample(self, i):
        return {"f": self.rng(i).random(4)}

    def solve_one(self, sample):
        return {"u": 2 * sample["f"]}, SampleReport(iterations=1)


def test_shared_mesh_is_stored_once(tmp_path):
    fam = _OnMesh()
    path = _write(tmp_path / "m.h5", fam, 3, chunks=((0, 3),))
    with h5py.File(path, "r") as f:
        assert f["mesh/cells"].dtype == np.int64 and f["mesh"].attrs["cell_type"] == "triangle"
        np.testing.assert_array_equal(f["mesh/boundary_tags"][...], [1, 1, 2, 2])
    d = info(path)
    assert d["mesh"] == {"n_points": 4, "dim": 2, "n_cells": 2, "cell_type": "triangle",
                         "boundary_tags": True}
    assert "4 points, 2 triangle cells" in format_info(d)
    assert verify(path).ok
    with pytest.raises(ConfigError, match="2-D integer"):
        SharedMesh(np.zeros((3, 2)), np.zeros((1, 3)), "triangle")


def test_chunk_result_defaults_still_write(tmp_path):
    """A ChunkResult without status (a hand-built chunk) is stored as converged, code 0."""
    fam = _OnMesh()
    path = tmp_path / "x.h5"
    with DatasetWriter.create(path, fam, 1, config={}, seed=0) as w:
        w.write(ChunkResult(np.array([0]), {"f": np.ones((1, 4)), "u": np.ones((1, 4))},
                            stats={"iterations": [1], "residual": [0.0], "time": [0.0]}))
        w.finish()
    assert info(path)["status_summary"]["counts"] == {"ok": 1}


@pytest.mark.parametrize("name", [
    "pdeflow.datagen.storage", "pdeflow.datagen.storage.layout",
    "pdeflow.datagen.storage.verify", "pdeflow.datagen.families._base",
    "pdeflow.datagen.dataset",
])  # fmt: skip
def test_docstring_examples(name, monkeypatch, tmp_path):
    import doctest
    import importlib

    monkeypatch.chdir(tmp_path)
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_export_and_show_refuse_ragged_files_in_one_line(tmp_path):
    from pdeflow.datagen import export_dataset, show_sample

    path = _write(tmp_path / "p.h5", PointClouds(), 6)
    with pytest.raises(DataError, match=r"ragged field\(s\) \['ids', 'pos', 'target', 'types'\]"):
        export_dataset(path, tmp_path / "p.nc", "netcdf")
    assert not (tmp_path / "p.nc").exists()
    with pytest.raises(DataError, match="cannot be shown as image panels"):
        show_sample(path, 0, tmp_path / "p.png")


def test_a_damaged_ragged_sample_is_repaired(tmp_path):
    from pdeflow.datagen import generate
    from pdeflow.datagen.repair import repair

    path = tmp_path / "r.h5"
    generate(family=f"{Path(__file__).resolve().parent / 'toy_ragged.py'}:PointClouds", n=6,
             out=str(path), workers=1, executor="processes", compression="none",
             progress_mode="off")  # fmt: skip
    with h5py.File(path, "r+") as f:
        a, _ = f["ragged/pos/offsets"][3]
        f["ragged/pos/data"][a] = f["ragged/pos/data"][a] + 1
    assert verify(path).damaged == [3]
    rep = repair(path)
    assert rep.damaged == [3] and rep.exact
    assert verify(path).ok
    np.testing.assert_array_equal(open_dataset(path)[3]["pos"], PointClouds().sample(3)["pos"])


def test_generate_report_counts_samples_that_did_not_converge(tmp_path):
    from pdeflow.datagen import generate

    report = generate(family=f"{Path(__file__).resolve().parent / 'toy_ragged.py'}:PointClouds",
                      n=8, out=str(tmp_path / "p.h5"), workers=1, executor="processes",
                      progress_mode="off")  # fmt: skip
    want = np.flatnonzero(~PointClouds().solve(range(8)).converged).tolist()
    assert sorted(report.not_converged) == want and want
    assert f"{len(want)} sample(s) did not converge" in report.summary()
