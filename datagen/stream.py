"""Online data generation: samples from running solvers, through a bounded buffer, never disk.

:func:`stream` starts solvers of a problem family on ``workers`` parallel workers and hands
their samples to the caller through a Melissa-style buffer (:mod:`pdeflow.datagen.buffers`):

* ``policy="fifo"`` -- every sample is read once.  Chunks enter the buffer in index order
  (the stream is the same on every run), and a feeder thread submits a chunk only when the
  buffer has room for it on top of the samples already being solved.  So a slow consumer
  stops the solvers: samples produced but not yet read never exceed
  ``max(buffer_size, chunk_size)`` (backpressure).
* ``policy="reservoir"`` -- the solvers keep refreshing a bounded population (a new sample
  evicts a random old one), and the consumer draws ``draws`` uniformly random samples from it,
  starting once ``threshold`` samples are in.  A sample may be read several times, which keeps
  training busy when the solvers are slower than training.

Each worker solves a chunk of ``chunk_size`` consecutive sample indices with
``family.solve`` (linear families recycle Krylov subspaces inside a chunk).  Samples are
dicts of numpy arrays: every stored field (read-only float64, per-sample shape), the
per-sample parameters, ``"index"`` and the solver statistics ``"iterations"``,
``"residual"`` and ``"time"``.  :meth:`SampleStream.xy` stacks them into ``{"x", "y"}``
channel arrays for :mod:`pdeflow.operators`, and :func:`online_source` gives the
``source(seed)`` callable that :class:`pdeflow.operators.data.StreamDataset` takes.

Process workers are forked, all of them before the feeder thread starts, when no other Python
thread runs (Linux), else spawned (no temporary files); one BLAS/OpenMP thread each.  As with
any ``spawn`` pool, a script that may start one needs an ``if __name__ == "__main__":`` guard.
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import threading
import time
import weakref
from collections import deque
from collections.abc import Iterator, Sequence
from typing import Any, Literal, final

import numpy as np

from pdeflow.errors import ConfigError, ShapeError

from .buffers import AbstractBuffer, BufferClosed, FIFOBuffer, ReservoirBuffer
from .executors import THREAD_VARS, process_pool  # noqa: F401 (THREAD_VARS re-exported)
from .families import ChunkResult, Family, SolverSettings

__all__ = ["stream", "SampleStream", "online_source", "FamilySource"]

Policy = Literal["fifo", "reservoir"]
POLICIES = ("fifo", "reservoir")
EXECUTORS = ("thread", "process")


# ---------------------------------------------------------------------- worker side
def _solve_chunk(
    family: Family, indices: list[int], solver: SolverSettings | None, keep: tuple[str, ...]
) -> ChunkResult:
    """Solve one chunk (runs in a worker) and drop the fields nobody asked for."""
    result = family.solve(indices, solver)
    result.fields = {k: v for k, v in result.fields.items() if k in keep}
    return result


def _split(result: ChunkResult) -> list[dict[str, Any]]:
    """One dict per sample of a chunk: read-only field arrays (a ragged field at the
    sample's own length), params, index, stats and status (``converged``, ``status``)."""
    samples = []
    m = len(result.indices)
    conv = result.converged if result.converged is not None else np.ones(m, dtype=bool)
    codes = result.status if result.status is not None else np.ones(m, dtype=np.int32)
    for k, index in enumerate(result.indices):
        sample: dict[str, Any] = {}
        for name, arr in result.fields.items():
            a = np.array(arr[k])  # a copy: an evicted sample frees its memory
            a.flags.writeable = False
            sample[name] = a
        for name, values in result.params.items():
            sample[name] = float(values[k])
        sample["index"] = int(index)
        for name, values in result.stats.items():
            sample[name] = int(values[k]) if name == "iterations" else float(values[k])
        sample["converged"] = bool(conv[k])
        sample["status"] = int(codes[k])
        samples.append(sample)
    return samples


def _describe(indices: Sequence[int]) -> str:
    if len(indices) == 1:
        return f"sample index {indices[0]}"
    return f"chunk of sample indices {indices[0]}..{indices[-1]} ({len(indices)} samples)"


def _with_indices(exc: BaseException, indices: Sequence[int] | None) -> BaseException:
    """``exc`` as the same type, its message extended with the chunk's indices."""
    where = "in the stream's feeder" if indices is None else f"while solving {_describe(indices)}"
    message = f"{exc} [{where}]"
    try:
        new = type(exc)(message)
    except Exception:
        new = None
    if new is None or type(new) is not type(exc) or str(new) != message:
        exc.add_note(message)
        return exc
    new.__cause__ = exc
    return new


# ---------------------------------------------------------------------- the feeder
class _Producer:
    """Submits chunks, collects results in index order, puts samples into the buffer.

    Runs one daemon thread; holds no reference to the :class:`SampleStream`, so that the
    stream can be garbage-collected (its finalizer calls :meth:`close`).
    """

    def __init__(
        self,
        family: Family,
        solver: SolverSettings | None,
        keep: tuple[str, ...],
        start: int,
        n: int | None,
        chunk_size: int,
        max_in_flight: int,
        buffer: AbstractBuffer,
        backpressure: bool,
        executor: Any,
        owns_executor: bool,
    ) -> None:
        self.family, self.solver, self.keep = family, solver, keep
        self.buffer, self.backpressure = buffer, backpressure
        self.executor, self.owns_executor = executor, owns_executor
        self.chunk_size, self.max_in_flight = chunk_size, max_in_flight
        self._next = start
        self._end = None if n is None else start + n
        self._cond = threading.Condition()
        self._pending: deque[tuple[list[int], Any]] = deque()
        self.in_flight = 0  # samples submitted and not yet in the buffer
        self.produced = 0
        self.chunks = 0
        self.backpressure_s = 0.0
        self.error: tuple[BaseException, list[int] | None] | None = None
        self._raised: BaseException | None = None
        self._stopping = False
        self._closed = False
        self.t0 = time.perf_counter()
        self.t1: float | None = None
        self._thread = threading.Thread(target=self._run, name="pdeflow-stream-feeder", daemon=True)

    def start(self) -> _Producer:
        self.t0 = time.perf_counter()
        self._thread.start()
        return self

    # ------------------------------------------------------------------ state (lock held)
    def _exhausted(self) -> bool:
        return self._end is not None and self._next >= self._end

    def _next_len(self) -> int:
        return (
            self.chunk_size if self._end is None else min(self.chunk_size, self._end - self._next)
        )

    def _room(self) -> bool:
        if not self.backpressure:
            return True
        reserved = len(self.buffer) + self.in_flight
        return reserved + self._next_len() <= self.buffer.capacity or reserved == 0

    def _can_submit(self) -> bool:
        return not self._exhausted() and len(self._pending) < self.max_in_flight and self._room()

    def _next_action(self) -> tuple[str, Any] | None:
        while not self._stopping:
            if self._pending and self._pending[0][1].done():
                return "collect", self._pending.popleft()
            if self._can_submit():
                m = self._next_len()
                chunk = list(range(self._next, self._next + m))
                self._next += m
                self.in_flight += m
                self.chunks += 1
                return "submit", chunk
            if not self._pending and self._exhausted():
                return None
            room_bound = not self._exhausted() and len(self._pending) < self.max_in_flight
            t0 = time.perf_counter()
            self._cond.wait()
            if room_bound:
                self.backpressure_s += time.perf_counter() - t0
        return None

    # ------------------------------------------------------------------ thread
    def wake(self, *_: Any) -> None:
        with self._cond:
            self._cond.notify_all()

    def _run(self) -> None:
        try:
            self._loop()
        except BaseException as exc:  # e.g. submit() refused at interpreter shutdown
            self._fail(exc, None)
        finally:
            self.buffer.close()

    def _loop(self) -> None:
        while True:
            with self._cond:
                action = self._next_action()
            if action is None:
                return
            kind, payload = action
            if kind == "submit":
                fut = self.executor.submit(
                    _solve_chunk, self.family, payload, self.solver, self.keep
                )
                with self._cond:
                    if self._stopping:
                        fut.cancel()
                        return
                    self._pending.append((payload, fut))
                fut.add_done_callback(self.wake)
                continue
            indices, fut = payload
            try:
                result = fut.result()
            except cf.CancelledError:
                return
            except BaseException as exc:
                self._fail(exc, indices)
                return
            samples = _split(result)
            with self._cond:
                self.produced += len(samples)
            for sample in samples:
                try:
                    self.buffer.put(sample)
                except BufferClosed:
                    return
                with self._cond:
                    self.in_flight -= 1

    def _fail(self, exc: BaseException, indices: list[int] | None) -> None:
        with self._cond:
            if self._stopping:  # closing: errors of cancelled or killed work do not count
                return
            self.error = (exc, indices)
        self.stop()

    # ------------------------------------------------------------------ control
    def raise_error(self) -> None:
        """Raise the producer's exception (if any), naming its chunk; the same one each time."""
        if self.error is None:
            return
        if self._raised is None:
            self._raised = _with_indices(*self.error)
        raise self._raised

    def stop(self) -> None:
        """Stop submitting, cancel pending chunks, wake the consumer."""
        with self._cond:
            self._stopping = True
            pending = list(self._pending)
            self._pending.clear()
            self.t1 = self.t1 or time.perf_counter()
            self._cond.notify_all()
        self.buffer.close()
        for _, fut in pending:
            fut.cancel()

    def close(self) -> None:
        """Stop, shut our own executor down (killing its processes) and join the feeder."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
        self.stop()
        if self.owns_executor:
            processes = list((getattr(self.executor, "_processes", None) or {}).values())
            self.executor.shutdown(wait=False, cancel_futures=True)
            for p in processes:  # a running chunk is abandoned, not waited for
                if p.is_alive():
                    p.terminate()
            for p in processes:
                p.join(timeout=2.0)
                if p.is_alive():  # pragma: no cover - ignores SIGTERM
                    p.kill()
                    p.join(timeout=1.0)
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout=5.0)

    def snapshot(self) -> dict[str, Any]:
        counters = self.buffer.counters()
        with self._cond:
            elapsed = (self.t1 or time.perf_counter()) - self.t0
            return {
                "produced": self.produced,
                "consumed": counters["gets"],
                "buffered": counters["length"],
                "in_flight": self.in_flight,
                "chunks_submitted": self.chunks,
                "elapsed_s": elapsed,
                "samples_per_s": counters["gets"] / elapsed if elapsed > 0 else 0.0,
                "produced_per_s": self.produced / elapsed if elapsed > 0 else 0.0,
                "producer_wait_s": counters["producer_wait_s"] + self.backpressure_s,
                "consumer_wait_s": counters["consumer_wait_s"],
                "evictions": counters["evictions"],
                "done": self._stopping or (self._exhausted() and not self._pending),
            }


# ---------------------------------------------------------------------- the stream
@final
class SampleStream(Iterator[dict[str, Any]]):
    """An iterator of samples from running solvers.  Build it with :func:`stream`.

    Yields dicts: every selected field (a read-only array of the field's shape, float64 or
    the field's declared dtype; a ragged field at the sample's own length), the
    per-sample parameters (float), ``"index"`` (int), ``"iterations"`` (int),
    ``"residual"`` and ``"time"`` (float, seconds), the family's extra statistics, and the
    sample's status: ``"converged"`` (bool) and ``"status"`` (int code).
    :meth:`graphs` yields PyG ``Data`` instead.  Closing (explicitly, by ``with``, on
    exhaustion, or when garbage-collected) stops the solvers and kills its own workers.
    An exception in a solver is raised here, as its own type, naming the chunk's indices.
    """

    def __init__(
        self, family: Family, fields: tuple[str, ...], producer: _Producer, draws: int | None
    ) -> None:
        self.family = family
        self.fields = fields
        self._producer = producer
        self._draws = draws
        self._drawn = 0
        self._finalizer = weakref.finalize(self, producer.close)

    def __iter__(self) -> SampleStream:
        return self

    def __next__(self) -> dict[str, Any]:
        p = self._producer
        if self.closed and p.error is None:
            raise StopIteration
        if p.error is not None:
            self.close()
            p.raise_error()
        if self._draws is not None and self._drawn >= self._draws:
            self.close()
            raise StopIteration
        try:
            item = p.buffer.get()
        except BufferClosed:
            self.close()
            p.raise_error()
            raise StopIteration from None
        p.wake()  # room in the buffer: the feeder may submit
        self._drawn += 1
        return dict(item)

    def stats(self) -> dict[str, Any]:
        """Counters: ``produced``, ``consumed``, ``buffered``, ``in_flight`` (samples),
        ``chunks_submitted``, ``elapsed_s``, ``samples_per_s`` (consumed per second),
        ``produced_per_s``, ``producer_wait_s`` (feeder blocked by a full buffer),
        ``consumer_wait_s`` (reader blocked by an empty one), ``evictions``, ``done``."""
        return self._producer.snapshot()

    def close(self) -> None:
        """Stop the solvers, cancel pending chunks, shut down its own executor (idempotent)."""
        self._finalizer()

    @property
    def closed(self) -> bool:
        """Whether the stream has been closed (its workers are stopped)."""
        return not self._finalizer.alive

    def __enter__(self) -> SampleStream:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def xy(
        self, inputs: Sequence[str] | None = None, outputs: Sequence[str] | None = None
    ) -> Iterator[dict[str, np.ndarray]]:
        """The samples as ``{"x": (C_in, *S), "y": (C_out, *S)}`` float32 arrays.

        Channels are the fields stacked in the given order (default: the family's inputs,
        then its outputs); a field whose first axis is time (``"t"``) gives one channel per
        time step.  Each iterated sample is consumed from the stream.

        Raises
        ------
        ConfigError
            A name is not a field of this stream.
        ShapeError
            The fields of ``x`` (or of ``y``) have different spatial shapes.
        """
        layout = _xy_layout(self.family, self.fields, inputs, outputs)
        return _xy_iter(self, layout)

    def graphs(
        self,
        x: Sequence[str] | None = None,
        y: Sequence[str] | None = None,
        pos: str | None = None,
    ) -> Iterator[Any]:
        """The samples as PyG ``Data`` graphs of their own sizes
        (:func:`pdeflow.datagen.dataset.to_pyg`): every field as an attribute of its
        name (integers as int64, exact), ``x``/``y`` the named fields concatenated as
        float32 columns (default: the family's inputs / outputs), ``pos`` a position field.
        Each iterated sample is consumed from the stream.

        Returns
        -------
        iterator of torch_geometric.data.Data

        Raises
        ------
        ConfigError
            A name is not a field of this stream.
        """
        xs = list(self.family.inputs if x is None else x)
        ys = list(self.family.outputs if y is None else y)
        unknown = [n for n in [*xs, *ys, *([pos] if pos else [])] if n not in self.fields]
        if unknown:
            raise ConfigError(
                f"graphs: {unknown} are not fields of the stream {sorted(self.fields)}"
            )
        return _graph_iter(self, xs, ys, pos, list(self.fields))

    def __repr__(self) -> str:
        s = self.stats()
        return (
            f"SampleStream(family={self.family.name!r}, produced={s['produced']}, "
            f"consumed={s['consumed']}, closed={self.closed})"
        )


# per group: (field name, (channels, spatial shape)) for each stacked field
_Group = tuple[tuple[str, tuple[int, tuple[int, ...]]], ...]
_Layout = tuple[_Group, _Group]


def _xy_layout(
    family: Family,
    available: Sequence[str],
    inputs: Sequence[str] | None,
    outputs: Sequence[str] | None,
) -> _Layout:
    """Validate the x/y field names: ((name, has_time_axis), ...) for x and for y."""
    specs = family.fields()
    groups = []
    for what, names, default in (
        ("inputs", inputs, family.inputs),
        ("outputs", outputs, family.outputs),
    ):
        names = list(default if names is None else ([names] if isinstance(names, str) else names))
        missing = [nm for nm in names if nm not in available]
        if not names or missing:
            raise ConfigError(
                f"The '{what}' parameter of xy must name fields of the stream "
                f"{sorted(available)} (pass them in 'fields'). Got {names!r}."
            )
        spatial = {nm: specs[nm].channel_layout[1] for nm in names}
        if len(set(spatial.values())) > 1:
            raise ShapeError(
                f"xy: the {what} {names} have different spatial shapes {spatial}; stack only "
                "fields on the same grid"
            )
        groups.append(tuple((nm, specs[nm].channel_layout) for nm in names))
    return groups[0], groups[1]


def _stack(sample: dict[str, Any], group: _Group) -> np.ndarray:
    """The group's fields as float32 channels ``(C, *S)`` (see ``FieldSpec.channel_layout``)."""
    parts = [np.asarray(sample[nm]).reshape(k, *spatial) for nm, (k, spatial) in group]
    return np.concatenate(parts, axis=0).astype(np.float32)


def _graph_iter(
    samples: Iterator[dict[str, Any]],
    x: list[str],
    y: list[str],
    pos: str | None,
    fields: list[str],
) -> Iterator[Any]:
    from .dataset import to_pyg

    for sample in samples:
        yield to_pyg(sample, x=x, y=y, pos=pos, fields=fields)


def _xy_iter(samples: Iterator[dict[str, Any]], layout: _Layout) -> Iterator[dict[str, np.ndarray]]:
    x_group, y_group = layout
    for sample in samples:
        yield {"x": _stack(sample, x_group), "y": _stack(sample, y_group)}


# ---------------------------------------------------------------------- validation
@dataclasses.dataclass(frozen=True)
class _Config:
    family: Family
    n: int | None
    start: int
    workers: int
    chunk_size: int
    buffer_size: int
    policy: str
    threshold: int | None
    draws: int | None
    solver: SolverSettings | None
    executor: Any
    fields: tuple[str, ...]


def _int(name: str, value: Any, low: int, optional: bool = False) -> int | None:
    if optional and value is None:
        return None
    if not isinstance(value, int | np.integer) or isinstance(value, bool) or value < low:
        kind = f"an int >= {low}" + (" or None" if optional else "")
        raise ConfigError(f"The '{name}' parameter of stream must be {kind}. Got {value!r}.")
    return int(value)


def _family(family: Family | str, seed: int | None, options: dict[str, Any]) -> Family:
    from . import families

    if isinstance(family, str):
        fam = families.get(family, **options)
    elif isinstance(family, Family):
        fam = family
        if options:
            known = {f.name for f in dataclasses.fields(fam) if f.init}  # type: ignore[arg-type]
            unknown = sorted(set(options) - known)
            if unknown:
                raise ConfigError(
                    f"Unknown option(s) {unknown} for family {fam.name!r}; it takes "
                    f"{sorted(known)}."
                )
            fam = dataclasses.replace(fam, **options)  # type: ignore[type-var]
    else:
        raise ConfigError(
            "The 'family' parameter of stream must be a Family or a family name. "
            f"Got {type(family).__name__}."
        )
    if seed is not None:
        _int("seed", seed, 0)
        fam = dataclasses.replace(fam, seed=int(seed))  # type: ignore[type-var]
    return fam


def _configure(
    family: Family | str,
    n: int | None,
    seed: int | None,
    start: int,
    workers: int,
    chunk_size: int,
    buffer_size: int,
    policy: str,
    threshold: int | None,
    draws: int | None,
    solver: SolverSettings | str | None,
    executor: Any,
    fields: Sequence[str] | None,
    family_options: dict[str, Any],
) -> _Config:
    n = _int("n", n, 0, optional=True)
    start = _int("start", start, 0)
    workers = _int("workers", workers, 1)
    chunk_size = _int("chunk_size", chunk_size, 1)
    buffer_size = _int("buffer_size", buffer_size, 1)
    if policy not in POLICIES:
        raise ConfigError(
            f"The 'policy' parameter of stream must be one of {POLICIES}. Got {policy!r}."
        )
    for name, value in (("threshold", threshold), ("draws", draws)):
        if value is not None and policy != "reservoir":
            raise ConfigError(
                f"The '{name}' parameter of stream applies to policy='reservoir' only. "
                f"Got {name}={value!r} with policy={policy!r}."
            )
    threshold = _int("threshold", threshold, 1, optional=True)
    if threshold is not None and threshold > buffer_size:
        raise ConfigError(
            f"The 'threshold' parameter of stream must be <= buffer_size ({buffer_size}). "
            f"Got {threshold!r}."
        )
    draws = _int("draws", draws, 0, optional=True)
    if isinstance(solver, str):
        solver = SolverSettings(method=solver)
    elif solver is not None and not isinstance(solver, SolverSettings):
        raise ConfigError(
            "The 'solver' parameter of stream must be a SolverSettings, a method name or None. "
            f"Got {type(solver).__name__}."
        )
    if executor is None:
        executor = "thread" if workers == 1 else "process"
    if isinstance(executor, str):
        if executor not in EXECUTORS:
            raise ConfigError(
                f"The 'executor' parameter of stream must be one of {EXECUTORS}, an Executor "
                f"or None. Got {executor!r}."
            )
    elif not callable(getattr(executor, "submit", None)):
        raise ConfigError(
            "The 'executor' parameter of stream must have a submit() method (a "
            f"concurrent.futures.Executor or a dask Client). Got {type(executor).__name__}."
        )
    fam = _family(family, seed, family_options)
    stored = list(fam.fields())
    if fields is None:
        keep = tuple(stored)
    else:
        keep = tuple([fields] if isinstance(fields, str) else fields)
        unknown = [f for f in keep if f not in stored]
        if not keep or unknown:
            raise ConfigError(
                f"The 'fields' parameter of stream must name fields of family {fam.name!r} "
                f"{stored}. Got {list(keep)!r}."
            )
    return _Config(
        fam,
        n,
        start,
        workers,
        chunk_size,
        buffer_size,
        policy,
        threshold,
        draws,
        solver,
        executor,
        keep,
    )


def _make_executor(kind: Any, workers: int) -> tuple[Any, bool]:
    if kind == "thread":
        return cf.ThreadPoolExecutor(workers, thread_name_prefix="pdeflow-solver"), True
    if kind == "process":
        # forked workers start before the feeder thread exists (see executors.process_pool)
        return process_pool(workers), True
    return kind, False


# ---------------------------------------------------------------------- public API
def stream(
    family: Family | str,
    n: int | None = None,
    *,
    seed: int | None = None,
    start: int = 0,
    workers: int = 1,
    chunk_size: int = 8,
    buffer_size: int = 64,
    policy: Policy = "fifo",
    threshold: int | None = None,
    draws: int | None = None,
    solver: SolverSettings | str | None = None,
    executor: Literal["thread", "process"] | cf.Executor | Any | None = None,
    fields: Sequence[str] | None = None,
    **family_options: Any,
) -> SampleStream:
    """Samples of ``family`` from solvers running now, through a bounded in-memory buffer.

    Parameters
    ----------
    family : Family or str
        A family, or a registry name built with ``family_options``
        (:func:`pdeflow.datagen.families.get`).
    n : int, optional
        Samples to produce, indices ``start .. start + n - 1``; ``None``: endless.
    seed : int, optional
        Replaces the family's seed.
    start : int
        First sample index.
    workers : int
        Parallel solvers; at most ``2 * workers`` chunks are in flight.
    chunk_size : int
        Consecutive indices solved together (SKR recycles inside a chunk).
    buffer_size : int
        Buffer capacity in samples.
    policy : {"fifo", "reservoir"}
        See the module docstring.
    threshold : int, optional
        Reservoir only: population before the first draw, ``<= buffer_size``
        (default ``buffer_size``; draws also start once every sample is produced).
    draws : int, optional
        Reservoir only: samples yielded (default ``n``; endless if both are ``None``).
    solver : SolverSettings or str, optional
        Linear solver settings (a string is the method), else the family's default.
    executor : {"thread", "process"} or Executor, optional
        Default: ``"thread"`` for one worker, else a process pool (see the module
        notes).  Any object with ``submit`` (a ``concurrent.futures.Executor``, a
        ``dask.distributed.Client``) is used as is and left running by :meth:`SampleStream.close`.
    fields : sequence of str, optional
        Fields to keep (default: all).

    Returns
    -------
    SampleStream
        Use it as a context manager, or exhaust or close it.

    Raises
    ------
    ConfigError
        An invalid argument (the message names it) or an unknown family or family option.

    Examples
    --------
    >>> with stream("darcy", 3, resolution=16, seed=1) as s:
    ...     [(sample["index"], sample["u"].shape) for sample in s]
    [(0, (16, 16)), (1, (16, 16)), (2, (16, 16))]
    """
    cfg = _configure(
        family,
        n,
        seed,
        start,
        workers,
        chunk_size,
        buffer_size,
        policy,
        threshold,
        draws,
        solver,
        executor,
        fields,
        family_options,
    )
    if cfg.policy == "fifo":
        buffer: AbstractBuffer = FIFOBuffer(cfg.buffer_size)
        draws = None
    else:
        buffer = ReservoirBuffer(cfg.buffer_size, cfg.threshold, seed=int(cfg.family.seed))
        draws = cfg.n if cfg.draws is None else cfg.draws
    pool, owns = _make_executor(cfg.executor, cfg.workers)
    producer = _Producer(
        cfg.family,
        cfg.solver,
        cfg.fields,
        cfg.start,
        cfg.n,
        cfg.chunk_size,
        2 * cfg.workers,
        buffer,
        cfg.policy == "fifo",
        pool,
        owns,
    )
    return SampleStream(cfg.family, cfg.fields, producer.start(), draws)


@final
class FamilySource:
    """``source(seed)`` -> endless ``{"x", "y"}`` float32 samples of a family with that seed.

    The online-source protocol of :class:`pdeflow.operators.data.StreamDataset`.  Build it
    with :func:`online_source`; it is picklable (DataLoader workers), and each call starts
    its own :func:`stream`, closed when the returned iterator is exhausted or dropped.
    """

    def __init__(
        self,
        family: str | Family,
        inputs: Sequence[str] | None,
        outputs: Sequence[str] | None,
        stream_options: dict[str, Any],
        family_options: dict[str, Any],
        graph: bool = False,
    ) -> None:
        self.family = family
        self.graph = bool(graph)
        self.inputs = None if inputs is None else tuple(inputs)
        self.outputs = None if outputs is None else tuple(outputs)
        self.stream_options = dict(stream_options)
        self.family_options = dict(family_options)
        # validate now, not in the first training step
        cfg = _configure(
            family,
            None,
            None,
            0,
            family_options=family_options,
            draws=None,
            threshold=None,
            policy="fifo",
            fields=None,
            **stream_options,
        )
        self.layout = (
            None if self.graph else _xy_layout(cfg.family, cfg.fields, self.inputs, self.outputs)
        )

    def __call__(self, seed: int) -> Iterator[Any]:
        s = stream(self.family, None, seed=seed, **self.stream_options, **self.family_options)
        if self.layout is None:
            return _closing_graphs(s, self.inputs, self.outputs)
        return _closing_xy(s, self.layout)

    def __repr__(self) -> str:
        name = self.family if isinstance(self.family, str) else self.family.name
        return f"FamilySource({name!r}, inputs={self.inputs}, outputs={self.outputs})"


def _closing_xy(s: SampleStream, layout: _Layout) -> Iterator[dict[str, np.ndarray]]:
    with s:
        yield from _xy_iter(s, layout)


def _closing_graphs(
    s: SampleStream, inputs: Sequence[str] | None, outputs: Sequence[str] | None
) -> Iterator[Any]:
    with s:
        yield from s.graphs(inputs, outputs)


def online_source(
    family: str | Family,
    *,
    inputs: Sequence[str] | None = None,
    outputs: Sequence[str] | None = None,
    workers: int = 1,
    chunk_size: int = 8,
    buffer_size: int = 64,
    solver: SolverSettings | str | None = None,
    executor: Literal["thread", "process"] | None = None,
    graph: bool = False,
    **family_options: Any,
) -> FamilySource:
    """The online source ``source(seed)`` of ``family`` for operator training.

    ``source(seed)`` yields ``{"x": (C_in, *S), "y": (C_out, *S)}`` float32 samples
    (:meth:`SampleStream.xy`) from an endless FIFO :func:`stream` of the family with that
    seed: the same seed gives the same samples in the same order.  With ``graph=True``
    (families with ragged fields: point clouds, per-sample meshes) it yields PyG ``Data``
    graphs instead (:meth:`SampleStream.graphs`, ``x``/``y`` from ``inputs``/``outputs``).

    Examples
    --------
    >>> source = online_source("darcy", resolution=16, chunk_size=2)
    >>> sample = next(iter(source(seed=0)))
    >>> sample["x"].shape, sample["y"].dtype
    ((1, 16, 16), dtype('float32'))

    With :class:`~pdeflow.operators.data.StreamDataset`, pass ``spatial_ndim`` (the arrays
    already have their channel axis): ``StreamDataset(source, 64, spatial_ndim=2)``.
    """
    options = {
        "workers": workers,
        "chunk_size": chunk_size,
        "buffer_size": buffer_size,
        "solver": solver,
        "executor": executor,
    }
    return FamilySource(family, inputs, outputs, options, family_options, graph)
