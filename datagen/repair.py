"""Repair a dataset whose stored samples are damaged: regenerate exactly those samples.

A sample is *damaged* when a field of it cannot be read (its compressed HDF5 chunk fails
to decode) or does not match the CRC-32 stored when it was written
(:func:`pdeflow.datagen.storage.damaged_samples`).  :func:`repair` marks those samples not
done, solves them again from the family and options stored in the file, and writes them
in place, encoded as a generation run encodes them.  Every other sample is left untouched.

How a sample is solved again
----------------------------
A linear family solves a chunk of samples as one sequence: with a recycling solver
(``skr``, ``skr-cg``, an iterative method ``auto`` picked) or a preconditioner refreshed
along the chunk, a sample's bits depend on which samples were in its chunk and in which
order.  Generation records per sample the chunk it was solved in, its position in that
chunk's solve call, and the explicit settings that replay the chunk without an ``auto``
trial (``/solve/chunk``, ``/solve/position``, ``/solve/settings``; see
:mod:`pdeflow.datagen.storage`).  A repair re-solves each affected chunk whole, in the
recorded order, with the recorded settings, under one BLAS thread as the workers run,
and writes only its damaged samples.  Pointwise families (time stepping, spectral) solve
the damaged samples alone: they do not depend on their chunk.

What "bitwise" covers
---------------------
After a repair the file holds, for every repaired sample, the same field arrays
(``/fields/*``, every bit), parameters (``/params/*``), checksums (``/checksums/*``), solver
statistics ``iterations``, ``residual`` and ``method``, solve records ``/solve/*``, and
``done``/``write_count`` as the clean, uninterrupted run stored: :attr:`RepairReport.exact`
is True.  Not covered: ``stats/time`` and ``stats/written_at`` (wall-clock values) and the
file's byte layout (a rewritten chunk may be stored at another offset).  Files written
before the solve records existed, or whose recorded chunk is incomplete, are repaired as
before: linear samples are solved without their chunk (bitwise only for ``direct`` and
explicit ``gmres``/``cg`` without a preconditioner), and a recycling solver's result agrees
with the clean run to the solver tolerance, not bit for bit (``exact`` False).

Examples
--------
>>> from pdeflow.datagen.repair import repair              # doctest: +SKIP
>>> repair("darcy.h5").summary()                          # doctest: +SKIP
'repaired 1 damaged sample(s) of darcy.h5: 33 (bitwise what a clean run stores)'
"""

from __future__ import annotations

import contextlib
import os
import shlex
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pdeflow.errors import ConfigError, DataError
from pdeflow.progress import get_logger

from . import families
from .families import Family, SolverSettings
from .storage import (
    WORKER_COMPRESSIONS,
    DatasetWriter,
    compact_ranges,
    damaged_samples,
    encode_chunk,
    open_checked,
)

__all__ = ["RepairReport", "repair", "repair_command"]

_log = get_logger("pdeflow.datagen")


def repair_command(path: str | os.PathLike) -> str:
    """The shell command that repairs ``path``: ``pdeflow dataset repair PATH``."""
    return f"pdeflow dataset repair {shlex.quote(str(path))}"


@dataclass
class RepairReport:
    """What :func:`repair` did.

    Attributes
    ----------
    path : Path
    damaged : list of int
        The damaged samples found (and repaired).
    exact : bool
        True when every repaired sample is bitwise what a clean run stores (see the module
        docstring); False when some were solved again by a recycling solver.
    missing : int
        Samples not done (never written); ``generate --resume`` completes them.
    """

    path: Path
    damaged: list[int] = field(default_factory=list)
    exact: bool = True
    missing: int = 0

    def summary(self) -> str:
        """One or two lines for the terminal."""
        if not self.damaged:
            line = f"no damaged sample in {self.path}; nothing to repair"
        else:
            how = (
                "bitwise what a clean run stores"
                if self.exact
                else "solved again by a recycling solver: equal to a clean run to the solver "
                "tolerance, not bit for bit"
            )
            line = (
                f"repaired {len(self.damaged)} damaged sample(s) of {self.path}: "
                f"{compact_ranges(self.damaged)} ({how})"
            )
        if self.missing:
            line += (
                f"\n{self.missing} sample(s) were never written; complete them with "
                "`pdeflow generate ... --resume` (the command that created the file)"
            )
        return line


def repair(path: str | os.PathLike) -> RepairReport:
    """Regenerate the damaged samples of dataset ``path`` in place.

    The family is rebuilt from the file's ``family`` and ``family_options`` attributes
    (resolution and seed included), so a sample is drawn from the same random stream as
    when it was first generated.  A linear family's damaged sample is solved again inside
    the chunk it was first solved in (its ``/solve`` records: the same samples, in the same
    order, with the same explicit settings, one BLAS thread as on the workers); only the
    damaged samples of that chunk are written.  See the module docstring for which stored
    values come out bitwise identical to a clean run.

    Parameters
    ----------
    path : path-like
        A pdeflow dataset (layout version 1), not being written by another process.

    Returns
    -------
    RepairReport

    Raises
    ------
    DataError
        The file is not a readable pdeflow dataset, its family cannot be rebuilt, or a
        repaired sample still reads back damaged (a failing disk).
    """
    path = Path(path)
    bad = damaged_samples(path)
    report = RepairReport(path=path, damaged=[int(i) for i in bad])
    if bad.size == 0:
        with open_checked(path, "r") as f:
            report.missing = int(np.count_nonzero(f["done"][...] == 0))
        return report
    with DatasetWriter.resume(path) as writer:
        attrs = writer.attrs()
        family = _rebuild_family(path, attrs)
        done = np.ones(writer.n_samples, dtype=bool)
        done[writer.missing()] = False
        plans = _plans(family, bad, writer, attrs["config"], done)
        writer.invalidate(bad)
        with _one_blas_thread():
            for plan in plans:
                chunk = family.solve(plan.indices, plan.settings)
                if plan.records is not None:
                    chunk.solve_chunk, chunk.solve_pos = plan.records
                if writer.encoding[1] in WORKER_COMPRESSIONS:
                    encode_chunk(chunk, *writer.encoding, fields=writer.field_encodings)
                writer.write(chunk)  # only the damaged samples: the others are done
                report.exact = report.exact and plan.exact
        writer.finish()
        report.missing = len(writer.missing())
    still = damaged_samples(path)
    if still.size:
        raise DataError(
            f"Samples {compact_ranges(still)} of {str(path)!r} still read back damaged after "
            "the repair: the disk may be failing; copy the file elsewhere and repair the copy."
        )
    _log.info("repaired samples %s of %s", compact_ranges(bad), path)
    return report


@dataclass
class _Plan:
    """One solve of a repair: ``indices`` in this order with ``settings``; ``records``
    (chunk, position per sample) to store instead of this solve's own; ``exact``: whether
    the result is bitwise what the clean run stored."""

    indices: list[int]
    settings: SolverSettings | None
    exact: bool
    records: tuple[np.ndarray, np.ndarray] | None = None


@contextlib.contextmanager
def _one_blas_thread() -> Iterator[None]:
    """One BLAS/OpenMP thread, as every generation worker runs
    (:func:`pdeflow.datagen.executors.one_thread_per_worker`): a reduction split over
    threads may sum in another order, so the repaired bits could differ."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        yield


def _plans(
    family: Family,
    bad: np.ndarray,
    writer: DatasetWriter,
    config: Mapping[str, Any],
    done: np.ndarray,
) -> list[_Plan]:
    """The solves that regenerate samples ``bad`` (before they are invalidated)."""
    records = writer.solve_records()
    if records is None:  # a file written before the solve records existed
        return _fallback(family, bad, writer.stored_methods(bad), config)
    if not family.linear:  # pointwise: each sample alone, its records kept
        idx = [int(i) for i in bad]
        keep = (records["chunk"][bad], records["position"][bad])
        return [_Plan(idx, None, True, keep)]
    plans: list[_Plan] = []
    alone: list[int] = []
    for c in np.unique(records["chunk"][bad]).tolist():
        members = _chunk_members(records, done, int(c))
        if members is None:
            alone.extend(int(i) for i in bad[records["chunk"][bad] == c])
            continue
        indices, settings = members
        keep = (records["chunk"][indices], records["position"][indices])
        plans.append(_Plan(indices, settings, True, keep))
    if alone:
        idx = np.asarray(sorted(alone), dtype=np.int64)
        plans += _fallback(family, idx, writer.stored_methods(idx), config)
    return plans


def _chunk_members(
    records: Mapping[str, np.ndarray], done: np.ndarray, chunk: int
) -> tuple[list[int], SolverSettings] | None:
    """The done samples of recorded ``chunk`` in their solve-call order and the settings
    that solved them; None when the records do not describe one whole chunk."""
    if chunk < 0:
        return None
    members = np.flatnonzero(done & (records["chunk"] == chunk))
    pos = records["position"][members]
    members = members[np.argsort(pos, kind="stable")]
    if not np.array_equal(np.sort(pos), np.arange(members.size)):
        return None  # a member is missing (not done) or positions are inconsistent
    texts = set(records["settings"][members].tolist())
    if len(texts) != 1 or not (text := texts.pop()):
        return None
    try:
        settings = SolverSettings.from_record(text)
    except ConfigError:
        return None
    return [int(i) for i in members], settings


def _fallback(
    family: Family, bad: np.ndarray, methods: list[str], config: Mapping[str, Any]
) -> list[_Plan]:
    """Without solve records: the damaged samples grouped by the solver settings stored
    for them, solved without their chunk."""
    groups = _solver_groups(family, bad, methods, config)
    return [_Plan(idx, settings, exact) for settings, (idx, exact) in groups.items()]


def _rebuild_family(path: Path, attrs: Mapping[str, Any]) -> Family:
    # a family generated from a spec (file.py:obj, package.module:obj) is found by its spec
    spec = (attrs.get("config") or {}).get("family")
    name = spec if isinstance(spec, str) and families.is_spec(spec) else attrs["family"]
    try:
        return families.get(name, **attrs["family_options"])
    except Exception as exc:  # noqa: BLE001 - any failure: the stored family cannot be rebuilt
        raise DataError(
            f"Cannot rebuild family {attrs.get('family')!r} of {str(path)!r} from its stored "
            f"options ({exc}); repair it with the pdeflow version that wrote it."
        ) from None


def _solver_groups(
    family: Family, bad: np.ndarray, methods: list[str], config: Mapping[str, Any]
) -> dict[SolverSettings | None, tuple[list[int], bool]]:
    """Damaged samples grouped by the solver settings that reproduce them, with whether
    that reproduction is bitwise."""
    if not family.linear:
        return {None: ([int(i) for i in bad], True)}
    asked = str(config.get("solver", "auto"))
    rtol = float(config.get("rtol", 1e-8))
    groups: dict[SolverSettings | None, tuple[list[int], bool]] = {}
    for i, recorded in zip(bad.tolist(), methods, strict=True):
        method, _, pc = recorded.partition("+")
        if method == "direct":
            settings, exact = SolverSettings(method="direct", rtol=rtol), True
        elif method == asked and method in ("gmres", "cg") and not pc:
            settings, exact = SolverSettings(method=method, rtol=rtol), True
        else:
            known = method in ("skr", "skr-cg", "gmres", "cg")
            settings = SolverSettings(
                method=method if known else "auto", preconditioner=pc or None, rtol=rtol
            )
            exact = False
        indices, ok = groups.get(settings, ([], True))
        indices.append(int(i))
        groups[settings] = (indices, ok and exact)
    return groups
