"""The lazy torch Dataset over a generated HDF5 file."""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from typing import ClassVar

import h5py
import numpy as np
import pytest
import torch

from pdeflow.datagen.dataset import GeneratedDataset, open_dataset
from pdeflow.datagen.families._base import FieldSpec, PointwiseFamily
from pdeflow.datagen.storage import DatasetWriter
from pdeflow.errors import ConfigError, DataError

N = 10


@dataclass(frozen=True)
class Fake(PointwiseFamily):
    """Input ``a`` (s, s); output ``u = k a (t + 1)`` (nt, s, s); with ``profile`` also the
    output ``p`` (s,) = column means of ``a``."""

    name: ClassVar[str] = "fake"
    resolution: int = 8
    seed: int = 0
    nt: int = 3
    profile: bool = False

    def fields(self):
        s = self.resolution
        out = {
            "a": FieldSpec("a", (s, s), "input", ("x", "y")),
            "u": FieldSpec("u", (self.nt, s, s), "output", ("t", "x", "y")),
        }
        if self.profile:
            out["p"] = FieldSpec("p", (s,), "output", ("x",))
        return out

    def coords(self):
        s = self.resolution
        return {"x": np.linspace(0, 1, s), "y": np.linspace(0, 1, s), "t": np.arange(self.nt)}

    def sample(self, i):
        rng = self.rng(i)
        return {"a": rng.standard_normal((self.resolution,) * 2), "k": rng.uniform(1, 2)}

    def solve_one(self, sample):
        out = {"u": np.stack([sample["a"] * sample["k"] * (j + 1) for j in range(self.nt)])}
        if self.profile:
            out["p"] = sample["a"].mean(axis=1)
        return out, {"iterations": 2, "residual": 1e-10}


def _write(path, fam, indices=range(N), finish=True):
    with DatasetWriter.create(path, fam, N, config={}, seed=0) as w:
        w.write(fam.solve(list(indices)))
        if finish:
            w.finish()
    return fam.solve(range(N))


@pytest.fixture
def complete(tmp_path):
    path = tmp_path / "d.h5"
    return path, _write(path, Fake())


def test_items_stack_inputs_and_time_steps_as_channels(complete):
    path, ref = complete
    ds = open_dataset(path)
    assert len(ds) == N and ds.fields == ["a", "u"]
    assert (ds.inputs, ds.outputs) == (["a"], ["u"])
    item = ds[3]
    assert item["index"] == 3
    assert item["x"].dtype == torch.float32 and item["x"].shape == (1, 8, 8)
    assert item["y"].shape == (3, 8, 8)
    np.testing.assert_array_equal(item["x"][0].numpy(), ref.fields["a"][3].astype(np.float32))
    np.testing.assert_array_equal(item["y"].numpy(), ref.fields["u"][3].astype(np.float32))
    assert ds[-1]["index"] == N - 1
    with pytest.raises(IndexError):
        ds[N]
    both = open_dataset(path, inputs=["a", "u"], outputs="a")
    assert both[0]["x"].shape == (4, 8, 8) and both[0]["y"].shape == (1, 8, 8)
    np.testing.assert_array_equal(both[2]["x"][0].numpy(), ref.fields["a"][2].astype(np.float32))
    np.testing.assert_array_equal(both[2]["x"][1:].numpy(), ref.fields["u"][2].astype(np.float32))


def test_metadata_read_and_stats(complete):
    path, ref = complete
    ds = open_dataset(path)
    assert ds.attrs["family"] == "fake" and ds.attrs["family_options"]["resolution"] == 8
    assert ds.attrs["config"] == {} and ds.attrs["status"] == "complete"
    np.testing.assert_array_equal(ds.coords["t"], [0.0, 1.0, 2.0])
    np.testing.assert_array_equal(ds.read("u"), ref.fields["u"].astype(np.float32))
    np.testing.assert_array_equal(
        ds.read("a", [7, 2, 7]), ref.fields["a"][[7, 2, 7]].astype(np.float32)
    )
    stats = ds.stats
    np.testing.assert_array_equal(stats["iterations"], 2.0)
    np.testing.assert_array_equal(stats["residual"], 1e-10)
    assert list(stats["method"]) == ["fake"] * N
    with pytest.raises(ConfigError, match="Unknown field 'v'"):
        ds.read("v")
    ds.close()
    assert ds[0]["index"] == 0  # reopens after close


def test_indices_subset_keeps_the_given_order(complete):
    path, ref = complete
    ds = open_dataset(path, indices=[7, 2, 5])
    assert len(ds) == 3 and [ds[i]["index"] for i in range(3)] == [7, 2, 5]
    np.testing.assert_array_equal(ds.read("a"), ref.fields["a"][[7, 2, 5]].astype(np.float32))
    np.testing.assert_array_equal(ds.stats["iterations"], [2.0, 2.0, 2.0])
    with pytest.raises(ConfigError, match=r"'indices'.*\[0, 10\)"):
        open_dataset(path, indices=[0, 10])


def test_handle_is_never_pickled(complete):
    path, ref = complete
    ds = open_dataset(path)
    ds[0]  # opens the handle in this process
    assert ds._h5 is not None
    copy = pickle.loads(pickle.dumps(ds))
    assert copy._h5 is None and ds._h5 is not None
    np.testing.assert_array_equal(copy[4]["y"].numpy(), ref.fields["u"][4].astype(np.float32))
    copy.close()
    ds.close()


def test_dataloader_with_two_workers_yields_each_sample_once(complete):
    path, ref = complete
    ds = open_dataset(path)
    ds[0]  # a handle in the parent: workers must open their own
    loader = torch.utils.data.DataLoader(ds, batch_size=3, num_workers=2, shuffle=True)
    seen = []
    for batch in loader:
        assert batch["x"].shape[1:] == (1, 8, 8) and batch["y"].shape[1:] == (3, 8, 8)
        for j, g in enumerate(batch["index"].tolist()):
            np.testing.assert_array_equal(
                batch["y"][j].numpy(), ref.fields["u"][g].astype(np.float32)
            )
        seen.extend(batch["index"].tolist())
    assert sorted(seen) == list(range(N))
    ds.close()


def test_partial_file_needs_require_complete_false(tmp_path):
    path = tmp_path / "d.h5"
    _write(path, Fake(), indices=[0, 1, 2, 5, 9], finish=False)
    with pytest.raises(DataError, match=r"partial: 5 of 10 samples done \(missing 3-4, 6-8\)"):
        open_dataset(path)
    ds = open_dataset(path, require_complete=False)
    assert len(ds) == 5 and [ds[i]["index"] for i in range(5)] == [0, 1, 2, 5, 9]
    sub = open_dataset(path, require_complete=False, indices=[9, 3, 1])
    assert [sub[i]["index"] for i in range(len(sub))] == [9, 1]


def test_spatial_shapes_must_agree_within_a_group(tmp_path):
    path = tmp_path / "d.h5"
    ref = _write(path, Fake(profile=True))
    with pytest.raises(DataError, match=r"outputs \['u', 'p'\] cannot be stacked.*'p': \(8,\)"):
        open_dataset(path)
    ds = open_dataset(path, outputs=["p"])
    assert ds[1]["y"].shape == (1, 8)
    np.testing.assert_allclose(ds[1]["y"][0].numpy(), ref.fields["p"][1], rtol=1e-6)
    with pytest.raises(ConfigError, match=r"unknown field\(s\) \['q'\]"):
        open_dataset(path, inputs=["q"])
    with pytest.raises(ConfigError, match="at least one"):
        open_dataset(path, outputs=[])


def test_foreign_file_is_a_data_error(tmp_path):
    with h5py.File(tmp_path / "x.h5", "w") as f:
        f["a"] = np.zeros(2)
    with pytest.raises(DataError, match="not a pdeflow dataset"):
        GeneratedDataset(tmp_path / "x.h5")
