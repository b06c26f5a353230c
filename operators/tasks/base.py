"""The contract between the trainer and what it trains on.

A :class:`Task` owns everything that depends on the kind of learning problem:
how samples become a batch, what the loss of one batch is, and how a model is
judged. The :class:`~pdeflow.operators.trainer.Trainer` knows only this
interface, so the same loop trains supervised operators, physics-only solvers,
graph networks and generative models.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

Metrics = dict[str, float]


class Task(ABC):
    """What the trainer trains on: collate, one loss step, evaluation.

    Subclasses implement the three methods below. A task may also hold
    normalizers (``normalizers`` maps a name to a fitted normalizer or None);
    the trainer saves and restores them with the checkpoint.

    Examples
    --------
    >>> import torch
    >>> class Mean(Task):
    ...     def collate(self, samples):
    ...         return torch.stack([torch.as_tensor(s) for s in samples])
    ...     def step(self, model, batch):
    ...         loss = (model(batch) - batch).pow(2).mean()
    ...         return loss, {"mse": float(loss)}
    ...     def evaluate(self, model, data):
    ...         return {"mse": 0.0}
    >>> task = Mean()
    >>> batch = task.collate([[1.0, 2.0], [3.0, 4.0]])
    >>> loss, metrics = task.step(torch.nn.Identity(), batch)
    >>> metrics
    {'mse': 0.0}
    """

    normalizers: Mapping[str, Any] = {}

    @abstractmethod
    def collate(self, samples: Sequence[Any]) -> Any:
        """Turn a list of samples (as a dataset yields them) into one batch."""

    @abstractmethod
    def step(self, model: nn.Module, batch: Any) -> tuple[torch.Tensor, Metrics]:
        """Return the differentiable loss of one batch and metrics as floats."""

    @abstractmethod
    def evaluate(self, model: nn.Module, data: Iterable[Any]) -> Metrics:
        """Judge ``model`` on ``data`` (no gradients); return metrics as floats."""

    def batch_size(self, batch: Any) -> int:
        """Number of samples in ``batch`` (for averaging and progress)."""
        if isinstance(batch, Mapping):
            batch = next(iter(batch.values()))
        if hasattr(batch, "num_graphs"):
            return int(batch.num_graphs)
        return int(batch.shape[0])
