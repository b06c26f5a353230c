"""#21 item 4: models register themselves lazily; checkpoints name the model and its config,
reference frozen external weights, and load in a fresh process for every registered model."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from pdeflow.cli import main
from pdeflow.errors import ConfigError
from pdeflow.operators import registry
from pdeflow.operators.checkpoint import build_model, read_checkpoint, save_checkpoint

sys.path.insert(0, str(Path(__file__).parent))
import registry_models  # noqa: E402  (registers test-pointwise and test-encoded)

HERE = Path(__file__).parent


def _python(code: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_importing_the_registry_and_checkpoints_imports_no_model():
    out = _python("""
        import sys
        import pdeflow.operators.checkpoint, pdeflow.operators.registry as r
        names = r.model_names()
        print(names, [m for m in sys.modules if m.startswith("pdeflow.operators.models")])
        r.get_model("fno")
        print("pdeflow.operators.models.fno" in sys.modules)
    """)
    listed, loaded = out.splitlines()
    assert listed == "['fno', 'unet'] []" and loaded == "True"


def _example(entry: registry.ModelEntry) -> tuple[nn.Module, torch.Tensor]:
    assert entry.example is not None and entry.example_input is not None, (
        f"model {entry.name!r} must register example= and example_input= (conformance)"
    )
    torch.manual_seed(0)
    model = entry.build(entry.example).eval()
    x = torch.randn(entry.example_input, generator=torch.Generator().manual_seed(1))
    return model, x


@pytest.mark.parametrize("name", registry.model_names())
def test_every_registered_model_predicts_bit_identically_in_a_fresh_process(name, tmp_path):
    entry = registry.get_model(name)
    model, x = _example(entry)
    with torch.no_grad():
        y = model(x)
    ckpt = save_checkpoint(tmp_path / "m.pt", model)
    torch.save(x, tmp_path / "x.pt")
    doc = torch.load(ckpt, weights_only=True)
    assert doc["model"]["name"] == name
    assert doc["model"]["config"] == f"{entry.config.__module__}:{entry.config.__qualname__}"
    # the same torch threads as here: a reduction split differently rounds differently
    _python(f"""
        import sys, torch
        torch.set_num_threads({torch.get_num_threads()})
        sys.path.insert(0, {str(HERE)!r})
        import registry_models  # a plugin's models; the built-ins need no import
        from pdeflow.operators.checkpoint import build_model, read_checkpoint
        model = build_model(read_checkpoint({str(ckpt)!r})).eval()
        with torch.no_grad():
            torch.save(model(torch.load({str(tmp_path / 'x.pt')!r})), {str(tmp_path / 'y.pt')!r})
    """)
    assert torch.equal(torch.load(tmp_path / "y.pt"), y)


def test_the_test_models_are_registered_too():
    assert {"fno", "test-pointwise", "test-encoded"} <= set(registry.model_names())


def test_frozen_weights_are_referenced_by_name_and_version_not_copied(tmp_path):
    entry = registry.get_model("test-encoded")
    model, x = _example(entry)
    path = save_checkpoint(tmp_path / "enc.pt", model)
    doc = torch.load(path, weights_only=True)
    assert doc["model"]["frozen"] == {"encoder": {"name": "fake-encoder", "version": "1"}}
    assert sorted(doc["model"]["state"]) == ["head.bias", "head.weight"]  # no encoder weights
    full = tmp_path / "full.pt"
    torch.save(model.state_dict(), full)
    assert path.stat().st_size < full.stat().st_size / 4  # 64x64 encoder left out
    with torch.no_grad():
        assert torch.equal(build_model(read_checkpoint(path)).eval()(x), model(x))
    # a checkpoint trained on another encoder version does not load silently
    doc["model"]["frozen"]["encoder"]["version"] = "0"
    with pytest.raises(ConfigError, match=r"fake-encoder@0.*fake-encoder@1"):
        build_model(doc)


def test_checkpoint_of_an_unknown_model_lists_the_registered_ones(tmp_path, capsys):
    model, _ = _example(registry.get_model("test-pointwise"))
    path = save_checkpoint(tmp_path / "m.pt", model)
    doc = torch.load(path, weights_only=True)
    doc["model"]["name"] = "transformer"
    torch.save(doc, path)
    with pytest.raises(ConfigError) as err:
        build_model(read_checkpoint(path))
    message = str(err.value)
    assert "'transformer'" in message and "fno" in message and "\n" not in message
    data = tmp_path / "d.h5"
    data.write_bytes(b"")
    assert main(["evaluate", str(path), "--data", str(data), "--dry-run"]) == 2
    err_line = capsys.readouterr().err
    assert err_line.count("\n") == 1 and "registered models: fno" in err_line


def test_register_model_rejects_bad_names_and_taken_names():
    with pytest.raises(ConfigError, match="lower-case"):
        registry.register_model("My Model", config=registry_models.PointwiseConfig)
    with pytest.raises(ConfigError, match="taken"):
        registry.register_model("fno", config=registry_models.PointwiseConfig)(
            registry_models.Pointwise
        )


def test_old_register_model_warns_and_still_registers():
    from pdeflow.operators import checkpoint

    class Legacy(registry_models.Pointwise):
        config_class = registry_models.PointwiseConfig

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        checkpoint.register_model(Legacy)
    assert any(issubclass(w.category, DeprecationWarning) for w in caught)
    assert registry.get_model("legacy").cls is Legacy


def test_train_and_evaluate_any_registered_model_from_its_config_class(tmp_path, monkeypatch):
    from pdeflow.operators.cli import train_app
    from pdeflow.operators.toy_data import darcy1d_source, write_h5

    monkeypatch.setenv("PDEFLOW_PROGRESS", "off")
    runner = CliRunner()
    res = runner.invoke(train_app, ["test-pointwise", "--help"])
    assert "--hidden" in res.output and "--in-channels" in res.output  # from PointwiseConfig
    out = tmp_path / "run"
    args = ["test-pointwise", "--online", "darcy1d", "--resolution", "16", "--hidden", "4",
            "--epochs", "2", "--batch-size", "4", "--samples-per-epoch", "8", "--n-val", "4",
            "--device", "cpu", "--out-dir", str(out)]
    res = runner.invoke(train_app, [*args, "--dry-run"])
    assert res.exit_code == 0, res.output
    dry = json.loads(res.output)
    assert dry["dry_run"] and dry["model"] == {"in_channels": 1, "out_channels": 1, "hidden": 4}
    res = runner.invoke(train_app, args)
    assert res.exit_code == 0, res.output
    result = json.loads(res.output)
    assert result["name"] == "test-pointwise" and result["metrics"]["val/l2"] > 0
    data = write_h5(tmp_path / "d.h5", darcy1d_source(resolution=16), 6, seed=0)
    code = main(["evaluate", str(out / "last.pt"), "--data", str(data), "--device", "cpu"])
    assert code == 0


def test_an_entry_point_model_is_imported_only_when_asked_for(tmp_path, monkeypatch):
    from importlib import metadata

    (tmp_path / "plugin_models.py").write_text(textwrap.dedent("""
        from registry_models import Pointwise, PointwiseConfig
        from pdeflow.operators.registry import register_model

        @register_model("plugin-pointwise", config=PointwiseConfig)
        class PluginPointwise(Pointwise):
            pass
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    ep = metadata.EntryPoint("plugin-pointwise", "plugin_models:PluginPointwise",
                             registry.ENTRY_POINT_GROUP)
    monkeypatch.setattr(registry.metadata, "entry_points", lambda group: [ep])
    assert "plugin-pointwise" in registry.model_names()
    assert "plugin_models" not in sys.modules
    assert registry.get_model("plugin-pointwise").cls.__name__ == "PluginPointwise"
