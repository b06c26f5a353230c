"""Positional grid embedding and domain padding."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["GridEmbedding", "DomainPadding"]


class GridEmbedding(nn.Module):
    r"""Append the normalized grid coordinates as extra channels.

    .. math:: v(x) \mapsto [v(x), x_1, \dots, x_d], \qquad x_j = i_j / n_j \in [0, 1),

    so the same physical point gets the same coordinate at every resolution.

    Parameters
    ----------
    ndim : int
        Number of spatial axes.

    Shapes
    ------
    input ``(B, C, *S)``; output ``(B, C + ndim, *S)``.

    Examples
    --------
    >>> GridEmbedding(2)(torch.zeros(1, 1, 4, 8)).shape
    torch.Size([1, 3, 4, 8])
    """

    def __init__(self, ndim: int) -> None:
        super().__init__()
        self.ndim = int(ndim)

    def reset_parameters(self) -> None:  # no parameters
        """Do nothing: the grid embedding has no trainable parameters."""
        pass

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, *sizes = x.shape
        axes = [torch.arange(n, device=x.device, dtype=x.dtype) / n for n in sizes]
        grids = torch.meshgrid(*axes, indexing="ij")
        grid = torch.stack(grids).unsqueeze(0).expand(b, -1, *sizes)
        return torch.cat([x, grid], dim=1)

    def __repr__(self) -> str:
        return f"GridEmbedding(ndim={self.ndim})"


class DomainPadding(nn.Module):
    r"""Zero-pad the end of every spatial axis by a fraction of its length, and crop back.

    The FFT in :class:`~pdeflow.operators.layers.SpectralConv` assumes periodicity; padding
    gives a non-periodic solution room to wrap around.  ``pad`` pads ``ceil(fraction * n)``
    points, a number that scales with the resolution.

    Parameters
    ----------
    fraction : float
        Padding fraction in ``[0, 1]`` (0 disables padding).

    Shapes
    ------
    ``pad``: ``(B, C, *S)`` -> ``(B, C, *S_padded)``; ``unpad`` inverts it given ``S``.
    """

    def __init__(self, fraction: float) -> None:
        super().__init__()
        self.fraction = float(fraction)

    def reset_parameters(self) -> None:  # no parameters
        """Do nothing: domain padding has no trainable parameters."""
        pass

    def amounts(self, sizes: tuple[int, ...]) -> tuple[int, ...]:
        """Cells of padding per spatial axis: ``ceil(fraction * n)`` for each ``n`` in ``sizes``."""
        return tuple(math.ceil(self.fraction * n) for n in sizes)

    def pad(self, x: torch.Tensor) -> torch.Tensor:
        """Zero-pad the end of every spatial axis of ``x`` by :meth:`amounts`.

        Shapes
        ------
        ``x``: ``(batch, channels, *sizes)`` -> ``(batch, channels, *(n + pad for n in sizes))``.
        """
        amounts = self.amounts(tuple(x.shape[2:]))
        if not any(amounts):
            return x
        spec: list[int] = []
        for a in reversed(amounts):  # F.pad lists the last axis first
            spec += [0, a]
        return F.pad(x, spec)

    def unpad(self, x: torch.Tensor, sizes: tuple[int, ...]) -> torch.Tensor:
        """Cut the padding off again, keeping the first ``sizes`` cells of each spatial axis.

        Shapes
        ------
        ``x``: ``(batch, channels, *padded)`` -> ``(batch, channels, *sizes)``.
        """
        index = (slice(None), slice(None), *(slice(0, n) for n in sizes))
        return x[index]

    def __repr__(self) -> str:
        return f"DomainPadding(fraction={self.fraction:g})"
