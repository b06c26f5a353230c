"""Settings of one data-generation run (``pdeflow generate`` and :func:`pdeflow.datagen.generate`).

Values come from defaults < ``--config gen.yaml`` < command-line flags; every field is
checked and an invalid one is reported by name, e.g.::

    config file gen.yaml: field 'n': Input should be greater than 0 (got -3)

Example ``gen.yaml``::

    family: darcy
    n: 512
    resolution: 64
    solver: skr
    workers: 2
    out: darcy.h5
    options: {alpha: 2.5}
"""

from __future__ import annotations

from os import PathLike
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from pdeflow.config import PdeflowConfig, Threads

__all__ = [
    "GenerateConfig",
    "DatasetFileConfig",
    "DatasetInfoConfig",
    "VerifyConfig",
    "RepairConfig",
    "ExportConfig",
    "ShowConfig",
    "FamiliesConfig",
]


class GenerateConfig(PdeflowConfig):
    """One generation run.  See the module docstring."""

    family: str = Field(
        description="problem family: a name (pdeflow.datagen.families.names()) or a spec, "
        "path/to/file.py:obj or package.module:obj"
    )
    n: int = Field(gt=0, description="number of samples in the dataset")
    out: str = Field(description="HDF5 file to write")
    resolution: int | None = Field(None, ge=4, description="grid points per axis (stored)")
    seed: int = Field(0, ge=0, description="dataset seed; sample i draws from (seed, i)")
    solver: Literal["auto", "skr", "skr-cg", "gmres", "cg", "direct"] = Field(
        "auto", description="linear solver strategy of the linear families"
    )
    preconditioner: str | None = Field(None, description="e.g. amg, ilu, jacobi (default: auto)")
    rtol: float = Field(1e-8, gt=0, lt=1, description="relative residual of every linear solve")
    workers: int = Field(2, ge=1, description="local worker processes")
    threads: Threads = None  # split among the workers (pdeflow.threads.threads_per_worker)
    scheduler: str | None = Field(
        None, description="address of an existing Dask scheduler (tcp://host:port)"
    )
    executor: Literal["auto", "processes", "dask"] = Field(
        "auto",
        description="Dask (a LocalCluster, or 'scheduler') or a local process pool",
    )
    chunk_size: int | None = Field(
        None,
        ge=1,
        description="largest number of samples per task (default: auto); the last tasks "
        "shrink so that the workers finish together",
    )
    order: Literal["auto", "greedy", "hilbert", "morton", "knn", "none"] = Field(
        "auto", description="SKR ordering of the samples before chunking"
    )
    resume: bool = Field(False, description="complete an existing partial file")
    overwrite: bool = Field(False, description="replace an existing file")
    dtype: Literal["float32", "float64"] = "float32"
    compression: Literal["gzip", "lzf", "none"] = Field(
        "gzip",
        description="gzip (level 1) and none are encoded on the workers; lzf by the writer",
    )
    options: dict[str, Any] = Field(
        default_factory=dict, description="family options (e.g. alpha, tau, nu)"
    )

    @field_validator("out", mode="before")
    @classmethod
    def _path(cls, value: Any) -> Any:
        return str(value) if isinstance(value, PathLike) else value

    @model_validator(mode="after")
    def _executor_matches(self) -> GenerateConfig:
        if self.executor == "processes" and self.scheduler is not None:
            raise ValueError(
                "field 'executor': 'processes' runs on this machine only; drop it (or use "
                "'dask') with a 'scheduler'"
            )
        return self

    @field_validator("scheduler")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is not None and "://" not in value:
            raise ValueError(f"expected an address like tcp://127.0.0.1:8786, got {value!r}")
        return value


class DatasetFileConfig(PdeflowConfig):
    """Settings shared by the ``pdeflow dataset ...`` commands: the dataset file."""

    path: str = Field(description="dataset file (HDF5)")

    @field_validator("path", mode="before")
    @classmethod
    def _path(cls, value: Any) -> Any:
        return str(value) if isinstance(value, PathLike) else value


class DatasetInfoConfig(DatasetFileConfig):
    """Settings of ``pdeflow dataset info``."""

    as_json: bool = Field(False, description="print JSON")
    quick: bool = Field(False, description="read metadata only; skip the damaged-sample scan")


class VerifyConfig(DatasetFileConfig):
    """Settings of ``pdeflow dataset verify``."""

    checksums: bool = Field(True, description="check the per-sample checksums")


class RepairConfig(DatasetFileConfig):
    """Settings of ``pdeflow dataset repair``."""


class ExportConfig(DatasetFileConfig):
    """Settings of ``pdeflow dataset export``."""

    format: Literal["netcdf", "zarr"] = Field("netcdf", description="netcdf (h5netcdf) or zarr")
    out: str | None = Field(
        None, description="output file (netcdf) or folder (zarr); default: FILE with .nc/.zarr"
    )
    overwrite: bool = Field(False, description="replace an earlier export at 'out'")


class ShowConfig(DatasetFileConfig):
    """Settings of ``pdeflow dataset show``."""

    sample: int = Field(0, ge=0, description="sample index")
    out: str | None = Field(None, description="PNG to write (default: FILE-sample<i>.png)")


class FamiliesConfig(PdeflowConfig):
    """Settings of ``pdeflow families``."""

    names: list[str] | None = Field(
        None, description="families by name or spec (file.py:obj, package.module:obj); all"
    )
    as_json: bool = Field(False, description="print JSON")
