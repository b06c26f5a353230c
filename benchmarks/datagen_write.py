"""HDF5 write path: pdeflow's ``DatasetWriter`` against raw h5py writing the same arrays.

    .venv/bin/python benchmarks/datagen_write.py

The arrays are generated once, before timing: 400 samples of two 128x128 fields, written
in chunks of 20 samples (as the pipeline does).  Raw h5py writes them into datasets with
the same dtype (float32), the same chunking (one sample per chunk) and the same
compression, with nothing else.  pdeflow also writes coordinates, per-sample statistics,
CRC32 checksums and the done/write-count flags, and flushes twice per sync of the done
flags (its crash safety; ``generate`` syncs once a second, and so does this benchmark).
Goal: pdeflow's throughput >= 80% of raw h5py (ratio raw seconds / pdeflow seconds >= 0.8).
The pipeline's own path is timed too: the workers compress
each chunk (``encode_chunk``, in parallel, not timed here) and the writer stores the bytes
with ``write_direct_chunk``.
"""

from __future__ import annotations

import functools
import sys
import tempfile
from pathlib import Path

import h5py
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import compare, write_results  # noqa: E402

from pdeflow.datagen import families  # noqa: E402
from pdeflow.datagen.families import ChunkResult  # noqa: E402
from pdeflow.datagen.pipeline import SYNC_SECONDS  # noqa: E402
from pdeflow.datagen.storage import WORKER_COMPRESSIONS, DatasetWriter, encode_chunk  # noqa: E402

N, S, CHUNK = 400, 128, 20


def _chunks(rng: np.random.Generator) -> list[ChunkResult]:
    out = []
    for k in range(0, N, CHUNK):
        idx = np.arange(k, k + CHUNK)
        # smooth-ish fields (like solutions), so compression does real work
        base = np.cumsum(rng.standard_normal((CHUNK, S, S)), axis=1) / S
        out.append(
            ChunkResult(
                idx,
                {"a": np.exp(base), "u": base**2},
                {},
                {
                    "iterations": np.full(CHUNK, 8.0),
                    "residual": np.full(CHUNK, 1e-9),
                    "time": np.full(CHUNK, 0.03),
                },
                "cg+amg",
            )
        )
    return out


def main() -> None:
    fam = families.get("darcy", resolution=S)
    chunks = _chunks(np.random.default_rng(0))
    tmp = Path(tempfile.mkdtemp(prefix="pdeflow-bench-"))
    nbytes = 2 * N * S * S * 4
    results = []
    for compression in ("lzf", "gzip", None):

        def ours(compression=compression, written=chunks, tag="ours") -> Path:
            path = tmp / f"{tag}-{compression}.h5"
            with DatasetWriter.create(
                path, fam, N, config={}, seed=0, compression=compression, overwrite=True
            ) as w:
                w.sync_seconds = SYNC_SECONDS  # as `generate` writes
                for c in written:
                    w.write(c)
                w.finish()
            return path

        def raw(compression=compression) -> Path:
            path = tmp / f"raw-{compression}.h5"
            with h5py.File(path, "w") as f:
                d = {
                    name: f.create_dataset(
                        name,
                        (N, S, S),
                        dtype="float32",
                        chunks=(1, S, S),
                        compression=compression,
                    )
                    for name in ("a", "u")
                }
                for c in chunks:
                    lo, hi = int(c.indices[0]), int(c.indices[-1]) + 1
                    for name in ("a", "u"):
                        d[name][lo:hi] = c.fields[name].astype(np.float32)
            return path

        encoded = None
        if compression in WORKER_COMPRESSIONS:
            # the pipeline's path: each worker compresses its own chunk (not timed here,
            # it runs in parallel on the workers); the writer stores the bytes as they are
            encoded = [
                encode_chunk(
                    ChunkResult(c.indices, dict(c.fields), {}, dict(c.stats), c.method),
                    "float32",
                    compression,
                )
                for c in chunks
            ]

        peers = {"raw h5py": raw}
        if encoded is not None:
            peers["pdeflow, chunks compressed on the workers"] = functools.partial(
                ours, written=encoded, tag="enc"
            )
        res = compare(
            f"write 2 x {N} x {S}^2 float32, compression={compression}",
            ours,
            peers,
            repeats=5,
            warmup=1,
            meta={"compression": compression, "megabytes": nbytes / 1e6},
        )
        share = res.timings["raw h5py"].median / res.timings["pdeflow"].median
        print(
            f"  pdeflow {nbytes / 1e6 / res.timings['pdeflow'].median:.0f} MB/s, raw h5py "
            f"{nbytes / 1e6 / res.timings['raw h5py'].median:.0f} MB/s: pdeflow at "
            f"{100 * share:.0f}% of raw (goal >= 80%)"
        )
        if encoded is not None:
            t_enc = res.timings["pdeflow, chunks compressed on the workers"].median
            print(
                f"  pipeline path (compressed on the workers): "
                f"{nbytes / 1e6 / t_enc:.0f} MB/s in the writer, "
                f"{100 * res.timings['raw h5py'].median / t_enc:.0f}% of raw h5py's time"
            )
        results.append(res)
    write_results("datagen_write", {"cases": results})


if __name__ == "__main__":
    main()
