"""Progress reporting and logging that suit both a terminal and a log file.

One decision, made in :func:`progress_mode`, picks how long work reports itself:

``rich``
    live progress bars (the default when the stream is a terminal);
``plain``
    a few plain log lines: a start line, one line at each 10 % step (or every
    ``interval`` seconds when the total is unknown) and a final line (the default when
    the stream is not a terminal: CI, a pipe, a file);
``off``
    nothing.

The environment variable ``PDEFLOW_PROGRESS=rich|plain|off`` overrides the choice.
:func:`get_logger` configures the ``pdeflow`` logger once, with rich formatting on a
terminal and a plain ``time level name: message`` format otherwise.

Examples
--------
>>> with progress("solving", total=3, mode="off") as bar:
...     for _ in range(3):
...         bar.advance()
>>> bar.completed
3
"""

from __future__ import annotations

import logging
import math
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal, TextIO

from pdeflow.errors import ConfigError

__all__ = ["ProgressBar", "progress", "progress_mode", "get_logger", "ENV_PROGRESS"]

ProgressMode = Literal["rich", "plain", "off"]
ENV_PROGRESS = "PDEFLOW_PROGRESS"
ENV_LOG_LEVEL = "PDEFLOW_LOG_LEVEL"
_MODES = ("rich", "plain", "off")
_ROOT_LOGGER = "pdeflow"


def progress_mode(stream: TextIO | None = None) -> ProgressMode:
    """Decide how progress is shown on ``stream`` (default: ``sys.stderr``).

    Returns ``$PDEFLOW_PROGRESS`` if set, else ``"rich"`` for a terminal and ``"plain"``
    otherwise.

    Raises
    ------
    ConfigError
        ``PDEFLOW_PROGRESS`` holds something other than ``rich``, ``plain`` or ``off``.
    """
    env = os.environ.get(ENV_PROGRESS, "").strip().lower()
    if env:
        if env not in _MODES:
            raise ConfigError(
                f"environment variable {ENV_PROGRESS}={env!r}: must be one of {', '.join(_MODES)}"
            )
        return env  # type: ignore[return-value]
    stream = sys.stderr if stream is None else stream
    try:
        return "rich" if stream.isatty() else "plain"
    except (AttributeError, ValueError):  # closed or unusual stream
        return "plain"


class ProgressBar:
    """Handle yielded by :func:`progress`; call :meth:`advance` as work completes.

    Attributes
    ----------
    description : str
        What is being done ("solving").
    total : int or None
        Number of steps, or ``None`` when unknown.
    completed : int
        Steps done so far.
    mode : {"rich", "plain", "off"}
        How this bar reports.
    """

    def __init__(
        self,
        description: str,
        total: int | None,
        mode: ProgressMode,
        stream: TextIO | None,
        interval: float,
    ) -> None:
        self.description = description
        self.total = total
        self.completed = 0
        self.mode = mode
        self._stream = stream
        self._interval = interval
        self._start = time.perf_counter()
        self._last_line = self._start
        self._last_decile = 0
        self._rich = None
        self._task = None
        self.status = ""

    # ---------------------------------------------------------------- public API
    def advance(self, n: int = 1) -> None:
        """Mark ``n`` more steps as done."""
        self.update(self.completed + n)

    def update(self, completed: int, total: int | None = None) -> None:
        """Set the number of completed steps (and optionally a new total)."""
        self.completed = completed
        if total is not None:
            self.total = total
        if self.mode == "rich" and self._rich is not None:
            self._rich.update(self._task, completed=completed, total=self.total)
        elif self.mode == "plain":
            self._maybe_plain_line()

    def set_status(self, text: str) -> None:
        """Show ``text`` after the bar (rich) or at the end of each progress line (plain),
        e.g. ``"12.3 samples/s, 14 iterations/sample"``."""
        self.status = text
        if self.mode == "rich" and self._rich is not None:
            self._rich.update(self._task, status=text)

    @property
    def elapsed(self) -> float:
        """Seconds since the bar started."""
        return time.perf_counter() - self._start

    # ---------------------------------------------------------------- lifecycle
    def _open(self) -> None:
        if self.mode == "rich":
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                SpinnerColumn,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            console = Console(file=self._stream or sys.stderr)
            self._rich = Progress(
                SpinnerColumn(),
                TextColumn("[progress.description]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                TextColumn("{task.fields[status]}"),
                console=console,
            )
            self._rich.start()
            self._task = self._rich.add_task(self.description, total=self.total, status="")
        elif self.mode == "plain":
            total = "?" if self.total is None else str(self.total)
            self._line(f"{self.description}: started (0/{total})")

    def _close(self, failed: bool) -> None:
        if self.mode == "rich" and self._rich is not None:
            self._rich.stop()
        elif self.mode == "plain":
            status = "stopped" if failed else "done"
            total = "" if self.total is None else f"/{self.total}"
            done = f"{self.completed}{total}"
            self._line(f"{self.description}: {status} {done} in {self.elapsed:.1f} s")

    # ---------------------------------------------------------------- plain mode
    def _maybe_plain_line(self) -> None:
        now = time.perf_counter()
        if self.total:
            decile = min(10, math.floor(10 * self.completed / self.total))
            if decile <= self._last_decile and now - self._last_line < self._interval:
                return
            self._last_decile = max(decile, self._last_decile)
            if self.completed >= self.total:
                return  # the final line is written on close
            frac = self.completed / self.total
            eta = self.elapsed * (1 - frac) / frac if frac > 0 else float("nan")
            self._line(
                f"{self.description}: {self.completed}/{self.total} ({100 * frac:.0f}%), "
                f"{self.elapsed:.1f} s elapsed, ~{eta:.1f} s left"
            )
        else:
            if now - self._last_line < self._interval:
                return
            self._line(f"{self.description}: {self.completed} done, {self.elapsed:.1f} s elapsed")
        self._last_line = now

    def _line(self, text: str) -> None:
        if self.status:
            text = f"{text}; {self.status}"
        stream = self._stream or sys.stderr
        stamp = time.strftime("%H:%M:%S")
        stream.write(f"{stamp} progress {text}\n")
        stream.flush()


@contextmanager
def progress(
    description: str,
    total: int | None = None,
    *,
    mode: ProgressMode | None = None,
    stream: TextIO | None = None,
    interval: float = 10.0,
) -> Iterator[ProgressBar]:
    """Report progress of a loop as a rich bar, plain log lines, or not at all.

    Parameters
    ----------
    description
        What is being done, e.g. ``"solving"``.
    total
        Number of steps, or ``None`` if unknown.
    mode
        Force ``"rich"``, ``"plain"`` or ``"off"``; default :func:`progress_mode`.
    stream
        Where to report; default ``sys.stderr`` (stdout stays clean for results).
    interval
        In plain mode, the longest time in seconds between two lines.

    Yields
    ------
    ProgressBar
        Call ``bar.advance(n)`` as steps complete.

    Examples
    --------
    >>> with progress("solving", total=10, mode="off") as bar:
    ...     bar.advance(10)
    """
    chosen: ProgressMode = progress_mode(stream) if mode is None else mode
    if chosen not in _MODES:
        raise ConfigError(f"progress mode {chosen!r}: must be one of {', '.join(_MODES)}")
    bar = ProgressBar(description, total, chosen, stream, interval)
    bar._open()
    failed = True
    try:
        yield bar
        failed = False
    finally:
        bar._close(failed)


# ---------------------------------------------------------------------- logging
class _StderrHandler(logging.StreamHandler):
    """A stream handler that writes to whatever ``sys.stderr`` is at emit time."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> TextIO:  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:  # the handler always follows sys.stderr
        pass


def _configure_root() -> logging.Logger:
    root = logging.getLogger(_ROOT_LOGGER)
    if getattr(root, "_pdeflow_configured", False):
        return root
    level_name = os.environ.get(ENV_LOG_LEVEL, "INFO").upper()
    level = logging.getLevelName(level_name)
    if not isinstance(level, int):
        raise ConfigError(
            f"environment variable {ENV_LOG_LEVEL}={level_name!r}: must be a logging level "
            "such as DEBUG, INFO or WARNING"
        )
    handler: logging.Handler
    if progress_mode(sys.stderr) == "rich":
        from rich.logging import RichHandler

        handler = RichHandler(show_path=False, rich_tracebacks=False)
        handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    else:
        handler = _StderrHandler()
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S")
        )
    root.addHandler(handler)
    root.setLevel(level)
    root.propagate = False
    root._pdeflow_configured = True  # type: ignore[attr-defined]
    return root


def get_logger(name: str) -> logging.Logger:
    """Return a logger under the ``pdeflow`` hierarchy, configuring it on first use.

    The ``pdeflow`` logger gets one handler, once: rich formatting when stderr is a
    terminal (and ``PDEFLOW_PROGRESS`` is not ``plain``), plain lines otherwise.  The level
    comes from ``PDEFLOW_LOG_LEVEL`` (default ``INFO``).

    Parameters
    ----------
    name
        Usually ``__name__``.  Names outside ``pdeflow`` are placed under it
        (``"benchmarks.x"`` becomes ``"pdeflow.benchmarks.x"``) so that they share the
        configuration.

    Examples
    --------
    >>> log = get_logger("pdeflow.demo")
    >>> log.name
    'pdeflow.demo'
    """
    _configure_root()
    if name != _ROOT_LOGGER and not name.startswith(_ROOT_LOGGER + "."):
        name = f"{_ROOT_LOGGER}.{name}"
    return logging.getLogger(name)
