"""HDF5 storage of generated datasets: layout version 2 (version 1 still read), a resumable
writer, worker-side encoding, verify and info.

One process writes (:class:`DatasetWriter`); workers only compute :class:`ChunkResult` s
and encode them (:func:`encode_chunk`).  One job per module:

* :mod:`.layout` -- the layout (documented there), opening, creating, the field table;
* :mod:`.encoding` -- worker-side casting, checksums and compression;
* :mod:`.writer` -- :class:`DatasetWriter` and its ``kill -9``-safe write protocol;
* :mod:`.verify` -- :func:`verify`, :func:`damaged_samples`, checksum and offset scans;
* :mod:`.info` -- :func:`info` and :func:`format_info` (``pdeflow dataset info``).

Fields declare a dtype (float32, float64, or int32/int64 stored exactly) and may be
ragged (a per-sample leading length: concatenated rows plus per-sample offsets); a mesh
shared by every sample lives in ``/mesh``; every sample keeps its status (code, converged
flag, message) and the family's own statistics.

Examples
--------
>>> import tempfile, pathlib
>>> from pdeflow.datagen import families, storage
>>> fam = families.get("darcy", resolution=8)
>>> path = pathlib.Path(tempfile.mkdtemp()) / "d.h5"
>>> with storage.DatasetWriter.create(path, fam, 4, config={}, seed=0) as w:
...     n_written = w.write(fam.solve(range(4)))
...     w.finish()
>>> storage.verify(path).ok
True
"""

from __future__ import annotations

from .encoding import WORKER_COMPRESSIONS, encode_chunk, field_encodings
from .info import format_info, info
from .layout import (
    DTYPES,
    FORMAT,
    LAYOUT_VERSION,
    READABLE_VERSIONS,
    SOLVE_RECORDS,
    StoredField,
    attr_value,
    check_replaceable,
    compact_ranges,
    git_hash,
    index_runs,
    make_parent_folders,
    open_checked,
    read_attrs,
    refuse_ragged,
    split_runs,
    stored_fields,
)
from .verify import (
    FieldScan,
    VerifyReport,
    check_offsets,
    damaged_samples,
    scan_field,
    scan_ragged,
    verify,
)
from .writer import DatasetExistsError, DatasetWriter

__all__ = [
    "LAYOUT_VERSION",
    "READABLE_VERSIONS",
    "FORMAT",
    "DTYPES",
    "SOLVE_RECORDS",
    "DatasetExistsError",
    "DatasetWriter",
    "VerifyReport",
    "FieldScan",
    "StoredField",
    "verify",
    "info",
    "format_info",
    "compact_ranges",
    "open_checked",
    "read_attrs",
    "attr_value",
    "stored_fields",
    "refuse_ragged",
    "split_runs",
    "index_runs",
    "git_hash",
    "make_parent_folders",
    "check_replaceable",
    "damaged_samples",
    "scan_field",
    "scan_ragged",
    "check_offsets",
    "encode_chunk",
    "field_encodings",
    "WORKER_COMPRESSIONS",
]
