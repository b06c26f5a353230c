"""Validated configuration models.

Every configurable part of pdeflow (a CLI command, a data-generation run, a training
run) describes its settings as a subclass of :class:`PdeflowConfig`: a frozen pydantic
model that rejects unknown fields.  Values come from three layers, later ones winning::

    field defaults  <  config file (YAML, TOML or JSON)  <  overrides (e.g. CLI flags)

Any validation failure raises :class:`pdeflow.errors.ConfigError` with a one-line
message that names the source and the bad field, for example::

    config file run.yaml: field 'n_samples': Input should be greater than 0 (got -3)

Examples
--------
>>> from pydantic import Field
>>> class RunConfig(PdeflowConfig):
...     n_samples: int = Field(10, gt=0)
...     name: str = "run"
>>> RunConfig.merge(overrides={"n_samples": 5})
RunConfig(n_samples=5, name='run')
"""

from __future__ import annotations

import json
import math
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pdeflow.errors import ConfigError

__all__ = ["PdeflowConfig", "Threads", "load_mapping", "select_table", "format_validation_error"]

#: The ``threads`` field of every config that computes (``threads: Threads = None``):
#: threads of BLAS and torch, see :mod:`pdeflow.threads`.  ``None`` (the default) lets
#: pdeflow choose: ``pdeflow --threads N`` or ``$PDEFLOW_THREADS``, else the usable cores
#: (training: the cores other processes leave free; workers: cores ÷ workers each).
Threads = Annotated[
    int | None,
    Field(
        ge=1,
        description="threads for BLAS and torch (default: pdeflow --threads, $PDEFLOW_THREADS, "
        "else the free cores; generation splits them among the workers)",
    ),
]

_YAML_SUFFIXES = {".yaml", ".yml"}
_TOML_SUFFIXES = {".toml"}
_JSON_SUFFIXES = {".json"}
_MAX_INPUT_REPR = 60


class PdeflowConfig(BaseModel):
    """Base class of every pdeflow configuration model.

    Subclasses declare fields with types and constraints (``Field(gt=0)``, ``Literal``
    option sets, nested ``PdeflowConfig`` models).  Instances are immutable; unknown
    fields are errors.  Constructing an instance directly, loading it from a file or
    merging layers all raise :class:`~pdeflow.errors.ConfigError` on invalid input.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    def __init__(self, /, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise ConfigError(format_validation_error(exc, source=type(self).__name__)) from None

    # Tell pydantic this is not a custom __init__: model_validate() must keep raising
    # ValidationError (handled by merge), not route through this wrapper.
    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ loading
    @classmethod
    def from_file(cls, path: str | Path) -> Self:
        """Load and validate a configuration file.

        Parameters
        ----------
        path
            A ``.yaml``/``.yml``, ``.toml`` or ``.json`` file whose top level is a mapping
            of field names to values.

        Returns
        -------
        PdeflowConfig
            An instance of ``cls``; fields absent from the file keep their defaults.

        Raises
        ------
        ConfigError
            The file is missing, unreadable or unparseable, or a value is invalid.
        """
        return cls.merge(file=path)

    @classmethod
    def merge(
        cls,
        file: str | Path | None = None,
        overrides: Mapping[str, Any] | None = None,
        *,
        overrides_name: str = "overrides",
        table: str | Sequence[str] | None = None,
    ) -> Self:
        """Build a config from defaults, then a file, then explicit overrides.

        Parameters
        ----------
        file
            Optional configuration file (see :meth:`from_file`).  With ``table``, it may
            instead hold the fields in a table named after the command (see
            :func:`select_table`).
        overrides
            Values that win over the file, e.g. command-line flags.  Keys may be dotted
            (``"solver.tol"``) to set one field of a nested model; nested mappings are
            merged key by key rather than replaced.  Keys whose value is ``None`` are
            ignored, so unset CLI flags can be passed through as they are.
        overrides_name
            How error messages name the overrides (the CLI says "command-line flags").
        table
            The command's name (``"generate"``) or path (``("train", "fno")``): a file
            with a ``[generate]`` table (``generate:`` in YAML) is read from that table.

        Returns
        -------
        PdeflowConfig
            The validated, frozen instance.

        Raises
        ------
        ConfigError
            One line naming the source (file, overrides or defaults) and the bad field.
        """
        file_data: dict[str, Any] = load_mapping(file) if file is not None else {}
        if file is not None and table is not None:
            file_data = select_table(file_data, table, where=f"config file {file}")
        given = {k: v for k, v in (overrides or {}).items() if v is not None}
        override_data = _expand_dotted(given)
        data = _deep_merge(file_data, override_data)
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(
                format_validation_error(
                    exc,
                    source=cls.__name__,
                    file=Path(file) if file is not None else None,
                    file_data=file_data,
                    override_data=override_data,
                    overrides_name=overrides_name,
                )
            ) from None

    # ------------------------------------------------------------------ saving
    def to_file(self, path: str | Path) -> Path:
        """Write the config to ``path`` (format chosen by suffix) and return the path.

        ``from_file(to_file(p))`` gives back an equal model.  TOML has no null value, so a
        field set to ``None`` cannot be written as TOML (use YAML or JSON).

        Raises
        ------
        ConfigError
            Unknown suffix, or a value that the format cannot represent.
        """
        path = Path(path)
        data = self.model_dump(mode="json")
        suffix = path.suffix.lower()
        if suffix in _YAML_SUFFIXES:
            text = yaml.safe_dump(data, sort_keys=False)
        elif suffix in _TOML_SUFFIXES:
            text = _to_toml(data, where=path.name)
        elif suffix in _JSON_SUFFIXES:
            text = json.dumps(data, indent=2) + "\n"
        else:
            raise ConfigError(_unknown_suffix(path))
        path.write_text(text, encoding="utf-8")
        return path

    def to_yaml(self) -> str:
        """The config as YAML text (what ``--print-config`` shows)."""
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)


# ---------------------------------------------------------------------- file reading
def load_mapping(path: str | Path) -> dict[str, Any]:
    """Read a YAML/TOML/JSON file whose top level is a mapping.

    An empty YAML file reads as ``{}``.

    Raises
    ------
    ConfigError
        Missing or unreadable file, unknown suffix, parse error, or a top level that
        is not a mapping; the message names the file.
    """
    path = Path(path)
    where = f"config file {path}"
    suffix = path.suffix.lower()
    if suffix not in _YAML_SUFFIXES | _TOML_SUFFIXES | _JSON_SUFFIXES:
        raise ConfigError(_unknown_suffix(path))
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{where}: not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{where}: cannot be read ({_one_line(str(exc))})") from None
    try:
        if suffix in _YAML_SUFFIXES:
            data = yaml.safe_load(text)
            data = {} if data is None else data
        elif suffix in _TOML_SUFFIXES:
            data = tomllib.loads(text)
        else:
            data = json.loads(text)
    except (yaml.YAMLError, tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{where}: cannot be parsed: {_one_line(str(exc))}") from None
    if not isinstance(data, dict):
        raise ConfigError(
            f"{where}: the top level must be a mapping of field names to values, "
            f"got {type(data).__name__}"
        )
    return data


def select_table(
    data: Mapping[str, Any], table: str | Sequence[str], *, where: str = "config"
) -> dict[str, Any]:
    """The fields of one command from a file that may hold several commands' tables.

    A file whose top level has a table named after the command (``[generate]`` in TOML,
    ``generate:`` in YAML; ``[train.fno]`` for a subcommand) is read from that table; the
    other tables are left to their commands.  A file without it is taken as it is, a flat
    mapping of field names to values.

    Parameters
    ----------
    data
        The file's top-level mapping.
    table
        Command name, or the names of a command path (``("train", "fno")``).
    where
        How errors name the file.

    Returns
    -------
    dict
        The command's fields.

    Raises
    ------
    ConfigError
        The table is not a mapping, or plain values sit beside it at the top level (they
        would be ignored).

    Examples
    --------
    >>> select_table({"generate": {"n": 4}, "train": {"epochs": 2}}, "generate")
    {'n': 4}
    >>> select_table({"n": 4}, "generate")
    {'n': 4}
    """
    path = (table,) if isinstance(table, str) else tuple(table)
    node: Any = data
    for depth, name in enumerate(path):
        if not isinstance(node, Mapping) or name not in node:
            return dict(node)  # the deepest table given holds the fields
        strays = sorted(k for k, v in node.items() if k != name and not isinstance(v, Mapping))
        if strays:
            label = ".".join(path[: depth + 1])
            raise ConfigError(
                f"{where}: fields {strays} sit outside the [{label}] table and would be "
                f"ignored; move them into [{label}]"
            )
        node = node[name]
        if not isinstance(node, Mapping):
            label = ".".join(path[: depth + 1])
            raise ConfigError(
                f"{where}: '{label}' must be a table of settings, got {type(node).__name__}"
            )
    return dict(node)


def _unknown_suffix(path: Path) -> str:
    return (
        f"config file {path}: unknown format {path.suffix or '(no suffix)'!r}; "
        "use .yaml, .yml, .toml or .json"
    )


# ---------------------------------------------------------------------- error messages
def format_validation_error(
    exc: ValidationError,
    *,
    source: str,
    file: Path | None = None,
    file_data: Mapping[str, Any] | None = None,
    override_data: Mapping[str, Any] | None = None,
    overrides_name: str = "overrides",
) -> str:
    """Turn a pydantic ``ValidationError`` into one line naming where each bad value came from.

    Each error is attributed to the overrides if its top-level field was overridden, else to
    the file if the file set it, else to ``source`` (the model's defaults or constructor).
    Several errors are joined with ``"; "``.
    """
    parts = []
    for err in exc.errors(include_url=False):
        loc = tuple(err.get("loc", ()))
        top = loc[0] if loc else None
        if override_data is not None and top in override_data:
            where = overrides_name
        elif file is not None and file_data is not None and top in file_data:
            where = f"config file {file}"
        elif file is not None and err.get("type") == "missing":
            where = f"config file {file}"
        else:
            where = source
        field = ".".join(str(p) for p in loc) or "(top level)"
        parts.append(f"{where}: field '{field}': {_describe(err)}")
    return "; ".join(parts)


def _describe(err: Mapping[str, Any]) -> str:
    kind = err.get("type")
    if kind == "extra_forbidden":
        return "unknown field (check the spelling; unknown fields are not allowed)"
    if kind == "missing":
        return "required field is missing"
    msg = _one_line(str(err.get("msg", "invalid value")))
    if kind == "value_error":
        msg = msg.removeprefix("Value error, ")
    if "input" in err:
        shown = repr(err["input"])
        if len(shown) > _MAX_INPUT_REPR:
            shown = shown[: _MAX_INPUT_REPR - 3] + "..."
        msg += f" (got {shown})"
    return msg


def _one_line(text: str) -> str:
    return " ".join(text.split())


# ---------------------------------------------------------------------- merging
def _expand_dotted(data: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        parts = str(key).split(".")
        node = out
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[parts[-1]] = value
    return out


def _deep_merge(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


# ---------------------------------------------------------------------- TOML writing
def _to_toml(data: Mapping[str, Any], *, where: str) -> str:
    lines: list[str] = []
    _emit_table(data, prefix=(), lines=lines, where=where)
    return "\n".join(lines).strip() + "\n"


def _emit_table(data: Mapping[str, Any], prefix: tuple[str, ...], lines: list[str], where: str):
    tables = {k: v for k, v in data.items() if isinstance(v, Mapping)}
    if prefix:
        lines.append("")
        lines.append("[" + ".".join(_toml_key(p) for p in prefix) + "]")
    for key, value in data.items():
        if key in tables:
            continue
        lines.append(f"{_toml_key(key)} = {_toml_value(value, (*prefix, key), where)}")
    for key, value in tables.items():
        _emit_table(value, (*prefix, key), lines, where)


def _toml_key(key: str) -> str:
    key = str(key)
    if key and all(c.isalnum() or c in "-_" for c in key) and key.isascii():
        return key
    return json.dumps(key)


def _toml_value(value: Any, loc: tuple[str, ...], where: str) -> str:
    if value is None:
        raise ConfigError(
            f"config file {where}: field '{'.'.join(loc)}': TOML has no null value; "
            "write the config as YAML or JSON instead"
        )
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v, loc, where) for v in value) + "]"
    if isinstance(value, Mapping):
        items = ", ".join(
            f"{_toml_key(k)} = {_toml_value(v, (*loc, k), where)}" for k, v in value.items()
        )
        return "{" + items + "}"
    raise ConfigError(
        f"config file {where}: field '{'.'.join(loc)}': cannot write {type(value).__name__} as TOML"
    )
