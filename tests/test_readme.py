"""Every ```python block of README.md runs, in order, in one namespace, as a newcomer pastes them.

The blocks run in a fresh interpreter (this file, run as a script) whose working directory is a
temporary folder, with ``PDEFLOW_PROGRESS=plain``.  A failure names the block's number, its line
in README.md and its first line.  Run by hand with ``.venv/bin/python tests/test_readme.py``.
"""

from __future__ import annotations

import ast
import builtins
import os
import re
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
FENCE = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)
RUN_TIMEOUT_S = 840  # the whole README; a block that hangs fails the test with its name


@dataclass(frozen=True)
class Block:
    """One ```python block: its number (from 1), the README line of its first code line."""

    number: int
    line: int
    source: str

    @property
    def first_line(self) -> str:
        return next((ln.strip() for ln in self.source.splitlines() if ln.strip()), "")[:80]

    def __str__(self) -> str:
        return f"README block {self.number} (line {self.line}: {self.first_line!r})"


def readme_blocks(text: str) -> list[Block]:
    """The ```python blocks of ``text``, in order."""
    return [
        Block(k, text.count("\n", 0, m.start(1)) + 1, m.group(1))
        for k, m in enumerate(FENCE.finditer(text), 1)
    ]


def run_blocks(blocks: list[Block]) -> int:
    """Execute ``blocks`` in order in one ``__main__`` namespace; 1 at the first error."""
    namespace: dict = {"__name__": "__main__", "__builtins__": builtins}
    for block in blocks:
        print(f"{block} ...", flush=True)
        start = time.perf_counter()
        try:
            exec(compile(block.source, f"README.md block {block.number}", "exec"), namespace)
        except BaseException as exc:  # report every failure, SystemExit included
            traceback.print_exc()
            print(f"FAILED: {block}: {type(exc).__name__}: {exc}", flush=True)
            return 1
        print(f"{block} ok in {time.perf_counter() - start:.1f} s", flush=True)
    return 0


# ------------------------------------------------------------------ static checks (fast)
def _bound_names(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store | ast.Del):
            names.add(node.id)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
    return names


def _imported_names(tree: ast.AST) -> set[str]:
    return {
        (a.asname or a.name).split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for a in node.names
    }


def test_readme_blocks_compile():
    blocks = readme_blocks(README.read_text(encoding="utf-8"))
    assert len(blocks) >= 5, f"README.md has only {len(blocks)} python blocks"
    for block in blocks:
        try:
            compile(block.source, f"README.md block {block.number}", "exec")
        except SyntaxError as exc:
            pytest.fail(f"{block}: {exc}")


def test_readme_blocks_import_what_they_use():
    """A block that uses a module or name imported only by an earlier block fails when pasted
    on its own (the streaming example used ``datagen`` without importing it)."""
    imported_before: dict[str, int] = {}
    problems = []
    for block in readme_blocks(README.read_text(encoding="utf-8")):
        tree = ast.parse(block.source)
        used = {
            n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)
        }
        for name in sorted(used - _bound_names(tree) - set(dir(builtins))):
            if name in imported_before:
                problems.append(
                    f"{block} uses {name!r}, imported only in block {imported_before[name]}"
                )
        for name in _imported_names(tree):
            imported_before.setdefault(name, block.number)
    assert not problems, "; ".join(problems)


def test_block_extraction():
    text = "intro\n```python\nx = 1\n```\n```bash\nls\n```\n\n```python\nprint(x)\n```\n"
    blocks = readme_blocks(text)
    assert [(b.number, b.line, b.source) for b in blocks] == [
        (1, 3, "x = 1\n"),
        (2, 10, "print(x)\n"),
    ]
    assert str(blocks[1]) == "README block 2 (line 10: 'print(x)')"
    assert run_blocks(blocks) == 0
    assert run_blocks(readme_blocks("```python\nprint(undefined_name)\n```\n")) == 1


# ------------------------------------------------------------------ the run (slow)
@pytest.mark.slow
@pytest.mark.timeout(RUN_TIMEOUT_S + 60)
def test_readme_blocks_run_in_order(tmp_path):
    env = dict(os.environ, PDEFLOW_PROGRESS="plain", MPLBACKEND="Agg")
    # default thread settings, as a newcomer runs them: pdeflow limits BLAS inside Krylov solves
    # itself (with OpenBLAS's default threads the SKR example once took > 3 min instead of 7 s)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "PDEFLOW_THREADS"):
        env.pop(var, None)
    try:
        proc = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), str(README)],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else exc.stdout or ""
        started = [ln for ln in out.splitlines() if ln.endswith(" ...")]
        pytest.fail(f"README still running after {RUN_TIMEOUT_S} s, in {started[-1:]}")
    failed = [ln for ln in proc.stdout.splitlines() if ln.startswith("FAILED: ")]
    if proc.returncode != 0:
        detail = failed[0] if failed else f"exit code {proc.returncode}"
        pytest.fail(f"{detail}\n--- stderr (end) ---\n{proc.stderr[-3000:]}")
    n = len(readme_blocks(README.read_text(encoding="utf-8")))
    assert proc.stdout.count(" ok in ") == n, proc.stdout


def main(argv: list[str]) -> int:
    path = Path(argv[0]) if argv else README
    return run_blocks(readme_blocks(path.read_text(encoding="utf-8")))


if __name__ == "__main__":  # worker processes started by the examples import this file too
    raise SystemExit(main(sys.argv[1:]))
