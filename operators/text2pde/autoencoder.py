"""A small space-time convolutional autoencoder with a KL-regularized latent.

A trajectory ``(B, T, C, H, W)`` is normalized per channel, then 3-D convolutions over
``(t, x, y)`` compress it ``time_down × space_down × space_down`` into ``latent_channels``
channels: ``(B, latent_channels, T / time_down, H / space_down, W / space_down)``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from pdeflow.errors import ConfigError, DataError

__all__ = ["AutoencoderConfig", "SpaceTimeAutoencoder", "relative_l2"]


@dataclass(frozen=True)
class AutoencoderConfig:
    """Sizes of :class:`SpaceTimeAutoencoder`.

    Attributes
    ----------
    channels : int
        Physical channels ``C``.
    latent_channels : int
    width : int
        Hidden channels.
    space_down : int
        Spatial compression per axis (a power of 2 >= 2).
    time_down : int
        Temporal compression, 1 or 2.
    kl_weight : float
        Weight of the KL term in :meth:`SpaceTimeAutoencoder.loss`.
    """

    channels: int = 3
    latent_channels: int = 16
    width: int = 32
    space_down: int = 4
    time_down: int = 2
    kl_weight: float = 1e-6

    def __post_init__(self) -> None:
        sd = self.space_down
        if sd < 2 or sd & (sd - 1):
            raise ConfigError(f"AutoencoderConfig.space_down must be a power of 2 >= 2; got {sd}.")
        if self.time_down not in (1, 2):
            raise ConfigError(f"AutoencoderConfig.time_down must be 1 or 2; got {self.time_down}.")


def _block(width: int) -> nn.Module:
    return nn.Sequential(
        nn.Conv3d(width, width, 3, padding=1), nn.GELU(), nn.Conv3d(width, width, 3, padding=1)
    )


class _Residual(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.body = _block(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class SpaceTimeAutoencoder(nn.Module):
    """KL autoencoder of whole trajectories.

    Parameters
    ----------
    config
        Sizes (:class:`AutoencoderConfig`).

    Shapes
    ------
    encode: (B, T, C, H, W) -> mean, logvar (B, latent, T/time_down, H/sd, W/sd);
    decode: latent -> (B, T, C, H, W).

    Examples
    --------
    >>> import torch
    >>> ae = SpaceTimeAutoencoder(AutoencoderConfig(width=8))
    >>> x = torch.randn(2, 4, 3, 16, 16)
    >>> mean, logvar = ae.encode(x)
    >>> mean.shape
    torch.Size([2, 16, 2, 4, 4])
    >>> ae.decode(mean).shape
    torch.Size([2, 4, 3, 16, 16])
    """

    def __init__(self, config: AutoencoderConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or AutoencoderConfig()
        w, sd, td = config.width, config.space_down, config.time_down
        k = (td, sd, sd)
        self.encoder = nn.Sequential(
            nn.Conv3d(config.channels, w, k, stride=k), nn.GELU(), _Residual(w), nn.GELU(),
            nn.Conv3d(w, 2 * config.latent_channels, 1),
        )
        self.decoder = nn.Sequential(
            nn.Conv3d(config.latent_channels, w, 3, padding=1), nn.GELU(), _Residual(w),
            nn.GELU(), nn.ConvTranspose3d(w, w, k, stride=k), nn.GELU(),
            nn.Conv3d(w, config.channels, 1),
        )
        head = self.encoder[-1]
        with torch.no_grad():  # start with a small posterior variance (σ = e^-4)
            head.bias[config.latent_channels:] = -8.0
            head.weight[config.latent_channels:] *= 0.01
        self.register_buffer("mean", torch.zeros(config.channels))
        self.register_buffer("std", torch.ones(config.channels))

    def fit_normalizer(self, data: torch.Tensor) -> None:
        """Set the per-channel mean and standard deviation from trajectories (N, T, C, H, W)."""
        self.mean.copy_(data.mean(dim=(0, 1, 3, 4)))
        self.std.copy_(data.std(dim=(0, 1, 3, 4)).clamp(min=1e-8))

    def _check(self, x: torch.Tensor) -> None:
        c = self.config
        if x.dim() != 5 or x.shape[2] != c.channels:
            raise DataError(
                f"SpaceTimeAutoencoder expects (B, T, {c.channels}, H, W); got {tuple(x.shape)}."
            )
        if x.shape[1] % c.time_down or x.shape[3] % c.space_down or x.shape[4] % c.space_down:
            raise DataError(
                f"SpaceTimeAutoencoder: T must be a multiple of {c.time_down} and H, W of "
                f"{c.space_down}; got {tuple(x.shape)}."
            )

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior mean and log-variance of the latent of trajectories ``x``."""
        self._check(x)
        z = (x - self.mean[:, None, None]) / self.std[:, None, None]
        h = self.encoder(z.transpose(1, 2))
        mean, logvar = h.chunk(2, dim=1)
        return mean, logvar.clamp(-30.0, 20.0)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Trajectories (B, T, C, H, W) of latents ``z``."""
        y = self.decoder(z).transpose(1, 2)
        return y * self.std[:, None, None] + self.mean[:, None, None]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruction through the posterior mean."""
        return self.decode(self.encode(x)[0])

    def loss(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Training loss (normalized MSE of a posterior sample + weighted KL) and the
        relative L2 error of that reconstruction."""
        mean, logvar = self.encode(x)
        z = mean + torch.randn_like(mean) * (0.5 * logvar).exp()
        y = self.decode(z)
        scale = self.std[:, None, None]
        mse = (((y - x) / scale) ** 2).mean()
        kl = 0.5 * (mean**2 + logvar.exp() - 1.0 - logvar).mean()
        return mse + self.config.kl_weight * kl, relative_l2(y.detach(), x).mean()

    def state(self) -> dict:
        """Config and weights, for saving."""
        return {"config": asdict(self.config), "state_dict": self.state_dict()}


def relative_l2(pred: torch.Tensor, true: torch.Tensor) -> torch.Tensor:
    """Per-sample relative L2 error ``||pred - true|| / ||true||`` (B,)."""
    b = true.shape[0]
    diff = (pred - true).reshape(b, -1).norm(dim=1)
    return diff / true.reshape(b, -1).norm(dim=1).clamp(min=1e-12)
