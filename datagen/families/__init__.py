"""Problem families for data generation: a registry, one module per family.

>>> from pdeflow.datagen import families
>>> sorted(families.names())[:3]
['advection', 'brusselator', 'burgers']
>>> fam = families.get("darcy", resolution=16)
>>> fam.fields()["a"].shape
(16, 16)

A family of your own is reached by a spec, ``path/to/file.py:obj`` or
``package.module:obj`` (:func:`load`; ``pdeflow generate --family SPEC``), or by an installed
package's entry point in the group ``pdeflow.families`` (name = family name, value =
``package.module:Class``).  Built-ins and entry points load lazily, on first lookup;
:func:`register` refuses to replace a name unless ``replace=True``.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.abc
import importlib.metadata
import importlib.util
import os
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any, overload

from pdeflow.errors import ConfigError

from ._base import (
    FIELD_DTYPES,
    STAT_NAMES,
    ChunkResult,
    Family,
    FieldSpec,
    LinearFamily,
    PointwiseFamily,
    SampleReport,
    SampleStatus,
    SharedMesh,
    SolverSettings,
    channel_layout,
    check_field_values,
)

__all__ = [
    "FIELD_DTYPES",
    "SampleReport",
    "SampleStatus",
    "SharedMesh",
    "check_field_values",
    "STAT_NAMES",
    "ChunkResult",
    "Family",
    "FieldSpec",
    "LinearFamily",
    "PointwiseFamily",
    "SolverSettings",
    "channel_layout",
    "register",
    "get",
    "names",
    "family_class",
    "load",
    "source",
    "is_spec",
    "canonical_spec",
    "spec_source",
    "ENTRY_POINT_GROUP",
    "from_rhs",
    "RHSFamily",
]



def __getattr__(attr: str) -> Any:
    """``from_rhs`` and ``RHSFamily`` load :mod:`.rhs` on first use."""
    if attr in ("from_rhs", "RHSFamily", "RHSSpec"):
        from . import rhs

        return getattr(rhs, attr)
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")


_REGISTRY: dict[str, type[Family]] = {}
#: family name -> where it comes from ("built-in", "entry point <dist>", "file <path>", ...)
_SOURCES: dict[str, str] = {}
#: names a user replaced (``replace=True``): a built-in module imported later keeps out
_REPLACED: set[str] = set()
# family name -> module of this package that defines (and registers) it
_MODULES = {
    "darcy": "darcy",
    "darcy-fno": "darcy",
    "poisson": "poisson",
    "poisson-cell": "poisson",
    "helmholtz": "helmholtz",
    "heat": "heat",
    "burgers": "burgers",
    "navier-stokes": "navier_stokes",
    "advection": "advection",
    "brusselator": "brusselator",
    "smoke-buoyancy": "smoke",
}
#: entry-point group through which installed packages add families
ENTRY_POINT_GROUP = "pdeflow.families"
#: prefix of the module names under which family files are imported (the rest is the
#: file's absolute path, hex-encoded, so that any process can import it again by name)
_FILE_PREFIX = "pdeflow_family_file_"


# ------------------------------------------------------------------ registration
@overload
def register[F: type[Family]](cls: F, *, replace: bool = False) -> F: ...
@overload
def register[F: type[Family]](
    cls: None = None, *, replace: bool = False
) -> Callable[[F], F]: ...
def register(cls: Any = None, *, replace: bool = False) -> Any:
    """Class decorator: add a family to the registry under ``cls.name``.

    Usable as ``@register`` and ``@register(replace=True)``.

    Parameters
    ----------
    cls
        A :class:`Family` subclass with a ``name``.
    replace
        Replace a family already registered (or built in) under that name.  Without it a
        name clash raises.  Registering the same class again, or a class of the same name
        redefined in the same module (a re-run notebook cell), is not a clash.

    Returns
    -------
    type
        ``cls`` unchanged (or the decorator, when called with keywords only).

    Raises
    ------
    ConfigError
        ``cls`` is not a Family subclass, has no ``name``, or its name is taken (the message
        names both sources).

    Examples
    --------
    >>> from pdeflow.datagen import families
    >>> Darcy = families.family_class("darcy")
    >>> families.register(type("Mine", (Darcy,), {"__module__": "mine"}))
    Traceback (most recent call last):
    ...
    pdeflow.errors.ConfigError: Family 'darcy' from module mine clashes with family 'darcy' \
from built-in (pdeflow.datagen.families.darcy); pass replace=True to register(...) to replace it.
    """
    if cls is None:
        return lambda c: _register(c, replace=replace)
    return _register(cls, replace=replace)


def _register[F: type[Family]](cls: F, *, replace: bool, source: str | None = None) -> F:
    if not (isinstance(cls, type) and issubclass(cls, Family)):
        raise ConfigError(f"register expects a Family subclass, got {_what(cls)}.")
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name:
        raise ConfigError(
            f"Family class {cls.__qualname__} ({_source_of(cls)}) has no 'name'; give it "
            "a class attribute name: ClassVar[str] = '...'."
        )
    new_source = source or _source_of(cls)
    builtin = _is_builtin(cls.__module__)
    if builtin and name in _REPLACED:
        return cls  # a user replaced this built-in before its module was imported
    old = _REGISTRY.get(name)
    if old is not None and _same_class(old, cls):
        _REGISTRY[name] = cls
        return cls
    taken = old is not None or (name in _MODULES and not builtin)
    if taken and not replace:
        raise ConfigError(
            f"Family {name!r} from {new_source} clashes with family {name!r} from "
            f"{_existing_source(name)}; pass replace=True to register(...) to replace it."
        )
    if taken:
        _REPLACED.add(name)
    _REGISTRY[name] = cls
    _SOURCES[name] = new_source
    return cls


def _same_class(old: type, new: type) -> bool:
    return old is new or (
        old.__module__ == new.__module__ and old.__qualname__ == new.__qualname__
    )


def _is_builtin(module: str) -> bool:
    """Whether ``module`` is one of this package's family modules (by file: the package
    may be imported under a second name, e.g. by a doctest runner)."""
    if module.startswith(f"{__name__}."):
        return True
    file = getattr(sys.modules.get(module), "__file__", None)
    return file is not None and Path(file).resolve().parent == Path(__file__).resolve().parent


def _existing_source(name: str) -> str:
    if name in _SOURCES:
        return _SOURCES[name]
    return f"built-in ({__name__}.{_MODULES[name]})"


def _source_of(obj: Any) -> str:
    """Where a class or object comes from: built-in, file <path> or module <name>."""
    module = getattr(obj, "__module__", None) or type(obj).__module__
    if _is_builtin(module):
        return f"built-in ({module})"
    if module.startswith(_FILE_PREFIX):
        return f"file {_path_of_module(module)}"
    return f"module {module}"


def source(name: str) -> str:
    """Where family ``name`` comes from: ``"built-in"``, ``"entry point <dist>"``,
    ``"file <path>"`` or ``"module <module>"``.

    Examples
    --------
    >>> from pdeflow.datagen import families
    >>> families.source("darcy")
    'built-in'
    """
    if name not in _REGISTRY and name in _MODULES and name not in _SOURCES:
        return "built-in"
    family_class(name)
    text = _SOURCES.get(name, "built-in")
    return "built-in" if text.startswith("built-in") else text


# ------------------------------------------------------------------ lookup
def names() -> list[str]:
    """Names of every family: built-in, registered, and added by entry points."""
    return sorted(set(_MODULES) | set(_REGISTRY) | set(_entry_points()))


def is_spec(name: str) -> bool:
    """Whether ``name`` is a ``file.py:obj`` or ``package.module:obj`` spec, not a name."""
    return ":" in name


def family_class(name: str) -> type[Family]:
    """The class of family ``name`` (imports its module on first use).

    ``name`` may also be a spec, ``path/to/file.py:obj`` or ``package.module:obj`` (see
    :func:`load`); an instance spec gives the instance's class.
    """
    if is_spec(name):
        obj = load(name)
        return obj if isinstance(obj, type) else type(obj)
    if name not in _REGISTRY and name in _MODULES:
        importlib.import_module(f"{__name__}.{_MODULES[name]}")
    if name not in _REGISTRY:
        _load_entry_point(name)
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError(f"Unknown family {name!r}; choose one of {names()}.") from None


def get(name: str, **options: Any) -> Family:
    """Build family ``name`` with ``options`` (unknown or invalid options raise
    :class:`~pdeflow.errors.ConfigError` naming the option).

    ``name`` is a registered name or a spec (``file.py:obj``, ``package.module:obj``) of a
    Family subclass (built with ``options``) or a Family instance (``options`` replace its
    own).
    """
    if is_spec(name):
        obj = load(name)
        if isinstance(obj, Family):
            return _with_options(type(obj), name, options, base=obj)
        return _with_options(obj, name, options)
    return _with_options(family_class(name), name, options)


def _with_options(
    cls: type[Family], name: str, options: dict[str, Any], base: Family | None = None
) -> Family:
    known = {f.name for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    unknown = sorted(set(options) - known)
    if unknown:
        raise ConfigError(
            f"Unknown option(s) {unknown} for family {name!r}; it takes {sorted(known)}."
        )
    if base is not None:
        return dataclasses.replace(base, **options)  # type: ignore[type-var]
    return cls(**options)


# ------------------------------------------------------------------ specs
def load(spec: str) -> type[Family] | Family:
    """The family object a spec names, registered under its name.

    Parameters
    ----------
    spec
        ``path/to/file.py:obj`` (the file is imported as a module of its own) or
        ``package.module:obj`` (imported from ``sys.path``); ``obj`` may be dotted
        (``module:Outer.family``).  It names a :class:`Family` subclass or instance.

    Returns
    -------
    type or Family
        The class or instance.  Its family name is registered (a class) so that a dataset's
        stored ``family`` resolves; another family of that name is a clash.

    Raises
    ------
    ConfigError
        One line: the file does not exist, the module cannot be imported (naming it and the
        ImportError), the attribute is missing (naming the file or module and the attribute),
        the object is not a Family, or its name clashes with another family (naming both).
    """
    where, attr = _split(spec)
    module, place = _import_spec_module(where, spec)
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ConfigError(
                f"Family spec {spec!r}: {place} has no attribute {attr!r}."
            )
        obj = getattr(obj, part)
    if isinstance(obj, type) and issubclass(obj, Family):
        cls = obj
    elif isinstance(obj, Family):
        cls = type(obj)
    else:
        raise ConfigError(
            f"Family spec {spec!r}: {attr!r} in {place} is {_what(obj)}, not a Family "
            "subclass or instance."
        )
    if obj is cls and not getattr(cls, "__abstractmethods__", None):
        _register(cls, replace=False, source=place)
    return obj


def canonical_spec(name: str) -> str:
    """``name`` with a file spec's path made absolute (a name or module spec unchanged)."""
    if not is_spec(name):
        return name
    where, attr = _split(name)
    if _is_file(where):
        return f"{Path(where).expanduser().resolve()}:{attr}"
    return name


def spec_source(spec: str) -> str:
    """Where a spec's object comes from: ``file <absolute path>`` or ``module <name>``."""
    where, _ = _split(spec)
    if _is_file(where):
        return f"file {Path(where).expanduser().resolve()}"
    return f"module {where}"


def _split(spec: str) -> tuple[str, str]:
    where, _, attr = spec.rpartition(":")
    if not where or not attr or not all(p.isidentifier() for p in attr.split(".")):
        raise ConfigError(
            f"Family spec {spec!r}: expected path/to/file.py:NAME or package.module:NAME."
        )
    return where, attr


def _is_file(where: str) -> bool:
    return where.endswith(".py") or "/" in where or os.sep in where


def _import_spec_module(where: str, spec: str) -> tuple[ModuleType, str]:
    if _is_file(where):
        path = Path(where).expanduser().resolve()
        if not path.is_file():
            raise ConfigError(f"Family spec {spec!r}: file {where} does not exist.")
        place = f"file {path}"
        module_name = _module_of_path(path)
    else:
        place, module_name = f"module {where}", where
    try:
        return importlib.import_module(module_name), place
    except ConfigError:
        raise
    except ImportError as exc:
        raise ConfigError(
            f"Family spec {spec!r}: cannot import {place}: {_one_line(exc)}"
        ) from None
    except Exception as exc:  # noqa: BLE001 - user code failed while importing
        raise ConfigError(
            f"Family spec {spec!r}: importing {place} raised {type(exc).__name__}: "
            f"{_one_line(exc)}"
        ) from None


def _module_of_path(path: Path) -> str:
    return _FILE_PREFIX + str(path).encode().hex()


def _path_of_module(module: str) -> str:
    return bytes.fromhex(module[len(_FILE_PREFIX):].split(".")[0]).decode()


class _FamilyFileFinder(importlib.abc.MetaPathFinder):
    """Imports ``pdeflow_family_file_<hex path>`` from that file, in any process: a family
    class defined in a file pickles by reference and unpickles in a worker."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if not fullname.startswith(_FILE_PREFIX) or "." in fullname:
            return None
        try:
            file = _path_of_module(fullname)
        except ValueError:
            return None
        if not os.path.isfile(file):
            return None
        return importlib.util.spec_from_file_location(fullname, file)


if not any(isinstance(f, _FamilyFileFinder) for f in sys.meta_path):
    sys.meta_path.append(_FamilyFileFinder())


# ------------------------------------------------------------------ entry points
def _entry_points() -> dict[str, Any]:
    """``pdeflow.families`` entry points by name (read once; loaded on first lookup)."""
    global _EPS
    if _EPS is None:
        eps: dict[str, Any] = {}
        for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            if ep.name in _MODULES:
                warnings.warn(
                    f"Entry point {ep.name!r} of {_dist(ep)} ({ep.value}) clashes with the "
                    f"built-in family {ep.name!r}; it is ignored.",
                    stacklevel=2,
                )
                continue
            eps.setdefault(ep.name, ep)
        _EPS = eps
    return _EPS


_EPS: dict[str, Any] | None = None


def _dist(ep: Any) -> str:
    dist = getattr(ep, "dist", None)
    return f"{dist.name} {dist.version}" if dist is not None else "an unknown distribution"


def _load_entry_point(name: str) -> None:
    ep = _entry_points().get(name)
    if ep is None:
        return
    where = f"entry point {_dist(ep)}"
    try:
        obj = ep.load()
    except Exception as exc:  # noqa: BLE001 - the package's code failed
        raise ConfigError(
            f"Family {name!r} from {where}: loading {ep.value} raised "
            f"{type(exc).__name__}: {_one_line(exc)}"
        ) from None
    cls = obj if isinstance(obj, type) else type(obj)
    if not issubclass(cls, Family):
        raise ConfigError(
            f"Family {name!r} from {where}: {ep.value} is {_what(obj)}, not a Family subclass."
        )
    if getattr(cls, "name", None) != name:
        raise ConfigError(
            f"Family {name!r} from {where}: {ep.value} is named {getattr(cls, 'name', None)!r}; "
            "the entry point's name must be the family's name."
        )
    _register(cls, replace=False, source=where)
    _SOURCES[name] = where  # also when the module registered it itself on import


def _what(obj: Any) -> str:
    if isinstance(obj, type):
        return f"the class {obj.__qualname__}"
    return f"a {type(obj).__name__}"


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())
