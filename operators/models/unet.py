"""A small convolutional U-Net (Ronneberger et al. 2015) for 2-D fields.

With ``depth = 0`` it is a plain CNN (two 3×3 convolutions and a 1×1 head); each extra
level halves the grid (average pooling) at the same ``width`` and adds a skip connection.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from pydantic import Field
from torch import nn
from torch.nn import functional as F

from pdeflow.config import PdeflowConfig
from pdeflow.errors import ShapeError

from ..registry import register_model

__all__ = ["UNet", "UNetConfig"]


class UNetConfig(PdeflowConfig):
    """Validated constructor arguments of :class:`UNet` (stored in checkpoints)."""

    in_channels: int = Field(gt=0)
    out_channels: int = Field(gt=0)
    width: int = Field(32, gt=0)
    depth: int = Field(2, ge=0, le=6)
    padding_mode: Literal["circular", "zeros", "replicate"] = "circular"


class _ConvPair(nn.Module):
    """Two 3×3 convolutions with GELU: ``(B, c_in, H, W) -> (B, c_out, H, W)``."""

    def __init__(self, c_in: int, c_out: int, padding_mode: str) -> None:
        super().__init__()
        self.a = nn.Conv2d(c_in, c_out, 3, padding=1, padding_mode=padding_mode)
        self.b = nn.Conv2d(c_out, c_out, 3, padding=1, padding_mode=padding_mode)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.gelu(self.b(F.gelu(self.a(x))))


@register_model(
    "unet",
    config=UNetConfig,
    example={"in_channels": 1, "out_channels": 1, "width": 4, "depth": 1},
    example_input=(2, 1, 16, 16),
)
class UNet(nn.Module):
    r"""U-Net on 2-D grids: encoder of ``depth`` poolings, decoder with skip connections.

    .. math::

        e_0 = C_0(a),\quad e_{l} = C_l(\mathrm{pool}(e_{l-1})),\quad
        d_{l} = D_l([\mathrm{up}(d_{l+1}), e_l]),\quad u = W d_0,

    with :math:`C_l, D_l` pairs of 3×3 convolutions + GELU, :math:`W` a 1×1 convolution.

    Parameters
    ----------
    in_channels, out_channels : int
    width : int
        Hidden channels at every level.
    depth : int
        Number of poolings (0: a plain CNN); the grid must be divisible by ``2**depth``.
    padding_mode : {"circular", "zeros", "replicate"}
        Convolution padding: ``circular`` for periodic problems.

    Shapes
    ------
    input ``(B, in_channels, H, W)``; output ``(B, out_channels, H, W)``.

    Examples
    --------
    >>> import torch
    >>> net = UNet(in_channels=2, out_channels=3, width=8, depth=1)
    >>> net(torch.randn(4, 2, 16, 16)).shape
    torch.Size([4, 3, 16, 16])
    """

    config_class = UNetConfig

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        width: int = 32,
        depth: int = 2,
        padding_mode: Literal["circular", "zeros", "replicate"] = "circular",
    ) -> None:
        super().__init__()
        cfg = UNetConfig(
            in_channels=in_channels,
            out_channels=out_channels,
            width=width,
            depth=depth,
            padding_mode=padding_mode,
        )
        self.config = cfg
        w, pm = cfg.width, cfg.padding_mode
        self.down = nn.ModuleList(
            _ConvPair(cfg.in_channels if i == 0 else w, w, pm) for i in range(cfg.depth + 1)
        )
        self.up = nn.ModuleList(_ConvPair(2 * w, w, pm) for _ in range(cfg.depth))
        self.head = nn.Conv2d(w, cfg.out_channels, 1)

    @property
    def constructor_args(self) -> dict[str, Any]:
        """Plain constructor arguments: ``UNet(**model.constructor_args)`` rebuilds the model."""
        return self.config.model_dump()

    def reset_parameters(self) -> None:
        """Re-draw every weight with PyTorch's default initialization."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                m.reset_parameters()

    def __repr__(self) -> str:
        c = self.config
        n = sum(p.numel() for p in self.parameters())
        return (
            f"UNet({c.in_channels} -> {c.out_channels}, width={c.width}, depth={c.depth}, "
            f"params={n})"
        )

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        c = self.config
        m = 2**c.depth
        if a.ndim != 4 or a.shape[1] != c.in_channels or a.shape[2] % m or a.shape[3] % m:
            raise ShapeError(
                f"UNet expects input of shape (batch, {c.in_channels}, H, W) with H and W "
                f"multiples of 2**depth = {m}; got shape {tuple(a.shape)}"
            )
        skips = []
        v = a
        for i, block in enumerate(self.down):
            if i:
                v = F.avg_pool2d(v, 2)
            v = block(v)
            skips.append(v)
        for block, skip in zip(self.up, reversed(skips[:-1]), strict=True):
            v = F.interpolate(v, scale_factor=2, mode="nearest")
            v = block(torch.cat([v, skip], dim=1))
        return self.head(v)
