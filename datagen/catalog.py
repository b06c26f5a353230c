"""What each problem family takes: its options with defaults and docs, and its fields.

This is what ``pdeflow families`` (and ``pdeflow dataset families``) prints.  A family is a
frozen dataclass whose fields are its options; the defaults come from the dataclass and the
docs from the ``Options``/``Parameters`` section of its numpy-style docstring.

Examples
--------
>>> d = describe_family("darcy")
>>> [(o.name, o.default) for o in d.options][:4]
[('resolution', 64), ('seed', 0), ('alpha', 2.0), ('tau', 3.0)]
>>> d.fields[0].name, d.fields[0].shape
('a', (64, 64))
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import families
from .families import FieldSpec

__all__ = [
    "FamilyOption",
    "FamilyDescription",
    "describe_family",
    "format_family",
    "generate_settings",
    "generate_settings_yaml",
]

#: options that ``pdeflow generate`` sets through its own flags, not ``--option``
_FLAGS = {"resolution": "--resolution", "seed": "--seed"}
_SECTIONS = ("Options", "Parameters")
_ENTRY = re.compile(r"^(?P<names>[A-Za-z_]\w*(?:\s*,\s*[A-Za-z_]\w*)*)\s*(?::\s*(?P<type>.*))?$")


@dataclass(frozen=True)
class FamilyOption:
    """One option of a family.

    Attributes
    ----------
    name : str
    type : str
        As the docstring gives it (``{"spectral", "lax-wendroff"}``), else the annotation.
    default : Any
        The dataclass default (JSON-serializable).
    doc : str
        One paragraph from the docstring ("" when it has none).
    flag : str or None
        The ``pdeflow generate`` flag that sets it (``--resolution``), or None: ``-o KEY=VALUE``.
    """

    name: str
    type: str
    default: Any
    doc: str
    flag: str | None = None


@dataclass(frozen=True)
class FamilyDescription:
    """A family's summary line, options (in declaration order) and default-size fields.

    ``source`` says where it comes from: ``built-in``, ``entry point <dist>``,
    ``file <path>`` or ``module <module>``.
    """

    name: str
    summary: str
    options: tuple[FamilyOption, ...]
    fields: tuple[FieldSpec, ...]
    source: str = "built-in"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (``pdeflow families --json``)."""
        return {
            "name": self.name,
            "source": self.source,
            "summary": self.summary,
            "options": [dataclasses.asdict(o) for o in self.options],
            "fields": [
                {**dataclasses.asdict(f), "shape": list(f.shape), "axes": list(f.axes)}
                for f in self.fields
            ],
        }


def describe_family(name: str) -> FamilyDescription:
    """Options (defaults, docs) and fields (at the default size) of family ``name``.

    Parameters
    ----------
    name
        A registered family (``pdeflow.datagen.families.names()``), or a spec
        (``file.py:obj``, ``package.module:obj``); an instance's values are its defaults.

    Returns
    -------
    FamilyDescription

    Raises
    ------
    ConfigError
        Unknown family (the message lists the known ones).
    """
    cls = families.family_class(name)
    family = families.get(name)
    instance = families.is_spec(name) and not isinstance(families.load(name), type)
    doc = inspect.getdoc(cls) or ""
    docs = _option_docs(doc)
    options = []
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if not f.init:
            continue
        default = f.default if f.default is not dataclasses.MISSING else None
        if instance:  # a spec naming an instance: its values are the defaults
            default = getattr(family, f.name, default)
        type_text, text = docs.get(f.name, (None, ""))
        options.append(
            FamilyOption(f.name, type_text or _annotation(f.type), default, text,
                         _FLAGS.get(f.name))
        )
    fields = tuple(family.fields().values())
    summary = doc.split("\n\n", 1)[0].replace("\n", " ").strip()
    return FamilyDescription(family.name, summary, tuple(options), fields, _source(name, family))


def _source(name: str, family: families.Family) -> str:
    """Where family ``name`` comes from (a spec: its file or module)."""
    return families.spec_source(name) if families.is_spec(name) else families.source(name)


def _annotation(annotation: Any) -> str:
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "")
    return re.sub(r"Literal\[(.*)\]", r"{\1}", str(text))


def _option_docs(doc: str) -> dict[str, tuple[str | None, str]]:
    """``{option: (type, text)}`` from a numpy-style ``Options``/``Parameters`` section."""
    lines = doc.splitlines()
    out: dict[str, tuple[str | None, str]] = {}
    start = next(
        (i + 2 for i in range(len(lines) - 1)
         if lines[i].strip() in _SECTIONS and set(lines[i + 1].strip()) == {"-"}),
        None,
    )
    if start is None:
        return out
    names: list[str] = []
    type_text: str | None = None
    body: list[str] = []

    def flush() -> None:
        for n in names:
            out[n] = (type_text, " ".join(body))

    for i in range(start, len(lines)):
        line = lines[i]
        nxt = lines[i + 1].strip() if i + 1 < len(lines) else ""
        if line and not line[0].isspace() and nxt and set(nxt) == {"-"}:
            break  # the next section
        if not line.strip():
            continue
        if line[0].isspace():
            body.append(line.strip())
            continue
        m = _ENTRY.match(line.strip())
        if m is None:
            break
        flush()
        names = [n.strip() for n in m["names"].split(",")]
        type_text = (m["type"] or "").strip() or None
        body = []
    flush()
    return out


def format_family(desc: FamilyDescription, width: int = 100) -> str:
    """Plain text for a terminal: summary, fields, then one line group per option.

    Examples
    --------
    >>> print(format_family(describe_family("darcy")).splitlines()[0])
    darcy: Darcy flow as in the SKR paper: ``-∇·(a ∇u) = 1``, ``a = exp(GRF)``, cell-centred FV.
    """
    lines = [f"{desc.name}: {desc.summary}", f"  source: {desc.source}",
             "  fields (at the default size):"]
    for f in desc.fields:
        shape = "x".join(map(str, f.shape))
        lines.append(f"    {f.name:<10} {f.role:<6} {shape:<10} axes {','.join(f.axes):<7} "
                     f"{f.description}".rstrip())
    lines.append(f"  options (pdeflow generate {desc.name} -o KEY=VALUE, or an 'options:' "
                 "table in the config):")
    name_w = max(len(o.name) for o in desc.options)
    for o in desc.options:
        head = f"    {o.name:<{name_w}}  default {o.default!r}  ({o.type})"
        if o.flag:
            head += f"  [set with {o.flag}]"
        lines.append(head)
        if o.doc:
            lines.extend(textwrap.wrap(o.doc, width=width, initial_indent=" " * 8,
                                       subsequent_indent=" " * 8))
    return "\n".join(lines)


# ------------------------------------------------------------------ --print-config
#: stand-ins that let a partial config validate; never shown
_PLACEHOLDERS = {"family": "(not given)", "n": 1, "out": "(not given)"}


def generate_settings(
    file: str | Path | None = None, overrides: Mapping[str, Any] | None = None
) -> tuple[dict[str, Any], list[str]]:
    """The settings ``pdeflow generate`` would run with, family defaults filled in.

    Unlike :meth:`GenerateConfig.merge`, the required fields may be missing, so that
    ``pdeflow generate darcy --print-config`` shows what ``darcy`` takes before ``--n`` and
    ``--out`` are chosen.

    Parameters
    ----------
    file
        Config file: flat, or with a ``[generate]`` table.
    overrides
        Flag values (``None``: not given; dotted keys such as ``"options.alpha"``).

    Returns
    -------
    settings : dict
        Validated settings (JSON types); when the family is known, ``resolution`` is the
        one it will use and ``options`` holds every family option but ``resolution`` and
        ``seed``, defaults included.  Required fields not given are absent.
    missing : list of str
        The required fields not given (``n``, ``out``, ``family``).

    Raises
    ------
    ConfigError
        An invalid value, unknown field or unknown family option, as ``generate`` says it.

    Examples
    --------
    >>> settings, missing = generate_settings(overrides={"family": "darcy"})
    >>> settings["resolution"], settings["options"], missing
    (64, {'alpha': 2.0, 'tau': 3.0, 'coefficient': 'lognormal', 'dim': 2}, ['n', 'out'])
    """
    from pdeflow.config import load_mapping, select_table

    from .config import GenerateConfig

    given_flags = {k: v for k, v in (overrides or {}).items() if v is not None}
    given = {str(k).split(".")[0] for k in given_flags}
    if file is not None:
        given |= set(select_table(load_mapping(file), "generate", where=f"config file {file}"))
    missing = [k for k in _PLACEHOLDERS if k not in given]
    stand_ins = {k: _PLACEHOLDERS[k] for k in missing}
    cfg = GenerateConfig.merge(
        file=file,
        overrides={**stand_ins, **given_flags},
        overrides_name="command-line flags",
        table="generate",
    )
    settings = cfg.model_dump(mode="json")
    if "family" not in missing:
        from .pipeline import build_family

        options = build_family(cfg).options()
        settings["resolution"] = options.pop("resolution")
        options.pop("seed", None)
        settings["options"] = options
    for k in missing:
        settings.pop(k)
    return settings, missing


def generate_settings_yaml(
    file: str | Path | None = None, overrides: Mapping[str, Any] | None = None
) -> str:
    """:func:`generate_settings` as YAML, with a comment naming the required fields not given."""
    import yaml

    settings, missing = generate_settings(file, overrides)
    head = f"# required, not given yet: {', '.join(missing)}\n" if missing else ""
    return head + yaml.safe_dump(settings, sort_keys=False)
