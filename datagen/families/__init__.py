"""Problem families for data generation: a registry, one module per family.

>>> from pdeflow.datagen import families
>>> sorted(families.names())[:3]
['advection', 'burgers', 'darcy']
>>> fam = families.get("darcy", resolution=16)
>>> fam.fields()["a"].shape
(16, 16)
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any

from pdeflow.errors import ConfigError

from ._base import (
    STAT_NAMES,
    ChunkResult,
    Family,
    FieldSpec,
    LinearFamily,
    PointwiseFamily,
    SolverSettings,
    channel_layout,
)

__all__ = [
    "STAT_NAMES",
    "ChunkResult",
    "Family",
    "FieldSpec",
    "LinearFamily",
    "PointwiseFamily",
    "SolverSettings",
    "channel_layout",
    "register",
    "get",
    "names",
    "family_class",
]

_REGISTRY: dict[str, type[Family]] = {}
# family name -> module of this package that defines (and registers) it
_MODULES = {
    "darcy": "darcy",
    "darcy-fno": "darcy",
    "poisson": "poisson",
    "helmholtz": "helmholtz",
    "heat": "heat",
    "burgers": "burgers",
    "navier-stokes": "navier_stokes",
    "advection": "advection",
}


def register[F: type[Family]](cls: F) -> F:
    """Class decorator: add a family to the registry under ``cls.name``."""
    _REGISTRY[cls.name] = cls
    return cls


def names() -> list[str]:
    """Names of every registered family."""
    return sorted(set(_MODULES) | set(_REGISTRY))


def family_class(name: str) -> type[Family]:
    """The class of family ``name`` (imports its module on first use)."""
    if name not in _REGISTRY and name in _MODULES:
        importlib.import_module(f"{__name__}.{_MODULES[name]}")
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError(f"Unknown family {name!r}; choose one of {names()}.") from None


def get(name: str, **options: Any) -> Family:
    """Build family ``name`` with ``options`` (unknown or invalid options raise
    :class:`~pdeflow.errors.ConfigError` naming the option)."""
    cls = family_class(name)
    known = {f.name for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    unknown = sorted(set(options) - known)
    if unknown:
        raise ConfigError(
            f"Unknown option(s) {unknown} for family {name!r}; it takes {sorted(known)}."
        )
    return cls(**options)
