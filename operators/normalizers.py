"""Unit-Gaussian normalization of fields, fitted on training data and stored in checkpoints."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch
from torch import nn

from pdeflow.errors import DataError, ShapeError

__all__ = ["UnitGaussianNormalizer"]


class UnitGaussianNormalizer(nn.Module):
    r"""Per-channel standardization :math:`\tilde v_c = (v_c - \mu_c) / (\sigma_c + \epsilon)`.

    :math:`\mu_c`, :math:`\sigma_c` are the mean and standard deviation of channel :math:`c`
    over every sample and grid point of the training data, so the normalizer applies at any
    resolution.  Both are buffers: they move with ``.to(device)`` and are saved in
    ``state_dict()`` (and so in trainer checkpoints).

    Parameters
    ----------
    channels : int
    eps : float

    Shapes
    ------
    ``encode``/``decode``: ``(B, C, *S)`` -> ``(B, C, *S)``.

    Examples
    --------
    >>> x = torch.randn(8, 2, 16) * 3 + 1
    >>> norm = UnitGaussianNormalizer.fitted(x)
    >>> bool(torch.allclose(norm.decode(norm.encode(x)), x, atol=1e-5))
    True
    """

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.channels = int(channels)
        self.eps = float(eps)
        self.register_buffer("mean", torch.zeros(self.channels))
        self.register_buffer("std", torch.ones(self.channels))

    @classmethod
    def fitted(cls, data: torch.Tensor | Iterable[torch.Tensor], eps: float = 1e-6):
        """A normalizer fitted on a tensor ``(B, C, *S)`` or an iterable of such batches."""
        batches = [data] if isinstance(data, torch.Tensor) else data
        total = None
        for batch in batches:
            if batch.ndim < 2:
                raise ShapeError(
                    f"normalizer data must be (batch, channels, *grid), got {tuple(batch.shape)}"
                )
            b = batch.detach().to(torch.float64).transpose(0, 1).reshape(batch.shape[1], -1)
            if not torch.isfinite(b).all():
                raise DataError("normalizer data holds non-finite values (NaN or inf)")
            stats = torch.stack([torch.full_like(b[:, 0], b.shape[1]), b.sum(1), (b * b).sum(1)])
            total = stats if total is None else total + stats
        if total is None:
            raise DataError("cannot fit a normalizer on no data")
        n, s, ss = total
        mean = s / n
        var = (ss / n - mean * mean).clamp_min(0.0)
        norm = cls(int(mean.numel()), eps=eps)
        norm.mean.copy_(mean.float())
        norm.std.copy_(var.sqrt().float())
        return norm

    def _view(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        if x.ndim < 2 or x.shape[1] != self.channels:
            raise ShapeError(
                f"normalizer fitted on {self.channels} channel(s) got shape {tuple(x.shape)}"
            )
        return t.view(1, -1, *([1] * (x.ndim - 2))).to(x.dtype)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Normalize ``x`` per channel: ``(x - mean) / (std + eps)``.

        Shapes
        ------
        ``x``: ``(batch, channels, *spatial)``; the result has the same shape.
        """
        return (x - self._view(self.mean, x)) / (self._view(self.std, x) + self.eps)

    def decode(self, x: torch.Tensor) -> torch.Tensor:
        """Undo :meth:`encode`: ``x * (std + eps) + mean`` per channel.

        Shapes
        ------
        ``x``: ``(batch, channels, *spatial)``; the result has the same shape.
        """
        return x * (self._view(self.std, x) + self.eps) + self._view(self.mean, x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.encode(x)

    def to_dict(self) -> dict:
        """Plain checkpoint entry (tensors + floats)."""
        return {
            "channels": self.channels,
            "eps": self.eps,
            "mean": self.mean.cpu(),
            "std": self.std.cpu(),
        }

    @classmethod
    def from_dict(cls, d: Mapping) -> UnitGaussianNormalizer:
        """Rebuild a normalizer from the dict :meth:`to_dict` wrote (channels, eps, mean, std)."""
        norm = cls(int(d["channels"]), eps=float(d["eps"]))
        norm.mean.copy_(d["mean"])
        norm.std.copy_(d["std"])
        return norm

    def __repr__(self) -> str:
        return f"UnitGaussianNormalizer(channels={self.channels})"
