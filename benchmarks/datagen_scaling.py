"""Dask scaling of ``pdeflow generate``: 1 worker against 2 workers on this machine.

    .venv/bin/python benchmarks/datagen_scaling.py            # darcy 128^2, 512 samples
    .venv/bin/python benchmarks/datagen_scaling.py --n 1024   # FNO's training-set size
    .venv/bin/python benchmarks/datagen_scaling.py --quick    # 192 samples

Only one cluster exists at a time: each timed run starts its ``LocalCluster`` (one
thread per worker process), warms it with a small untimed dataset, times ``generate`` on
it and closes it, so neither configuration shares the machine with the other's idle
processes and process start-up is not part of the figure.  The configurations alternate
(1, 2, 2, 1, ...) against drift of the machine's speed.  The same samples, the same
settings (``solver="auto"``), the same largest chunk; the ratio is median seconds with 1
worker / median seconds with 2 workers.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import CompareResult, Timing, write_results  # noqa: E402

TWO, ONE = "pdeflow", "1 Dask worker"  # the harness's convention: pdeflow's figure first


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="192 samples")
    ap.add_argument("--n", type=int, default=512, help="samples per run")
    ap.add_argument("--resolution", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    n = 192 if args.quick else args.n
    from dask.distributed import Client

    from pdeflow.datagen import generate
    from pdeflow.datagen.pipeline import local_cluster

    tmp = Path(tempfile.mkdtemp(prefix="pdeflow-bench-"))
    chunk = max(8, min(64, n // 16))

    def timed_run(workers: int) -> tuple[float, dict]:
        cluster = local_cluster(workers)
        client = Client(cluster)
        try:
            settings = {"family": "darcy", "resolution": args.resolution, "client": client}
            settings |= {"overwrite": True, "progress_mode": "off"}
            client.run(lambda: __import__("pdeflow.datagen.families.darcy"))
            generate(n=8 * workers, chunk_size=4, out=str(tmp / "warm.h5"), **settings)
            t0 = time.perf_counter()
            report = generate(n=n, chunk_size=chunk, out=str(tmp / f"w{workers}.h5"), **settings)
            return time.perf_counter() - t0, dict(report.methods)
        finally:
            client.close()
            cluster.close()

    samples: dict[str, list[float]] = {TWO: [], ONE: []}
    methods: dict[str, list[dict]] = {TWO: [], ONE: []}
    # alternating pairs (1, 2), (2, 1), (1, 2), ...; each run is warmed on its own cluster
    pairs = [(1, 2) if r % 2 == 0 else (2, 1) for r in range(args.repeats)]
    for workers in [w for pair in pairs for w in pair]:
        seconds, used = timed_run(workers)
        key = TWO if workers == 2 else ONE
        print(f"  {workers} worker(s): {seconds:.2f} s, samples per method {used}", flush=True)
        samples[key].append(seconds)
        methods[key].append(used)
    res = CompareResult(
        name=f"darcy {args.resolution}^2, {n} samples, chunks of at most {chunk}",
        timings={k: Timing(tuple(v)) for k, v in samples.items()},
        repeats=args.repeats,
        warmup=0,
        meta={"n": n, "resolution": args.resolution, "chunk_size": chunk, "methods": methods},
    )
    print(res.format())
    ratio = res.ratio(ONE)
    print(f"speedup 1 -> 2 workers: {ratio:.2f}x (goal >= 1.7x)")
    write_results("datagen_scaling", {"cases": [res], "speedup_1_to_2": ratio})


if __name__ == "__main__":
    main()
