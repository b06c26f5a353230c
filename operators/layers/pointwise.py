"""Pointwise (1x1) layers acting on the channel axis of ``(B, C, *S)`` fields."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["Pointwise", "ChannelMLP", "SoftGating"]


class Pointwise(nn.Module):
    r"""Channel-wise linear map applied at every grid point: :math:`y(x) = W v(x) + b`.

    A 1x1 convolution computed as one batched GEMM on the flattened grid.

    Parameters
    ----------
    in_channels, out_channels : int
    bias : bool

    Shapes
    ------
    input ``(B, C_in, *S)``; output ``(B, C_out, *S)``.

    Examples
    --------
    >>> Pointwise(3, 5)(torch.randn(2, 3, 16, 16)).shape
    torch.Size([2, 5, 16, 16])
    """

    def __init__(self, in_channels: int, out_channels: int, bias: bool = True) -> None:
        super().__init__()
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.weight = nn.Parameter(torch.empty(self.out_channels, self.in_channels))
        self.bias = nn.Parameter(torch.empty(self.out_channels)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's default ``Linear`` initialization (Kaiming uniform)."""
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_channels)
            nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, *s = x.shape
        flat = x.reshape(b, c, -1)
        if self.bias is None:
            y = torch.bmm(self.weight.expand(b, -1, -1), flat)
        else:
            y = torch.baddbmm(self.bias.view(1, -1, 1), self.weight.expand(b, -1, -1), flat)
        return y.reshape(b, self.out_channels, *s)

    def __repr__(self) -> str:
        return f"Pointwise({self.in_channels}, {self.out_channels}, bias={self.bias is not None})"


class ChannelMLP(nn.Module):
    r"""Two-layer pointwise MLP: :math:`y = W_2\,\sigma(W_1 v + b_1) + b_2`, :math:`\sigma` = GELU.

    Used for the lifting :math:`P`, the projection :math:`Q` and the optional MLP inside each
    FNO block.

    Parameters
    ----------
    in_channels, out_channels, hidden_channels : int

    Shapes
    ------
    input ``(B, C_in, *S)``; output ``(B, C_out, *S)``.

    Examples
    --------
    >>> ChannelMLP(3, 1, 16)(torch.randn(2, 3, 32)).shape
    torch.Size([2, 1, 32])
    """

    def __init__(self, in_channels: int, out_channels: int, hidden_channels: int) -> None:
        super().__init__()
        self.fc1 = Pointwise(in_channels, hidden_channels)
        self.fc2 = Pointwise(hidden_channels, out_channels)

    def reset_parameters(self) -> None:
        """Re-initialize both pointwise layers."""
        self.fc1.reset_parameters()
        self.fc2.reset_parameters()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))

    def __repr__(self) -> str:
        f1 = self.fc1
        return f"ChannelMLP({f1.in_channels} -> {f1.out_channels} -> {self.fc2.out_channels})"


class SoftGating(nn.Module):
    r"""Per-channel scaling :math:`y_c = g_c\, v_c` (a cheap skip connection).

    Shapes
    ------
    input ``(B, C, *S)``; output ``(B, C, *S)``.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channels = int(channels)
        self.weight = nn.Parameter(torch.empty(self.channels))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Set every gate weight to one (the identity)."""
        nn.init.ones_(self.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.weight.view(-1, *([1] * (x.ndim - 2))).to(x.dtype)

    def __repr__(self) -> str:
        return f"SoftGating({self.channels})"
