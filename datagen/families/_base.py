"""The contract every problem family follows (one module per family in this package).

A family is a frozen dataclass: its fields are its options (``resolution``, ``seed``, PDE
constants), validated in ``__post_init__`` with :class:`~pdeflow.errors.ConfigError`
messages that name the option.  It declares

* :meth:`Family.fields` -- the stored fields, inputs and outputs, with per-sample shapes;
* :meth:`Family.coords` -- the grid (and time) coordinates, stored once per dataset;
* :meth:`Family.sample` -- the random inputs of sample ``i``, reproducible from
  ``(seed, i)`` alone, so any worker can draw any sample in any order;
* :meth:`Family.solve` -- solve a chunk of samples and return a :class:`ChunkResult`.

Linear families (``linear = True``) solve a chunk as one sequence through
:func:`pdeflow.solvers.solve_sequence` (SKR: order, then recycle inside the chunk); they
implement :meth:`LinearFamily.assemble` and :meth:`LinearFamily.outputs` only.  Other
families solve sample by sample (:meth:`PointwiseFamily.solve_one`).
"""

from __future__ import annotations

import abc
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Literal

import numpy as np

from pdeflow.errors import ConfigError, DataError
from pdeflow.status import Status

__all__ = [
    "FieldSpec",
    "FIELD_DTYPES",
    "SampleStatus",
    "SampleReport",
    "SharedMesh",
    "check_field_values",
    "SolverSettings",
    "ChunkResult",
    "Family",
    "LinearFamily",
    "PointwiseFamily",
    "STAT_NAMES",
    "channel_layout",
]

#: Per-sample solver statistics every :class:`ChunkResult` carries (float64 arrays).
STAT_NAMES = ("iterations", "residual", "time")
#: Storage types a field may declare: floats, and integers stored exactly.
FIELD_DTYPES = ("float32", "float64", "int32", "int64")


class SampleStatus(Status):
    """Generic per-sample status codes of the families solved sample by sample.

    Extends the shared :class:`pdeflow.status.Status` (positive codes converged, negative
    failed, each with a message). A family may declare more codes
    (:meth:`Family.status_codes`); the stored ``converged`` flag decides whether a sample
    is good.

    Examples
    --------
    >>> SampleStatus.NONFINITE.name.lower(), SampleStatus.NONFINITE.converged
    ('nonfinite', False)
    """

    OK = 1, "solved"
    NOT_CONVERGED = -1, "the solver did not converge: see the sample's message"
    NONFINITE = -2, "NaN or Inf in the solution: reduce the time step or check the inputs"
    FAILED = -3, "the solver raised an error: see the sample's message"


@dataclass(frozen=True)
class SampleReport:
    """How one sample was solved: what :meth:`PointwiseFamily.solve_one` returns.

    Attributes
    ----------
    iterations : int
        Solver iterations (time steps for time steppers).
    residual : float
        Final relative residual (``nan`` where none applies).
    converged : bool
        False marks the sample as not good (it is stored, flagged and counted).
    code : int
        A status code of :meth:`Family.status_codes` (``SampleStatus.OK``, 1, by default;
        a report that did not converge and gives that code gets
        ``SampleStatus.NOT_CONVERGED``).
    message : str
        Why the sample failed, and what to try (empty when it converged).
    stats : mapping of str to float
        Values of the family's extra statistics (:meth:`Family.extra_stats`).

    Examples
    --------
    >>> SampleReport(iterations=12, stats={"energy_drift": 1e-6}).converged
    True
    """

    iterations: int = 0
    residual: float = math.nan
    converged: bool = True
    code: int = 1
    message: str = ""
    stats: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.converged and self.code == int(SampleStatus.OK):  # a failure never reads "ok"
            object.__setattr__(self, "code", int(SampleStatus.NOT_CONVERGED))

    @classmethod
    def coerce(cls, value: Any, family: str, extra: Sequence[str] = ()) -> SampleReport:
        """``value`` as a report: a :class:`SampleReport`, or a mapping of its fields (and
        of the ``extra`` statistics) with ``iterations`` given.

        Raises
        ------
        ConfigError
            An unknown key or a missing ``iterations`` (one line naming the family).
        """
        if isinstance(value, SampleReport):
            return value
        if not isinstance(value, Mapping):
            raise ConfigError(
                f"family {family!r}: solve_one must return (outputs, SampleReport). "
                f"Got {type(value).__name__}."
            )
        known = {"iterations", "residual", "converged", "code", "message"}
        unknown = sorted(set(value) - known - set(extra))
        if unknown or "iterations" not in value:
            what = f"unknown key(s) {unknown}" if unknown else "no 'iterations'"
            raise ConfigError(
                f"family {family!r}: the report of solve_one has {what}; return a "
                f"SampleReport (declare extra statistics in extra_stats())."
            )
        stats = {k: float(value[k]) for k in extra if k in value}
        return cls(**{k: value[k] for k in known if k in value}, stats=stats)


@dataclass(frozen=True)
class SharedMesh:
    """A mesh shared by every sample of a dataset (stored once, in ``/mesh``).

    Attributes
    ----------
    points : ndarray of float64, shape (n_points, dim)
    cells : ndarray of int64, shape (n_cells, nodes per cell)
    cell_type : str
        meshio's name of the cell type (``"triangle"``, ``"tetra"``, ...).
    boundary_tags : ndarray of int32, shape (n_points,), optional
        A tag per point (0: interior).

    Examples
    --------
    >>> m = SharedMesh(np.zeros((3, 2)), np.array([[0, 1, 2]]), "triangle")
    >>> m.cells.dtype
    dtype('int64')
    """

    points: np.ndarray
    cells: np.ndarray
    cell_type: str
    boundary_tags: np.ndarray | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "points", np.asarray(self.points, dtype=np.float64))
        cells = np.asarray(self.cells)
        if cells.ndim != 2 or (cells.size and cells.dtype.kind not in "iu"):
            raise ConfigError(
                f"SharedMesh: 'cells' must be a 2-D integer array. Got {cells.dtype} "
                f"of shape {cells.shape}."
            )
        object.__setattr__(self, "cells", cells.astype(np.int64))
        if self.points.ndim != 2:
            raise ConfigError(f"SharedMesh: 'points' must be 2-D. Got {self.points.shape}.")
        if self.boundary_tags is not None:
            tags = np.asarray(self.boundary_tags, dtype=np.int32)
            if tags.shape != (self.points.shape[0],):
                raise ConfigError(
                    f"SharedMesh: 'boundary_tags' must have shape ({self.points.shape[0]},). "
                    f"Got {tags.shape}."
                )
            object.__setattr__(self, "boundary_tags", tags)


@dataclass(frozen=True)
class FieldSpec:
    """One stored field.

    Attributes
    ----------
    name : str
        Dataset name (``"a"``, ``"u"``, ...): a plain identifier.
    shape : tuple of int
        Shape of one sample (``(s, s)`` for a 2-D field, ``(nt, s)`` for a 1-D trajectory).
    role : {"input", "output"}
    axes : tuple of str
        Name of each axis of ``shape``; each names a coordinate of :meth:`Family.coords`
        (``("x", "y")``, ``("t", "x")``).
    description : str
        Physical meaning and units.
    dtype : {"float32", "float64", "int32", "int64"} or None
        Storage type; None: the dataset's float dtype.  Integer fields are stored exactly,
        and a family that yields floats for one is refused (:class:`DataError`).
    ragged : bool
        Each sample has its own leading length (a point count, a cell count): ``shape``
        starts with ``None`` (``(None, 3)``: ``(n_i, 3)`` per sample).  Stored as one
        concatenated array plus per-sample offsets.

    Examples
    --------
    >>> pos = FieldSpec("pos", (None, 3), "input", ("point", "dim"), dtype="float32",
    ...                 ragged=True)
    >>> pos.row_shape, pos.ragged
    ((3,), True)
    """

    name: str
    shape: tuple[int | None, ...]
    role: Literal["input", "output"]
    axes: tuple[str, ...]
    description: str = ""
    dtype: str | None = None
    ragged: bool = False

    def __post_init__(self) -> None:
        if len(self.axes) != len(self.shape):
            raise ConfigError(
                f"FieldSpec {self.name!r}: {len(self.axes)} axis names for shape {self.shape}"
            )
        if self.dtype is not None and self.dtype not in FIELD_DTYPES:
            raise ConfigError(
                f"FieldSpec {self.name!r}: 'dtype' must be one of {FIELD_DTYPES} or None. "
                f"Got {self.dtype!r}."
            )
        leading_none = bool(self.shape) and self.shape[0] is None
        if self.ragged != leading_none or any(d is None for d in self.shape[1:]):
            raise ConfigError(
                f"FieldSpec {self.name!r}: a ragged field has shape (None, *row shape) and "
                f"ragged=True; no other entry may be None. Got shape {self.shape}, "
                f"ragged={self.ragged}."
            )

    @property
    def row_shape(self) -> tuple[int, ...]:
        """Shape of one row of a ragged field (of the whole sample otherwise)."""
        return tuple(self.shape[1:]) if self.ragged else tuple(self.shape)  # type: ignore

    @property
    def is_integer(self) -> bool:
        """True for int32/int64 fields (stored exactly)."""
        return self.dtype in ("int32", "int64")

    @property
    def channel_layout(self) -> tuple[int, tuple[int, ...]]:
        """``(channels, spatial shape)`` of this field as an operator input/output."""
        if self.ragged:
            raise DataError(
                f"field {self.name!r} is ragged (a per-sample length): it has no channel "
                "layout; read it per sample or as graphs"
            )
        return channel_layout(self.shape, self.axes)  # type: ignore[arg-type]


def check_field_values(spec: FieldSpec, values: Any, family: str = "") -> np.ndarray:
    """One sample's values of field ``spec``, checked against its dtype and shape.

    Integer fields must come as integers in the range of the declared type (never floats);
    float fields accept any real numbers.  A ragged field has shape ``(n_i, *row shape)``.

    Returns
    -------
    ndarray
        ``values`` as an array (integers cast exactly to the declared type).

    Raises
    ------
    DataError
        One line naming the family, the field, the declared and the given type or shape.

    Examples
    --------
    >>> spec = FieldSpec("types", (None,), "input", ("point",), dtype="int32", ragged=True)
    >>> check_field_values(spec, np.array([1, 2, 3])).dtype
    dtype('int32')
    """
    a = np.asarray(values)
    who = f"family {family!r}: " if family else ""
    if spec.is_integer:
        if a.size and a.dtype.kind not in "iu" and a.dtype != bool:
            raise DataError(
                f"{who}field {spec.name!r} is declared {spec.dtype} but the family yielded "
                f"{a.dtype} values; yield integers (integer fields are stored exactly)"
            )
        info = np.iinfo(spec.dtype)
        if a.size and (a.min() < info.min or a.max() > info.max):
            raise DataError(
                f"{who}field {spec.name!r}: values in [{a.min()}, {a.max()}] do not fit "
                f"{spec.dtype}"
            )
        a = a.astype(spec.dtype, copy=False)
    elif a.dtype.kind not in "fiub":
        raise DataError(f"{who}field {spec.name!r}: values of type {a.dtype} are not real numbers")
    ok = (
        a.ndim == len(spec.shape) and a.shape[1:] == spec.row_shape
        if spec.ragged
        else a.shape == spec.shape
    )
    if not ok:
        raise DataError(
            f"{who}field {spec.name!r} has per-sample shape {a.shape}, declared {spec.shape}"
        )
    return a


def channel_layout(shape: tuple[int, ...], axes: tuple[str, ...]) -> tuple[int, tuple[int, ...]]:
    """How a field becomes channels: a leading time axis ``"t"`` or component axis ``"c"``
    (with spatial axes after it) contributes one channel per entry; any other field is one
    channel.

    Returns
    -------
    (int, tuple of int)
        Number of channels and the spatial shape.
    """
    shape = tuple(shape)
    if len(shape) > 1 and axes and axes[0] in ("t", "c"):
        return shape[0], shape[1:]
    return 1, shape


@dataclass(frozen=True)
class SolverSettings:
    """How linear families solve their chunk (see :func:`pdeflow.solvers.solve_sequence`).

    ``method="skr"`` is GCRO-DR with recycling inside a chunk; ``"auto"`` times the
    candidates on the first systems of each chunk and keeps the fastest.  Families that
    do not solve linear systems (explicit or spectral time stepping) ignore these settings.

    ``pc_refresh`` (systems per full preconditioner set-up; in between, AMG recomputes its
    Galerkin operators for each new matrix) defaults to 64, so a chunk of sorted samples
    pays one AMG set-up: measured on darcy 128², AMG-CG 26.8 ms per sample against 36.3 ms
    with a set-up every 8 systems, at the same 9 iterations (darcy-fno, poisson, helmholtz:
    iterations unchanged as well).
    """

    method: str = "auto"
    preconditioner: Any = None
    pc_refresh: int = 64
    warm_start: bool | None = None
    rtol: float = 1e-8
    restart: int = 40
    k: int | None = None  # recycled vectors; None: solve_sequence's default for the method
    max_iter: int = 10_000
    order: str | None = None  # order inside a chunk; None: solve_sequence's default

    def to_record(self) -> str:
        """These settings as compact JSON (fields that differ from their defaults; a
        preconditioner spec as ``{"name": ..., its fields}``), for :meth:`from_record`.

        Examples
        --------
        >>> SolverSettings(method="skr", preconditioner="ilu").to_record()
        '{"method":"skr","preconditioner":"ilu"}'
        """
        import json
        from dataclasses import asdict, fields, is_dataclass

        record: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value == f.default:
                continue
            if is_dataclass(value) and not isinstance(value, type):
                value = {"name": type(value).name, **asdict(value)}
            record[f.name] = value
        return json.dumps(record, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_record(cls, text: str) -> SolverSettings:
        """The settings :meth:`to_record` wrote (``ConfigError`` if ``text`` is not such a
        record)."""
        import json

        from pdeflow.solvers.preconditioners import make_preconditioner

        try:
            record = json.loads(text)
            pc = record.get("preconditioner")
            if isinstance(pc, dict):
                spec = dict(pc)
                record["preconditioner"] = replace(make_preconditioner(spec.pop("name")), **spec)
            return cls(**record)
        except (ValueError, TypeError, AttributeError) as exc:
            raise ConfigError(f"Not a solver settings record: {text!r} ({exc}).") from None

    def __post_init__(self) -> None:
        methods = ("auto", "skr", "skr-cg", "gmres", "cg", "direct")
        if self.method not in methods:
            raise ConfigError(f"solver: 'method' must be one of {methods}. Got {self.method!r}.")
        if not 0 < self.rtol < 1:
            raise ConfigError(f"solver: 'rtol' must be in (0, 1). Got {self.rtol!r}.")


@dataclass
class ChunkResult:
    """The solved samples of one chunk, in the order of ``indices``.

    Attributes
    ----------
    indices : ndarray of int64, shape (m,)
        Global sample indices.
    fields : dict of str to ndarray, shape (m, *FieldSpec.shape)
        Every field of :meth:`Family.fields`, inputs included.
    params : dict of str to ndarray, shape (m,)
        Per-sample scalar parameters (may be empty).
    stats : dict of str to ndarray, shape (m,)
        At least :data:`STAT_NAMES`: solver iterations (time steps for time steppers),
        final relative residual (``nan`` where none applies) and seconds.
    method : str
        The solver that ran (for ``"auto"``: the one it picked).
    resolved : SolverSettings or None
        For linear families: the settings that ran, with the method and preconditioner
        that ``"auto"`` picked, so that later chunks can skip the trial.
    encoded, filter_masks, encoding, checksums
        Set by :func:`pdeflow.datagen.storage.encode_chunk` on a worker: every field as
        one stored HDF5 chunk per sample (cast to the file's dtype and compressed), HDF5's
        filter mask of each (nonzero: the filter was skipped, the bytes are raw), the
        ``(dtype, compression)`` it was encoded for, and the CRC-32 of each sample's
        uncompressed bytes; ``fields`` is then emptied.  The writer stores such chunks
        as they are, so the single writing process does no compression.
    replay : SolverSettings or None
        For linear families: the explicit settings that solve these ``indices`` (in this
        order) again bit for bit, without an ``"auto"`` trial: ``resolved``, with the
        ordering that ran (stored per sample as ``stats/solver``).
    solve_chunk, solve_pos : ndarray of int64, shape (m,), or None
        The solve-order record the writer stores (``stats/chunk``, ``stats/chunk_pos``);
        None: this chunk's (its smallest index, and each sample's position in
        ``indices``).  A repair that solves some samples again alone passes the recorded
        values.
    status : ndarray of int32, shape (m,), or None
        Status code of each sample (:meth:`Family.status_codes`); None: all ``SampleStatus.OK`` (1).
    converged : ndarray of bool, shape (m,), or None
        False marks a sample that did not converge (stored and counted); None: all True.
    messages : list of str, or None
        Why each sample failed ("" where it converged); None: all "".

    Shapes
    ------
    A ragged field (:attr:`FieldSpec.ragged`) is a list of ``m`` arrays of shape
    ``(n_i, *row shape)`` instead of one stacked array.
    """

    indices: np.ndarray
    fields: dict[str, np.ndarray]
    params: dict[str, np.ndarray] = field(default_factory=dict)
    stats: dict[str, np.ndarray] = field(default_factory=dict)
    method: str = ""
    resolved: SolverSettings | None = None
    encoded: dict[str, list[bytes]] | None = None
    filter_masks: dict[str, list[int]] | None = None
    encoding: tuple[str, str | None] | None = None
    checksums: dict[str, np.ndarray] | None = None
    replay: SolverSettings | None = None
    solve_chunk: np.ndarray | None = None
    solve_pos: np.ndarray | None = None
    status: np.ndarray | None = None
    converged: np.ndarray | None = None
    messages: list[str] | None = None

    def __len__(self) -> int:
        return len(self.indices)


class Family(abc.ABC):
    """A parametrized PDE that produces (input, output) samples.  See the module docstring."""

    name: ClassVar[str]
    linear: ClassVar[bool] = False
    resolution: int
    seed: int

    # ------------------------------------------------------------------ declaration
    @abc.abstractmethod
    def fields(self) -> dict[str, FieldSpec]:
        """Stored fields by name (inputs first)."""

    @abc.abstractmethod
    def coords(self) -> dict[str, np.ndarray]:
        """Coordinates by axis name, e.g. ``{"x": (s,), "y": (s,)}`` (float64)."""

    @property
    def inputs(self) -> list[str]:
        return [n for n, f in self.fields().items() if f.role == "input"]

    @property
    def outputs(self) -> list[str]:
        return [n for n, f in self.fields().items() if f.role == "output"]

    def param_names(self) -> tuple[str, ...]:
        """Names of per-sample scalar parameters (default: none)."""
        return ()

    def extra_stats(self) -> dict[str, str]:
        """Per-sample statistics beyond :data:`STAT_NAMES` (name -> meaning and unit),
        stored as float64 in ``/stats`` and summarized by ``dataset info`` (default: none).
        """
        return {}

    def status_codes(self) -> dict[int, str]:
        """Names of the status codes this family's samples may carry (stored with the
        dataset, printed by ``dataset info``)."""
        return {int(s): s.name.lower() for s in SampleStatus}

    def mesh(self) -> SharedMesh | None:
        """The mesh every sample shares (stored once, in ``/mesh``), or None."""
        return None

    def options(self) -> dict[str, Any]:
        """The family's options, JSON-serializable (stored in the dataset's attributes)."""
        from dataclasses import asdict

        return asdict(self)  # type: ignore[call-overload]

    # ------------------------------------------------------------------ sampling
    def rng(self, i: int) -> np.random.Generator:
        """The generator of sample ``i``: independent of every other sample."""
        if int(i) < 0:
            raise ConfigError(f"Sample indices must be >= 0. Got {i!r}.")
        return np.random.default_rng([int(self.seed), int(i)])

    @abc.abstractmethod
    def sample(self, i: int) -> dict[str, Any]:
        """Inputs of sample ``i``: every input field (array of its spec's shape) and every
        scalar parameter of :meth:`param_names`."""

    def features(self, sample: Mapping[str, Any]) -> np.ndarray:
        """What SKR orders samples by: by default the first input field (flattened)."""
        return np.asarray(sample[self.inputs[0]], dtype=float).ravel()

    # ------------------------------------------------------------------ solving
    @abc.abstractmethod
    def solve(
        self,
        indices: Sequence[int],
        solver: SolverSettings | None = None,
        samples: Sequence[Mapping[str, Any]] | None = None,
    ) -> ChunkResult:
        """Solve samples ``indices`` (in the given order; drawn with :meth:`sample` unless
        ``samples`` are passed) and return them as a :class:`ChunkResult`."""

    # ------------------------------------------------------------------ helpers
    def _check_int(self, option: str, value: Any, low: int) -> None:
        if not isinstance(value, int | np.integer) or isinstance(value, bool) or value < low:
            raise ConfigError(
                f"The '{option}' option of family {self.name!r} must be an int >= {low}. "
                f"Got {value!r}."
            )

    def _check_positive(self, option: str, value: Any) -> None:
        if not isinstance(value, int | float) or isinstance(value, bool) or not value > 0:
            raise ConfigError(
                f"The '{option}' option of family {self.name!r} must be a number > 0. "
                f"Got {value!r}."
            )

    def _pack(
        self,
        indices: Sequence[int],
        samples: Sequence[Mapping[str, Any]],
        outputs: Sequence[Mapping[str, np.ndarray]],
        stats: Mapping[str, Sequence[float]],
        method: str,
    ) -> ChunkResult:
        """Stack per-sample inputs and outputs into a :class:`ChunkResult` (ragged fields
        stay lists; integer fields keep their declared type)."""
        specs = self.fields()
        fields: dict[str, Any] = {}
        for name, spec in specs.items():
            src = samples if spec.role == "input" else outputs
            if spec.ragged or spec.is_integer:
                rows = [check_field_values(spec, s[name], self.name) for s in src]
                fields[name] = rows if spec.ragged else np.stack(rows)
                continue
            arr = np.stack([np.asarray(s[name], dtype=float) for s in src])
            if arr.shape[1:] != spec.shape:
                raise ConfigError(
                    f"family {self.name!r}: field {name!r} has per-sample shape "
                    f"{arr.shape[1:]}, declared {spec.shape}"
                )
            fields[name] = arr
        params = {p: np.array([float(s[p]) for s in samples]) for p in self.param_names()}
        st = {k: np.asarray(stats[k], dtype=float) for k in stats}
        for k in (*STAT_NAMES, *self.extra_stats()):
            if k not in st:
                raise ConfigError(f"family {self.name!r}: solver statistic {k!r} missing")
        return ChunkResult(np.asarray(indices, dtype=np.int64), fields, params, st, method)

    def _samples(
        self, indices: Sequence[int], samples: Sequence[Mapping[str, Any]] | None
    ) -> list[Mapping[str, Any]]:
        if samples is None:
            return [self.sample(int(i)) for i in indices]
        if len(samples) != len(indices):
            raise ConfigError(f"{len(samples)} samples given for {len(indices)} indices")
        return list(samples)


class LinearFamily(Family):
    """A family whose samples are linear systems ``A(params) u = b(params)`` (SKR applies)."""

    linear: ClassVar[bool] = True

    def status_codes(self) -> dict[int, str]:
        """The linear solver's reasons (:class:`pdeflow.solvers.SolveStatus`)."""
        from pdeflow.solvers.status import SolveStatus

        return {int(s): s.name.lower() for s in SolveStatus}

    @abc.abstractmethod
    def assemble(self, sample: Mapping[str, Any]) -> tuple[Any, np.ndarray]:
        """The system of one sample: scipy sparse ``A`` (n, n) and ``b`` (n,)."""

    @abc.abstractmethod
    def to_outputs(self, sample: Mapping[str, Any], solution: np.ndarray) -> dict[str, np.ndarray]:
        """Output fields from the solution vector (reshape, add boundary, subsample)."""

    def systems(
        self, count: int, start: int = 0
    ) -> tuple[np.ndarray, list[tuple[Any, np.ndarray]]]:
        """Samples ``start .. start + count - 1`` as a sequence for
        :func:`pdeflow.solvers.solve_sequence`: their features (:meth:`features`; shaped as
        the first input field, ``(count, *shape)``, where they are that field, else
        ``(count, d)``) and systems ``[(A, b), ...]``.

        Examples
        --------
        >>> from pdeflow.datagen import families
        >>> feats, systems = families.get("darcy", resolution=8).systems(3)
        >>> feats.shape, systems[0][0].shape
        ((3, 8, 8), (64, 64))
        """
        samples = [self.sample(i) for i in range(start, start + count)]
        feats = np.stack([self.features(s) for s in samples])
        shape = self.fields()[self.inputs[0]].shape
        if feats.shape[1] == int(np.prod(shape)):
            feats = feats.reshape((len(samples), *shape))
        return feats, [self.assemble(s) for s in samples]

    def solve(
        self,
        indices: Sequence[int],
        solver: SolverSettings | None = None,
        samples: Sequence[Mapping[str, Any]] | None = None,
    ) -> ChunkResult:
        from pdeflow.solvers import solve_sequence

        solver = solver or SolverSettings()
        samples = self._samples(indices, samples)
        systems = [self.assemble(s) for s in samples]
        feats = np.stack([self.features(s) for s in samples])
        res = solve_sequence(
            systems,
            solver.method,
            params=feats,
            preconditioner=solver.preconditioner,
            pc_refresh=solver.pc_refresh,
            warm_start=solver.warm_start,
            rtol=solver.rtol,
            restart=solver.restart,
            k=solver.k,
            max_iter=solver.max_iter,
            order=solver.order,
            raise_on_failure=False,
        )
        outputs = [self.to_outputs(s, x) for s, x in zip(samples, res.solutions, strict=True)]
        residual = [
            _relative_residual(A, x, b) for (A, b), x in zip(systems, res.solutions, strict=True)
        ]
        stats = {
            "iterations": [r.iterations for r in res.reports],
            "residual": residual,
            "time": [r.time for r in res.reports],
        }
        chunk = self._pack(indices, samples, outputs, stats, res.method)
        # every system keeps its status: a diverged one is stored, marked and counted
        chunk.status = np.array([int(r.status) for r in res.reports], dtype=np.int32)
        chunk.converged = np.array([bool(r.status.converged) for r in res.reports])
        chunk.messages = ["" if r.status.converged else r.status.message for r in res.reports]
        chunk.method = (
            res.method if res.preconditioner == "none" else (f"{res.method}+{res.preconditioner}")
        )
        # "auto" warm-starts every candidate from the previous (neighbouring) solution
        warm = True if solver.method == "auto" else solver.warm_start
        chunk.resolved = replace(
            solver, method=res.method, preconditioner=res.preconditioner_spec, warm_start=warm
        )
        chunk.replay = chunk.resolved
        if solver.method == "auto":
            # what the trial kept: the picked strategy from the first system, in the order
            # "auto" solved in, with its preconditioner refresh (solve_sequence._auto)
            chunk.replay = replace(
                chunk.resolved,
                order=solver.order or "auto",
                pc_refresh=solver.pc_refresh if solver.pc_refresh > 1 else 8,
            )
        return chunk


class PointwiseFamily(Family):
    """A family solved sample by sample (time stepping, spectral methods)."""

    @abc.abstractmethod
    def solve_one(self, sample: Mapping[str, Any]) -> tuple[dict[str, np.ndarray], SampleReport]:
        """Outputs of one sample and how it was solved (a :class:`SampleReport`; the
        time is measured by :meth:`solve`)."""

    def solve(
        self,
        indices: Sequence[int],
        solver: SolverSettings | None = None,
        samples: Sequence[Mapping[str, Any]] | None = None,
    ) -> ChunkResult:
        samples = self._samples(indices, samples)
        extra = tuple(self.extra_stats())
        outputs, reports, seconds = [], [], []
        for s in samples:
            t0 = time.perf_counter()
            out, rep = self.solve_one(s)
            seconds.append(time.perf_counter() - t0)
            outputs.append(out)
            reports.append(_checked_report(SampleReport.coerce(rep, self.name, extra), out))
        stats = {
            "iterations": [r.iterations for r in reports],
            "residual": [r.residual for r in reports],
            "time": seconds,
            **{k: [r.stats.get(k, np.nan) for r in reports] for k in extra},
        }
        chunk = self._pack(indices, samples, outputs, stats, self.name)
        chunk.status = np.array([r.code for r in reports], dtype=np.int32)
        chunk.converged = np.array([r.converged for r in reports], dtype=bool)
        chunk.messages = [r.message for r in reports]
        return chunk


def _checked_report(report: SampleReport, outputs: Mapping[str, Any]) -> SampleReport:
    """``report``, marked not converged (code NONFINITE) when an output is not finite."""
    bad = [
        k
        for k, v in outputs.items()
        if np.asarray(v).dtype.kind == "f" and not np.isfinite(np.asarray(v)).all()
    ]
    if not bad or not report.converged:
        return report
    return replace(
        report,
        converged=False,
        code=int(SampleStatus.NONFINITE),
        message=f"non-finite values in output(s) {bad}; reduce the time step or check the "
        "sample's inputs",
    )


def _relative_residual(A: Any, x: np.ndarray, b: np.ndarray) -> float:
    nb = float(np.linalg.norm(b))
    return float(np.linalg.norm(A @ x - b) / (nb if nb > 0 else 1.0))
