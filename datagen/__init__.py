"""pdeflow.datagen: training data for neural operators from PDE solvers.

Parameter samplers -> problem families -> SKR-ordered, recycled solves on Dask -> a
resumable HDF5 file, or a live stream into training.

Entry points
------------
:func:`generate`
    Generate (or, with ``resume=True``, complete) a dataset file; ``pdeflow generate``.
:func:`stream`
    Samples straight from running solvers through a bounded FIFO or reservoir buffer.
:func:`open_dataset`
    A lazy torch ``Dataset`` over a generated file.
:mod:`families`
    The registry of problem families (``families.names()``, ``families.get(name, ...)``);
    ``pdeflow families`` lists their options.
:func:`export_dataset`, :func:`show_sample`
    A dataset as netCDF or Zarr (xarray); a PNG of one sample's fields.
:class:`FieldSpec`
    How a family declares one stored field (name, per-sample shape, role, axis names,
    description); a new family returns them from ``fields()``.

Examples
--------
>>> from pdeflow import datagen
>>> "darcy" in datagen.families.names()
True
"""

from __future__ import annotations

from pdeflow._lazy import lazy_exports

from . import families, samplers
from .families import FieldSpec

# eager: a lazy attribute named like its submodule would be replaced by the module object
# as soon as anything imports ``pdeflow.datagen.stream`` directly
from .stream import SampleStream, online_source, stream

__all__ = [
    "generate",
    "stream",
    "SampleStream",
    "online_source",
    "open_dataset",
    "families",
    "samplers",
    "FieldSpec",
    "GenerateConfig",
    "GenerateReport",
    "verify",
    "info",
    "export_dataset",
    "show_sample",
    "GenerationInterrupted",
]

# heavy modules (dask, h5py, torch) load on first use
_LAZY = {
    "generate": ".pipeline",
    "GenerateReport": ".pipeline",
    "GenerateConfig": ".config",
    "open_dataset": ".dataset",
    "verify": ".storage",
    "info": ".storage",
    "export_dataset": ".export",
    "show_sample": ".show",
    "GenerationInterrupted": ".pipeline",
}


__getattr__, __dir__ = lazy_exports(__name__, globals(), _LAZY, public=__all__)
