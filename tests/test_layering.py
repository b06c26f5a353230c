"""The import graph of the whole package, as ../shared/DESIGN.md draws it.

Every ``.py`` file of ``pdeflow/``, ``symbolic/``, ``solvers/``, ``meshes/``,
``datagen/`` and ``operators/`` is parsed (never imported) and each import is
read: module level or inside a function, ``import a.b``, ``from a import b``,
relative imports resolved against the file's package, and
``importlib.import_module("a.b")`` / ``__import__("a.b")`` with a literal name.
The test fails on

(a) a cycle between modules (imports under ``if TYPE_CHECKING:`` do not run and
    are not counted here);
(b) an import of another package's private name: a module or attribute whose
    name starts with ``_``, imported from outside the top-level subpackage that
    owns it (``pdeflow._lazy`` is owned by ``pdeflow`` itself, so it serves all);
(c) an import against the layer order: pdeflow core < symbolic < solvers <
    meshes < datagen < operators < CLI/demo, each layer importing only layers
    below it (so ``meshes`` imports neither ``datagen`` nor ``operators``,
    ``solvers`` imports no ``datagen``, ``operators`` may import ``datagen`` and
    ``meshes``);
(d) ``import dolfinx_solver`` in more than one module.

Every message names the importing module, the line and the imported module.

``PENDING_MERGE`` lists the (importer, imported) edges that other branches of
the current work remove, each with the helper that removes it; they are
tolerated until merged, and an entry that no longer matches a violating edge
fails the test, so the list cannot rot. Empty it as branches merge.
"""

from __future__ import annotations

import ast
import functools
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# folder -> import name (pyproject.toml [tool.setuptools.package-dir])
FOLDERS = {
    "pdeflow": "pdeflow",
    "symbolic": "pdeflow.symbolic",
    "solvers": "pdeflow.solvers",
    "meshes": "pdeflow.meshes",
    "datagen": "pdeflow.datagen",
    "operators": "pdeflow.operators",
}

# DESIGN.md layers, bottom to top: a module imports only from lower layers (and its own)
LAYERS = {
    "core": 1,
    "symbolic": 2,
    "solvers": 3,
    "meshes": 4,
    "datagen": 5,
    "operators": 6,
    "cli": 7,
}

# modules of the top layer: the CLI and the demo (they sit above datagen and operators)
CLI_MODULES = {
    "pdeflow.cli",
    "pdeflow.demo",
    "pdeflow.info",
    "pdeflow.__main__",
}

# the one module that may import dolfinx_solver (it must precede petsc4py and dolfinx)
DOLFINX = "dolfinx_solver"

# (importer, imported, helper that removes the edge on its branch)
PENDING_MERGE: set[tuple[str, str, str]] = {
}


@dataclass(frozen=True)
class Edge:
    """One import: ``importer`` imports ``imported`` (a module) at ``line``."""

    importer: str
    imported: str
    line: int
    name: str  # the dotted name as written after resolution (module or module.attribute)
    type_only: bool = False

    def where(self) -> str:
        return f"{self.importer} (line {self.line}) imports {self.name}"


def _module_name(folder: str, path: Path) -> tuple[str, bool]:
    rel = path.relative_to(ROOT / folder).with_suffix("")
    parts = list(rel.parts)
    is_package = parts[-1] == "__init__"
    if is_package:
        parts.pop()
    return ".".join([FOLDERS[folder], *parts]), is_package


@functools.cache
def modules() -> dict[str, tuple[Path, bool]]:
    """Every module of the package: name -> (file, is_package)."""
    found = {}
    for folder in FOLDERS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            if "__pycache__" in path.parts:
                continue
            name, is_package = _module_name(folder, path)
            found[name] = (path, is_package)
    return found


def _resolve_relative(importer: str, is_package: bool, level: int, module: str | None) -> str:
    base = importer.split(".")
    if not is_package:
        base = base[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join(base + ([module] if module else []))


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


class _Imports(ast.NodeVisitor):
    """Collect (dotted name, line, type-only) of every import statement and literal
    ``importlib.import_module``/``__import__`` call in one module."""

    def __init__(self, importer: str, is_package: bool) -> None:
        self.importer, self.is_package = importer, is_package
        self.found: list[tuple[str, int, bool]] = []
        self._type_only = 0

    def visit_If(self, node: ast.If) -> None:
        if _is_type_checking(node.test):
            self._type_only += 1
            for child in node.body:
                self.visit(child)
            self._type_only -= 1
            for child in node.orelse:
                self.visit(child)
        else:
            self.generic_visit(node)

    def _add(self, name: str, line: int) -> None:
        self.found.append((name, line, self._type_only > 0))

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(alias.name, node.lineno)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            base = _resolve_relative(self.importer, self.is_package, node.level, node.module)
        else:
            base = node.module or ""
        for alias in node.names:
            self._add(base if alias.name == "*" else f"{base}.{alias.name}", node.lineno)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        dynamic = (isinstance(func, ast.Attribute) and func.attr == "import_module") or (
            isinstance(func, ast.Name) and func.id in ("import_module", "__import__")
        )
        if dynamic and node.args and isinstance(node.args[0], ast.Constant):
            name = node.args[0].value
            if isinstance(name, str):
                if name.startswith("."):
                    level = len(name) - len(name.lstrip("."))
                    name = _resolve_relative(
                        self.importer, self.is_package, level, name.lstrip(".") or None
                    )
                self._add(name, node.lineno)
        self.generic_visit(node)


def _target_module(name: str, known: dict[str, tuple[Path, bool]]) -> str:
    """The module that ``name`` (a module or ``module.attribute``) lives in."""
    parts = name.split(".")
    while parts and ".".join(parts) not in known:
        parts.pop()
    return ".".join(parts) if parts else name


@functools.cache
def edges() -> tuple[Edge, ...]:
    """Every import of every module of the package (external ones too)."""
    known = modules()
    out = []
    for importer, (path, is_package) in known.items():
        visitor = _Imports(importer, is_package)
        visitor.visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
        for name, line, type_only in visitor.found:
            if name.split(".")[0] == "pdeflow":
                imported = _target_module(name, known)
            else:
                imported = name
            if imported != importer:
                out.append(Edge(importer, imported, line, name, type_only))
    return tuple(out)


def internal_edges() -> list[Edge]:
    return [e for e in edges() if e.imported.split(".")[0] == "pdeflow"]


def area(module: str) -> str:
    """The layer name of a module of the package."""
    if module in CLI_MODULES:
        return "cli"
    parts = module.split(".")
    if len(parts) > 1 and parts[1] in LAYERS and parts[1] not in ("core", "cli"):
        return parts[1]
    return "core"


def owner_package(module: str) -> str:
    """The top-level subpackage holding ``module`` (``pdeflow`` for the core)."""
    parts = module.split(".")
    if len(parts) > 1 and f"pdeflow.{parts[1]}" in FOLDERS.values():
        return f"pdeflow.{parts[1]}"
    return "pdeflow"


# ---------------------------------------------------------------------------- checks
def cycles(graph_edges: list[Edge]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    graph: dict[str, set[str]] = defaultdict(set)
    for e in graph_edges:
        graph[e.importer].add(e.imported)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    component.append(top)
                    if top == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def cycle_edges(graph_edges: list[Edge]) -> list[Edge]:
    """The edges inside a cycle."""
    components = {m: i for i, c in enumerate(cycles(graph_edges)) for m in c}
    return [
        e
        for e in graph_edges
        if e.importer in components and components[e.importer] == components.get(e.imported)
    ]


def private_violations(graph_edges: list[Edge]) -> list[Edge]:
    """Imports of a ``_name`` from outside the top-level subpackage that owns it."""
    bad = []
    for e in graph_edges:
        parts = e.name.split(".")
        for k, part in enumerate(parts):
            dunder = part.startswith("__") and part.endswith("__")
            if k == 0 or not part.startswith("_") or dunder:
                continue
            owner = owner_package(".".join(parts[:k]))
            if owner != "pdeflow" and owner_package(e.importer) != owner:
                bad.append(e)
            break
    return bad


def layer_violations(graph_edges: list[Edge]) -> list[Edge]:
    """Imports of a module of a higher layer."""
    return [e for e in graph_edges if LAYERS[area(e.imported)] > LAYERS[area(e.importer)]]


def dolfinx_importers() -> list[Edge]:
    return [e for e in edges() if e.imported.split(".")[0] == DOLFINX]


def _pending_pairs() -> set[tuple[str, str]]:
    return {(importer, imported) for importer, imported, _ in PENDING_MERGE}


def _report(kind: str, bad: list[Edge]) -> str:
    """One line per import statement: importer, line, imported module (names imported)."""
    helpers = {(a, b): h for a, b, h in PENDING_MERGE}
    grouped: dict[tuple[str, int, str], list[str]] = defaultdict(list)
    for e in bad:
        grouped[(e.importer, e.line, e.imported)].append(e.name.removeprefix(e.imported + "."))
    lines = [f"{kind}:"]
    for (importer, line, imported), names in sorted(grouped.items()):
        shown = sorted(n for n in names if n != imported)
        pending = helpers.get((importer, imported))
        lines.append(
            f"  {importer} (line {line}) imports {imported}"
            + (f" ({', '.join(shown)})" if shown else "")
            + (f"  [pending: {pending}]" if pending else "")
        )
    return "\n".join(lines)


def _unpending(bad: list[Edge]) -> list[Edge]:
    pending = _pending_pairs()
    return [e for e in bad if (e.importer, e.imported) not in pending]


# ---------------------------------------------------------------------------- tests
def test_the_walk_sees_the_whole_package():
    known = modules()
    assert {"pdeflow.errors", "pdeflow.operators.trainer", "pdeflow.symbolic"} <= set(known)
    assert len(known) > 100
    trainer = {e.imported for e in edges() if e.importer == "pdeflow.operators.trainer"}
    assert {"pdeflow.operators.checkpoint", "pdeflow.operators.tasks.base"} <= trainer


def test_no_import_cycles():
    runtime = [e for e in internal_edges() if not e.type_only]
    pending = _pending_pairs()
    kept = [e for e in runtime if (e.importer, e.imported) not in pending]
    found = cycles(kept)
    inside = cycle_edges(kept)
    assert not found, _report(
        "import cycles (" + "; ".join(" <-> ".join(c) for c in found) + ")", inside
    )


def test_no_private_imports_across_packages():
    bad = _unpending(private_violations(internal_edges()))
    assert not bad, _report("imports of another package's private names", bad)


def test_layers_import_only_downward():
    bad = _unpending(layer_violations(internal_edges()))
    assert not bad, _report(
        "imports against the layer order core < symbolic < solvers < meshes < datagen < "
        "operators < CLI",
        bad,
    )


def test_dolfinx_solver_is_imported_in_one_module():
    by_module = defaultdict(list)
    for e in dolfinx_importers():
        by_module[e.importer].append(e)
    pending = _pending_pairs()
    counted = [m for m in by_module if (m, DOLFINX) not in pending]
    assert len(counted) <= 1, _report(
        f"'import {DOLFINX}' in {len(counted)} modules (one allowed)",
        [e for m in counted for e in by_module[m]],
    )


def test_pending_merge_entries_are_still_violations():
    """A PENDING_MERGE entry whose edge is gone (or no longer breaks a rule) must go."""
    internal = internal_edges()
    violating = {
        (e.importer, e.imported)
        for e in cycle_edges([e for e in internal if not e.type_only])
        + private_violations(internal)
        + layer_violations(internal)
    }
    dolfinx = {(e.importer, DOLFINX) for e in dolfinx_importers()}
    if len({m for m, _ in dolfinx}) > 1:
        violating |= dolfinx
    stale = sorted(f"{a} -> {b} ({h})" for a, b, h in PENDING_MERGE if (a, b) not in violating)
    assert not stale, "stale PENDING_MERGE entries (remove them): " + "; ".join(stale)


def test_the_checks_catch_what_they_should():
    """The rules on made-up edges: a cycle, a private import, an upward import."""
    fake = [
        Edge("pdeflow.meshes.a", "pdeflow.meshes.b", 1, "pdeflow.meshes.b"),
        Edge("pdeflow.meshes.b", "pdeflow.meshes.a", 2, "pdeflow.meshes.a.f"),
        Edge("pdeflow.datagen.x", "pdeflow.solvers.y", 3, "pdeflow.solvers.y._helper"),
        Edge("pdeflow.datagen.x", "pdeflow._lazy", 4, "pdeflow._lazy.lazy_exports"),
        Edge("pdeflow.meshes.a", "pdeflow.operators.z", 5, "pdeflow.operators.z"),
        Edge("pdeflow.operators.z", "pdeflow.meshes.a", 6, "pdeflow.meshes.a"),
    ]
    assert cycles(fake) == [["pdeflow.meshes.a", "pdeflow.meshes.b", "pdeflow.operators.z"]]
    assert [e.line for e in private_violations(fake)] == [3]
    assert [e.line for e in layer_violations(fake)] == [5]
    assert area("pdeflow.cli") == "cli" and area("pdeflow.errors") == "core"
    assert _resolve_relative("pdeflow.operators.tasks", True, 2, "trainer") == (
        "pdeflow.operators.trainer"
    )
    assert _resolve_relative("pdeflow.operators.trainer", False, 1, None) == "pdeflow.operators"
