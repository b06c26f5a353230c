"""Checkpoints that rebuild their own model, loaded with ``torch.load(weights_only=True)``.

A checkpoint is a plain dict of tensors, numbers, strings, lists and dicts::

    {"format": "pdeflow.operators.checkpoint", "version": 1,
     "model": {"class": "FNO", "args": {...constructor arguments...}, "state": state_dict},
     "normalizers": {"x": {...}, "y": {...}} or None,
     "trainer": {...optimizer/scheduler/epoch/RNG state...} or None,
     "meta": {...}}

Nothing in it is unpickled as arbitrary objects, so loading an untrusted file cannot run code.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from pdeflow.errors import ConfigError, DataError

from .normalizers import UnitGaussianNormalizer

__all__ = [
    "FORMAT",
    "VERSION",
    "register_model",
    "save_checkpoint",
    "read_checkpoint",
    "build_model",
    "load_model",
    "load_normalizers",
    "check_unnormalized",
]

FORMAT = "pdeflow.operators.checkpoint"
VERSION = 1
_MODELS: dict[str, type[nn.Module]] = {}


def register_model(cls: type[nn.Module]) -> type[nn.Module]:
    """Make ``cls`` (which must have a ``constructor_args`` property) loadable by name."""
    _MODELS[cls.__name__] = cls
    return cls


def _registry() -> dict[str, type[nn.Module]]:
    from .models import FNO

    _MODELS.setdefault("FNO", FNO)
    return _MODELS


def save_checkpoint(
    path: str | Path,
    model: nn.Module,
    *,
    normalizers: Mapping[str, UnitGaussianNormalizer | None] | None = None,
    trainer: Mapping[str, Any] | None = None,
    meta: Mapping[str, Any] | None = None,
) -> Path:
    """Write a checkpoint atomically (a killed write leaves the previous file intact)."""
    if not hasattr(model, "constructor_args"):
        raise ConfigError(
            f"{type(model).__name__} has no 'constructor_args'; it cannot rebuild from a checkpoint"
        )
    model = getattr(model, "_orig_mod", model)  # torch.compile wrapper
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    doc = {
        "format": FORMAT,
        "version": VERSION,
        "model": {"class": type(model).__name__, "args": model.constructor_args, "state": state},
        "normalizers": None
        if normalizers is None
        else {k: (None if v is None else v.to_dict()) for k, v in normalizers.items()},
        "trainer": dict(trainer) if trainer is not None else None,
        "meta": dict(meta or {}),
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    torch.save(doc, tmp)
    tmp.replace(path)
    return path


def read_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load and check a checkpoint dict (``weights_only=True``).

    Raises
    ------
    DataError
        Missing or unreadable file.
    ConfigError
        Not a pdeflow checkpoint, or a newer version than this code reads.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"checkpoint {path} not found")
    try:
        doc = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # pickle errors, zip errors, disallowed globals
        raise DataError(f"checkpoint {path} cannot be loaded safely: {exc}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ConfigError(f"{path} is not a pdeflow operator checkpoint")
    if int(doc.get("version", -1)) > VERSION:
        raise ConfigError(
            f"checkpoint {path} has version {doc['version']}; this pdeflow reads up to "
            f"{VERSION} (upgrade pdeflow)"
        )
    return doc


def build_model(doc: Mapping[str, Any]) -> nn.Module:
    """Rebuild the model of a checkpoint dict and load its weights.

    Raises
    ------
    ConfigError
        Unknown model class, or unknown/invalid constructor arguments.
    """
    entry = doc["model"]
    registry = _registry()
    name = entry.get("class")
    if name not in registry:
        raise ConfigError(
            f"checkpoint model class {name!r} is unknown; known: {', '.join(sorted(registry))}"
        )
    cls = registry[name]
    args = dict(entry.get("args") or {})
    config_cls = getattr(cls, "config_class", None)
    if config_cls is not None:
        args = config_cls(**args).model_dump()  # raises ConfigError on unknown fields
    try:
        model = cls(**args)
    except TypeError as exc:
        raise ConfigError(f"checkpoint constructor arguments of {name}: {exc}") from None
    try:
        model.load_state_dict(entry["state"])
    except RuntimeError as exc:
        raise ConfigError(f"checkpoint weights do not fit {name}: {exc}") from None
    return model


def load_model(
    path: str | Path, map_location: str | torch.device = "cpu", *, normalized: bool = False
) -> nn.Module:
    """Rebuild the bare model stored in the checkpoint at ``path``.

    A model trained with normalizers works in normalized units, so by default this refuses
    such a checkpoint: load it with :class:`~pdeflow.operators.Predictor` (physical units in
    and out), or pass ``normalized=True`` to get the bare module knowingly (fine-tuning,
    export; its inputs must be encoded and its outputs decoded with the checkpoint's
    normalizers, see :func:`load_normalizers`).

    Raises
    ------
    ConfigError
        The checkpoint holds normalizers and ``normalized`` is False; not a pdeflow
        checkpoint, unknown version, model class or arguments.
    """
    doc = read_checkpoint(path, map_location)
    model = build_model(doc)  # a broken file says so first
    if not normalized:
        check_unnormalized(doc, path)
    return model


def check_unnormalized(doc: Mapping[str, Any], path: str | Path) -> None:
    """Refuse to hand out the bare model of a checkpoint trained with normalizers.

    Raises
    ------
    ConfigError
        The checkpoint holds an input or output normalizer (the message says what to use).
    """
    names = [k for k, v in (doc.get("normalizers") or {}).items() if v is not None]
    if names:
        which = " and ".join({"x": "input", "y": "output"}.get(k, k) for k in sorted(names))
        raise ConfigError(
            f"checkpoint {path} was trained with {which} normalizers, so its bare model "
            f"predicts in normalized units; load it with Predictor.from_checkpoint({str(path)!r}) "
            "(pdeflow.operators) to predict in physical units, or pass normalized=True for the "
            "bare model"
        )


def load_normalizers(doc: Mapping[str, Any]) -> dict[str, UnitGaussianNormalizer | None]:
    """The ``{"x": ..., "y": ...}`` normalizers of a checkpoint dict (``None`` where absent)."""
    entry = doc.get("normalizers") or {}
    return {
        k: (UnitGaussianNormalizer.from_dict(entry[k]) if entry.get(k) is not None else None)
        for k in ("x", "y")
    }
