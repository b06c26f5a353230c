"""Inference in physical units: an operator together with the normalizers it was trained with.

A model trained with normalizers (the :class:`~pdeflow.operators.Trainer` default) maps
*normalized* inputs to *normalized* outputs; calling the bare module on physical data gives
numbers in the wrong units (relative errors of 10-1000x are typical).  A :class:`Predictor`
applies the input normalizer, the model and the output normalizer's inverse, so what goes in
and what comes out are physical fields, exactly as the trainer's metrics and
``pdeflow evaluate`` see them::

    predictor = Predictor.from_checkpoint("runs/fno/last.pt")
    u = predictor.predict(a)          # (B, C_in, *S) -> (B, C_out, *S), physical units
    predictor.model                   # the bare module (normalized units)
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from pdeflow.errors import ShapeError

from .checkpoint import build_model, load_normalizers, read_checkpoint
from .normalizers import UnitGaussianNormalizer

__all__ = ["Predictor", "load_predictor"]


class Predictor(nn.Module):
    r"""An operator with its input and output normalizers: physical units in and out.

    .. math::

        \hat u = N_y^{-1}\big(\mathcal{G}_\theta(N_x(a))\big),

    with :math:`N_x`, :math:`N_y` the unit-Gaussian normalizers fitted on the training data
    (identity where absent) and :math:`\mathcal{G}_\theta` the trained model.

    Parameters
    ----------
    model : nn.Module
        The trained operator (``model(x) -> y`` on batched fields, normalized units).
    x_normalizer, y_normalizer : UnitGaussianNormalizer or None
        The normalizers the model was trained with (``None``: no normalization).

    Shapes
    ------
    ``forward``: ``(B, C_in, *S)`` -> ``(B, C_out, *S)``.  :meth:`predict` also takes one
    unbatched sample ``(C_in, *S)`` and numpy arrays.

    Examples
    --------
    >>> from pdeflow.operators import FNO, UnitGaussianNormalizer
    >>> a = torch.rand(4, 1, 32) * 9 + 3                      # a physical input field
    >>> model = FNO(1, 1, modes=8, width=8)
    >>> predictor = Predictor(model, UnitGaussianNormalizer.fitted(a), None)
    >>> predictor.predict(a).shape, predictor.predict(a[0].numpy()).shape
    (torch.Size([4, 1, 32]), (1, 32))
    """

    def __init__(
        self,
        model: nn.Module,
        x_normalizer: UnitGaussianNormalizer | None = None,
        y_normalizer: UnitGaussianNormalizer | None = None,
    ) -> None:
        super().__init__()
        self.model = getattr(model, "_orig_mod", model)  # a torch.compile wrapper's module
        self.x_normalizer = x_normalizer
        self.y_normalizer = y_normalizer

    # ---------------------------------------------------------------- constructors
    @classmethod
    def from_checkpoint(
        cls, path: str | Path, map_location: str | torch.device = "cpu"
    ) -> Predictor:
        """The model of a checkpoint with its normalizers, in eval mode.

        Raises
        ------
        DataError
            Missing or unreadable file.
        ConfigError
            Not a pdeflow checkpoint, unknown version, model class or arguments.
        """
        doc = read_checkpoint(path, map_location=map_location)
        norms = load_normalizers(doc)
        device = torch.device(map_location)
        predictor = cls(build_model(doc), norms["x"], norms["y"]).to(device)
        return predictor.eval()

    @classmethod
    def from_trainer(cls, trainer: Any) -> Predictor:
        """The trainer's model and normalizers (shared, not copied: it follows further training).

        ``trainer`` is a :class:`~pdeflow.operators.Trainer` (anything with ``model`` and a
        ``normalizers`` mapping ``{"x": ..., "y": ...}``).
        """
        norms: Mapping[str, Any] = trainer.normalizers
        return cls(trainer.model, norms.get("x"), norms.get("y"))

    # ---------------------------------------------------------------- inference
    @property
    def normalizers(self) -> dict[str, UnitGaussianNormalizer | None]:
        """``{"x": ..., "y": ...}`` (``None`` where the model was trained without one)."""
        return {"x": self.x_normalizer, "y": self.y_normalizer}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C_in, *S)`` physical input -> ``(B, C_out, *S)`` physical output."""
        if self.x_normalizer is not None:
            x = self.x_normalizer.encode(x)
        y = self.model(x)
        return self.y_normalizer.decode(y) if self.y_normalizer is not None else y

    @torch.no_grad()
    def predict(self, x: Any, batch_size: int | None = None) -> Any:
        """Predict without gradients, on the model's device, in physical units.

        Parameters
        ----------
        x : torch.Tensor or numpy.ndarray
            ``(B, C_in, *S)``, or one sample ``(C_in, *S)``, physical units.
        batch_size : int or None
            Run the batch in pieces of this size (bounded memory); ``None``: all at once.

        Returns
        -------
        torch.Tensor or numpy.ndarray
            ``(B, C_out, *S)`` (or ``(C_out, *S)``): a tensor on ``x``'s device for a tensor,
            a float32 numpy array for anything else.
        """
        as_numpy = not isinstance(x, torch.Tensor)
        t = torch.as_tensor(np.asarray(x) if as_numpy else x)
        single = self._is_single(t)
        if single:
            t = t.unsqueeze(0)
        param = next(self.model.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
        dtype = param.dtype if param is not None else torch.float32
        pieces = [t] if batch_size is None else torch.split(t, int(batch_size))
        out = torch.cat([self(p.to(device=device, dtype=dtype)) for p in pieces])
        if single:
            out = out[0]
        if as_numpy:
            return out.float().cpu().numpy()
        return out.to(x.device)

    def _is_single(self, t: torch.Tensor) -> bool:
        ndim = getattr(self.model, "ndim", None)
        if ndim is None:  # a model that does not say its dimension: batched input only
            return False
        if t.ndim == ndim + 1:
            return True
        if t.ndim != ndim + 2:
            raise ShapeError(
                f"Predictor of a {ndim}-D model expects (batch, channels, *grid) or "
                f"(channels, *grid) with {ndim} grid axes; got shape {tuple(t.shape)}"
            )
        return False

    def __repr__(self) -> str:
        norm = [k for k, v in self.normalizers.items() if v is not None]
        return f"Predictor({self.model!r}, normalizers={norm or 'none'})"


def load_predictor(path: str | Path, map_location: str | torch.device = "cpu") -> Predictor:
    """``Predictor.from_checkpoint(path)``: a checkpoint's model with its normalizers."""
    return Predictor.from_checkpoint(path, map_location=map_location)
