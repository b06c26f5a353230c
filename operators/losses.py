"""Losses and metrics on fields shaped ``(B, C, *S)``.

Norms are discretization-invariant: the absolute Lp norm is the root of the *mean* over grid
points (the quadrature of a uniform grid on the unit domain), so the same function sampled at
two resolutions has (nearly) the same norm; relative errors divide two such norms.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from pdeflow.errors import ConfigError, ShapeError

__all__ = ["LpLoss", "H1Loss"]

Reduction = Literal["mean", "sum", "none"]
_REDUCTIONS = ("mean", "sum", "none")


def _reduce(values: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "mean":
        return values.mean()
    if reduction == "sum":
        return values.sum()
    return values


def _check(pred: torch.Tensor, target: torch.Tensor, who: str) -> None:
    if pred.shape != target.shape:
        raise ShapeError(
            f"{who}: prediction shape {tuple(pred.shape)} != target shape {tuple(target.shape)}"
        )
    if pred.ndim < 2:
        raise ShapeError(f"{who}: expects (batch, channels, *grid), got {tuple(pred.shape)}")


class LpLoss(nn.Module):
    r"""(Relative) Lp error per sample, reduced over the batch.

    .. math::

        \text{relative: } \frac{\lVert \hat u - u \rVert_p}{\lVert u \rVert_p}, \qquad
        \text{absolute: } \Big(\frac{1}{N}\sum_{i=1}^{N} |\hat u_i - u_i|^p\Big)^{1/p},

    the sums running over all channels and grid points of one sample.

    Arguments
    ---------
    p : float
        Order of the norm (``p >= 1``).
    relative : bool
        Divide by the norm of the target (the FNO paper's metric).
    reduction : {"mean", "sum", "none"}
        Over the batch; ``"none"`` returns one value per sample.
    eps : float
        Added to the denominator of the relative error.

    Shapes
    ------
    ``pred``, ``target``: ``(B, C, *S)``; output: scalar, or ``(B,)`` with ``reduction="none"``.

    Example
    -------
    >>> loss = LpLoss(p=2)
    >>> float(loss(torch.full((1, 1, 4), 2.0), torch.ones(1, 1, 4)))
    1.0
    """

    def __init__(
        self, p: float = 2, relative: bool = True, reduction: Reduction = "mean", eps: float = 0.0
    ) -> None:
        super().__init__()
        if not p >= 1:
            raise ConfigError(f"The 'p' parameter of LpLoss must be a float >= 1. Got {p!r}.")
        if reduction not in _REDUCTIONS:
            raise ConfigError(
                f"The 'reduction' parameter of LpLoss must be one of {_REDUCTIONS}. "
                f"Got {reduction!r}."
            )
        self.p, self.relative, self.reduction, self.eps = float(p), relative, reduction, eps

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        _check(pred, target, "LpLoss")
        b = pred.shape[0]
        diff = (pred - target).reshape(b, -1).float()
        if self.relative:
            num = torch.linalg.vector_norm(diff, ord=self.p, dim=1)
            den = torch.linalg.vector_norm(target.reshape(b, -1).float(), ord=self.p, dim=1)
            values = num / (den + self.eps)
        else:
            values = diff.abs().pow(self.p).mean(dim=1).pow(1.0 / self.p)
        return _reduce(values, self.reduction)

    def extra_repr(self) -> str:
        return f"p={self.p:g}, relative={self.relative}, reduction={self.reduction!r}"


class H1Loss(nn.Module):
    r"""(Relative) H1 error per sample, with finite-difference gradients.

    .. math::

        \lVert e \rVert_{H^1}^2 = \frac{1}{N}\sum_i \Big(e_i^2 + \sum_{j=1}^{d}
        (\partial_j e)_i^2\Big),

    where :math:`\partial_j` is ``torch.gradient`` on a uniform grid of the unit domain
    (spacing :math:`1/n_j`): second-order central differences inside, one-sided at the
    boundary, so no periodicity is assumed.  The relative form divides by
    :math:`\lVert u \rVert_{H^1}`.

    Arguments
    ---------
    ndim : int or None
        Spatial axes; default all axes after ``(B, C)``.
    relative : bool
    reduction : {"mean", "sum", "none"}

    Shapes
    ------
    ``pred``, ``target``: ``(B, C, *S)``; output scalar or ``(B,)``.
    """

    def __init__(
        self, ndim: int | None = None, relative: bool = True, reduction: Reduction = "mean"
    ) -> None:
        super().__init__()
        if reduction not in _REDUCTIONS:
            raise ConfigError(
                f"The 'reduction' parameter of H1Loss must be one of {_REDUCTIONS}. "
                f"Got {reduction!r}."
            )
        self.ndim, self.relative, self.reduction = ndim, relative, reduction

    def _sq_norm(self, f: torch.Tensor) -> torch.Tensor:
        d = self.ndim if self.ndim is not None else f.ndim - 2
        dims = tuple(range(f.ndim - d, f.ndim))
        spacing = [1.0 / f.shape[k] for k in dims]
        b = f.shape[0]
        total = f.reshape(b, -1).pow(2).mean(dim=1)
        if all(f.shape[k] >= 2 for k in dims):
            for g in torch.gradient(f, spacing=spacing, dim=dims):
                total = total + g.reshape(b, -1).pow(2).mean(dim=1)
        return total

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        _check(pred, target, "H1Loss")
        pred, target = pred.float(), target.float()
        num = self._sq_norm(pred - target)
        if self.relative:
            values = torch.sqrt(num / self._sq_norm(target))
        else:
            values = torch.sqrt(num)
        return _reduce(values, self.reduction)

    def extra_repr(self) -> str:
        return f"relative={self.relative}, reduction={self.reduction!r}"
