"""A lazy torch Dataset over a generated HDF5 dataset (layout: :mod:`pdeflow.datagen.storage`).

The file is opened on first access in each process: DataLoader workers each open their own
read-only handle, and an open handle is never pickled or shared across a fork.

Sample ``i`` is a dict:

* ``"x"``: float32 tensor ``(C_in, *S)``, the input fields stacked as channels;
* ``"y"``: float32 tensor ``(C_out, *S_out)``, the output fields stacked the same way;
* ``"index"``: the global sample index (int).

A field of shape ``S`` contributes one channel; a field whose first axis is ``"t"`` (shape
``(nt, *S)``) contributes its ``nt`` time steps as channels.

A file with ragged fields (layout v2: per-sample point or cell counts) cannot be stacked
into channels: sample ``i`` is then a dict of numpy arrays, one per field (integer fields
in their stored type, exactly), plus ``"index"``; with ``as_graph=True`` it is a PyG
``Data`` (:func:`to_pyg`).  Every sample's status is kept (:attr:`GeneratedDataset.status`);
``converged_only=True`` serves only the samples whose solver converged.

Examples
--------
>>> ds = open_dataset("darcy.h5")                      # doctest: +SKIP
>>> ds[0]["x"].shape, ds[0]["y"].shape                 # doctest: +SKIP
(torch.Size([1, 64, 64]), torch.Size([1, 64, 64]))
>>> loader = torch.utils.data.DataLoader(ds, batch_size=16, num_workers=4)  # doctest: +SKIP
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch

from pdeflow.errors import ConfigError, DataError

from .families import channel_layout
from .storage import (
    check_offsets,
    compact_ranges,
    index_runs,
    open_checked,
    read_attrs,
    stored_fields,
)

__all__ = ["GeneratedDataset", "open_dataset", "to_pyg"]


def to_pyg(
    sample: Mapping[str, Any],
    *,
    x: Sequence[str] | None = None,
    y: Sequence[str] | None = None,
    pos: str | None = None,
    fields: Sequence[str] | None = None,
) -> Any:
    """One sample (a dict of per-sample arrays) as a ``torch_geometric.data.Data``.

    Every array of ``sample`` (or of ``fields``) becomes an attribute of its own name:
    float arrays as float32 tensors, integer arrays as int64 tensors (exact).  ``x`` and
    ``y`` name fields concatenated column-wise into float32 node features ``x`` and
    targets ``y`` (each field reshaped to ``(n_i, -1)``); ``pos`` names the positions.
    ``"index"`` becomes ``sample_index`` (PyG shifts attributes named ``*index*``).

    Parameters
    ----------
    sample : mapping of str to array
    x, y : list of str, optional
    pos : str, optional
    fields : list of str, optional
        Array entries to copy (default: every numpy array of ``sample``).

    Returns
    -------
    torch_geometric.data.Data
        ``num_nodes`` is the leading length of ``pos``, else of the first ``x`` field,
        else of the first array.

    Raises
    ------
    ShapeError
        Fields of ``x`` (or ``y``) with different leading lengths.

    Examples
    --------
    >>> s = {"pos": np.zeros((4, 3), np.float32), "types": np.arange(4, dtype=np.int32)}
    >>> d = to_pyg(s, x=["pos"], pos="pos")
    >>> d.num_nodes, d.types.dtype, tuple(d.x.shape)
    (4, torch.int64, (4, 3))
    """
    from torch_geometric.data import Data

    from pdeflow.errors import ShapeError

    names = list(fields) if fields is not None else [
        k for k, v in sample.items() if isinstance(v, np.ndarray) and k != "index"
    ]
    out: dict[str, Any] = {}
    for name in names:
        a = np.asarray(sample[name])
        dtype = torch.int64 if a.dtype.kind in "iub" else torch.float32
        out[name] = torch.from_numpy(np.array(a, copy=True)).to(dtype)
    for key, group in (("x", x), ("y", y)):
        if not group:
            continue
        parts = [np.asarray(sample[n]).reshape(len(sample[n]), -1) for n in group]
        if len({p.shape[0] for p in parts}) > 1:
            raise ShapeError(
                f"to_pyg: the {key} fields {list(group)} have different lengths "
                f"{[p.shape[0] for p in parts]}"
            )
        out[key] = torch.from_numpy(np.concatenate(parts, axis=1).astype(np.float32))
    if pos is not None:
        out["pos"] = torch.from_numpy(np.array(sample[pos], dtype=np.float32, copy=True))
    first = pos or (x[0] if x else None) or (names[0] if names else None)
    if first is not None:
        out["num_nodes"] = int(np.shape(sample[first])[0])
    if "index" in sample:
        out["sample_index"] = torch.tensor([int(sample["index"])])
    return Data(**out)


def open_dataset(
    path: str | os.PathLike,
    *,
    inputs: Sequence[str] | None = None,
    outputs: Sequence[str] | None = None,
    indices: Sequence[int] | np.ndarray | None = None,
    require_complete: bool = True,
    converged_only: bool = False,
    as_graph: bool = False,
) -> GeneratedDataset:
    """Open a generated dataset for training (layout v1 or v2).

    Parameters
    ----------
    path : path-like
        A file written by :class:`~pdeflow.datagen.storage.DatasetWriter`.
    inputs, outputs : list of str, optional
        Fields stacked into ``"x"`` and ``"y"``; default: the fields whose role is
        ``"input"`` / ``"output"``, in file order.
    indices : sequence of int, optional
        Global sample indices to serve, in this order (default: all).
    require_complete : bool
        Raise :class:`DataError` on a partial file; with False only the done samples are
        served.
    converged_only : bool
        Serve only the samples whose solver converged (the others stay in the file,
        counted by ``dataset info``).
    as_graph : bool
        Items as PyG ``Data`` (:func:`to_pyg` with ``x=inputs``, ``y=outputs``).

    Returns
    -------
    GeneratedDataset

    Raises
    ------
    DataError
        Unreadable or partial file, fields of different spatial shapes in one group, or
        ragged offsets that disagree with the data (a corrupted file).
    ConfigError
        Unknown field names, empty groups or indices out of range.

    Examples
    --------
    >>> ds = open_dataset("darcy.h5")                      # doctest: +SKIP
    >>> ds[0]["x"].shape                                   # doctest: +SKIP
    torch.Size([1, 64, 64])
    """
    return GeneratedDataset(
        path,
        inputs=inputs,
        outputs=outputs,
        indices=indices,
        require_complete=require_complete,
        converged_only=converged_only,
        as_graph=as_graph,
    )


class GeneratedDataset(torch.utils.data.Dataset):
    """Samples of a generated dataset as ``{"x", "y", "index"}`` dicts; see the module docs.

    Attributes
    ----------
    path : Path
    inputs, outputs : list of str
        Fields stacked into ``"x"`` and ``"y"``.
    fields : list of str
        Every field of the file.
    attrs : dict
        Root attributes (``family_options`` and ``config`` parsed from JSON).
    coords : dict of str to ndarray
        Coordinates by axis name.
    indices : ndarray of int64, shape (len(self),)
        The global sample index of each served item.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        inputs: Sequence[str] | None = None,
        outputs: Sequence[str] | None = None,
        indices: Sequence[int] | np.ndarray | None = None,
        require_complete: bool = True,
        converged_only: bool = False,
        as_graph: bool = False,
    ) -> None:
        self.path = Path(path)
        with open_checked(self.path, "r") as f:
            self.attrs = read_attrs(f)
            self.stored = stored_fields(f)
            # name -> (per-sample shape, axis names, role)
            self._specs = {
                name: (s.spec().shape, s.axes, s.role) for name, s in self.stored.items()
            }
            self.coords = {axis: ds[...] for axis, ds in f["coords"].items()}
            done = f["done"][...] != 0
            # CRC-32 of each sample's stored bytes, checked on every read
            self._checksums = {name: ds[...] for name, ds in f["checksums"].items()}
            self._offsets = self._checked_offsets(f, done)
            converged = f["status/converged"][...] != 0 if "status" in f else done
        self.fields = list(self._specs)
        self.ragged = any(s.ragged for s in self.stored.values())
        self.as_graph = bool(as_graph)
        n = int(self.attrs["n_samples"])
        if require_complete and (not done.all() or self.attrs.get("status") != "complete"):
            raise DataError(
                f"Dataset {str(self.path)!r} is partial: {int(done.sum())} of {n} samples done "
                f"(missing {compact_ranges(np.flatnonzero(~done))}). Resume the generation, "
                "or pass require_complete=False to use the done samples only."
            )
        self.inputs = self._group("inputs", inputs, "input")
        self.outputs = self._group("outputs", outputs, "output")
        if self.ragged:
            self._x_shape = self._y_shape = ()
        else:
            self._x_shape = self._stacked_shape("inputs", self.inputs)
            self._y_shape = self._stacked_shape("outputs", self.outputs)
        if indices is None:
            chosen = np.arange(n, dtype=np.int64)
        else:
            chosen = np.asarray(indices, dtype=np.int64).reshape(-1)
            bad = chosen[(chosen < 0) | (chosen >= n)]
            if bad.size:
                raise ConfigError(
                    f"The 'indices' of open_dataset must be in [0, {n}). Got {int(bad[0])}."
                )
        keep = done & converged if converged_only else done
        self.indices = chosen[keep[chosen]]
        self._h5: h5py.File | None = None
        self._pid: int | None = None
        self._datasets: dict[str, h5py.Dataset] = {}

    # ------------------------------------------------------------------ validation
    def _checked_offsets(self, f: h5py.File, done: np.ndarray) -> dict[str, np.ndarray]:
        """The ``(n, 2)`` offsets of every ragged field, checked against its data."""
        out = {}
        for name, s in self.stored.items():
            if not s.ragged:
                continue
            g = f["ragged"][name]
            off = g["offsets"][...]
            bad = check_offsets(off, done, g["data"].shape[0], s.chunk_rows)
            if bad.size:
                raise self._damaged(
                    name, bad.tolist(), "its offsets disagree with the stored data"
                )
            out[name] = off
        return out

    def _group(self, option: str, names: Sequence[str] | None, role: str) -> list[str]:
        if names is None:
            names = [n for n, (_, _, r) in self._specs.items() if r == role]
        elif isinstance(names, str):
            names = [names]
        names = list(names)
        unknown = [n for n in names if n not in self._specs]
        if unknown:
            raise ConfigError(
                f"The '{option}' of open_dataset name unknown field(s) {unknown}; "
                f"{str(self.path)!r} has {self.fields}."
            )
        if not names:
            raise ConfigError(f"The '{option}' of open_dataset must name at least one field.")
        return names

    def _channels(self, name: str) -> tuple[int, tuple[int, ...]]:
        shape, axes, _ = self._specs[name]
        return channel_layout(shape, axes)  # type: ignore[arg-type]

    def _stacked_shape(self, option: str, names: list[str]) -> tuple[int, ...]:
        spatial = {n: self._channels(n)[1] for n in names}
        if len(set(spatial.values())) > 1:
            raise DataError(
                f"The {option} {names} cannot be stacked as channels: their spatial shapes "
                f"differ ({', '.join(f'{n!r}: {s}' for n, s in spatial.items())}). Choose "
                f"{option} with one spatial shape."
            )
        channels = sum(self._channels(n)[0] for n in names)
        return (channels, *spatial[names[0]])

    # ------------------------------------------------------------------ file handle
    def _file(self) -> h5py.File:
        if self._h5 is None or self._pid != os.getpid():
            # a handle inherited through fork belongs to the parent: leave it alone
            self._h5 = open_checked(self.path, "r")
            self._pid = os.getpid()
            # handles looked up once (an h5py path lookup costs about 0.05-0.1 ms)
            self._datasets = {
                name: self._h5["ragged"][name]["data"] if s.ragged else self._h5["fields"][name]
                for name, s in self.stored.items()
            }
        return self._h5

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_h5"] = None
        state["_pid"] = None
        state["_datasets"] = {}
        return state

    def close(self) -> None:
        """Close this process's handle (a later access reopens it)."""
        if self._h5 is not None and self._pid == os.getpid():
            self._h5.close()
        self._h5 = None
        self._pid = None
        self._datasets = {}

    def __enter__(self) -> GeneratedDataset:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ access
    def __len__(self) -> int:
        return int(self.indices.size)

    def __getitem__(self, i: int) -> dict[str, Any]:
        n = len(self)
        if not isinstance(i, int | np.integer) or isinstance(i, bool):
            raise TypeError(f"GeneratedDataset indices must be integers. Got {i!r}.")
        if not -n <= i < n:
            raise IndexError(f"Index {i} out of range for a dataset of {n} samples.")
        g = int(self.indices[i])
        self._file()
        if self.ragged or self.as_graph:
            sample = self.sample(i)
            if self.as_graph:
                return to_pyg(sample, x=self.inputs, y=self.outputs)
            return sample
        return {
            "x": self._stack(self.inputs, g, self._x_shape),
            "y": self._stack(self.outputs, g, self._y_shape),
            "index": g,
        }

    def _stack(self, names: list[str], g: int, shape: tuple) -> torch.Tensor:
        out = np.empty(shape, dtype=np.float32)
        c = 0
        for name in names:
            k = self._channels(name)[0]
            row = self._read_rows(self._datasets[name], name, g, g + 1)[0]
            out[c : c + k] = row.reshape(k, *shape[1:])
            c += k
        return torch.from_numpy(out)

    def sample(self, i: int) -> dict[str, Any]:
        """Item ``i`` as a dict of numpy arrays, one per field (ragged fields at their own
        length, integer fields exact), plus ``"index"``.

        Returns
        -------
        dict of str to ndarray
        """
        g = int(self.indices[i])
        self._file()
        out: dict[str, Any] = {}
        for name, s in self.stored.items():
            if s.ragged:
                out[name] = self._read_ragged(name, g)
            else:
                out[name] = self._read_rows(self._datasets[name], name, g, g + 1)[0]
        out["index"] = g
        return out

    def _read_ragged(self, name: str, g: int) -> np.ndarray:
        a, b = (int(v) for v in self._offsets[name][g])
        try:
            rows = np.ascontiguousarray(self._datasets[name][a:b])
        except (OSError, RuntimeError) as exc:
            raise self._damaged(name, [g], f"its stored chunk cannot be decoded: {exc}") from None
        if zlib.crc32(rows) != int(self._checksums[name][g]):
            raise self._damaged(name, [g], "its bytes do not match the checksum stored with it")
        return rows

    @property
    def status(self) -> dict[str, np.ndarray]:
        """Status of the served items: ``code`` (int32), ``converged`` (bool) and
        ``message`` (str), each shape (len(self),); a v1 file reports every sample as
        converged with code 0."""
        f = self._file()
        if "status" not in f:
            n = len(self)
            return {
                "code": np.zeros(n, np.int32),
                "converged": np.ones(n, bool),
                "message": np.full(n, ""),
            }
        g = f["status"]
        return {
            "code": self._read(g["code"], None),
            "converged": self._read(g["converged"], None) != 0,
            "message": np.char.decode(self._read(g["message"], None), "ascii", "replace"),
        }

    def _read_rows(self, ds: h5py.Dataset, name: str, start: int, stop: int) -> np.ndarray:
        """Samples ``start:stop`` of field ``name``, each checked against its CRC-32.

        Raises :class:`DataError` naming the damaged sample(s) and the repair command when a
        chunk cannot be decoded or its bytes differ from those written.
        """
        try:
            data = np.ascontiguousarray(ds[start:stop])
        except (OSError, RuntimeError) as exc:
            bad = [i for i in range(start, stop) if not self._readable(ds, i)] or [start]
            raise self._damaged(name, bad, f"its stored chunk cannot be decoded: {exc}") from None
        stored = self._checksums[name]
        bad = [start + k for k, row in enumerate(data) if zlib.crc32(row) != stored[start + k]]
        if bad:
            raise self._damaged(name, bad, "its bytes do not match the checksum stored with it")
        return data

    @staticmethod
    def _readable(ds: h5py.Dataset, i: int) -> bool:
        try:
            ds[i : i + 1]
        except (OSError, RuntimeError):
            return False
        return True

    def _damaged(self, name: str, bad: list[int], why: str) -> DataError:
        from .repair import repair_command

        where = f"sample {bad[0]}" if len(bad) == 1 else f"samples {compact_ranges(bad)}"
        why = " ".join(why.split())
        return DataError(
            f"{where.capitalize()} of field {name!r} in {str(self.path)!r} "
            f"{'is' if len(bad) == 1 else 'are'} damaged ({why}); "
            f"repair it with: {repair_command(self.path)}"
        )

    def read(self, name: str, indices: Sequence[int] | np.ndarray | None = None) -> np.ndarray:
        """Field ``name`` of items ``indices`` (positions in this dataset; default all).

        Returns
        -------
        ndarray, shape (m, *field shape), the stored dtype
        """
        if name not in self._specs:
            raise ConfigError(f"Unknown field {name!r}; {str(self.path)!r} has {self.fields}.")
        if self.stored[name].ragged:
            raise ConfigError(
                f"Field {name!r} is ragged: read it per sample (ds.sample(i)[{name!r}])."
            )
        self._file()
        return self._read(self._datasets[name], indices, name)

    @property
    def stats(self) -> dict[str, np.ndarray]:
        """Solver statistics of the served items: ``iterations``, ``residual``, ``time`` [s],
        ``written_at`` (unix time) as float64 and ``method`` as str, each shape (len(self),)."""
        group = self._file()["stats"]
        out = {name: self._read(ds, None) for name, ds in group.items()}
        if "method" in out:
            out["method"] = np.char.decode(out["method"], "ascii", "replace").astype(str)
        return out

    def _read(
        self,
        ds: h5py.Dataset,
        positions: Sequence[int] | np.ndarray | None,
        field: str | None = None,
    ) -> np.ndarray:
        if positions is None:
            glob = self.indices
        else:
            pos = np.asarray(positions, dtype=np.int64).reshape(-1)
            n = len(self)
            if pos.size and (pos.min() < -n or pos.max() >= n):
                raise IndexError(f"Positions {pos.tolist()} out of range for {n} samples.")
            glob = self.indices[pos]
        uniq, inverse = np.unique(glob, return_inverse=True)
        data = np.empty((uniq.size, *ds.shape[1:]), dtype=ds.dtype)
        for start, stop, offset in index_runs(uniq):
            rows = ds[start:stop] if field is None else self._read_rows(ds, field, start, stop)
            data[offset : offset + stop - start] = rows
        return data[inverse]

    def __repr__(self) -> str:
        return (
            f"GeneratedDataset({str(self.path)!r}, n={len(self)}, "
            f"x={self._x_shape}, y={self._y_shape})"
        )
