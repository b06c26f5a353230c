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

Channel layout
--------------
Arrays on disk or from a source may keep their channels first (``(C, *S)`` per sample), last
(``(*S, C)``, the numpy/TensorFlow habit) or not at all (``S``).  ``channel_axis="first"``,
``"last"`` or ``None`` says which; the fields are always handed out channels first.  A grid
axis of fewer than 4 points is refused with a :class:`~pdeflow.errors.DataError` that names
the shape, the layout it was read with and the option that reads it right: a ``(N, 64, 1)``
array read without a channel axis would otherwise be a 64 x 1 two-dimensional field.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import torch
from torch.utils.data import Dataset, IterableDataset, get_worker_info

from pdeflow.errors import ConfigError, DataError

__all__ = [
    "ChannelAxis",
    "OnlineSource",
    "H5FieldDataset",
    "TensorFieldDataset",
    "StreamDataset",
    "channel_axis_option",
    "check_grid",
    "to_field",
]

ChannelAxis = Literal["first", "last"] | None
_AXES = ("first", "last", None)
MIN_GRID_POINTS = 4  # fewer points along an axis hold at most one Fourier mode: not a grid


class OnlineSource(Protocol):
    """``source(seed)`` -> iterable of ``{"x": ndarray, "y": ndarray}`` (deterministic per seed)."""

    def __call__(self, seed: int) -> Iterable[Mapping[str, Any]]: ...


def channel_axis_option(value: Any) -> ChannelAxis:
    """Check a channel-axis option: ``"first"``, ``"last"`` or ``None`` (also ``"none"``).

    ``True`` and ``False`` (the older boolean option) mean ``"first"`` and ``None``.

    Raises
    ------
    ConfigError
        Any other value.
    """
    if value is True:
        return "first"
    if value is False or value is None or value == "none":
        return None
    if value in _AXES:
        return value
    raise ConfigError(
        f"The 'channel_axis' parameter must be 'first', 'last' or None. Got {value!r}."
    )


def _layout(channel_axis: ChannelAxis) -> str:
    return "no channel axis" if channel_axis is None else f"channel_axis={channel_axis!r}"


def check_grid(
    shape: tuple[int, ...], channel_axis: ChannelAxis, name: str, where: str = "sample"
) -> tuple[int, ...]:
    """The grid ``S`` of one sample of ``shape`` read with ``channel_axis``; refuse a grid axis
    of fewer than :data:`MIN_GRID_POINTS` points (most likely a misread channel axis).

    Raises
    ------
    DataError
        A grid axis has fewer than 4 points; the message names the shape, the layout it was
        read with and the ``channel_axis`` that would read it right.

    Examples
    --------
    >>> check_grid((64, 1), "last", "a")
    (64,)
    >>> check_grid((64, 1), None, "a")  # doctest: +NORMALIZE_WHITESPACE
    Traceback (most recent call last):
    ...
    pdeflow.errors.DataError: sample: field 'a' has samples of shape (64, 1), read with no
    channel axis as a 2-D grid of 64 x 1 points; a grid axis of fewer than 4 points is not a
    grid. If its last axis holds channels, pass channel_axis='last' (CLI: --channel-axis last)
    """
    shape = tuple(int(n) for n in shape)
    if channel_axis == "first":
        grid = shape[1:]
    elif channel_axis == "last":
        grid = shape[:-1]
    else:
        grid = shape
    if all(n >= MIN_GRID_POINTS for n in grid):
        return grid
    small = f"fewer than {MIN_GRID_POINTS} points"
    if len(shape) >= 2 and shape[-1] < MIN_GRID_POINTS and channel_axis != "last":
        hint = (
            "If its last axis holds channels, pass channel_axis='last' (CLI: --channel-axis last)"
        )
    elif len(shape) >= 2 and shape[0] < MIN_GRID_POINTS and channel_axis != "first":
        hint = (
            "If its first axis holds channels, pass channel_axis='first' "
            "(CLI: --channel-axis first)"
        )
    else:
        hint = f"Drop such axes from the data or give them at least {MIN_GRID_POINTS} points"
    dims = " x ".join(str(n) for n in grid) or "no"
    raise DataError(
        f"{where}: field {name!r} has samples of shape {shape}, read with {_layout(channel_axis)} "
        f"as a {len(grid)}-D grid of {dims} points; a grid axis of {small} is not a grid. {hint}"
    )


def to_field(
    value: Any,
    spatial_ndim: int | None,
    name: str,
    where: str = "sample",
    channel_axis: ChannelAxis | Literal["auto"] = "auto",
) -> torch.Tensor:
    """One field as a float32 tensor ``(C, *S)`` (channels first).

    Parameters
    ----------
    value : array_like
        One sample of the field.
    spatial_ndim : int or None
        Number of grid axes, when known.  An array with exactly ``spatial_ndim`` axes has no
        channel axis (it gets one channel), whatever ``channel_axis`` says.
    name, where : str
        For error messages.
    channel_axis : {"auto", "first", "last", None}
        Where the channels are: ``"first"`` ``(C, *S)``, ``"last"`` ``(*S, C)``, ``None``
        no channel axis (every axis is spatial).  ``"auto"``: ``"first"`` for an array of
        ``spatial_ndim + 1`` axes, else ``None``.

    Returns
    -------
    torch.Tensor
        ``(C, *S)``, float32.

    Raises
    ------
    DataError
        Wrong number of axes, a grid axis of fewer than 4 points (:func:`check_grid`), or non-finite
        values.

    Examples
    --------
    >>> to_field(np.zeros((64, 3)), None, "x", channel_axis="last").shape
    torch.Size([3, 64])
    """
    t = torch.as_tensor(np.asarray(value), dtype=torch.float32)
    axis = channel_axis
    if axis == "auto":
        axis = "first" if spatial_ndim is not None and t.ndim == spatial_ndim + 1 else None
    else:
        axis = channel_axis_option(axis)
    if spatial_ndim is not None and t.ndim == spatial_ndim:
        axis = None
    expected = None if spatial_ndim is None else spatial_ndim + (axis is not None)
    if (expected is not None and t.ndim != expected) or (axis is not None and t.ndim < 2):
        raise DataError(
            f"{where}: field {name!r} has shape {tuple(t.shape)}; expected {spatial_ndim} spatial "
            f"axes, optionally with one channel axis ({_layout(axis)})"
        )
    check_grid(tuple(t.shape), axis, name, where)
    if axis is None:
        t = t.unsqueeze(0)
    elif axis == "last":
        t = t.movedim(-1, 0)
    if not torch.isfinite(t).all():
        raise DataError(f"{where}: field {name!r} holds non-finite values (NaN or inf)")
    return t


def _stride_index(ndim: int, stride: int) -> tuple[slice, ...]:
    return (slice(None),) + tuple(slice(None, None, stride) for _ in range(ndim - 1))


class TensorFieldDataset(Dataset):
    """In-memory samples: tensors ``x (N, C_in, *S)`` and ``y (N, C_out, *S)``.

    Examples
    --------
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

    Each field is a dataset shaped ``(n_samples, *S)`` (``channel_axis=None``, the default),
    ``(n_samples, C, *S)`` (``"first"``) or ``(n_samples, *S, C)`` (``"last"``); samples are
    handed out channels first, ``(C, *S)``.  :attr:`layout` says how the file was read.
    The file is opened on first access in each process (each DataLoader worker opens its own
    handle); an open handle is never pickled.

    Parameters
    ----------
    path : str or Path
    x_key, y_key : str
        Dataset names of the input and target fields.
    indices : sequence of int or None
        Use only these samples (e.g. a train/validation split).
    stride : int
        Read every ``stride``-th grid point on each axis (a coarser resolution).
    channel_axis : {"first", "last", None}
        Where each sample's channel axis is (``True``/``False`` mean ``"first"``/``None``).

    Raises
    ------
    ConfigError
        An invalid ``stride`` or ``channel_axis``.
    DataError
        Missing file or dataset (the message lists the datasets found), mismatched sample
        counts, a grid axis of fewer than 4 points (a channel axis read as a grid axis: the
        message names the shape and the ``channel_axis`` to pass), non-finite values in a
        sample.

    Examples
    --------
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
        channel_axis: ChannelAxis | bool = None,
    ) -> None:
        import h5py

        self.path = Path(path)
        self.x_key, self.y_key = x_key, y_key
        if not isinstance(stride, int) or stride < 1:
            raise ConfigError(f"The 'stride' parameter must be an int >= 1. Got {stride!r}.")
        self.stride = stride
        self.channel_axis = channel_axis_option(channel_axis)
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
        self._axes = {name: self._field_axis(name) for name in ("x", "y")}
        grids = {
            name: check_grid(self._shapes[name], self._axes[name], key, f"HDF5 file {self.path}")
            for name, key in (("x", x_key), ("y", y_key))
        }
        if len(grids["x"]) != len(grids["y"]):
            raise DataError(
                f"HDF5 file {self.path}: {x_key!r} samples {self._shapes['x']} and {y_key!r} "
                f"samples {self._shapes['y']} read with {_layout(self.channel_axis)} have "
                f"{len(grids['x'])}-D and {len(grids['y'])}-D grids; check channel_axis"
            )
        self.indices = np.arange(nx) if indices is None else np.asarray(list(indices), dtype=int)
        if self.indices.size and (self.indices.min() < 0 or self.indices.max() >= nx):
            raise DataError(f"HDF5 file {self.path}: indices outside [0, {nx})")
        self._file = None
        self._pid: int | None = None

    @property
    def spatial_ndim(self) -> int:
        """Number of spatial axes of the input field ``x`` (its channel axis not counted)."""
        return len(self._shapes["x"]) - (self.channel_axis is not None)

    def _field_axis(self, name: str) -> ChannelAxis:
        """The channel axis of field ``name``: a field with exactly the input's grid axes has
        none (one channel)."""
        if self.channel_axis is not None and len(self._shapes[name]) == self.spatial_ndim:
            return None
        return self.channel_axis

    @property
    def layout(self) -> dict[str, str]:
        """How each field is read, e.g. ``{"x": "a (N, 64, 1): 1 channel(s) on a 64 grid
        (channel_axis='last')", ...}``."""
        out = {}
        for name, key in (("x", self.x_key), ("y", self.y_key)):
            shape, axis = self._shapes[name], self._axes[name]
            grid = check_grid(shape, axis, key)
            channels = {"first": shape[:1], "last": shape[-1:]}.get(axis, (1,))
            out[name] = (
                f"{key} (N, {', '.join(str(n) for n in shape)}): {channels[0]} channel(s) on a "
                f"{' x '.join(str(n) for n in grid)} grid ({_layout(axis)})"
            )
        return out

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
            axis = self._axes[name]
            sl = [slice(None, None, self.stride)] * arr.ndim
            if axis is not None:
                sl[0 if axis == "first" else -1] = slice(None)
            out[name] = to_field(
                arr[tuple(sl)],
                self.spatial_ndim,
                key,
                where=f"{self.path.name} sample {j}",
                channel_axis=axis,
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
        """Close the HDF5 file if this dataset opened it; calling it again does nothing."""
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

    Parameters
    ----------
    source : OnlineSource
        ``source(seed)`` yields ``{"x": ndarray, "y": ndarray}`` dicts.
    samples_per_epoch : int
        Samples yielded per epoch (over all workers).
    buffer_size : int
        Reservoir size (>= 1).
    seed : int
    spatial_ndim : int or None
        See :func:`to_field`.
    channel_axis : {"auto", "first", "last", None}
        Where the source's arrays keep their channels, see :func:`to_field`.

    Examples
    --------
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
        channel_axis: ChannelAxis | Literal["auto"] = "auto",
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
        self.channel_axis = (
            channel_axis if channel_axis == "auto" else channel_axis_option(channel_axis)
        )
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Set the epoch that seeds the next pass, so each epoch draws different samples."""
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
            name: to_field(
                sample[name],
                self.spatial_ndim,
                name,
                where=f"online sample {k}",
                channel_axis=self.channel_axis,
            )
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
