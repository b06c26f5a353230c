"""``LatentDiffusionPDE``: space-time autoencoder + DiT + diffusion + a text-encoder reference.

Trajectories ``(B, T, C, H, W)`` are encoded to latents (posterior means, scaled to unit
standard deviation), a DiT learns their noise conditioned on text tokens (``mode="text"``),
on the first frame (``mode="frame"``) or on nothing (``mode="none"``), and sampling decodes
the denoised latents.  The text encoder is not part of the weights: the model records its
name and version (:data:`~pdeflow.operators.text2pde.text.TEXT_MODEL`) and loads it on
first use.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from pdeflow.errors import ConfigError, DataError

from .autoencoder import AutoencoderConfig, SpaceTimeAutoencoder
from .diffusion import GaussianDiffusion
from .dit import DIT_SIZES, DiT, DiTConfig
from .text import TEXT_MODEL, TextEncoder

__all__ = ["LatentDiffusionConfig", "LatentDiffusionPDE"]

_MODES = ("text", "frame", "none")


@dataclass(frozen=True)
class LatentDiffusionConfig:
    """Sizes and conditioning of :class:`LatentDiffusionPDE`.

    Attributes
    ----------
    frames, resolution : int
        Trajectory length ``T`` and grid size ``H = W``.
    autoencoder : AutoencoderConfig
    size : {"tiny", "S"}
        DiT preset (:data:`~pdeflow.operators.text2pde.dit.DIT_SIZES`).
    mode : {"text", "frame", "none"}
        What the DiT attends to.
    p_uncond : float
        Condition dropout in training (classifier-free guidance).
    """

    frames: int = 8
    resolution: int = 32
    autoencoder: AutoencoderConfig = field(default_factory=AutoencoderConfig)
    size: str = "tiny"
    mode: str = "text"
    p_uncond: float = 0.1

    def __post_init__(self) -> None:
        if self.mode not in _MODES:
            raise ConfigError(f"LatentDiffusionConfig.mode must be one of {_MODES}; "
                              f"got {self.mode!r}.")
        if self.size not in DIT_SIZES:
            raise ConfigError(f"LatentDiffusionConfig.size must be one of {sorted(DIT_SIZES)}; "
                              f"got {self.size!r}.")

    def latent_shape(self) -> tuple[int, int, int, int]:
        """``(C, T, H, W)`` of one latent."""
        a = self.autoencoder
        s = self.resolution // a.space_down
        return (a.latent_channels, self.frames // a.time_down, s, s)

    def frame_patch(self) -> int:
        """Side of the first-frame patches that become condition tokens."""
        return self.autoencoder.space_down * 2


class LatentDiffusionPDE(nn.Module):
    """Text- or first-frame-conditioned latent diffusion model of PDE trajectories.

    Parameters
    ----------
    config
        :class:`LatentDiffusionConfig`.
    text_encoder
        A :class:`~pdeflow.operators.text2pde.text.TextEncoder` (made on first use if
        ``None``; only ``mode="text"`` with raw captions needs it).

    Examples
    --------
    >>> import torch
    >>> cfg = LatentDiffusionConfig(frames=4, resolution=16, mode="frame",
    ...                             autoencoder=AutoencoderConfig(width=8))
    >>> model = LatentDiffusionPDE(cfg)
    >>> x = torch.randn(2, 4, 3, 16, 16)
    >>> model.fit_scale(x)
    >>> cond = model.condition(first_frame=x[:, 0])
    >>> float(model.loss(x, cond)) > 0
    True
    >>> model.sample(cond, steps=3).shape
    torch.Size([2, 4, 3, 16, 16])
    """

    def __init__(self, config: LatentDiffusionConfig | None = None,
                 text_encoder: TextEncoder | None = None) -> None:
        super().__init__()
        self.config = cfg = config or LatentDiffusionConfig()
        self.autoencoder = SpaceTimeAutoencoder(cfg.autoencoder)
        p = cfg.frame_patch()
        cond_dim = TEXT_MODEL["dim"] if cfg.mode != "frame" else cfg.autoencoder.channels * p * p
        self.dit = DiT(DiTConfig(latent_shape=cfg.latent_shape(), cond_dim=cond_dim,
                                 **DIT_SIZES[cfg.size]))
        self.diffusion = GaussianDiffusion()
        self.register_buffer("latent_std", torch.ones(()))
        self._text = text_encoder
        self.text_model = dict(TEXT_MODEL)

    # ------------------------------------------------------------------ latents
    @torch.no_grad()
    def fit_scale(self, trajectories: torch.Tensor) -> None:
        """Set the latent scale from training trajectories (after the autoencoder is
        trained; also fits the autoencoder's normalizer if it is still the identity)."""
        if bool((self.autoencoder.std == 1).all()):
            self.autoencoder.fit_normalizer(trajectories)
        latents = torch.cat([self.autoencoder.encode(c)[0] for c in trajectories.split(16)])
        self.latent_std.copy_(latents.std().clamp(min=1e-6))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Scaled latents (B, *latent_shape) of trajectories (B, T, C, H, W)."""
        with torch.no_grad():
            parts = [self.autoencoder.encode(c)[0] for c in x.split(16)]
            return torch.cat(parts) / self.latent_std

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Trajectories of scaled latents."""
        with torch.no_grad():
            return self.autoencoder.decode(z * self.latent_std)

    # ------------------------------------------------------------------ conditions
    def condition(self, texts: Any = None, first_frame: torch.Tensor | None = None,
                  tokens: Any = None) -> Any:
        """The DiT condition of this model's mode.

        Parameters
        ----------
        texts
            Captions (``mode="text"``), encoded by the text encoder.
        first_frame
            (B, C, H, W) first frames (``mode="frame"``).
        tokens
            Precomputed ``(token states, mask)`` of the captions (``mode="text"``).

        Returns
        -------
        tuple or None
            ``(tokens (B, L, D), mask (B, L) or None)``; ``None`` for ``mode="none"``.
        """
        mode = self.config.mode
        if mode == "none":
            return None
        if mode == "frame":
            if first_frame is None:
                raise DataError("LatentDiffusionPDE(mode='frame') needs first_frame=(B, C, H, W).")
            a = self.autoencoder
            z = (first_frame - a.mean[:, None, None]) / a.std[:, None, None]
            p = self.config.frame_patch()
            return F.unfold(z, p, stride=p).transpose(1, 2), None
        if tokens is not None:
            return tokens
        if texts is None:
            raise DataError("LatentDiffusionPDE(mode='text') needs texts= or tokens=.")
        if self._text is None:
            self._text = TextEncoder()
        return self._text.tokens(list(texts))

    # ------------------------------------------------------------------ training / sampling
    def loss(self, x: torch.Tensor, cond: Any = None,
             generator: torch.Generator | None = None) -> torch.Tensor:
        """Diffusion loss of trajectories ``x`` (B, T, C, H, W) under condition ``cond``."""
        return self.diffusion.loss(self.dit, self.encode(x), cond, self.config.p_uncond,
                                   generator)

    @torch.no_grad()
    def sample(self, cond: Any = None, steps: int = 25, method: str = "dpm-solver++",
               guidance: float = 1.0, n: int | None = None,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """Trajectories (B, T, C, H, W) drawn for condition ``cond`` (``n`` of them when
        unconditional)."""
        b = n if cond is None else cond[0].shape[0]
        if b is None:
            raise DataError("LatentDiffusionPDE.sample: pass cond or n.")
        z = self.diffusion.sample(self.dit, (b, *self.config.latent_shape()), cond, steps,
                                  method, guidance, generator)
        return self.decode(z)
