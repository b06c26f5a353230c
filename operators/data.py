"""Data sources for operator learning: HDF5 files (offline) and sample streams (online).

Every sample is a dict of named fields, never a tuple: ``{"x": input, "y": target}`` with
tensors shaped ``(C, *S)`` (channels first, then the spatial grid).  A DataLoader batches
them into ``{"x": (B, C_in, *S), "y": (B, C_out, *S)}``.

Online source protocol
----------------------
An online source is any callable ``source(seed) -> Iterable[Mapping[str, ndarray]]`` that
yields dicts with at least the keys ``"x"`` and ``"y"``; the same seed must give the same
samples.  :class:`StreamDataset` wraps it for training, :meth:`StreamDataset.take` draws a
fixed validation set from it.  Arrays shaped ``S`` (no channel axis) get one channel.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch.utils.data import Dataset, IterableDataset, get_worker_info

from pdeflow.errors import ConfigError, DataError

__all__ = [
    "OnlineSource",
    "H5FieldDataset",
    "TensorFieldDataset",
    "StreamDataset",
    "to_field",
]


class OnlineSource(Protocol):
    """``source(seed)`` -> iterable of ``{"x": ndarray, "y": ndarray}`` (deterministic per seed)."""

    def __call__(self, seed: int) -> Iterable[Mapping[str, Any]]: ...


def to_field(
    value: Any, spatial_ndim: int | None, name: str, where: str = "sample"
) -> torch.Tensor:
    """One field as a float32 tensor ``(C, *S)``.

    ``spatial_ndim=None`` means every axis is spatial (one channel is added); otherwise an
    array with ``spatial_ndim + 1`` axes already has its channel axis first.

    Raises
    ------
    DataError
        Wrong number of axes, or non-finite values.
    """
    t = torch.as_tensor(np.asarray(value), dtype=torch.float32)
    if spatial_ndim is None or t.ndim == spatial_ndim:
        t = t.unsqueeze(0)
    elif t.ndim != spatial_ndim + 1:
        raise DataError(
            f"{where}: field {name!r} has shape {tuple(t.shape)}; expected {spatial_ndim} spatial "
            f"axes, optionally after one channel axis"
        )
    if not torch.isfinite(t).all():
        raise DataError(f"{where}: field {name!r} holds non-finite values (NaN or inf)")
    return t


def _stride_index(ndim: int, stride: int) -> tuple[slice, ...]:
    return (slice(None),) + tuple(slice(None, None, stride) for _ in range(ndim - 1))


class TensorFieldDataset(Dataset):
    """In-memory samples: tensors ``x (N, C_in, *S)`` and ``y (N, C_out, *S)``.

    Example
    -------
    >>> ds = TensorFieldDataset(torch.zeros(4, 1, 8), torch.ones(4, 1, 8))
    >>> ds[0]["y"].shape
    torch.Size([1, 8])
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor) -> None:
        if x.shape[0] != y.shape[0]:
            raise DataError(f"x has {x.shape[0]} samples but y has {y.shape[0]}")
        self.x, self.y = x, y

    def __len__(self) -> int:
        return self.x.shape[0]

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"x": self.x[i], "y": self.y[i]}

    def subsampled(self, stride: int) -> TensorFieldDataset:
        """The same samples on every ``stride``-th grid point (evaluation at a coarser grid)."""
        return TensorFieldDataset(
            self.x[(slice(None),) + _stride_index(self.x.ndim - 1, stride)],
            self.y[(slice(None),) + _stride_index(self.y.ndim - 1, stride)],
        )


class H5FieldDataset(Dataset):
    """Samples read lazily from an HDF5 file with one dataset per field.

    Each field is a dataset shaped ``(n_samples, *S)`` or, with ``channel_axis=True``,
    ``(n_samples, C, *S)``.  The file is opened on first access in each process (each
    DataLoader worker opens its own handle); an open handle is never pickled.

    Arguments
    ---------
    path : str or Path
    x_key, y_key : str
        Dataset names of the input and target fields.
    indices : sequence of int or None
        Use only these samples (e.g. a train/validation split).
    stride : int
        Read every ``stride``-th grid point on each axis (a coarser resolution).
    channel_axis : bool
        Whether the datasets have a channel axis after the sample axis.

    Raises
    ------
    DataError
        Missing file or dataset (the message lists the datasets found), mismatched sample
        counts, non-finite values in a sample.

    Example
    -------
    >>> ds = H5FieldDataset("darcy.h5", x_key="a", y_key="u")    # doctest: +SKIP
    >>> ds[0]["x"].shape                                        # doctest: +SKIP
    torch.Size([1, 64, 64])
    """

    def __init__(
        self,
        path: str | Path,
        x_key: str = "a",
        y_key: str = "u",
        *,
        indices: Iterable[int] | None = None,
        stride: int = 1,
        channel_axis: bool = False,
    ) -> None:
        import h5py

        self.path = Path(path)
        self.x_key, self.y_key = x_key, y_key
        if not isinstance(stride, int) or stride < 1:
            raise ConfigError(f"The 'stride' parameter must be an int >= 1. Got {stride!r}.")
        self.stride = stride
        self.channel_axis = bool(channel_axis)
        if not self.path.is_file():
            raise DataError(f"HDF5 file {self.path} not found")
        try:
            with h5py.File(self.path, "r") as f:
                if f.attrs.get("format") == "pdeflow-dataset":
                    # a file written by pdeflow.datagen: fields live in /fields/<name>
                    x_key, y_key = (k if k in f else f"fields/{k}" for k in (x_key, y_key))
                    self.x_key, self.y_key = x_key, y_key
                    found = sorted(f"fields/{k}" for k in f["fields"].keys())
                else:
                    found = sorted(k for k in f.keys() if isinstance(f[k], h5py.Dataset))
                for key in (x_key, y_key):
                    if key not in found:
                        raise DataError(
                            f"HDF5 file {self.path} has no dataset {key!r}; datasets found: "
                            f"{', '.join(found) or '(none)'} (set x_key/y_key)"
                        )
                nx, ny = f[x_key].shape[0], f[y_key].shape[0]
                self._shapes = {"x": f[x_key].shape[1:], "y": f[y_key].shape[1:]}
        except OSError as exc:
            raise DataError(f"HDF5 file {self.path} cannot be read: {exc}") from None
        if nx != ny:
            raise DataError(f"HDF5 file {self.path}: {x_key!r} has {nx} samples, {y_key!r} {ny}")
        self.indices = np.arange(nx) if indices is None else np.asarray(list(indices), dtype=int)
        if self.indices.size and (self.indices.min() < 0 or self.indices.max() >= nx):
            raise DataError(f"HDF5 file {self.path}: indices outside [0, {nx})")
        self._file = None
        self._pid: int | None = None

    @property
    def spatial_ndim(self) -> int:
        return len(self._shapes["x"]) - (1 if self.channel_axis else 0)

    def __len__(self) -> int:
        return int(self.indices.size)

    def _handle(self):
        if self._file is None or self._pid != os.getpid():
            import h5py

            self._file = h5py.File(self.path, "r")
            self._pid = os.getpid()
        return self._file

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_file"] = None  # never pickle an open handle
        state["_pid"] = None
        return state

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        f = self._handle()
        j = int(self.indices[i])
        out = {}
        for name, key in (("x", self.x_key), ("y", self.y_key)):
            arr = f[key][j]
            sl = tuple(slice(None, None, self.stride) for _ in range(arr.ndim))
            if self.channel_axis:
                sl = (slice(None),) + sl[1:]
            out[name] = to_field(
                arr[sl], self.spatial_ndim, key, where=f"{self.path.name} sample {j}"
            )
        return out

    def subsampled(self, stride: int) -> H5FieldDataset:
        """The same samples read at every ``stride``-th grid point."""
        return H5FieldDataset(
            self.path,
            self.x_key,
            self.y_key,
            indices=self.indices,
            stride=self.stride * stride,
            channel_axis=self.channel_axis,
        )

    def materialize(self) -> TensorFieldDataset:
        """Read every sample into memory."""
        items = [self[i] for i in range(len(self))]
        return TensorFieldDataset(
            torch.stack([s["x"] for s in items]), torch.stack([s["y"] for s in items])
        )

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _mix_seed(*parts: int) -> int:
    """A 63-bit seed from several integers (stable across processes)."""
    return int(
        np.random.SeedSequence([int(p) & 0xFFFFFFFF for p in parts])
        .generate_state(2, np.uint32)
        .view(np.uint64)[0]
        >> 1
    )


class StreamDataset(IterableDataset):
    """Online training data: fresh samples from a source, through a bounded random buffer.

    At each step the next source sample replaces a random buffer slot (or fills an empty
    one) and a random buffered sample is yielded, so each sample is used about once per
    ``buffer_size`` steps on average and memory stays bounded.  ``buffer_size=1`` uses each
    fresh sample exactly once.  Epoch ``e`` draws from ``source(seed_e)`` with a seed mixed
    from ``seed`` and ``e`` (call :meth:`set_epoch`), so training is reproducible and
    resumable; each DataLoader worker gets its own seed and share of the samples.

    Arguments
    ---------
    source : OnlineSource
        ``source(seed)`` yields ``{"x": ndarray, "y": ndarray}`` dicts.
    samples_per_epoch : int
        Samples yielded per epoch (over all workers).
    buffer_size : int
        Reservoir size (>= 1).
    seed : int
    spatial_ndim : int or None
        See :func:`to_field`.

    Example
    -------
    >>> from pdeflow.operators.toy_data import darcy1d_source
    >>> ds = StreamDataset(darcy1d_source(resolution=32), samples_per_epoch=4, buffer_size=2)
    >>> [s["x"].shape for s in ds][:1]
    [torch.Size([1, 32])]
    """

    def __init__(
        self,
        source: OnlineSource | Callable[[int], Iterable[Mapping[str, Any]]],
        samples_per_epoch: int,
        *,
        buffer_size: int = 64,
        seed: int = 0,
        spatial_ndim: int | None = None,
    ) -> None:
        if not callable(source):
            raise ConfigError("StreamDataset needs a callable source(seed) -> iterable of dicts")
        if samples_per_epoch < 1 or buffer_size < 1:
            raise ConfigError(
                "The 'samples_per_epoch' and 'buffer_size' parameters of StreamDataset must be "
                f"ints >= 1. Got {samples_per_epoch!r} and {buffer_size!r}."
            )
        self.source = source
        self.samples_per_epoch = int(samples_per_epoch)
        self.buffer_size = int(buffer_size)
        self.seed = int(seed)
        self.spatial_ndim = spatial_ndim
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.samples_per_epoch

    def _convert(self, sample: Mapping[str, Any], k: int) -> dict[str, torch.Tensor]:
        if not isinstance(sample, Mapping) or "x" not in sample or "y" not in sample:
            raise DataError(
                f"online source sample {k}: expected a dict with keys 'x' and 'y', got "
                f"{type(sample).__name__}"
                + (f" with keys {sorted(sample)}" if isinstance(sample, Mapping) else "")
            )
        return {
            name: to_field(sample[name], self.spatial_ndim, name, where=f"online sample {k}")
            for name in ("x", "y")
        }

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        info = get_worker_info()
        wid, nw = (0, 1) if info is None else (info.id, info.num_workers)
        count = self.samples_per_epoch // nw + (1 if wid < self.samples_per_epoch % nw else 0)
        seed = _mix_seed(self.seed, self.epoch, wid)
        rng = torch.Generator().manual_seed(seed)
        it = iter(self.source(seed))
        buffer: list[dict[str, torch.Tensor]] = []
        for k in range(count):
            try:
                fresh = self._convert(next(it), k)
            except StopIteration:
                fresh = None
                if not buffer:
                    raise DataError("online source yielded no samples") from None
            if fresh is not None:
                if len(buffer) < self.buffer_size:
                    buffer.append(fresh)
                else:
                    buffer[int(torch.randint(len(buffer), (1,), generator=rng))] = fresh
            yield buffer[int(torch.randint(len(buffer), (1,), generator=rng))]

    def take(self, n: int, seed: int | None = None) -> TensorFieldDataset:
        """A fixed in-memory set of ``n`` fresh samples (a validation or test set).

        ``seed`` defaults to one that training epochs never use.
        """
        seed = _mix_seed(self.seed, 2**31 - 1, 7) if seed is None else seed
        items = []
        for k, sample in enumerate(self.source(seed)):
            if k >= n:
                break
            items.append(self._convert(sample, k))
        if len(items) < n:
            raise DataError(f"online source gave only {len(items)} of {n} requested samples")
        return TensorFieldDataset(
            torch.stack([s["x"] for s in items]), torch.stack([s["y"] for s in items])
        )

    def __repr__(self) -> str:
        return (
            f"StreamDataset(samples_per_epoch={self.samples_per_epoch}, "
            f"buffer_size={self.buffer_size}, seed={self.seed})"
        )


def split_indices(n: int, val_fraction: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A fixed random (train, validation) split of ``range(n)``."""
    if not 0 <= val_fraction < 1:
        raise ConfigError(f"The 'val_fraction' parameter must be in [0, 1). Got {val_fraction!r}.")
    perm = np.random.default_rng(seed).permutation(n)
    n_val = math.ceil(val_fraction * n) if val_fraction > 0 else 0
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])
