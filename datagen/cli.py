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

Every command takes its options from its config class (:mod:`pdeflow.datagen.config`)
through :func:`pdeflow.commands.config_command`: settings resolve as defaults < config file
(``--config`` here, else the global ``pdeflow --config``) < flags; unknown or invalid fields
are errors that name the field.  The file holds the fields at its top level or in a table
named after the command (``[generate]``, ``[dataset.verify]``; ``generate:`` in YAML), so
one file can configure several commands.  Every command answers ``--print-config`` and
``--dry-run`` (check the settings and say what would run).
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from pdeflow.commands import config_command
from pdeflow.errors import ConfigError, DataError

from .config import (
    DatasetInfoConfig,
    ExportConfig,
    FamiliesConfig,
    GenerateConfig,
    RepairConfig,
    ShowConfig,
    VerifyConfig,
)

__all__ = ["generate_command", "dataset_app", "families_command", "export_command",
           "show_command"]

dataset_app = typer.Typer(
    name="dataset",
    help="Inspect and check generated datasets.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


# ---------------------------------------------------------------------- generate
def _generate(cfg: GenerateConfig) -> str:
    """Generate a dataset of solved PDE samples into an HDF5 file (resumable)."""
    from .pipeline import GenerationInterrupted, generate

    try:
        report = generate(cfg)
    except GenerationInterrupted as exc:
        import logging

        if not logging.getLogger("pdeflow.datagen").isEnabledFor(logging.WARNING):
            typer.echo(exc.message(), err=True)  # else the warning line already said it
        raise typer.Exit(exc.exit_code) from None  # 130 (SIGINT) or 143 (SIGTERM)
    return report.summary()


def _family_argument(values: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """``pdeflow generate darcy`` and ``--family darcy`` are the same; both must agree."""
    family = values.get("family_arg")
    spec = overrides.get("family")
    if family is not None and spec is not None and family != spec:
        raise ConfigError(
            f"Two families given: {family!r} (argument) and {spec!r} (--family); give one."
        )
    if family is not None:
        overrides = {**overrides, "family": family}
    return overrides


def _generate_settings(file: Path | None, overrides: dict[str, Any]) -> str:
    from .catalog import generate_settings_yaml

    return generate_settings_yaml(file=file, overrides=overrides)


def _generate_dry_run(cfg: GenerateConfig) -> str:
    from .catalog import generate_settings

    settings, _ = generate_settings(overrides=cfg.model_dump(exclude_defaults=True))
    state = "resume" if cfg.resume else ("overwrite" if cfg.overwrite else "create")
    if state == "create" and Path(cfg.out).exists():
        raise DataError(
            f"{cfg.out} exists; pass --resume to complete it or --overwrite to replace it"
        )
    return (
        f"dry run: would {state} {cfg.out}: {cfg.n} samples of {cfg.family} at resolution "
        f"{settings.get('resolution')} (options {settings.get('options')}), solver "
        f"{cfg.solver}, {cfg.workers} worker(s); nothing was written"
    )


_FAMILY_ARG = inspect.Parameter(
    "family_arg",
    inspect.Parameter.POSITIONAL_OR_KEYWORD,
    default=None,
    annotation=Annotated[
        str | None,
        typer.Argument(
            metavar="FAMILY",
            help="Problem family, e.g. darcy (see 'pdeflow families'), or a spec as "
            "--family takes.",
            show_default=False,
        ),
    ],
)

#: ``pdeflow generate`` (mounted by :mod:`pdeflow.cli`).
generate_command = config_command(
    GenerateConfig,
    _generate,
    flags={"family": "--family", "options": ("--option", "-o")},
    extra=[_FAMILY_ARG],
    translate=_family_argument,
    dry_run=_generate_dry_run,
    print_config=_generate_settings,
    shown_defaults={"resolution": "the family's, see 'families'", "chunk_size": "auto",
                    "preconditioner": "auto", "options": "the family's"},
)


# ---------------------------------------------------------------------- dataset ...
def _exists(path: str) -> Path:
    p = Path(path)
    if not p.exists():
        raise DataError(f"{p} not found")
    return p


def _info(cfg: DatasetInfoConfig) -> str:
    """Summarize a dataset: family, fields, completeness, damaged samples, solver statistics,
    provenance."""
    from .storage import format_info, info

    d = info(cfg.path, check=not cfg.quick)
    return json.dumps(d, indent=2, default=str) if cfg.as_json else format_info(d)


def _verify(cfg: VerifyConfig) -> str:
    """Check completeness, finiteness and checksums; exit 1 if anything is wrong."""
    from .storage import compact_ranges, verify

    path = cfg.path
    rep = verify(path, check_checksums=cfg.checksums)
    if rep.ok:
        return f"ok: {path}: {rep.n_done}/{rep.n_samples} samples complete and intact"
    for problem in rep.problems:
        typer.echo(f"problem: {problem}")
    if rep.damaged:
        from .repair import repair_command

        raise DataError(
            f"{path}: {len(rep.problems)} problem(s) found; {len(rep.damaged)} damaged "
            f"sample(s) ({compact_ranges(rep.damaged)}); repair with: {repair_command(path)}"
        )
    raise DataError(f"{path}: {len(rep.problems)} problem(s) found")


def _repair(cfg: RepairConfig) -> str:
    """Regenerate the damaged samples (unreadable or checksum mismatch) in place."""
    from .repair import repair

    return repair(cfg.path).summary()


def _export(cfg: ExportConfig) -> str:
    """Export a dataset through xarray: named dims, coords, attrs, per-sample status."""
    from .export import export_dataset

    out = None if cfg.out is None else Path(cfg.out)
    target = export_dataset(cfg.path, out, cfg.format, overwrite=cfg.overwrite)
    return f"wrote {target} ({cfg.format})"


def _show(cfg: ShowConfig) -> str:
    """Write a PNG of one sample's fields (one panel per field / time slice)."""
    from .show import show_sample

    out = None if cfg.out is None else Path(cfg.out)
    return f"wrote {show_sample(cfg.path, cfg.sample, out)}"


def _would(action: str) -> Any:
    def dry_run(cfg: Any) -> str:
        return f"dry run: would {action} {_exists(cfg.path)}; nothing was read or written"

    return dry_run


_PATH = {"arguments": ("path",)}
info_command = dataset_app.command("info")(
    config_command(DatasetInfoConfig, _info, flags={"as_json": "--json"},
                   dry_run=_would("summarize"), **_PATH)
)
verify_command = dataset_app.command("verify")(
    config_command(VerifyConfig, _verify, dry_run=_would("verify"), **_PATH)
)
repair_dataset_command = dataset_app.command("repair")(
    config_command(RepairConfig, _repair, dry_run=_would("repair the damaged samples of"),
                   **_PATH)
)
export_command = dataset_app.command("export")(
    config_command(ExportConfig, _export, flags={"format": ("--format", "-f")},
                   dry_run=_would("export"), **_PATH)
)
show_command = dataset_app.command("show")(
    config_command(ShowConfig, _show, flags={"sample": ("--sample", "-i")},
                   dry_run=_would("draw a sample of"), **_PATH)
)


# ---------------------------------------------------------------------- families
def _families(cfg: FamiliesConfig) -> str:
    """List the problem families: where each comes from (built-in, entry point, file,
    module), their fields, and their options with defaults and docs."""
    from . import families
    from .catalog import describe_family, format_family

    described = [describe_family(name) for name in (cfg.names or families.names())]
    if cfg.as_json:
        return json.dumps([d.to_dict() for d in described], indent=2)
    return "\n\n".join(format_family(d) for d in described)


def _families_dry_run(cfg: FamiliesConfig) -> str:
    from . import families

    names = cfg.names or families.names()
    return f"dry run: would describe {len(names)} famil{'y' if len(names) == 1 else 'ies'}: " \
        f"{', '.join(names)}"


#: ``pdeflow families`` (mounted by :mod:`pdeflow.cli`; also ``pdeflow dataset families``).
families_command = dataset_app.command("families")(
    config_command(FamiliesConfig, _families, arguments=("names",),
                   flags={"as_json": "--json"}, dry_run=_families_dry_run)
)
