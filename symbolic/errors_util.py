"""Build tracing errors that point at the user's line of code."""

from __future__ import annotations

import linecache
import os
import sys

from pdeflow.errors import TracingError

_PKG_DIR = os.path.dirname(os.path.abspath(__file__))


def user_frame_location() -> tuple[str, int, str]:
    """File, line number and source text of the innermost frame outside pdeflow.symbolic."""
    f = sys._getframe(1)
    numpy_dir = os.path.dirname(os.path.dirname(os.path.abspath(__import__("numpy").__file__)))
    while f is not None:
        fn = os.path.abspath(f.f_code.co_filename)
        if not fn.startswith(_PKG_DIR) and not fn.startswith(numpy_dir + os.sep + "numpy"):
            line = linecache.getline(fn, f.f_lineno).strip()
            return fn, f.f_lineno, line
        f = f.f_back
    return "<unknown>", 0, ""


def data_dependent_branch(value) -> TracingError:
    """The error for Python control flow (``if``, ``while``, ``and``) on a traced value."""
    fn, lineno, line = user_frame_location()
    where = f"{os.path.basename(fn)}, line {lineno}" + (f": `{line}`" if line else "")
    return TracingError(
        f"{where}: data-dependent control flow on a traced value ({_short(value)}); "
        "Python `if`/`while`/`and`/`or` cannot branch on symbolic values. "
        "Use np.where(condition, a, b) (or np.minimum/np.maximum) instead."
    )


def _short(value) -> str:
    s = str(value)
    return s if len(s) <= 60 else s[:57] + "..."
