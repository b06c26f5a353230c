"""``pdeflow demo``: generate a Darcy dataset with SKR on a local Dask cluster, then learn from it.

Run as ``pdeflow demo [--n 256] [--resolution 64] [--workers 2] [--out FILE]`` (``make demo``
runs it through the deprecated ``python -m pdeflow.datagen.demo``).  It sits above datagen
and operators (it uses both), beside the CLI.  Its settings are :class:`DemoConfig`.

1. ``generate("darcy", solver="skr")``: the SKR paper's Darcy form (``K = exp(GRF)``,
   no preconditioner, GCRO-DR(40, 20) recycling inside each chunk, samples sorted first) on
   a local cluster of ``workers`` processes, into an HDF5 file;
2. the same generation with plain GMRES(40) on the same cluster: the paper's baseline, a
   weak one;
3. the same generation with ``solver="auto"``, pdeflow's default, which times the
   candidates on the first chunk and keeps the fastest (a direct solve on this family);
4. the strong peer: what ``benchmarks/skr.py`` finds fastest among the peers on 2-D Darcy,
   scipy's sparse LU (``splu``) of every system, run PDEBench-style (a process pool of
   ``workers`` single-threaded processes, the parent appending each sample to HDF5);
5. a table of the four and the honest headline: pdeflow's default against the strong peer,
   and SKR against both baselines;
6. ``pdeflow dataset verify`` on the file;
7. a small FNO trained online from the solver stream (:func:`pdeflow.datagen.stream`) for a
   few seconds, and its relative L2 error on the generated file.
"""

from __future__ import annotations

import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer
from pydantic import Field

from pdeflow.commands import config_command
from pdeflow.config import PdeflowConfig

__all__ = ["DemoConfig", "Timing", "demo_command", "format_timings", "run_demo"]


class DemoConfig(PdeflowConfig):
    """Settings of ``pdeflow demo``.

    Examples
    --------
    >>> DemoConfig(n=24, resolution=12).workers
    2
    """

    n: int = Field(256, ge=2, description="samples")
    resolution: int = Field(64, ge=4, description="cells per axis")
    workers: int = Field(2, ge=1, description="Dask worker processes")
    out: str | None = Field(None, description="HDF5 file (default: in a temporary folder)")
    train_seconds: float = Field(40.0, ge=0, description="online FNO budget (0: no training)")


def run_demo(args: DemoConfig) -> int:
    """Run the demo; returns the exit code (0 when the dataset verifies).

    Parameters
    ----------
    args
        The demo's settings.

    Returns
    -------
    int
        0 if the generated file verifies, else 1.
    """
    from dask.distributed import Client

    from pdeflow.datagen.pipeline import generate, local_cluster
    from pdeflow.datagen.storage import verify

    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="pdeflow-demo-"))
    out = out / "darcy.h5" if args.out is None else out
    common = dict(family="darcy", n=args.n, resolution=args.resolution, progress_mode=None)
    t0 = time.perf_counter()
    cluster = local_cluster(args.workers)
    client = Client(cluster)
    startup = time.perf_counter() - t0
    try:
        print(
            f"pdeflow demo: {args.n} Darcy samples at {args.resolution}^2 on a local Dask "
            f"cluster of {args.workers} worker(s) (start-up {startup:.1f} s)",
            flush=True,
        )
        skr = generate(solver="skr", out=str(out), overwrite=True, client=client, **common)
        print(skr.summary(), flush=True)
        others = {}
        for solver in ("gmres", "auto"):
            other = out.with_name(f"{out.stem}-{solver}.h5")
            others[solver] = generate(
                solver=solver, out=str(other), overwrite=True, client=client, **common
            )
            other.unlink(missing_ok=True)
    finally:
        client.close()
        cluster.close()
    peer_path = out.with_name(out.stem + "-splu.h5")
    peer = splu_peer(args.n, args.resolution, args.workers, peer_path)
    agree = _max_relative_difference(out, peer_path)
    peer_path.unlink(missing_ok=True)
    rows = [
        Timing("GMRES(40), the paper's baseline", others["gmres"].seconds,
               others["gmres"].solve_seconds, others["gmres"].mean_iterations),
        Timing("SKR (sorted, GCRO-DR(40, 20))", skr.seconds, skr.solve_seconds,
               skr.mean_iterations),
        Timing("scipy splu per sample, the strong peer", peer.seconds, peer.solve_seconds,
               None),
        Timing(f"auto, pdeflow's default (picked {_picked(others['auto'])})",
               others["auto"].seconds, others["auto"].solve_seconds,
               others["auto"].mean_iterations),
    ]
    print(format_timings(rows, args), flush=True)
    print(f"check: the peer's solutions match SKR's to {agree:.1e} (relative L2, worst sample)")
    rep = verify(out)
    print(f"verify: {'ok' if rep.ok else 'FAILED'} ({rep.n_done}/{rep.n_samples} samples)")
    if args.train_seconds > 0:
        _train_online(out, args)
    print(f"dataset: {out}")
    print(f"demo total: {time.perf_counter() - t0:.1f} s")
    return 0 if rep.ok else 1


@dataclass(frozen=True)
class Timing:
    """One row of the demo's table: seconds end to end and summed over the solves."""

    label: str
    seconds: float
    solve_seconds: float
    iterations: float | None


def _picked(report: Any) -> str:
    return ", ".join(sorted(report.methods)) or "?"


def format_timings(rows: list[Timing], args: Any) -> str:
    """The table and the headline (rows: GMRES, SKR, strong peer, auto; in that order)."""
    gmres, skr, peer, auto = rows
    lines = [
        f"{args.n} Darcy samples at {args.resolution}^2 on {args.workers} worker(s):",
        f"  {'solver':<52} {'end to end':>10} {'solves, summed':>14} {'iterations':>10}",
    ]
    for r in rows:
        its = "" if r.iterations is None else f"{r.iterations:.0f}"
        lines.append(f"  {r.label:<52} {r.seconds:>8.2f} s {r.solve_seconds:>12.2f} s "
                     f"{its:>10}")
    headline = (
        f"headline: pdeflow's default ('auto') is {_vs(auto, peer)} the strong peer (scipy "
        f"splu) end to end; SKR is {_vs(skr, gmres)} GMRES(40) "
        f"({gmres.iterations:.0f} -> {skr.iterations:.0f} iterations/sample) and "
        f"{_vs(skr, peer)} the strong peer."
    )
    lines.append(textwrap.fill(headline, width=100, subsequent_indent="  "))
    return "\n".join(lines)


def _vs(ours: Timing, theirs: Timing) -> str:
    """``"2.31x faster than"`` or ``"1.50x slower than"`` (end to end)."""
    ratio = theirs.seconds / ours.seconds
    return f"{ratio:.2f}x faster than" if ratio >= 1 else f"{1 / ratio:.2f}x slower than"


def _max_relative_difference(ours: Path, peer: Path) -> float:
    """Worst relative L2 difference between the two files' solutions ``u``."""
    import h5py
    import numpy as np

    with h5py.File(ours, "r") as f, h5py.File(peer, "r") as g:
        u = f["fields/u"][...].astype(float)
        ref = g["u"][...].astype(float)
    axes = tuple(range(1, u.ndim))
    return float((np.linalg.norm(u - ref, axis=axes) / np.linalg.norm(ref, axis=axes)).max())


def _peer_init() -> None:
    """Each peer process uses one BLAS/OpenMP thread, as pdeflow's workers do."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)


def _peer_solve(job: tuple[int, int]) -> tuple[int, dict, float]:
    """One sample, PDEBench style: draw, assemble, factorize with scipy's splu, solve."""
    import scipy.sparse.linalg as spla

    from pdeflow.datagen import families

    resolution, i = job
    fam = families.get("darcy", resolution=resolution)
    s = fam.sample(i)
    A, b = fam.assemble(s)
    t0 = time.perf_counter()
    x = spla.splu(A.tocsc()).solve(b)
    solve = time.perf_counter() - t0
    return i, {**{k: s[k] for k in fam.inputs}, **fam.to_outputs(s, x)}, solve


@dataclass(frozen=True)
class PeerReport:
    seconds: float
    solve_seconds: float


def splu_peer(n: int, resolution: int, workers: int, path: Path) -> PeerReport:
    """The strong peer end to end: a fork pool of ``workers`` solving samples ``0..n-1`` with
    ``splu``; the parent appends each sample to resizable, lzf-compressed HDF5 datasets."""
    import multiprocessing as mp

    import h5py

    from pdeflow.datagen import families

    t0 = time.perf_counter()
    specs = families.get("darcy", resolution=resolution).fields()
    solve = 0.0
    with h5py.File(path, "w") as f:
        dsets = {
            k: f.create_dataset(k, (0, *spec.shape), maxshape=(None, *spec.shape),
                                chunks=(1, *spec.shape), dtype="float32", compression="lzf")
            for k, spec in specs.items()
        }
        jobs = [(resolution, i) for i in range(n)]
        with mp.get_context("fork").Pool(workers, initializer=_peer_init) as pool:
            for _, values, seconds in pool.imap(_peer_solve, jobs, chunksize=4):
                solve += seconds
                for k, value in values.items():
                    d = dsets[k]
                    d.resize(d.shape[0] + 1, axis=0)
                    d[-1] = value
    return PeerReport(time.perf_counter() - t0, solve)


def _train_online(path: Path, args: DemoConfig) -> None:
    """A small FNO trained from the live solver stream, tested on the generated file."""
    import torch

    from pdeflow.datagen.dataset import open_dataset
    from pdeflow.datagen.stream import stream
    from pdeflow.operators import FNO
    from pdeflow.operators.losses import LpLoss

    torch.manual_seed(0)
    test = open_dataset(path)
    xs = torch.stack([test[i]["x"] for i in range(len(test))])
    ys = torch.stack([test[i]["y"] for i in range(len(test))])
    x_mean, x_std = xs.mean(), xs.std()
    y_mean, y_std = ys.mean(), ys.std()
    model = FNO(1, 1, (12, 12), width=24, n_layers=4)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
    loss_fn = LpLoss(p=2)
    seen, t0 = 0, time.perf_counter()
    # training samples start after the test set's indices: no overlap
    with stream(
        "darcy",
        resolution=args.resolution,
        start=10_000,
        workers=1,
        chunk_size=16,
        solver="auto",
    ) as src:
        batch_x, batch_y = [], []
        for sample in src.xy():
            batch_x.append(torch.as_tensor(sample["x"]))
            batch_y.append(torch.as_tensor(sample["y"]))
            if len(batch_x) < 16:
                continue
            x = (torch.stack(batch_x) - x_mean) / x_std
            y = torch.stack(batch_y)
            opt.zero_grad()
            loss = loss_fn(model(x) * y_std + y_mean, y)
            loss.backward()
            opt.step()
            seen += len(batch_x)
            batch_x, batch_y = [], []
            if time.perf_counter() - t0 > args.train_seconds:
                break
    with torch.no_grad():
        err = loss_fn(model((xs - x_mean) / x_std) * y_std + y_mean, ys).item()
    print(
        f"online FNO: {seen} streamed samples in {time.perf_counter() - t0:.1f} s, "
        f"relative L2 on the {len(test)} generated samples: {err:.4f}",
        flush=True,
    )


def _run(config: DemoConfig) -> None:
    """Generate a Darcy dataset with SKR and three baselines, verify it, train an FNO online."""
    code = run_demo(config)
    if code:
        raise typer.Exit(code)


def _dry_run(config: DemoConfig) -> str:
    where = config.out or "a temporary folder"
    return (
        f"dry run: would generate {config.n} Darcy samples at {config.resolution}^2 four ways "
        f"on {config.workers} worker(s) into {where}, verify, and train an FNO online for "
        f"{config.train_seconds:g} s; nothing was run"
    )


#: ``pdeflow demo`` (mounted by :mod:`pdeflow.cli`).
demo_command = config_command(DemoConfig, _run, dry_run=_dry_run)
