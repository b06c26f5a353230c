"""Dask scaling of ``pdeflow generate``: 1 worker against 2 workers on this machine.

    .venv/bin/python benchmarks/datagen_scaling.py            # darcy 128^2, 512 samples
    .venv/bin/python benchmarks/datagen_scaling.py --quick    # 192 samples

Both clusters (``LocalCluster``, one thread per worker process) are started before timing
and kept warm, so the figure is the pipeline's own scaling (ordering, chunked solves,
writing), not process start-up.  The same samples, the same settings (``solver="auto"``),
the same chunk size; the ratio is seconds with 1 worker / seconds with 2 workers.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import compare, write_results  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--resolution", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    n = 192 if args.quick else 512
    from dask.distributed import Client

    from pdeflow.datagen import generate
    from pdeflow.datagen.pipeline import local_cluster

    tmp = Path(tempfile.mkdtemp(prefix="pdeflow-bench-"))
    clusters = {w: local_cluster(w) for w in (1, 2)}
    clients = {w: Client(c) for w, c in clusters.items()}
    chunk = max(8, n // 16)

    def run(workers: int):
        return generate(
            family="darcy",
            n=n,
            resolution=args.resolution,
            chunk_size=chunk,
            out=str(tmp / f"w{workers}.h5"),
            overwrite=True,
            client=clients[workers],
            progress_mode="off",
        )

    try:
        for c in clients.values():  # workers import pdeflow before timing
            c.run(lambda: __import__("pdeflow.datagen.families.darcy"))
        res = compare(
            f"darcy {args.resolution}^2, {n} samples, chunks of {chunk}",
            lambda: run(2),
            {"1 Dask worker": lambda: run(1)},
            repeats=args.repeats,
            warmup=1,
            meta={"n": n, "resolution": args.resolution, "chunk_size": chunk},
        )
    finally:
        for c in clients.values():
            c.close()
        for c in clusters.values():
            c.close()
    ratio = res.timings["1 Dask worker"].median / res.timings["pdeflow"].median
    print(f"speedup 1 -> 2 workers: {ratio:.2f}x (goal >= 1.7x)")
    write_results("datagen_scaling", {"cases": [res], "speedup_1_to_2": ratio})


if __name__ == "__main__":
    main()
