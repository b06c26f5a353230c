"""The pdeflow CLI: version, info, one-line errors, --config and --print-config."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import pdeflow
from pdeflow import info as info_lib
from pdeflow.cli import main
from pdeflow.errors import DataError
from pdeflow.info import Capability

PDEFLOW = Path(sys.executable).parent / "pdeflow"  # the installed console script


def run_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    assert PDEFLOW.is_file(), f"console script missing: {PDEFLOW} (run `make test`)"
    return subprocess.run(
        [str(PDEFLOW), *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def assert_one_line_error(stderr: str, *fragments: str) -> None:
    lines = stderr.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got:\n{stderr}"
    assert lines[0].startswith("error: ")
    assert "Traceback" not in stderr
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.fixture
def fake_probes(monkeypatch):
    """Replace the slow capability probes by canned records."""
    caps = [
        Capability("numba", True, "numba 0.0: njit compiled and ran a function"),
        Capability("torch CUDA", False, "no CUDA GPU visible (fake reason)"),
    ]
    monkeypatch.setattr(info_lib, "probe_capabilities", lambda *a, **k: caps)
    return caps


# ---------------------------------------------------------------- version and help
def test_version_in_process(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"pdeflow {pdeflow.__version__}"


def test_version_console_script():
    proc = run_cli("--version", timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"pdeflow {pdeflow.__version__}"


def test_no_arguments_prints_help(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    assert "Usage" in out and "info" in out


# ---------------------------------------------------------------- info
@pytest.mark.slow
def test_info_json_reports_working_backends():
    proc = run_cli("info", "--json", "--timeout", "400", timeout=900)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["environment"]["pdeflow"] == pdeflow.__version__
    versions = {p["name"]: p["version"] for p in doc["packages"]}
    for name in ("numpy", "scipy", "sympy", "numba", "torch", "jax", "pydantic", "typer", "rich"):
        assert versions.get(name), f"{name} missing from {sorted(versions)}"
    caps = {c["name"]: c for c in doc["capabilities"]}
    for name in ("numba", "torch", "JAX"):
        assert caps[name]["usable"], caps[name]
    assert "cpu" in caps["JAX"]["detail"] or "gpu" in caps["JAX"]["detail"]
    for cap in caps.values():  # every row explains itself, usable or not
        assert cap["detail"].strip()
    expected = {"PETSc + MPI", "DOLFINx", "numba-cuda GPU", "torch CUDA", "torch-geometric"}
    assert expected <= set(caps)


def test_info_tables(capsys, fake_probes):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert "Dependencies" in out and "numpy" in out and "pydantic" in out
    assert "Capabilities" in out
    assert "no CUDA GPU visible (fake reason)" in out


def test_info_json_in_process(capsys, fake_probes):
    assert main(["info", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [c["name"] for c in doc["capabilities"]] == ["numba", "torch CUDA"]
    assert doc["capabilities"][1] == {
        "name": "torch CUDA",
        "usable": False,
        "detail": "no CUDA GPU visible (fake reason)",
        "seconds": 0.0,
    }


def test_info_without_capabilities(capsys):
    assert main(["info", "--json", "--no-capabilities"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["capabilities"] is None
    assert any(p["name"] == "numpy" for p in doc["packages"])


def test_info_single_probe_runs_for_real(capsys):
    assert main(["info", "--json", "--probe", "numba"]) == 0
    (cap,) = json.loads(capsys.readouterr().out)["capabilities"]
    assert cap["name"] == "numba" and cap["usable"], cap


# ---------------------------------------------------------------- errors
def test_bad_option_is_one_line_naming_it(capsys):
    assert main(["info", "--bogus"]) == 2
    captured = capsys.readouterr()
    assert_one_line_error(captured.err, "--bogus")
    assert captured.out == ""


def test_bad_option_console_script_has_no_traceback():
    proc = run_cli("info", "--frobnicate", timeout=60)
    assert proc.returncode == 2
    assert_one_line_error(proc.stderr, "--frobnicate")


def test_unknown_command(capsys):
    assert main(["solve-everything"]) == 2
    assert_one_line_error(capsys.readouterr().err, "solve-everything")


def test_bad_option_value(capsys):
    assert main(["info", "--timeout", "soon"]) == 2
    assert_one_line_error(capsys.readouterr().err, "--timeout")


def test_bad_config_value_names_file_and_field(tmp_path, capsys):
    path = tmp_path / "info.yaml"
    path.write_text("probe_timeout: -3\n")
    assert main(["--config", str(path), "info"]) == 2
    assert_one_line_error(
        capsys.readouterr().err,
        f"config file {path}: field 'probe_timeout': Input should be greater than 0 (got -3)",
    )


def test_bad_config_console_script(tmp_path):
    path = tmp_path / "info.toml"
    path.write_text('workers = "many"\n')
    proc = run_cli("--config", str(path), "info", timeout=60)
    assert proc.returncode == 2
    assert_one_line_error(proc.stderr, str(path), "'workers'")


def test_unknown_config_field(tmp_path, capsys):
    path = tmp_path / "info.yaml"
    path.write_text("colour: red\n")
    assert main(["-c", str(path), "info"]) == 2
    assert_one_line_error(capsys.readouterr().err, "'colour'", "unknown field")


def test_missing_config_file(tmp_path, capsys):
    path = tmp_path / "nowhere.yaml"
    assert main(["--config", str(path), "info"]) == 2
    assert_one_line_error(capsys.readouterr().err, str(path), "not found")


def test_bad_flag_value_blames_the_flags(capsys):
    assert main(["info", "--probe", "abacus"]) == 2
    assert_one_line_error(capsys.readouterr().err, "command-line flags", "'probes'", "abacus")


def test_pdeflow_error_in_a_command_is_one_line(monkeypatch, capsys):
    def broken(config):
        raise DataError("the data is bad\nand this second line must be folded")

    monkeypatch.setattr(info_lib, "run", broken)
    assert main(["info"]) == 1
    assert_one_line_error(capsys.readouterr().err, "the data is bad and this second line")


# ---------------------------------------------------------------- config precedence
def test_print_config_shows_defaults_file_and_flags(tmp_path, capsys):
    path = tmp_path / "info.yaml"
    path.write_text("probe_timeout: 5\nworkers: 3\n")
    args = ["--config", str(path), "--print-config", "info", "--timeout", "7", "--json"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "probe_timeout: 7.0" in out  # flag beats file
    assert "workers: 3" in out  # file beats default
    assert "format: json" in out
    assert "capabilities: true" in out  # default


def test_cli_start_up_does_not_load_torch():
    """`pdeflow --help` and `pdeflow generate` register every command without importing torch
    (it loads when a command that trains or evaluates runs)."""
    code = "import sys, pdeflow.cli; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
