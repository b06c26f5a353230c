"""The ``pdeflow`` command line.

Every command is thin: parse flags, build a validated config with :func:`resolve_config`
(defaults < ``--config FILE`` < flags), call the library, print.

Global options (before the command name)::

    pdeflow --version
    pdeflow --config run.yaml COMMAND ...     # the file holds COMMAND's config fields,
                                              # flat or in a [COMMAND] table (TOML)
    pdeflow --print-config COMMAND ...        # show the resolved config and exit
    pdeflow --threads N COMMAND ...           # threads of BLAS and torch (default: free cores)

Errors are one line on stderr (``error: ...``), never a traceback; set
``PDEFLOW_DEBUG=1`` to see the traceback of a pdeflow error.  Exit codes:

====  ==========================================================
0     success
1     a pdeflow error (:class:`pdeflow.errors.PdeflowError`)
2     bad usage: unknown option or command, invalid config value
130   interrupted
====  ==========================================================

Every command takes ``--config FILE``, ``--print-config`` and ``--dry-run`` as well.

Adding a command
----------------
Declare a :class:`pdeflow.config.PdeflowConfig` subclass next to the library code and let
:func:`pdeflow.commands.config_command` turn its fields into options; it resolves them
with :func:`resolve_config` (defaults < file < flags) and adds ``--config``,
``--print-config`` and ``--dry-run``::

    from pdeflow.datagen.config import GenerateConfig
    from pdeflow.datagen.pipeline import generate

    app.command("generate")(config_command(GenerateConfig, generate))
    # pdeflow generate --family darcy --n 64 --out d.h5 --dry-run
"""

from __future__ import annotations

import inspect
import json
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer

import pdeflow
from pdeflow.commands import CliState, config_command, resolve_config
from pdeflow.errors import ConfigError, PdeflowError

try:  # recent typer vendors its own copy of click
    from typer._click import exceptions as _click_exceptions
except ImportError:  # older typer runs on click itself
    from click import exceptions as _click_exceptions

__all__ = ["app", "main", "resolve_config", "CliState"]

_ClickException = _click_exceptions.ClickException
_UsageError = _click_exceptions.UsageError
_NoArgsIsHelpError = getattr(_click_exceptions, "NoArgsIsHelpError", ())  # click >= 8.2
_Abort = (typer.Abort, getattr(_click_exceptions, "Abort", typer.Abort))

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

app = typer.Typer(
    name="pdeflow",
    help="pdeflow: scientific machine learning on PDEs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"pdeflow {pdeflow.__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    ctx: typer.Context,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_show_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            metavar="FILE",
            help="YAML/TOML/JSON file with the command's settings; flags override it.",
        ),
    ] = None,
    print_config: Annotated[
        bool,
        typer.Option("--print-config", help="Print the command's resolved settings and exit."),
    ] = False,
    threads: Annotated[
        int | None,
        typer.Option(
            "--threads",
            min=1,
            metavar="N",
            help="Threads of BLAS and torch for this command (default: $PDEFLOW_THREADS, else "
            "the cores other processes leave free; Krylov solves use 1 BLAS thread; "
            "'generate' splits N among its workers).",
            show_default=False,
        ),
    ] = None,
) -> None:
    from pdeflow.threads import configured_threads, set_threads

    if threads is None:
        threads = configured_threads()  # $PDEFLOW_THREADS (a bad value is a one-line error)
    if threads is not None:
        set_threads(threads)
    ctx.obj = CliState(config_file=config, print_config=print_config, threads=threads)


def _info_format(values: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    as_json = values.get("as_json")
    if as_json is None:
        return overrides
    return {**overrides, "format": "json" if as_json else "table"}


def _run_info(config: Any) -> None:
    """Show versions of every dependency and which backends work here."""
    from pdeflow import info as info_lib

    document = info_lib.run(config)
    if config.format == "json":
        typer.echo(json.dumps(document, indent=2))
    else:
        _print_info_tables(document)


def _mount_info() -> None:
    from pdeflow.info import InfoConfig  # light: the probes import their libraries lazily

    as_json = inspect.Parameter(
        "as_json",
        inspect.Parameter.KEYWORD_ONLY,
        default=None,
        annotation=Annotated[
            bool | None, typer.Option("--json/--table", help="Machine-readable JSON output.")
        ],
    )
    app.command("info")(
        config_command(
            InfoConfig,
            _run_info,
            flags={"probes": "--probe", "probe_timeout": "--timeout"},
            exclude=("format",),
            extra=[as_json],
            translate=_info_format,
        )
    )


def _print_info_tables(document: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not console.is_terminal:  # logs and pipes: do not squeeze the tables into 80 columns
        console = Console(width=120)
    env = document["environment"]
    console.print(
        f"[bold]pdeflow {env['pdeflow']}[/bold]  Python {env['python']}  {env['platform']}",
        highlight=False,
    )
    packages = Table(title="Dependencies", title_justify="left")
    for column in ("package", "group", "required", "installed"):
        packages.add_column(column)
    for p in document["packages"]:
        installed = p["version"] or "[red]not installed[/red]"
        if p["provided_by"]:
            installed += f" [dim](in {p['provided_by']})[/dim]"
        packages.add_row(p["name"], p["group"], p["required"], installed)
    console.print(packages)
    if document["capabilities"] is None:
        return
    caps = Table(title="Capabilities", title_justify="left")
    caps.add_column("capability")
    caps.add_column("usable")
    caps.add_column("detail / reason", overflow="fold")
    for c in document["capabilities"]:
        usable = "[green]yes[/green]" if c["usable"] else "[red]no[/red]"
        caps.add_row(c["name"], usable, c["detail"])
    console.print(caps)


# ---------------------------------------------------------------------- entry point
def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _mount_subcommands() -> None:
    """Subcommands owned by other subpackages: ``pdeflow generate``, ``pdeflow families``,
    ``pdeflow dataset ...``, ``pdeflow train MODEL``, ``pdeflow evaluate`` and
    ``pdeflow demo`` (which uses both datagen and operators)."""
    from pdeflow.datagen.cli import dataset_app, families_command, generate_command
    from pdeflow.demo import demo_command
    from pdeflow.operators.cli import evaluate, train_app

    _mount_info()
    app.command("generate")(generate_command)
    app.command("families")(families_command)
    app.add_typer(dataset_app, name="dataset")
    app.add_typer(train_app, name="train")
    app.command("evaluate")(evaluate)
    app.command("demo")(demo_command)


_mount_subcommands()


def _debug() -> bool:
    """``PDEFLOW_DEBUG`` set to anything but empty, 0, false, no or off."""
    value = os.environ.get("PDEFLOW_DEBUG", "").strip().lower()
    return value not in ("", "0", "false", "no", "off")


def _error(message: str) -> None:
    sys.stderr.write(f"error: {_one_line(message)}\n")
    sys.stderr.flush()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit code (the ``pdeflow`` console script).

    Parameters
    ----------
    argv
        Arguments without the program name; default ``sys.argv[1:]``.

    Returns
    -------
    int
        0 on success, 1 for a :class:`~pdeflow.errors.PdeflowError`, 2 for bad usage or
        an invalid config, 130 when interrupted.  Errors are printed as one line on
        stderr.
    """
    command = typer.main.get_command(app)
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        result = command.main(args=args, prog_name="pdeflow", standalone_mode=False)
    except _NoArgsIsHelpError as exc:
        typer.echo(exc.ctx.get_help())
        return 0
    except _UsageError as exc:
        hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
        _error(exc.format_message() + hint)
        return exc.exit_code
    except _ClickException as exc:
        _error(exc.format_message())
        return exc.exit_code
    except _Abort:
        _error("interrupted")
        return EXIT_INTERRUPTED
    except PdeflowError as exc:
        if _debug():
            traceback.print_exc()
        _error(str(exc) or type(exc).__name__)
        return EXIT_USAGE if isinstance(exc, ConfigError) else EXIT_ERROR
    if isinstance(result, bool) or not isinstance(result, int):
        return 0
    return result


if __name__ == "__main__":
    sys.exit(main())
