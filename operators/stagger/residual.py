"""Physics residuals written once in numpy, traced, and compiled to batched torch.

A residual ``fn(new, old, **params)`` measures how far a candidate step ``old -> new``
is from satisfying an implicit time discretization.  It is ordinary numpy code
(``np.roll`` stencils, masks); :meth:`PhysicsResidual.from_numpy` traces it with
:func:`pdeflow.symbolic.trace` and compiles it with ``compile(..., target="torch")``, so
the same definition gives a differentiable, batched torch loss and a numpy reference.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch

from pdeflow.errors import ConfigError, ShapeError
from pdeflow.symbolic import array, compile, trace

__all__ = ["PhysicsResidual"]


class PhysicsResidual:
    """A compiled implicit-step residual ``r(new, old; fields)`` on batched torch tensors.

    Build it with :meth:`from_numpy`.  Calling it returns the flat residual of every
    sample; :meth:`numpy` evaluates the original numpy function (the reference).

    Attributes
    ----------
    state_shape : tuple of int
        Shape of one state (``new`` and ``old``).
    field_shapes : dict of str to tuple of int
        Per-sample fields (diffusivity, obstacle mask, ...) the residual reads, in order.
    constants : dict of str to float
        Numbers baked in at trace time.
    n_out : int
        Length of the flat residual of one sample.
    fn : callable
        The numpy residual itself.
    compiled : CompiledFunction
        The torch target; ``compiled.source`` shows the generated code.
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        compiled: Any,
        state_shape: tuple[int, ...],
        field_shapes: dict[str, tuple[int, ...]],
        constants: dict[str, float],
    ) -> None:
        self.fn = fn
        self.compiled = compiled
        self.state_shape = state_shape
        self.field_shapes = field_shapes
        self.constants = constants
        self.n_out = int(compiled.n_out)

    @classmethod
    def from_numpy(
        cls,
        fn: Callable[..., Any],
        example: np.ndarray,
        params: Mapping[str, float | np.ndarray] | None = None,
    ) -> PhysicsResidual:
        """Trace ``fn(new, old, **params)`` and compile it for batched torch.

        Parameters
        ----------
        fn : callable
            Numpy code ``fn(new, old, **params) -> array or tuple of arrays``.
        example : ndarray
            An example state; only its shape is used.
        params : mapping, optional
            Numbers are constants baked into the trace (compile once per value); arrays
            are per-sample fields, passed by name at every call.

        Returns
        -------
        PhysicsResidual

        Examples
        --------
        >>> import numpy as np, torch
        >>> def decay(new, old, rate):
        ...     return new - old + rate * new
        >>> r = PhysicsResidual.from_numpy(decay, np.zeros(3), {"rate": 0.5})
        >>> r(torch.ones(2, 3), torch.ones(2, 3))
        tensor([[0.5000, 0.5000, 0.5000],
                [0.5000, 0.5000, 0.5000]])
        """
        params = dict(params or {})
        shape = tuple(np.shape(example))
        fields = {k: tuple(np.shape(v)) for k, v in params.items() if np.ndim(v) > 0}
        constants = {k: float(v) for k, v in params.items() if np.ndim(v) == 0}
        new, old = array("new", shape), array("old", shape)
        sym_fields = {k: array(k, s) for k, s in fields.items()}
        out = trace(fn, new, old, **sym_fields, **constants, static_params=list(constants))
        outs = list(out) if isinstance(out, tuple | list) else [out]
        compiled = compile(
            outs, [new, old], params=list(sym_fields.values()) or None, target="torch"
        )
        return cls(fn, compiled, shape, fields, constants)

    def __repr__(self) -> str:
        return (
            f"PhysicsResidual({getattr(self.fn, '__name__', 'fn')}, state={self.state_shape}, "
            f"fields={list(self.field_shapes)}, n_out={self.n_out})"
        )

    def _flat(self, name: str, x: torch.Tensor, shape: tuple[int, ...], batch: int | None):
        n = int(np.prod(shape))
        if x.numel() == n and batch is None:
            return x.reshape(n)
        if x.ndim >= 1 and x.shape[0] == batch and x[0].numel() == n:
            return x.reshape(batch, n)
        if x.numel() == n:
            return x.reshape(n)
        raise ShapeError(
            f"PhysicsResidual: {name!r} must hold {n} values per sample (shape {shape}) "
            f"for a batch of {batch}; got shape {tuple(x.shape)}"
        )

    def __call__(
        self, new: torch.Tensor, old: torch.Tensor, **fields: torch.Tensor
    ) -> torch.Tensor:
        """Residual of a batch: ``new``, ``old`` of shape (B, ...) -> (B, n_out).

        Each sample of ``new`` and ``old`` holds ``prod(state_shape)`` values (a channel
        axis of 1 may be present); fields have shape (B, ...) or one shared sample.
        """
        missing = set(self.field_shapes) - set(fields)
        extra = set(fields) - set(self.field_shapes)
        if missing or extra:
            raise ConfigError(
                f"PhysicsResidual expects fields {sorted(self.field_shapes)}; got {sorted(fields)}"
            )
        B = new.shape[0]
        y = torch.cat(
            [
                self._flat("new", new, self.state_shape, B),
                self._flat("old", old, self.state_shape, B),
            ],
            dim=-1,
        )
        if not self.field_shapes:
            return self.compiled(y)
        ps = [self._flat(k, fields[k].to(y.dtype), s, B) for k, s in self.field_shapes.items()]
        if any(p.ndim == 2 for p in ps):
            ps = [p if p.ndim == 2 else p.expand(B, -1) for p in ps]
        return self.compiled(y, torch.cat(ps, dim=-1))

    def numpy(self, new: np.ndarray, old: np.ndarray, **fields: np.ndarray) -> np.ndarray:
        """The numpy function itself on one sample, flattened and concatenated: (n_out,)."""
        out = self.fn(
            np.asarray(new, float).reshape(self.state_shape),
            np.asarray(old, float).reshape(self.state_shape),
            **{k: np.asarray(v, float).reshape(self.field_shapes[k]) for k, v in fields.items()},
            **self.constants,
        )
        outs = list(out) if isinstance(out, tuple | list) else [out]
        return np.concatenate([np.ravel(o) for o in outs])
