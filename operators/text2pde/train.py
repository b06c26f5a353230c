"""Short training loops for the autoencoder and the latent DiT (time- or step-bounded).

These loops are for small CPU runs (tests, benchmarks, the notebook); they draw batches
from in-memory tensors with a seeded generator.
"""

from __future__ import annotations

import time
from typing import Any

import torch

from pdeflow.errors import ConfigError

from .autoencoder import SpaceTimeAutoencoder, relative_l2
from .model import LatentDiffusionPDE

__all__ = ["train_autoencoder", "train_diffusion", "reconstruction_error", "take_condition"]


def _budget(steps: int | None, seconds: float | None) -> None:
    if steps is None and seconds is None:
        raise ConfigError("Training needs steps= or seconds=.")


def take_condition(cond: Any, idx: Any) -> Any:
    """The condition ``(tokens, mask)`` of samples ``idx`` (an index tensor or a slice);
    ``None`` stays ``None``."""
    if cond is None:
        return None
    tokens, mask = cond
    return tokens[idx], None if mask is None else mask[idx]


def _adam_loop(
    opt: torch.optim.Optimizer, lr: float, step: Any, n: int, batch: int,
    g: torch.Generator, steps: int | None, seconds: float | None,
) -> list[float]:
    """Run ``step(idx) -> (loss, record)`` on random batches of ``n`` samples until the budget
    (``steps`` or ``seconds``) is spent, at rate ``lr`` (a fifth of it for the last fifth);
    return the records."""
    history: list[float] = []
    start = time.perf_counter()
    while True:
        done = len(history) / steps if steps else (time.perf_counter() - start) / seconds
        if done >= 1.0:
            return history
        for group in opt.param_groups:
            group["lr"] = lr * (0.2 if done > 0.8 else 1.0)
        idx = torch.randint(0, n, (batch,), generator=g)
        loss, record = step(idx)
        opt.zero_grad()
        loss.backward()
        opt.step()
        history.append(record)


def train_autoencoder(
    ae: SpaceTimeAutoencoder, data: torch.Tensor, steps: int | None = None,
    seconds: float | None = None, batch: int = 4, lr: float = 6e-3, seed: int = 0,
) -> list[float]:
    """Train ``ae`` on trajectories ``data`` (N, T, C, H, W) with Adam (cosine-free, fixed
    rate, cut to a fifth for the last fifth of the budget).

    Returns
    -------
    list of float
        The relative L2 error of each training batch.
    """
    _budget(steps, seconds)
    if bool((ae.std == 1).all()):
        ae.fit_normalizer(data)
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(ae.parameters(), lr)

    def step(idx: torch.Tensor) -> tuple[torch.Tensor, float]:
        loss, rel = ae.loss(data[idx])
        return loss, float(rel)

    return _adam_loop(opt, lr, step, data.shape[0], batch, g, steps, seconds)


@torch.no_grad()
def reconstruction_error(ae: SpaceTimeAutoencoder, data: torch.Tensor) -> torch.Tensor:
    """Relative L2 error (N,) of reconstructions through the posterior mean."""
    return torch.cat([relative_l2(ae(x), x) for x in data.split(8)])


def train_diffusion(
    model: LatentDiffusionPDE, data: torch.Tensor, cond: Any = None, steps: int | None = None,
    seconds: float | None = None, batch: int = 16, lr: float = 1e-3, seed: int = 0,
) -> list[float]:
    """Train the DiT of ``model`` (autoencoder frozen) on trajectories ``data`` with
    conditions ``cond`` (``(tokens (N, L, D), mask)`` or ``None``).

    Returns
    -------
    list of float
        The diffusion loss of each batch.
    """
    _budget(steps, seconds)
    latents = model.encode(data)
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.dit.parameters(), lr, weight_decay=0.0)

    def step(idx: torch.Tensor) -> tuple[torch.Tensor, float]:
        loss = model.diffusion.loss(model.dit, latents[idx], take_condition(cond, idx),
                                    model.config.p_uncond, g)
        return loss, float(loss.detach())

    return _adam_loop(opt, lr, step, data.shape[0], batch, g, steps, seconds)
