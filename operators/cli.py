"""Command-line entry points of :mod:`pdeflow.operators` (wired into ``pdeflow`` by the CLI).

``train_app`` is a typer sub-app meant to be mounted as ``pdeflow train``; it has one
command per registered model (:mod:`pdeflow.operators.registry`), built when asked for, so
listing them imports no model.  ``evaluate`` is a command function meant to be registered
as ``pdeflow evaluate``::

    app.add_typer(train_app, name="train")
    app.command("evaluate")(evaluate)

Usage::

    pdeflow train fno --data darcy.h5 --config fno.yaml --epochs 50 --out-dir runs/fno
    pdeflow train fno --online darcy1d --epochs 5 --print-config
    pdeflow train MODEL --online darcy1d --dry-run      # any registered model
    pdeflow evaluate runs/fno/last.pt --data darcy_test.h5 --strides 1,2

The options of ``train MODEL`` come from the model's training config class: the model's own
recipe (``register_model(..., train=...)``, FNO's :class:`~pdeflow.operators.recipes.
FNOTrainConfig`), else :func:`pdeflow.operators.training.train_config_for` (data, trainer,
and the model's config class).  Settings resolve as defaults < config file (``--config``
here, else the global ``pdeflow --config``, flat or in a ``[train.MODEL]`` table) < flags;
unknown fields are errors.  Every command answers ``--print-config`` and ``--dry-run``.
Results print as JSON on stdout.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import typer
from pydantic import Field, field_validator
from typer.core import TyperGroup

from pdeflow.commands import config_command
from pdeflow.config import PdeflowConfig
from pdeflow.errors import DataError

from .registry import get_model, import_object, model_names

__all__ = ["EvaluateConfig", "train_app", "train_command", "evaluate"]


class _ModelCommands(TyperGroup):
    """``pdeflow train``: one command per registered model, built on first use."""

    def list_commands(self, ctx: Any) -> list[str]:
        return model_names()

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        return train_command(cmd_name)


train_app = typer.Typer(
    name="train",
    cls=_ModelCommands,
    help="Train a registered model (offline from HDF5 or online from a stream).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@train_app.callback()
def _train() -> None:
    """Train a registered model (offline from HDF5 or online from a stream)."""


def _print_result(result: dict[str, Any]) -> str:
    result = dict(result)
    result.pop("history", None)
    return json.dumps(result, indent=2)


@functools.cache
def train_command(name: str) -> Any:
    """The click command of ``pdeflow train NAME`` (imports the model's module).

    Raises
    ------
    ConfigError
        No such model (the message lists the registered ones).
    """
    entry = get_model(name)
    if entry.train is not None:
        config_cls = import_object(entry.train[0])
        recipe = import_object(entry.train[1])
    else:
        from .training import train_config_for, train_model

        config_cls = train_config_for(entry)
        recipe = functools.partial(train_model, entry)

    def run(cfg: Any) -> str:
        return _print_result(recipe(cfg))

    def dry_run(cfg: Any) -> str:
        return _print_result(recipe(cfg, dry_run=True))

    summary = (entry.cls.__doc__ or entry.cls.__name__).strip().splitlines()[0]
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    app.command(name)(
        config_command(
            config_cls,
            run,
            dry_run=dry_run,
            help=f"Train {name}: {summary} (--data FILE.h5 offline, or --online FAMILY).",
        )
    )
    return typer.main.get_command(app)


class EvaluateConfig(PdeflowConfig):
    """Settings of ``pdeflow evaluate``."""

    checkpoint: str = Field(description="checkpoint written by the trainer")
    data: str = Field(description="HDF5 file to evaluate on")
    x_key: str = Field("a", description="input dataset name")
    y_key: str = Field("u", description="target dataset name")
    channel_axis: str = Field(
        "none", description="channel axis of the HDF5 fields: first, last or none"
    )
    strides: list[int] = Field(default_factory=lambda: [1], description="resolutions as strides")
    batch_size: int = Field(16, ge=1)
    device: str = Field("auto", description="auto, cpu, cuda...")

    @field_validator("strides")
    @classmethod
    def _strides(cls, v: list[int]) -> list[int]:
        if not v or any(s < 1 for s in v):
            raise ValueError("must hold ints >= 1")
        return v


def _evaluate(cfg: EvaluateConfig) -> str:
    """Relative L2/H1 errors of CHECKPOINT on an HDF5 file (JSON on stdout)."""
    from .recipes import evaluate_checkpoint

    metrics = evaluate_checkpoint(
        cfg.checkpoint,
        cfg.data,
        x_key=cfg.x_key,
        y_key=cfg.y_key,
        channel_axis=cfg.channel_axis,
        strides=cfg.strides,
        batch_size=cfg.batch_size,
        device=cfg.device,
    )
    return json.dumps(metrics, indent=2)


def _evaluate_dry_run(cfg: EvaluateConfig) -> str:
    from .checkpoint import build_model, read_checkpoint

    for path in (cfg.checkpoint, cfg.data):
        if not Path(path).is_file():
            raise DataError(f"{path} not found")
    doc = read_checkpoint(cfg.checkpoint)
    model = build_model(doc)  # an unknown model says so here
    name = doc["model"].get("name") or doc["model"].get("class")
    return (
        f"dry run: would evaluate {name} ({type(model).__name__}) from {cfg.checkpoint} on "
        f"{cfg.data} at strides {cfg.strides}; nothing was run"
    )


#: ``pdeflow evaluate`` (mounted by :mod:`pdeflow.cli`).
evaluate = config_command(
    EvaluateConfig, _evaluate, arguments=("checkpoint",), dry_run=_evaluate_dry_run
)
