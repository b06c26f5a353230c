"""Models registered by the registry tests (imported by them and by their child processes)."""

from __future__ import annotations

import zlib

import torch
from pydantic import Field
from torch import nn

from pdeflow.config import PdeflowConfig
from pdeflow.operators.registry import FrozenWeights, register_model


class PointwiseConfig(PdeflowConfig):
    """A 1-D pointwise conv net."""

    in_channels: int = Field(1, gt=0)
    out_channels: int = Field(1, gt=0)
    hidden: int = Field(8, gt=0)


@register_model("test-pointwise", config=PointwiseConfig, example={"hidden": 4},
                example_input=(3, 1, 16))
class Pointwise(nn.Module):
    """Two 1x1 convolutions with a GELU between them."""

    def __init__(self, in_channels: int = 1, out_channels: int = 1, hidden: int = 8) -> None:
        super().__init__()
        self.config = PointwiseConfig(
            in_channels=in_channels, out_channels=out_channels, hidden=hidden
        )
        self.net = nn.Sequential(
            nn.Conv1d(in_channels, hidden, 1), nn.GELU(), nn.Conv1d(hidden, out_channels, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def load_fake_encoder(name: str, version: str, width: int) -> nn.Module:
    """A stand-in for a pretrained text encoder: weights fixed by (name, version) alone."""
    g = torch.Generator().manual_seed(zlib.crc32(f"{name}@{version}".encode()))
    enc = nn.Linear(width, width)
    with torch.no_grad():
        enc.weight.copy_(torch.randn(width, width, generator=g))
        enc.bias.copy_(torch.randn(width, generator=g))
    enc.requires_grad_(False)
    return enc


class EncodedConfig(PdeflowConfig):
    """A head trained on top of a frozen encoder named by name and version."""

    in_channels: int = Field(1, gt=0)
    out_channels: int = Field(1, gt=0)
    width: int = Field(64, gt=0)
    encoder: str = "fake-encoder"
    encoder_version: str = "1"


@register_model("test-encoded", config=EncodedConfig, example={"width": 64},
                example_input=(2, 1, 64))
class Encoded(nn.Module):
    """A trainable head after a frozen (external) encoder."""

    def __init__(self, config: EncodedConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = load_fake_encoder(config.encoder, config.encoder_version, config.width)
        self.head = nn.Conv1d(config.in_channels, config.out_channels, 1)

    @classmethod
    def from_config(cls, config: EncodedConfig) -> Encoded:
        return cls(config)

    def frozen_weights(self) -> dict[str, FrozenWeights]:
        return {"encoder": FrozenWeights(self.config.encoder, self.config.encoder_version)}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.tanh(self.encoder(x)))
