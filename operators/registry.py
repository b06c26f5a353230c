"""Models by name: each model registers itself, and is imported only when it is asked for.

A model is a ``torch.nn.Module`` whose constructor arguments are one validated config
(a :class:`pdeflow.config.PdeflowConfig`).  ``@register_model(name, config=ConfigClass)``
makes it known by ``name``: checkpoints store the name and the config and rebuild the model
from them in a fresh process, ``pdeflow train NAME`` takes its options from the config
class, and ``pdeflow evaluate`` loads it back.

Registering is lazy.  Importing this module imports no model: the built-in models are
listed by module path in :data:`BUILTIN_MODELS` (a model of pdeflow adds one line there),
other packages declare theirs as entry points of the group ``pdeflow.models``
(``unet = "mypkg.models:UNet"``), and a module is imported the first time its model is
looked up.  :func:`model_names` lists every name without importing anything.

What a registered model provides
--------------------------------
- ``config``: its pydantic config class; ``cls(**config.model_dump())`` must build it (or
  define a ``from_config(config)`` classmethod).
- ``model.config`` (an instance of that class) or a ``constructor_args`` mapping: what a
  checkpoint stores.
- ``example`` (a small valid config, as a mapping) and ``example_input`` (the shape of a
  small input batch): the conformance test builds, saves, reloads in a fresh process and
  compares predictions bit for bit for every registered model.
- optionally ``frozen_weights() -> {submodule: FrozenWeights(name, version)}``: pretrained
  submodules (a text encoder, say) that the constructor loads by name and version; their
  weights are not copied into checkpoints, only the reference is.
- optionally ``train=("module:TrainConfig", "module:train_function")``: a training recipe
  of its own for ``pdeflow train NAME``; without one the generic recipe of
  :mod:`pdeflow.operators.training` fills ``in_channels``/``out_channels`` from the data.

Examples
--------
>>> import torch
>>> from torch import nn
>>> from pdeflow.config import PdeflowConfig
>>> from pdeflow.operators.registry import get_model, model_names, register_model
>>> class TinyConfig(PdeflowConfig):
...     in_channels: int = 1
...     out_channels: int = 1
...     hidden: int = 8
>>> @register_model("tiny-doc", config=TinyConfig,
...                 example={"hidden": 4}, example_input=(2, 1, 16))
... class Tiny(nn.Module):
...     def __init__(self, in_channels: int, out_channels: int, hidden: int = 8):
...         super().__init__()
...         self.config = TinyConfig(in_channels=in_channels, out_channels=out_channels,
...                                  hidden=hidden)
...         self.net = nn.Sequential(nn.Conv1d(in_channels, hidden, 1), nn.GELU(),
...                                  nn.Conv1d(hidden, out_channels, 1))
...     def forward(self, x):
...         return self.net(x)
>>> "tiny-doc" in model_names() and "fno" in model_names()
True
>>> entry = get_model("tiny-doc")
>>> model = entry.build(entry.config(hidden=4))
>>> model(torch.zeros(2, 1, 16)).shape
torch.Size([2, 1, 16])
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from pdeflow.config import PdeflowConfig
from pdeflow.errors import ConfigError

__all__ = [
    "BUILTIN_MODELS",
    "ENTRY_POINT_GROUP",
    "FrozenWeights",
    "ModelEntry",
    "register_model",
    "get_model",
    "model_names",
    "entry_for",
    "import_object",
]

#: Built-in models: name -> module that registers it when imported.
BUILTIN_MODELS: dict[str, str] = {
    "fno": "pdeflow.operators.models.fno",
    "unet": "pdeflow.operators.models.unet",
}

#: Entry-point group through which other packages register models.
ENTRY_POINT_GROUP = "pdeflow.models"

_REGISTERED: dict[str, ModelEntry] = {}


@dataclass(frozen=True)
class FrozenWeights:
    """A reference to pretrained, frozen weights that a model loads by name and version.

    Checkpoints store this reference instead of the weights (a text encoder of 90 MB is
    not copied into every checkpoint); loading checks that the rebuilt model refers to
    the same name and version.

    Examples
    --------
    >>> FrozenWeights("all-MiniLM-L6-v2", "1.0").to_dict()
    {'name': 'all-MiniLM-L6-v2', 'version': '1.0'}
    """

    name: str
    version: str

    def to_dict(self) -> dict[str, str]:
        """The reference as a plain dict (what a checkpoint stores)."""
        return {"name": self.name, "version": self.version}


@dataclass(frozen=True)
class ModelEntry:
    """One registered model: its name, class, config class and conformance example.

    Attributes
    ----------
    name : str
        Registered name (``pdeflow train NAME``).
    cls : type
        The ``nn.Module`` subclass.
    config : type of PdeflowConfig
        Its validated constructor arguments.
    example : Mapping or None
        Keyword arguments of a small valid ``config``.
    example_input : tuple of int or None
        Shape of a small input batch for ``example``.
    train : tuple of str or None
        ``("module:TrainConfig", "module:function")`` of the model's own training recipe.
    """

    name: str
    cls: type
    config: type[PdeflowConfig]
    example: Mapping[str, Any] | None = None
    example_input: tuple[int, ...] | None = None
    train: tuple[str, str] | None = None

    def build(self, config: PdeflowConfig | Mapping[str, Any]) -> Any:
        """A new model from ``config`` (a config instance or its fields as a mapping).

        Raises
        ------
        ConfigError
            Unknown or invalid fields (one line naming the field).
        """
        if not isinstance(config, self.config):
            config = self.config(**dict(config))
        factory = getattr(self.cls, "from_config", None)
        if factory is not None:
            return factory(config)
        return self.cls(**config.model_dump())

    def config_of(self, model: Any) -> PdeflowConfig:
        """The validated config of a built model (``model.config`` or ``constructor_args``)."""
        cfg = getattr(model, "config", None)
        if isinstance(cfg, self.config):
            return cfg
        args = getattr(model, "constructor_args", None)
        if args is None:
            raise ConfigError(
                f"{type(model).__name__} has neither a 'config' ({self.config.__name__}) "
                "nor 'constructor_args'; it cannot rebuild from a checkpoint"
            )
        return self.config(**dict(args))


def register_model(
    name: str,
    *,
    config: type[PdeflowConfig],
    example: Mapping[str, Any] | None = None,
    example_input: tuple[int, ...] | None = None,
    train: tuple[str, str] | None = None,
) -> Callable[[type], type]:
    """Class decorator: make a model known by ``name`` (see the module docstring).

    Parameters
    ----------
    name
        Registered name: lower case, digits, ``-`` and ``_`` (it is a CLI command).
    config
        The model's config class (a :class:`~pdeflow.config.PdeflowConfig` subclass).
    example, example_input
        A small valid config and the shape of an input batch for it (the conformance
        test of every registered model uses them).
    train
        ``("module:TrainConfig", "module:function")`` of a training recipe of its own.

    Returns
    -------
    callable
        The decorator; it returns the class unchanged but for a ``config_class``
        attribute and the registry entry.

    Raises
    ------
    ConfigError
        A bad name, a config that is not a ``PdeflowConfig``, or a name already taken by
        another class.
    """
    if not name or not all(c.isalnum() or c in "-_" for c in name) or name != name.lower():
        raise ConfigError(
            f"model name {name!r}: use lower-case letters, digits, '-' and '_' (it is a command)"
        )
    if not (isinstance(config, type) and issubclass(config, PdeflowConfig)):
        raise ConfigError(f"model {name!r}: 'config' must be a PdeflowConfig subclass")

    def decorate(cls: type) -> type:
        old = _REGISTERED.get(name)
        if old is not None and old.cls.__qualname__ != cls.__qualname__:
            raise ConfigError(
                f"model name {name!r} is taken by {old.cls.__module__}.{old.cls.__qualname__}"
            )
        builtin = BUILTIN_MODELS.get(name)
        if builtin is not None and cls.__module__ != builtin:
            raise ConfigError(f"model name {name!r} is taken by the built-in model of {builtin}")
        if getattr(cls, "config_class", None) is None:
            cls.config_class = config
        _REGISTERED[name] = ModelEntry(
            name,
            cls,
            config,
            example=None if example is None else dict(example),
            example_input=None if example_input is None else tuple(example_input),
            train=train,
        )
        return cls

    return decorate


def _entry_points() -> dict[str, Any]:
    return {ep.name: ep for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)}


def model_names() -> list[str]:
    """Every model name, built-in, entry point or registered (imports no model).

    Examples
    --------
    >>> "fno" in model_names()
    True
    """
    return sorted({*BUILTIN_MODELS, *_entry_points(), *_REGISTERED})


def _unknown(name: str) -> ConfigError:
    return ConfigError(
        f"unknown model {name!r}; registered models: {', '.join(model_names())} "
        "(register one with @register_model, see pdeflow.operators.registry)"
    )


def get_model(name: str) -> ModelEntry:
    """The entry of model ``name``, importing its module on first use.

    Raises
    ------
    ConfigError
        No such model (the message lists the registered ones), or its module did not
        register it.
    """
    if name in _REGISTERED:
        return _REGISTERED[name]
    if name in BUILTIN_MODELS:
        importlib.import_module(BUILTIN_MODELS[name])
    else:
        ep = _entry_points().get(name)
        if ep is None:
            raise _unknown(name)
        ep.load()
    if name not in _REGISTERED:
        raise ConfigError(
            f"model {name!r}: its module was imported but did not call "
            f"@register_model({name!r}, config=...)"
        )
    return _REGISTERED[name]


def entry_for(model_or_class: Any) -> ModelEntry | None:
    """The entry registered for a model instance or class (``None`` if unregistered).

    A class registered under an older name (checkpoints of version 1 stored the class
    name, ``"FNO"``) is found by its class name too.
    """
    if isinstance(model_or_class, str):
        for name in BUILTIN_MODELS:
            get_model(name)
        for entry in _REGISTERED.values():
            if entry.cls.__name__ == model_or_class:
                return entry
        return None
    cls = model_or_class if isinstance(model_or_class, type) else type(model_or_class)
    cls = getattr(cls, "_orig_mod", cls)
    for entry in _REGISTERED.values():
        if entry.cls is cls:
            return entry
    return None


def import_object(spec: str) -> Any:
    """``"package.module:attr"`` -> the object (recipes named in :func:`register_model`)."""
    module, _, attr = spec.partition(":")
    obj: Any = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj
