"""Fixtures shared by every test folder."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def reaction_data() -> Callable[[str], Path]:
    """``name -> Path`` of a file in ``shared/data/reaction_networks`` next to the checkout
    (override with ``PDEFLOW_DATA``, either that folder or its parent); the test that asks
    for a missing file is skipped."""
    env = os.environ.get("PDEFLOW_DATA")
    if env:
        base = Path(env)
        base = base / "reaction_networks" if (base / "reaction_networks").is_dir() else base
    else:
        base = Path(__file__).resolve().parents[2] / "shared" / "data" / "reaction_networks"

    def path(name: str) -> Path:
        p = base / name
        if not p.is_file():
            pytest.skip(f"reaction network data not found: {p}")
        return p

    return path
