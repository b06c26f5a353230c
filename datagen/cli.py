"""Command-line entry points of :mod:`pdeflow.datagen` (mounted into ``pdeflow`` by the CLI).

Usage::

    pdeflow generate darcy --n 512 --resolution 64 --solver skr --workers 2 --out darcy.h5
    pdeflow generate darcy --n 512 --out darcy.h5 --resume        # complete a killed run
    pdeflow generate --config gen.yaml                              # the same from a file
    pdeflow generate darcy --n 64 --out d.h5 --scheduler tcp://127.0.0.1:8786
    pdeflow dataset info darcy.h5
    pdeflow dataset verify darcy.h5                                 # exit 1 if a check fails
    pdeflow dataset repair darcy.h5                                 # regenerate damaged samples
    pdeflow dataset export darcy.h5 --format zarr --out darcy.zarr  # or netcdf (.nc)
    pdeflow dataset show darcy.h5 --sample 3 --out s3.png           # a picture of sample 3
    pdeflow families [darcy]                                        # options, defaults, fields
    pdeflow generate darcy --print-config                           # settings, no --n/--out needed
    pdeflow generate --family my_pde.py:GrayScott --n 8 --out g.h5  # a family of your own

Settings resolve as defaults < config file (``--config`` here, else the global
``pdeflow --config``) < flags; unknown or invalid fields are errors that name the field.  The
file holds the fields at its top level or in a ``[generate]`` table (TOML; ``generate:`` in
YAML), so one file can configure several commands.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from pdeflow.errors import DataError

__all__ = ["generate_command", "dataset_app", "families_command", "export_command",
           "show_command"]

dataset_app = typer.Typer(
    name="dataset",
    help="Inspect and check generated datasets.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _dflt(field: str) -> str:
    """A generate setting's default, as ``--help`` shows it."""
    from .config import GenerateConfig

    return str(GenerateConfig.model_fields[field].default)


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
    family: Annotated[
        str | None,
        typer.Argument(help="Problem family, e.g. darcy (see 'pdeflow families'), or a spec "
                            "as --family takes.",
                       show_default=False),
    ] = None,
    family_spec: Annotated[
        str | None,
        typer.Option("--family",
                     help="Family by name or spec: path/to/file.py:obj or package.module:obj "
                          "(a Family subclass or instance).",
                     show_default=False),
    ] = None,
    n: Annotated[
        int | None, typer.Option("--n", help="Number of samples.", show_default="required")
    ] = None,
    resolution: Annotated[
        int | None,
        typer.Option(help="Grid points per axis.", show_default="the family's, see 'families'"),
    ] = None,
    solver: Annotated[
        str | None,
        typer.Option(help="auto, skr, skr-cg, gmres, cg or direct.", show_default=_dflt("solver")),
    ] = None,
    preconditioner: Annotated[
        str | None, typer.Option(help="amg, ilu, jacobi, ...", show_default="auto")
    ] = None,
    rtol: Annotated[
        float | None,
        typer.Option(help="Relative residual tolerance.", show_default=_dflt("rtol")),
    ] = None,
    workers: Annotated[
        int | None, typer.Option(help="Local worker processes.", show_default=_dflt("workers"))
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option(help="Existing Dask scheduler, tcp://host:port.",
                     show_default="none: start local workers"),
    ] = None,
    executor: Annotated[
        str | None,
        typer.Option(help="auto/dask (Dask LocalCluster) or processes (local pool).",
                     show_default=_dflt("executor")),
    ] = None,
    chunk_size: Annotated[
        int | None,
        typer.Option(help="Largest number of samples per task; the last ones shrink.",
                     show_default="auto"),
    ] = None,
    order: Annotated[
        str | None,
        typer.Option(help="SKR ordering: auto, greedy, none...", show_default=_dflt("order")),
    ] = None,
    seed: Annotated[
        int | None, typer.Option(help="Dataset seed.", show_default=_dflt("seed"))
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Output HDF5 file.", show_default="required")
    ] = None,
    resume: Annotated[
        bool | None, typer.Option("--resume", help="Complete an existing partial file.")
    ] = None,
    overwrite: Annotated[
        bool | None, typer.Option("--overwrite", help="Replace an existing file.")
    ] = None,
    dtype: Annotated[
        str | None, typer.Option(help="float32 or float64.", show_default=_dflt("dtype"))
    ] = None,
    compression: Annotated[
        str | None,
        typer.Option(help="lzf, gzip or none.", show_default=_dflt("compression")),
    ] = None,
    option: Annotated[
        list[str] | None,
        typer.Option("--option", "-o", help="Family option KEY=VALUE (see 'pdeflow families').",
                     show_default="the family's"),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c",
                     help="YAML/TOML/JSON settings file: flat, or a \\[generate] table.",
                     show_default=False),
    ] = None,
    print_config: Annotated[
        bool,
        typer.Option("--print-config",
                     help="Print the resolved settings, the family's option defaults "
                          "included, and exit (needs no --n/--out)."),
    ] = False,
) -> None:
    """Generate a dataset of solved PDE samples into an HDF5 file (resumable)."""
    from .config import GenerateConfig
    from .pipeline import GenerationInterrupted, generate

    state = _root_state(ctx)
    file = config or getattr(state, "config_file", None)
    if family is not None and family_spec is not None and family != family_spec:
        from pdeflow.errors import ConfigError

        raise ConfigError(
            f"Two families given: {family!r} (argument) and {family_spec!r} (--family); "
            "give one."
        )
    family = family if family is not None else family_spec
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
    if print_config or getattr(state, "print_config", False):
        from .catalog import generate_settings_yaml

        typer.echo(generate_settings_yaml(file=file, overrides=flags), nl=False)
        raise typer.Exit(0)
    cfg = GenerateConfig.merge(
        file=file, overrides=flags, overrides_name="command-line flags", table="generate"
    )
    try:
        report = generate(cfg)
    except GenerationInterrupted as exc:
        import logging

        if not logging.getLogger("pdeflow.datagen").isEnabledFor(logging.WARNING):
            typer.echo(exc.message(), err=True)  # else the warning line already said it
        raise typer.Exit(exc.exit_code) from None  # 130 (SIGINT) or 143 (SIGTERM)
    typer.echo(report.summary())


@dataset_app.command("info")
def info_command(
    path: Annotated[Path, typer.Argument(help="Dataset file.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    quick: Annotated[
        bool, typer.Option("--quick", help="Read metadata only; skip the damaged-sample scan.")
    ] = False,
) -> None:
    """Summarize a dataset: family, fields, completeness, damaged samples, solver statistics,
    provenance."""
    from .storage import format_info, info

    d = info(path, check=not quick)
    typer.echo(json.dumps(d, indent=2, default=str) if as_json else format_info(d))


@dataset_app.command("verify")
def verify_command(
    path: Annotated[Path, typer.Argument(help="Dataset file.")],
    no_checksums: Annotated[
        bool, typer.Option("--no-checksums", help="Skip the per-sample checksums.")
    ] = False,
) -> None:
    """Check completeness, finiteness and checksums; exit 1 if anything is wrong."""
    from .storage import compact_ranges, verify

    rep = verify(path, check_checksums=not no_checksums)
    if rep.ok:
        typer.echo(f"ok: {path}: {rep.n_done}/{rep.n_samples} samples complete and intact")
        return
    for problem in rep.problems:
        typer.echo(f"problem: {problem}")
    if rep.damaged:
        from .repair import repair_command

        raise DataError(
            f"{path}: {len(rep.problems)} problem(s) found; {len(rep.damaged)} damaged "
            f"sample(s) ({compact_ranges(rep.damaged)}); repair with: {repair_command(path)}"
        )
    raise DataError(f"{path}: {len(rep.problems)} problem(s) found")


@dataset_app.command("repair")
def repair_dataset_command(
    path: Annotated[Path, typer.Argument(help="Dataset file.")],
) -> None:
    """Regenerate the damaged samples (unreadable or checksum mismatch) in place."""
    from .repair import repair

    typer.echo(repair(path).summary())


@dataset_app.command("export")
def export_command(
    path: Annotated[Path, typer.Argument(help="Dataset file.", show_default=False)],
    format: Annotated[
        str, typer.Option("--format", "-f", help="netcdf (h5netcdf) or zarr.")
    ] = "netcdf",
    out: Annotated[
        Path | None,
        typer.Option(help="Output file (netcdf) or folder (zarr).",
                     show_default="FILE with .nc or .zarr"),
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an earlier export at --out.")
    ] = False,
) -> None:
    """Export a dataset through xarray: named dims, coords, attrs, per-sample status."""
    from .export import export_dataset

    target = export_dataset(path, out, format, overwrite=overwrite)  # type: ignore[arg-type]
    typer.echo(f"wrote {target} ({format})")


@dataset_app.command("show")
def show_command(
    path: Annotated[Path, typer.Argument(help="Dataset file.", show_default=False)],
    sample: Annotated[int, typer.Option("--sample", "-i", help="Sample index.")] = 0,
    out: Annotated[
        Path | None,
        typer.Option(help="PNG to write.", show_default="FILE-sample<i>.png next to FILE"),
    ] = None,
) -> None:
    """Write a PNG of one sample's fields (one panel per field / time slice)."""
    from .show import show_sample

    typer.echo(f"wrote {show_sample(path, sample, out)}")


@dataset_app.command("families")
def families_command(
    names: Annotated[
        list[str] | None,
        typer.Argument(help="Families to describe, by name or spec (file.py:obj, "
                            "package.module:obj); default: all.", show_default=False),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the problem families: where each comes from (built-in, entry point, file,
    module), their fields, and their options with defaults and docs."""
    from . import families
    from .catalog import describe_family, format_family

    described = [describe_family(name) for name in (names or families.names())]
    if as_json:
        typer.echo(json.dumps([d.to_dict() for d in described], indent=2))
        return
    typer.echo("\n\n".join(format_family(d) for d in described))
