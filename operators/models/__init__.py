"""Neural operator models."""

from .fno import FNO, FNOConfig

__all__ = ["FNO", "FNOConfig"]
