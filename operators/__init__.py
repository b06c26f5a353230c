"""Neural operators, losses, metrics and their trainer (offline and online).

Examples
--------
>>> import torch
>>> from pdeflow.operators import FNO
>>> FNO(in_channels=1, out_channels=1, modes=(8, 8), width=16)(torch.randn(2, 1, 32, 32)).shape
torch.Size([2, 1, 32, 32])
"""

from pdeflow._lazy import lazy_exports

# torch loads on first use, so that ``pdeflow --help`` and ``pdeflow generate`` (whose CLI
# registers the operators' commands) do not pay for it
_LAZY = {
    "FNO": ".models",
    "FNOConfig": ".models",
    "H1Loss": ".losses",
    "LpLoss": ".losses",
    "H5FieldDataset": ".data",
    "OnlineSource": ".data",
    "StreamDataset": ".data",
    "TensorFieldDataset": ".data",
    "JsonlLogger": ".trainer",
    "Trainer": ".trainer",
    "TrainerConfig": ".trainer",
    "seed_everything": ".trainer",
    "select_device": ".trainer",
    "UnitGaussianNormalizer": ".normalizers",
    "Predictor": ".predictor",
    "load_predictor": ".predictor",
    "load_model": ".checkpoint",
    "read_checkpoint": ".checkpoint",
    "save_checkpoint": ".checkpoint",
}


__all__ = [
    "FNO",
    "FNOConfig",
    "H1Loss",
    "H5FieldDataset",
    "JsonlLogger",
    "LpLoss",
    "OnlineSource",
    "Predictor",
    "StreamDataset",
    "TensorFieldDataset",
    "Trainer",
    "TrainerConfig",
    "UnitGaussianNormalizer",
    "load_model",
    "load_predictor",
    "losses",
    "read_checkpoint",
    "save_checkpoint",
    "seed_everything",
    "select_device",
]

__getattr__, __dir__ = lazy_exports(
    __name__, globals(), _LAZY, submodules=("losses",), public=__all__
)
