"""Checking a dataset file: completeness, write counts, checksums and ragged offsets.

:func:`verify` reports problems (never raises); :func:`damaged_samples` lists the done
samples whose stored bytes are damaged, which ``pdeflow dataset repair`` regenerates.
"""

from __future__ import annotations

import math
import os
import zlib
from dataclasses import dataclass, field

import h5py
import numpy as np

from pdeflow.errors import DataError

from ..families._base import STAT_NAMES
from .layout import attr_value, compact_ranges, open_checked, split_runs

__all__ = [
    "VerifyReport",
    "verify",
    "damaged_samples",
    "FieldScan",
    "scan_field",
    "scan_ragged",
    "check_offsets",
]

# verify reads fields in blocks of at most this many bytes
_VERIFY_BLOCK_BYTES = 64 * 2**20


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
        checksum mismatches, ragged offsets that disagree with the data, samples written
        more than once, unreadable parts).
    damaged : list of int
        Done samples whose stored bytes are damaged: a field of the sample cannot be read,
        does not match its CRC-32, or (ragged) its offsets point outside its data.
        ``pdeflow dataset repair`` regenerates exactly these.
    not_converged : list of int
        Done samples marked not converged by their solver (stored, counted; not a
        problem of the file).
    """

    ok: bool
    n_samples: int
    n_done: int
    problems: list[str] = field(default_factory=list)
    damaged: list[int] = field(default_factory=list)
    not_converged: list[int] = field(default_factory=list)

    def __str__(self) -> str:
        head = f"{'ok' if self.ok else 'NOT ok'}: {self.n_done}/{self.n_samples} samples done"
        lines = [head, *(f"  - {p}" for p in self.problems)]
        if self.not_converged:
            lines.append(
                f"  note: {len(self.not_converged)} sample(s) marked not converged: "
                f"{compact_ranges(self.not_converged)} (see `pdeflow dataset info`)"
            )
        return "\n".join(lines)


def verify(path: str | os.PathLike, *, check_checksums: bool = True) -> VerifyReport:
    """Check a dataset file (layout v1 or v2); problems are reported, never raised.

    Checks the format attributes and layout, lists the samples not done, the done samples
    written more than once, with non-finite values, whose ragged offsets disagree with the
    data, or (``check_checksums``) whose stored bytes do not match their CRC-32; an
    unreadable or truncated file is a problem.  A block of samples that fails to read is
    read again sample by sample, so only the samples whose own chunk is damaged are
    reported (``damaged``), never their neighbours.

    Returns
    -------
    VerifyReport
    """
    try:
        f = open_checked(path, "r")
    except DataError as exc:
        return VerifyReport(False, 0, 0, [str(exc)])
    problems: list[str] = []
    damaged: set[int] = set()
    failed: list[int] = []
    n, n_done = 0, 0
    with f:
        try:
            n = int(f.attrs["n_samples"])
            n_done = _verify_open(f, n, problems, check_checksums, damaged)
            if "status" in f and n_done:
                done = f["done"][...] != 0
                failed = np.flatnonzero(done & (f["status/converged"][...] == 0)).tolist()
        except (OSError, KeyError, ValueError, TypeError, RuntimeError) as exc:
            problems.append(f"unreadable: {type(exc).__name__}: {exc}")
    return VerifyReport(not problems, n, n_done, problems, sorted(damaged), failed)


def damaged_samples(path: str | os.PathLike) -> np.ndarray:
    """Indices of the done samples of ``path`` whose stored field bytes are damaged.

    A sample is damaged when one of its fields cannot be read (its HDF5 chunk fails to
    decode), does not match the CRC-32 stored when it was written, or (ragged) has offsets
    outside its data.  Reads every field once.

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
    elif attr_value(f.attrs.get("status")) != "complete":
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
    for name, g in (f["ragged"].items() if "ragged" in f else ()):
        if g["offsets"].shape != (n, 2) or name not in f["checksums"]:
            problems.append(f"ragged field {name!r}: its offsets or checksums are not ({n},)")
            continue
        scan = scan_ragged(g, f["checksums"][name][...], done, check_checksums)
        problems.extend(scan.problems(name))
        damaged.update(scan.unreadable)
        damaged.update(scan.mismatch)
        damaged.update(scan.bad_offsets)
    return n_done


@dataclass
class FieldScan:
    """Per-sample findings of :func:`scan_field` (ascending sample indices)."""

    unreadable: list[int] = field(default_factory=list)
    nonfinite: list[int] = field(default_factory=list)
    mismatch: list[int] = field(default_factory=list)
    bad_offsets: list[int] = field(default_factory=list)

    def problems(self, name: str) -> list[str]:
        """One line per kind of finding, for :class:`VerifyReport`."""
        out = []
        if self.bad_offsets:
            out.append(
                f"ragged field {name!r}: offsets of {len(self.bad_offsets)} sample(s) "
                f"disagree with its data: {compact_ranges(self.bad_offsets)}"
            )
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
    """Read every done sample of fixed-shape field ``ds`` once and classify the bad ones.

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

    Returns
    -------
    FieldScan
    """
    sample_bytes = max(1, math.prod(ds.shape[1:]) * ds.dtype.itemsize)
    block = max(1, _VERIFY_BLOCK_BYTES // sample_bytes)
    scan = FieldScan()
    for run in split_runs(np.flatnonzero(done)):
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
    if data.dtype.kind == "f":
        finite = np.isfinite(data.reshape(stop - start, -1)).all(axis=1)
        scan.nonfinite.extend(int(i) for i in start + np.flatnonzero(~finite))
    if check:
        crc = np.array([zlib.crc32(row) for row in data], dtype=np.uint32)
        scan.mismatch.extend(int(i) for i in start + np.flatnonzero(crc != checksums[start:stop]))


def check_offsets(
    offsets: np.ndarray, done: np.ndarray, n_rows: int, chunk_rows: int
) -> np.ndarray:
    """Done samples whose ragged offsets disagree with the data they index.

    A sample's ``[start, stop)`` must lie within the ``n_rows`` rows of the data, start on
    a chunk boundary (a multiple of ``chunk_rows``) and overlap no other done sample.

    Parameters
    ----------
    offsets : ndarray of int64, shape (n, 2)
    done : ndarray of bool, shape (n,)
    n_rows : int
        Rows of the data array.
    chunk_rows : int

    Returns
    -------
    ndarray of int64
        Ascending sample indices (empty when every done sample's offsets are consistent).

    Examples
    --------
    >>> off = np.array([[0, 3], [4, 9], [4, 5]])
    >>> check_offsets(off, np.array([True, True, True]), 8, 4).tolist()
    [1, 2]
    """
    idx = np.flatnonzero(done)
    start, stop = offsets[idx, 0], offsets[idx, 1]
    bad = (start < 0) | (stop < start) | (stop > n_rows) | (start % max(chunk_rows, 1) != 0)
    order = np.argsort(start, kind="stable")
    s, e = start[order], stop[order]
    overlap = np.zeros(idx.size, dtype=bool)
    if idx.size > 1:
        hit = s[1:] < e[:-1]
        overlap[order[1:][hit]] = True
        overlap[order[:-1][hit]] = True
    return idx[bad | overlap].astype(np.int64)


def scan_ragged(
    g: h5py.Group, checksums: np.ndarray, done: np.ndarray, check_checksums: bool = True
) -> FieldScan:
    """Check every done sample of the ragged field group ``g``: offsets, readability,
    finiteness and (``check_checksums``) CRC-32 of its rows.

    Returns
    -------
    FieldScan
        ``bad_offsets`` lists samples whose offsets disagree with the data.
    """
    data, offsets = g["data"], g["offsets"][...]
    scan = FieldScan()
    scan.bad_offsets = check_offsets(
        offsets, done, data.shape[0], int(attr_value(g.attrs["chunk_rows"]))
    ).tolist()
    skip = set(scan.bad_offsets)
    for i in np.flatnonzero(done).tolist():
        if i in skip:
            continue
        a, b = int(offsets[i, 0]), int(offsets[i, 1])
        try:
            rows = np.ascontiguousarray(data[a:b])
        except (OSError, ValueError, RuntimeError):
            scan.unreadable.append(i)
            continue
        if rows.dtype.kind == "f" and not np.isfinite(rows).all():
            scan.nonfinite.append(i)
        if check_checksums and zlib.crc32(rows) != int(checksums[i]):
            scan.mismatch.append(i)
    return scan
