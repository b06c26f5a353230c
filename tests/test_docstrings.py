"""Docstrings follow one numpydoc convention, and every public name has one."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re

import pdeflow

SUBPACKAGES = ["symbolic", "solvers", "meshes", "datagen", "operators"]
SECTIONS = {
    "Parameters", "Returns", "Yields", "Raises", "Warns", "Examples", "Shapes", "Notes",
    "See Also", "References", "Attributes", "Methods", "Other Parameters", "Receives", "Warnings",
}
HEADING = re.compile(r"^[ \t]*([A-Za-z][A-Za-z ]*?)[ \t]*\n[ \t]*-{3,}[ \t]*$", re.MULTILINE)


def public_modules() -> list:
    """The public modules of pdeflow (no ``_private`` part in the dotted name)."""
    names = [f"pdeflow.{m.name}" for m in pkgutil.iter_modules(pdeflow.__path__)]
    for sub in SUBPACKAGES:
        package = importlib.import_module(f"pdeflow.{sub}")
        names.append(package.__name__)
        names += [m.name for m in pkgutil.walk_packages(package.__path__, f"{package.__name__}.")]
    public = {n for n in ["pdeflow", *names] if not any(p.startswith("_") for p in n.split("."))}
    return [importlib.import_module(n) for n in sorted(public)]


def public_objects(module) -> list[tuple[str, object]]:
    """Functions and classes defined in ``module``, with the public methods and properties."""
    found = []
    for name, value in vars(module).items():
        if name.startswith("_") or getattr(value, "__module__", None) != module.__name__:
            continue
        if not (inspect.isfunction(value) or inspect.isclass(value)):
            continue
        found.append((f"{module.__name__}.{name}", value))
        if inspect.isclass(value):
            for attr, member in vars(value).items():
                if attr.startswith("_"):
                    continue
                if isinstance(member, (staticmethod, classmethod)):
                    member = member.__func__
                if inspect.isfunction(member) or isinstance(member, property):
                    found.append((f"{module.__name__}.{name}.{attr}", (value, attr, member)))
    return found


def docstring(obj) -> str | None:
    """The docstring of a public object, inherited ones included (``inspect.getdoc``)."""
    if isinstance(obj, tuple):
        cls, attr, member = obj
        inherited = inspect.getdoc(getattr(cls, attr, member))
        if isinstance(member, property):
            return inspect.getdoc(member) or inherited
        return inherited
    return inspect.getdoc(obj)


MODULES = public_modules()


def test_the_walk_sees_the_public_package():
    names = {m.__name__ for m in MODULES}
    assert len(names) > 60
    assert {"pdeflow.symbolic.egraph.runner", "pdeflow.operators.trainer", "pdeflow.cli"} <= names


def test_every_public_name_has_a_docstring():
    missing = []
    for module in MODULES:
        if not (module.__doc__ or "").strip():
            missing.append(module.__name__)
        for qualname, obj in public_objects(module):
            if not (docstring(obj) or "").strip():
                missing.append(qualname)
    assert not missing, f"{len(missing)} public names lack a docstring: " + ", ".join(missing)


def test_section_headings_are_numpydoc():
    # Module docstrings may use free-prose headings ("Channel layout"); callables/classes may not.
    odd = []
    for module in MODULES:
        for qualname, obj in public_objects(module):
            for heading in HEADING.findall(docstring(obj) or ""):
                if heading not in SECTIONS:
                    odd.append(f"{qualname}: {heading!r}")
    assert not odd, f"{len(odd)} non-numpydoc section headings: " + "; ".join(odd)


def test_the_heading_check_catches_old_names():
    text = "Do it.\n\nArguments\n---------\nx : int\n\nExample\n-------\n>>> 1\n1\n"
    assert HEADING.findall(text) == ["Arguments", "Example"]
