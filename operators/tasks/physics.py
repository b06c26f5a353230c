"""Physics-only training: a residual loss with no targets, on a pool of self-made states.

Following Wandel et al. (ICLR 2021), the training states are a pool: it starts with
initial states drawn from a family's sampler; every training step replaces the states it
used by the model's own prediction (so the pool drifts along the model's rollouts), and
a state older than ``max_age`` steps, or drawn with probability ``reset_prob``, is
replaced by a fresh initial state.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import IterableDataset

from pdeflow.errors import ConfigError
from pdeflow.operators.stagger.residual import PhysicsResidual
from pdeflow.operators.tasks.base import Metrics, Task

__all__ = ["PhysicsTask", "PoolDataset"]

Sampler = Callable[[int], Mapping[str, np.ndarray]]


class PhysicsTask(Task):
    """Train a time stepper on an implicit-step residual, without simulation data.

    Parameters
    ----------
    residual : PhysicsResidual
        ``r(new, old; fields)`` of one step.
    sampler : callable
        ``sampler(i) -> {"u": (C, H, W), "cond": (Cc, H, W) optional, field: ...}``, e.g.
        :meth:`pdeflow.operators.stagger.HeatProblem.initial` (a family's sampler).
    pool_size : int
        States in the pool.
    max_age : int
        Steps after which a pool state is replaced by a fresh one.
    reset_prob : float
        Probability that a used state is replaced by a fresh one anyway.
    evaluator : RolloutEvaluator, optional
        Adds rollout errors to :meth:`evaluate`.
    precondition : callable, optional
        ``precondition(r) -> r'`` on the flat residuals (B, n_out): a fixed invertible linear
        map that weights the loss (same minimizers, better conditioning), e.g.
        :meth:`pdeflow.operators.stagger.TorusNavierStokesProblem.precondition`.
    seed : int
    dtype : torch.dtype
    device : str or torch.device
        Where the pool lives (and so every batch).

    Notes
    -----
    A batch is ``{"u": (B, C, H, W), "index": (B,), "cond": ..., fields...}``.  The model is
    called as ``model.trajectory(u, cond)`` when it has that method (``(B, k, C, H, W)``, the
    loss then sums the residuals of the ``k`` consecutive steps), else ``model(u[, cond])``.

    Examples
    --------
    >>> import functools, torch
    >>> from pdeflow.operators.models.unet import UNet
    >>> from pdeflow.operators.stagger import NeuralStagger, HeatProblem
    >>> problem = HeatProblem(resolution=8, n_records=2)
    >>> task = PhysicsTask(problem.residual, problem.initial, pool_size=4)
    >>> net = NeuralStagger(functools.partial(UNet, width=4, depth=0, padding_mode="zeros"),
    ...                     s=2, cond_channels=1).double()
    >>> batch = task.collate([task.pool[i] for i in range(4)])
    >>> loss, metrics = task.step(net, batch)
    >>> sorted(metrics)
    ['loss', 'residual_rms']
    """

    def __init__(
        self,
        residual: PhysicsResidual,
        sampler: Sampler,
        pool_size: int = 64,
        max_age: int = 64,
        reset_prob: float = 0.02,
        evaluator: Any = None,
        precondition: Callable[[torch.Tensor], torch.Tensor] | None = None,
        seed: int = 0,
        dtype: torch.dtype = torch.float64,
        device: str | torch.device = "cpu",
    ) -> None:
        if not isinstance(pool_size, int) or pool_size < 1:
            raise ConfigError(
                f"The 'pool_size' of PhysicsTask must be an int >= 1. Got {pool_size!r}."
            )
        if not isinstance(max_age, int) or max_age < 1:
            raise ConfigError(f"The 'max_age' of PhysicsTask must be an int >= 1. Got {max_age!r}.")
        if not 0.0 <= reset_prob <= 1.0:
            raise ConfigError(
                f"The 'reset_prob' of PhysicsTask must be in [0, 1]. Got {reset_prob!r}."
            )
        self.residual, self.sampler = residual, sampler
        self.max_age, self.reset_prob, self.evaluator, self.dtype = (
            max_age,
            reset_prob,
            evaluator,
            dtype,
        )
        self.precondition = precondition
        self.device = torch.device(device)
        self._rng = np.random.default_rng(seed)
        self._next = 0
        self.pool: list[dict[str, torch.Tensor]] = [self._fresh() for _ in range(pool_size)]
        self.age = np.zeros(pool_size, dtype=int)
        for i in range(pool_size):
            self.pool[i]["index"] = torch.tensor(i, device=self.device)

    def __repr__(self) -> str:
        return f"PhysicsTask({self.residual!r}, pool_size={len(self.pool)})"

    def _fresh(self) -> dict[str, torch.Tensor]:
        sample = self.sampler(self._next)
        self._next += 1
        if "u" not in sample:
            raise ConfigError("PhysicsTask: the sampler must return a dict with the state 'u'.")
        return {
            k: torch.as_tensor(np.asarray(v), dtype=self.dtype, device=self.device)
            for k, v in sample.items()
        }

    # ------------------------------------------------------------------ the Task contract
    def collate(self, samples: Sequence[Mapping[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        """Stack samples (pool entries) into a batch dict."""
        return {k: torch.stack([torch.as_tensor(s[k]) for s in samples]) for k in samples[0]}

    def predict(self, model: nn.Module, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """The model's frames from ``batch["u"]``: (B, k, C, H, W)."""
        u, cond = batch["u"], batch.get("cond")
        args = (u,) if cond is None else (u, cond)
        if hasattr(model, "trajectory"):
            return model.trajectory(*args)
        return model(*args).unsqueeze(1)

    def residual_loss(
        self, batch: Mapping[str, torch.Tensor], frames: torch.Tensor
    ) -> torch.Tensor:
        """Mean squared residual over the ``k`` steps ``u -> frames[:, 0] -> ...``."""
        fields = {k: batch[k] for k in self.residual.field_shapes}
        prev, total = batch["u"], 0.0
        for tau in range(frames.shape[1]):
            r = self.residual(frames[:, tau], prev, **fields)
            if self.precondition is not None:
                r = self.precondition(r)
            total = total + r.pow(2).mean()
            prev = frames[:, tau]
        return total / frames.shape[1]

    def step(
        self, model: nn.Module, batch: Mapping[str, torch.Tensor]
    ) -> tuple[torch.Tensor, Metrics]:
        """Residual loss of ``batch``; the pool states it used move on to the prediction."""
        frames = self.predict(model, batch)
        loss = self.residual_loss(batch, frames)
        self._refresh(batch["index"], frames[:, -1].detach())
        value = float(loss.detach())
        return loss, {"loss": value, "residual_rms": value**0.5}

    @torch.no_grad()
    def evaluate(
        self, model: nn.Module, data: Iterable[Mapping[str, torch.Tensor]] | None = None
    ) -> Metrics:
        """Mean residual loss over ``data`` (batches; default: the pool) and rollout errors."""
        if data is None:
            data = [self.collate(self.pool)]
        losses = [float(self.residual_loss(b, self.predict(model, b))) for b in data]
        metrics = {"residual_loss": float(np.mean(losses))}
        if self.evaluator is not None:
            metrics.update(self.evaluator.metrics(model))
        return metrics

    # ------------------------------------------------------------------ the pool
    def _refresh(self, index: torch.Tensor, states: torch.Tensor) -> None:
        for i, state in zip(index.tolist(), states, strict=True):
            self.age[i] += 1
            if self.age[i] >= self.max_age or self._rng.random() < self.reset_prob:
                self.pool[i] = self._fresh() | {"index": torch.tensor(i, device=self.device)}
                self.age[i] = 0
            else:
                self.pool[i] = self.pool[i] | {"u": state.to(self.dtype)}

    def dataset(self, steps: int | None = None) -> PoolDataset:
        """The pool as an ``IterableDataset`` of single samples (for a ``DataLoader``)."""
        return PoolDataset(self, steps)


class PoolDataset(IterableDataset):
    """Random draws from a live :class:`PhysicsTask` pool (use ``num_workers=0``).

    Parameters
    ----------
    task : PhysicsTask
    steps : int, optional
        Samples per pass; default: the pool size.

    Examples
    --------
    >>> from pdeflow.operators.stagger import HeatProblem
    >>> p = HeatProblem(resolution=8, n_records=1)
    >>> ds = PhysicsTask(p.residual, p.initial, pool_size=3).dataset()
    >>> [tuple(s["u"].shape) for s in ds]
    [(1, 8, 8), (1, 8, 8), (1, 8, 8)]
    """

    def __init__(self, task: PhysicsTask, steps: int | None = None) -> None:
        self.task, self.steps = task, steps

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        n, left = len(self.task.pool), self.steps or len(self.task.pool)
        while left > 0:  # random permutations: a batch holds distinct pool entries
            for i in self.task._rng.permutation(n)[:left]:
                yield self.task.pool[int(i)]
            left -= n
