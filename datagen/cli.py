"""Command-line entry points of :mod:`pdeflow.datagen` (mounted into ``pdeflow`` by the CLI).

Usage::

    pdeflow generate darcy --n 512 --resolution 64 --solver skr --workers 2 --out darcy.h5
    pdeflow generate darcy --n 512 --out darcy.h5 --resume        # complete a killed run
    pdeflow generate --config gen.yaml                              # the same from a file
    pdeflow generate darcy --n 64 --out d.h5 --scheduler tcp://127.0.0.1:8786
    pdeflow dataset info darcy.h5
    pdeflow dataset verify darcy.h5                                 # exit 1 if a check fails
    pdeflow dataset families                                        # what can be generated

Settings resolve as defaults < config file (``--config`` here, else the global
``pdeflow --config``) < flags; unknown or invalid fields are errors that name the field.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from pdeflow.errors import DataError

__all__ = ["generate_command", "dataset_app"]

dataset_app = typer.Typer(
    name="dataset",
    help="Inspect and check generated datasets.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _root_state(ctx: typer.Context) -> Any:
    root = ctx.find_root()
    return root.obj if root is not None else None


def _options(pairs: list[str] | None) -> dict[str, Any] | None:
    """``--option alpha=2.5 --option nu=1e-4`` -> {"alpha": 2.5, "nu": 1e-4} (YAML scalars)."""
    if not pairs:
        return None
    import yaml

    from pdeflow.errors import ConfigError

    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--option expects KEY=VALUE, got {pair!r}")
        out[key.strip()] = yaml.safe_load(value)
    return out


def generate_command(
    ctx: typer.Context,
    family: Annotated[str | None, typer.Argument(help="Problem family, e.g. darcy.")] = None,
    n: Annotated[int | None, typer.Option("--n", help="Number of samples.")] = None,
    resolution: Annotated[int | None, typer.Option(help="Grid points per axis.")] = None,
    solver: Annotated[
        str | None, typer.Option(help="auto, skr, skr-cg, gmres, cg or direct.")
    ] = None,
    preconditioner: Annotated[str | None, typer.Option(help="amg, ilu, jacobi, ...")] = None,
    rtol: Annotated[float | None, typer.Option(help="Relative residual tolerance.")] = None,
    workers: Annotated[int | None, typer.Option(help="Local worker processes.")] = None,
    scheduler: Annotated[
        str | None, typer.Option(help="Existing Dask scheduler, tcp://host:port.")
    ] = None,
    executor: Annotated[
        str | None, typer.Option(help="auto/dask (Dask LocalCluster) or processes (local pool).")
    ] = None,
    chunk_size: Annotated[
        int | None, typer.Option(help="Largest number of samples per task; the last ones shrink.")
    ] = None,
    order: Annotated[str | None, typer.Option(help="SKR ordering: auto, greedy, none...")] = None,
    seed: Annotated[int | None, typer.Option(help="Dataset seed.")] = None,
    out: Annotated[Path | None, typer.Option(help="Output HDF5 file.")] = None,
    resume: Annotated[
        bool | None, typer.Option("--resume", help="Complete an existing partial file.")
    ] = None,
    overwrite: Annotated[
        bool | None, typer.Option("--overwrite", help="Replace an existing file.")
    ] = None,
    dtype: Annotated[str | None, typer.Option(help="float32 or float64.")] = None,
    compression: Annotated[str | None, typer.Option(help="lzf, gzip or none.")] = None,
    option: Annotated[
        list[str] | None, typer.Option("--option", "-o", help="Family option KEY=VALUE.")
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="YAML/TOML/JSON settings file.")
    ] = None,
    print_config: Annotated[
        bool, typer.Option("--print-config", help="Print the resolved settings and exit.")
    ] = False,
) -> None:
    """Generate a dataset of solved PDE samples into an HDF5 file (resumable)."""
    from .config import GenerateConfig
    from .pipeline import generate

    state = _root_state(ctx)
    file = config or getattr(state, "config_file", None)
    flags = {
        "family": family,
        "n": n,
        "resolution": resolution,
        "solver": solver,
        "preconditioner": preconditioner,
        "rtol": rtol,
        "workers": workers,
        "threads": getattr(state, "threads", None),  # pdeflow --threads N
        "scheduler": scheduler,
        "executor": executor,
        "chunk_size": chunk_size,
        "order": order,
        "seed": seed,
        "out": None if out is None else str(out),
        "resume": resume,
        "overwrite": overwrite,
        "dtype": dtype,
        "compression": compression,
    }
    opts = _options(option)
    if opts:
        flags.update({f"options.{k}": v for k, v in opts.items()})
    cfg = GenerateConfig.merge(file=file, overrides=flags, overrides_name="command-line flags")
    if print_config or getattr(state, "print_config", False):
        typer.echo(cfg.to_yaml(), nl=False)
        raise typer.Exit(0)
    report = generate(cfg)
    typer.echo(report.summary())


@dataset_app.command("info")
def info_command(
    path: Annotated[Path, typer.Argument(help="Dataset file.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Summarize a dataset: family, fields, completeness, solver statistics, provenance."""
    from .storage import format_info, info

    d = info(path)
    typer.echo(json.dumps(d, indent=2, default=str) if as_json else format_info(d))


@dataset_app.command("verify")
def verify_command(
    path: Annotated[Path, typer.Argument(help="Dataset file.")],
    no_checksums: Annotated[
        bool, typer.Option("--no-checksums", help="Skip the per-sample checksums.")
    ] = False,
) -> None:
    """Check completeness, finiteness and checksums; exit 1 if anything is wrong."""
    from .storage import verify

    rep = verify(path, check_checksums=not no_checksums)
    if rep.ok:
        typer.echo(f"ok: {path}: {rep.n_done}/{rep.n_samples} samples complete and intact")
        return
    for problem in rep.problems:
        typer.echo(f"problem: {problem}")
    raise DataError(f"{path}: {len(rep.problems)} problem(s) found")


@dataset_app.command("families")
def families_command() -> None:
    """List the problem families and their fields."""
    from . import families

    for name in families.names():
        fam = families.get(name)
        fields = ", ".join(f"{f.name}{list(f.shape)} ({f.role})" for f in fam.fields().values())
        typer.echo(f"{name:15s} {fields}")
