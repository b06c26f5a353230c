"""Layout of a dataset file: constants, opening, creating, and the stored field table.

Layout version 2 (``format = "pdeflow-dataset"``, ``format_version = 2``; ``n`` =
``n_samples``); version 1 files (no ``/ragged``, ``/status``, ``/mesh``, every field a
float of the file's ``dtype``) stay readable and resumable.

==========================  ==================  ===============================================
path                        shape, dtype        meaning
==========================  ==================  ===============================================
``/`` attrs                 --                  ``format``, ``format_version``, ``family``,
                                                ``family_options`` (JSON), ``config`` (JSON),
                                                ``n_samples``, ``seed``, ``created`` (ISO UTC),
                                                ``pdeflow_version``, ``git_hash``, ``status``
                                                ("partial" | "complete"), ``dtype`` (of the
                                                float fields that declare none),
                                                ``field_order`` (JSON list, v2)
``/fields/<name>``          (n, *shape), the    a fixed-shape field; chunks of one sample;
                            field's dtype       attrs ``role``, ``axes``, ``description``
``/ragged/<name>/data``     (rows, *row shape)  a ragged field (v2): every sample's rows,
                                                concatenated; chunks of ``chunk_rows`` rows,
                                                each chunk holds rows of one sample only
``/ragged/<name>/offsets``  (n, 2) int64        ``[start, stop)`` rows of each sample in
                                                ``data`` (-1: not written); ``start`` is a
                                                multiple of the group's ``chunk_rows``
``/coords/<axis>``          (size,) float64     :meth:`Family.coords`
``/mesh``                   group (v2)          a mesh shared by all samples: ``points``
                                                (float64), ``cells`` (int64), attrs
                                                ``cell_type``; ``boundary_tags`` (int32)
``/params/<name>``          (n,) float64        per-sample scalar parameters
``/stats/<name>``           (n,) float64        ``iterations``, ``residual``, ``time`` [s],
                                                ``written_at``, and the family's extra
                                                statistics (:meth:`Family.extra_stats`)
``/stats/method``           (n,) S32            solver that ran
``/status/code``            (n,) int32          status code (attr ``codes``: JSON code->name)
``/status/converged``       (n,) uint8          1: converged; 0: marked not converged
``/status/message``         (n,) S160           why a sample failed (ascii)
``/checksums/<field>``      (n,) uint32         CRC-32 of the sample's bytes
``/solve/*``                (n,)                solve-order records (chunk, position,
                                                settings), see :mod:`.writer`
``/done``, ``/write_count`` (n,) uint8          done flag; completed writes of the sample
==========================  ==================  ===============================================
"""

from __future__ import annotations

import functools
import json
import math
import os
import subprocess
from dataclasses import dataclass, is_dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from pdeflow.errors import DataError

from ..families import FieldSpec
from ..families._base import STAT_NAMES, Family

__all__ = [
    "LAYOUT_VERSION",
    "READABLE_VERSIONS",
    "FORMAT",
    "DTYPES",
    "StoredField",
    "stored_fields",
    "refuse_ragged",
    "open_checked",
    "read_attrs",
    "attr_value",
    "compact_ranges",
    "split_runs",
    "index_runs",
    "one_line",
    "git_hash",
    "make_parent_folders",
    "check_replaceable",
    "build",
    "ragged_chunk_rows",
    "to_json",
    "normalized",
    "differences",
]

#: Version of the layout new files are written in.
LAYOUT_VERSION: int = 2
#: Versions this pdeflow reads (and resumes).
READABLE_VERSIONS: tuple[int, ...] = (1, 2)
#: Value of the root attribute ``format``.
FORMAT = "pdeflow-dataset"
#: Storage types by name (little-endian).
DTYPES = {
    "float32": np.dtype("<f4"),
    "float64": np.dtype("<f8"),
    "int32": np.dtype("<i4"),
    "int64": np.dtype("<i8"),
}
FLOAT_DTYPES = ("float32", "float64")
COMPRESSIONS = ("lzf", "gzip", None)
METHOD_DTYPE = np.dtype("S32")
SETTINGS_DTYPE = np.dtype("S256")
MESSAGE_DTYPE = np.dtype("S160")
#: per-sample solve-order records (group ``/solve``): which chunk, where in it, how solved
SOLVE_RECORDS = ("chunk", "position", "settings")
_GIT_TIMEOUT_S = 2.0
#: bytes per chunk of a ragged field's data (a sample's last chunk is padded with zeros)
RAGGED_CHUNK_BYTES = 32 * 1024


def ragged_chunk_rows(row_shape: tuple[int, ...], dtype: str) -> int:
    """Rows per HDF5 chunk of a ragged field: about 64 KiB per chunk.

    Examples
    --------
    >>> ragged_chunk_rows((3,), "float32")
    2730
    """
    row_bytes = max(1, math.prod(row_shape) * DTYPES[dtype].itemsize)
    return max(1, RAGGED_CHUNK_BYTES // row_bytes)


@dataclass(frozen=True)
class StoredField:
    """One field as a file stores it.

    Attributes
    ----------
    name, role, axes, description
        As declared by the family's :class:`FieldSpec`.
    dtype : str
        Storage type (``"float32"``, ``"float64"``, ``"int32"``, ``"int64"``).
    ragged : bool
        Stored as concatenated rows plus offsets (``/ragged/<name>``).
    row_shape : tuple of int
        Shape of one row (ragged), or of one sample (fixed).
    chunk_rows : int
        Rows per HDF5 chunk of a ragged field (0 for a fixed field).
    """

    name: str
    role: str
    axes: tuple[str, ...]
    description: str
    dtype: str
    ragged: bool
    row_shape: tuple[int, ...]
    chunk_rows: int = 0

    def spec(self) -> FieldSpec:
        """The :class:`FieldSpec` this field was stored from."""
        shape = (None, *self.row_shape) if self.ragged else self.row_shape
        return FieldSpec(
            self.name, shape, self.role, self.axes, self.description, self.dtype, self.ragged
        )

    @property
    def is_integer(self) -> bool:
        """True for an integer field (stored exactly)."""
        return self.dtype.startswith("int")


def stored_fields(f: h5py.File) -> dict[str, StoredField]:
    """The fields of an open dataset, in the family's order (any readable version)."""
    out: dict[str, StoredField] = {}
    for name, ds in f["fields"].items():
        out[name] = StoredField(
            name,
            attr_value(ds.attrs.get("role", "")),
            tuple(json.loads(attr_value(ds.attrs.get("axes", "[]")))),
            attr_value(ds.attrs.get("description", "")),
            ds.dtype.name,
            False,
            tuple(int(s) for s in ds.shape[1:]),
        )
    for name, g in (f["ragged"].items() if "ragged" in f else ()):
        data = g["data"]
        out[name] = StoredField(
            name,
            attr_value(g.attrs.get("role", "")),
            tuple(json.loads(attr_value(g.attrs.get("axes", "[]")))),
            attr_value(g.attrs.get("description", "")),
            data.dtype.name,
            True,
            tuple(int(s) for s in data.shape[1:]),
            int(attr_value(g.attrs["chunk_rows"])),
        )
    order = attr_value(f.attrs.get("field_order"))
    if order:
        names = json.loads(order)
        out = {n: out[n] for n in names if n in out} | out
    return out


def json_default(obj: Any) -> Any:
    """``json.dumps`` fallback for numpy values, paths, sets and dataclasses."""
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


def to_json(obj: Any) -> str:
    """``obj`` as sorted-key JSON text (numpy values, paths, sets and dataclasses allowed)."""
    return json.dumps(obj, sort_keys=True, default=json_default)


def normalized(obj: Any) -> Any:
    """``obj`` as it reads back from its JSON text (tuples become lists, ...)."""
    return json.loads(to_json(obj))


def differences(stored: Any, given: Any, prefix: str = "") -> list[str]:
    """Dotted keys where two JSON-like values differ.

    Examples
    --------
    >>> differences({"a": 1, "b": {"c": 2}}, {"a": 1, "b": {"c": 3}})
    ['b.c']
    """
    if isinstance(stored, dict) and isinstance(given, dict):
        out = []
        for key in sorted(set(stored) | set(given), key=str):
            name = f"{prefix}.{key}" if prefix else str(key)
            if key not in stored or key not in given:
                out.append(name)
            else:
                out.extend(differences(stored[key], given[key], name))
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
    parts = [f"{a}" if a == b else f"{a}-{b}" for a, b in ((r[0], r[-1]) for r in split_runs(idx))]
    if len(parts) > limit:
        parts = parts[:limit] + [f"... ({len(parts) - limit} more ranges)"]
    return ", ".join(parts)


def split_runs(idx: np.ndarray) -> list[np.ndarray]:
    """Sorted indices split into runs of consecutive integers.

    Examples
    --------
    >>> [r.tolist() for r in split_runs(np.array([0, 1, 2, 5]))]
    [[0, 1, 2], [5]]
    """
    if idx.size == 0:
        return []
    return np.split(idx, np.flatnonzero(np.diff(idx) != 1) + 1)


def index_runs(idx: np.ndarray) -> list[tuple[int, int, int]]:
    """``(start, stop, offset)`` of each run of consecutive values of sorted ``idx``.

    Examples
    --------
    >>> index_runs(np.array([0, 1, 2, 5]))
    [(0, 3, 0), (5, 6, 3)]
    """
    out, offset = [], 0
    for run in split_runs(idx):
        out.append((int(run[0]), int(run[-1]) + 1, offset))
        offset += run.size
    return out


def one_line(exc: BaseException) -> str:
    """The message of ``exc`` on one line (its type name if it has none)."""
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
                f"{exc.strerror or one_line(exc)}."
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
                fmt = attr_value(f.attrs.get("format"))
            if fmt != FORMAT:
                why = f"its attribute 'format' is {fmt!r}, not {FORMAT!r}"
    except OSError as exc:
        why = f"it cannot be read as HDF5 ({exc.strerror or one_line(exc)})"
    if why:
        raise DataError(
            f"Refusing to overwrite {where!r}: {why}, so it is not a pdeflow dataset. "
            "Delete it yourself or choose another path."
        )


def attr_value(value: Any) -> Any:
    """An HDF5 attribute as a plain Python value (bytes decoded, numpy scalars unwrapped).

    Examples
    --------
    >>> attr_value(b"complete"), attr_value(np.int64(2))
    ('complete', 2)
    """
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
        fmt = attr_value(f.attrs.get("format"))
        version = attr_value(f.attrs.get("format_version"))
        if fmt != FORMAT:
            raise DataError(
                f"{str(path)!r} is not a pdeflow dataset (attribute 'format' is {fmt!r}, "
                f"expected {FORMAT!r})."
            )
        if version not in READABLE_VERSIONS:
            raise DataError(
                f"{str(path)!r} has format_version {version!r}; this pdeflow reads versions "
                f"{list(READABLE_VERSIONS)}. Regenerate it or use the pdeflow that wrote it."
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


def read_attrs(f: h5py.File) -> dict[str, Any]:
    """The root attributes of an open dataset (``family_options`` and ``config`` parsed
    from JSON)."""
    attrs = {k: attr_value(v) for k, v in f.attrs.items()}
    for key in ("family_options", "config"):
        if isinstance(attrs.get(key), str):
            attrs[key] = json.loads(attrs[key])
    return attrs




def refuse_ragged(f: h5py.File, what: str) -> None:
    """Raise :class:`DataError` if the open file ``f`` has ragged fields, which cannot be
    ``what`` (a grid-only operation such as an export to netCDF)."""
    names = sorted(f["ragged"]) if "ragged" in f else []
    if names:
        raise DataError(
            f"{str(f.filename)!r} has ragged field(s) {names} (a per-sample length), which "
            f"cannot be {what}; read them with open_dataset (per sample, or as_graph=True)."
        )


# ------------------------------------------------------------------------------ creating
def field_dtype(spec: FieldSpec, default: str) -> str:
    """The storage type of ``spec``: its declared dtype, else the file's float ``default``."""
    return spec.dtype or default


def build(
    f: h5py.File,
    family: Family,
    n: int,
    config: dict,
    seed: int,
    dtype: str,
    compression: str | None,
) -> None:
    """Write the attributes and preallocate every dataset of layout version 2."""
    import pdeflow

    specs = family.fields()
    f.attrs.update(
        {
            "format": FORMAT,
            "format_version": LAYOUT_VERSION,
            "family": family.name,
            "family_options": to_json(family.options()),
            "config": to_json(config),
            "n_samples": n,
            "seed": int(seed),
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "pdeflow_version": pdeflow.__version__,
            "git_hash": git_hash(),
            "status": "partial",
            "dtype": dtype,
            "field_order": json.dumps(list(specs)),
        }
    )
    fields = f.create_group("fields", track_order=True)  # family order
    ragged = f.create_group("ragged", track_order=True)
    for name, spec in specs.items():
        kind = field_dtype(spec, dtype)
        attrs = {
            "role": spec.role,
            "axes": json.dumps(list(spec.axes)),
            "description": spec.description,
        }
        if spec.ragged:
            _build_ragged(ragged, spec, kind, n, compression).attrs.update(attrs)
        else:
            ds = fields.create_dataset(
                name,
                shape=(n, *spec.shape),
                dtype=DTYPES[kind],
                chunks=(1, *spec.shape),
                compression=compression,
                dcpl=_early_dcpl(compression),
            )
            ds.attrs.update(attrs)
    coords = f.create_group("coords", track_order=True)
    for axis, values in family.coords().items():
        coords.create_dataset(axis, data=np.asarray(values, dtype=np.float64))
    mesh = family.mesh()
    if mesh is not None:
        g = f.create_group("mesh")
        g.create_dataset("points", data=mesh.points)
        g.create_dataset("cells", data=mesh.cells)
        g.attrs["cell_type"] = mesh.cell_type
        if mesh.boundary_tags is not None:
            g.create_dataset("boundary_tags", data=mesh.boundary_tags)
    _build_per_sample(f, family, n)


def _early_dcpl(compression: str | None) -> Any:
    """Chunks allocated at creation: later writes change chunk sizes, never the index."""
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)
    if compression is None:
        # uncompressed: reserve the space without writing zeros into it (every sample is
        # written before it is marked done, and readers never look at undone samples)
        dcpl.set_fill_time(h5py.h5d.FILL_TIME_NEVER)
    return dcpl


def _build_ragged(
    parent: h5py.Group, spec: FieldSpec, kind: str, n: int, compression: str | None
) -> h5py.Group:
    """The group of a ragged field: resizable ``data`` (one chunk per sample to start
    with) and preallocated ``offsets``."""
    rows = ragged_chunk_rows(spec.row_shape, kind)
    g = parent.create_group(spec.name)
    g.attrs["chunk_rows"] = rows
    g.create_dataset(
        "data",
        shape=(n * rows, *spec.row_shape),
        maxshape=(None, *spec.row_shape),
        dtype=DTYPES[kind],
        chunks=(rows, *spec.row_shape),
        compression=compression,
        dcpl=_early_dcpl(compression),
    )
    g.create_dataset("offsets", data=np.full((n, 2), -1, dtype=np.int64))
    return g


def _build_per_sample(f: h5py.File, family: Family, n: int) -> None:
    """Contiguous 1-D datasets written now: marking a sample rewrites bytes in place."""
    if family.param_names():
        params = f.create_group("params", track_order=True)
        for name in family.param_names():
            params.create_dataset(name, data=np.full(n, np.nan))
    stats = f.create_group("stats")
    for name in (*STAT_NAMES, *family.extra_stats()):
        stats.create_dataset(name, data=np.full(n, np.nan))
    for name, meaning in family.extra_stats().items():
        stats[name].attrs["description"] = meaning
    stats.create_dataset("method", data=np.zeros(n, dtype=METHOD_DTYPE))
    stats.create_dataset("written_at", data=np.zeros(n))
    status = f.create_group("status")
    status.attrs["codes"] = json.dumps({str(k): v for k, v in family.status_codes().items()})
    status.create_dataset("code", data=np.zeros(n, dtype=np.int32))
    status.create_dataset("converged", data=np.zeros(n, dtype=np.uint8))
    status.create_dataset("message", data=np.zeros(n, dtype=MESSAGE_DTYPE))
    checksums = f.create_group("checksums")
    for name in family.fields():
        checksums.create_dataset(name, data=np.zeros(n, dtype=np.uint32))
    solve = f.create_group("solve")
    solve.create_dataset("chunk", data=np.full(n, -1, dtype=np.int64))
    solve.create_dataset("position", data=np.full(n, -1, dtype=np.int64))
    solve.create_dataset("settings", data=np.zeros(n, dtype=SETTINGS_DTYPE))
    f.create_dataset("done", data=np.zeros(n, dtype=np.uint8))
    f.create_dataset("write_count", data=np.zeros(n, dtype=np.uint8))


def check_same(f: h5py.File, path: Path, family: Family | None, config: dict | None) -> None:
    """Raise :class:`DataError` (naming the keys) if ``family`` or ``config`` differ from
    what the open file ``f`` was created with."""
    attrs = read_attrs(f)
    where = str(path)
    if family is not None:
        if family.name != attrs["family"]:
            raise DataError(
                f"Cannot resume {where!r}: it holds family {attrs['family']!r}, not "
                f"{family.name!r} (key 'family')."
            )
        diff = differences(attrs["family_options"], normalized(family.options()))
        if diff:
            raise DataError(
                f"Cannot resume {where!r}: family option(s) {diff} differ from the file's "
                f"{ {k: attrs['family_options'].get(k) for k in diff} }. Use the same options "
                "or write a new dataset."
            )
        stored = {n: s.spec().shape for n, s in stored_fields(f).items()}
        given = {n: tuple(s.shape) for n, s in family.fields().items()}
        if stored != given:
            raise DataError(
                f"Cannot resume {where!r}: the family declares fields {given}, the file "
                f"stores {stored} (key 'fields')."
            )
    if config is not None:
        given_cfg = normalized(dict(config))
        if "n_samples" in given_cfg and given_cfg["n_samples"] != attrs["n_samples"]:
            raise DataError(
                f"Cannot resume {where!r}: it holds n_samples={attrs['n_samples']}, the config "
                f"asks for {given_cfg['n_samples']} (key 'n_samples')."
            )
        diff = differences(attrs["config"], given_cfg)
        if diff:
            raise DataError(
                f"Cannot resume {where!r}: config key(s) {diff} differ from the config it was "
                "created with. Use the same config or write a new dataset."
            )
