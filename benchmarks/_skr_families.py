"""The SKR paper's families, by the names of the SKR tables, built from ``pdeflow.datagen``.

``skr_family("darcy", size=80)`` gives the benchmark's view of a datagen family: its table
name, its number of unknowns and ``systems(count)`` (features and ``(A, b)`` pairs,
:meth:`pdeflow.datagen.families.LinearFamily.systems`).  The systems are bit for bit those
of the former ``pdeflow.solvers.families`` (same GRF draws, same assembly), so the SKR
figures compare across the move.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from pdeflow.datagen import families

#: table name -> (datagen family, options)
SKR_FAMILIES: dict[str, tuple[str, dict[str, Any]]] = {
    "darcy": ("darcy", {}),
    "darcy3d": ("darcy", {"dim": 3}),
    "poisson": ("poisson-cell", {}),
    "helmholtz": ("helmholtz", {}),
    "helmholtz-indefinite": ("helmholtz", {"k0": 30.0, "contrast": 0.1}),
}


@dataclass(frozen=True)
class SKRFamily:
    """A datagen family under its SKR table name."""

    name: str
    family: Any

    @property
    def n(self) -> int:
        """Unknowns per system."""
        return int(np.prod(self.family.fields()["u"].shape))

    def systems(self, count: int, start: int = 0) -> tuple[np.ndarray, list]:
        """Features ``(count, d)`` and systems of samples ``start .. start + count - 1``."""
        return self.family.systems(count, start)


def skr_family(name: str, size: int, **options: Any) -> SKRFamily:
    """The family of table ``name`` with ``size`` cells per axis (``options`` such as
    ``coefficient="threshold"`` go to the datagen family)."""
    family, fixed = SKR_FAMILIES[name]
    return SKRFamily(name, families.get(family, resolution=int(size), **fixed, **options))
