"""The one writer of a dataset file: create or resume, write chunks, finish.

Write protocol (survives ``kill -9`` at any moment)
---------------------------------------------------
* The file is built under a temporary name and renamed into place, so ``path`` is either
  absent or a complete, preallocated file.  Fixed-shape field chunks are allocated at
  creation and every per-sample 1-D dataset is contiguous and written at creation, so
  marking a sample done rewrites bytes in place and never changes file metadata.
* A ragged field's rows go to chunks that hold that sample only (its start is a multiple
  of ``chunk_rows``), after the rows of every sample already written: a write never
  touches bytes of a done sample.  When the preallocated rows run out, the data grows by
  half (chunks allocated at once) and the file is flushed before any row is written there.
* Per chunk: field rows, then (at the next sync) offsets, params, stats, status and
  checksums, ``file.flush()``; then ``write_count`` and ``done``, ``file.flush()`` again.
  A sample is marked done on disk only after its data reached the file, so a crash leaves
  only fully written samples done; rows written for a sample not marked done are unused
  and a resumed writer writes after the last done sample's rows.
* A writer that opens a file zeroes ``write_count`` of the samples not done: a count there
  comes from a writer killed between the two updates, whose write never completed.
* Version-1 files (no ``/ragged``, ``/status``) and files without ``/solve`` open, verify
  and resume as before.
* The default ``libver`` is used: ``libver="latest"`` (superblock v3) keeps a "file in use"
  flag that blocks reopening a file whose writer was killed.
"""

from __future__ import annotations

import os
import time
import zlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from pdeflow.errors import ConfigError, DataError
from pdeflow.progress import get_logger

from ..families._base import ChunkResult, Family
from .encoding import FieldEncoding, field_encodings, sample_rows
from .layout import (
    COMPRESSIONS,
    DTYPES,
    FLOAT_DTYPES,
    MESSAGE_DTYPE,
    METHOD_DTYPE,
    SETTINGS_DTYPE,
    SOLVE_RECORDS,
    StoredField,
    attr_value,
    build,
    check_replaceable,
    check_same,
    index_runs,
    make_parent_folders,
    one_line,
    open_checked,
    read_attrs,
    stored_fields,
)

__all__ = ["DatasetWriter", "DatasetExistsError", "write_rows"]

_log = get_logger("pdeflow.datagen")
_GROWTH = 1.5  # a ragged field's data grows by this factor when its rows run out


class DatasetExistsError(DataError, FileExistsError):
    """The dataset file exists and ``overwrite`` was not asked for."""


def write_rows(
    ds: h5py.Dataset, runs: list[tuple[int, int, int]], data: np.ndarray, rows: np.ndarray
) -> None:
    """Write ``data[k]`` to row ``rows[k]`` of ``ds`` (``rows`` increasing, split in ``runs``).

    One contiguous run is one slice write; scattered rows (a chunk in SKR order) are one
    point-selection write, ~10x faster than a slice write per run.
    """
    if len(runs) == 1:
        start, stop, _ = runs[0]
        ds[start:stop] = data
    elif len(runs) > 1:
        ds[rows] = data


class _Ragged:
    """A ragged field of an open file: its data, offsets and where free rows start."""

    def __init__(self, g: h5py.Group, done: np.ndarray) -> None:
        self.data = g["data"]
        self.offsets = g["offsets"]
        self.capacity = int(self.data.shape[0])
        self.chunk_rows = int(attr_value(g.attrs["chunk_rows"]))
        off = self.offsets[...]
        used = off[done != 0, 1]
        top = int(used.max()) if used.size else 0
        #: first free row: rows of samples not done may be overwritten
        self.free = -(-top // self.chunk_rows) * self.chunk_rows

    def reserve(self, n_rows: int, flush: Callable[[], None]) -> int:
        """Rows ``[start, start + n_rows)`` of chunks of their own; returns ``start``."""
        start = self.free
        self.free = start + -(-n_rows // self.chunk_rows) * self.chunk_rows
        if self.free > self.capacity:
            grown = max(self.free, int(self.capacity * _GROWTH))
            self.capacity = -(-grown // self.chunk_rows) * self.chunk_rows
            self.data.resize(self.capacity, axis=0)
            flush()  # the new chunks are in the file's index before rows land there
        return start


class DatasetWriter:
    """The one writer of a dataset file: create or resume, write chunks, finish.

    Use :meth:`create` or :meth:`resume`, not the constructor.  A writer is a context
    manager; leaving it (also on an exception) closes the file and never deletes data.

    Attributes
    ----------
    path : Path
        The dataset file.
    n_samples : int
        Number of samples the file holds when complete.
    fields : dict of str to StoredField
        The stored fields, in the family's order.
    encoding : (str, str or None)
        ``(float dtype, compression)`` of the fields; chunks encoded for it are stored as is.
    field_encodings : dict of str to (str, int)
        ``name -> (dtype, chunk_rows)``: what :func:`encode_chunk` needs on a worker.
    """

    def __init__(self, path: Path, f: h5py.File) -> None:
        self.path = path
        self._f: h5py.File | None = f
        self.n_samples = int(f.attrs["n_samples"])
        self.dtype = np.dtype(DTYPES[attr_value(f.attrs["dtype"])])
        self.fields: dict[str, StoredField] = stored_fields(f)
        self.field_encodings: dict[str, FieldEncoding] = field_encodings(self.fields)
        self._fields = {name: ds for name, ds in f["fields"].items()}
        self._done = np.asarray(f["done"][...], dtype=np.uint8)
        self._write_count = np.asarray(f["write_count"][...], dtype=np.uint8)
        groups = f["ragged"].items() if "ragged" in f else ()
        self._ragged = {name: _Ragged(g, self._done) for name, g in groups}
        datasets = [*self._fields.values(), *(r.data for r in self._ragged.values())]
        compressions = {ds.compression for ds in datasets}
        self.encoding: tuple[str, str | None] = (
            self.dtype.name,
            compressions.pop() if len(compressions) == 1 else "mixed",
        )
        self._params = {name: ds for name, ds in f["params"].items()} if "params" in f else {}
        # handles looked up once (an h5py path lookup costs about 0.1 ms)
        self._stats = dict(f["stats"].items())
        self._stat_names = [k for k in self._stats if k not in ("method", "written_at")]
        self._checksums = {name: f["checksums"][name] for name in self.fields}
        self._flags = {name: f[name] for name in ("done", "write_count")}
        # absent in files written before the records existed: nothing is recorded there
        self._solve = {name: f["solve"][name] for name in SOLVE_RECORDS} if "solve" in f else None
        self._status = dict(f["status"].items()) if "status" in f else None
        #: seconds between syncs of the done flags: 0 marks every chunk done (durably) before
        #: :meth:`write` returns; ``generate`` uses ``SYNC_SECONDS`` and so, after a kill -9,
        #: redoes at most the chunks of its last second
        self.sync_seconds = 0.0
        self._synced_at = time.monotonic()
        self._pending: list[tuple[np.ndarray, dict[h5py.Dataset, np.ndarray]]] = []
        # a writer killed between the write_count and done updates of a chunk leaves counts
        # on samples not done: those writes never completed, so they do not count
        stale = (self._done == 0) & (self._write_count != 0)
        if stale.any():
            self._write_count[stale] = 0
            f["write_count"][...] = self._write_count
            f.flush()

    # ------------------------------------------------------------------ opening
    @classmethod
    def create(
        cls,
        path: str | os.PathLike,
        family: Family,
        n_samples: int,
        *,
        config: dict,
        seed: int,
        dtype: str = "float32",
        compression: str | None = "lzf",
        overwrite: bool = False,
    ) -> DatasetWriter:
        """Create a preallocated dataset file (layout version 2) for ``n_samples`` samples.

        Parameters
        ----------
        path : path-like
            Target file; its folder is created.  The file appears atomically (built under a
            temporary name, then renamed).
        family : Family
            Declares the fields (with their dtype, ragged or not), coordinates, mesh,
            parameters, extra statistics and status codes.
        n_samples : int
            Samples the file will hold (>= 1).
        config : dict
            The full generation config (stored as JSON in the ``config`` attribute).
        seed : int
            The generation seed (stored).
        dtype : {"float32", "float64"}
            Storage type of the float fields that declare none.
        compression : {"lzf", "gzip", None}
            Compression of the fields.
        overwrite : bool
            Replace an existing file instead of raising :class:`DatasetExistsError`.

        Returns
        -------
        DatasetWriter
        """
        path = Path(path)
        _check_create(path, n_samples, dtype, compression, config, overwrite)
        created = make_parent_folders(path)
        if created:
            _log.warning(
                "created folder %s for the dataset %s (%s)",
                created[-1],
                path,
                "it did not exist" if len(created) == 1 else f"and {len(created) - 1} parent(s)",
            )
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        try:
            try:
                with open(tmp, "wb"):  # a plain OSError (errno, reason) before HDF5's own
                    pass
                with h5py.File(tmp, "w") as f:
                    build(f, family, int(n_samples), dict(config), seed, dtype, compression)
                os.replace(tmp, path)
            except OSError as exc:
                raise DataError(
                    f"Cannot write the dataset {str(path)!r}: cannot create a file in folder "
                    f"{str(path.parent)!r} ({exc.strerror or one_line(exc)})."
                ) from None
        finally:
            tmp.unlink(missing_ok=True)
        return cls(path, h5py.File(path, "r+"))

    @classmethod
    def resume(
        cls,
        path: str | os.PathLike,
        *,
        family: Family | None = None,
        config: dict | None = None,
    ) -> DatasetWriter:
        """Reopen a dataset (any readable layout version) to write its missing samples.

        Raises :class:`DataError` if the file is not a readable pdeflow dataset, or if
        ``family`` (name, options, fields) or ``config`` disagree with what the file was
        created with; the message names the differing keys.
        """
        path = Path(path)
        f = open_checked(path, "r+")
        try:
            check_same(f, path, family, config)
            return cls(path, f)
        except BaseException:
            f.close()
            raise

    # ------------------------------------------------------------------ state
    def missing(self) -> np.ndarray:
        """Indices of the samples not yet done, ascending (int64)."""
        return np.flatnonzero(self._done == 0).astype(np.int64)

    def done_count(self) -> int:
        """Number of samples done."""
        return int(np.count_nonzero(self._done))

    def attrs(self) -> dict[str, Any]:
        """The file's root attributes (``family_options`` and ``config`` parsed from JSON)."""
        return read_attrs(self._file())

    def stored_methods(self, indices: np.ndarray | list[int]) -> list[str]:
        """The solver method recorded for samples ``indices`` (``stats/method``)."""
        idx = np.asarray(indices, dtype=np.int64)
        values = self._stats["method"][...][idx]
        return [v.decode("ascii", "replace") for v in values]

    def solve_records(self) -> dict[str, np.ndarray] | None:
        """The solve-order records of every sample (``chunk``, ``position`` as int64,
        ``settings`` as str; shape (n,)), or None for a file written without them."""
        if self._solve is None:
            return None
        out = {name: self._solve[name][...] for name in ("chunk", "position")}
        out["settings"] = np.char.decode(self._solve["settings"][...], "ascii", "replace")
        return out

    def invalidate(self, indices: np.ndarray | list[int]) -> None:
        """Mark samples ``indices`` not done (on disk, durably), so they are written again.

        Used to repair damaged samples: their ``done`` flag and ``write_count`` return to 0
        and the next :meth:`write` of them stores them as a first write would.
        """
        self._sync()
        idx = np.unique(np.asarray(indices, dtype=np.int64))
        if idx.size == 0:
            return
        if idx[0] < 0 or idx[-1] >= self.n_samples:
            raise DataError(f"Sample indices {idx.tolist()} out of range [0, {self.n_samples}).")
        f = self._file()
        self._done[idx] = 0
        self._write_count[idx] = 0
        runs = index_runs(idx)
        write_rows(self._flags["done"], runs, self._done[idx], idx)
        write_rows(self._flags["write_count"], runs, self._write_count[idx], idx)
        if attr_value(f.attrs["status"]) != "partial":
            f.attrs["status"] = "partial"
        f.flush()

    # ------------------------------------------------------------------ writing
    def write(self, chunk: ChunkResult) -> int:
        """Write the samples of ``chunk`` that are not done yet; returns how many it wrote.

        The fields go to the file at once; the per-sample metadata and the done flags follow
        at the next sync (at once when ``sync_seconds`` is 0, the default), and
        :meth:`flush`, :meth:`finish` and :meth:`close` sync.

        Raises
        ------
        DataError
            An index out of range or repeated, an unknown or missing field, parameter or
            statistic, a per-sample shape that differs from the file's, or floats for an
            integer field.  Nothing of the chunk is then marked done.
        """
        self._file()
        idx = self._check_chunk(chunk)
        keep = np.flatnonzero(self._done[idx] == 0)
        if keep.size == 0:
            return 0
        order = keep[np.argsort(idx[keep], kind="stable")]
        identity = order.size == idx.size and bool((order == np.arange(order.size)).all())

        def rows(values: Any, dtype: Any) -> np.ndarray:
            a = np.asarray(values)
            return np.ascontiguousarray(a if identity else a[order], dtype=dtype)

        gidx = idx[order]
        meta: dict[h5py.Dataset, np.ndarray] = {}
        checksums = self._write_fields(chunk, order, gidx, meta)
        for name, ds in self._params.items():
            meta[ds] = rows(chunk.params[name], np.float64)
        for name in self._stat_names:
            meta[self._stats[name]] = rows(chunk.stats[name], np.float64)
        method = np.full(gidx.size, str(chunk.method).encode("ascii", "replace")[:32])
        meta[self._stats["method"]] = method.astype(METHOD_DTYPE)
        meta[self._stats["written_at"]] = np.full(gidx.size, time.time())
        if self._solve is not None:
            self._solve_meta(chunk, idx, rows, meta)
        if self._status is not None:
            self._status_meta(chunk, idx.size, rows, meta)
        for name, crc in checksums.items():
            meta[self._checksums[name]] = crc
        self._pending.append((gidx, meta))
        self._write_count[gidx] = np.minimum(self._write_count[gidx].astype(np.int64) + 1, 255)
        self._done[gidx] = 1
        if time.monotonic() - self._synced_at >= self.sync_seconds:
            self._sync()
        return int(gidx.size)

    def _write_fields(
        self, chunk: ChunkResult, order: np.ndarray, gidx: np.ndarray, meta: dict
    ) -> dict[str, np.ndarray]:
        """Store the rows of every field of the kept samples; returns their CRC-32s."""
        checksums = {}
        if chunk.encoded is not None:  # compressed on a worker: store the chunks as they are
            for name in self.fields:
                masks = (chunk.filter_masks or {}).get(name)
                if name in self._ragged:
                    self._store_encoded_ragged(name, chunk.encoded[name], masks, order, meta)
                else:
                    ds = self._fields[name]
                    masks = masks or [0] * len(chunk.encoded[name])
                    zeros = (0,) * (ds.ndim - 1)
                    for k, g in zip(order.tolist(), gidx.tolist(), strict=True):
                        ds.id.write_direct_chunk((g, *zeros), chunk.encoded[name][k], masks[k])
                checksums[name] = np.asarray(chunk.checksums[name], dtype=np.uint32)[order]
            return checksums
        runs = index_runs(gidx)
        for name, stored in self.fields.items():
            values = chunk.fields[name]
            samples = [sample_rows(values[k], stored) for k in order.tolist()]
            checksums[name] = np.array([zlib.crc32(s) for s in samples], dtype=np.uint32)
            if name in self._ragged:
                self._store_ragged(name, samples, meta)
            elif samples:
                write_rows(self._fields[name], runs, np.stack(samples), gidx)
        return checksums

    def _store_ragged(self, name: str, samples: list[np.ndarray], meta: dict) -> None:
        r = self._ragged[name]
        bounds = np.empty((len(samples), 2), dtype=np.int64)
        for k, rows in enumerate(samples):
            start = r.reserve(rows.shape[0], self._file().flush)
            if rows.shape[0]:
                r.data[start : start + rows.shape[0]] = rows
            bounds[k] = (start, start + rows.shape[0])
        meta[r.offsets] = bounds

    def _store_encoded_ragged(
        self, name: str, payload: list, masks: list | None, order: np.ndarray, meta: dict
    ) -> None:
        r = self._ragged[name]
        bounds = np.empty((order.size, 2), dtype=np.int64)
        zeros = (0,) * (r.data.ndim - 1)
        for j, k in enumerate(order.tolist()):
            n_rows, pieces = payload[k]
            start = r.reserve(n_rows, self._file().flush)
            piece_masks = masks[k] if masks else [0] * len(pieces)
            for p, (piece, mask) in enumerate(zip(pieces, piece_masks, strict=True)):
                r.data.id.write_direct_chunk((start + p * r.chunk_rows, *zeros), piece, mask)
            bounds[j] = (start, start + n_rows)
        meta[r.offsets] = bounds

    def _solve_meta(self, chunk: ChunkResult, idx: np.ndarray, rows: Any, meta: dict) -> None:
        """The solve-order records of the written rows of ``chunk`` (into ``meta``)."""
        m = idx.size
        where = chunk.solve_chunk if chunk.solve_chunk is not None else np.full(m, idx.min())
        pos = chunk.solve_pos if chunk.solve_pos is not None else np.arange(m)
        text = b"" if chunk.replay is None else chunk.replay.to_record().encode("ascii")
        if len(text) > SETTINGS_DTYPE.itemsize:
            text = b""  # not recordable: a repair solves such samples alone
        meta[self._solve["chunk"]] = rows(where, np.int64)
        meta[self._solve["position"]] = rows(pos, np.int64)
        meta[self._solve["settings"]] = rows(np.full(m, text, dtype=SETTINGS_DTYPE), None)

    def _status_meta(self, chunk: ChunkResult, m: int, rows: Any, meta: dict) -> None:
        """Status code, converged flag and message of the written rows of ``chunk``."""
        # no codes given: every sample SampleStatus.OK (1)
        code = chunk.status if chunk.status is not None else np.ones(m, dtype=np.int32)
        conv = chunk.converged if chunk.converged is not None else np.ones(m, dtype=bool)
        text = [
            str(s).encode("ascii", "replace")[: MESSAGE_DTYPE.itemsize]
            for s in (chunk.messages if chunk.messages is not None else [""] * m)
        ]
        meta[self._status["code"]] = rows(code, np.int32)
        meta[self._status["converged"]] = rows(np.asarray(conv, dtype=bool), np.uint8)
        meta[self._status["message"]] = rows(np.array(text, dtype=MESSAGE_DTYPE), None)

    def _sync(self) -> None:
        """Store the pending chunks' metadata, flush, then mark their samples done, flush.

        The data is in the file before any sample is marked done, so a kill at any point
        leaves only complete samples marked.
        """
        self._synced_at = time.monotonic()
        if not self._pending:
            return
        f = self._file()
        gidx = np.concatenate([g for g, _ in self._pending])
        order = np.argsort(gidx, kind="stable")
        gidx = gidx[order]
        runs = index_runs(gidx)
        for ds in self._pending[0][1]:
            values = np.concatenate([meta[ds] for _, meta in self._pending])[order]
            write_rows(ds, runs, values, gidx)
        f.flush()  # the data is in the file before any sample is marked done
        write_rows(self._flags["write_count"], runs, self._write_count[gidx], gidx)
        write_rows(self._flags["done"], runs, self._done[gidx], gidx)
        f.flush()
        self._pending.clear()

    def _check_chunk(self, chunk: ChunkResult) -> np.ndarray:
        idx = np.asarray(chunk.indices)
        if idx.ndim != 1 or not (idx.size == 0 or np.issubdtype(idx.dtype, np.integer)):
            raise DataError(f"Chunk indices must be a 1-D integer array. Got {idx!r}.")
        idx = idx.astype(np.int64)
        m = idx.size
        if m and (idx.min() < 0 or idx.max() >= self.n_samples):
            bad = idx[(idx < 0) | (idx >= self.n_samples)]
            raise DataError(
                f"Chunk index {int(bad[0])} is out of range [0, {self.n_samples}) of "
                f"{str(self.path)!r}."
            )
        if np.unique(idx).size != m:
            raise DataError(f"Chunk indices repeat: {idx.tolist()}.")
        if chunk.encoded is not None:
            self._check_encoded(chunk, m)
        else:
            _check_names("field", chunk.fields, self.fields)
            self._check_shapes(chunk, m)
        _check_names("parameter", chunk.params, self._params)
        missing_stats = [k for k in self._stat_names if k not in chunk.stats]
        if missing_stats:
            raise DataError(f"Chunk lacks solver statistic(s) {missing_stats}.")
        for kind, values in (("parameter", chunk.params), ("statistic", chunk.stats)):
            names = self._params if kind == "parameter" else self._stat_names
            for name in names:
                if np.shape(values[name]) != (m,):
                    raise DataError(
                        f"The {kind} {name!r} of the chunk has shape {np.shape(values[name])}; "
                        f"expected ({m},)."
                    )
        return idx

    def _check_encoded(self, chunk: ChunkResult, m: int) -> None:
        enc = tuple(chunk.encoding or ())
        table = dict(enc[2]) if len(enc) > 2 else None
        if enc[1:2] != self.encoding[1:2] or table != self.field_encodings:
            got = enc[:2] if table is None else (enc[1], table)
            raise DataError(
                f"The chunk was encoded for {got}; the file {str(self.path)!r} stores "
                f"{(self.encoding[1], self.field_encodings)} (compression, field dtypes)."
            )
        _check_names("field", chunk.encoded, self.fields)
        for name in self.fields:
            if len(chunk.encoded[name]) != m or np.shape(chunk.checksums[name]) != (m,):
                raise DataError(f"Encoded field {name!r} does not hold {m} samples.")

    def _check_shapes(self, chunk: ChunkResult, m: int) -> None:
        for name, stored in self.fields.items():
            values = chunk.fields[name]
            if stored.ragged:
                if len(values) != m:
                    raise DataError(
                        f"Ragged field {name!r} of the chunk holds {len(values)} samples; "
                        f"expected {m}."
                    )
                continue
            shape = np.shape(values)
            if shape != (m, *stored.row_shape):
                raise DataError(
                    f"Field {name!r} of the chunk has shape {shape}; the file stores "
                    f"{(m, *stored.row_shape)} for {m} samples."
                )

    def flush(self) -> None:
        """Push everything written to the file (pending samples are marked done)."""
        self._sync()
        self._file().flush()

    def finish(self) -> None:
        """Set ``status`` to ``"complete"`` if every sample is done (else ``"partial"``)."""
        f = self._file()
        self._sync()
        status = "complete" if self.done_count() == self.n_samples else "partial"
        if attr_value(f.attrs["status"]) != status:
            f.attrs["status"] = status
        f.flush()

    def close(self) -> None:
        """Flush and close the file (idempotent)."""
        if self._f is not None:
            try:
                if self._f.id.valid:
                    self._sync()
                    self._f.flush()
                    self._f.close()
            finally:
                self._f = None

    def _file(self) -> h5py.File:
        if self._f is None:
            raise DataError(f"The writer of {str(self.path)!r} is closed; resume it to write.")
        return self._f

    def __enter__(self) -> DatasetWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._f is None else f"{self.done_count()}/{self.n_samples} done"
        return f"DatasetWriter({str(self.path)!r}, {state})"


def _check_create(
    path: Path, n_samples: Any, dtype: str, compression: Any, config: Any, overwrite: bool
) -> None:
    if isinstance(n_samples, bool) or not isinstance(n_samples, int | np.integer):
        raise ConfigError(f"'n_samples' must be an int >= 1. Got {n_samples!r}.")
    if n_samples < 1:
        raise ConfigError(f"'n_samples' must be an int >= 1. Got {n_samples!r}.")
    if dtype not in FLOAT_DTYPES:
        raise ConfigError(f"'dtype' must be one of {sorted(FLOAT_DTYPES)}. Got {dtype!r}.")
    if compression not in COMPRESSIONS:
        raise ConfigError(f"'compression' must be one of {COMPRESSIONS}. Got {compression!r}.")
    if not isinstance(config, Mapping):
        raise ConfigError(f"'config' must be a dict. Got {type(config).__name__}.")
    if path.is_dir():
        raise DataError(f"Dataset path {str(path)!r} is a directory.")
    if path.exists() and not overwrite:
        raise DatasetExistsError(
            f"Dataset {str(path)!r} exists; resume it, pass overwrite=True to replace it, "
            "or choose another path."
        )
    if path.exists():
        check_replaceable(path)


def _check_names(kind: str, given: Mapping[str, Any], stored: Mapping[str, Any]) -> None:
    unknown = sorted(set(given) - set(stored))
    if unknown:
        raise DataError(f"Chunk has unknown {kind}(s) {unknown}; the file stores {sorted(stored)}.")
    missing = sorted(set(stored) - set(given))
    if missing:
        raise DataError(f"Chunk lacks {kind}(s) {missing}; the file stores {sorted(stored)}.")
