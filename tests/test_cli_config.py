"""#22 item 4: one CLI path.  Every subcommand takes its options from its config class:
``--print-config`` and ``--dry-run`` answer, and a bad field in a config file is named."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from pdeflow.cli import main
from pdeflow.operators import FNO, save_checkpoint


@pytest.fixture
def files(tmp_path):
    """An existing 'dataset' file (dry runs only check that it exists) and a checkpoint."""
    data = tmp_path / "d.h5"
    data.write_bytes(b"")
    torch.manual_seed(0)
    ckpt = save_checkpoint(tmp_path / "m.pt", FNO(1, 1, modes=(4,), width=8, n_layers=1))
    return {"DATA": str(data), "CKPT": str(ckpt), "OUT": str(tmp_path / "new.h5")}


TINY_FNO = ["--online", "darcy1d", "--resolution", "16", "--modes", "4", "--width", "8",
            "--n-layers", "1", "--n-val", "2", "--device", "cpu"]

# command, its arguments, a field that --print-config shows, a word of the dry-run answer
COMMANDS = [
    (["info"], ["--no-capabilities"], "capabilities: false", "dry run"),
    (["generate", "darcy"], ["--n", "4", "--out", "OUT"], "family: darcy", "would create"),
    (["families"], ["darcy"], "- darcy", "would describe 1 family: darcy"),
    (["dataset", "info"], ["DATA"], "quick: false", "would summarize"),
    (["dataset", "verify"], ["DATA", "--no-checksums"], "checksums: false", "would verify"),
    (["dataset", "repair"], ["DATA"], "path:", "would repair"),
    (["dataset", "export"], ["DATA", "-f", "zarr"], "format: zarr", "would export"),
    (["dataset", "show"], ["DATA", "-i", "2"], "sample: 2", "would draw"),
    (["train", "fno"], TINY_FNO, "online: darcy1d", '"dry_run": true'),
    (["evaluate"], ["CKPT", "--data", "DATA", "--strides", "1,2"], "- 2", "would evaluate fno"),
    (["demo"], ["--n", "8", "--train-seconds", "0"], "train_seconds: 0.0", "would generate 8"),
]
IDS = [" ".join(c[0]) for c in COMMANDS]


def _args(args, files):
    return [files.get(a, a) for a in args]


@pytest.mark.parametrize(("command", "args", "shown", "_"), COMMANDS, ids=IDS)
def test_print_config(command, args, shown, _, files, capsys):
    assert main([*command, *_args(args, files), "--print-config"]) == 0
    out = capsys.readouterr().out
    assert shown in out, out
    if command != ["generate", "darcy"]:  # generate's starts with a comment line
        assert isinstance(yaml.safe_load(out), dict)


@pytest.mark.parametrize(("command", "args", "_", "answer"), COMMANDS, ids=IDS)
def test_dry_run(command, args, _, answer, files, capsys, monkeypatch):
    monkeypatch.setenv("PDEFLOW_PROGRESS", "off")
    assert main([*command, *_args(args, files), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert answer in out, out
    assert not Path(files["OUT"]).exists()  # nothing generated


@pytest.mark.parametrize(("command", "args", "_", "__"), COMMANDS, ids=IDS)
@pytest.mark.parametrize("where", ["local", "global"])
def test_bad_field_in_a_config_file_is_named(command, args, _, __, where, files, tmp_path,
                                              capsys):
    bad = tmp_path / "bad.yaml"
    table = command[:2] if command[0] in ("dataset", "train") else command[:1]
    doc: dict = {"bogus_setting": 3}
    for name in reversed(table):
        doc = {name: doc}
    bad.write_text(yaml.safe_dump(doc))
    argv = [*command, *_args(args, files), "--config", str(bad)]
    if where == "global":
        argv = ["--config", str(bad), *command, *_args(args, files)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "field 'bogus_setting'" in err, err
    assert f"config file {bad}" in err


def test_flags_win_over_the_file(tmp_path, capsys):
    cfg = tmp_path / "run.toml"
    cfg.write_text('[generate]\nfamily = "darcy"\nn = 8\nout = "a.h5"\n'
                   '[train.fno.model]\nwidth = 3\n')
    assert main(["--config", str(cfg), "generate", "--n", "5", "--print-config"]) == 0
    settings = yaml.safe_load(capsys.readouterr().out)
    assert settings["n"] == 5 and settings["out"] == "a.h5"
    assert main(["train", "fno", "-c", str(cfg), "--online", "x", "--print-config"]) == 0
    assert yaml.safe_load(capsys.readouterr().out)["model"]["width"] == 3


def test_the_cli_starts_without_torch_and_lists_models_by_name():
    import subprocess
    import sys

    code = ("import sys; from pdeflow.cli import main; main(['--help']); "
            "from pdeflow.operators.cli import train_app; import typer; "
            "print(typer.main.get_command(train_app).list_commands(None)); "
            "print([m for m in sys.modules "
            "if m == 'torch' or m.startswith('pdeflow.operators.m')])")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-2:] == ["['fno', 'unet']", "[]"]
