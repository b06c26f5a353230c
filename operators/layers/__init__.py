"""Building blocks of the neural operators in :mod:`pdeflow.operators.models`."""

from .embedding import DomainPadding, GridEmbedding
from .fno_block import FNOBlock
from .pointwise import ChannelMLP, Pointwise, SoftGating
from .spectral import SpectralConv

__all__ = [
    "ChannelMLP",
    "DomainPadding",
    "FNOBlock",
    "GridEmbedding",
    "Pointwise",
    "SoftGating",
    "SpectralConv",
]
