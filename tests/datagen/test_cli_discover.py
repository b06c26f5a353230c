"""Discoverability (#28 item 15): help defaults, `pdeflow families`, --print-config without
--n/--out, a [generate] table in TOML, PDEFLOW_LOG_LEVEL / PDEFLOW_DEBUG, public FieldSpec."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pdeflow.cli import main
from pdeflow.datagen import families

PDEFLOW = str(Path(sys.executable).parent / "pdeflow")


def run_cli(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    full_env = dict(os.environ, PDEFLOW_PROGRESS="plain", **env)
    return subprocess.run([PDEFLOW, *args], capture_output=True, text=True, cwd=cwd,
                          env=full_env, timeout=300)


# ------------------------------------------------------------------ --help
def test_generate_help_shows_every_default(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["generate", "--help"]) == 0
    lines = {ln.split()[1]: ln for ln in capsys.readouterr().out.splitlines()
             if ln.strip("│ ").startswith("--")}
    want = {"--solver": "auto", "--rtol": "1e-08", "--workers": "2", "--seed": "0",
            "--dtype": "float32", "--compression": "gzip", "--executor": "auto",
            "--order": "auto", "--chunk-size": "auto", "--preconditioner": "auto",
            "--n": "required", "--out": "required", "--resolution": "the family's"}
    for flag, default in want.items():
        assert f"[default: ({default}" in lines[flag], lines[flag]


# ------------------------------------------------------------------ families
def test_families_lists_options_with_defaults_and_docs(capsys):
    assert main(["families", "darcy", "heat"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("darcy: Darcy flow")
    assert "alpha        default 2.0  (float)" in out
    assert "resolution   default 64  (int)  [set with --resolution]" in out
    assert "Cells per axis (``resolution^dim`` unknowns)." in out
    assert "coefficient  default 'lognormal'" in out
    assert "scheme       default 'crank-nicolson'" in out  # heat
    assert "u          output 10x32x32" in out


def test_dataset_families_json_matches_every_family_dataclass(capsys):
    assert main(["dataset", "families", "--json"]) == 0
    described = {d["name"]: d for d in json.loads(capsys.readouterr().out)}
    assert sorted(described) == families.names()
    for name, d in described.items():
        cls = families.family_class(name)
        want = {f.name: f.default for f in dataclasses.fields(cls) if f.init}
        assert {o["name"]: o["default"] for o in d["options"]} == want, name
        assert [f["name"] for f in d["fields"]] == list(families.get(name).fields())
        # every option but the seed is documented in the family's docstring
        undocumented = [o["name"] for o in d["options"] if not o["doc"]]
        assert set(undocumented) <= {"seed", "scheme", "coefficient"}, (name, undocumented)


# ------------------------------------------------------------------ --print-config
def test_print_config_needs_no_n_or_out_and_shows_family_defaults(capsys):
    assert main(["generate", "heat", "-o", "n_snapshots=5", "--print-config"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("# required, not given yet: n, out\n")
    cfg = yaml.safe_load(text)
    assert "n" not in cfg and "out" not in cfg
    assert cfg["family"] == "heat" and cfg["resolution"] == 32
    assert cfg["options"] == {"diffusivity": "lognormal", "kappa": 0.01, "T": 1.0,
                              "n_steps": 100, "n_snapshots": 5, "scheme": "crank-nicolson",
                              "alpha": 2.0, "tau": 3.0}


def test_print_config_global_flag_and_bad_family_option(capsys):
    assert main(["--print-config", "generate", "darcy", "--resolution", "16"]) == 0
    cfg = yaml.safe_load(capsys.readouterr().out)
    assert cfg["resolution"] == 16 and cfg["options"] == {"alpha": 2.0, "tau": 3.0,
                                                          "coefficient": "lognormal", "dim": 2}
    assert main(["generate", "darcy", "-o", "bogus=1", "--print-config"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: Unknown option(s) ['bogus'] for family 'darcy'")


# ------------------------------------------------------------------ [generate] table
TOML = """
[generate]
family = "darcy"
n = 3
resolution = 8
workers = 1
executor = "processes"
out = "d.h5"

[generate.options]
alpha = 2.5

[train]
epochs = 3
"""


def test_toml_generate_table_is_used_by_generate(tmp_path):
    (tmp_path / "run.toml").write_text(TOML)
    r = run_cli("generate", "--config", "run.toml", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    from pdeflow.datagen import open_dataset

    ds = open_dataset(tmp_path / "d.h5")
    assert len(ds) == 3 and ds.attrs["family_options"]["alpha"] == 2.5


def test_toml_generate_table_print_config_and_stray_fields(tmp_path, capsys):
    path = tmp_path / "run.toml"
    path.write_text(TOML)
    assert main(["generate", "--config", str(path), "--n", "5", "--print-config"]) == 0
    cfg = yaml.safe_load(capsys.readouterr().out)
    assert (cfg["n"], cfg["resolution"], cfg["out"]) == (5, 8, "d.h5")  # flag beats file
    assert cfg["options"] == {"alpha": 2.5, "tau": 3.0, "coefficient": "lognormal", "dim": 2}
    path.write_text("n = 4\n" + TOML)  # a field outside the table would be ignored: refuse
    assert main(["generate", "--config", str(path), "--print-config"]) == 2
    err = capsys.readouterr().err
    assert "fields ['n'] sit outside the [generate] table" in err and str(path) in err


def test_toml_table_named_after_any_command(tmp_path, capsys):
    path = tmp_path / "all.toml"
    path.write_text("[info]\nprobe_timeout = 9\n\n[generate]\nn = 2\n")
    assert main(["--config", str(path), "--print-config", "info"]) == 0
    assert "probe_timeout: 9.0" in capsys.readouterr().out


# ------------------------------------------------------------------ environment
def test_log_level_environment_variable(tmp_path):
    (tmp_path / "run.toml").write_text(TOML.replace('"d.h5"', '"a.h5"'))
    info = run_cli("generate", "--config", "run.toml", cwd=tmp_path, PDEFLOW_LOG_LEVEL="info")
    assert info.returncode == 0, info.stderr
    assert "INFO pdeflow.datagen: solver 'auto' picked" in info.stderr
    quiet = run_cli("generate", "--config", "run.toml", "--out", "b.h5", cwd=tmp_path,
                    PDEFLOW_LOG_LEVEL="WARNING")
    assert quiet.returncode == 0, quiet.stderr
    assert "picked" not in quiet.stderr
    bad = run_cli("generate", "--config", "run.toml", "--out", "c.h5", cwd=tmp_path,
                  PDEFLOW_LOG_LEVEL="loud")
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == [
        "error: environment variable PDEFLOW_LOG_LEVEL='LOUD': must be a logging level such "
        "as DEBUG, INFO or WARNING"
    ]
    assert not (tmp_path / "c.h5").exists()


@pytest.mark.parametrize(("value", "traceback"), [("1", True), ("0", False), ("", False)])
def test_debug_environment_variable_shows_the_traceback(tmp_path, value, traceback):
    r = run_cli("generate", "darcy", "--n", "2", "--out", "x.h5", "--workers", "0",
                cwd=tmp_path, PDEFLOW_DEBUG=value)
    assert r.returncode == 2
    assert ("Traceback (most recent call last)" in r.stderr) is traceback
    assert r.stderr.splitlines()[-1].startswith("error: command-line flags: field 'workers'")


# ------------------------------------------------------------------ FieldSpec
def test_fieldspec_is_public_for_new_families():
    from pdeflow import datagen
    from pdeflow.datagen import FieldSpec

    assert "FieldSpec" in datagen.__all__ and FieldSpec is families.FieldSpec
    spec = FieldSpec("u", (8, 8), "output", ("x", "y"), "velocity (m/s)")
    assert spec.channel_layout == (1, (8, 8))
