"""``pdeflow dataset info``: a summary of a dataset file, as a dict and as text."""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from pdeflow.errors import DataError

from .layout import (
    StoredField,
    attr_value,
    compact_ranges,
    open_checked,
    read_attrs,
    stored_fields,
)
from .verify import scan_field, scan_ragged

__all__ = ["info", "format_info"]

_BASE_STATS = ("iterations", "residual", "time", "method", "written_at")


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
        ``config``).  Layout v2 adds ``status_summary`` (``counts`` by status name,
        ``converged``, ``not_converged`` indices, distinct failure ``messages``; None for
        v1), ``extra_stats`` (name -> ``mean``, ``min``, ``max``), ``mesh`` (None without
        a shared mesh) and, per ragged field, ``rows_total``, ``length_min`` and
        ``length_max`` (its shape reads ``(n, None, *row shape)``).
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
            d["damaged"] = _damaged(f)
            if d["damaged"]:
                d["status"] = "damaged"
    return d


def _info_open(f: h5py.File, path: Path) -> dict[str, Any]:
    attrs = read_attrs(f)
    done = f["done"][...] != 0
    fields = {name: _field_info(f, s, done) for name, s in stored_fields(f).items()}
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
        "status_summary": _status_info(f, done),
        "extra_stats": _extra_stats(f, done),
        "mesh": _mesh_info(f),
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
        shape = str(tuple(fd["shape"])).replace("None", "n_i")
        line = f"{label:<10} {name:<8} {fd['role']:<7} {shape} {fd['dtype']} ({axes})"
        if fd.get("ragged") and fd["length_min"] is not None:
            line += f"; per-sample length {fd['length_min']}-{fd['length_max']}"
        lines.append(line)
    if d.get("mesh"):
        m = d["mesh"]
        lines.append(
            f"mesh       {m['n_points']} points, {m['n_cells']} {m['cell_type']} cells "
            f"(shared by every sample)"
        )
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
    lines.extend(_status_lines(d))
    git = prov["git_hash"][:12] if prov["git_hash"] else "no git checkout"
    lines.append(
        f"created    {prov['created']} by pdeflow {prov['pdeflow_version']} ({git}), "
        f"layout v{prov['format_version']}, seed {prov['seed']}"
    )
    return "\n".join(lines)


def _damaged(f: h5py.File) -> list[int]:
    done = f["done"][...] != 0
    bad: set[int] = set()
    for name, ds in f["fields"].items():
        scan = scan_field(ds, f["checksums"][name][...], done)
        bad.update(scan.unreadable)
        bad.update(scan.mismatch)
    for name, g in (f["ragged"].items() if "ragged" in f else ()):
        scan = scan_ragged(g, f["checksums"][name][...], done)
        bad.update(scan.unreadable + scan.mismatch + scan.bad_offsets)
    return sorted(bad)


def _field_info(f: h5py.File, s: StoredField, done: np.ndarray) -> dict[str, Any]:
    n = int(f.attrs["n_samples"])
    out: dict[str, Any] = {
        "shape": (n, None, *s.row_shape) if s.ragged else (n, *s.row_shape),
        "dtype": s.dtype,
        "role": s.role,
        "axes": s.axes,
    }
    if s.ragged:
        out["ragged"] = True
        off = f["ragged"][s.name]["offsets"][...][done]
        lengths = off[:, 1] - off[:, 0]
        out.update(
            rows_total=int(lengths.sum()),
            length_min=int(lengths.min()) if lengths.size else None,
            length_max=int(lengths.max()) if lengths.size else None,
        )
    return out


def _status_info(f: h5py.File, done: np.ndarray) -> dict[str, Any] | None:
    """Counts of the done samples by status, and the not-converged ones (v2 files)."""
    if "status" not in f:
        return None
    g = f["status"]
    codes = {int(k): v for k, v in json.loads(attr_value(g.attrs.get("codes", "{}"))).items()}
    code = g["code"][...][done]
    conv = g["converged"][...] != 0
    counts = {}
    for c, k in zip(*np.unique(code, return_counts=True), strict=True):
        counts[codes.get(int(c), f"code {int(c)}")] = int(k)
    failed = np.flatnonzero(done & ~conv)
    messages = sorted({m.decode("ascii", "replace") for m in g["message"][...][failed]} - {""})
    return {
        "counts": counts,
        "converged": int((done & conv).sum()),
        "not_converged": failed.tolist(),
        "messages": messages,
    }


def _extra_stats(f: h5py.File, done: np.ndarray) -> dict[str, dict[str, float | None]]:
    """Mean, min and max over the done samples of each extra statistic."""
    out: dict[str, dict[str, float | None]] = {}
    for name, ds in f["stats"].items():
        if name in _BASE_STATS:
            continue
        v = ds[...][done]
        v = v[np.isfinite(v)]
        out[name] = {
            "mean": float(v.mean()) if v.size else None,
            "min": float(v.min()) if v.size else None,
            "max": float(v.max()) if v.size else None,
        }
    return out


def _mesh_info(f: h5py.File) -> dict[str, Any] | None:
    if "mesh" not in f:
        return None
    g = f["mesh"]
    return {
        "n_points": int(g["points"].shape[0]),
        "dim": int(g["points"].shape[1]),
        "n_cells": int(g["cells"].shape[0]),
        "cell_type": attr_value(g.attrs.get("cell_type", "")),
        "boundary_tags": "boundary_tags" in g,
    }


def _status_lines(d: dict[str, Any]) -> list[str]:
    lines = []
    st = d.get("status_summary")
    if st is not None:
        counts = ", ".join(f"{k} {v}" for k, v in st["counts"].items()) or "-"
        failed = st["not_converged"]
        line = f"status     {st['converged']} converged, {len(failed)} not converged ({counts})"
        if failed:
            line += f"; not converged: {compact_ranges(failed)}"
        lines.append(line)
        lines.extend(f"           reason: {m}" for m in st["messages"][:5])
    for name, s in d.get("extra_stats", {}).items():
        if s["mean"] is None:
            lines.append(f"stat       {name}: no finite value")
        else:
            lines.append(
                f"stat       {name}: mean {s['mean']:.4g}, min {s['min']:.4g}, "
                f"max {s['max']:.4g}"
            )
    return lines
