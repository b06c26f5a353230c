"""Typed errors raised by pdeflow.

Every error a user can trigger derives from :class:`PdeflowError`, so
``except pdeflow.errors.PdeflowError`` catches all of them.  Messages say what
was wrong and what to do about it.
"""

from __future__ import annotations


class PdeflowError(Exception):
    """Base class of every error raised by pdeflow."""


class ConfigError(PdeflowError, ValueError):
    """A configuration value or file is invalid (names the offending field)."""


class TracingError(PdeflowError):
    """User code cannot be traced symbolically (names the line and a fix)."""


class ShapeError(PdeflowError, ValueError):
    """Array shapes are incompatible."""


class UnsupportedError(TracingError, NotImplementedError):
    """A numpy function or feature is not supported by the symbolic tracer."""


class ConvergenceError(PdeflowError, RuntimeError):
    """An iterative method did not converge (says why and after how many iterations)."""


class DataError(PdeflowError, ValueError):
    """Input data is invalid: non-finite values, wrong layout, corrupt file."""


class CompilationError(PdeflowError):
    """Code generation or compilation failed."""


class BackendUnavailableError(PdeflowError, RuntimeError):
    """A requested backend cannot run here: a GPU, its driver or an optional package is
    missing (says which, and what to use instead)."""


__all__ = [
    "PdeflowError",
    "ConfigError",
    "TracingError",
    "ShapeError",
    "UnsupportedError",
    "ConvergenceError",
    "DataError",
    "CompilationError",
    "BackendUnavailableError",
]
