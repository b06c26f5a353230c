"""Training loop for neural operators, offline (datasets) or online (streams).

The :class:`Trainer` knows nothing of the model beyond an optional ``constructor_args``
property (for checkpoints), nor of the data: what it trains on is a
:class:`~pdeflow.operators.tasks.Task`, which batches samples (``collate``), computes the
loss of a batch (``step``), judges a model (``evaluate``) and owns the normalizers.  Without
a task it trains a :class:`~pdeflow.operators.tasks.SupervisedTask` (``model(x) -> y`` on
fields ``(B, C, *S)``).  Its work is split into small overridable steps::

    fit(train, val)                 # epochs, scheduler, logging, checkpoints
      └─ train_epoch(loader, epoch) # one pass; returns {"train_loss": ...}
           └─ train_step(batch)     # one optimizer step; returns {"loss": tensor, ...}
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

from .checkpoint import read_checkpoint, save_checkpoint
from .normalizers import UnitGaussianNormalizer
from .tasks.base import Task
from .tasks.supervised import SupervisedTask

__all__ = [
    "TrainerConfig",
    "Trainer",
    "Logger",
    "JsonlLogger",
    "select_device",
    "seed_everything",
    "to_device",
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

    def log(self, record: Mapping[str, Any]) -> None:
        """Receive the record of one epoch."""


class JsonlLogger:
    """Append each record as one JSON line to ``path``."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def log(self, record: Mapping[str, Any]) -> None:
        """Append ``record`` as one JSON line."""
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


class _Autocast(nn.Module):
    """Run ``module`` under autocast to ``dtype`` and return float32 tensors."""

    def __init__(self, module: nn.Module, device_type: str, dtype: torch.dtype) -> None:
        super().__init__()
        self.module = module
        self.device_type = device_type
        self.dtype = dtype

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        with torch.autocast(device_type=self.device_type, dtype=self.dtype):
            out = self.module(*args, **kwargs)
        return _float32(out)


def _float32(out: Any) -> Any:
    if isinstance(out, torch.Tensor):
        return out.float() if out.is_floating_point() else out
    if isinstance(out, tuple | list):
        return type(out)(_float32(o) for o in out)
    if isinstance(out, Mapping):
        return {k: _float32(v) for k, v in out.items()}
    return out


def to_device(batch: Any, device: torch.device) -> Any:
    """``batch`` on ``device``: tensors and anything with ``.to`` (a PyG ``Batch``), inside
    dicts, lists and tuples; other values unchanged.

    Examples
    --------
    >>> to_device({"x": torch.zeros(2), "n": 3}, torch.device("cpu"))["x"].device.type
    'cpu'
    """
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, Mapping):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, tuple | list):
        return type(batch)(to_device(v, device) for v in batch)
    if hasattr(batch, "to"):
        return batch.to(device)
    return batch


class Trainer:
    """Train ``model`` on a :class:`~pdeflow.operators.tasks.Task` with AdamW and a scheduler.

    The task batches the samples (``task.collate``), computes each batch's loss
    (``task.step``), judges the model (``task.evaluate``) and owns the normalizers, which
    checkpoints save and restore.  Without a task the trainer trains a
    :class:`~pdeflow.operators.tasks.SupervisedTask` built from ``config`` (``loss``,
    ``normalize``, ``normalizer_samples``, ``seed``) and the ``loss``, ``metrics`` and
    normalizer arguments: predictions are ``y_norm.decode(model(x_norm.encode(x)))`` and
    losses/metrics compare them with the raw targets, so reported errors are in physical
    units.

    Parameters
    ----------
    model : nn.Module
    config : TrainerConfig or None
    task : Task or None
        What to train on; default a :class:`~pdeflow.operators.tasks.SupervisedTask`.
    loss : callable or None
        Supervised only: ``loss(pred, target) -> scalar``; default from ``config.loss``
        (relative L2 or H1).
    metrics : mapping of str to callable, or None
        Supervised only: evaluated on validation sets; default
        ``{"l2": LpLoss(), "h1": H1Loss()}``.
    loggers : iterable of Logger
        Receive every epoch record; with ``config.out_dir`` a :class:`JsonlLogger` writing
        ``out_dir/metrics.jsonl`` is added.
    x_normalizer, y_normalizer : UnitGaussianNormalizer or None
        Supervised only: given, or fitted by :meth:`fit` when ``config.normalize``.

    Raises
    ------
    ConfigError
        ``loss``, ``metrics`` or a normalizer given together with a ``task`` (they belong to
        the task), or an unknown device.

    Examples
    --------
    >>> from pdeflow.operators import FNO, StreamDataset
    >>> from pdeflow.operators.toy_data import darcy1d_source
    >>> stream = StreamDataset(darcy1d_source(32), samples_per_epoch=8)
    >>> trainer = Trainer(FNO(1, 1, modes=8, width=8),
    ...                   TrainerConfig(epochs=1, batch_size=4, progress="off"))
    >>> history = trainer.fit(stream, val=stream.take(4))
    >>> sorted(history[-1])[:3]
    ['epoch', 'lr', 'time_s']
    >>> type(trainer.task).__name__
    'SupervisedTask'
    """

    def __init__(
        self,
        model: nn.Module,
        config: TrainerConfig | None = None,
        *,
        task: Task | None = None,
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
        self.task = self._make_task(task, loss, metrics, x_normalizer, y_normalizer).to(self.device)
        self.loggers: list[Logger] = list(loggers)
        if cfg.out_dir is not None:
            self.loggers.append(JsonlLogger(Path(cfg.out_dir) / "metrics.jsonl"))
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
    def _make_task(self, task, loss, metrics, x_normalizer, y_normalizer) -> Task:
        supervised = {
            "loss": loss,
            "metrics": metrics,
            "x_normalizer": x_normalizer,
            "y_normalizer": y_normalizer,
        }
        if task is None:
            return SupervisedTask.from_config(self.config, **supervised)
        given = [k for k, v in supervised.items() if v is not None]
        if given:
            raise ConfigError(
                f"Trainer got {', '.join(given)} and a task; they belong to the task "
                f"(pass them to {type(task).__name__})"
            )
        if not isinstance(task, Task):
            raise ConfigError(
                f"The 'task' parameter of Trainer must be a pdeflow.operators.tasks.Task. "
                f"Got {type(task).__name__}."
            )
        return task

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

    @property
    def normalizers(self) -> dict[str, Any]:
        """The task's normalizers by name (``{"x": ..., "y": ...}`` for a supervised task)."""
        return dict(self.task.normalizers)

    def fit_normalizers(self, train: Dataset | IterableDataset) -> None:
        """Fit the task's normalizers on ``train`` now (a supervised task: unit-Gaussian
        normalizers on up to ``config.normalizer_samples`` training samples)."""
        fit = getattr(self.task, "fit_normalizers", None)
        if fit is None:
            raise ConfigError(f"{type(self.task).__name__} fits no normalizers")
        fit(train)
        self.task.to(self.device)

    @property
    def forward(self) -> nn.Module:
        """The model as the task sees it: compiled when configured, under autocast with
        float32 outputs when mixed precision is on."""
        if self.amp_dtype is None:
            return self.forward_model
        return _Autocast(self.forward_model, self.device.type, self.amp_dtype)

    def loader(self, data: Dataset | IterableDataset, epoch: int, train: bool = True) -> DataLoader:
        """The DataLoader for one epoch, batching with ``task.collate``: shuffling seeded by
        ``(seed, epoch)`` for map datasets, ``set_epoch(epoch)`` for streams."""
        cfg = self.config
        common = {
            "batch_size": cfg.batch_size,
            "num_workers": cfg.num_workers,
            "pin_memory": self.device.type == "cuda",
            "collate_fn": self.task.collate,
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
        """Model output in physical units (a supervised task's normalizers applied)."""
        predict = getattr(self.task, "predict", None)
        if predict is None:
            raise ConfigError(f"{type(self.task).__name__} has no predict; call the model")
        return predict(self.forward, x)

    def train_step(self, batch: Any) -> dict[str, Any]:
        """One optimizer step on a batch; returns ``{"loss": tensor}`` and the task's step
        metrics."""
        batch = to_device(batch, self.device)
        self.optimizer.zero_grad(set_to_none=True)
        loss, metrics = self.task.step(self.forward, batch)
        loss.backward()
        if self.config.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        self.optimizer.step()
        return {"loss": loss.detach(), **metrics}

    def train_epoch(self, loader: Iterable[Any], epoch: int) -> dict[str, float]:
        """One pass over ``loader``; returns ``{"train_loss": ...}`` and ``train_<metric>`` for
        the task's step metrics (sample-weighted means)."""
        self.model.train()
        sums: dict[str, Any] = {}
        count = 0
        for batch in loader:
            out = self.train_step(batch)
            b = self.task.batch_size(batch)
            for k, v in out.items():
                sums[k] = sums.get(k, torch.zeros((), device=self.device)) + v * b
            count += b
        if count == 0:
            raise DataError(f"epoch {epoch}: the training data yielded no batch")
        record = {f"train_{k}": float(v) / count for k, v in sums.items()}
        loss = record["train_loss"]
        if not math.isfinite(loss):
            raise DataError(
                f"epoch {epoch}: training loss is {loss}; lower the learning rate, enable "
                "grad_clip or check the data for outliers"
            )
        return record

    @torch.no_grad()
    @training_threads
    def evaluate(
        self, datasets: Mapping[str, Dataset] | Dataset, metrics: Mapping[str, Any] | None = None
    ) -> dict[str, float]:
        """The task's metrics on every dataset: ``{"<set>/<metric>": value}``.

        Pass several datasets (e.g. the validation set at two resolutions,
        ``{"val": ds, "val_coarse": ds.subsampled(2)}``) to evaluate them all.  ``metrics``
        replaces a supervised task's metrics for this call.
        """
        if not isinstance(datasets, Mapping):
            datasets = {"val": datasets}
        extra = {} if metrics is None else {"metrics": metrics}
        self.model.eval()
        out: dict[str, float] = {}
        for name, data in datasets.items():
            batches = (to_device(b, self.device) for b in self.loader(data, 0, train=False))
            for m, value in self.task.evaluate(self.forward, batches, **extra).items():
                out[f"{name}/{m}"] = value
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

        A trainer restored with :meth:`resume` continues from its saved epoch.

        Parameters
        ----------
        train : Dataset or IterableDataset
            Samples (of the task's kind), batched with ``task.collate``.  A task that makes
            its own samples hands them out as such a dataset.
        val : Dataset, or mapping of str to Dataset, or None
            Fixed data (or several sets, by name) evaluated every ``config.eval_every``
            epochs with ``task.evaluate``.
        epochs : int or None

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
        self.task.prepare(train)
        self.task.to(self.device)
        torch.manual_seed(cfg.seed + self.epoch)
        mode = None if cfg.progress == "auto" else cfg.progress
        with progress("training", total=epochs, mode=mode) as bar:
            bar.update(self.epoch)
            while self.epoch < epochs:
                record = self._run_epoch(train, val, epochs)
                self.history.append(record)
                self._report(record, epochs, bar)
                if cfg.out_dir is not None and (
                    (cfg.checkpoint_every and self.epoch % cfg.checkpoint_every == 0)
                    or self.epoch == epochs
                ):
                    self.save_checkpoint(Path(cfg.out_dir) / "last.pt")
        return self.history

    def _run_epoch(self, train: Any, val: Mapping[str, Any] | None, epochs: int) -> dict:
        e = self.epoch
        start = time.perf_counter()
        record: dict[str, Any] = {"epoch": e + 1}
        self.task.begin_epoch(self.forward, e)
        record.update(self.train_epoch(self.loader(train, e), e))
        record["lr"] = self.optimizer.param_groups[0]["lr"]
        if val and ((e + 1) % self.config.eval_every == 0 or e + 1 == epochs):
            record.update(self.evaluate(val))
        self._step_scheduler(record)
        record["time_s"] = time.perf_counter() - start
        self.epoch = e + 1
        return record

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
        """Restore what :meth:`state_dict` returned (optimizer, scheduler, epoch, RNG, history)."""
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
            meta={"pdeflow_version": pdeflow.__version__, "task": type(self.task).__name__},
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
        self.task.load_normalizers(doc.get("normalizers") or {})
        self.task.to(self.device)
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
