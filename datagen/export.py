"""Export a generated dataset to netCDF or Zarr through xarray (``pdeflow dataset export``).

The HDF5 layout (``docs/datagen_format.md``) becomes one :class:`xarray.Dataset`:

* every field is a variable with named dimensions: ``sample`` and the field's axis names
  (``("sample", "t", "x", "y")``), with the file's coordinates on them (a field whose axis
  has another size than that coordinate gets its own dimension ``<field>_<axis>``);
* per-sample parameters, solver statistics (``iterations``, ``residual``, ``solve_time``
  [s], ``method``, ``written_at``) and status (``done``, ``write_count``) are variables on
  ``sample``; fields of samples that are not done are ``nan``;
* the root attributes carry the family, its options and the generation config (JSON
  text), the layout version, the pdeflow version and git hash; each field keeps its
  ``role`` and ``description``.

Fields are read and written a block of samples at a time (dask, one thread), so the export
of a large file does not load it whole.  The output is written under a temporary name and
renamed into place: an interrupted export leaves no half-written file under ``out``.

Examples
--------
>>> import tempfile, xarray as xr
>>> from pathlib import Path
>>> from pdeflow.datagen.storage import DatasetWriter
>>> from pdeflow.datagen import families
>>> d = Path(tempfile.mkdtemp())
>>> fam = families.get("darcy", resolution=8)
>>> with DatasetWriter.create(d / "d.h5", fam, 2, config={}, seed=0) as w:
...     _ = w.write(fam.solve([0, 1]))
>>> out = export_dataset(d / "d.h5", d / "d.nc")
>>> with xr.open_dataset(out, engine="h5netcdf") as x:
...     print(x["u"].dims, x.attrs["family"], int(x["done"].sum()))
('sample', 'x', 'y') darcy 2
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any, Literal

import numpy as np

from pdeflow.errors import ConfigError

from .storage import attr_value, open_checked, read_attrs, refuse_ragged

__all__ = ["export_dataset", "to_xarray", "FORMATS"]

#: export formats and their file suffix
FORMATS = {"netcdf": ".nc", "zarr": ".zarr"}
#: samples per block read from HDF5 and written out (about 64 MiB of float32 at 64²... 1024²)
_BLOCK_BYTES = 64 * 2**20


def to_xarray(f: Any) -> Any:
    """The dataset in an open pdeflow HDF5 file as a lazy :class:`xarray.Dataset`.

    Parameters
    ----------
    f : h5py.File
        Opened with :func:`pdeflow.datagen.storage.open_checked`; it must stay open until
        the returned dataset has been computed or written.

    Returns
    -------
    xarray.Dataset
        Fields are dask arrays of shape ``(n_samples, *field shape)``; see the module
        docstring for the variables and attributes.
    """
    import dask.array as da
    import xarray as xr

    refuse_ragged(f, "exported to netCDF/Zarr")
    attrs = read_attrs(f)
    n = int(attrs["n_samples"])
    done = f["done"][...] != 0
    coords: dict[str, Any] = {"sample": ("sample", np.arange(n, dtype=np.int64))}
    sizes: dict[str, int] = {"sample": n}
    for axis, ds in f["coords"].items():
        coords[axis] = (axis, ds[...], {"long_name": f"{axis} coordinate"})
        sizes[axis] = ds.shape[0]
    data_vars: dict[str, Any] = {}
    for name, ds in f["fields"].items():
        axes = json.loads(attr_value(ds.attrs["axes"]))
        dims = ["sample"]
        for axis, size in zip(axes, ds.shape[1:], strict=True):
            dim = axis if sizes.setdefault(axis, size) == size else f"{name}_{axis}"
            sizes.setdefault(dim, size)
            dims.append(dim)
        per_sample = max(1, int(np.prod(ds.shape[1:])) * ds.dtype.itemsize)
        block = max(1, min(n, _BLOCK_BYTES // per_sample))
        lazy = da.from_array(ds, chunks=(block, *ds.shape[1:]), lock=True, asarray=True)
        mask = da.from_array(done, chunks=(block,)).reshape((n,) + (1,) * (ds.ndim - 1))
        lazy = da.where(mask, lazy, np.array(np.nan, dtype=ds.dtype))
        data_vars[name] = (dims, lazy, {
            "role": attr_value(ds.attrs.get("role", "")),
            "description": attr_value(ds.attrs.get("description", "")),
        })
    taken = set(data_vars) | set(coords)
    if "params" in f:
        for name, ds in f["params"].items():
            data_vars[_free(f"param_{name}", taken)] = ("sample", ds[...], {"long_name": name})
    stats = f["stats"]
    for name in stats:
        values = stats[name][...]
        if name == "method":
            values = np.char.decode(values, "ascii", "replace").astype(str)
        label = {"time": "solve_time"}.get(name, name)
        units = {"time": "s", "written_at": "seconds since 1970-01-01 00:00:00"}.get(name, "")
        data_vars[_free(label, taken)] = ("sample", values, {"units": units} if units else {})
    data_vars[_free("done", taken)] = ("sample", done.astype(np.int8),
                                       {"long_name": "1 once the sample is completely written"})
    data_vars[_free("write_count", taken)] = ("sample", f["write_count"][...])
    return xr.Dataset(data_vars, coords=coords, attrs=_netcdf_attrs(attrs))


def _free(name: str, taken: set[str]) -> str:
    out = name
    while out in taken:
        out = f"stat_{out}"
    taken.add(out)
    return out


def _netcdf_attrs(attrs: dict[str, Any]) -> dict[str, Any]:
    """Attributes netCDF can hold: dicts as JSON text, booleans as 0/1, None as ""."""
    out: dict[str, Any] = {}
    for key, value in attrs.items():
        if isinstance(value, dict | list):
            value = json.dumps(value, sort_keys=True)
        elif isinstance(value, bool | np.bool_):
            value = int(value)
        elif value is None:
            value = ""
        out[key] = value
    return out


def export_dataset(
    path: str | os.PathLike,
    out: str | os.PathLike | None = None,
    format: Literal["netcdf", "zarr"] = "netcdf",
    *,
    overwrite: bool = False,
) -> Path:
    """Write a generated dataset as netCDF-4 (h5netcdf) or Zarr.

    Parameters
    ----------
    path
        A pdeflow HDF5 dataset (complete or partial: see ``done`` in the output).
    out
        Target file (netCDF) or folder (Zarr); default ``path`` with the suffix ``.nc``
        or ``.zarr``.
    format
        ``"netcdf"`` or ``"zarr"``.
    overwrite
        Replace an existing ``out`` of the same format.

    Returns
    -------
    Path
        ``out``.

    Raises
    ------
    ConfigError
        Unknown format; ``out`` exists (without ``overwrite``), is the input, or is not a
        previous export of the same format.
    DataError
        ``path`` is not a readable pdeflow dataset.
    """
    import dask

    if format not in FORMATS:
        raise ConfigError(f"The 'format' of an export must be one of {sorted(FORMATS)}. "
                          f"Got {format!r}.")
    path = Path(path)
    target = Path(out) if out is not None else path.with_suffix(FORMATS[format])
    _check_target(path, target, format, overwrite)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    with open_checked(path, "r") as f:
        xds = to_xarray(f)
        try:
            with dask.config.set(scheduler="synchronous"):  # h5py reads from one thread
                if format == "netcdf":
                    xds.to_netcdf(tmp, engine="h5netcdf")
                else:
                    # Zarr format 2: consolidated metadata is in its spec, every reader has it
                    xds.to_zarr(tmp, mode="w", zarr_format=2, consolidated=True)
        except BaseException:
            _remove(tmp)
            raise
    _replace(tmp, target)
    return target


def _check_target(path: Path, target: Path, format: str, overwrite: bool) -> None:
    if target.resolve() == path.resolve():
        raise ConfigError(f"The export would overwrite its input {str(path)!r}; choose --out.")
    if not target.exists() and not target.is_symlink():
        if not target.parent.is_dir():
            raise ConfigError(f"Cannot write {str(target)!r}: folder {str(target.parent)!r} "
                              "does not exist.")
        return
    if not overwrite:
        raise ConfigError(f"{str(target)!r} exists; pass --overwrite (overwrite=True) to "
                          "replace it.")
    if not _is_export(target, format):
        raise ConfigError(f"{str(target)!r} is not a {format} export; refusing to replace it "
                          "(remove it yourself or choose another --out).")


def _is_export(target: Path, format: str) -> bool:
    """Whether ``target`` looks like what :func:`export_dataset` writes in ``format``."""
    if format == "zarr":
        return target.is_dir() and any((target / m).is_file()
                                       for m in ("zarr.json", ".zgroup", ".zmetadata"))
    if not target.is_file():
        return False
    with open(target, "rb") as fh:
        return fh.read(8) == b"\x89HDF\r\n\x1a\n"  # netCDF-4 is HDF5


def _replace(tmp: Path, target: Path) -> None:
    if tmp.is_dir() and target.exists():  # a folder cannot be os.replace'd onto a folder
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        os.replace(target, old)
        os.replace(tmp, target)
        shutil.rmtree(old)
    else:
        os.replace(tmp, target)


def _remove(p: Path) -> None:
    if p.is_dir():
        shutil.rmtree(p, ignore_errors=True)
    else:
        p.unlink(missing_ok=True)
