"""Training loop for neural operators, offline (datasets) or online (streams).

The :class:`Trainer` knows nothing of the model beyond ``model(x) -> y`` on batched fields
``(B, C, *S)`` and an optional ``constructor_args`` property (for checkpoints).  Its work is
split into small overridable steps::

    fit(train, val)                 # epochs, scheduler, logging, checkpoints
      └─ train_epoch(loader, epoch) # one pass; returns {"train_loss": ...}
           └─ train_step(batch)     # one optimizer step; returns {"loss": tensor}
    evaluate(datasets)              # {"<set>/<metric>": value}, any number of sets/resolutions

Loggers are passed in by the caller: any object with ``log(record: dict) -> None`` (and
optionally ``close()``); :class:`JsonlLogger` writes one JSON line per epoch.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Iterable, Mapping
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import torch
from pydantic import Field
from torch import nn
from torch.utils.data import DataLoader, Dataset, IterableDataset, RandomSampler

from pdeflow.config import PdeflowConfig, Threads
from pdeflow.errors import ConfigError, DataError
from pdeflow.progress import get_logger, progress
from pdeflow.threads import training_threads

from .checkpoint import load_normalizers, read_checkpoint, save_checkpoint
from .losses import H1Loss, LpLoss
from .normalizers import UnitGaussianNormalizer

__all__ = [
    "TrainerConfig",
    "Trainer",
    "Logger",
    "JsonlLogger",
    "select_device",
    "seed_everything",
]

_log = get_logger("pdeflow.operators.trainer")


class TrainerConfig(PdeflowConfig):
    """Settings of :class:`Trainer` (validated; unknown fields raise ConfigError)."""

    epochs: int = Field(10, ge=1, description="total epochs (a resumed run continues to this)")
    batch_size: int = Field(16, ge=1)
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(1e-4, ge=0)
    scheduler: Literal["cosine", "step", "plateau", "none"] = "cosine"
    step_size: int = Field(100, ge=1, description="StepLR period in epochs")
    gamma: float = Field(0.5, gt=0, le=1, description="StepLR/plateau decay factor")
    patience: int = Field(10, ge=0, description="plateau patience in epochs")
    grad_clip: float | None = Field(None, gt=0, description="max gradient norm (None: off)")
    loss: Literal["l2", "h1"] = "l2"
    precision: Literal["auto", "fp32", "bf16"] = Field(
        "auto", description="auto: bf16 autocast on CUDA, fp32 on the CPU"
    )
    compile: bool = False
    device: str = "auto"
    seed: int = 0
    num_workers: int = Field(0, ge=0)
    threads: Threads = None  # torch threads of fit/evaluate (pdeflow.threads.training_threads)
    normalize: bool = Field(True, description="fit unit-Gaussian normalizers on training data")
    normalizer_samples: int = Field(256, ge=1)
    eval_every: int = Field(1, ge=1)
    checkpoint_every: int = Field(0, ge=0, description="epochs between checkpoints (0: at end)")
    out_dir: str | None = Field(None, description="checkpoints and metrics.jsonl go here")
    progress: Literal["auto", "rich", "plain", "off"] = "auto"


class Logger(Protocol):
    """Receives one record (a flat dict of numbers) per epoch."""

    def log(self, record: Mapping[str, Any]) -> None: ...


class JsonlLogger:
    """Append each record as one JSON line to ``path``."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def log(self, record: Mapping[str, Any]) -> None:
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(dict(record)) + "\n")

    def __repr__(self) -> str:
        return f"JsonlLogger({str(self.path)!r})"


def select_device(device: str = "auto") -> torch.device:
    """``"auto"`` picks CUDA when available, else the CPU; other strings are checked."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise ConfigError(
            f"device {device!r} is not a torch device (try 'cpu' or 'cuda')"
        ) from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} requested but CUDA is not available")
    return dev


def seed_everything(seed: int) -> None:
    """Seed Python's, numpy's and torch's global generators."""
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 (seeding the legacy global generator)
    torch.manual_seed(seed)


class Trainer:
    """Train an operator ``model(x) -> y`` with AdamW, a scheduler and (de)normalization.

    Predictions are ``y_norm.decode(model(x_norm.encode(x)))`` and losses/metrics compare
    them with the raw targets, so reported errors are in physical units.

    Arguments
    ---------
    model : nn.Module
    config : TrainerConfig or None
    loss : callable or None
        ``loss(pred, target) -> scalar``; default from ``config.loss`` (relative L2 or H1).
    metrics : mapping of str to callable, or None
        Evaluated on validation sets; default ``{"l2": LpLoss(), "h1": H1Loss()}``.
    loggers : iterable of Logger
        Receive every epoch record; with ``config.out_dir`` a :class:`JsonlLogger` writing
        ``out_dir/metrics.jsonl`` is added.
    x_normalizer, y_normalizer : UnitGaussianNormalizer or None
        Given, or fitted by :meth:`fit` when ``config.normalize``.

    Example
    -------
    >>> from pdeflow.operators import FNO, StreamDataset
    >>> from pdeflow.operators.toy_data import darcy1d_source
    >>> stream = StreamDataset(darcy1d_source(32), samples_per_epoch=8)
    >>> trainer = Trainer(FNO(1, 1, modes=8, width=8),
    ...                   TrainerConfig(epochs=1, batch_size=4, progress="off"))
    >>> history = trainer.fit(stream, val=stream.take(4))
    >>> sorted(history[-1])[:3]
    ['epoch', 'lr', 'time_s']
    """

    def __init__(
        self,
        model: nn.Module,
        config: TrainerConfig | None = None,
        *,
        loss: Any = None,
        metrics: Mapping[str, Any] | None = None,
        loggers: Iterable[Logger] = (),
        x_normalizer: UnitGaussianNormalizer | None = None,
        y_normalizer: UnitGaussianNormalizer | None = None,
    ) -> None:
        self.config = config if config is not None else TrainerConfig()
        cfg = self.config
        self.device = select_device(cfg.device)
        self.model = model.to(self.device)
        self.loss_fn = loss if loss is not None else (LpLoss() if cfg.loss == "l2" else H1Loss())
        self.metrics = dict(metrics) if metrics is not None else {"l2": LpLoss(), "h1": H1Loss()}
        self.loggers: list[Logger] = list(loggers)
        if cfg.out_dir is not None:
            self.loggers.append(JsonlLogger(Path(cfg.out_dir) / "metrics.jsonl"))
        self.normalizers: dict[str, UnitGaussianNormalizer | None] = {
            "x": x_normalizer,
            "y": y_normalizer,
        }
        self._move_normalizers()
        use_bf16 = cfg.precision == "bf16" or (
            cfg.precision == "auto" and self.device.type == "cuda"
        )
        self.amp_dtype = torch.bfloat16 if use_bf16 else None
        self.optimizer = torch.optim.AdamW(
            self.model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay
        )
        self.scheduler = self._make_scheduler()
        self.forward_model = torch.compile(self.model) if cfg.compile else self.model
        self.epoch = 0  # epochs completed
        self.history: list[dict[str, Any]] = []

    # ------------------------------------------------------------------ setup
    def _make_scheduler(self):
        cfg = self.config
        if cfg.scheduler == "cosine":
            return torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer, T_max=cfg.epochs)
        if cfg.scheduler == "step":
            return torch.optim.lr_scheduler.StepLR(
                self.optimizer, step_size=cfg.step_size, gamma=cfg.gamma
            )
        if cfg.scheduler == "plateau":
            return torch.optim.lr_scheduler.ReduceLROnPlateau(
                self.optimizer, factor=cfg.gamma, patience=cfg.patience
            )
        return None

    def _move_normalizers(self) -> None:
        for k, v in self.normalizers.items():
            if v is not None:
                self.normalizers[k] = v.to(self.device)

    def fit_normalizers(self, train: Dataset | IterableDataset) -> None:
        """Fit unit-Gaussian normalizers on up to ``config.normalizer_samples`` training samples."""
        n = self.config.normalizer_samples
        if hasattr(train, "take"):
            data = train.take(n, seed=self.config.seed + 12345)
            xs, ys = data.x, data.y
        elif isinstance(train, IterableDataset):
            items = []
            for k, s in enumerate(train):
                if k >= n:
                    break
                items.append(s)
            xs = torch.stack([s["x"] for s in items])
            ys = torch.stack([s["y"] for s in items])
        else:
            m = min(n, len(train))
            items = [train[i] for i in range(m)]
            xs = torch.stack([s["x"] for s in items])
            ys = torch.stack([s["y"] for s in items])
        self.normalizers = {
            "x": UnitGaussianNormalizer.fitted(xs),
            "y": UnitGaussianNormalizer.fitted(ys),
        }
        self._move_normalizers()

    def _autocast(self):
        if self.amp_dtype is None:
            return nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)

    def loader(self, data: Dataset | IterableDataset, epoch: int, train: bool = True) -> DataLoader:
        """The DataLoader for one epoch: shuffling seeded by ``(seed, epoch)`` for map datasets,
        ``set_epoch(epoch)`` for streams."""
        cfg = self.config
        common = {
            "batch_size": cfg.batch_size,
            "num_workers": cfg.num_workers,
            "pin_memory": self.device.type == "cuda",
        }
        if isinstance(data, IterableDataset):
            if hasattr(data, "set_epoch"):
                data.set_epoch(epoch)
            return DataLoader(data, **common)
        if not train:
            return DataLoader(data, shuffle=False, **common)
        g = torch.Generator().manual_seed(cfg.seed * 1_000_003 + epoch)
        return DataLoader(data, sampler=RandomSampler(data, generator=g), generator=g, **common)

    # ------------------------------------------------------------------ steps
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Model output in physical units (normalizers applied)."""
        xn, yn = self.normalizers["x"], self.normalizers["y"]
        if xn is not None:
            x = xn.encode(x)
        with self._autocast():
            y = self.forward_model(x)
        y = y.float()
        return yn.decode(y) if yn is not None else y

    def train_step(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """One optimizer step on a batch ``{"x": ..., "y": ...}``; returns ``{"loss": ...}``."""
        x = batch["x"].to(self.device, non_blocking=True)
        y = batch["y"].to(self.device, non_blocking=True)
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.loss_fn(self.predict(x), y)
        loss.backward()
        if self.config.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        self.optimizer.step()
        return {"loss": loss.detach()}

    def train_epoch(
        self, loader: Iterable[Mapping[str, torch.Tensor]], epoch: int
    ) -> dict[str, float]:
        """One pass over ``loader``; returns ``{"train_loss": sample-weighted mean loss}``."""
        self.model.train()
        total = torch.zeros((), device=self.device)
        count = 0
        for batch in loader:
            out = self.train_step(batch)
            b = batch["x"].shape[0]
            total += out["loss"] * b
            count += b
        if count == 0:
            raise DataError(f"epoch {epoch}: the training data yielded no batch")
        loss = float(total) / count
        if not math.isfinite(loss):
            raise DataError(
                f"epoch {epoch}: training loss is {loss}; lower the learning rate, enable "
                "grad_clip or check the data for outliers"
            )
        return {"train_loss": loss}

    @torch.no_grad()
    @training_threads
    def evaluate(
        self, datasets: Mapping[str, Dataset] | Dataset, metrics: Mapping[str, Any] | None = None
    ) -> dict[str, float]:
        """Mean of every metric over every dataset: ``{"<set>/<metric>": value}``.

        Pass several datasets (e.g. the validation set at two resolutions,
        ``{"val": ds, "val_coarse": ds.subsampled(2)}``) to evaluate them all.
        """
        if not isinstance(datasets, Mapping):
            datasets = {"val": datasets}
        metrics = self.metrics if metrics is None else metrics
        self.model.eval()
        out: dict[str, float] = {}
        for name, data in datasets.items():
            sums = {m: 0.0 for m in metrics}
            count = 0
            for batch in self.loader(data, 0, train=False):
                x = batch["x"].to(self.device)
                y = batch["y"].to(self.device)
                pred = self.predict(x)
                b = x.shape[0]
                for m, fn in metrics.items():
                    sums[m] += float(fn(pred, y)) * b
                count += b
            for m in metrics:
                out[f"{name}/{m}"] = sums[m] / max(count, 1)
        return out

    # ------------------------------------------------------------------ loop
    @training_threads
    def fit(
        self,
        train: Dataset | IterableDataset,
        val: Mapping[str, Dataset] | Dataset | None = None,
        *,
        epochs: int | None = None,
    ) -> list[dict[str, Any]]:
        """Train until ``epochs`` (default ``config.epochs``) epochs are complete.

        A trainer restored with :meth:`resume` continues from its saved epoch.  ``val`` is a
        fixed dataset (or several, by name) evaluated every ``config.eval_every`` epochs.

        Returns
        -------
        list of dict
            One record per epoch: ``epoch``, ``train_loss``, ``lr``, ``time_s`` and the
            validation metrics.
        """
        cfg = self.config
        epochs = cfg.epochs if epochs is None else int(epochs)
        if val is not None and not isinstance(val, Mapping):
            val = {"val": val}
        if cfg.normalize and self.normalizers["x"] is None and self.normalizers["y"] is None:
            self.fit_normalizers(train)
        torch.manual_seed(cfg.seed + self.epoch)
        mode = None if cfg.progress == "auto" else cfg.progress
        with progress("training", total=epochs, mode=mode) as bar:
            bar.update(self.epoch)
            while self.epoch < epochs:
                e = self.epoch
                start = time.perf_counter()
                record: dict[str, Any] = {"epoch": e + 1}
                record.update(self.train_epoch(self.loader(train, e), e))
                record["lr"] = self.optimizer.param_groups[0]["lr"]
                if val and ((e + 1) % cfg.eval_every == 0 or e + 1 == epochs):
                    record.update(self.evaluate(val))
                self._step_scheduler(record)
                record["time_s"] = time.perf_counter() - start
                self.epoch = e + 1
                self.history.append(record)
                self._report(record, epochs, bar)
                if cfg.out_dir is not None and (
                    (cfg.checkpoint_every and self.epoch % cfg.checkpoint_every == 0)
                    or self.epoch == epochs
                ):
                    self.save_checkpoint(Path(cfg.out_dir) / "last.pt")
        return self.history

    def _step_scheduler(self, record: Mapping[str, Any]) -> None:
        if self.scheduler is None:
            return
        if isinstance(self.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            key = next((k for k in record if k.endswith("/l2")), "train_loss")
            self.scheduler.step(record[key])
        else:
            self.scheduler.step()

    def _report(self, record: Mapping[str, Any], epochs: int, bar: Any) -> None:
        for logger in self.loggers:
            logger.log(record)
        shown = ", ".join(f"{k}={v:.4g}" for k, v in record.items() if k not in ("epoch", "time_s"))
        text = f"epoch {record['epoch']}/{epochs}: {shown}"
        bar.description = f"training ({shown})"
        rich = getattr(bar, "_rich", None)
        if rich is not None:
            rich.update(bar._task, description=bar.description)
        bar.advance()
        if bar.mode != "off":
            _log.info(text)

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        """Optimizer, scheduler, epoch, RNG state, history and config (plain data)."""
        state = {
            "optimizer": self.optimizer.state_dict(),
            "scheduler": None if self.scheduler is None else self.scheduler.state_dict(),
            "epoch": self.epoch,
            "rng": torch.get_rng_state(),
            "history": list(self.history),
            "config": self.config.model_dump(mode="json"),
        }
        if torch.cuda.is_available():
            state["cuda_rng"] = torch.cuda.get_rng_state_all()
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None and state.get("scheduler") is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        self.epoch = int(state["epoch"])
        torch.set_rng_state(state["rng"])
        if "cuda_rng" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        self.history = [dict(r) for r in state.get("history", [])]

    def save_checkpoint(self, path: str | Path) -> Path:
        """Model (with constructor arguments), normalizers and trainer state in one file."""
        import pdeflow

        return save_checkpoint(
            path,
            self.model,
            normalizers=self.normalizers,
            trainer=self.state_dict(),
            meta={"pdeflow_version": pdeflow.__version__},
        )

    def resume(self, path: str | Path) -> Trainer:
        """Restore weights, normalizers and trainer state from a checkpoint (same model)."""
        doc = read_checkpoint(path, map_location="cpu")
        args = doc["model"].get("args")
        own = getattr(self.model, "constructor_args", None)
        if own is not None and args != own:
            raise ConfigError(
                f"checkpoint {path} was written for a model with arguments {args}, not {own}"
            )
        self.model.load_state_dict(doc["model"]["state"])
        self.normalizers = load_normalizers(doc)
        self._move_normalizers()
        if doc.get("trainer") is not None:
            self.load_state_dict(doc["trainer"])
        return self

    @classmethod
    def from_checkpoint(
        cls, path: str | Path, config: TrainerConfig | None = None, **kwargs: Any
    ) -> Trainer:
        """A trainer with the checkpoint's model, normalizers and state (config from the file
        unless given)."""
        from .checkpoint import build_model

        doc = read_checkpoint(path, map_location="cpu")
        model = build_model(doc)
        if config is None:
            saved = (doc.get("trainer") or {}).get("config")
            config = TrainerConfig(**saved) if saved else TrainerConfig()
        return cls(model, config, **kwargs).resume(path)

    def __repr__(self) -> str:
        return (
            f"Trainer({type(self.model).__name__}, device={self.device.type}, "
            f"epoch={self.epoch}/{self.config.epochs})"
        )
