"""The code-generation cache never runs code it did not generate, and refuses shared folders."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pdeflow.errors import CompilationError
from pdeflow.symbolic.codegen import cache

# compiles one expression and prints the cached module's file; run in fresh processes
COMPILE = textwrap.dedent(
    """
    import numpy as np
    from pdeflow.symbolic import array, compile
    u = array("u", (8,))
    f = compile(np.roll(u, 1) * u - 2.0 * u, [u], target="{target}")
    y = np.arange(8.0)
    assert np.allclose(f(y), np.roll(y, 1) * y - 2.0 * y)
    print(f._mod.__file__)
    """
)


def run_compile(cache_dir: Path, target: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PDEFLOW_CACHE_DIR=str(cache_dir))
    return subprocess.run(
        [sys.executable, "-c", COMPILE.format(target=target)],
        env=env, capture_output=True, text=True, timeout=300,
    )


@pytest.mark.parametrize("target", ["numpy", "numba"])
def test_code_planted_in_a_cached_module_never_runs(tmp_path, target):
    folder = tmp_path / "cache"
    first = run_compile(folder, target)
    assert first.returncode == 0, first.stderr
    module = Path(first.stdout.strip())
    assert module.parent == folder and module.name.startswith("gen_")
    generated = module.read_bytes()
    marker = tmp_path / "planted-ran"
    with open(module, "a") as f:  # what an attacker with write access would append
        f.write(f"\nopen({str(marker)!r}, 'w').write('pwned')\nraise SystemExit(99)\n")

    second = run_compile(folder, target)
    assert second.returncode == 0, second.stderr
    assert not marker.exists()
    assert module.read_bytes() == generated  # rewritten with the generated source


def test_a_replaced_module_is_rewritten_atomically_in_process(tmp_path, monkeypatch):
    monkeypatch.setenv("PDEFLOW_CACHE_DIR", str(tmp_path))
    source = "def kernel():\n    return 'generated'\n"
    key = cache.source_hash(source, "test-replaced")
    path = tmp_path / f"gen_{key}.py"
    path.write_text("def kernel():\n    return 'planted'\n")
    mod = cache.load_module(source, "test-replaced")
    assert mod.kernel() == "generated"
    assert path.read_text() == source
    assert not list(tmp_path.glob("*.tmp"))  # no temporary left behind
    assert not (tmp_path / "__pycache__").exists()  # no .pyc that could be planted either


def test_cache_folder_is_created_private(tmp_path, monkeypatch):
    folder = tmp_path / "a" / "b" / "codegen"
    monkeypatch.setenv("PDEFLOW_CACHE_DIR", str(folder))
    old = os.umask(0o002)  # a permissive umask must not loosen it
    try:
        assert cache.cache_dir() == folder
    finally:
        os.umask(old)
    for p in (folder, folder.parent, folder.parent.parent):
        assert stat.S_IMODE(p.stat().st_mode) == 0o700, p


@pytest.mark.parametrize("mode", [0o775, 0o757, 0o777])
def test_group_or_other_writable_folder_is_refused(tmp_path, monkeypatch, mode):
    folder = tmp_path / "shared"
    folder.mkdir()
    os.chmod(folder, mode)
    monkeypatch.setenv("PDEFLOW_CACHE_DIR", str(folder))
    with pytest.raises(CompilationError) as err:
        cache.load_module("def kernel():\n    return 1\n", "test-shared")
    msg = str(err.value)
    assert str(folder) in msg and "writable by" in msg and "PDEFLOW_CACHE_DIR" in msg
    assert "\n" not in msg
    assert not list(folder.iterdir())  # nothing written to it


def test_a_folder_readable_by_others_is_accepted(tmp_path, monkeypatch):
    folder = tmp_path / "readable"
    folder.mkdir(mode=0o755)
    os.chmod(folder, 0o755)  # what older pdeflow created: others cannot write, so it is safe
    monkeypatch.setenv("PDEFLOW_CACHE_DIR", str(folder))
    assert cache.load_module("def kernel():\n    return 3\n", "test-755").kernel() == 3


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root to chown")
def test_folder_owned_by_another_user_is_refused(tmp_path, monkeypatch):
    folder = tmp_path / "theirs"
    folder.mkdir(mode=0o700)
    os.chown(folder, 12345, 12345)
    monkeypatch.setenv("PDEFLOW_CACHE_DIR", str(folder))
    with pytest.raises(CompilationError, match="belongs to user id 12345"):
        cache.load_module("def kernel():\n    return 1\n", "test-theirs")


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root to chown")
def test_pycache_owned_by_another_user_is_refused(tmp_path, monkeypatch):
    pycache = tmp_path / "__pycache__"  # where numba keeps its pickled .nbi/.nbc files
    pycache.mkdir()
    os.chown(pycache, 12345, 12345)
    monkeypatch.setenv("PDEFLOW_CACHE_DIR", str(tmp_path))
    with pytest.raises(CompilationError, match="__pycache__ belongs to user id 12345"):
        cache.cache_dir()


def test_refusal_names_the_folder_in_a_new_process(tmp_path):
    folder = tmp_path / "open"
    folder.mkdir()
    os.chmod(folder, 0o777)
    res = run_compile(folder, "numpy")
    assert res.returncode != 0
    last = res.stderr.strip().splitlines()[-1]
    assert "CompilationError" in last and f"{folder} is writable by group and others" in last
