"""Checkpoints that rebuild their own model, loaded with ``torch.load(weights_only=True)``.

A checkpoint is a plain dict of tensors, numbers, strings, lists and dicts::

    {"format": "pdeflow.operators.checkpoint", "version": 1,
     "model": {"name": "fno", "class": "FNO",
               "config": "pdeflow.operators.models.fno:FNOConfig",
               "args": {...the config's fields...}, "state": state_dict,
               "frozen": {"encoder": {"name": "all-MiniLM-L6-v2", "version": "1.0"}}},
     "normalizers": {"x": {...}, "y": {...}} or None,
     "trainer": {...optimizer/scheduler/epoch/RNG state...} or None,
     "meta": {...}}

Nothing in it is unpickled as arbitrary objects, so loading an untrusted file cannot run code.
The model is found by its registered name (:mod:`pdeflow.operators.registry`; this module
imports no model), so any registered model loads in a fresh process.  Weights of frozen
pretrained submodules (``model.frozen_weights()``) are not stored: only their name and
version are, and loading checks that the rebuilt model refers to the same ones.  The keys ``name``,
``config`` and ``frozen`` were added within version 1: older checkpoints
(``"class": "FNO"`` only) still load, and older readers still load FNO checkpoints.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from pdeflow.errors import ConfigError, DataError

from . import registry
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


def register_model(cls: type[nn.Module]) -> type[nn.Module]:
    """Deprecated: use ``@pdeflow.operators.registry.register_model(name, config=...)``.

    Registers ``cls`` (which must have a ``config_class``) under its lower-cased class name.
    """
    warnings.warn(
        "pdeflow.operators.checkpoint.register_model(cls) is deprecated; use "
        "@pdeflow.operators.registry.register_model(name, config=ConfigClass)",
        DeprecationWarning,
        stacklevel=2,
    )
    config = getattr(cls, "config_class", None)
    if config is None:
        raise ConfigError(
            f"{cls.__name__} has no 'config_class'; register it with "
            "@pdeflow.operators.registry.register_model(name, config=ConfigClass)"
        )
    return registry.register_model(cls.__name__.lower(), config=config)(cls)


def _frozen(model: nn.Module) -> dict[str, registry.FrozenWeights]:
    hook = getattr(model, "frozen_weights", None)
    return dict(hook()) if hook is not None else {}


def _model_entry(model: nn.Module) -> dict[str, Any]:
    """The ``"model"`` part of a checkpoint: name, config, weights, frozen references."""
    entry = registry.entry_for(model)
    if entry is not None:
        args = entry.config_of(model).model_dump(mode="json")
        config = f"{entry.config.__module__}:{entry.config.__qualname__}"
    elif hasattr(model, "constructor_args"):  # unregistered: saved, but loads once registered
        args, config = dict(model.constructor_args), None
    else:
        raise ConfigError(
            f"{type(model).__name__} is not a registered model and has no 'constructor_args'; "
            "it cannot rebuild from a checkpoint (see pdeflow.operators.registry)"
        )
    frozen = _frozen(model)
    skip = tuple(f"{prefix}." for prefix in frozen)
    state = {
        k: v.detach().cpu() for k, v in model.state_dict().items() if not k.startswith(skip)
    }
    return {
        "name": None if entry is None else entry.name,
        "class": type(model).__name__,
        "config": config,
        "args": args,
        "state": state,
        "frozen": {k: ref.to_dict() for k, ref in frozen.items()},
    }


def save_checkpoint(
    path: str | Path,
    model: nn.Module,
    *,
    normalizers: Mapping[str, UnitGaussianNormalizer | None] | None = None,
    trainer: Mapping[str, Any] | None = None,
    meta: Mapping[str, Any] | None = None,
) -> Path:
    """Write a checkpoint atomically (a killed write leaves the previous file intact).

    Parameters
    ----------
    path
        File to write (its folder is created).
    model
        A registered model (or one with ``constructor_args``).  Submodules named by
        ``model.frozen_weights()`` are stored as references, without their weights.
    normalizers, trainer, meta
        Input/output normalizers, the trainer's state, free metadata.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    ConfigError
        A model that cannot rebuild itself from a checkpoint.
    """
    model = getattr(model, "_orig_mod", model)  # torch.compile wrapper
    doc = {
        "format": FORMAT,
        "version": VERSION,
        "model": _model_entry(model),
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


def _entry_of(doc: Mapping[str, Any]) -> registry.ModelEntry:
    entry = doc["model"]
    name = entry.get("name")
    if name is not None:
        return registry.get_model(name)  # unknown: one line listing the registered models
    found = registry.entry_for(str(entry.get("class")))  # version 1: the class name
    if found is None:
        raise ConfigError(
            f"checkpoint model class {entry.get('class')!r} is unknown; registered models: "
            f"{', '.join(registry.model_names())}"
        )
    return found


def build_model(doc: Mapping[str, Any]) -> nn.Module:
    """Rebuild the model of a checkpoint dict and load its weights.

    Parameters
    ----------
    doc
        A checkpoint dict (:func:`read_checkpoint`).

    Returns
    -------
    nn.Module
        The model, weights loaded; frozen submodules as its constructor loaded them.

    Raises
    ------
    ConfigError
        Unknown model (the message lists the registered ones), unknown or invalid
        config fields, weights that do not fit, or frozen weights of another name or
        version than the checkpoint was trained with.
    """
    spec = doc["model"]
    entry = _entry_of(doc)
    config = entry.config(**dict(spec.get("args") or {}))  # ConfigError names a bad field
    model = entry.build(config)
    expected = {k: registry.FrozenWeights(**v) for k, v in (spec.get("frozen") or {}).items()}
    have = _frozen(model)
    if have != expected:
        raise ConfigError(
            f"checkpoint of {entry.name!r} was saved with frozen weights "
            f"{_refs(expected)}, but the rebuilt model refers to {_refs(have)}"
        )
    try:
        result = model.load_state_dict(spec["state"], strict=not have)
    except RuntimeError as exc:
        raise ConfigError(f"checkpoint weights do not fit {entry.name}: {_one_line(exc)}") from None
    if have:
        prefixes = tuple(f"{p}." for p in have)
        missing = [k for k in result.missing_keys if not k.startswith(prefixes)]
        if missing or result.unexpected_keys:
            raise ConfigError(
                f"checkpoint weights do not fit {entry.name}: missing {missing}, "
                f"unexpected {list(result.unexpected_keys)}"
            )
    return model


def _refs(refs: Mapping[str, registry.FrozenWeights]) -> str:
    if not refs:
        return "none"
    return ", ".join(f"{k}={v.name}@{v.version}" for k, v in sorted(refs.items()))


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())


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
