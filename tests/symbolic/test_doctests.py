"""The examples in pdeflow.symbolic's docstrings run and give what they show."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "pdeflow.symbolic",
    "pdeflow.symbolic.terms",
    "pdeflow.symbolic.interface",
    "pdeflow.symbolic.tracing",
    "pdeflow.symbolic.spectral",
    "pdeflow.symbolic.adjoint",
    "pdeflow.symbolic.calculus",
    "pdeflow.symbolic.evaluate",
    "pdeflow.symbolic.jacobian",
    "pdeflow.symbolic.codegen",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
                             verbose=False)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"
