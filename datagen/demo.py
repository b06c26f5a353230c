"""Deprecated: the demo is the command ``pdeflow demo`` (:mod:`pdeflow.demo`).

``python -m pdeflow.datagen.demo ARGS`` (what ``make demo`` runs) warns and runs
``pdeflow demo ARGS`` in a child process.  The demo trains a neural operator, so it sits
above datagen and operators; this module imports neither the demo nor operators, it only
starts the command.
"""

from __future__ import annotations

import subprocess
import sys
import warnings
from collections.abc import Sequence

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``pdeflow demo`` with ``argv`` (default ``sys.argv[1:]``) and return its exit code.

    Deprecated: call ``pdeflow demo`` instead.

    Parameters
    ----------
    argv
        The demo's options (``--n 24 --resolution 12 --workers 1 ...``).

    Returns
    -------
    int
        The command's exit code.
    """
    warnings.warn(
        "python -m pdeflow.datagen.demo is deprecated; run `pdeflow demo` instead",
        DeprecationWarning,
        stacklevel=2,
    )
    args = list(sys.argv[1:] if argv is None else argv)
    return subprocess.call([sys.executable, "-m", "pdeflow.cli", "demo", *args])


if __name__ == "__main__":
    warnings.simplefilter("default", DeprecationWarning)  # show it once on stderr
    raise SystemExit(main())
