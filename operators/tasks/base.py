"""The contract between the trainer and what it trains on.

A :class:`Task` owns everything that depends on the kind of learning problem:
how samples become a batch, what the loss of one batch is, how a model is
judged, and the normalizers fitted on the data. The
:class:`~pdeflow.operators.trainer.Trainer` knows only this interface, so the
same loop trains supervised operators, physics-only solvers, graph networks and
generative models.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from pdeflow.operators.normalizers import UnitGaussianNormalizer

__all__ = ["Metrics", "Task"]

Metrics = dict[str, float]


class Task(ABC):
    """What the trainer trains on: collate, one loss step, evaluation.

    Subclasses implement the three abstract methods. The trainer moves each
    batch to its device (anything with ``.to(device)``, and dicts, lists and
    tuples of such) before ``step`` and ``evaluate`` see it, and hands them the
    model wrapped so that its forward pass runs under the trainer's autocast
    and returns float32 tensors.

    A task may hold normalizers: ``normalizers`` maps a name to a fitted
    :class:`~pdeflow.operators.UnitGaussianNormalizer` or ``None``. The trainer
    calls :meth:`prepare` once before the first epoch (a task fits its
    normalizers there), moves them with :meth:`to`, and saves and restores them
    with the checkpoint (:meth:`load_normalizers`). :meth:`begin_epoch` lets a
    task that makes its own data (a pool refreshed by rollouts of the model)
    update it between epochs.

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
    >>> task.batch_size(batch)
    2
    """

    normalizers: Mapping[str, Any] = {}

    @abstractmethod
    def collate(self, samples: Sequence[Any]) -> Any:
        """Turn a list of samples (as a dataset yields them) into one batch."""

    @abstractmethod
    def step(self, model: nn.Module, batch: Any) -> tuple[torch.Tensor, Metrics]:
        """Return the differentiable loss of one batch and metrics as floats.

        Metrics may also be 0-d tensors (no host sync per step); the trainer
        averages them over the epoch, weighted by :meth:`batch_size`.
        """

    @abstractmethod
    def evaluate(self, model: nn.Module, data: Iterable[Any]) -> Metrics:
        """Judge ``model`` on ``data`` (batches, no gradients); return metrics as floats."""

    def batch_size(self, batch: Any) -> int:
        """Number of samples in ``batch`` (for averaging and progress)."""
        if isinstance(batch, Mapping):
            batch = next(iter(batch.values()))
        if hasattr(batch, "num_graphs"):
            return int(batch.num_graphs)
        return int(batch.shape[0])

    def prepare(self, data: Any) -> None:
        """Called by the trainer once before training on ``data`` (default: nothing).

        A task fits its normalizers here, from the training dataset.
        """
        return None

    def begin_epoch(self, model: nn.Module, epoch: int) -> None:
        """Called by the trainer before each training epoch (default: nothing)."""
        return None

    def to(self, device: torch.device | str) -> Task:
        """Move every normalizer to ``device``; returns ``self``."""
        self.normalizers = {
            k: (None if v is None else v.to(device)) for k, v in self.normalizers.items()
        }
        return self

    def load_normalizers(self, entries: Mapping[str, Any]) -> None:
        """Restore normalizers from a checkpoint's ``"normalizers"`` entry.

        Parameters
        ----------
        entries : mapping of str to dict or None
            What :meth:`UnitGaussianNormalizer.to_dict` wrote for each name.
        """
        norms = dict(self.normalizers)
        for k, v in entries.items():
            norms[k] = None if v is None else UnitGaussianNormalizer.from_dict(v)
        self.normalizers = norms
