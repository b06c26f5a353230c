"""Trainer: overfit, streams, checkpoints, bitwise resume, config errors."""

from __future__ import annotations

import json

import pytest
import torch

from pdeflow.errors import ConfigError
from pdeflow.operators import (
    FNO,
    StreamDataset,
    TensorFieldDataset,
    Trainer,
    TrainerConfig,
    read_checkpoint,
)
from pdeflow.operators.checkpoint import build_model
from pdeflow.operators.toy_data import darcy1d_source


def _dataset(arrays, n, start=0):
    x = torch.tensor(arrays["x"][start : start + n], dtype=torch.float32)[:, None]
    y = torch.tensor(arrays["y"][start : start + n], dtype=torch.float32)[:, None]
    return TensorFieldDataset(x, y)


def _config(**kw):
    base = {"epochs": 4, "batch_size": 4, "lr": 3e-3, "progress": "off"}
    return TrainerConfig(**{**base, **kw})


def test_tiny_overfit(darcy1d_arrays):
    ds = _dataset(darcy1d_arrays, 8)
    torch.manual_seed(0)
    model = FNO(1, 1, modes=16, width=32, n_layers=3)
    trainer = Trainer(model, _config(epochs=150, batch_size=8, lr=1e-2, weight_decay=0.0))
    trainer.fit_normalizers(ds)
    before = trainer.evaluate(ds)["val/l2"]
    trainer.fit(ds)
    after = trainer.evaluate(ds)["val/l2"]
    assert after < before / 100, (before, after)


def test_trainer_runs_on_stream(tmp_path):
    stream = StreamDataset(darcy1d_source(resolution=32), samples_per_epoch=8, buffer_size=4)
    val = stream.take(4)
    model = FNO(1, 1, modes=6, width=8, n_layers=2)
    trainer = Trainer(model, _config(epochs=2, out_dir=str(tmp_path)))
    history = trainer.fit(stream, val={"val": val, "val_coarse": val.subsampled(2)})
    assert len(history) == 2
    assert {"train_loss", "val/l2", "val/h1", "val_coarse/l2", "lr"} <= set(history[-1])
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2]
    assert (tmp_path / "last.pt").is_file()


@pytest.mark.parametrize("scheduler", ["cosine", "step", "plateau"])
def test_checkpoint_resume_is_bitwise(darcy1d_arrays, tmp_path, scheduler):
    train, val = _dataset(darcy1d_arrays, 12), _dataset(darcy1d_arrays, 4, start=12)
    cfg = _config(epochs=4, scheduler=scheduler, step_size=1, grad_clip=1.0)

    torch.manual_seed(0)
    straight = Trainer(FNO(1, 1, modes=6, width=8, n_layers=2), cfg)
    straight.fit(train, val)

    torch.manual_seed(0)
    first = Trainer(FNO(1, 1, modes=6, width=8, n_layers=2), cfg)
    first.fit(train, val, epochs=2)
    path = first.save_checkpoint(tmp_path / "half.pt")

    resumed = Trainer.from_checkpoint(path)
    assert resumed.epoch == 2
    resumed.fit(train, val)
    for (name, a), b in zip(
        straight.model.state_dict().items(), resumed.model.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b), name
    assert straight.history == [
        {**r, "time_s": s["time_s"]} for r, s in zip(resumed.history, straight.history, strict=True)
    ]


def test_checkpoint_rebuilds_model(darcy1d_arrays, tmp_path):
    model = FNO(1, 1, modes=5, width=8, n_layers=1, padding=0.1)
    trainer = Trainer(model, _config(epochs=1))
    trainer.fit(_dataset(darcy1d_arrays, 4))
    path = trainer.save_checkpoint(tmp_path / "m.pt")
    doc = torch.load(path, weights_only=True)  # plain data only
    assert doc["model"]["args"]["padding"] == 0.1 and doc["version"] == 1
    loaded = FNO.from_checkpoint(path, normalized=True)  # the bare module, knowingly
    x = torch.randn(2, 1, 32)
    torch.testing.assert_close(loaded(x), model(x))
    assert loaded.constructor_args == model.constructor_args

    doc["model"]["args"]["depth"] = 3
    torch.save(doc, tmp_path / "bad.pt")
    with pytest.raises(ConfigError, match="depth"):
        FNO.from_checkpoint(tmp_path / "bad.pt")
    doc["format"] = "other"
    torch.save(doc, tmp_path / "other.pt")
    with pytest.raises(ConfigError, match="not a pdeflow"):
        read_checkpoint(tmp_path / "other.pt")


def test_unknown_config_field_raises(tmp_path):
    with pytest.raises(ConfigError, match="epoch"):
        TrainerConfig(epoch=3)
    path = tmp_path / "train.yaml"
    path.write_text("epochs: 2\nlearning_rate: 0.1\n")
    with pytest.raises(ConfigError, match="learning_rate"):
        TrainerConfig.from_file(path)
    with pytest.raises(ConfigError, match="scheduler"):
        TrainerConfig(scheduler="linear")


def test_build_model_rejects_unknown_class():
    with pytest.raises(ConfigError, match="unknown"):
        build_model({"model": {"class": "Transformer", "args": {}, "state": {}}})
