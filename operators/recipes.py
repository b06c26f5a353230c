"""End-to-end recipes behind the CLI: train an FNO from a file or a stream, evaluate a checkpoint.

Examples
--------
>>> cfg = FNOTrainConfig(online="darcy1d", resolution=32, samples_per_epoch=8, n_val=4,
...                      model={"width": 8, "n_layers": 1},
...                      trainer={"epochs": 1, "batch_size": 4, "progress": "off"})
>>> result = train_fno(cfg)
>>> sorted(result["metrics"])[:2]
['val/h1', 'val/l2']
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, field_validator, model_validator
from torch.utils.data import Dataset

from pdeflow.config import PdeflowConfig
from pdeflow.errors import ConfigError

from .checkpoint import build_model, load_normalizers, read_checkpoint
from .data import ChannelAxis, H5FieldDataset, StreamDataset, channel_axis_option, split_indices
from .models import FNO
from .toy_data import FAMILIES, make_source
from .trainer import Trainer, TrainerConfig, seed_everything

__all__ = ["FNOSettings", "FNOTrainConfig", "train_fno", "evaluate_checkpoint", "online_source"]


class FNOSettings(PdeflowConfig):
    """FNO hyperparameters; channels come from the data, ``modes`` default to 12 per axis
    (fewer on small grids)."""

    modes: list[int] | None = None
    width: int = Field(32, gt=0)
    n_layers: int = Field(4, gt=0)
    channel_mlp: bool = True
    grid_embedding: bool = True
    padding: float = Field(0.0, ge=0, le=1)


class FNOTrainConfig(PdeflowConfig):
    """Settings of ``pdeflow train fno`` (defaults < config file < flags)."""

    data: str | None = Field(None, description="HDF5 training file (offline)")
    online: str | None = Field(None, description="online source family (e.g. darcy1d)")
    x_key: str = "a"
    y_key: str = "u"
    channel_axis: ChannelAxis = Field(
        None,
        description="channel axis of the HDF5 fields: first (N, C, *S), last (N, *S, C), "
        "or none (N, *S)",
    )
    val_data: str | None = Field(None, description="separate HDF5 validation file")
    val_fraction: float = Field(0.1, ge=0, lt=1)
    in_memory: bool = Field(
        False, description="read the HDF5 samples into memory once (no per-step reads)"
    )
    n_val: int = Field(64, ge=1, description="fixed validation samples drawn from the stream")
    samples_per_epoch: int = Field(512, ge=1)
    buffer_size: int = Field(64, ge=1)
    resolution: int | None = Field(None, ge=4, description="grid size of a toy online family")
    eval_strides: list[int] = Field(default_factory=lambda: [1], description="eval resolutions")
    resume: str | None = None
    model: FNOSettings = FNOSettings()
    trainer: TrainerConfig = TrainerConfig()

    @field_validator("channel_axis", mode="before")
    @classmethod
    def _axis(cls, v: Any) -> Any:
        return None if v == "none" else v

    @model_validator(mode="after")
    def _one_source(self) -> FNOTrainConfig:
        if (self.data is None) == (self.online is None):
            raise ValueError("give exactly one of 'data' (an HDF5 file) or 'online' (a family)")
        if self.online is not None and self.channel_axis is not None:
            raise ValueError(
                "'channel_axis' applies to HDF5 data ('data'); an online family knows its layout"
            )
        if any(s < 1 for s in self.eval_strides):
            raise ValueError("'eval_strides' must hold ints >= 1")
        return self


def online_source(family: str, resolution: int | None = None):
    """The online source for ``family``: the solver stream of :mod:`pdeflow.datagen` for its
    families (``darcy``, ``poisson``, ``burgers``, ...), else a toy source of
    :mod:`pdeflow.operators.toy_data` (``darcy1d``, ``darcy2d``).

    The returned callable has a ``spatial_ndim`` attribute (its arrays carry a channel axis).
    """
    from pdeflow.datagen import families as datagen_families

    options = {} if resolution is None else {"resolution": resolution}
    if family in datagen_families.names():
        from pdeflow.datagen import online_source as datagen_source

        fam = datagen_families.get(family, **options)
        spatial = fam.fields()[fam.outputs[0]].channel_layout[1]
        source = datagen_source(family, executor="process", **options)
        source.spatial_ndim = len(spatial)
        return source
    if family not in FAMILIES:
        raise ConfigError(
            f"unknown online family {family!r}; available: "
            f"{', '.join(sorted(FAMILIES) + datagen_families.names())}"
        )
    return make_source(family, **options)


def datasets(cfg: Any) -> tuple[Dataset, Dataset]:
    """The training and validation datasets of a training config (a stream or an HDF5 file).

    Parameters
    ----------
    cfg : FNOTrainConfig or ModelTrainConfig
        Reads ``data``/``online`` and the fields that go with them (``x_key``, ``y_key``,
        ``channel_axis``, ``val_data``, ``val_fraction``, ``in_memory``, ``n_val``,
        ``samples_per_epoch``, ``buffer_size``, ``resolution``, ``trainer.seed``).

    Returns
    -------
    tuple
        ``(train, val)``, each a dataset of ``{"x": (C_in, *S), "y": (C_out, *S)}`` samples.
    """
    if cfg.online is not None:
        source = online_source(cfg.online, cfg.resolution)
        stream = StreamDataset(
            source,
            cfg.samples_per_epoch,
            spatial_ndim=getattr(source, "spatial_ndim", None),
            buffer_size=cfg.buffer_size,
            seed=cfg.trainer.seed,
        )
        return stream, stream.take(cfg.n_val)
    axis = cfg.channel_axis
    full = H5FieldDataset(cfg.data, cfg.x_key, cfg.y_key, channel_axis=axis)
    if cfg.val_data is not None:
        pair = full, H5FieldDataset(cfg.val_data, cfg.x_key, cfg.y_key, channel_axis=axis)
    elif cfg.val_fraction == 0:
        raise ConfigError("offline training needs 'val_data' or a 'val_fraction' > 0")
    else:
        tr, va = split_indices(len(full), cfg.val_fraction, seed=cfg.trainer.seed)
        pair = (
            H5FieldDataset(cfg.data, cfg.x_key, cfg.y_key, indices=tr, channel_axis=axis),
            H5FieldDataset(cfg.data, cfg.x_key, cfg.y_key, indices=va, channel_axis=axis),
        )
    if cfg.in_memory:
        return pair[0].materialize(), pair[1].materialize()
    return pair


def _eval_sets(val: Any, strides: list[int]) -> dict[str, Any]:
    return {
        ("val" if s == 1 else f"val_stride{s}"): (val if s == 1 else val.subsampled(s))
        for s in strides
    }


def build_fno(cfg: FNOTrainConfig, sample: dict) -> FNO:
    """The FNO for ``cfg.model`` with channels and dimension read from one sample."""
    x, y = sample["x"], sample["y"]
    grid = tuple(x.shape[1:])
    modes = cfg.model.modes or [min(12, n // 2) for n in grid]
    shown = " x ".join(str(n) for n in grid)
    if len(modes) != len(grid):
        raise ConfigError(
            f"'model.modes' has {len(modes)} entries but the data is {len(grid)}-D (a {shown} "
            "grid; a channel axis read as a grid axis? see channel_axis / --channel-axis)"
        )
    if any(m > n // 2 for m, n in zip(modes, grid, strict=True)):
        raise ConfigError(
            f"'model.modes' {tuple(modes)} needs at least 2 x modes points per axis, but the "
            f"data's grid is {shown} (lower the modes, or if an axis holds channels, set "
            "channel_axis / --channel-axis)"
        )
    m = cfg.model
    return FNO(
        x.shape[0],
        y.shape[0],
        tuple(modes),
        width=m.width,
        n_layers=m.n_layers,
        channel_mlp=m.channel_mlp,
        grid_embedding=m.grid_embedding,
        padding=m.padding,
    )


def train_fno(cfg: FNOTrainConfig, *, dry_run: bool = False, loggers=()) -> dict[str, Any]:
    """Train (or resume) an FNO as described by ``cfg``.

    Returns
    -------
    dict
        ``model`` (constructor arguments), ``metrics`` (final validation metrics),
        ``history``, ``checkpoint`` (path or None).  With ``dry_run`` only the model and
        data are built.
    """
    train, val = datasets(cfg)
    sample = val[0]
    if cfg.resume is not None:
        trainer = Trainer.from_checkpoint(cfg.resume, cfg.trainer, loggers=loggers)
    else:
        seed_everything(cfg.trainer.seed)  # the initial weights depend on the seed only
        model = build_fno(cfg, sample)
        trainer = Trainer(model, cfg.trainer, loggers=loggers)
    result: dict[str, Any] = {"model": trainer.model.constructor_args, "checkpoint": None}
    layout = getattr(train, "layout", None)
    if layout is not None:
        result["layout"] = layout  # how the HDF5 fields were read
    if dry_run:
        result.update(metrics={}, history=[], dry_run=True)
        return result
    evals = _eval_sets(val, cfg.eval_strides)
    history = trainer.fit(train, evals)
    result["history"] = history
    result["metrics"] = trainer.evaluate(evals)
    if cfg.trainer.out_dir is not None:
        result["checkpoint"] = str(Path(cfg.trainer.out_dir) / "last.pt")
    return result


def evaluate_checkpoint(
    checkpoint: str | Path,
    data: str | Path,
    *,
    x_key: str = "a",
    y_key: str = "u",
    strides: list[int] | tuple[int, ...] = (1,),
    batch_size: int = 16,
    device: str = "auto",
    channel_axis: ChannelAxis | str = None,
) -> dict[str, float]:
    """Relative L2 and H1 errors of a checkpoint on an HDF5 file, at one or more strides.

    The errors are in physical units: the checkpoint's normalizers are applied, as
    :class:`~pdeflow.operators.Predictor` does.  ``channel_axis`` is the layout of the file's
    fields (see :class:`~pdeflow.operators.H5FieldDataset`).
    """
    doc = read_checkpoint(checkpoint)
    model = build_model(doc)
    norms = load_normalizers(doc)
    cfg = TrainerConfig(batch_size=batch_size, device=device, progress="off", normalize=False)
    trainer = Trainer(model, cfg, x_normalizer=norms["x"], y_normalizer=norms["y"])
    ds = H5FieldDataset(data, x_key, y_key, channel_axis=channel_axis_option(channel_axis))
    sets = {
        ("data" if s == 1 else f"data_stride{s}"): (ds if s == 1 else ds.subsampled(s))
        for s in strides
    }
    return trainer.evaluate(sets)
