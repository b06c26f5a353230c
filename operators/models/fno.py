"""The Fourier neural operator (Li et al. 2020, arXiv:2010.08895)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from pydantic import Field, field_validator
from torch import nn

from pdeflow.config import PdeflowConfig
from pdeflow.errors import ConfigError, ShapeError

from ..layers import ChannelMLP, DomainPadding, FNOBlock, GridEmbedding
from ..registry import register_model

__all__ = ["FNO", "FNOConfig"]


class FNOConfig(PdeflowConfig):
    """Validated constructor arguments of :class:`FNO` (stored in checkpoints)."""

    in_channels: int = Field(gt=0)
    out_channels: int = Field(gt=0)
    modes: tuple[int, ...]
    width: int = Field(32, gt=0)
    n_layers: int = Field(4, gt=0)
    lifting_ratio: float = Field(2.0, gt=0)
    projection_ratio: float = Field(2.0, gt=0)
    channel_mlp: bool = True
    mlp_expansion: float = Field(0.5, gt=0)
    grid_embedding: bool = True
    padding: float = Field(0.0, ge=0, le=1)

    @field_validator("modes", mode="before")
    @classmethod
    def _modes(cls, v: Any) -> Any:
        if isinstance(v, int):
            v = (v,)
        v = tuple(v)
        if not 1 <= len(v) <= 3 or any(int(m) < 1 for m in v):
            raise ValueError("must give 1, 2 or 3 positive mode counts, one per spatial axis")
        return v


@register_model(
    "fno",
    config=FNOConfig,
    example={"in_channels": 1, "out_channels": 1, "modes": [4], "width": 8, "n_layers": 2},
    example_input=(2, 1, 16),
    train=("pdeflow.operators.recipes:FNOTrainConfig", "pdeflow.operators.recipes:train_fno"),
)
class FNO(nn.Module):
    r"""Fourier neural operator for 1-D, 2-D and 3-D fields.

    .. math::

        v_0 = P\big([a, x]\big), \qquad v_{l+1} = \mathrm{FNOBlock}_l(v_l), \qquad
        u = Q(v_L),

    with :math:`P` (lifting) and :math:`Q` (projection) pointwise two-layer MLPs,
    :math:`x` the optional normalized grid coordinates, and each block a spectral
    convolution with a linear skip and an optional channel MLP
    (:class:`~pdeflow.operators.layers.FNOBlock`).  With ``padding > 0`` the lifted field
    is zero-padded on every axis before the blocks and cropped after them (non-periodic
    problems).  The weights do not depend on the grid: train at one resolution, evaluate at
    another.

    Parameters
    ----------
    in_channels, out_channels : int
        Channels of the input function :math:`a` and the output :math:`u`.
    modes : int or tuple of int
        Fourier modes kept per spatial axis (its length sets the dimension, 1 to 3); the
        original FNO convention, ``12`` keeps frequencies ``-12..11`` (``0..11`` on the last axis).
    width : int
        Hidden channels.
    n_layers : int
        Number of Fourier blocks.
    lifting_ratio, projection_ratio : float
        Hidden width of :math:`P`, :math:`Q` as a multiple of ``width``.
    channel_mlp : bool
        Channel MLP (expansion ``mlp_expansion``) inside every block.
    grid_embedding : bool
        Append grid coordinates to the input.
    padding : float
        Domain padding fraction (0 for periodic problems).

    Shapes
    ------
    input ``(B, in_channels, *S)``; output ``(B, out_channels, *S)``, ``len(S) == len(modes)``.

    Examples
    --------
    >>> model = FNO(in_channels=1, out_channels=1, modes=(8, 8), width=16)
    >>> model(torch.randn(4, 1, 32, 32)).shape
    torch.Size([4, 1, 32, 32])
    """

    config_class = FNOConfig

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        modes: int | tuple[int, ...],
        width: int = 32,
        n_layers: int = 4,
        lifting_ratio: float = 2.0,
        projection_ratio: float = 2.0,
        channel_mlp: bool = True,
        mlp_expansion: float = 0.5,
        grid_embedding: bool = True,
        padding: float = 0.0,
    ) -> None:
        super().__init__()
        cfg = FNOConfig(
            in_channels=in_channels,
            out_channels=out_channels,
            modes=modes,
            width=width,
            n_layers=n_layers,
            lifting_ratio=lifting_ratio,
            projection_ratio=projection_ratio,
            channel_mlp=channel_mlp,
            mlp_expansion=mlp_expansion,
            grid_embedding=grid_embedding,
            padding=padding,
        )
        self.config = cfg
        d = len(cfg.modes)
        self.embedding = GridEmbedding(d) if cfg.grid_embedding else None
        lift_in = cfg.in_channels + (d if cfg.grid_embedding else 0)
        self.lifting = ChannelMLP(lift_in, cfg.width, round(cfg.lifting_ratio * cfg.width))
        self.padder = DomainPadding(cfg.padding) if cfg.padding > 0 else None
        self.blocks = nn.ModuleList(
            FNOBlock(
                cfg.width,
                cfg.modes,
                channel_mlp=cfg.channel_mlp,
                mlp_expansion=cfg.mlp_expansion,
                activate=i < cfg.n_layers - 1,
            )
            for i in range(cfg.n_layers)
        )
        self.projection = ChannelMLP(
            cfg.width, cfg.out_channels, round(cfg.projection_ratio * cfg.width)
        )

    # ---------------------------------------------------------------- properties
    @property
    def ndim(self) -> int:
        """Number of spatial axes."""
        return len(self.config.modes)

    @property
    def constructor_args(self) -> dict[str, Any]:
        """Plain constructor arguments: ``FNO(**model.constructor_args)`` rebuilds the model."""
        args = self.config.model_dump()
        args["modes"] = list(args["modes"])
        return args

    def reset_parameters(self) -> None:
        """Re-initialize the lifting, every FNO block and the projection."""
        for module in (self.lifting, *self.blocks, self.projection):
            module.reset_parameters()

    def __repr__(self) -> str:
        c = self.config
        n = sum(p.numel() for p in self.parameters())
        return (
            f"FNO({c.in_channels} -> {c.out_channels}, modes={c.modes}, width={c.width}, "
            f"n_layers={c.n_layers}, params={n})"
        )

    # ---------------------------------------------------------------- forward
    def forward(self, a: torch.Tensor) -> torch.Tensor:
        c = self.config
        d = self.ndim
        if a.ndim != d + 2 or a.shape[1] != c.in_channels:
            raise ShapeError(
                f"FNO expects input of shape (batch, {c.in_channels}, "
                f"{', '.join('n' + str(i + 1) for i in range(d))}) for {d}-D data with "
                f"{c.in_channels} channel(s); got shape {tuple(a.shape)}"
            )
        sizes = tuple(a.shape[2:])
        v = self.embedding(a) if self.embedding is not None else a
        v = self.lifting(v)
        if self.padder is not None:
            v = self.padder.pad(v)
        for block in self.blocks:
            v = block(v)
        if self.padder is not None:
            v = self.padder.unpad(v, sizes)
        return self.projection(v)

    # ---------------------------------------------------------------- checkpoints
    @classmethod
    def from_checkpoint(
        cls,
        path: str | Path,
        map_location: str | torch.device = "cpu",
        *,
        normalized: bool = False,
    ) -> FNO:
        """Rebuild the bare model (weights included) from a checkpoint written by the trainer.

        To predict in physical units use
        ``pdeflow.operators.Predictor.from_checkpoint(path)``, which applies the normalizers
        the model was trained with.  The bare FNO of a model trained with normalizers (the
        trainer's default) maps *normalized* inputs to *normalized* outputs, so this refuses
        such a checkpoint unless ``normalized=True`` says that this is what you want
        (fine-tuning, export).

        Raises
        ------
        ConfigError
            The checkpoint holds normalizers and ``normalized`` is False; not an FNO
            checkpoint, unknown version, or unknown constructor arguments.
        """
        from ..checkpoint import load_model

        model = load_model(path, map_location=map_location, normalized=normalized)
        if not isinstance(model, cls):
            raise ConfigError(f"checkpoint {path} holds a {type(model).__name__}, not an FNO")
        return model
