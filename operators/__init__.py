"""Neural operators, losses, metrics and their trainer (offline and online).

Example
-------
>>> import torch
>>> from pdeflow.operators import FNO
>>> FNO(in_channels=1, out_channels=1, modes=(8, 8), width=16)(torch.randn(2, 1, 32, 32)).shape
torch.Size([2, 1, 32, 32])
"""

from . import losses
from .checkpoint import load_model, read_checkpoint, save_checkpoint
from .data import H5FieldDataset, OnlineSource, StreamDataset, TensorFieldDataset
from .losses import H1Loss, LpLoss
from .models import FNO, FNOConfig
from .normalizers import UnitGaussianNormalizer
from .trainer import JsonlLogger, Trainer, TrainerConfig, seed_everything, select_device

__all__ = [
    "FNO",
    "FNOConfig",
    "H1Loss",
    "H5FieldDataset",
    "JsonlLogger",
    "LpLoss",
    "OnlineSource",
    "StreamDataset",
    "TensorFieldDataset",
    "Trainer",
    "TrainerConfig",
    "UnitGaussianNormalizer",
    "load_model",
    "losses",
    "read_checkpoint",
    "save_checkpoint",
    "seed_everything",
    "select_device",
]
