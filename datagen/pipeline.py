"""The generation pipeline: sample -> order (SKR) -> solve in parallel chunks -> write HDF5.

:func:`generate` is the whole job.  It

1. opens the output file (:class:`~pdeflow.datagen.storage.DatasetWriter`): a new one, or with
   ``resume=True`` the existing one, whose missing samples are all that is left to do;
2. for linear families solved by a recycling strategy, computes cheap low-pass features of
   every missing sample on the workers and sorts the samples so that neighbours are similar
   (:func:`pdeflow.solvers.ordering.skr_order`);
3. cuts the sorted list into chunks and solves each chunk as one task on the executor
   (:meth:`Family.solve`: one ``solve_sequence`` per chunk, recycling inside it); with
   ``solver="auto"`` the first chunks run the timed trial and every later chunk reuses the
   strategy the first finished chunk picked;
4. writes each finished chunk from this (the client) process, the only writer, as the chunks
   complete.  Writes are idempotent by sample index, so a task run again after a lost
   worker is never written twice, and a file killed at any moment is resumable.

The executor (:mod:`pdeflow.datagen.executors`) is Dask by default: an embedded
``LocalCluster`` of ``workers`` processes, a ``scheduler`` address or a ``client``; with
``executor="processes"`` a pool of local processes.  Every kind runs the same code through
the ``concurrent.futures`` interface.
"""

from __future__ import annotations

import collections
import contextlib
import json
import math
import os
import shlex
import signal
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pdeflow.errors import ConfigError
from pdeflow.progress import get_logger, progress

from . import families
from .config import GenerateConfig
from .executors import RunningExecutor, local_cluster, open_executor
from .families import ChunkResult, Family, SolverSettings

__all__ = [
    "generate",
    "GenerateReport",
    "GenerationInterrupted",
    "resume_command",
    "build_family",
    "local_cluster",
    "plan_chunks",
    "sample_features",
]

_log = get_logger("pdeflow.datagen")
_RECYCLING = ("auto", "skr", "skr-cg")
_PILOT = 32  # samples in the chunk that runs solver="auto"'s timed trial
#: seconds between syncs of the writer's done flags: a kill -9 loses at most the samples of
#: the last second (they are solved again on --resume); each sync costs two HDF5 flushes
SYNC_SECONDS = 1.0


@dataclass
class GenerateReport:
    """What one :func:`generate` call did.

    Attributes
    ----------
    path : Path
    family : str
    n_samples : int
        Size of the dataset.
    written : int
        Samples solved and written by this call.
    already_done : int
        Samples found complete in the file (``resume=True``).
    seconds : float
        Wall-clock time of the call, cluster start-up included.
    solve_seconds : float
        Sum over samples of the solver time (all workers).
    order_seconds : float
        Feature computation and SKR ordering.
    startup_seconds : float
        Start-up of the worker processes (process pool) or of the Dask cluster/connection.
    mean_iterations : float
        Mean solver iterations per written sample.
    methods : dict
        Samples per solver strategy that ran (``"skr+amg"``: 120, ...).
    workers : int
    chunk_size : int
    scheduler : str
        Where the tasks ran: ``"local processes"``, ``"local Dask cluster"`` or the Dask
        scheduler address.
    restarts : int
        Process pools replaced after a worker process died (their chunks ran again).
    not_converged : list of int
        Samples written by this call whose solver did not converge: stored, marked in
        ``/status`` and counted by ``dataset info``, never passed off as good.
    """

    path: Path
    family: str
    n_samples: int
    written: int = 0
    already_done: int = 0
    seconds: float = 0.0
    solve_seconds: float = 0.0
    order_seconds: float = 0.0
    startup_seconds: float = 0.0
    mean_iterations: float = float("nan")
    methods: dict[str, int] = field(default_factory=dict)
    workers: int = 0
    chunk_size: int = 0
    scheduler: str = "local"
    restarts: int = 0
    not_converged: list[int] = field(default_factory=list)

    @property
    def samples_per_second(self) -> float:
        """Written samples per wall-clock second."""
        return self.written / self.seconds if self.seconds > 0 else float("nan")

    def summary(self) -> str:
        """A few lines for the terminal."""
        methods = ", ".join(f"{m} x{c}" for m, c in self.methods.items()) or "-"
        return "\n".join(
            [
                f"dataset   {self.path}",
                f"family    {self.family}: {self.n_samples} samples "
                f"({self.written} written now, {self.already_done} already there)",
                f"time      {self.seconds:.2f} s ({self.samples_per_second:.2f} samples/s; "
                f"start-up {self.startup_seconds:.2f} s, ordering {self.order_seconds:.2f} s)",
                f"solver    {methods}; {self.mean_iterations:.1f} iterations/sample, "
                f"{self.solve_seconds:.2f} s solving on {self.workers} worker(s) "
                f"({self.scheduler}"
                + (f", {self.restarts} pool restart(s))" if self.restarts else ")"),
            ]
            + (
                [
                    f"status    {len(self.not_converged)} sample(s) did not converge "
                    "(stored and marked; see `pdeflow dataset info`)"
                ]
                if self.not_converged
                else []
            )
        )


# ------------------------------------------------------------------------- interruption
class GenerationInterrupted(KeyboardInterrupt):
    """A :func:`generate` run stopped by SIGINT (Ctrl-C) or SIGTERM (``kill``, SLURM,
    Kubernetes, ``timeout``) after saving every finished sample; the file is resumable.

    A ``KeyboardInterrupt``, so ``except KeyboardInterrupt`` catches both signals alike.

    Attributes
    ----------
    signum : int
        The signal that stopped the run.
    path : Path or None
        The dataset file.
    kept : int
        Samples saved in the file (all of them done and intact).
    n_samples : int
        Size of the dataset.
    resume : str
        The shell command that completes the dataset.
    exit_code : int
        ``128 + signum`` (130 for SIGINT, 143 for SIGTERM), what ``pdeflow generate``
        exits with.
    """

    def __init__(
        self,
        signum: int,
        path: Path | None = None,
        kept: int = 0,
        n_samples: int = 0,
        resume: str = "",
    ) -> None:
        self.signum = int(signum)
        self.path = path
        self.kept = int(kept)
        self.n_samples = int(n_samples)
        self.resume = resume
        super().__init__(self.message())

    @property
    def exit_code(self) -> int:
        """The shell exit status: 128 + the signal number (130 for SIGINT, 143 for SIGTERM)."""
        return 128 + self.signum

    @property
    def signal_name(self) -> str:
        """The name of the signal that stopped the run, such as ``'SIGINT'``."""
        try:
            return signal.Signals(self.signum).name
        except ValueError:
            return f"signal {self.signum}"

    def message(self) -> str:
        """One line: what stopped the run, what was kept, how to resume."""
        if self.path is None:
            return f"interrupted by {self.signal_name}"
        return (
            f"interrupted by {self.signal_name}: {self.kept} of {self.n_samples} samples are "
            f"saved in {self.path}; complete it with: {self.resume}"
        )


class _StopSignals:
    """While active (in the main thread): SIGINT and SIGTERM raise
    :class:`GenerationInterrupted`, except inside :meth:`critical` blocks (a chunk being
    written), which finish first; once one signal arrived, later ones are ignored, so a
    second Ctrl-C or a SIGTERM after it cannot cut the final flush short.  A signal the
    process ignores (a background job's SIGINT) stays ignored.  Elsewhere than in the main
    thread nothing is installed (Python delivers signals to the main thread)."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.received: int | None = None
        self._raised = False
        self._depth = 0
        self._previous: dict[int, Any] = {}
        self._pid = os.getpid()

    def __enter__(self) -> _StopSignals:
        if threading.current_thread() is threading.main_thread():
            for signum in self.SIGNALS:
                if signal.getsignal(signum) is signal.SIG_IGN:
                    continue  # ignored on purpose (a background job, nohup): keep it so
                with contextlib.suppress(ValueError, OSError):
                    self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)
        self._previous.clear()

    def _handle(self, signum: int, frame: Any) -> None:
        if os.getpid() != self._pid:
            # a forked worker inherited this handler: act as if it were not there
            if signum == signal.SIGINT:
                raise KeyboardInterrupt
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        if self.received is not None:
            return  # already stopping
        self.received = signum
        if self._depth == 0:
            self._raise()

    def _raise(self) -> None:
        self._raised = True
        raise GenerationInterrupted(self.received or signal.SIGINT)

    @contextlib.contextmanager
    def critical(self):
        """A block that a signal does not interrupt: it is raised by :meth:`check` inside
        the block or when the block ends.

        The generation loop runs in one: an exception raised asynchronously inside
        ``concurrent.futures.wait`` (between the lock acquisitions of its
        ``_AcquireFutures``) would leave a future's lock held, and the executor's shutdown
        would then wait for it forever."""
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
        if self._depth == 0 and self.received is not None and not self._raised:
            self._raise()

    def check(self) -> None:
        """Raise :class:`GenerationInterrupted` here if a signal arrived (a safe point)."""
        if self.received is not None and not self._raised:
            self._raise()

    def hold(self) -> None:
        """Stop raising: the run is stopping; later signals are ignored."""
        self._raised = True
        if self.received is None:
            self.received = signal.SIGINT


def resume_command(config: GenerateConfig) -> str:
    """The ``pdeflow generate`` command line that resumes the run of ``config``.

    Every setting that differs from its default is spelled out as a flag (family options
    as ``-o KEY=VALUE``), so the command works without the config file it came from.

    Examples
    --------
    >>> cfg = GenerateConfig(family="darcy", n=64, out="d.h5", resolution=32)
    >>> resume_command(cfg)
    'pdeflow generate darcy --n 64 --out d.h5 --resolution 32 --resume'
    >>> resume_command(cfg.model_copy(update={"threads": 3}))
    'pdeflow --threads 3 generate darcy --n 64 --out d.h5 --resolution 32 --resume'
    """
    words = ["pdeflow"]
    if config.threads is not None:  # a global option: pdeflow --threads N generate ...
        words += ["--threads", str(config.threads)]
    words += ["generate", config.family]
    skip = {"family", "options", "resume", "overwrite", "threads"}
    for name, info in type(config).model_fields.items():
        value = getattr(config, name)
        if name in skip or (not info.is_required() and value == info.get_default()):
            continue
        words += [f"--{name.replace('_', '-')}", str(value)]
    for key, value in config.options.items():
        words += ["-o", f"{key}={_yaml_scalar(value)}"]
    words.append("--resume")
    return shlex.join(words)


def _yaml_scalar(value: Any) -> str:
    """``value`` as the ``-o KEY=VALUE`` text that parses back to it (YAML)."""
    import yaml

    text = json.dumps(value)  # JSON is YAML: quoted strings, numbers, lists
    if isinstance(value, str) and yaml.safe_load(value) == value:
        return value
    return text


# ------------------------------------------------------------------------------ helpers
def build_family(config: GenerateConfig) -> Family:
    """The family a config describes (resolution and seed applied)."""
    options = dict(config.options)
    for key in ("resolution", "seed"):
        if key in options:
            raise ConfigError(
                f"field 'options': give {key!r} as the top-level field '{key}', not as a "
                "family option"
            )
    if config.resolution is not None:
        options["resolution"] = config.resolution
    options["seed"] = config.seed
    return families.get(config.family, **options)


def sample_features(family: Family, indices: Sequence[int], modes: int = 8) -> np.ndarray:
    """Low-pass Fourier features of the inputs of samples ``indices`` (what SKR sorts by).

    Each input field is reduced to its ``modes`` lowest Fourier modes per axis
    (:func:`pdeflow.solvers.ordering.lowpass_coefficients`), which keeps the
    Frobenius-distance neighbourhoods of smooth fields at a fraction of the size; the
    fields' features are concatenated.

    Returns
    -------
    ndarray, shape (len(indices), n_features)
    """
    from pdeflow.solvers.ordering import lowpass_coefficients

    samples = [family.sample(int(i)) for i in indices]
    return np.concatenate(
        [
            lowpass_coefficients(
                np.stack([np.asarray(s[name], dtype=float) for s in samples]), low_pass=modes
            )
            for name in family.inputs
        ],
        axis=1,
    )


def plan_chunks(
    order: np.ndarray, chunk_size: int, workers: int | None = None, min_size: int = 4
) -> list[np.ndarray]:
    """Cut the solve order into consecutive chunks of at most ``chunk_size`` samples.

    With ``workers``, chunks shrink toward the end (guided self-scheduling: none is larger
    than ``1 / (2 workers)`` of what is left, nor smaller than ``min_size``), so the workers
    finish together instead of one solving the last long chunk alone.
    """
    if workers is None:
        return [order[k : k + chunk_size] for k in range(0, len(order), chunk_size)]
    chunks, k, n = [], 0, len(order)
    while k < n:
        guided = max(min_size, math.ceil((n - k) / (2 * workers)))
        size = max(1, min(chunk_size, guided))
        chunks.append(order[k : k + size])
        k += size
    return chunks


def _default_chunk_size(family: Family, n_todo: int, workers: int) -> int:
    """Enough chunks to keep every worker busy (about 4 each), long enough to recycle."""
    per = math.ceil(n_todo / max(1, 4 * workers))
    return max(1, min(per, 64)) if family.linear else max(1, min(per, 16))


_SET_UP_PID: int | None = None


def _worker_setup() -> None:
    """Once per worker process (a forked child too): one BLAS thread, glibc's malloc tuning.

    Forked workers inherit the parent's BLAS thread pools, and the environment variables a
    nanny sets no longer reach an already loaded OpenBLAS: two workers with two BLAS threads
    each on two cores spin against each other (measured: GCRO-DR solves 4x slower in the
    demo), so the limit is set here, for every executor, external clusters included.
    """
    global _SET_UP_PID
    if _SET_UP_PID == os.getpid():
        return
    _SET_UP_PID = os.getpid()
    if threading.current_thread() is threading.main_thread():
        # a process-pool worker: Ctrl-C (sent to the whole process group) is handled by the
        # process that runs generate, which saves the file and ends the workers (Dask
        # workers: _dask_worker.QuietWorker)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    from .executors import one_thread_per_worker

    one_thread_per_worker()
    _restore_adaptive_malloc()


def _restore_adaptive_malloc() -> None:
    """Undo Dask's ``MALLOC_TRIM_THRESHOLD_`` in this worker process (glibc only).

    Dask nannies export that variable, which freezes glibc's mmap threshold at 128 KiB:
    every temporary vector of a 128^2 solve is then mmapped and unmapped again, and the
    solves run 2.4x slower.  :func:`local_cluster` does not export it; this covers workers
    of an external cluster.  Raising both thresholds (64 MiB) restores heap reuse.
    """
    if "MALLOC_TRIM_THRESHOLD_" not in os.environ or not sys.platform.startswith("linux"):
        return
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3
        libc.mallopt(m_mmap_threshold, 64 << 20)
        libc.mallopt(m_trim_threshold, 64 << 20)


def _solve_chunk(
    family: Family,
    indices: np.ndarray,
    solver: SolverSettings,
    encoding: tuple[str, str | None] | None = None,
    fields: dict[str, tuple[str, int]] | None = None,
) -> ChunkResult:
    """The Dask task: solve one chunk and, when the file's compression allows it, compress
    its fields here on the worker (``fields``: the file's ``(dtype, chunk_rows)`` per
    field; runs on a worker)."""
    from .storage import WORKER_COMPRESSIONS, encode_chunk

    _worker_setup()
    chunk = family.solve([int(i) for i in indices], solver)
    if encoding is not None and encoding[1] in WORKER_COMPRESSIONS:
        encode_chunk(chunk, encoding[0], encoding[1], fields=fields)
    return chunk


def _features_chunk(family: Family, indices: np.ndarray) -> np.ndarray:
    _worker_setup()
    return sample_features(family, indices)


# ------------------------------------------------------------------------------ generate
def generate(
    config: GenerateConfig | None = None,
    *,
    client: Any = None,
    progress_mode: str | None = None,
    **settings: Any,
) -> GenerateReport:
    """Generate (or complete) a dataset of solved PDE samples.

    Parameters
    ----------
    config : GenerateConfig, optional
        All settings; alternatively pass them as keywords (``family="darcy", n=64,
        out="darcy.h5", ...``, the fields of :class:`GenerateConfig`).  Keywords given
        together with ``config`` override its fields.
    client : dask.distributed.Client, optional
        Run on this client (its cluster is left running); default: a local cluster of
        ``workers`` processes, or the scheduler at ``scheduler``.
    progress_mode : {"rich", "plain", "off"}, optional
        Default: a rich bar on a terminal, plain lines otherwise.

    Returns
    -------
    GenerateReport

    Raises
    ------
    ConfigError
        A bad setting (named), an existing file without ``overwrite``/``resume``, a file
        whose family or options differ from the config on ``resume``.
    DataError
        The output path cannot be written (one line: a parent that is a file, a read-only
        or virtual folder such as ``/proc``), or ``overwrite`` targets a file that is not
        a pdeflow dataset.  Missing parent folders are created, with a warning line.
    GenerationInterrupted
        SIGINT (Ctrl-C) or SIGTERM arrived (in the main thread): the chunk being written is
        finished, every finished sample is flushed, the workers are stopped, one warning
        line says how many samples were kept and the command that resumes, then this
        ``KeyboardInterrupt`` is raised.  The file is resumable (``resume=True``).

    Examples
    --------
    >>> report = generate(family="darcy", n=8, resolution=16, out="d.h5",
    ...                   workers=1, progress_mode="off")          # doctest: +SKIP
    >>> report.written                                               # doctest: +SKIP
    8
    """
    if config is None:
        config = GenerateConfig.merge(overrides=settings, overrides_name="generate()")
    elif settings:
        config = GenerateConfig.merge(
            overrides={**config.model_dump(), **settings}, overrides_name="generate()"
        )
    if config.resume and config.overwrite:
        raise ConfigError("fields 'resume' and 'overwrite': choose one")
    if families.is_spec(config.family):  # stored in the file: resume/repair from anywhere
        config = config.model_copy(update={"family": families.canonical_spec(config.family)})
    family = build_family(config)
    solver = SolverSettings(
        method=config.solver, preconditioner=config.preconditioner, rtol=config.rtol
    )
    path = Path(config.out)
    t_start = time.perf_counter()
    with _StopSignals() as stop:
        writer = None
        try:
            writer = _open_writer(config, family, path)
            report = GenerateReport(path=path, family=family.name, n_samples=config.n)
            with writer:
                _fill(writer, family, solver, config, report, client, progress_mode, stop)
        except KeyboardInterrupt as exc:
            stop.hold()
            raise _interrupted(exc, config, path, writer) from None
    report.seconds = time.perf_counter() - t_start
    return report


def _open_writer(config: GenerateConfig, family: Family, path: Path) -> Any:
    """A new file's writer, or with ``config.resume`` the existing file's."""
    from .storage import DatasetWriter

    if config.resume:
        if not path.exists():
            raise ConfigError(f"field 'resume': {path} does not exist; drop --resume to create it")
        # the family (name, options, resolution, seed) must match; how it is solved may change
        writer = DatasetWriter.resume(path, family=family)
        if writer.n_samples != config.n:
            writer.close()
            raise ConfigError(
                f"field 'n': {path} holds {writer.n_samples} samples, the settings ask for "
                f"{config.n}; use the same n to resume"
            )
        return writer
    if path.exists() and not config.overwrite:
        raise ConfigError(
            f"field 'out': {path} exists; pass --resume to complete it or --overwrite to replace it"
        )
    record = config.model_dump(mode="json")
    record.pop("resume", None)
    record.pop("overwrite", None)
    return DatasetWriter.create(
        path,
        family,
        config.n,
        config=record,
        seed=config.seed,
        dtype=config.dtype,
        compression=None if config.compression == "none" else config.compression,
        overwrite=config.overwrite,
    )


def _fill(writer, family, solver, config, report, client, progress_mode, stop) -> None:
    """Solve and write every missing sample of ``writer``'s file, then mark it complete."""
    writer.sync_seconds = SYNC_SECONDS
    todo = writer.missing()
    report.already_done = config.n - len(todo)
    if len(todo) == 0:
        writer.finish()
        _log.info(
            "%s is already complete (%d samples); `pdeflow dataset verify` checks it and "
            "`pdeflow dataset repair` regenerates damaged samples",
            writer.path,
            config.n,
        )
        return
    # signals are acted on at the loop's safe points (stop.check), not while the executor
    # starts or stops (a half-started process pool would be left running)
    with stop.critical(), open_executor(config, client) as running:
        report.startup_seconds = running.startup_seconds
        report.scheduler = running.where
        report.workers = running.workers
        _ChunkLoop(running, family, solver, config, writer, report, stop).run(todo, progress_mode)
    writer.finish()


def _interrupted(
    exc: KeyboardInterrupt, config: GenerateConfig, path: Path, writer: Any
) -> GenerationInterrupted:
    """The :class:`GenerationInterrupted` of a stopped run (finished samples already saved),
    logged as one warning line."""
    signum = exc.signum if isinstance(exc, GenerationInterrupted) else int(signal.SIGINT)
    if writer is None:  # stopped before the file was opened: nothing written
        out = GenerationInterrupted(signum)
        _log.warning("%s before %s was opened; nothing was written", out.message(), path)
        return out
    again = config.model_copy(update={"resume": True, "overwrite": False})
    out = GenerationInterrupted(signum, path, writer.done_count(), config.n, resume_command(again))
    _log.warning("%s", out.message())
    return out


def _order(
    ex: Any,
    family: Family,
    todo: np.ndarray,
    config: GenerateConfig,
    workers: int,
    stop: _StopSignals,
):
    """SKR order of the missing samples (features computed on the workers)."""
    from pdeflow.solvers.ordering import skr_order

    if not family.linear or config.solver not in _RECYCLING or config.order == "none":
        return todo
    if len(todo) < 3:
        return todo
    parts = np.array_split(todo, min(len(todo), 4 * workers))
    futures = [ex.submit(_features_chunk, family, part) for part in parts]
    feats = np.concatenate(_gather(futures, stop))
    return todo[skr_order(feats, method=config.order)]


_POLL_SECONDS = 0.25  # longest wait for a signal to be acted on in the generation loop


def _gather(futures: list[Any], stop: _StopSignals) -> list[Any]:
    """Results of ``futures`` in order, checking for a signal every ``_POLL_SECONDS``."""
    from concurrent.futures import wait

    pending = set(futures)
    while pending:
        _, pending = wait(pending, timeout=_POLL_SECONDS)
        stop.check()
    return [fut.result() for fut in futures]


def _record(chunk: ChunkResult, n_new: int, report: GenerateReport) -> float:
    """Count a written chunk in ``report`` (samples, solve time, methods, samples that did
    not converge); returns the chunk's solver iterations."""
    report.written += n_new
    if chunk.converged is not None and not np.all(chunk.converged):
        bad = np.asarray(chunk.indices)[~np.asarray(chunk.converged, dtype=bool)]
        report.not_converged.extend(int(i) for i in bad)
    report.solve_seconds += float(np.sum(chunk.stats["time"]))
    report.methods[chunk.method] = report.methods.get(chunk.method, 0) + len(chunk)
    return float(np.sum(chunk.stats["iterations"]))


_MAX_RESTARTS = 3  # replaced process pools (a worker died) before a run gives up


class _ChunkLoop:
    """The generation loop of one run: plan chunks, keep a window of them in flight, write
    each finished chunk, and start a fresh pool when a worker process dies.

    Parameters
    ----------
    running : RunningExecutor
        The started executor.
    family, solver, config
        What to solve and how (``solver.method == "auto"`` runs pilot chunks first).
    writer
        The open dataset writer.
    report : GenerateReport
        Filled in as the run goes.
    stop
        The signal guard, checked at the loop's safe points.
    """

    def __init__(self, running: RunningExecutor, family, solver, config, writer, report, stop):
        self.running, self.ex = running, running.executor
        self.family, self.solver, self.config = family, solver, config
        self.writer, self.report, self.stop = writer, report, stop
        self.auto = family.linear and solver.method == "auto"
        # with "auto", every chunk after the first pilot reuses its strategy (no trial each)
        self.resolved: SolverSettings | None = None if self.auto else solver
        self.live: dict[Any, np.ndarray] = {}  # future -> its chunk of sample indices
        self.window = 2 * report.workers
        self.iterations = 0.0

    def plan(self, todo: np.ndarray) -> tuple[int, collections.deque]:
        """Order ``todo`` and cut it into chunks: ``(number of pilot chunks, chunks)``."""
        report, config = self.report, self.config
        t0 = time.perf_counter()
        order = _order(self.ex, self.family, todo, config, report.workers, self.stop)
        report.order_seconds = time.perf_counter() - t0
        chunk_size = config.chunk_size or _default_chunk_size(
            self.family, len(todo), report.workers
        )
        report.chunk_size = chunk_size
        n_pilots = min(report.workers, 4, max(1, len(order) // (2 * _PILOT))) if self.auto else 0
        pilots = plan_chunks(order[: n_pilots * _PILOT], _PILOT)
        # chunk_size (given or default) is the largest chunk: the last ones shrink so that the
        # workers finish together (with chunks of 32 samples at 128^2, 2 workers, 512 samples,
        # one worker otherwise idled for half a chunk on average)
        rest = plan_chunks(order[n_pilots * _PILOT :], chunk_size, report.workers)
        return len(pilots), collections.deque(pilots + rest)

    def submit(self, chunk: np.ndarray) -> None:
        """Send one chunk to a worker."""
        fut = self.ex.submit(
            _solve_chunk, self.family, chunk, self.resolved or self.solver,
            self.writer.encoding, self.writer.field_encodings,
        )  # fmt: skip
        self.live[fut] = chunk

    def fill(self, chunks: collections.deque, window: int) -> None:
        """Submit chunks until ``window`` are in flight."""
        while chunks and len(self.live) < window:
            self.submit(chunks.popleft())

    def collect(self, done, bar) -> bool:
        """Write the finished futures ``done``; True when a worker process died."""
        from concurrent.futures.process import BrokenProcessPool

        broken = False
        for fut in done:
            try:
                chunk: ChunkResult = fut.result()
            except BrokenProcessPool:
                broken = True
                continue
            del self.live[fut]
            if self.resolved is None and chunk.resolved is not None:
                self.resolved = chunk.resolved
                _log.info("solver 'auto' picked %s for %s", chunk.method, self.family.name)
            n_new = self.writer.write(chunk)
            self.iterations += _record(chunk, n_new, self.report)
            bar.advance(n_new)
            rate = self.report.written / max(bar.elapsed, 1e-9)
            bar.set_status(
                f"{rate:.1f} samples/s, {self.iterations / max(self.report.written, 1):.1f} "
                f"iterations/sample, {chunk.method}"
            )
        return broken

    def recover(self, chunks: collections.deque) -> None:
        """A worker process died (killed, out of memory): every unfinished chunk of that pool
        is lost; run them again on a fresh pool."""
        from concurrent.futures.process import BrokenProcessPool

        ex = self.ex
        if not self.running.can_restart or ex.restarts >= _MAX_RESTARTS:
            raise BrokenProcessPool(f"a worker process died {ex.restarts + 1} time(s); giving up")
        lost = list(self.live.values())
        self.live.clear()
        _log.warning(
            "a worker process died; restarting the pool and solving its %d unfinished "
            "chunk(s) again",
            len(lost),
        )
        ex.restart()
        self.report.restarts += 1
        chunks.extendleft(reversed(lost))
        # lost pilots: one chunk runs the "auto" trial before the others start
        self.fill(chunks, self.window if self.resolved is not None else 1)

    def run(self, todo: np.ndarray, progress_mode) -> None:
        """Solve and write every sample of ``todo``; on any stop, flush what is finished."""
        from concurrent.futures import FIRST_COMPLETED, wait

        n_pilots, chunks = self.plan(todo)
        # with "auto", short pilot chunks (one per worker, at most 4) run the timed trial
        self.fill(chunks, n_pilots if self.auto else self.window)
        try:
            with progress(f"generating {self.family.name}", total=len(todo),
                          mode=progress_mode) as bar:  # fmt: skip
                while self.live:
                    done, _ = wait(
                        list(self.live), timeout=_POLL_SECONDS, return_when=FIRST_COMPLETED
                    )
                    self.stop.check()  # a signal is acted on here, never inside wait()
                    if self.collect(done, bar):
                        self.recover(chunks)
                        continue
                    self.fill(chunks, self.window)
        except KeyboardInterrupt:
            self.stop.hold()  # later signals must not cut the flush short
            self.writer.flush()  # every finished sample is on disk before workers stop
            raise
        except Exception as exc:
            self.writer.flush()
            exc.add_note(
                f"generation stopped; the {self.writer.done_count()} finished samples are "
                f"saved in {self.writer.path}; fix the cause and run again with --resume"
            )
            raise
        finally:
            for fut in self.live:  # stopped early: leave no work running on a shared cluster
                with contextlib.suppress(Exception):
                    fut.cancel()
        written = self.report.written
        self.report.mean_iterations = self.iterations / written if written else float("nan")
