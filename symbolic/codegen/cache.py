"""On-disk cache of generated modules, keyed by the hash of their source.

A generated module is written to ``$PDEFLOW_CACHE_DIR`` (default
``~/.cache/pdeflow/codegen``) as ``gen_<sha>.py`` and loaded from there.  Numba's own
``cache=True`` then stores the machine code beside it (``__pycache__/*.nbi`` index and
``*.nbc`` data files), so a second process that generates the same source loads the
compiled code instead of compiling again.

Security
--------
Whatever sits in this folder ends up running in the process, so the folder is treated as
ssh treats ``~/.ssh``:

* The ``.py`` file is never trusted.  Its bytes are compared with the source that was
  just generated; a file that differs (tampered with, truncated, half-written) is
  rewritten atomically (temporary file + :func:`os.replace`) before use, and the code that
  runs is compiled from the generated text in memory, never read back from disk, so the
  file cannot be swapped between the check and the import.  Python's bytecode cache
  (``__pycache__/*.pyc``) is not used for these modules.
* Numba's ``.nbi``/``.nbc`` files are pickles and are loaded as they are: what protects
  them is the folder.  Folders that pdeflow creates get mode ``0700``, and a cache folder
  that another user owns, or that group or others can write (or whose ``__pycache__``
  another user owns), is refused with a :class:`~pdeflow.errors.CompilationError` naming
  the folder and the fix, before anything is read from it.  Inside a private folder only
  its owner can plant a file.  Only the cache folder itself is checked, not its parents:
  keep it out of folders that others can rename things in (a sticky ``/tmp`` is fine).

Examples
--------
>>> mod = load_module("def kernel(x):\\n    return 2 * x\\n", salt="doctest")
>>> mod.kernel(21)
42
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import stat
import sys
import tempfile
from pathlib import Path
from types import ModuleType

from pdeflow.errors import CompilationError

ENV_CACHE_DIR = "PDEFLOW_CACHE_DIR"
_FIX = f"pdeflow runs code from this folder; set {ENV_CACHE_DIR} to a private folder of your own"
_LOADED: dict[str, ModuleType] = {}


def cache_dir() -> Path:
    """The cache folder: created ``0700`` on demand, and checked to be private.

    Returns
    -------
    Path
        ``$PDEFLOW_CACHE_DIR`` if set, else ``~/.cache/pdeflow/codegen``.  Missing folders
        on the way are created with mode ``0700``.

    Raises
    ------
    CompilationError
        The folder belongs to another user or is writable by group or others, its
        ``__pycache__`` belongs to another user, or it cannot be created.
    """
    d = os.environ.get(ENV_CACHE_DIR)
    path = Path(d).expanduser() if d else Path.home() / ".cache" / "pdeflow" / "codegen"
    _make_private_dirs(path)
    check_private(path)
    pycache = path / "__pycache__"
    if pycache.exists():  # numba's; its mode follows the umask, harmless inside a 0700 folder
        check_private(pycache, modes=False)
    return path


def _make_private_dirs(path: Path) -> None:
    """Create ``path`` and its missing parents, each with mode ``0700``."""
    missing = []
    p = path
    while not p.exists() and p != p.parent:
        missing.append(p)
        p = p.parent
    for p in reversed(missing):
        try:
            p.mkdir(mode=0o700)
        except FileExistsError:  # another process made it meanwhile; check_private decides
            continue
        except OSError as exc:
            raise CompilationError(
                f"cannot create the code cache folder {p} ({exc.strerror}); set "
                f"{ENV_CACHE_DIR} to a private folder of your own"
            ) from None
        os.chmod(p, 0o700)  # whatever the umask


def check_private(path: Path, *, modes: bool = True) -> None:
    """Refuse a folder that another user owns or that group or others can write.

    Parameters
    ----------
    path
        An existing folder (symbolic links are followed: the target is checked).
    modes
        Also refuse group- or other-writable modes (``False``: ownership only).

    Raises
    ------
    CompilationError
        One line naming the folder, what is wrong and what to do.
    """
    if not hasattr(os, "geteuid"):  # Windows: access is ACLs, not mode bits
        return
    try:
        st = os.stat(path)
    except OSError as exc:
        raise CompilationError(f"code cache folder {path}: {exc.strerror}") from None
    if not stat.S_ISDIR(st.st_mode):
        raise CompilationError(f"code cache folder {path} is not a folder; {_FIX}")
    if st.st_uid != os.geteuid():
        raise CompilationError(
            f"code cache folder {path} belongs to user id {st.st_uid}, not to you "
            f"(uid {os.geteuid()}); {_FIX}"
        )
    writable = [who for who, bit in (("group", stat.S_IWGRP), ("others", stat.S_IWOTH))
                if st.st_mode & bit]
    if writable and modes:
        raise CompilationError(
            f"code cache folder {path} is writable by {' and '.join(writable)} "
            f"(mode {stat.S_IMODE(st.st_mode):04o}); {_FIX}, or delete it (files others wrote "
            f"there are not to be trusted) and run again"
        )


def source_hash(source: str, salt: str = "") -> str:
    """Content hash of a generated source (plus target/toolchain salt)."""
    h = hashlib.sha256()
    h.update(salt.encode())
    h.update(b"\0")
    h.update(source.encode())
    return h.hexdigest()[:24]


def _write_if_changed(path: Path, data: bytes) -> None:
    """Make ``path`` hold exactly ``data``: rewrite it atomically unless it already does."""
    try:
        with open(path, "rb") as f:
            if f.read(len(data) + 1) == data:
                return
    except FileNotFoundError:
        pass
    except OSError:  # unreadable or not a file: replace it
        pass
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".gen_", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_module(source: str, salt: str = "") -> ModuleType:
    """Write ``source`` to the cache (checked, see the module docstring) and load it.

    Parameters
    ----------
    source
        Generated Python source.
    salt
        Target and toolchain (e.g. ``"numba-0.61.0"``); part of the file name's hash.

    Returns
    -------
    ModuleType
        The module, executed from ``source`` itself with ``__file__`` set to the cached
        file (which Numba's ``cache=True`` needs); loaded once per process and key.

    Raises
    ------
    CompilationError
        The cache folder is not private (see :func:`check_private`).
    """
    key = source_hash(source, salt)
    mod = _LOADED.get(key)
    if mod is not None:
        return mod
    path = cache_dir() / f"gen_{key}.py"
    _write_if_changed(path, source.encode())
    name = f"pdeflow_gen_{key}"
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    try:
        exec(compile(source, str(path), "exec"), mod.__dict__)  # noqa: S102 - our own source
    except BaseException:
        sys.modules.pop(name, None)
        raise
    _LOADED[key] = mod
    return mod


__all__ = ["cache_dir", "check_private", "load_module", "source_hash", "ENV_CACHE_DIR"]
