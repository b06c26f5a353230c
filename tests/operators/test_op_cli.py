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
