"""The docstring examples of pdeflow.operators run and give what they show."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "pdeflow.operators",
    "pdeflow.operators.layers.spectral",
    "pdeflow.operators.layers.pointwise",
    "pdeflow.operators.layers.embedding",
    "pdeflow.operators.models.fno",
    "pdeflow.operators.losses",
    "pdeflow.operators.normalizers",
    "pdeflow.operators.data",
    "pdeflow.operators.toy_data",
    "pdeflow.operators.trainer",
    "pdeflow.operators.recipes",
    "pdeflow.operators.predictor",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name, monkeypatch):
    monkeypatch.setenv("PDEFLOW_PROGRESS", "off")
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.attempted > 0, f"{name} has no docstring examples"
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"
