"""HDF5 storage of generated datasets: layout version 1, a resumable writer, verify and info.

One process writes (:class:`DatasetWriter`); workers only compute :class:`ChunkResult` s.
Every dataset is preallocated when the file is created, so a chunk only fills rows in place.

Layout (``format = "pdeflow-dataset"``, ``format_version = 1``; ``n`` = ``n_samples``)
------------------------------------------------------------------------------------------
==========================  ==================  ===============================================
path                        shape, dtype        meaning
==========================  ==================  ===============================================
``/`` attrs                 --                  ``format``, ``format_version``, ``family``,
                                                ``family_options`` (JSON), ``config`` (JSON),
                                                ``n_samples``, ``seed``, ``created`` (ISO UTC),
                                                ``pdeflow_version``, ``git_hash`` ("" outside a
                                                git checkout), ``status`` ("partial" |
                                                "complete"), ``dtype``
``/fields/<name>``          (n, *spec.shape),   one per :class:`FieldSpec`, in the family's
                            float32 | float64   order; chunks of one sample, compressed (lzf |
                                                gzip | none); attrs ``role``, ``axes`` (JSON
                                                list), ``description``
``/coords/<axis>``          (size,) float64     :meth:`Family.coords`
``/params/<name>``          (n,) float64        per-sample scalar parameters (if any)
``/stats/iterations``       (n,) float64        solver iterations (time steps for steppers)
``/stats/residual``         (n,) float64        final relative residual (nan: none applies)
``/stats/time``             (n,) float64        solve time [s]
``/stats/method``           (n,) S32            solver that ran (ascii)
``/stats/written_at``       (n,) float64        unix time the sample was written [s]
``/checksums/<field>``      (n,) uint32         ``zlib.crc32`` of the stored bytes of the sample
``/solve/chunk``            (n,) int64          the chunk the sample was solved in: the
                                                smallest sample index of that chunk (-1:
                                                not recorded)
``/solve/position``         (n,) int64          the sample's position in that chunk's list
                                                of indices (-1: not recorded)
``/solve/settings``         (n,) S256           JSON of the explicit solver settings that
                                                solve that chunk again bit for bit
                                                (:meth:`SolverSettings.to_record`; empty:
                                                none, a pointwise family)
``/done``                   (n,) uint8          1 once the sample is completely written
``/write_count``            (n,) uint8          completed writes of the sample (1 when done)
==========================  ==================  ===============================================

Write protocol (survives ``kill -9`` at any moment)
---------------------------------------------------
* The file is built under a temporary name and renamed into place, so ``path`` is either
  absent or a complete, preallocated file.  Field chunks are allocated at creation and every
  per-sample 1-D dataset is contiguous and written at creation, so marking a sample done
  rewrites bytes in place and never changes file metadata.
* Per chunk: field rows, params, stats and checksums, then ``file.flush()``; then
  ``write_count`` and ``done``, then ``file.flush()`` again.  A sample is marked done on disk
  only after its data reached the file, so a crash leaves only fully written samples done.
* A writer that opens a file zeroes ``write_count`` of the samples not done: a count there
  comes from a writer killed between the two updates, whose write never completed.
* ``/solve`` is absent from files written before it existed: they open, verify and
  resume as before (nothing is recorded for them), and a repair solves their damaged
  samples without their chunk (:mod:`pdeflow.datagen.repair`).
* The default ``libver`` is used: ``libver="latest"`` (superblock v3) keeps a "file in use"
  flag that blocks reopening a file whose writer was killed.

Example
-------
>>> from pdeflow.datagen import families, storage            # doctest: +SKIP
>>> fam = families.get("darcy", resolution=16)                # doctest: +SKIP
>>> with storage.DatasetWriter.create("d.h5", fam, 8, config={}, seed=0) as w:  # doctest: +SKIP
...     n_written = w.write(fam.solve(range(8)))
...     w.finish()
>>> storage.verify("d.h5").ok                                 # doctest: +SKIP
True
"""

from __future__ import annotations

import functools
import itertools
import json
import math
import os
import shlex
import subprocess
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field, is_dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from pdeflow.errors import ConfigError, DataError
from pdeflow.progress import get_logger

from .families._base import STAT_NAMES, ChunkResult, Family

__all__ = [
    "LAYOUT_VERSION",
    "FORMAT",
    "DatasetExistsError",
    "DatasetWriter",
    "VerifyReport",
    "verify",
    "info",
    "format_info",
    "compact_ranges",
    "open_checked",
    "git_hash",
    "make_parent_folders",
    "check_replaceable",
    "damaged_samples",
]

#: Version of the layout described in the module docstring.
LAYOUT_VERSION: int = 1
#: Value of the root attribute ``format``.
FORMAT = "pdeflow-dataset"

_DTYPES = {"float32": np.dtype("<f4"), "float64": np.dtype("<f8")}
_COMPRESSIONS = ("lzf", "gzip", None)
_METHOD_DTYPE = np.dtype("S32")
_SETTINGS_DTYPE = np.dtype("S256")
#: per-sample solve-order records (group ``/solve``): which chunk, where in it, how solved
SOLVE_RECORDS = ("chunk", "position", "settings")
_GIT_TIMEOUT_S = 2.0
# verify reads fields in blocks of at most this many bytes
_VERIFY_BLOCK_BYTES = 64 * 2**20
_log = get_logger("pdeflow.datagen")


class DatasetExistsError(DataError, FileExistsError):
    """The dataset file exists and ``overwrite`` was not asked for."""


# ---------------------------------------------------------------------------------- helpers
def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, set | frozenset):
        return sorted(obj)
    if is_dataclass(obj) and not isinstance(obj, type):
        return {k: getattr(obj, k) for k in obj.__dataclass_fields__}
    raise TypeError(f"{type(obj).__name__} is not JSON serializable")


def _to_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, default=_json_default)


def _normalized(obj: Any) -> Any:
    """``obj`` as it reads back from its JSON text (tuples become lists, ...)."""
    return json.loads(_to_json(obj))


def _differences(stored: Any, given: Any, prefix: str = "") -> list[str]:
    """Dotted keys where two JSON-like values differ."""
    if isinstance(stored, dict) and isinstance(given, dict):
        out = []
        for key in sorted(set(stored) | set(given), key=str):
            name = f"{prefix}.{key}" if prefix else str(key)
            if key not in stored or key not in given:
                out.append(name)
            else:
                out.extend(_differences(stored[key], given[key], name))
        return out
    return [] if stored == given else [prefix or "<root>"]


@functools.lru_cache(maxsize=1)
def git_hash() -> str:
    """``git rev-parse HEAD`` of the checkout that holds the pdeflow package ("" if none)."""
    import pdeflow

    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(pdeflow.__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=_GIT_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


def compact_ranges(indices: np.ndarray, limit: int = 12) -> str:
    """Ascending indices as ranges: ``[0, 1, 2, 5, 7, 8] -> "0-2, 5, 7-8"``.

    At most ``limit`` ranges are listed; the rest are counted.
    """
    idx = np.unique(np.asarray(indices, dtype=np.int64))
    if idx.size == 0:
        return "none"
    parts = [f"{a}" if a == b else f"{a}-{b}" for a, b in ((r[0], r[-1]) for r in _split_runs(idx))]
    if len(parts) > limit:
        parts = parts[:limit] + [f"... ({len(parts) - limit} more ranges)"]
    return ", ".join(parts)


def _split_runs(idx: np.ndarray) -> list[np.ndarray]:
    """Sorted indices split into runs of consecutive integers."""
    if idx.size == 0:
        return []
    return np.split(idx, np.flatnonzero(np.diff(idx) != 1) + 1)


def _runs(idx: np.ndarray) -> list[tuple[int, int, int]]:
    """``(start, stop, offset)`` of each run of consecutive values of sorted ``idx``."""
    out, offset = [], 0
    for run in _split_runs(idx):
        out.append((int(run[0]), int(run[-1]) + 1, offset))
        offset += run.size
    return out


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def make_parent_folders(path: str | os.PathLike) -> list[Path]:
    """Create the missing folders above ``path``; returns those created, outermost first.

    Raises
    ------
    DataError
        One line: an ancestor is a file, not a folder, or a folder cannot be created
        (no permission, read-only or virtual file system such as ``/proc``).
    """
    parent = Path(path).absolute().parent
    missing = []
    probe = parent
    while not probe.exists():
        if probe.is_symlink():  # a dangling link: mkdir would fail on it
            raise DataError(
                f"Cannot create the folder for {str(path)!r}: {str(probe)!r} is a broken "
                "symbolic link."
            )
        missing.append(probe)
        probe = probe.parent
    if not probe.is_dir():
        raise DataError(
            f"Cannot write the dataset {str(path)!r}: {str(probe)!r} is a file, not a folder."
        )
    for folder in reversed(missing):
        try:
            folder.mkdir()
        except FileExistsError:  # created meanwhile by another process
            if not folder.is_dir():
                raise DataError(
                    f"Cannot write the dataset {str(path)!r}: {str(folder)!r} is a file, "
                    "not a folder."
                ) from None
        except OSError as exc:
            raise DataError(
                f"Cannot create the folder {str(folder)!r} for the dataset {str(path)!r}: "
                f"{exc.strerror or _one_line(exc)}."
            ) from None
    return list(reversed(missing))


def check_replaceable(path: str | os.PathLike) -> None:
    """Raise :class:`DataError` unless ``path`` is a pdeflow dataset (that ``overwrite`` may
    replace): an HDF5 file whose root attribute ``format`` is ``"pdeflow-dataset"``.

    Anything else (a text file, an HDF5 file of another layout, a folder) is refused, so
    ``--overwrite`` with a mistyped path never destroys unrelated data.
    """
    path = Path(path)
    where = str(path)
    if not path.is_file():
        raise DataError(f"Refusing to overwrite {where!r}: it is not a file.")
    why = ""
    try:
        if not h5py.is_hdf5(path):
            why = "it is not an HDF5 file"
        else:
            with h5py.File(path, "r", locking=False) as f:
                fmt = _attr(f.attrs.get("format"))
            if fmt != FORMAT:
                why = f"its attribute 'format' is {fmt!r}, not {FORMAT!r}"
    except OSError as exc:
        why = f"it cannot be read as HDF5 ({exc.strerror or _one_line(exc)})"
    if why:
        raise DataError(
            f"Refusing to overwrite {where!r}: {why}, so it is not a pdeflow dataset. "
            "Delete it yourself or choose another path."
        )


def _attr(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.generic):
        return value.item()
    return value


def open_checked(path: str | os.PathLike, mode: str = "r") -> h5py.File:
    """Open a pdeflow dataset; :class:`DataError` if it is unreadable or of another format.

    Read-only opens do not lock the file, so a dataset can be inspected while it is written.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"No dataset file at {str(path)!r}.")
    try:
        f = _open_h5(path, mode)
    except OSError as exc:
        hint = (
            "another process is writing it"
            if "lock" in str(exc).lower()
            else "the file is truncated or not HDF5; regenerate it"
        )
        raise DataError(f"Cannot open dataset {str(path)!r} ({hint}): {exc}") from exc
    try:
        fmt = _attr(f.attrs.get("format"))
        version = _attr(f.attrs.get("format_version"))
        if fmt != FORMAT:
            raise DataError(
                f"{str(path)!r} is not a pdeflow dataset (attribute 'format' is {fmt!r}, "
                f"expected {FORMAT!r})."
            )
        if version != LAYOUT_VERSION:
            raise DataError(
                f"{str(path)!r} has format_version {version!r}; this pdeflow reads version "
                f"{LAYOUT_VERSION}. Regenerate it or use the pdeflow that wrote it."
            )
    except BaseException:
        f.close()
        raise
    return f


def _open_h5(path: Path, mode: str) -> h5py.File:
    if mode != "r":
        return h5py.File(path, mode)
    try:
        return h5py.File(path, "r", locking=False)
    except OSError as first:
        # open in this process with locking (by a writer): HDF5 shares that open file
        try:
            return h5py.File(path, "r")
        except OSError:
            raise first from None


def _read_attrs(f: h5py.File) -> dict[str, Any]:
    attrs = {k: _attr(v) for k, v in f.attrs.items()}
    for key in ("family_options", "config"):
        if isinstance(attrs.get(key), str):
            attrs[key] = json.loads(attrs[key])
    return attrs


# ----------------------------------------------------------------------------------- writer
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
    """

    def __init__(self, path: Path, f: h5py.File) -> None:
        self.path = path
        self._f: h5py.File | None = f
        self.n_samples = int(f.attrs["n_samples"])
        self.dtype = np.dtype(_DTYPES[_attr(f.attrs["dtype"])])
        self._fields = {name: ds for name, ds in f["fields"].items()}
        compressions = {ds.compression for ds in self._fields.values()}
        #: ``(dtype, compression)`` of the fields; chunks encoded for it are stored as is
        self.encoding: tuple[str, str | None] = (
            self.dtype.name,
            compressions.pop() if len(compressions) == 1 else "mixed",
        )
        self._params = {name: ds for name, ds in f["params"].items()} if "params" in f else {}
        # handles looked up once (an h5py path lookup costs about 0.1 ms)
        self._stats = {name: f["stats"][name] for name in (*STAT_NAMES, "method", "written_at")}
        self._checksums = {name: f["checksums"][name] for name in self._fields}
        self._flags = {name: f[name] for name in ("done", "write_count")}
        # absent in files written before the records existed: nothing is recorded there
        self._solve = {name: f["solve"][name] for name in SOLVE_RECORDS} if "solve" in f else None
        self._done = np.asarray(f["done"][...], dtype=np.uint8)
        self._write_count = np.asarray(f["write_count"][...], dtype=np.uint8)
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
        """Create a preallocated dataset file for ``n_samples`` samples of ``family``.

        Parameters
        ----------
        path : path-like
            Target file; its folder is created.  The file appears atomically (built under a
            temporary name, then renamed).
        family : Family
            Declares the fields, coordinates and parameters.
        n_samples : int
            Samples the file will hold (>= 1).
        config : dict
            The full generation config (stored as JSON in the ``config`` attribute).
        seed : int
            The generation seed (stored).
        dtype : {"float32", "float64"}
            Storage type of the fields.
        compression : {"lzf", "gzip", None}
            Compression of the fields.
        overwrite : bool
            Replace an existing file instead of raising :class:`DatasetExistsError`.
        """
        path = Path(path)
        if isinstance(n_samples, bool) or not isinstance(n_samples, int | np.integer):
            raise ConfigError(f"'n_samples' must be an int >= 1. Got {n_samples!r}.")
        if n_samples < 1:
            raise ConfigError(f"'n_samples' must be an int >= 1. Got {n_samples!r}.")
        if dtype not in _DTYPES:
            raise ConfigError(f"'dtype' must be one of {sorted(_DTYPES)}. Got {dtype!r}.")
        if compression not in _COMPRESSIONS:
            raise ConfigError(f"'compression' must be one of {_COMPRESSIONS}. Got {compression!r}.")
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
                    _build(f, family, int(n_samples), dict(config), seed, dtype, compression)
                os.replace(tmp, path)
            except OSError as exc:
                raise DataError(
                    f"Cannot write the dataset {str(path)!r}: cannot create a file in folder "
                    f"{str(path.parent)!r} ({exc.strerror or _one_line(exc)})."
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
        """Reopen a dataset to write its missing samples.

        Raises :class:`DataError` if the file is not a pdeflow dataset of this layout
        version, or if ``family`` (name, options, fields) or ``config`` disagree with what the
        file was created with; the message names the differing keys.
        """
        path = Path(path)
        f = open_checked(path, "r+")
        try:
            _check_same(f, path, family, config)
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
        return _read_attrs(self._file())

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
        runs = _runs(idx)
        _write_rows(self._flags["done"], runs, self._done[idx], idx)
        _write_rows(self._flags["write_count"], runs, self._write_count[idx], idx)
        if _attr(f.attrs["status"]) != "partial":
            f.attrs["status"] = "partial"
        f.flush()

    # ------------------------------------------------------------------ writing
    def write(self, chunk: ChunkResult) -> int:
        """Write the samples of ``chunk`` that are not done yet; returns how many it wrote.

        The fields go to the file at once; the per-sample metadata and the done flags follow
        at the next sync (at once when ``sync_seconds`` is 0, the default; see
        :meth:`_sync`), and :meth:`flush`, :meth:`finish` and :meth:`close` sync.

        Raises :class:`DataError` on an index out of range or repeated, an unknown or missing
        field/parameter/statistic, or a per-sample shape that differs from the file's.
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
        runs = _runs(gidx)
        checksums = {}
        if chunk.encoded is not None:  # compressed on a worker: store the chunks as they are
            for name, ds in self._fields.items():
                payload = chunk.encoded[name]
                masks = (chunk.filter_masks or {}).get(name) or [0] * len(payload)
                zeros = (0,) * (ds.ndim - 1)
                for k, g in zip(order.tolist(), gidx.tolist(), strict=True):
                    ds.id.write_direct_chunk((g, *zeros), payload[k], masks[k])
                checksums[name] = np.asarray(chunk.checksums[name], dtype=np.uint32)[order]
        else:
            for name, ds in self._fields.items():
                data = rows(chunk.fields[name], self.dtype)
                checksums[name] = np.array([zlib.crc32(row) for row in data], dtype=np.uint32)
                _write_rows(ds, runs, data, gidx)
        meta: dict[h5py.Dataset, np.ndarray] = {}
        for name, ds in self._params.items():
            meta[ds] = rows(chunk.params[name], np.float64)
        for name in STAT_NAMES:
            meta[self._stats[name]] = rows(chunk.stats[name], np.float64)
        method = np.full(gidx.size, str(chunk.method).encode("ascii", "replace")[:32])
        meta[self._stats["method"]] = method.astype(_METHOD_DTYPE)
        meta[self._stats["written_at"]] = np.full(gidx.size, time.time())
        if self._solve is not None:
            self._solve_meta(chunk, idx, rows, meta)
        for name, crc in checksums.items():
            meta[self._checksums[name]] = crc
        self._pending.append((gidx, meta))
        self._write_count[gidx] = np.minimum(self._write_count[gidx].astype(np.int64) + 1, 255)
        self._done[gidx] = 1
        if time.monotonic() - self._synced_at >= self.sync_seconds:
            self._sync()
        return int(gidx.size)

    def _solve_meta(self, chunk: ChunkResult, idx: np.ndarray, rows: Any, meta: dict) -> None:
        """The solve-order records of the written rows of ``chunk`` (into ``meta``)."""
        m = idx.size
        where = chunk.solve_chunk if chunk.solve_chunk is not None else np.full(m, idx.min())
        pos = chunk.solve_pos if chunk.solve_pos is not None else np.arange(m)
        text = b"" if chunk.replay is None else chunk.replay.to_record().encode("ascii")
        if len(text) > _SETTINGS_DTYPE.itemsize:
            text = b""  # not recordable: a repair solves such samples alone
        meta[self._solve["chunk"]] = rows(where, np.int64)
        meta[self._solve["position"]] = rows(pos, np.int64)
        meta[self._solve["settings"]] = rows(np.full(m, text, dtype=_SETTINGS_DTYPE), None)

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
        runs = _runs(gidx)
        for ds in self._pending[0][1]:
            values = np.concatenate([meta[ds] for _, meta in self._pending])[order]
            _write_rows(ds, runs, values, gidx)
        f.flush()  # the data is in the file before any sample is marked done
        _write_rows(self._flags["write_count"], runs, self._write_count[gidx], gidx)
        _write_rows(self._flags["done"], runs, self._done[gidx], gidx)
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
            if tuple(chunk.encoding or ()) != self.encoding:
                raise DataError(
                    f"The chunk was encoded for (dtype, compression) {chunk.encoding}; the "
                    f"file {str(self.path)!r} stores {self.encoding}."
                )
            _check_names("field", chunk.encoded, self._fields)
            for name in self._fields:
                if len(chunk.encoded[name]) != m or np.shape(chunk.checksums[name]) != (m,):
                    raise DataError(f"Encoded field {name!r} does not hold {m} samples.")
        else:
            _check_names("field", chunk.fields, self._fields)
        _check_names("parameter", chunk.params, self._params)
        missing_stats = [k for k in STAT_NAMES if k not in chunk.stats]
        if missing_stats:
            raise DataError(f"Chunk lacks solver statistic(s) {missing_stats}.")
        for name, ds in self._fields.items():
            if chunk.encoded is not None:
                break
            shape = np.shape(chunk.fields[name])
            if shape != (m, *ds.shape[1:]):
                raise DataError(
                    f"Field {name!r} of the chunk has shape {shape}; the file stores "
                    f"{(m, *ds.shape[1:])} for {m} samples."
                )
        for kind, values in (("parameter", chunk.params), ("statistic", chunk.stats)):
            names = self._params if kind == "parameter" else STAT_NAMES
            for name in names:
                if np.shape(values[name]) != (m,):
                    raise DataError(
                        f"The {kind} {name!r} of the chunk has shape {np.shape(values[name])}; "
                        f"expected ({m},)."
                    )
        return idx

    def flush(self) -> None:
        """Push everything written to the file (pending samples are marked done)."""
        self._sync()
        self._file().flush()

    def finish(self) -> None:
        """Set ``status`` to ``"complete"`` if every sample is done (else ``"partial"``)."""
        f = self._file()
        self._sync()
        status = "complete" if self.done_count() == self.n_samples else "partial"
        if _attr(f.attrs["status"]) != status:
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


def _check_names(kind: str, given: Mapping[str, Any], stored: Mapping[str, Any]) -> None:
    unknown = sorted(set(given) - set(stored))
    if unknown:
        raise DataError(f"Chunk has unknown {kind}(s) {unknown}; the file stores {sorted(stored)}.")
    missing = sorted(set(stored) - set(given))
    if missing:
        raise DataError(f"Chunk lacks {kind}(s) {missing}; the file stores {sorted(stored)}.")


#: compressions a worker can apply itself: HDF5's deflate filter stores zlib streams, and
#: LZF chunks come from h5py's own filter run on an in-memory file
WORKER_COMPRESSIONS = ("gzip", "lzf", None)


def encode_chunk(
    chunk: ChunkResult, dtype: str = "float32", compression: str | None = "gzip", level: int = 1
) -> ChunkResult:
    """Encode the fields of ``chunk`` as stored HDF5 chunks (run on a worker, in parallel).

    Each sample of each field is cast to ``dtype``, its CRC-32 is taken, and it is
    compressed as HDF5's deflate filter would (zlib, ``level``), by h5py's LZF filter (on an
    in-memory HDF5 file; a sample LZF cannot shrink is stored raw with the filter marked
    skipped, as HDF5 itself does) or left raw (``compression=None``).
    :meth:`DatasetWriter.write` then stores the bytes with ``write_direct_chunk``: the one
    writing process copies bytes instead of compressing.  Files written this way read like
    any other (the same filter decodes them).

    Returns
    -------
    ChunkResult
        The same object, with ``encoded``, ``filter_masks``, ``encoding`` and ``checksums``
        set and ``fields`` emptied.

    Raises
    ------
    ConfigError
        A compression a worker cannot apply.
    """
    if compression not in WORKER_COMPRESSIONS:
        raise ConfigError(
            f"'compression' {compression!r} cannot be applied on a worker; "
            f"choose one of {WORKER_COMPRESSIONS}."
        )
    target = np.dtype(_DTYPES[dtype])
    encoded: dict[str, list[bytes]] = {}
    masks: dict[str, list[int]] = {}
    checksums: dict[str, np.ndarray] = {}
    for name, values in chunk.fields.items():
        data = np.ascontiguousarray(values, dtype=target)
        raw = [row.tobytes() for row in data]
        checksums[name] = np.array([zlib.crc32(r) for r in raw], dtype=np.uint32)
        masks[name] = [0] * len(raw)
        if compression == "gzip":
            encoded[name] = [zlib.compress(r, level) for r in raw]
        elif compression == "lzf":
            masks[name], encoded[name] = _h5py_filter_encode(data, compression)
        else:
            encoded[name] = raw
    chunk.encoded, chunk.filter_masks, chunk.checksums = encoded, masks, checksums
    chunk.encoding = (target.name, compression)
    chunk.fields = {}
    return chunk


_ENCODE_FILES = itertools.count()


def _h5py_filter_encode(data: np.ndarray, compression: str) -> tuple[list[int], list[bytes]]:
    """Chunks of ``data`` (one per row) as h5py's ``compression`` filter stores them.

    Written to an in-memory HDF5 file (nothing touches disk) and read back raw with
    ``read_direct_chunk``: ``(filter masks, bytes)``, one per row.
    """
    name = f"pdeflow-encode-{os.getpid()}-{next(_ENCODE_FILES)}"
    with h5py.File(name, "w", driver="core", backing_store=False) as f:
        ds = f.create_dataset("x", data=data, chunks=(1, *data.shape[1:]), compression=compression)
        f.flush()
        zeros = (0,) * (data.ndim - 1)
        pairs = [ds.id.read_direct_chunk((k, *zeros)) for k in range(data.shape[0])]
    return [int(m) for m, _ in pairs], [bytes(b) for _, b in pairs]


def _write_rows(
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


def _build(
    f: h5py.File,
    family: Family,
    n: int,
    config: dict,
    seed: int,
    dtype: str,
    compression: str | None,
) -> None:
    """Write the attributes and preallocate every dataset of layout version 1."""
    import pdeflow

    f.attrs.update(
        {
            "format": FORMAT,
            "format_version": LAYOUT_VERSION,
            "family": family.name,
            "family_options": _to_json(family.options()),
            "config": _to_json(config),
            "n_samples": n,
            "seed": int(seed),
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "pdeflow_version": pdeflow.__version__,
            "git_hash": git_hash(),
            "status": "partial",
            "dtype": dtype,
        }
    )
    fields = f.create_group("fields", track_order=True)  # family order
    for name, spec in family.fields().items():
        # chunks allocated now: writes later change chunk sizes but never the index structure
        dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        dcpl.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)
        if compression is None:
            # uncompressed: reserve the space without writing zeros into it (every sample is
            # written before it is marked done, and readers never look at undone samples)
            dcpl.set_fill_time(h5py.h5d.FILL_TIME_NEVER)
        ds = fields.create_dataset(
            name,
            shape=(n, *spec.shape),
            dtype=_DTYPES[dtype],
            chunks=(1, *spec.shape),
            compression=compression,
            dcpl=dcpl,
        )
        ds.attrs.update(
            {
                "role": spec.role,
                "axes": json.dumps(list(spec.axes)),
                "description": spec.description,
            }
        )
    coords = f.create_group("coords", track_order=True)
    for axis, values in family.coords().items():
        coords.create_dataset(axis, data=np.asarray(values, dtype=np.float64))
    if family.param_names():
        params = f.create_group("params", track_order=True)
        for name in family.param_names():
            params.create_dataset(name, data=np.full(n, np.nan))
    # contiguous 1-D datasets written now: marking a sample rewrites bytes in place
    stats = f.create_group("stats")
    for name in STAT_NAMES:
        stats.create_dataset(name, data=np.full(n, np.nan))
    stats.create_dataset("method", data=np.zeros(n, dtype=_METHOD_DTYPE))
    stats.create_dataset("written_at", data=np.zeros(n))
    checksums = f.create_group("checksums")
    for name in family.fields():
        checksums.create_dataset(name, data=np.zeros(n, dtype=np.uint32))
    solve = f.create_group("solve")
    solve.create_dataset("chunk", data=np.full(n, -1, dtype=np.int64))
    solve.create_dataset("position", data=np.full(n, -1, dtype=np.int64))
    solve.create_dataset("settings", data=np.zeros(n, dtype=_SETTINGS_DTYPE))
    f.create_dataset("done", data=np.zeros(n, dtype=np.uint8))
    f.create_dataset("write_count", data=np.zeros(n, dtype=np.uint8))


def _check_same(f: h5py.File, path: Path, family: Family | None, config: dict | None) -> None:
    attrs = _read_attrs(f)
    where = str(path)
    if family is not None:
        if family.name != attrs["family"]:
            raise DataError(
                f"Cannot resume {where!r}: it holds family {attrs['family']!r}, not "
                f"{family.name!r} (key 'family')."
            )
        diff = _differences(attrs["family_options"], _normalized(family.options()))
        if diff:
            raise DataError(
                f"Cannot resume {where!r}: family option(s) {diff} differ from the file's "
                f"{ {k: attrs['family_options'].get(k) for k in diff} }. Use the same options "
                "or write a new dataset."
            )
        stored = {n: tuple(ds.shape[1:]) for n, ds in f["fields"].items()}
        given = {n: tuple(s.shape) for n, s in family.fields().items()}
        if stored != given:
            raise DataError(
                f"Cannot resume {where!r}: the family declares fields {given}, the file "
                f"stores {stored} (key 'fields')."
            )
    if config is not None:
        given_cfg = _normalized(dict(config))
        if "n_samples" in given_cfg and given_cfg["n_samples"] != attrs["n_samples"]:
            raise DataError(
                f"Cannot resume {where!r}: it holds n_samples={attrs['n_samples']}, the config "
                f"asks for {given_cfg['n_samples']} (key 'n_samples')."
            )
        diff = _differences(attrs["config"], given_cfg)
        if diff:
            raise DataError(
                f"Cannot resume {where!r}: config key(s) {diff} differ from the config it was "
                "created with. Use the same config or write a new dataset."
            )


# ----------------------------------------------------------------------------------- verify
@dataclass
class VerifyReport:
    """What :func:`verify` found.

    Attributes
    ----------
    ok : bool
        True when the file is complete and no problem was found.
    n_samples : int
        Samples the file holds when complete (0 if unreadable).
    n_done : int
        Samples marked done.
    problems : list of str
        One line per problem (missing samples as compact ranges, non-finite samples,
        checksum mismatches, samples written more than once, unreadable parts).
    damaged : list of int
        Done samples whose stored bytes are damaged: a field of the sample cannot be read
        (an HDF5 filter error) or does not match its CRC-32.  ``pdeflow dataset repair``
        regenerates exactly these (:func:`pdeflow.datagen.repair.repair`).
    """

    ok: bool
    n_samples: int
    n_done: int
    problems: list[str] = field(default_factory=list)
    damaged: list[int] = field(default_factory=list)

    def __str__(self) -> str:
        head = f"{'ok' if self.ok else 'NOT ok'}: {self.n_done}/{self.n_samples} samples done"
        return "\n".join([head, *(f"  - {p}" for p in self.problems)])


def verify(path: str | os.PathLike, *, check_checksums: bool = True) -> VerifyReport:
    """Check a dataset file; problems are reported, never raised.

    Checks the format attributes and layout, lists the samples not done, the done samples
    written more than once, with non-finite values, or (``check_checksums``) whose stored
    bytes do not match their CRC-32; an unreadable or truncated file is a problem.  A block
    of samples that fails to read is read again sample by sample, so only the samples whose
    own chunk is damaged are reported (``damaged``), never their neighbours.
    """
    try:
        f = open_checked(path, "r")
    except DataError as exc:
        return VerifyReport(False, 0, 0, [str(exc)])
    problems: list[str] = []
    damaged: set[int] = set()
    n, n_done = 0, 0
    with f:
        try:
            n = int(f.attrs["n_samples"])
            n_done = _verify_open(f, n, problems, check_checksums, damaged)
        except (OSError, KeyError, ValueError, TypeError, RuntimeError) as exc:
            problems.append(f"unreadable: {type(exc).__name__}: {exc}")
    return VerifyReport(not problems, n, n_done, problems, sorted(damaged))


def damaged_samples(path: str | os.PathLike) -> np.ndarray:
    """Indices of the done samples of ``path`` whose stored field bytes are damaged.

    A sample is damaged when one of its fields cannot be read (its HDF5 chunk fails to
    decode) or does not match the CRC-32 stored when it was written.  Reads every field
    once.

    Returns
    -------
    ndarray of int64, shape (m,)
        Ascending sample indices (empty for an intact file).

    Raises
    ------
    DataError
        The file is not a readable pdeflow dataset.
    """
    rep = verify(path)
    if rep.n_samples == 0 and rep.problems:
        raise DataError(rep.problems[0])
    return np.asarray(rep.damaged, dtype=np.int64)


def _verify_open(
    f: h5py.File, n: int, problems: list[str], check_checksums: bool, damaged: set[int]
) -> int:
    required = ["fields", "coords", "stats", "checksums", "done", "write_count"]
    absent = [name for name in required if name not in f]
    if absent:
        problems.append(f"missing dataset(s)/group(s) {absent}")
        return 0
    for name in ("done", "write_count", *(f"stats/{s}" for s in (*STAT_NAMES, "method"))):
        if name not in f or f[name].shape != (n,):
            problems.append(f"dataset {name!r} is missing or not of shape ({n},)")
            return 0
    done = f["done"][...] != 0
    n_done = int(done.sum())
    if n_done < n:
        missing = compact_ranges(np.flatnonzero(~done))
        problems.append(f"{n - n_done} of {n} samples missing: {missing}")
    elif _attr(f.attrs.get("status")) != "complete":
        problems.append("every sample is done but status is not 'complete' (finish() not run)")
    count = f["write_count"][...]
    twice = np.flatnonzero(done & (count != 1))
    if twice.size:
        problems.append(
            f"{twice.size} done sample(s) with write_count != 1 (written more than once or "
            f"never counted): {compact_ranges(twice)}"
        )
    for name, ds in f["fields"].items():
        if ds.shape[0] != n or name not in f["checksums"]:
            problems.append(f"field {name!r}: shape {ds.shape} or its checksums do not match")
            continue
        scan = scan_field(ds, f["checksums"][name][...], done, check_checksums)
        problems.extend(scan.problems(name))
        damaged.update(scan.unreadable)
        damaged.update(scan.mismatch)
    return n_done


@dataclass
class FieldScan:
    """Per-sample findings of :func:`scan_field` (ascending sample indices)."""

    unreadable: list[int] = field(default_factory=list)
    nonfinite: list[int] = field(default_factory=list)
    mismatch: list[int] = field(default_factory=list)

    def problems(self, name: str) -> list[str]:
        """One line per kind of finding, for :class:`VerifyReport`."""
        out = []
        if self.unreadable:
            out.append(
                f"field {name!r}: {len(self.unreadable)} sample(s) unreadable (damaged "
                f"chunk): {compact_ranges(self.unreadable)}"
            )
        if self.nonfinite:
            out.append(
                f"field {name!r}: {len(self.nonfinite)} sample(s) with non-finite values: "
                f"{compact_ranges(self.nonfinite)}"
            )
        if self.mismatch:
            out.append(
                f"field {name!r}: {len(self.mismatch)} checksum mismatch(es): "
                f"{compact_ranges(self.mismatch)}"
            )
        return out


def scan_field(
    ds: h5py.Dataset, checksums: np.ndarray, done: np.ndarray, check_checksums: bool = True
) -> FieldScan:
    """Read every done sample of field ``ds`` once and classify the bad ones.

    Samples are read in blocks of up to 64 MiB; a block that fails to read (an HDF5 filter
    error on one damaged chunk fails the whole read) is read again one sample at a time,
    so exactly the samples whose chunk is damaged are reported.

    Parameters
    ----------
    ds : h5py.Dataset, shape (n, *field shape)
    checksums : ndarray of uint32, shape (n,)
        CRC-32 of each sample's stored bytes.
    done : ndarray of bool, shape (n,)
        Samples to check.
    check_checksums : bool
        Compare each sample's CRC-32 (else only readability and finiteness).
    """
    sample_bytes = max(1, math.prod(ds.shape[1:]) * ds.dtype.itemsize)
    block = max(1, _VERIFY_BLOCK_BYTES // sample_bytes)
    scan = FieldScan()
    for run in _split_runs(np.flatnonzero(done)):
        for lo in range(0, run.size, block):
            start, stop = int(run[lo]), int(run[min(lo + block, run.size) - 1]) + 1
            try:
                _check_rows(
                    scan, start, np.ascontiguousarray(ds[start:stop]), checksums, check_checksums
                )
            except (OSError, ValueError, RuntimeError):
                for i in range(start, stop):
                    try:
                        row = np.ascontiguousarray(ds[i : i + 1])
                    except (OSError, ValueError, RuntimeError):
                        scan.unreadable.append(i)
                        continue
                    _check_rows(scan, i, row, checksums, check_checksums)
    return scan


def _check_rows(
    scan: FieldScan, start: int, data: np.ndarray, checksums: np.ndarray, check: bool
) -> None:
    stop = start + data.shape[0]
    finite = np.isfinite(data.reshape(stop - start, -1)).all(axis=1)
    scan.nonfinite.extend(int(i) for i in start + np.flatnonzero(~finite))
    if check:
        crc = np.array([zlib.crc32(row) for row in data], dtype=np.uint32)
        scan.mismatch.extend(int(i) for i in start + np.flatnonzero(crc != checksums[start:stop]))


# ------------------------------------------------------------------------------------- info
def info(path: str | os.PathLike, *, check: bool = True) -> dict[str, Any]:
    """A summary of a dataset file (for ``pdeflow dataset info``).

    Parameters
    ----------
    path : path-like
    check : bool
        Read every done sample once to find damaged ones (unreadable chunk or CRC-32
        mismatch, as :func:`verify` does; I/O bound).  With False only metadata is read
        (fast) and ``damaged`` is None.

    Returns
    -------
    dict
        ``path``, ``file_size`` (bytes), ``family``, ``options``, ``n_samples``, ``n_done``,
        ``status`` (the file's ``"partial"`` | ``"complete"``, or ``"damaged"`` when damaged
        samples were found), ``damaged`` (list of sample indices, or None when not
        checked), ``dtype``, ``fields`` (name -> ``shape``, ``dtype``, ``role``, ``axes``),
        ``coords`` (axis -> ``size``, ``min``, ``max``), ``params`` (names), ``stats``
        (``iterations_mean``, ``iterations_max``, ``residual_max``, ``time_total`` [s],
        ``methods`` over done samples; None where no sample is done) and ``provenance``
        (``format_version``, ``created``, ``pdeflow_version``, ``git_hash``, ``seed``,
        ``config``).
    """
    path = Path(path)
    with open_checked(path, "r") as f:
        try:
            d = _info_open(f, path)
        except (OSError, KeyError, ValueError) as exc:
            raise DataError(
                f"Dataset {str(path)!r} is damaged ({exc}); run `pdeflow dataset verify`."
            ) from exc
        d["damaged"] = None
        if check:
            done = f["done"][...] != 0
            bad: set[int] = set()
            for name, ds in f["fields"].items():
                scan = scan_field(ds, f["checksums"][name][...], done)
                bad.update(scan.unreadable)
                bad.update(scan.mismatch)
            d["damaged"] = sorted(bad)
            if bad:
                d["status"] = "damaged"
    return d


def _info_open(f: h5py.File, path: Path) -> dict[str, Any]:
    attrs = _read_attrs(f)
    done = f["done"][...] != 0
    fields = {
        name: {
            "shape": tuple(int(s) for s in ds.shape),
            "dtype": str(ds.dtype),
            "role": _attr(ds.attrs.get("role", "")),
            "axes": tuple(json.loads(_attr(ds.attrs.get("axes", "[]")))),
        }
        for name, ds in f["fields"].items()
    }
    coords = {}
    for axis, ds in f["coords"].items():
        values = ds[...]
        coords[axis] = {
            "size": int(values.size),
            "min": float(values.min()) if values.size else None,
            "max": float(values.max()) if values.size else None,
        }
    stats: dict[str, Any] = {
        "iterations_mean": None,
        "iterations_max": None,
        "residual_max": None,
        "time_total": None,
        "methods": [],
    }
    if done.any():
        it = f["stats/iterations"][...][done]
        res = f["stats/residual"][...][done]
        methods = np.unique(f["stats/method"][...][done])
        stats.update(
            iterations_mean=float(np.mean(it)),
            iterations_max=float(np.max(it)),
            residual_max=float(np.nanmax(res)) if np.isfinite(res).any() else None,
            time_total=float(np.sum(f["stats/time"][...][done])),
            methods=[m.decode("ascii", "replace") for m in methods],
        )
    return {
        "path": str(path),
        "file_size": path.stat().st_size,
        "family": attrs.get("family"),
        "options": attrs.get("family_options"),
        "n_samples": int(attrs["n_samples"]),
        "n_done": int(done.sum()),
        "status": attrs.get("status"),
        "dtype": attrs.get("dtype"),
        "fields": fields,
        "coords": coords,
        "params": sorted(f["params"]) if "params" in f else [],
        "stats": stats,
        "provenance": {
            "format_version": attrs.get("format_version"),
            "created": attrs.get("created"),
            "pdeflow_version": attrs.get("pdeflow_version"),
            "git_hash": attrs.get("git_hash"),
            "seed": attrs.get("seed"),
            "config": attrs.get("config"),
        },
    }


def _size(nbytes: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if nbytes < 1024 or unit == "GiB":
            return f"{nbytes:.0f} {unit}" if unit == "B" else f"{nbytes:.1f} {unit}"
        nbytes /= 1024
    return f"{nbytes:.1f} TiB"  # pragma: no cover


def format_info(d: dict[str, Any]) -> str:
    """Human-readable text of an :func:`info` dict (several lines, no trailing newline)."""
    prov, st = d["provenance"], d["stats"]
    lines = [
        f"dataset    {d['path']} ({_size(d['file_size'])})",
        f"family     {d['family']}  {json.dumps(d['options'], sort_keys=True)}",
        f"samples    {d['n_done']} of {d['n_samples']} done, status {d['status']}",
    ]
    if d.get("damaged"):
        lines.append(
            f"damaged    {len(d['damaged'])} sample(s): {compact_ranges(d['damaged'])}; "
            f"repair with: pdeflow dataset repair {shlex.quote(d['path'])}"
        )
    for i, (name, fd) in enumerate(d["fields"].items()):
        label = "fields" if i == 0 else ""
        axes = ",".join(fd["axes"])
        lines.append(f"{label:<10} {name:<8} {fd['role']:<7} {fd['shape']} {fd['dtype']} ({axes})")
    coords = "; ".join(
        f"{a} ({c['size']},) [{c['min']:.4g}, {c['max']:.4g}]" if c["size"] else f"{a} (0,)"
        for a, c in d["coords"].items()
    )
    lines.append(f"coords     {coords or '-'}")
    if d["params"]:
        lines.append(f"params     {', '.join(d['params'])}")
    if st["iterations_mean"] is None:
        lines.append("solver     no sample done")
    else:
        residual = "n/a" if st["residual_max"] is None else f"{st['residual_max']:.3g}"
        lines.append(
            f"solver     {', '.join(st['methods']) or '-'}: iterations mean "
            f"{st['iterations_mean']:.1f} max {st['iterations_max']:.0f}; residual max "
            f"{residual}; solve time {st['time_total']:.2f} s"
        )
    git = prov["git_hash"][:12] if prov["git_hash"] else "no git checkout"
    lines.append(
        f"created    {prov['created']} by pdeflow {prov['pdeflow_version']} ({git}), "
        f"layout v{prov['format_version']}, seed {prov['seed']}"
    )
    return "\n".join(lines)
