"""Every ``>>>`` example in the package runs and shows what it says (no hand-kept module lists).

This one test replaces the per-area doctest lists: it walks the whole package with
:mod:`pkgutil`, so a new module is doctested the moment it exists.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import pdeflow

SUBPACKAGES = ["symbolic", "solvers", "meshes", "datagen", "operators"]


def package_modules() -> list[str]:
    """All importable module names of pdeflow (private ones and the CLI modules included)."""
    names = [f"pdeflow.{m.name}" for m in pkgutil.iter_modules(pdeflow.__path__)]
    for sub in SUBPACKAGES:
        package = importlib.import_module(f"pdeflow.{sub}")
        names.append(package.__name__)
        names += [m.name for m in pkgutil.walk_packages(package.__path__, f"{package.__name__}.")]
    return sorted({"pdeflow", *names})


MODULES = package_modules()


def test_the_walk_sees_the_whole_package():
    assert len(MODULES) > 120
    wanted = {"pdeflow.solvers.ode", "pdeflow.symbolic.egraph.runner", "pdeflow.datagen"}
    assert wanted <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name, monkeypatch, tmp_path, tmp_path_factory):
    monkeypatch.setenv("PDEFLOW_PROGRESS", "plain")
    monkeypatch.setenv("PDEFLOW_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "kernel-cache"))
    monkeypatch.chdir(tmp_path)
    module = importlib.import_module(name)
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    result = doctest.testmod(module, optionflags=flags, verbose=False, report=True)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
