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
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Literal

import numpy as np

from pdeflow.errors import ConfigError

__all__ = [
    "FieldSpec",
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
    """

    name: str
    shape: tuple[int, ...]
    role: Literal["input", "output"]
    axes: tuple[str, ...]
    description: str = ""

    def __post_init__(self) -> None:
        if len(self.axes) != len(self.shape):
            raise ConfigError(
                f"FieldSpec {self.name!r}: {len(self.axes)} axis names for shape {self.shape}"
            )

    @property
    def channel_layout(self) -> tuple[int, tuple[int, ...]]:
        """``(channels, spatial shape)`` of this field as an operator input/output."""
        return channel_layout(self.shape, self.axes)


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
        """Stack per-sample inputs and outputs into a :class:`ChunkResult`."""
        specs = self.fields()
        fields = {}
        for name, spec in specs.items():
            src = samples if spec.role == "input" else outputs
            arr = np.stack([np.asarray(s[name], dtype=float) for s in src])
            if arr.shape[1:] != spec.shape:
                raise ConfigError(
                    f"family {self.name!r}: field {name!r} has per-sample shape "
                    f"{arr.shape[1:]}, declared {spec.shape}"
                )
            fields[name] = arr
        params = {p: np.array([float(s[p]) for s in samples]) for p in self.param_names()}
        st = {k: np.asarray(stats[k], dtype=float) for k in stats}
        for k in STAT_NAMES:
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
    def solve_one(self, sample: Mapping[str, Any]) -> tuple[dict[str, np.ndarray], dict]:
        """Outputs of one sample and its stats (``iterations``, ``residual``; time is added)."""

    def solve(
        self,
        indices: Sequence[int],
        solver: SolverSettings | None = None,
        samples: Sequence[Mapping[str, Any]] | None = None,
    ) -> ChunkResult:
        samples = self._samples(indices, samples)
        outputs, stats = [], {k: [] for k in STAT_NAMES}
        for s in samples:
            t0 = time.perf_counter()
            out, st = self.solve_one(s)
            outputs.append(out)
            stats["iterations"].append(st.get("iterations", 0))
            stats["residual"].append(st.get("residual", np.nan))
            stats["time"].append(time.perf_counter() - t0)
        return self._pack(indices, samples, outputs, stats, self.name)


def _relative_residual(A: Any, x: np.ndarray, b: np.ndarray) -> float:
    nb = float(np.linalg.norm(b))
    return float(np.linalg.norm(A @ x - b) / (nb if nb > 0 else 1.0))
