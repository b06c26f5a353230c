"""Supervised operator learning: ``{"x", "y"}`` samples, ``loss(pred, target)``.

This is what the :class:`~pdeflow.operators.trainer.Trainer` trains when it is
given no task, and it does exactly what the trainer did before tasks existed:
unit-Gaussian normalizers fitted on the training data, predictions
``y_norm.decode(model(x_norm.encode(x)))`` compared with the raw targets, so
losses and metrics are in physical units.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import torch
from torch import nn
from torch.utils.data import IterableDataset, default_collate

from pdeflow.errors import DataError
from pdeflow.operators.losses import H1Loss, LpLoss
from pdeflow.operators.normalizers import UnitGaussianNormalizer
from pdeflow.operators.tasks.base import Metrics, Task

__all__ = ["SupervisedTask"]

Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class SupervisedTask(Task):
    """Fields in, fields out: batches ``{"x": (B, C_in, *S), "y": (B, C_out, *S)}``.

    Parameters
    ----------
    loss : callable or None
        ``loss(pred, target) -> scalar``; default relative L2 (:class:`LpLoss`).
    metrics : mapping of str to callable, or None
        ``metric(pred, target) -> scalar`` for :meth:`evaluate`; default
        ``{"l2": LpLoss(), "h1": H1Loss()}``.
    x_normalizer, y_normalizer : UnitGaussianNormalizer or None
        Given, or fitted by :meth:`prepare` when ``normalize``.
    normalize : bool
        Fit unit-Gaussian normalizers on the training data (when none is given).
    normalizer_samples : int
        How many training samples to fit them on.
    seed : int
        Seed of the samples drawn from a stream for fitting.

    Shapes
    ------
    ``collate``: list of ``{"x": (C_in, *S), "y": (C_out, *S)}`` ->
    ``{"x": (B, C_in, *S), "y": (B, C_out, *S)}``.

    Examples
    --------
    >>> import torch
    >>> from pdeflow.operators import FNO, TensorFieldDataset
    >>> data = TensorFieldDataset(torch.randn(8, 1, 16), torch.randn(8, 1, 16))
    >>> task = SupervisedTask()
    >>> task.prepare(data)
    >>> batch = task.collate([data[0], data[1]])
    >>> loss, _ = task.step(FNO(1, 1, modes=4, width=4), batch)
    >>> loss.ndim, sorted(task.normalizers)
    (0, ['x', 'y'])
    """

    def __init__(
        self,
        loss: Loss | None = None,
        metrics: Mapping[str, Loss] | None = None,
        *,
        x_normalizer: UnitGaussianNormalizer | None = None,
        y_normalizer: UnitGaussianNormalizer | None = None,
        normalize: bool = True,
        normalizer_samples: int = 256,
        seed: int = 0,
    ) -> None:
        self.loss = loss if loss is not None else LpLoss()
        self.metrics = dict(metrics) if metrics is not None else {"l2": LpLoss(), "h1": H1Loss()}
        self.normalizers = {"x": x_normalizer, "y": y_normalizer}
        self.normalize = bool(normalize)
        self.normalizer_samples = int(normalizer_samples)
        self.seed = int(seed)

    @classmethod
    def from_config(cls, config: Any, **kwargs: Any) -> SupervisedTask:
        """The task a :class:`~pdeflow.operators.TrainerConfig` describes (its ``loss``,
        ``normalize``, ``normalizer_samples`` and ``seed``); ``kwargs`` override."""
        options = {
            "loss": LpLoss() if config.loss == "l2" else H1Loss(),
            "normalize": config.normalize,
            "normalizer_samples": config.normalizer_samples,
            "seed": config.seed,
        }
        options.update({k: v for k, v in kwargs.items() if v is not None})
        return cls(**options)

    # ---------------------------------------------------------------- Task
    def collate(self, samples: Sequence[Mapping[str, torch.Tensor]]) -> Any:
        """Stack the samples' fields (torch's default collate)."""
        return default_collate(samples)

    def predict(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """Model output in physical units: ``y_norm.decode(model(x_norm.encode(x)))``."""
        xn, yn = self.normalizers["x"], self.normalizers["y"]
        if xn is not None:
            x = xn.encode(x)
        y = model(x).float()
        return yn.decode(y) if yn is not None else y

    def step(self, model: nn.Module, batch: Mapping[str, torch.Tensor]) -> tuple[Any, Metrics]:
        """``loss(predict(x), y)``; no per-step metrics (the loss is reported)."""
        return self.loss(self.predict(model, batch["x"]), batch["y"]), {}

    def evaluate(
        self,
        model: nn.Module,
        data: Iterable[Mapping[str, torch.Tensor]],
        metrics: Mapping[str, Loss] | None = None,
    ) -> Metrics:
        """Sample-weighted mean of every metric over the batches of ``data``."""
        metrics = self.metrics if metrics is None else metrics
        sums = {m: 0.0 for m in metrics}
        count = 0
        for batch in data:
            x, y = batch["x"], batch["y"]
            pred = self.predict(model, x)
            b = x.shape[0]
            for m, fn in metrics.items():
                sums[m] += float(fn(pred, y)) * b
            count += b
        return {m: sums[m] / max(count, 1) for m in metrics}

    # ---------------------------------------------------------------- normalizers
    def prepare(self, data: Any) -> None:
        """Fit the normalizers on ``data`` when ``normalize`` and none is set yet."""
        if self.normalize and self.normalizers["x"] is None and self.normalizers["y"] is None:
            self.fit_normalizers(data)

    def fit_normalizers(self, data: Any) -> None:
        """Fit unit-Gaussian normalizers on up to ``normalizer_samples`` samples of ``data``.

        A stream (anything with ``take``) gives a fixed draw seeded from ``seed``; an
        iterable dataset its first samples; a map dataset its first items.
        """
        xs, ys = self._fitting_fields(data, self.normalizer_samples)
        self.normalizers = {
            "x": UnitGaussianNormalizer.fitted(xs),
            "y": UnitGaussianNormalizer.fitted(ys),
        }

    def _fitting_fields(self, data: Any, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        if hasattr(data, "take"):
            drawn = data.take(n, seed=self.seed + 12345)
            return drawn.x, drawn.y
        if isinstance(data, IterableDataset):
            items = []
            for k, s in enumerate(data):
                if k >= n:
                    break
                items.append(s)
        else:
            items = [data[i] for i in range(min(n, len(data)))]
        if not items:
            raise DataError("cannot fit normalizers: the training data holds no sample")
        return torch.stack([s["x"] for s in items]), torch.stack([s["y"] for s in items])

    def load_normalizers(self, entries: Mapping[str, Any]) -> None:
        """Restore ``x`` and ``y`` (``None`` where absent), as :meth:`Task.load_normalizers`."""
        self.normalizers = {"x": None, "y": None}
        super().load_normalizers(entries)

    def __repr__(self) -> str:
        fitted = [k for k, v in self.normalizers.items() if v is not None]
        return f"SupervisedTask(loss={type(self.loss).__name__}, normalized={fitted})"
