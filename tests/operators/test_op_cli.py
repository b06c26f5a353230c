"""The operators CLI: train fno (offline/online), evaluate, config errors."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from pdeflow.errors import ConfigError
from pdeflow.operators.cli import evaluate, train_app
from pdeflow.operators.toy_data import darcy1d_source, write_h5

runner = CliRunner()
TINY = ["--epochs", "1", "--width", "8", "--n-layers", "1", "--modes", "4", "--batch-size", "4"]


def test_print_config_and_unknown_field(tmp_path):
    cfg = tmp_path / "fno.yaml"
    cfg.write_text("trainer:\n  epochs: 3\nmodel:\n  width: 16\n")
    res = runner.invoke(train_app, ["fno", "--online", "darcy1d", "-c", str(cfg), "--print-config"])
    assert res.exit_code == 0, res.output
    assert "epochs: 3" in res.output and "width: 16" in res.output
    cfg.write_text("trainer:\n  epochz: 3\n")
    res = runner.invoke(train_app, ["fno", "--online", "darcy1d", "-c", str(cfg)])
    assert isinstance(res.exception, ConfigError) and "epochz" in str(res.exception)
    res = runner.invoke(train_app, ["fno"])  # neither --data nor --online
    assert isinstance(res.exception, ConfigError)


def test_train_offline_then_evaluate(tmp_path, monkeypatch):
    monkeypatch.setenv("PDEFLOW_PROGRESS", "off")
    data = write_h5(tmp_path / "d.h5", darcy1d_source(resolution=32), 10, seed=0)
    out = tmp_path / "run"
    res = runner.invoke(
        train_app, ["fno", "--data", str(data), "--out-dir", str(out), "--device", "cpu", *TINY]
    )
    assert res.exit_code == 0, res.output
    result = json.loads(res.output)
    assert result["model"]["width"] == 8 and "val/l2" in result["metrics"]
    # the samples read into memory once train to bitwise the same model
    res = runner.invoke(
        train_app, ["fno", "--data", str(data), "--in-memory", "--device", "cpu", *TINY]
    )
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["metrics"] == result["metrics"]
    app = typer.Typer()
    app.command()(evaluate)
    res = runner.invoke(app, [str(out / "last.pt"), "--data", str(data), "--strides", "1,2"])
    assert res.exit_code == 0, res.output
    metrics = json.loads(res.output)
    assert {"data/l2", "data_stride2/l2"} <= set(metrics)


@pytest.mark.parametrize("flags", [["--dry-run"], ["--samples-per-epoch", "4"]])
def test_train_online(flags, monkeypatch):
    monkeypatch.setenv("PDEFLOW_PROGRESS", "off")
    res = runner.invoke(
        train_app, ["fno", "--online", "darcy1d", "--resolution", "32", *TINY, *flags]
    )
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["model"]["modes"] == [4]


def test_channels_last_data_on_the_command_line(tmp_path, monkeypatch):
    """(N, 32, 1) arrays: refused with the option named, then trained and evaluated with it."""
    import h5py
    import numpy as np

    from pdeflow.errors import DataError

    monkeypatch.setenv("PDEFLOW_PROGRESS", "off")
    plain = write_h5(tmp_path / "plain.h5", darcy1d_source(resolution=32), 10, seed=0)
    data = tmp_path / "last.h5"
    with h5py.File(plain) as src, h5py.File(data, "w") as dst:
        for key in ("a", "u"):
            dst[key] = np.asarray(src[key])[..., None]  # channels last
    args = ["fno", "--data", str(data), "--device", "cpu", *TINY]
    res = runner.invoke(train_app, args)
    assert isinstance(res.exception, DataError), res.output
    assert "(32, 1)" in str(res.exception) and "--channel-axis last" in str(res.exception)
    out = tmp_path / "run"
    res = runner.invoke(train_app, [*args, "--channel-axis", "last", "--out-dir", str(out)])
    assert res.exit_code == 0, res.output
    result = json.loads(res.output)
    assert result["model"]["modes"] == [4] and result["model"]["in_channels"] == 1
    assert result["layout"]["x"] == "a (N, 32, 1): 1 channel(s) on a 32 grid (channel_axis='last')"
    # the same samples stored without a channel axis train to the same model
    res = runner.invoke(train_app, ["fno", "--data", str(plain), "--device", "cpu", *TINY])
    assert json.loads(res.output)["metrics"] == result["metrics"]
    app = typer.Typer()
    app.command()(evaluate)
    res = runner.invoke(app, [str(out / "last.pt"), "--data", str(data), "--channel-axis", "last"])
    assert res.exit_code == 0, res.output
    res_plain = runner.invoke(app, [str(out / "last.pt"), "--data", str(plain)])
    assert json.loads(res.output) == json.loads(res_plain.output)
    res = runner.invoke(train_app, [*args, "--channel-axis", "middle"])
    assert isinstance(res.exception, ConfigError) and "channel_axis" in str(res.exception)
    res = runner.invoke(train_app, ["fno", "--online", "darcy1d", "--channel-axis", "last"])
    assert isinstance(res.exception, ConfigError) and "online" in str(res.exception)


def test_modes_the_grid_cannot_hold(tmp_path, monkeypatch):
    monkeypatch.setenv("PDEFLOW_PROGRESS", "off")
    data = write_h5(tmp_path / "d.h5", darcy1d_source(resolution=16), 6, seed=0)
    res = runner.invoke(train_app, ["fno", "--data", str(data), "--modes", "12", "--dry-run"])
    assert isinstance(res.exception, ConfigError), res.output
    assert "(12,)" in str(res.exception) and "grid is 16" in str(res.exception)
