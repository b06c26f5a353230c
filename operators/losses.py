"""Losses and metrics on fields shaped ``(B, C, *S)``, and the Chamfer distance of point clouds.

Norms are discretization-invariant: the absolute Lp norm is the root of the *mean* over grid
points (the quadrature of a uniform grid on the unit domain), so the same function sampled at
two resolutions has (nearly) the same norm; relative errors divide two such norms.
"""

from __future__ import annotations

import itertools
from typing import Literal

import torch
from torch import nn

from pdeflow.errors import ConfigError, DataError, ShapeError

__all__ = ["LpLoss", "H1Loss", "chamfer_distance"]

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

    Parameters
    ----------
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

    Examples
    --------
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

    Parameters
    ----------
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


# ---------------------------------------------------------------------- point clouds
# entries of one block of the distance matrix, by device type (float32: 16 / 256 MiB)
_CHAMFER_BLOCK = {"cpu": 1 << 22, "cuda": 1 << 26}


def chamfer_distance(
    x: torch.Tensor,
    y: torch.Tensor,
    batch_x: torch.Tensor | None = None,
    batch_y: torch.Tensor | None = None,
    reduction: Reduction = "mean",
    block_size: int | None = None,
) -> torch.Tensor:
    r"""Chamfer distance between point clouds, per graph, differentiable.

    For graph :math:`g` with points :math:`X_g` of ``x`` and :math:`Y_g` of ``y``:

    .. math::

        \mathrm{CD}_g = \frac{1}{|X_g|}\sum_{p \in X_g} \min_{q \in Y_g} \lVert p - q
        \rVert_2^2 + \frac{1}{|Y_g|}\sum_{q \in Y_g} \min_{p \in X_g} \lVert p - q
        \rVert_2^2,

    the mean squared nearest distance both ways, summed. This is pytorch3d's default
    (``norm=2``, ``point_reduction="mean"``). Graphs are never merged into one cloud.

    The nearest neighbours are searched without gradient, in blocks of at most
    ``block_size`` distance-matrix entries (rows of ``x`` against the ``y`` points of the
    same graphs), so memory is ``O(block_size + |x| + |y|)``: 100k x 100k points need no
    100k x 100k matrix. The search uses ``|p|^2 - 2 p.q + |q|^2`` on centred coordinates
    (one matrix product per block). The returned distances are then recomputed from
    coordinate differences (differentiable), so they are exact for the neighbours chosen.
    A near-tie within rounding may pick either neighbour. The gradient flows through the
    chosen pairs, as pytorch3d's does. With TF32 matmuls enabled on a GPU
    (``torch.backends.cuda.matmul.allow_tf32``), the search itself is less precise.

    Parameters
    ----------
    x : Tensor, shape (N, D)
        First cloud(s).
    y : Tensor, shape (M, D)
        Second cloud(s), same ``D``.
    batch_x, batch_y : Tensor of int, shapes (N,) and (M,), optional
        Graph id of each point (0..B-1, any order), both or neither. Every graph needs
        points in both clouds.
    reduction : {"mean", "sum", "none"}
        Over graphs. ``"none"`` returns one value per graph.
    block_size : int, optional
        Distance entries per block (default 4M on the CPU, 64M on a GPU).

    Returns
    -------
    Tensor
        Scalar, or shape ``(B,)`` with ``reduction="none"``, in squared units of ``x``.

    Raises
    ------
    ShapeError
        ``x``/``y`` not 2-D or of different ``D``; a batch vector of the wrong length;
        only one batch vector given.
    DataError
        Non-finite coordinates; a graph with no points in ``x`` or in ``y``; bad graph ids.
    ConfigError
        Unknown ``reduction``, ``block_size < 1``.

    Examples
    --------
    >>> x = torch.tensor([[0.0, 0.0], [1.0, 0.0]])
    >>> y = torch.tensor([[0.0, 0.0]])
    >>> float(chamfer_distance(x, y))  # (0 + 1) / 2 + 0 / 1
    0.5
    """
    who = "chamfer_distance"
    if reduction not in _REDUCTIONS:
        raise ConfigError(
            f"The 'reduction' parameter of {who} must be one of {_REDUCTIONS}. Got {reduction!r}."
        )
    x, y = _cloud(x, "x", who), _cloud(y, "y", who)
    if x.shape[1] != y.shape[1]:
        raise ShapeError(f"{who}: x has {x.shape[1]} coordinates per point, y has {y.shape[1]}")
    dtype = torch.promote_types(x.dtype, y.dtype)
    x, y = x.to(dtype), y.to(dtype=dtype, device=x.device)
    if block_size is None:
        block_size = _CHAMFER_BLOCK.get(x.device.type, _CHAMFER_BLOCK["cuda"])
    if isinstance(block_size, bool) or not isinstance(block_size, int) or block_size < 1:
        raise ConfigError(
            f"The 'block_size' parameter of {who} must be an int >= 1. Got {block_size!r}."
        )
    bx, by, n_graphs = _graph_ids(batch_x, batch_y, x, y, who)
    # sort both clouds by graph, so that each graph is a contiguous range
    px = torch.argsort(bx, stable=True)
    py = torch.argsort(by, stable=True)
    xs, ys, bxs, bys = x[px], y[py], bx[px], by[py]
    count_x = torch.bincount(bxs, minlength=n_graphs)
    count_y = torch.bincount(bys, minlength=n_graphs)
    empty = ((count_x == 0) | (count_y == 0)).nonzero()
    if empty.numel():
        g = int(empty[0])
        raise DataError(
            f"{who}: graph {g} has {int(count_x[g])} points in x and {int(count_y[g])} in y; "
            "each graph needs points in both"
        )
    nn_x, nn_y = _nearest(xs, ys, bxs, bys, count_x, count_y, block_size)
    dx = (xs - ys[nn_x]).pow(2).sum(dim=1)
    dy = (ys - xs[nn_y]).pow(2).sum(dim=1)
    per_graph = dx.new_zeros(n_graphs).index_add(0, bxs, dx) / count_x.to(dtype)
    per_graph = per_graph + dy.new_zeros(n_graphs).index_add(0, bys, dy) / count_y.to(dtype)
    return _reduce(per_graph, reduction)


def _cloud(p: torch.Tensor, name: str, who: str) -> torch.Tensor:
    p = torch.as_tensor(p)
    if p.ndim != 2 or p.shape[1] < 1:
        raise ShapeError(
            f"{who}: {name} must be 2-D, shape (num_points, dim); got {tuple(p.shape)}"
        )
    if not p.is_floating_point():
        p = p.to(torch.get_default_dtype())
    if not bool(torch.isfinite(p).all()):
        raise DataError(f"{who}: {name} has non-finite coordinates; remove or fix them")
    return p


def _graph_ids(
    batch_x: torch.Tensor | None,
    batch_y: torch.Tensor | None,
    x: torch.Tensor,
    y: torch.Tensor,
    who: str,
) -> tuple[torch.Tensor, torch.Tensor, int]:
    if (batch_x is None) != (batch_y is None):
        raise ShapeError(f"{who}: give both batch_x and batch_y, or neither")
    if batch_x is None:
        bx = torch.zeros(len(x), dtype=torch.long, device=x.device)
        return bx, torch.zeros(len(y), dtype=torch.long, device=x.device), 1
    ids = []
    for name, b, p in (("batch_x", batch_x, x), ("batch_y", batch_y, y)):
        b = torch.as_tensor(b, device=x.device)
        if b.ndim != 1 or b.shape[0] != p.shape[0]:
            raise ShapeError(
                f"{who}: {name} must be 1-D with one graph id per point ({p.shape[0]}); "
                f"got shape {tuple(b.shape)}"
            )
        if b.is_floating_point() or b.is_complex() or b.dtype == torch.bool:
            raise DataError(f"{who}: {name} must hold integer graph ids, got dtype {b.dtype}")
        if b.numel() and int(b.min()) < 0:
            raise DataError(f"{who}: {name} holds a negative graph id ({int(b.min())})")
        ids.append(b.long())
    n_graphs = max((int(b.max()) + 1 for b in ids if b.numel()), default=0)
    if n_graphs == 0:
        raise DataError(f"{who}: x and y hold no points")
    return ids[0], ids[1], n_graphs


def _blocks(
    count_x: list[int], count_y: list[int], budget: int
) -> list[tuple[int, int, int, int, bool]]:
    """``(x_start, x_stop, y_start, y_stop, several_graphs)`` blocks of at most ``budget``
    entries where possible: small graphs grouped, a big graph's ``x`` rows split."""
    px = [0, *itertools.accumulate(count_x)]
    py = [0, *itertools.accumulate(count_y)]
    plan, g, n = [], 0, len(count_x)
    while g < n:
        if count_x[g] * count_y[g] > budget:
            step = max(1, budget // count_y[g])
            for a in range(px[g], px[g + 1], step):
                plan.append((a, min(a + step, px[g + 1]), py[g], py[g + 1], False))
            g += 1
            continue
        h = g + 1
        while h < n and (px[h + 1] - px[g]) * (py[h + 1] - py[g]) <= budget:
            h += 1
        plan.append((px[g], px[h], py[g], py[h], h - g > 1))
        g = h
    return plan


@torch.no_grad()
def _nearest(
    xs: torch.Tensor,
    ys: torch.Tensor,
    bxs: torch.Tensor,
    bys: torch.Tensor,
    count_x: torch.Tensor,
    count_y: torch.Tensor,
    budget: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Index of each x point's nearest y point in its graph, and vice versa."""
    nn_x = torch.empty(len(xs), dtype=torch.long, device=xs.device)
    nn_y = torch.zeros(len(ys), dtype=torch.long, device=xs.device)
    best_y = torch.full((len(ys),), float("inf"), dtype=xs.dtype, device=xs.device)
    cached: tuple[int, int] | None = None
    for xa, xb, ya, yb, several in _blocks(count_x.tolist(), count_y.tolist(), budget):
        if cached != (ya, yb):  # consecutive blocks of one big graph share their y points
            cached = (ya, yb)
            centre = ys[ya:yb].mean(dim=0)
            q = ys[ya:yb] - centre
            # |p - q|^2 = [p, |p|^2, 1] . [-2q, 1, |q|^2]: one matrix product per block
            q_aug = torch.cat([-2.0 * q, torch.ones_like(q[:, :1]), q.pow(2).sum(1, True)], 1)
        p = xs[xa:xb] - centre
        p_aug = torch.cat([p, p.pow(2).sum(1, True), torch.ones_like(p[:, :1])], 1)
        d2 = p_aug @ q_aug.T
        if several:
            d2.masked_fill_(bxs[xa:xb, None] != bys[None, ya:yb], float("inf"))
        nn_x[xa:xb] = d2.argmin(dim=1) + ya
        col_best, col_arg = d2.min(dim=0)
        better = col_best < best_y[ya:yb]
        best_y[ya:yb] = torch.where(better, col_best, best_y[ya:yb])
        nn_y[ya:yb] = torch.where(better, col_arg + xa, nn_y[ya:yb])
    return nn_x, nn_y
