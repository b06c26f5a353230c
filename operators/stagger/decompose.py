"""Spatial and temporal decomposition of NeuralStagger (Huang et al., ICML 2023).

A fine field of ``H × W`` nodes splits into ``s²`` staggered coarse sub-grids of
``H/s × W/s`` nodes (a pixel unshuffle): sub-grid ``(a, b)`` holds the nodes
``[a::s, b::s]``.  A trajectory of ``T`` frames splits into ``k`` interleaved
sub-sequences: sub-sequence ``τ`` holds the frames ``τ, τ + k, τ + 2k, ...``.
Both splits are pure index permutations, so they invert bit for bit.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from pdeflow.errors import ShapeError

__all__ = ["space_to_stagger", "stagger_to_space", "stagger_to_time", "time_to_stagger"]


def _check_factor(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ShapeError(f"The {name!r} factor must be an int >= 1. Got {value!r}.")


def space_to_stagger(u: torch.Tensor, s: int) -> torch.Tensor:
    """Split a fine field into ``s²`` staggered coarse sub-grids (pixel unshuffle).

    Parameters
    ----------
    u : Tensor, shape (..., C, H, W)
        Fine field; ``H`` and ``W`` multiples of ``s``.
    s : int
        Spatial decomposition factor (1 returns ``u`` unchanged).

    Returns
    -------
    Tensor, shape (..., C·s², H/s, W/s)
        Channel ``c·s² + a·s + b`` is ``u[..., c, a::s, b::s]``.

    Examples
    --------
    >>> import torch
    >>> u = torch.arange(16.0).reshape(1, 1, 4, 4)
    >>> v = space_to_stagger(u, 2)
    >>> v.shape, v[0, 1].tolist()
    (torch.Size([1, 4, 2, 2]), [[1.0, 3.0], [9.0, 11.0]])
    >>> bool((stagger_to_space(v, 2) == u).all())
    True
    """
    _check_factor("s", s)
    if u.ndim < 3:
        raise ShapeError(
            f"space_to_stagger needs a field of shape (..., C, H, W); got {tuple(u.shape)}."
        )
    H, W = u.shape[-2:]
    if H % s or W % s:
        raise ShapeError(f"space_to_stagger: the grid {H}x{W} is not divisible by s = {s}.")
    if s == 1:
        return u
    lead = u.shape[:-3]
    v = F.pixel_unshuffle(u.reshape(-1, *u.shape[-3:]), s)
    return v.reshape(*lead, *v.shape[-3:])


def stagger_to_space(v: torch.Tensor, s: int) -> torch.Tensor:
    """Reassemble ``s²`` coarse sub-grids into the fine field (inverse of :func:`space_to_stagger`).

    Parameters
    ----------
    v : Tensor, shape (..., C·s², h, w)
    s : int

    Returns
    -------
    Tensor, shape (..., C, h·s, w·s)

    Examples
    --------
    >>> import torch
    >>> stagger_to_space(torch.zeros(2, 8, 3, 3), 2).shape
    torch.Size([2, 2, 6, 6])
    """
    _check_factor("s", s)
    if v.ndim < 3 or v.shape[-3] % (s * s):
        raise ShapeError(
            f"stagger_to_space: expected (..., C·s², h, w) with s = {s}; got {tuple(v.shape)}."
        )
    if s == 1:
        return v
    lead = v.shape[:-3]
    u = F.pixel_shuffle(v.reshape(-1, *v.shape[-3:]), s)
    return u.reshape(*lead, *u.shape[-3:])


def time_to_stagger(frames: torch.Tensor, k: int) -> torch.Tensor:
    """Split a trajectory into ``k`` interleaved sub-sequences.

    Parameters
    ----------
    frames : Tensor, shape (B, T, ...)
        ``T`` frames, a multiple of ``k``.
    k : int
        Temporal decomposition factor.

    Returns
    -------
    Tensor, shape (B, k, T/k, ...)
        ``out[:, τ, j] = frames[:, j·k + τ]``.

    Examples
    --------
    >>> import torch
    >>> time_to_stagger(torch.arange(6).reshape(1, 6), 2).tolist()
    [[[0, 2, 4], [1, 3, 5]]]
    """
    _check_factor("k", k)
    if frames.ndim < 2 or frames.shape[1] % k:
        raise ShapeError(
            f"time_to_stagger: the number of frames (axis 1 of {tuple(frames.shape)}) "
            f"is not a multiple of k = {k}."
        )
    B, T = frames.shape[:2]
    return frames.reshape(B, T // k, k, *frames.shape[2:]).transpose(1, 2)


def stagger_to_time(sub: torch.Tensor, k: int) -> torch.Tensor:
    """Interleave ``k`` sub-sequences back into one trajectory (inverse of :func:`time_to_stagger`).

    Parameters
    ----------
    sub : Tensor, shape (B, k, T/k, ...)
    k : int

    Returns
    -------
    Tensor, shape (B, T, ...)

    Examples
    --------
    >>> import torch
    >>> stagger_to_time(torch.tensor([[[0, 2, 4], [1, 3, 5]]]), 2).tolist()
    [[0, 1, 2, 3, 4, 5]]
    """
    _check_factor("k", k)
    if sub.ndim < 3 or sub.shape[1] != k:
        raise ShapeError(f"stagger_to_time: expected (B, k={k}, T/k, ...); got {tuple(sub.shape)}.")
    B, _, n = sub.shape[:3]
    return sub.transpose(1, 2).reshape(B, n * k, *sub.shape[3:])
