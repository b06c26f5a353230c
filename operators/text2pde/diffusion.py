"""Gaussian diffusion (DDPM training, ε-prediction) with DDIM and DPM-Solver++ samplers.

The forward process is ``x_t = α_t x0 + σ_t ε`` with ``α_t = sqrt(ᾱ_t)``, ``σ_t =
sqrt(1 - ᾱ_t)``, ``ᾱ_t = prod_{s<=t} (1 - β_s)`` and, by default, the linear schedule of
latent diffusion for PDEs: ``β`` from 8.5e-4 to 1.2e-2 in 1,000 steps.  A denoiser is any
callable ``model(x, t, cond=None, drop=None) -> ε̂`` (``t``: int64 tensor of shape (B,);
``drop``: bool tensor (B,) of samples whose condition is replaced by the null condition).

Both samplers end on the data prediction (σ = 0), so with an exact ε-oracle they return
``x0`` exactly, at any number of steps.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from pdeflow.errors import ConfigError

__all__ = ["GaussianDiffusion", "Denoiser"]

Denoiser = Callable[..., torch.Tensor]


class GaussianDiffusion:
    """DDPM noise schedule, training loss and samplers.

    Parameters
    ----------
    n_steps : int
        Number of diffusion steps ``T`` (default 1,000).
    beta_start, beta_end : float
        Ends of the linear β schedule (default 8.5e-4, 1.2e-2).

    Examples
    --------
    >>> import torch
    >>> diff = GaussianDiffusion()
    >>> x0 = torch.full((2, 3), 0.5, dtype=torch.float64)
    >>> oracle = diff.oracle(x0)
    >>> x = diff.sample(oracle, x0.shape, steps=7, method="ddim", dtype=torch.float64)
    >>> bool(torch.allclose(x, x0, atol=1e-6))
    True
    """

    def __init__(
        self, n_steps: int = 1000, beta_start: float = 8.5e-4, beta_end: float = 1.2e-2
    ) -> None:
        if not isinstance(n_steps, int) or n_steps < 2:
            raise ConfigError(f"GaussianDiffusion: n_steps must be an int >= 2. Got {n_steps!r}.")
        if not 0.0 < beta_start <= beta_end < 1.0:
            raise ConfigError(
                "GaussianDiffusion: need 0 < beta_start <= beta_end < 1. "
                f"Got {beta_start!r}, {beta_end!r}."
            )
        self.n_steps = n_steps
        betas = torch.linspace(beta_start, beta_end, n_steps, dtype=torch.float64)
        self.alphas_cumprod = torch.cumprod(1.0 - betas, dim=0)
        self.betas = betas

    # ------------------------------------------------------------------ schedule
    def alpha_sigma(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(α_t, σ_t)`` (float64) for integer steps ``t``; ``t = -1`` means ``(1, 0)``."""
        t = torch.as_tensor(t, dtype=torch.long)
        abar = torch.where(t < 0, torch.ones(()), self.alphas_cumprod[t.clamp(min=0)])
        return abar.sqrt(), (1.0 - abar).clamp(min=0).sqrt()

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """Noised data ``α_t x0 + σ_t ε``.

        Shapes
        ------
        x0, noise: (B, ...); t: (B,) -> (B, ...)
        """
        a, s = self.alpha_sigma(t)
        shape = (-1,) + (1,) * (x0.dim() - 1)
        return a.to(x0).view(shape) * x0 + s.to(x0).view(shape) * noise

    def loss(
        self,
        model: Denoiser,
        x0: torch.Tensor,
        cond: Any = None,
        p_uncond: float = 0.0,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """DDPM training loss: mean squared error of the predicted noise.

        Parameters
        ----------
        model
            Denoiser ``model(x_t, t, cond, drop)``.
        x0
            Clean data (B, ...).
        cond
            Condition passed through to the model (or ``None``).
        p_uncond
            Probability of dropping the condition of a sample (classifier-free guidance
            training).

        Returns
        -------
        torch.Tensor
            Scalar loss.
        """
        b = x0.shape[0]
        t = torch.randint(0, self.n_steps, (b,), generator=generator).to(x0.device)
        noise = torch.randn(x0.shape, generator=generator, dtype=x0.dtype).to(x0.device)
        drop = None
        if cond is not None and p_uncond > 0:
            drop = (torch.rand(b, generator=generator) < p_uncond).to(x0.device)
        eps = model(self.q_sample(x0, t, noise), t, cond, drop)
        return torch.mean((eps - noise) ** 2)

    def oracle(self, x0: torch.Tensor) -> Denoiser:
        """The exact ε-predictor of data that is the point mass at ``x0`` (for tests)."""

        def eps(x: torch.Tensor, t: torch.Tensor, cond: Any = None, drop: Any = None):
            a, s = self.alpha_sigma(t)
            shape = (-1,) + (1,) * (x.dim() - 1)
            return (x - a.to(x).view(shape) * x0) / s.to(x).view(shape)

        return eps

    # ------------------------------------------------------------------ sampling
    def timesteps(self, steps: int) -> list[int]:
        """``steps`` decreasing integer steps from ``T - 1`` to 0 (evenly spaced)."""
        if not isinstance(steps, int) or not 1 <= steps <= self.n_steps:
            raise ConfigError(
                f"Sampling steps must be an int in [1, {self.n_steps}]. Got {steps!r}."
            )
        grid = torch.linspace(self.n_steps - 1, 0, steps, dtype=torch.float64)
        return [int(v) for v in grid.round().long()]

    def predict_eps(
        self, model: Denoiser, x: torch.Tensor, t: int, cond: Any, guidance: float
    ) -> torch.Tensor:
        """Classifier-free guided noise ``ε_u + w (ε_c - ε_u)`` (``w = 1``: conditional)."""
        tt = torch.full((x.shape[0],), t, dtype=torch.long, device=x.device)
        if cond is None:
            return model(x, tt, None, None)
        eps_c = model(x, tt, cond, None)
        if guidance == 1.0:
            return eps_c
        drop = torch.ones(x.shape[0], dtype=torch.bool, device=x.device)
        eps_u = model(x, tt, cond, drop)
        return eps_u + guidance * (eps_c - eps_u)

    def predict_x0(
        self, model: Denoiser, x: torch.Tensor, t: int, cond: Any, guidance: float
    ) -> torch.Tensor:
        """Data prediction ``(x - σ_t ε̂) / α_t``."""
        a, s = (v.item() for v in self.alpha_sigma(torch.tensor(t)))
        return (x - s * self.predict_eps(model, x, t, cond, guidance)) / a

    @torch.no_grad()
    def sample(
        self,
        model: Denoiser,
        shape: tuple[int, ...],
        cond: Any = None,
        steps: int = 50,
        method: str = "dpm-solver++",
        guidance: float = 1.0,
        generator: torch.Generator | None = None,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> torch.Tensor:
        """Draw samples from noise.

        Parameters
        ----------
        model
            Denoiser.
        shape
            Shape of the batch (B, ...).
        cond
            Condition (or ``None``: unconditional).
        steps
            Number of model evaluations per sample (times 2 with guidance ``!= 1``).
        method
            ``"ddim"`` (deterministic, η = 0) or ``"dpm-solver++"`` (2nd-order multistep).
        guidance
            Classifier-free guidance weight ``w``.

        Returns
        -------
        torch.Tensor
            Samples, ``shape``.
        """
        if method not in ("ddim", "dpm-solver++"):
            raise ConfigError(f"Unknown sampler {method!r}; choose 'ddim' or 'dpm-solver++'.")
        ts = self.timesteps(steps)
        x = torch.randn(shape, generator=generator, dtype=dtype).to(device)
        step = self._ddim if method == "ddim" else self._dpm
        return step(model, x, ts, cond, guidance)

    def _ddim(self, model: Denoiser, x, ts: list[int], cond: Any, guidance: float):
        for i, t in enumerate(ts):
            t_prev = ts[i + 1] if i + 1 < len(ts) else -1
            x0 = self.predict_x0(model, x, t, cond, guidance)
            a, s = self.alpha_sigma(torch.tensor(t))
            eps = (x - a.item() * x0) / s.item()
            a_p, s_p = (v.item() for v in self.alpha_sigma(torch.tensor(t_prev)))
            x = a_p * x0 + s_p * eps
        return x

    def _dpm(self, model: Denoiser, x, ts: list[int], cond: Any, guidance: float):
        """DPM-Solver++(2M): multistep, data prediction, first order on the last step."""
        prev_x0, prev_h = None, None
        for i, t in enumerate(ts):
            x0 = self.predict_x0(model, x, t, cond, guidance)
            if i + 1 == len(ts):
                return x0  # the step to σ = 0 of any order is the data prediction
            a_s, s_s = (v.item() for v in self.alpha_sigma(torch.tensor(t)))
            a_t, s_t = (v.item() for v in self.alpha_sigma(torch.tensor(ts[i + 1])))
            h = _lam(a_t, s_t) - _lam(a_s, s_s)
            d = x0
            if prev_x0 is not None:
                r = prev_h / h
                d = (1.0 + 0.5 / r) * x0 - (0.5 / r) * prev_x0
            x = (s_t / s_s) * x - a_t * torch.expm1(torch.tensor(-h)).item() * d
            prev_x0, prev_h = x0, h
        return x


def _lam(alpha: float, sigma: float) -> float:
    """Half log signal-to-noise ratio ``log(α / σ)``."""
    return float(torch.log(torch.tensor(alpha / sigma, dtype=torch.float64)))
