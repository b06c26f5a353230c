"""Packaging: the folder -> subpackage mapping works installed, editable or from a wheel."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SUBPACKAGES = ["symbolic", "solvers", "solvers.optim", "operators", "meshes", "datagen"]
IMPORTS = ", ".join(f"pdeflow.{name}" for name in SUBPACKAGES)


def package_dir_mapping() -> dict[str, str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return config["tool"]["setuptools"]["package-dir"]


def expected_packages() -> set[str]:
    """Every folder with an __init__.py under a mapped folder, as a dotted package name."""
    packages = set()
    for package, folder in package_dir_mapping().items():
        base = ROOT / folder
        for init in base.rglob("__init__.py"):
            rel = init.parent.relative_to(base)
            if any(part.startswith(".") or part == "__pycache__" for part in rel.parts):
                continue
            packages.add(".".join([package, *rel.parts]) if rel.parts else package)
    return packages


def test_subpackages_import_from_outside_the_repo(tmp_path):
    code = f"import pdeflow, {IMPORTS}; print(pdeflow.symbolic.__file__)"
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
    )
    assert proc.returncode == 0, proc.stderr
    assert Path(proc.stdout.strip()) == ROOT / "symbolic" / "__init__.py"


def test_every_subpackage_is_declared():
    """New folders with an __init__.py must be listed in [tool.setuptools] packages."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    declared = set(config["tool"]["setuptools"]["packages"])
    missing = expected_packages() - declared
    assert not missing, f"add to [tool.setuptools] packages in pyproject.toml: {sorted(missing)}"


@pytest.mark.slow
def test_wheel_contains_every_subpackage_and_imports(tmp_path):
    pytest.importorskip("setuptools", reason="building the wheel needs setuptools in the venv")
    # Build from a copy so that the shared tree gets no build/ or egg-info folders.
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for folder in set(package_dir_mapping().values()):
        shutil.copytree(ROOT / folder, src / folder, ignore=ignore)
    out = tmp_path / "wheelhouse"
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--no-input", "-q", "-w", str(out), str(src)],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (wheel,) = out.glob("pdeflow-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())

    for package in expected_packages():
        init = package.replace(".", "/") + "/__init__.py"
        assert init in names, f"{init} missing from {wheel.name}"
    assert "pdeflow/cli.py" in names
    for folder in ("symbolic/", "solvers/", "tests/", "benchmarks/", "notebooks/"):
        assert not any(n.startswith(folder) for n in names), f"stray top-level {folder} in wheel"
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "pdeflow = pdeflow.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()

    # Import from the unpacked wheel (what a non-editable install puts in site-packages).
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    proc = subprocess.run(
        [sys.executable, "-c", f"import {IMPORTS}; print(pdeflow.symbolic.__file__)"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(site)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert Path(proc.stdout.strip()) == site / "pdeflow" / "symbolic" / "__init__.py"
