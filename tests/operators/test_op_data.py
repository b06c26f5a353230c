"""HDF5 and stream data sources."""

from __future__ import annotations

import pickle

import h5py
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from pdeflow.errors import DataError
from pdeflow.operators import H5FieldDataset, StreamDataset
from pdeflow.operators.toy_data import darcy1d_source, write_h5


def _h5(tmp_path, n=6):
    return write_h5(tmp_path / "d.h5", darcy1d_source(resolution=32), n, seed=3)


def test_h5_dataset_lazy_and_picklable(tmp_path):
    ds = H5FieldDataset(_h5(tmp_path), x_key="a", y_key="u")
    assert len(ds) == 6 and ds._file is None  # nothing opened at construction
    s = ds[2]
    assert s["x"].shape == (1, 32) and s["y"].dtype == torch.float32
    assert ds._file is not None
    clone = pickle.loads(pickle.dumps(ds))  # the open handle is not pickled
    assert clone._file is None
    torch.testing.assert_close(clone[2]["y"], s["y"])
    with h5py.File(ds.path) as f:
        np.testing.assert_allclose(s["y"][0].numpy(), f["u"][2])
    coarse = ds.subsampled(2)
    assert coarse[0]["x"].shape == (1, 16)
    batches = list(DataLoader(ds, batch_size=4, num_workers=1))
    assert batches[0]["x"].shape == (4, 1, 32)
    ds.close()


def test_h5_dataset_errors(tmp_path):
    path = _h5(tmp_path)
    with pytest.raises(DataError, match="datasets found: a, u"):
        H5FieldDataset(path, x_key="coef")
    with pytest.raises(DataError, match="not found"):
        H5FieldDataset(tmp_path / "missing.h5")
    with h5py.File(tmp_path / "bad.h5", "w") as f:
        f["a"] = np.full((2, 8), np.nan)
        f["u"] = np.zeros((2, 8))
    with pytest.raises(DataError, match="non-finite"):
        H5FieldDataset(tmp_path / "bad.h5")[0]


def test_stream_is_reproducible_and_bounded():
    ds = StreamDataset(darcy1d_source(resolution=16), samples_per_epoch=10, buffer_size=3)
    first = [s["x"] for s in ds]
    assert len(first) == 10 and first[0].shape == (1, 16)
    again = [s["x"] for s in ds]
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    ds.set_epoch(1)
    other = [s["x"] for s in ds]
    assert not all(torch.equal(a, b) for a, b in zip(first, other, strict=True))
    val = ds.take(5)
    assert val.x.shape == (5, 1, 16)
    torch.testing.assert_close(ds.take(5).y, val.y)  # a fixed validation set


def test_stream_rejects_tuples():
    def source(seed):
        while True:
            yield (np.zeros(8), np.zeros(8))

    with pytest.raises(DataError, match="keys 'x' and 'y'"):
        next(iter(StreamDataset(source, samples_per_epoch=2)))
