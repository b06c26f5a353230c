"""One status base for every area: a code, a ``converged`` flag and a message that says what to do.

Each area's status enum (:class:`~pdeflow.solvers.SolveStatus`, the ODE solver's
``ODEStatus``, the optimizer's ``OptimStatus``, the e-graph's ``StopReason``) extends
:class:`Status`.  As in diffrax's ``RESULTS``, a member carries its message, so a caller that
only knows the base can report any failure in one line::

    if not result.status.converged:
        print(result.status.describe())

Codes follow PETSc's convention: positive means converged (or finished as asked), negative
means it stopped for a reason the caller has to act on; the message of a negative code says
what to change.

Examples
--------
>>> class Fit(Status):
...     DONE = 1, "converged: the loss is below tol"
...     STALLED = -1, "stalled: raise max_iter or loosen tol"
>>> Fit.STALLED.converged, Fit.STALLED.code
(False, -1)
>>> Fit.STALLED.describe()
'STALLED (-1): stalled: raise max_iter or loosen tol'
>>> Fit(1) is Fit.DONE
True
"""

from __future__ import annotations

import enum

__all__ = ["Status"]


class Status(enum.IntEnum):
    """Base of every status enum: ``NAME = code, "message"`` (or ``NAME = code``).

    A member compares and pickles as its integer code.  Subclasses whose members carry no
    message may override :attr:`message` instead.

    Examples
    --------
    >>> class Run(Status):
    ...     OK = 1, "finished"
    ...     BAD = -2, "diverged: lower the step size"
    >>> [s.name for s in Run if not s.converged]
    ['BAD']
    >>> Run.BAD.message
    'diverged: lower the step size'
    """

    def __new__(cls, code: int, message: str = "") -> Status:
        member = int.__new__(cls, code)
        member._value_ = code
        member._message = message
        return member

    @property
    def code(self) -> int:
        """The integer code: positive converged, negative failed."""
        return int(self._value_)

    @property
    def converged(self) -> bool:
        """True for every positive (converged) code."""
        return self._value_ > 0

    @property
    def message(self) -> str:
        """A user-facing explanation; for a failure it says what to try next."""
        return self._message

    def describe(self) -> str:
        """``"NAME (code): message"``, one line for logs and error messages."""
        return f"{self.name} ({self.code}): {self.message}"
