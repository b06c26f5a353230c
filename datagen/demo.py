"""``make demo``: generate a Darcy dataset with SKR on a local Dask cluster, then learn from it.

Run as ``python -m pdeflow.datagen.demo [--n 256] [--resolution 64] [--workers 2]``.

1. ``generate("darcy", solver="skr")``: the SKR paper's Darcy form (``K = exp(GRF)``,
   no preconditioner, GCRO-DR(40, 20) recycling inside each chunk, samples sorted first) on
   a local cluster of ``workers`` processes, into an HDF5 file;
2. the same generation with plain GMRES(40) on the same cluster (the paper's baseline), to
   report the speedup;
3. ``pdeflow dataset verify`` on the file;
4. a small FNO trained online from the solver stream (:func:`pdeflow.datagen.stream`) for a
   few seconds, and its relative L2 error on the generated file.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

__all__ = ["main"]


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m pdeflow.datagen.demo", description=__doc__)
    p.add_argument("--n", type=int, default=256, help="samples (default 256)")
    p.add_argument("--resolution", type=int, default=64, help="cells per axis (default 64)")
    p.add_argument("--workers", type=int, default=2, help="Dask worker processes (default 2)")
    p.add_argument("--out", type=Path, default=None, help="HDF5 file (default: a temp dir)")
    p.add_argument("--train-seconds", type=float, default=40.0, help="online FNO budget")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the demo; returns the exit code."""
    args = _parse(argv)
    from dask.distributed import Client

    from .pipeline import generate, local_cluster
    from .storage import verify

    out = args.out or Path(tempfile.mkdtemp(prefix="pdeflow-demo-")) / "darcy.h5"
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
        baseline = out.with_name(out.stem + "-gmres.h5")
        gm = generate(solver="gmres", out=str(baseline), overwrite=True, client=client, **common)
        baseline.unlink(missing_ok=True)
    finally:
        client.close()
        cluster.close()
    rep = verify(out)
    speed = gm.seconds / skr.seconds
    solve_speed = gm.solve_seconds / skr.solve_seconds
    print(
        f"speedup over plain GMRES(40): {speed:.2f}x end to end "
        f"({gm.seconds:.2f} s -> {skr.seconds:.2f} s), {solve_speed:.2f}x in solver time; "
        f"{gm.mean_iterations:.0f} -> {skr.mean_iterations:.0f} iterations/sample",
        flush=True,
    )
    print(f"verify: {'ok' if rep.ok else 'FAILED'} ({rep.n_done}/{rep.n_samples} samples)")
    if args.train_seconds > 0:
        _train_online(out, args)
    print(f"dataset: {out}")
    print(f"demo total: {time.perf_counter() - t0:.1f} s")
    return 0 if rep.ok else 1


def _train_online(path: Path, args: argparse.Namespace) -> None:
    """A small FNO trained from the live solver stream, tested on the generated file."""
    import torch

    from pdeflow.operators import FNO
    from pdeflow.operators.losses import LpLoss

    from .dataset import open_dataset
    from .stream import stream

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


if __name__ == "__main__":
    raise SystemExit(main())
