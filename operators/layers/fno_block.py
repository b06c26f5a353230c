"""One Fourier layer of the FNO: spectral convolution, linear skip, optional channel MLP."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .pointwise import ChannelMLP, Pointwise, SoftGating
from .spectral import SpectralConv

__all__ = ["FNOBlock"]


class FNOBlock(nn.Module):
    r"""Fourier layer with skip connections.

    .. math::

        u &= \sigma\big(\mathcal K v + W v\big), \\
        y &= \sigma\big(\mathrm{MLP}(u) + g \odot v\big) \quad\text{(with the channel MLP)},
        \qquad y = u \quad\text{(without)},

    where :math:`\mathcal K` is :class:`SpectralConv`, :math:`W` a pointwise linear skip,
    :math:`g` a per-channel soft gate and :math:`\sigma` GELU (left out after the last block,
    ``activate=False``).  This is the block of Li et al. (2020) with the channel MLP of
    neuraloperator.

    Parameters
    ----------
    width : int
        Channels :math:`C`.
    modes : tuple of int
        Kept Fourier modes per axis (see :class:`SpectralConv`).
    channel_mlp : bool
        Add the channel MLP (hidden width ``round(width * mlp_expansion)``).
    mlp_expansion : float
    activate : bool
        Apply :math:`\sigma` at the end.

    Shapes
    ------
    input ``(B, C, *S)``; output ``(B, C, *S)``.
    """

    def __init__(
        self,
        width: int,
        modes: tuple[int, ...],
        channel_mlp: bool = True,
        mlp_expansion: float = 0.5,
        activate: bool = True,
    ) -> None:
        super().__init__()
        self.width = int(width)
        self.activate = bool(activate)
        self.spectral = SpectralConv(width, width, modes)
        self.skip = Pointwise(width, width, bias=False)
        if channel_mlp:
            hidden = max(1, round(width * mlp_expansion))
            self.mlp: ChannelMLP | None = ChannelMLP(width, width, hidden)
            self.gate: SoftGating | None = SoftGating(width)
        else:
            self.mlp = None
            self.gate = None

    def reset_parameters(self) -> None:
        """Re-initialize every sub-layer (spectral convolution, skip, channel MLP)."""
        for child in self.children():
            child.reset_parameters()

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        u = self.spectral(v) + self.skip(v)
        if self.mlp is None:
            return F.gelu(u) if self.activate else u
        if self.activate:
            u = F.gelu(u)
        y = self.mlp(u) + self.gate(v)
        return F.gelu(y) if self.activate else y

    def __repr__(self) -> str:
        mlp = "" if self.mlp is None else f", mlp={self.mlp.fc1.out_channels}"
        return f"FNOBlock(width={self.width}, modes={self.spectral.modes}{mlp})"
