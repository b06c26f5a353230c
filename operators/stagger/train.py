"""A thin training loop over ``task.step`` (until the Task-driven ``Trainer`` lands)."""

from __future__ import annotations

import time
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from pdeflow.errors import ConfigError

__all__ = ["train_physics"]


def train_physics(
    model: nn.Module,
    task: Any,
    steps: int,
    batch_size: int = 16,
    lr: float = 1e-3,
    seconds: float | None = None,
    log_every: int = 50,
) -> list[dict[str, float]]:
    """Adam on ``task.step`` over batches drawn from ``task.dataset()`` (a live pool).

    Parameters
    ----------
    model : nn.Module
    task : PhysicsTask
        Anything with ``dataset(steps)``, ``collate(samples)`` and ``step(model, batch)``.
    steps : int
        Optimizer steps (at most).
    batch_size : int
    lr : float
        Initial learning rate; cosine decay to ``lr / 20`` over ``steps``.
    seconds : float, optional
        Stop after this wall time.
    log_every : int
        Record the loss every ``log_every`` steps.

    Returns
    -------
    list of dict
        ``{"step", "time", "loss"}`` records (the loss averaged since the previous one).

    Examples
    --------
    >>> import functools
    >>> from pdeflow.operators.models.unet import UNet
    >>> from pdeflow.operators.stagger import HeatProblem, NeuralStagger
    >>> from pdeflow.operators.tasks.physics import PhysicsTask
    >>> p = HeatProblem(resolution=8, n_records=1)
    >>> net = NeuralStagger(functools.partial(UNet, width=4, depth=0), s=2, cond_channels=1)
    >>> log = train_physics(net.double(), PhysicsTask(p.residual, p.initial, pool_size=4),
    ...                     steps=4, batch_size=2, log_every=2)
    >>> [r["step"] for r in log]
    [2, 4]
    """
    if not isinstance(steps, int) or steps < 1:
        raise ConfigError(f"The 'steps' of train_physics must be an int >= 1. Got {steps!r}.")
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps, eta_min=lr / 20)
    loader = DataLoader(
        task.dataset(steps * batch_size), batch_size=batch_size, collate_fn=task.collate
    )
    log, acc, start = [], [], time.perf_counter()
    model.train()
    for i, batch in enumerate(loader, start=1):
        loss, _ = task.step(model, batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        acc.append(float(loss.detach()))
        elapsed = time.perf_counter() - start
        if i % log_every == 0 or i == steps or (seconds and elapsed > seconds):
            log.append({"step": i, "time": elapsed, "loss": sum(acc) / len(acc)})
            acc = []
        if i >= steps or (seconds and elapsed > seconds):
            break
    model.eval()
    return log
