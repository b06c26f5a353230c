"""Command-line entry points of :mod:`pdeflow.operators` (wired into ``pdeflow`` by the CLI).

``train_app`` is a typer sub-app meant to be mounted as ``pdeflow train``; ``evaluate`` is
a command function meant to be registered as ``pdeflow evaluate``::

    app.add_typer(train_app, name="train")
    app.command("evaluate")(evaluate)

Usage::

    pdeflow train fno --data darcy.h5 --config fno.yaml --epochs 50 --out-dir runs/fno
    pdeflow train fno --online darcy1d --epochs 5 --print-config
    pdeflow evaluate runs/fno/last.pt --data darcy_test.h5 --strides 1,2

Settings resolve as defaults < config file (``--config`` here, else the global
``pdeflow --config``) < flags; unknown fields are errors.  Results print as JSON on stdout.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from pdeflow.errors import ConfigError

__all__ = ["train_app", "fno", "evaluate"]

train_app = typer.Typer(
    name="train",
    help="Train neural operators (offline from HDF5 or online from a stream).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@train_app.callback()
def _train() -> None:
    """Train neural operators (offline from HDF5 or online from a stream)."""


def _ints(text: str | None, flag: str) -> list[int] | None:
    if text is None:
        return None
    try:
        return [int(t) for t in text.replace(" ", "").split(",") if t]
    except ValueError:
        raise ConfigError(f"{flag} must be comma-separated integers, got {text!r}") from None


def _root_state(ctx: typer.Context) -> Any:
    root = ctx.find_root()
    return root.obj if root is not None else None


@train_app.command("fno")
def fno(
    ctx: typer.Context,
    data: Annotated[Path | None, typer.Option(help="HDF5 training file.")] = None,
    online: Annotated[str | None, typer.Option(help="Online family, e.g. darcy1d.")] = None,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="YAML/TOML/JSON settings file.")
    ] = None,
    x_key: Annotated[str | None, typer.Option(help="Input dataset name.")] = None,
    y_key: Annotated[str | None, typer.Option(help="Target dataset name.")] = None,
    channel_axis: Annotated[
        str | None,
        typer.Option(help="Channel axis of the HDF5 fields: first, last or none (default)."),
    ] = None,
    val_data: Annotated[Path | None, typer.Option(help="HDF5 validation file.")] = None,
    in_memory: Annotated[
        bool | None, typer.Option("--in-memory", help="Read the HDF5 samples into memory once.")
    ] = None,
    epochs: Annotated[int | None, typer.Option(help="Total epochs.")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Batch size.")] = None,
    lr: Annotated[float | None, typer.Option(help="Learning rate.")] = None,
    width: Annotated[int | None, typer.Option(help="FNO width.")] = None,
    modes: Annotated[str | None, typer.Option(help="Modes per axis, e.g. 12,12.")] = None,
    n_layers: Annotated[int | None, typer.Option(help="Fourier layers.")] = None,
    samples_per_epoch: Annotated[int | None, typer.Option(help="Online samples/epoch.")] = None,
    resolution: Annotated[int | None, typer.Option(help="Grid of a toy family.")] = None,
    eval_strides: Annotated[str | None, typer.Option(help="Eval strides, e.g. 1,2.")] = None,
    device: Annotated[str | None, typer.Option(help="auto, cpu, cuda, cuda:1...")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed.")] = None,
    out_dir: Annotated[Path | None, typer.Option(help="Checkpoints + metrics.jsonl.")] = None,
    resume: Annotated[Path | None, typer.Option(help="Resume from this checkpoint.")] = None,
    print_config: Annotated[
        bool, typer.Option("--print-config", help="Print the resolved settings and exit.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Build data and model, do not train.")
    ] = False,
) -> None:
    """Train an FNO: ``--data FILE.h5`` (offline) or ``--online FAMILY`` (streamed)."""
    state = _root_state(ctx)
    file = config or getattr(state, "config_file", None)
    flags = {
        "data": None if data is None else str(data),
        "online": online,
        "x_key": x_key,
        "y_key": y_key,
        "channel_axis": channel_axis,
        "val_data": None if val_data is None else str(val_data),
        "in_memory": in_memory,
        "samples_per_epoch": samples_per_epoch,
        "resolution": resolution,
        "eval_strides": _ints(eval_strides, "--eval-strides"),
        "resume": None if resume is None else str(resume),
        "model.width": width,
        "model.modes": _ints(modes, "--modes"),
        "model.n_layers": n_layers,
        "trainer.epochs": epochs,
        "trainer.batch_size": batch_size,
        "trainer.lr": lr,
        "trainer.device": device,
        "trainer.seed": seed,
        "trainer.threads": getattr(state, "threads", None),  # pdeflow --threads N
        "trainer.out_dir": None if out_dir is None else str(out_dir),
    }
    from .recipes import FNOTrainConfig, train_fno  # torch loads here, not at CLI start-up

    cfg = FNOTrainConfig.merge(file=file, overrides=flags, overrides_name="command-line flags")
    if print_config or getattr(state, "print_config", False):
        typer.echo(cfg.to_yaml(), nl=False)
        raise typer.Exit(0)
    result = train_fno(cfg, dry_run=dry_run)
    result.pop("history", None)
    typer.echo(json.dumps(result, indent=2))


def evaluate(
    checkpoint: Annotated[Path, typer.Argument(help="Checkpoint written by the trainer.")],
    data: Annotated[Path, typer.Option(help="HDF5 file to evaluate on.")],
    x_key: Annotated[str, typer.Option(help="Input dataset name.")] = "a",
    y_key: Annotated[str, typer.Option(help="Target dataset name.")] = "u",
    channel_axis: Annotated[
        str, typer.Option(help="Channel axis of the HDF5 fields: first, last or none.")
    ] = "none",
    strides: Annotated[str, typer.Option(help="Resolutions as strides, e.g. 1,2.")] = "1",
    batch_size: Annotated[int, typer.Option(help="Batch size.")] = 16,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda...")] = "auto",
) -> None:
    """Relative L2/H1 errors of CHECKPOINT on an HDF5 file (JSON on stdout)."""
    from .recipes import evaluate_checkpoint

    metrics = evaluate_checkpoint(
        checkpoint,
        data,
        x_key=x_key,
        y_key=y_key,
        channel_axis=channel_axis,
        strides=_ints(strides, "--strides") or [1],
        batch_size=batch_size,
        device=device,
    )
    typer.echo(json.dumps(metrics, indent=2))
