"""Worker-side encoding: a solved chunk's fields as the HDF5 chunks the file stores.

A worker casts each sample to its field's storage type (integer fields exactly, floats
refused for them), takes its CRC-32 and compresses it as HDF5's filter would; the single
writing process then copies bytes (``write_direct_chunk``) instead of compressing.  A
ragged sample is cut into chunks of ``chunk_rows`` rows (its last chunk padded with zeros),
so no HDF5 chunk ever holds rows of two samples.
"""

from __future__ import annotations

import itertools
import os
import zlib
from collections.abc import Mapping
from typing import Any

import h5py
import numpy as np

from pdeflow.errors import ConfigError, DataError

from ..families import ChunkResult, check_field_values
from .layout import DTYPES, FLOAT_DTYPES, StoredField, ragged_chunk_rows

__all__ = [
    "WORKER_COMPRESSIONS",
    "FieldEncoding",
    "encode_chunk",
    "field_encodings",
    "sample_rows",
]

#: compressions a worker can apply itself: HDF5's deflate filter stores zlib streams, and
#: LZF chunks come from h5py's own filter run on an in-memory file
WORKER_COMPRESSIONS = ("gzip", "lzf", None)

#: ``(dtype, chunk_rows)`` of one field: ``chunk_rows`` is 0 for a fixed-shape field
FieldEncoding = tuple[str, int]


def field_encodings(fields: Mapping[str, StoredField]) -> dict[str, FieldEncoding]:
    """What a worker needs to encode each field of a file: ``name -> (dtype, chunk_rows)``."""
    return {name: (s.dtype, s.chunk_rows if s.ragged else 0) for name, s in fields.items()}


def sample_rows(
    values: Any, stored: StoredField, family: str = ""
) -> np.ndarray:
    """One sample of a field, checked (:func:`check_field_values`) and made contiguous in
    its storage type.

    Raises
    ------
    DataError
        Floats for an integer field, values out of its range, or a wrong shape.
    """
    a = check_field_values(stored.spec(), values, family)
    return np.ascontiguousarray(a, dtype=DTYPES[stored.dtype])


def encode_chunk(
    chunk: ChunkResult,
    dtype: str = "float32",
    compression: str | None = "gzip",
    level: int = 1,
    fields: Mapping[str, FieldEncoding] | None = None,
) -> ChunkResult:
    """Encode the fields of ``chunk`` as stored HDF5 chunks (run on a worker, in parallel).

    Each sample of each field is cast to its storage type (``fields``; default: ``dtype``
    for every float field, a ragged field being a list of per-sample arrays), its CRC-32
    is taken, and it is compressed as HDF5's deflate filter would (zlib, ``level``), by
    h5py's LZF filter (on an in-memory HDF5 file; a chunk LZF cannot shrink is stored raw
    with the filter marked skipped, as HDF5 itself does) or left raw (``None``).

    Parameters
    ----------
    chunk : ChunkResult
    dtype : {"float32", "float64"}
        Storage type of float fields that ``fields`` does not name.
    compression : {"gzip", "lzf", None}
    level : int
        zlib level of ``"gzip"``.
    fields : mapping of str to (dtype, chunk_rows), optional
        The file's :func:`field_encodings` (``DatasetWriter.field_encodings``).

    Returns
    -------
    ChunkResult
        The same object, with ``encoded``, ``filter_masks``, ``encoding`` and ``checksums``
        set and ``fields`` emptied.  A ragged field's ``encoded`` entry per sample is
        ``(rows, [bytes of each HDF5 chunk])``.

    Raises
    ------
    ConfigError
        A compression a worker cannot apply.
    DataError
        A field's values do not fit its declared type (floats for an integer field).
    """
    if compression not in WORKER_COMPRESSIONS:
        raise ConfigError(
            f"'compression' {compression!r} cannot be applied on a worker; "
            f"choose one of {WORKER_COMPRESSIONS}."
        )
    if dtype not in FLOAT_DTYPES:
        raise ConfigError(f"'dtype' must be one of {FLOAT_DTYPES}. Got {dtype!r}.")
    table = dict(fields) if fields is not None else _guess(chunk, dtype)
    encoded: dict[str, list[Any]] = {}
    masks: dict[str, list[Any]] = {}
    checksums: dict[str, np.ndarray] = {}
    for name, values in chunk.fields.items():
        kind, rows = table.get(name, (dtype, 0))
        if rows:
            encoded[name], masks[name], checksums[name] = _encode_ragged(
                name, values, kind, rows, compression, level
            )
        else:
            encoded[name], masks[name], checksums[name] = _encode_fixed(
                name, values, kind, compression, level
            )
    chunk.encoded, chunk.filter_masks, chunk.checksums = encoded, masks, checksums
    chunk.encoding = (dtype, compression, tuple(sorted(table.items())))
    chunk.fields = {}
    return chunk


def _guess(chunk: ChunkResult, dtype: str) -> dict[str, FieldEncoding]:
    """Field encodings without the file's table: floats as ``dtype``, integers as given,
    lists (ragged) in chunks of the default size."""
    out = {}
    for name, values in chunk.fields.items():
        first = np.asarray(values[0]) if len(values) else np.zeros(0)
        kind = first.dtype.name if first.dtype.name in ("int32", "int64") else dtype
        ragged = isinstance(values, list | tuple)
        out[name] = (kind, ragged_chunk_rows(first.shape[1:], kind) if ragged else 0)
    return out


def _as_type(name: str, values: Any, kind: str) -> np.ndarray:
    a = np.asarray(values)
    if kind.startswith("int") and a.size:
        if a.dtype.kind not in "iub":
            raise DataError(
                f"field {name!r} is declared {kind} but the family yielded {a.dtype} values; "
                "yield integers (integer fields are stored exactly)"
            )
        info = np.iinfo(kind)
        if a.min() < info.min or a.max() > info.max:
            raise DataError(f"field {name!r}: values in [{a.min()}, {a.max()}] do not fit {kind}")
    return np.ascontiguousarray(a, dtype=DTYPES[kind])


def _compress(raw: bytes | memoryview, compression: str | None, level: int) -> bytes:
    return zlib.compress(raw, level) if compression == "gzip" else bytes(raw)


def _encode_fixed(
    name: str, values: Any, kind: str, compression: str | None, level: int
) -> tuple[list[bytes], list[int], np.ndarray]:
    data = _as_type(name, values, kind)
    raw = [row.tobytes() for row in data]
    crc = np.array([zlib.crc32(r) for r in raw], dtype=np.uint32)
    if compression == "lzf":
        masks, payload = _h5py_filter_encode(data, compression)
        return payload, masks, crc
    return [_compress(r, compression, level) for r in raw], [0] * len(raw), crc


def _encode_ragged(
    name: str, values: Any, kind: str, rows: int, compression: str | None, level: int
) -> tuple[list[tuple[int, list[bytes]]], list[list[int]], np.ndarray]:
    payload, masks, crc = [], [], []
    for sample in values:
        data = _as_type(name, sample, kind)
        crc.append(zlib.crc32(data))
        n = data.shape[0]
        full = n - n % rows
        tail = np.zeros((rows if n % rows else 0, *data.shape[1:]), dtype=data.dtype)
        tail[: n - full] = data[full:]
        if compression == "lzf" and n:
            padded = np.concatenate([data[:full], tail])
            m, pieces = _h5py_filter_encode(padded, compression, rows)
        else:
            raw: list[Any] = []
            if full:
                buf = memoryview(data[:full]).cast("B")
                step = rows * data[:1].nbytes
                raw = [buf[k : k + step] for k in range(0, len(buf), step)]
            raw += [tail.tobytes()] if tail.size else []
            pieces, m = [_compress(r, compression, level) for r in raw], [0] * len(raw)
        payload.append((n, pieces))
        masks.append(m)
    return payload, masks, np.asarray(crc, dtype=np.uint32)


_ENCODE_FILES = itertools.count()


def _h5py_filter_encode(
    data: np.ndarray, compression: str, rows: int = 1
) -> tuple[list[int], list[bytes]]:
    """Chunks of ``data`` (``rows`` rows each) as h5py's ``compression`` filter stores them.

    Written to an in-memory HDF5 file (nothing touches disk) and read back raw with
    ``read_direct_chunk``: ``(filter masks, bytes)``, one per chunk.
    """
    name = f"pdeflow-encode-{os.getpid()}-{next(_ENCODE_FILES)}"
    with h5py.File(name, "w", driver="core", backing_store=False) as f:
        ds = f.create_dataset(
            "x", data=data, chunks=(rows, *data.shape[1:]), compression=compression
        )
        f.flush()
        zeros = (0,) * (data.ndim - 1)
        pairs = [ds.id.read_direct_chunk((k, *zeros)) for k in range(0, data.shape[0], rows)]
    return [int(m) for m, _ in pairs], [bytes(b) for _, b in pairs]
