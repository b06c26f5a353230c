"""``pdeflow train MODEL`` for a registered model without a recipe of its own.

The training config of a model is :class:`ModelTrainConfig` (data source, validation,
:class:`~pdeflow.operators.TrainerConfig`) with a ``model`` table of the model's own config
class, in which ``in_channels`` and ``out_channels`` become optional: they are read from
the data.  So the model's config class drives the options of ``pdeflow train MODEL``.

Examples
--------
>>> from pdeflow.operators.registry import get_model
>>> cls = train_config_for(get_model("fno"))
>>> cls.__name__, sorted(cls.model_fields["model"].annotation.model_fields)[:3]
('FnoTrainConfig', ['channel_mlp', 'grid_embedding', 'in_channels'])
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, create_model, field_validator, model_validator

from pdeflow.config import PdeflowConfig
from pdeflow.errors import ConfigError

from .data import ChannelAxis
from .registry import ModelEntry
from .trainer import Trainer, TrainerConfig, seed_everything

__all__ = ["ModelTrainConfig", "train_config_for", "train_model"]

_FROM_DATA = ("in_channels", "out_channels")


class ModelTrainConfig(PdeflowConfig):
    """Data and trainer settings of ``pdeflow train MODEL`` (the ``model`` table is added
    per model by :func:`train_config_for`)."""

    data: str | None = Field(None, description="HDF5 training file (offline)")
    online: str | None = Field(None, description="online source family (e.g. darcy1d)")
    x_key: str = "a"
    y_key: str = "u"
    channel_axis: ChannelAxis = Field(
        None, description="channel axis of the HDF5 fields: first, last or none"
    )
    val_data: str | None = Field(None, description="separate HDF5 validation file")
    val_fraction: float = Field(0.1, ge=0, lt=1)
    in_memory: bool = Field(False, description="read the HDF5 samples into memory once")
    n_val: int = Field(64, ge=1, description="fixed validation samples drawn from the stream")
    samples_per_epoch: int = Field(512, ge=1)
    buffer_size: int = Field(64, ge=1)
    resolution: int | None = Field(None, ge=4, description="grid size of a toy online family")
    resume: str | None = None
    trainer: TrainerConfig = TrainerConfig()

    @field_validator("channel_axis", mode="before")
    @classmethod
    def _axis(cls, v: Any) -> Any:
        return None if v == "none" else v

    @model_validator(mode="after")
    def _one_source(self) -> ModelTrainConfig:
        if (self.data is None) == (self.online is None):
            raise ValueError("give exactly one of 'data' (an HDF5 file) or 'online' (a family)")
        return self


def train_config_for(entry: ModelEntry) -> type[ModelTrainConfig]:
    """The training config class of a registered model: ``model`` is its config, with the
    channel counts optional (read from the data).

    Parameters
    ----------
    entry
        The model's registry entry.

    Returns
    -------
    type
        A :class:`ModelTrainConfig` subclass named ``<Name>TrainConfig``.
    """
    fields = {
        k: (int | None, Field(None, gt=0, description=f"{k} (default: from the data)"))
        for k in _FROM_DATA
        if k in entry.config.model_fields
    }
    title = "".join(p.capitalize() for p in entry.name.replace("-", "_").split("_"))
    settings = create_model(f"{title}Settings", __base__=entry.config, **fields)
    default = _default_settings(entry, settings)
    return create_model(
        f"{title}TrainConfig",
        __base__=ModelTrainConfig,
        model=(settings, default) if default is not None else (settings, ...),
    )


def _default_settings(entry: ModelEntry, settings: type[PdeflowConfig]) -> Any:
    try:
        return settings()
    except ConfigError:  # a required field beyond the channels: the user must give it
        return None


def build_for_data(entry: ModelEntry, cfg: ModelTrainConfig, sample: dict) -> Any:
    """The model of ``cfg.model`` with the channel counts read from one sample."""
    fields = cfg.model.model_dump()
    if "in_channels" in fields and fields["in_channels"] is None:
        fields["in_channels"] = int(sample["x"].shape[0])
    if "out_channels" in fields and fields["out_channels"] is None:
        fields["out_channels"] = int(sample["y"].shape[0])
    return entry.build(fields)


def train_model(
    entry: ModelEntry, cfg: ModelTrainConfig, *, dry_run: bool = False, loggers=()
) -> dict[str, Any]:
    """Train (or resume) a registered model as ``cfg`` says.

    Returns
    -------
    dict
        ``model`` (its config), ``metrics`` (final validation metrics), ``history``,
        ``checkpoint`` (path or None); with ``dry_run`` only the data and the model are
        built.
    """
    from .recipes import datasets

    train, val = datasets(cfg)
    sample = val[0]
    if cfg.resume is not None:
        trainer = Trainer.from_checkpoint(cfg.resume, cfg.trainer, loggers=loggers)
    else:
        seed_everything(cfg.trainer.seed)
        trainer = Trainer(build_for_data(entry, cfg, sample), cfg.trainer, loggers=loggers)
    result: dict[str, Any] = {
        "model": entry.config_of(trainer.model).model_dump(mode="json"),
        "name": entry.name,
        "checkpoint": None,
    }
    if dry_run:
        result.update(metrics={}, history=[], dry_run=True)
        return result
    result["history"] = trainer.fit(train, {"val": val})
    result["metrics"] = trainer.evaluate({"val": val})
    if cfg.trainer.out_dir is not None:
        result["checkpoint"] = str(Path(cfg.trainer.out_dir) / "last.pt")
    return result
