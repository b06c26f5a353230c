"""On-disk cache of generated modules, keyed by the hash of their source.

A generated module is written once to ``$PDEFLOW_CACHE_DIR`` (default
``~/.cache/pdeflow/codegen``) as ``gen_<sha>.py`` and imported from there.
Numba's own ``cache=True`` then stores the machine code beside it, so a second
process that generates the same source loads the compiled code instead of
compiling again.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import tempfile
from pathlib import Path

_LOADED: dict = {}


def cache_dir() -> Path:
    """The cache folder (created on demand)."""
    d = os.environ.get("PDEFLOW_CACHE_DIR")
    path = Path(d) if d else Path.home() / ".cache" / "pdeflow" / "codegen"
    path.mkdir(parents=True, exist_ok=True)
    return path


def source_hash(source: str, salt: str = "") -> str:
    """Content hash of a generated source (plus target/toolchain salt)."""
    h = hashlib.sha256()
    h.update(salt.encode())
    h.update(b"\0")
    h.update(source.encode())
    return h.hexdigest()[:24]


def load_module(source: str, salt: str = ""):
    """Write ``source`` to the cache (once) and import it as a module."""
    key = source_hash(source, salt)
    mod = _LOADED.get(key)
    if mod is not None:
        return mod
    path = cache_dir() / f"gen_{key}.py"
    if not path.exists():
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            f.write(source)
        os.replace(tmp, path)
    name = f"pdeflow_gen_{key}"
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    _LOADED[key] = mod
    return mod


__all__ = ["cache_dir", "load_module", "source_hash"]
