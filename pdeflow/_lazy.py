"""Lazy exports for package ``__init__`` modules: names that load their module on first use."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any


def lazy_exports(
    package: str,
    namespace: dict[str, Any],
    names: Mapping[str, str],
    submodules: Iterable[str] = (),
    public: Iterable[str] = (),
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of a package whose heavy names load lazily.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    namespace : dict
        The package's ``globals()``; a loaded name is stored there, so it loads once.
    names : mapping
        Exported name -> relative module that defines it (``{"FNO": ".models"}``).
    submodules : iterable of str
        Submodules that are themselves exported (``"losses"``).
    public : iterable of str
        The package's ``__all__`` (listed by ``dir()``).
    """
    subs, listed = frozenset(submodules), tuple(public)

    def __getattr__(name: str) -> Any:
        if name in names:
            value = getattr(importlib.import_module(names[name], package), name)
        elif name in subs:
            value = importlib.import_module(f".{name}", package)
        else:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(listed))

    return __getattr__, __dir__
