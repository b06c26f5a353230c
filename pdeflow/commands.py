"""One CLI path: a command's options come from its pydantic config class.

:func:`config_command` turns a :class:`~pdeflow.config.PdeflowConfig` subclass and a
function that runs it into a typer command.  Every field becomes an option (nested
configs are flattened: ``trainer.epochs`` is ``--epochs``, or ``--trainer-epochs`` where two
fields share a name), and every command gets the same three options:

- ``--config FILE`` (``-c``): a YAML/TOML/JSON file, flat or with a table named after the
  command (``[generate]``, ``[train.fno]``); flags win over the file, the file over the
  defaults;
- ``--print-config``: print the resolved settings as YAML and exit;
- ``--dry-run``: validate the settings (and whatever the command checks cheaply), say what
  would run, and exit.

A bad value, in a file or a flag, is a one-line :class:`~pdeflow.errors.ConfigError` that
names the source and the field.  Field types map to options as follows: ``bool`` is a
``--x/--no-x`` switch, ``int``/``float``/``str`` take one value, lists and tuples take
``--x 1,2`` or a repeated ``--x``, mappings take repeated ``--x KEY=VALUE`` (YAML values),
anything else one YAML value.  Fields named ``threads`` are set by the global
``pdeflow --threads N``.

Examples
--------
>>> import typer
>>> from typer.testing import CliRunner
>>> from pydantic import Field
>>> from pdeflow.config import PdeflowConfig
>>> class HelloConfig(PdeflowConfig):
...     name: str = "world"
...     times: int = Field(1, ge=1)
>>> app = typer.Typer()
>>> _ = app.command("hello")(config_command(
...     HelloConfig, lambda cfg: print(("hello " + cfg.name + " ") * cfg.times)))
>>> print(CliRunner().invoke(app, ["--name", "pde", "--print-config"]).output.strip())
name: pde
times: 1
>>> print(CliRunner().invoke(app, ["--times", "0"]).exception)
command-line flags: field 'times': Input should be greater than or equal to 1 (got 0)
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from pydantic import BaseModel

from pdeflow.config import PdeflowConfig
from pdeflow.errors import ConfigError

__all__ = ["CliState", "Option", "config_command", "config_options", "resolve_config"]


@dataclass(frozen=True)
class CliState:
    """Global options shared by every command (``ctx.obj`` of the root command)."""

    config_file: Path | None = None
    print_config: bool = False
    threads: int | None = None


def _state(ctx: typer.Context) -> CliState:
    found = ctx.find_object(CliState)
    return found if found is not None else CliState()


def resolve_config[C: PdeflowConfig](
    ctx: typer.Context,
    model: type[C],
    *,
    config_file: Path | str | None = None,
    print_config: bool = False,
    **flags: Any,
) -> C:
    """Build ``model`` from its defaults, a config file, then ``flags``.

    Parameters
    ----------
    ctx
        The command's context (declare ``ctx: typer.Context`` in the command).
    model
        The command's config class.
    config_file
        The command's ``--config`` file; default: the global ``pdeflow --config``.
    print_config
        Print the resolved config as YAML and exit 0 (also with the global option).
    **flags
        Flag values by (dotted) field path; ``None`` means "not given".

    Returns
    -------
    PdeflowConfig
        The validated config.

    Raises
    ------
    ConfigError
        A bad file or value (one line naming the field).
    """
    state = _state(ctx)
    given = _with_threads(state, model, flags)
    config = model.merge(
        file=config_file if config_file is not None else state.config_file,
        overrides=given,
        overrides_name="command-line flags",
        table=_command_table(ctx),
    )
    if print_config or state.print_config:
        typer.echo(config.to_yaml(), nl=False)
        raise typer.Exit(0)
    return config


def _with_threads(state: CliState, model: type[BaseModel], flags: Mapping[str, Any]) -> dict:
    """The given flags, and ``pdeflow --threads N`` in every ``threads`` field not set."""
    given = {k: v for k, v in flags.items() if v is not None}
    if state.threads is not None:
        for path in _threads_fields(model):
            given.setdefault(path, state.threads)
    return given


def _command_table(ctx: typer.Context) -> tuple[str, ...]:
    """``("train", "fno")`` for ``pdeflow train fno``: the config file's table for it."""
    return tuple(ctx.command_path.split()[1:])


def _threads_fields(model: type[BaseModel], prefix: str = "") -> list[str]:
    out = []
    for name, info in model.model_fields.items():
        sub = _submodel(info.annotation)
        if sub is not None:
            out += _threads_fields(sub, f"{prefix}{name}.")
        elif name == "threads":
            out.append(prefix + name)
    return out


# ---------------------------------------------------------------------- options
@dataclass(frozen=True)
class Option:
    """One command-line option derived from a config field.

    Attributes
    ----------
    path : str
        Dotted field path (``"trainer.epochs"``).
    decls : tuple of str
        Option declarations (``("--epochs",)``).
    kind : str
        ``"bool"``, ``"scalar"``, ``"list"``, ``"mapping"`` or ``"yaml"``.
    python_type : type
        What typer parses the value as.
    help : str
        The field's description.
    default : Any
        The field's default (shown in ``--help``), or ``None`` when required.
    choices : tuple of str
        The values of a ``Literal`` field (shown in ``--help``; pydantic checks them).
    required : bool
        The field has no default.
    """

    path: str
    decls: tuple[str, ...]
    kind: str
    python_type: Any
    help: str
    default: Any = None
    choices: tuple[str, ...] = ()
    required: bool = False

    @property
    def param(self) -> str:
        """The Python parameter name of the option."""
        return "opt_" + self.path.replace(".", "__")

    def overrides(self, value: Any) -> dict[str, Any]:
        """The dotted overrides of one given value (``{}`` when not given)."""
        if value is None or value == [] or value == ():
            return {}
        if self.kind == "list":
            return {self.path: [p for v in value for p in str(v).replace(" ", "").split(",") if p]}
        if self.kind == "mapping":
            return {f"{self.path}.{k}": v for k, v in _pairs(value, self.decls[0]).items()}
        if self.kind == "yaml":
            import yaml

            return {self.path: yaml.safe_load(value)}
        return {self.path: value}


def _pairs(items: Sequence[str], flag: str) -> dict[str, Any]:
    """``["alpha=2.5", "nu=1e-4"]`` -> ``{"alpha": 2.5, "nu": 1e-4}`` (YAML values)."""
    import yaml

    out: dict[str, Any] = {}
    for pair in items:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{flag} expects KEY=VALUE, got {pair!r}")
        out[key.strip()] = yaml.safe_load(value)
    return out


def _strip_optional(annotation: Any) -> Any:
    if typing.get_origin(annotation) is Annotated:
        annotation = typing.get_args(annotation)[0]
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return _strip_optional(args[0])
    return annotation


def _submodel(annotation: Any) -> type[BaseModel] | None:
    inner = _strip_optional(annotation)
    if isinstance(inner, type) and issubclass(inner, BaseModel):
        return inner
    return None


def _kind(annotation: Any) -> tuple[str, Any]:
    inner = _strip_optional(annotation)
    origin = typing.get_origin(inner)
    if inner is bool:
        return "bool", bool
    if inner in (int, float, str):
        return "scalar", inner
    if isinstance(inner, type) and issubclass(inner, Path):
        return "scalar", Path
    if origin is Literal:
        return "scalar", str
    if origin in (list, tuple, set, frozenset, Sequence):
        return "list", list[str]
    if origin in (dict, Mapping):
        return "mapping", list[str]
    return "yaml", str


def _leaves(model: type[BaseModel], prefix: str = "") -> list[tuple[str, Any]]:
    out = []
    for name, info in model.model_fields.items():
        sub = _submodel(info.annotation)
        if sub is not None:
            out += _leaves(sub, f"{prefix}{name}.")
        else:
            out.append((prefix + name, info))
    return out


def config_options(
    model: type[PdeflowConfig],
    *,
    flags: Mapping[str, str | Sequence[str]] | None = None,
    exclude: Sequence[str] = (),
) -> list[Option]:
    """The options of ``model``'s fields (see the module docstring for the mapping).

    Parameters
    ----------
    model
        The config class.
    flags
        Field path -> option declaration(s), where the default ``--field-name`` does not
        fit (``{"options": ("--option", "-o")}``).
    exclude
        Field paths without an option (set from a file, another option or an argument).

    Returns
    -------
    list of Option
        One per field, in declaration order.

    Examples
    --------
    >>> from pdeflow.datagen.config import GenerateConfig
    >>> [(o.decls[0], o.kind) for o in config_options(GenerateConfig)][:3]
    [('--family', 'scalar'), ('--n', 'scalar'), ('--out', 'scalar')]
    >>> [o.decls for o in config_options(GenerateConfig) if o.kind != "scalar"][-1]
    ('--options',)
    """
    flags = dict(flags or {})
    leaves = [(p, i) for p, i in _leaves(model) if p not in exclude]
    leaves = [(p, i) for p, i in leaves if p.rsplit(".", 1)[-1] != "threads"]
    counts: dict[str, int] = {}
    for path, _ in leaves:
        leaf = path.rsplit(".", 1)[-1]
        counts[leaf] = counts.get(leaf, 0) + 1
    out = []
    for path, info in leaves:
        leaf = path.rsplit(".", 1)[-1]
        name = leaf if counts[leaf] == 1 or "." not in path else path.replace(".", "-")
        kind, python_type = _kind(info.annotation)
        given = flags.get(path)
        if given is None:
            flag = "--" + name.replace("_", "-")
            decls: tuple[str, ...] = (f"{flag}/--no-{flag[2:]}",) if kind == "bool" else (flag,)
        else:
            decls = (given,) if isinstance(given, str) else tuple(given)
        default = None if info.is_required() else info.get_default(call_default_factory=True)
        inner = _strip_optional(info.annotation)
        literal = typing.get_origin(inner) is Literal
        choices = tuple(map(str, typing.get_args(inner))) if literal else ()
        out.append(
            Option(
                path, decls, kind, python_type, info.description or "", default, choices,
                info.is_required(),
            )
        )
    return out


# ---------------------------------------------------------------------- commands
def _help(opt: Option) -> str | None:
    text = opt.help or ""
    if opt.kind == "mapping":
        text = f"{text or opt.path} (KEY=VALUE, repeatable)"
    elif opt.kind == "list":
        text = f"{text or opt.path} (comma-separated or repeated)"
    if opt.choices:
        text += f" ({', '.join(opt.choices)})"
    return text.strip() or None


def _shown_default(opt: Option, shown: Mapping[str, str]) -> str | bool:
    if opt.path in shown:
        return shown[opt.path]
    if opt.required:
        return "required"
    if opt.default is None or isinstance(opt.default, BaseModel | dict) or opt.default == []:
        return False
    return str(opt.default)


def _option_parameter(
    opt: Option, argument: bool, shown: Mapping[str, str] | None = None
) -> inspect.Parameter:
    if argument:
        info = typer.Argument(help=opt.help or None, show_default=False)
    else:
        default = _shown_default(opt, shown or {})
        info = typer.Option(*opt.decls, help=_help(opt), show_default=default)
    annotation = Annotated[opt.python_type | None, info]
    return inspect.Parameter(
        opt.param, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None, annotation=annotation
    )


_COMMON = [
    inspect.Parameter(
        "cli_config_file",
        inspect.Parameter.KEYWORD_ONLY,
        default=None,
        annotation=Annotated[
            Path | None,
            typer.Option(
                "--config",
                "-c",
                metavar="FILE",
                help="YAML/TOML/JSON settings: flat, or a table named after the command; "
                "flags override it.",
                show_default=False,
            ),
        ],
    ),
    inspect.Parameter(
        "cli_print_config",
        inspect.Parameter.KEYWORD_ONLY,
        default=False,
        annotation=Annotated[
            bool, typer.Option("--print-config", help="Print the resolved settings and exit.")
        ],
    ),
    inspect.Parameter(
        "cli_dry_run",
        inspect.Parameter.KEYWORD_ONLY,
        default=False,
        annotation=Annotated[
            bool,
            typer.Option("--dry-run", help="Check the settings, say what would run, and exit."),
        ],
    ),
]


def config_command(
    model: type[PdeflowConfig],
    run: Callable[[Any], Any],
    *,
    arguments: Sequence[str] = (),
    flags: Mapping[str, str | Sequence[str]] | None = None,
    exclude: Sequence[str] = (),
    extra: Sequence[inspect.Parameter] = (),
    translate: Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]] | None = None,
    dry_run: Callable[[Any], str] | None = None,
    print_config: Callable[[Path | None, dict[str, Any]], str] | None = None,
    help: str | None = None,
    shown_defaults: Mapping[str, str] | None = None,
) -> Callable[..., None]:
    """A typer command function whose options are ``model``'s fields.

    Parameters
    ----------
    model
        The command's config class.
    run
        Called with the validated config; whatever it returns (a string) is printed.
    arguments
        Fields also taken as positional arguments (in this order).
    flags, exclude
        Passed to :func:`config_options`.
    extra
        More parameters (``inspect.Parameter`` with typer annotations) for options that
        are not fields, e.g. ``--json`` for a ``format`` field; positional-or-keyword ones
        come first (arguments), the others after the field options.
    translate
        ``translate(extra_values, overrides) -> overrides``: the field overrides, with the
        extra parameters' values folded in.
    dry_run
        ``dry_run(config) -> text`` for ``--dry-run``; default: the settings are valid.
    print_config
        ``print_config(file, overrides) -> text`` for a command whose ``--print-config``
        shows more than the config (defaults that depend on other settings).
    help
        The command's help (default: ``run``'s docstring).
    shown_defaults
        Field path -> the default as ``--help`` shows it, where the field's own default
        (``None``) means something else ("auto", "the family's").

    Returns
    -------
    callable
        Register it with ``app.command(name)(function)``.
    """
    options = config_options(model, flags=flags, exclude=exclude)
    by_path = {o.path: o for o in options}
    unknown = [a for a in arguments if a not in by_path]
    if unknown:
        raise ConfigError(f"{model.__name__}: arguments {unknown} are not options of its fields")
    positional = [_option_parameter(by_path[a], True) for a in arguments]
    named = [
        _option_parameter(o, False, shown_defaults) for o in options if o.path not in arguments
    ]
    ctx_param = inspect.Parameter(
        "ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context
    )
    before = [p for p in extra if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD]
    after = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in extra if p not in before]
    params = [ctx_param, *before, *positional, *named]
    params += [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in _COMMON] + after

    def command(ctx: typer.Context, **values: Any) -> None:
        file = values.pop("cli_config_file", None)
        show = values.pop("cli_print_config", False)
        check = values.pop("cli_dry_run", False)
        overrides: dict[str, Any] = {}
        for opt in options:
            overrides.update(opt.overrides(values.pop(opt.param, None)))
        if translate is not None:
            overrides = translate(values, overrides)
        state = _state(ctx)
        if print_config is not None and (show or state.print_config):
            given = _with_threads(state, model, overrides)
            typer.echo(print_config(file or state.config_file, given), nl=False)
            raise typer.Exit(0)
        cfg = resolve_config(ctx, model, config_file=file, print_config=show, **overrides)
        if check:
            text = dry_run(cfg) if dry_run is not None else None
            typer.echo(text or f"dry run: the settings of '{ctx.command_path}' are valid; "
                       "nothing was run")
            return
        result = run(cfg)
        if isinstance(result, str):
            typer.echo(result)

    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in params}
    command.__doc__ = help if help is not None else inspect.getdoc(run)
    return command
