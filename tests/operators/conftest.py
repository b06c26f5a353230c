"""Shared fixtures for the operator tests: tiny models and data, single-threaded torch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pdeflow.operators.toy_data import darcy1d_source, sample_arrays


@pytest.fixture(autouse=True)
def _quiet(monkeypatch):
    monkeypatch.setenv("PDEFLOW_PROGRESS", "off")
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def darcy1d_arrays() -> dict[str, np.ndarray]:
    return sample_arrays(darcy1d_source(resolution=32), 24, seed=1)


@pytest.fixture(scope="session", autouse=True)
def _one_thread():
    """Small models run fastest (and most reproducibly) on one thread on a shared machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
