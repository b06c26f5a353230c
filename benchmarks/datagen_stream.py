"""Online streaming against writing to disk: samples/s delivered to a consumer.

    .venv/bin/python benchmarks/datagen_stream.py

The same generation (``darcy``, 64^2, 256 samples, 2 worker processes, ``solver="auto"``) is
run twice, interleaved: ``pdeflow.datagen.stream`` delivering every sample to a consumer
loop (FIFO buffer, nothing on disk), and ``pdeflow.datagen.generate`` writing the samples
to an HDF5 file.  Both include their process start-up.  The table's ratio is disk seconds /
stream seconds.  The stream's own statistics (producer and consumer waits) are printed.
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
    ap.add_argument("--n", type=int, default=256)
    ap.add_argument("--resolution", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    from pdeflow.datagen import generate, stream

    tmp = Path(tempfile.mkdtemp(prefix="pdeflow-bench-"))
    stats: list[dict] = []

    def online() -> int:
        count = 0
        with stream(
            "darcy",
            n=args.n,
            resolution=args.resolution,
            workers=2,
            executor="process",
            chunk_size=32,
            buffer_size=128,
            solver="auto",
        ) as s:
            for _sample in s:
                count += 1
            stats.append(s.stats())
        assert count == args.n
        return count

    def disk() -> int:
        rep = generate(
            family="darcy",
            n=args.n,
            resolution=args.resolution,
            workers=2,
            chunk_size=32,
            out=str(tmp / "disk.h5"),
            overwrite=True,
            progress_mode="off",
        )
        return rep.written

    res = compare(
        f"darcy {args.resolution}^2, {args.n} samples, 2 workers",
        online,
        {"generate to HDF5": disk},
        repeats=args.repeats,
        warmup=0,
        meta={"n": args.n, "resolution": args.resolution},
    )
    for key, t in res.timings.items():
        print(f"  {key}: {args.n / t.median:.1f} samples/s delivered")
    last = stats[-1]
    print(
        "  stream: producer waited {:.2f} s, consumer waited {:.2f} s".format(
            last.get("producer_wait_s", float("nan")), last.get("consumer_wait_s", float("nan"))
        )
    )
    write_results("datagen_stream", {"cases": [res], "stream_stats": stats})


if __name__ == "__main__":
    main()
