"""A dataset written by the previous release (layout v1) still opens, verifies and trains.

``tests/data/v1_darcy16.h5`` was written by commit 754feed (layout v1) with::

    pdeflow generate darcy --n 16 --resolution 16 --workers 1 --executor processes \
        --out tests/data/v1_darcy16.h5
"""

from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import numpy as np
import torch

from pdeflow.datagen import open_dataset
from pdeflow.datagen.storage import info, verify
from pdeflow.operators import FNO, Trainer, TrainerConfig

V1 = Path(__file__).resolve().parent.parent / "data" / "v1_darcy16.h5"


def test_v1_file_is_layout_v1():
    with h5py.File(V1, "r") as f:
        assert int(f.attrs["format_version"]) == 1
        assert set(f["fields"]) == {"a", "u"}


def test_v1_file_verifies_and_summarizes():
    rep = verify(V1)
    assert rep.ok, str(rep)
    assert (rep.n_samples, rep.n_done) == (16, 16)
    d = info(V1)
    assert d["n_done"] == 16 and d["status"] == "complete"
    assert d["provenance"]["format_version"] == 1
    assert d["fields"]["a"]["shape"] == (16, 16, 16)


def test_v1_file_reads_into_training_arrays_and_trains():
    ds = open_dataset(V1)
    assert len(ds) == 16
    x = torch.stack([ds[i]["x"] for i in range(len(ds))])
    y = torch.stack([ds[i]["y"] for i in range(len(ds))])
    assert x.shape == (16, 1, 16, 16) and y.shape == (16, 1, 16, 16)
    assert x.dtype == torch.float32 and torch.isfinite(y).all()
    np.testing.assert_array_equal(ds.read("a")[3], x[3, 0].numpy())
    torch.manual_seed(0)
    trainer = Trainer(
        FNO(1, 1, modes=(4, 4), width=8, n_layers=2),
        TrainerConfig(epochs=2, batch_size=8, lr=3e-3, progress="off"),
    )
    history = trainer.fit(ds)
    assert len(history) == 2
    assert all(np.isfinite(h["train_loss"]) for h in history)


def test_v1_file_resumes_as_v1(tmp_path):
    """A v1 file reopened for writing stays v1 (nothing is rewritten) and still verifies."""
    from pdeflow.datagen.storage import DatasetWriter

    copy = tmp_path / "v1.h5"
    shutil.copy(V1, copy)
    with DatasetWriter.resume(copy) as w:
        assert w.done_count() == 16
        w.finish()
    with h5py.File(copy, "r") as f:
        assert int(f.attrs["format_version"]) == 1
    assert verify(copy).ok
