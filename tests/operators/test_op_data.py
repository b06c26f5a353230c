"""HDF5 and stream data sources."""

from __future__ import annotations

import pickle

import h5py
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from pdeflow.errors import ConfigError, DataError
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


# ------------------------------------------------------------------ channel layout (issue #28, 14)
def _channels_last_h5(path, n=6, channels=1):
    """Darcy samples stored channels last: a, u shaped (n, 32, channels)."""
    arrays = {"x": np.zeros((n, 32)), "y": np.zeros((n, 32))}
    for k, s in enumerate(darcy1d_source(resolution=32)(5)):
        if k == n:
            break
        arrays["x"][k], arrays["y"][k] = s["x"], s["y"]
    with h5py.File(path, "w") as f:
        f["a"] = np.repeat(arrays["x"][..., None], channels, axis=-1).astype(np.float32)
        f["u"] = arrays["y"][..., None].astype(np.float32)
    return path, arrays


def test_channels_last_is_refused_by_default_with_the_option_named(tmp_path):
    path, _ = _channels_last_h5(tmp_path / "last.h5")
    with pytest.raises(DataError) as err:
        H5FieldDataset(path)
    msg = str(err.value)
    assert "(32, 1)" in msg and "2-D grid of 32 x 1 points" in msg
    assert "channel_axis='last'" in msg and "--channel-axis last" in msg
    with pytest.raises(DataError, match="channel_axis='last'"):
        H5FieldDataset(path, channel_axis="first")  # 32 channels on a 1-point grid


def test_channels_last_reads_channels_first(tmp_path):
    path, arrays = _channels_last_h5(tmp_path / "last.h5", channels=2)
    ds = H5FieldDataset(path, channel_axis="last")
    assert ds.spatial_ndim == 1
    s = ds[3]
    assert s["x"].shape == (2, 32) and s["y"].shape == (1, 32)
    np.testing.assert_allclose(s["x"][1].numpy(), arrays["x"][3], rtol=1e-6)
    np.testing.assert_allclose(s["y"][0].numpy(), arrays["y"][3], rtol=1e-6)
    assert ds.subsampled(2)[3]["x"].shape == (2, 16)  # strides skip the channel axis
    assert ds.layout["x"] == "a (N, 32, 2): 2 channel(s) on a 32 grid (channel_axis='last')"
    assert ds.materialize().x.shape == (6, 2, 32)


def test_channels_first_and_the_old_boolean(tmp_path):
    with h5py.File(tmp_path / "first.h5", "w") as f:
        f["a"] = np.random.default_rng(0).random((4, 2, 16, 16))
        f["u"] = np.random.default_rng(1).random((4, 16, 16))
    ds = H5FieldDataset(tmp_path / "first.h5", channel_axis=True)
    assert ds.channel_axis == "first" and ds[0]["x"].shape == (2, 16, 16)
    assert ds[0]["y"].shape == (1, 16, 16)  # an array with exactly the grid's axes
    with pytest.raises(ConfigError, match="'first', 'last' or None"):
        H5FieldDataset(tmp_path / "first.h5", channel_axis="middle")


def test_stream_channel_axis():
    def source(seed):
        rng = np.random.default_rng(seed)
        while True:
            yield {"x": rng.random((16, 1)), "y": rng.random((16, 1))}

    with pytest.raises(DataError, match="channel_axis='last'"):
        next(iter(StreamDataset(source, samples_per_epoch=2)))
    ds = StreamDataset(source, samples_per_epoch=2, channel_axis="last")
    assert next(iter(ds))["x"].shape == (1, 16)


def test_a_few_channels_last_are_not_a_grid(tmp_path):
    """(N, 32, 3): three channels, not a 32 x 3 grid (which would hold one Fourier mode)."""
    path, _ = _channels_last_h5(tmp_path / "last3.h5", channels=3)
    with h5py.File(path, "a") as f:
        del f["u"]
        f["u"] = np.zeros((6, 32, 3), np.float32)
    with pytest.raises(DataError, match=r"32 x 3 points; a grid axis of fewer than 4 points"):
        H5FieldDataset(path)
    assert H5FieldDataset(path, channel_axis="last")[0]["x"].shape == (3, 32)
