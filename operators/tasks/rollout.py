"""Judge a time stepper by autoregressive rollouts against reference trajectories."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from pdeflow.errors import ShapeError

__all__ = ["RolloutEvaluator", "RolloutResult"]


@dataclass(frozen=True)
class RolloutResult:
    """Errors of one rollout evaluation.

    Attributes
    ----------
    times : ndarray, shape (T,)
        Time of each reference frame (or 1..T when none was given).
    rel_l2 : ndarray, shape (T,)
        Mean over samples of ``‖pred - ref‖₂ / ‖ref‖₂`` at each frame.
    rel_l2_per_sample : ndarray, shape (N, T)
    predictions : Tensor, shape (N, T, ...)
    """

    times: np.ndarray
    rel_l2: np.ndarray
    rel_l2_per_sample: np.ndarray
    predictions: torch.Tensor


class RolloutEvaluator:
    """Autoregressive rollouts ``u_{n+1} = model(u_n)`` scored against reference frames.

    Parameters
    ----------
    u0 : Tensor, shape (N, C, ...)
        Initial states.
    reference : Tensor, shape (N, T, C, ...)
        Reference frames; frame ``n`` is compared with the ``n+1``-th model call.
    times : Tensor or ndarray, shape (T,), optional
    cond : Tensor, shape (N, Cc, ...), optional
        Passed as ``model(u, cond)`` at every call.
    observe : callable, optional
        ``observe(states) -> quantity`` applied to predictions and references (each
        (M, C, ...)) before comparing; default: the states themselves.
    batch_size : int
        Samples rolled out together.

    Examples
    --------
    >>> import torch
    >>> u0 = torch.ones(2, 1, 4, 4)
    >>> ref = torch.stack([u0 * 0.5, u0 * 0.25], dim=1)
    >>> ev = RolloutEvaluator(u0, ref)
    >>> ev.evaluate(lambda u: 0.5 * u).rel_l2.tolist()
    [0.0, 0.0]
    >>> ev.metrics(torch.nn.Identity())["rollout_rel_l2_final"]
    3.0
    """

    def __init__(
        self,
        u0: torch.Tensor,
        reference: torch.Tensor,
        times: torch.Tensor | np.ndarray | None = None,
        cond: torch.Tensor | None = None,
        observe=None,
        batch_size: int = 16,
    ) -> None:
        u0, reference = torch.as_tensor(u0), torch.as_tensor(reference)
        if (
            reference.ndim < 3
            or reference.shape[0] != u0.shape[0]
            or reference.shape[2:] != u0.shape[1:]
        ):
            raise ShapeError(
                f"RolloutEvaluator: reference must have shape (N, T, *u0.shape[1:]) = "
                f"({u0.shape[0]}, T, {', '.join(map(str, u0.shape[1:]))}); "
                f"got {tuple(reference.shape)}"
            )
        if cond is not None and torch.as_tensor(cond).shape[0] != u0.shape[0]:
            raise ShapeError(
                f"RolloutEvaluator: cond must have {u0.shape[0]} samples; got {tuple(cond.shape)}"
            )
        T = reference.shape[1]
        self.u0, self.reference, self.cond = u0, reference, cond
        self.times = (
            np.arange(1, T + 1, dtype=float) if times is None else np.asarray(times, dtype=float)
        )
        if self.times.shape != (T,):
            raise ShapeError(
                f"RolloutEvaluator: times must have shape ({T},); got {self.times.shape}"
            )
        self.observe = observe or (lambda x: x)
        self.batch_size = int(batch_size)

    def __repr__(self) -> str:
        return f"RolloutEvaluator(samples={self.u0.shape[0]}, steps={self.reference.shape[1]})"

    @torch.no_grad()
    def rollout(self, model: nn.Module) -> torch.Tensor:
        """The model's frames: (N, T, C, ...), in the dtype of the model's output."""
        out = []
        for lo in range(0, self.u0.shape[0], self.batch_size):
            u = self.u0[lo : lo + self.batch_size]
            cond = None if self.cond is None else self.cond[lo : lo + self.batch_size]
            frames = []
            for _ in range(self.reference.shape[1]):
                u = model(u) if cond is None else model(u, cond)
                frames.append(u)
            out.append(torch.stack(frames, dim=1))
        return torch.cat(out)

    def evaluate(self, model: nn.Module) -> RolloutResult:
        """Roll out ``model`` and compare with the reference at every frame."""
        pred = self.rollout(model)
        N, T = pred.shape[:2]
        p = self.observe(pred.reshape(N * T, *pred.shape[2:]).to(torch.float64))
        r = self.observe(self.reference.reshape(N * T, *pred.shape[2:]).to(torch.float64))
        err = (p - r).reshape(N, T, -1).norm(dim=-1) / r.reshape(N, T, -1).norm(dim=-1)
        err = err.cpu().numpy()
        return RolloutResult(self.times, err.mean(axis=0), err, pred)

    def metrics(self, model: nn.Module) -> dict[str, float]:
        """``rollout_rel_l2_final`` (last frame) and ``rollout_rel_l2_mean`` (all frames)."""
        res = self.evaluate(model)
        return {
            "rollout_rel_l2_final": float(res.rel_l2[-1]),
            "rollout_rel_l2_mean": float(res.rel_l2.mean()),
        }
