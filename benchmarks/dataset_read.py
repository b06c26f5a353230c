"""Read path: ``open_dataset(path)[i]`` (every sample checked against its CRC-32) against raw
h5py reads of the same fields.

    .venv/bin/python benchmarks/dataset_read.py

A 256-sample darcy 64x64 file (two float32 fields, gzip, as ``generate`` writes it) is
read item by item, as a ``DataLoader`` worker does.  Raw h5py reads the same two rows per
item from dataset handles opened once, with no check and no tensor.  pdeflow also checks
each row's CRC-32 (a damaged sample raises ``DataError`` instead of reaching training),
stacks the fields as channels and returns torch tensors.  The third candidate is raw h5py
plus the same CRC-32 check, so the check's own share is the gap between the two raw rows.
"""

from __future__ import annotations

import sys
import tempfile
import zlib
from pathlib import Path

import h5py
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import compare, write_results  # noqa: E402

from pdeflow.datagen import generate, open_dataset  # noqa: E402

N, S = 256, 64


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "darcy.h5"
        generate(family="darcy", n=N, resolution=S, solver="direct", out=path, workers=2,
                 executor="processes", progress_mode="off")  # fmt: skip
        ds = open_dataset(path)
        f = h5py.File(path, "r", locking=False)
        a, u = f["fields/a"], f["fields/u"]
        crc_a, crc_u = f["checksums/a"][...], f["checksums/u"][...]

        def pdeflow_read() -> np.ndarray:
            return np.stack([ds[i]["y"].numpy()[0] for i in range(N)])

        def raw_read() -> np.ndarray:
            out = []
            for i in range(N):
                a[i]
                out.append(u[i])
            return np.stack(out)

        def raw_crc_read() -> np.ndarray:
            out = []
            for i in range(N):
                for ds_, sums in ((a, crc_a), (u, crc_u)):
                    row = ds_[i]
                    if zlib.crc32(row) != sums[i]:
                        raise AssertionError(i)
                out.append(row)
            return np.stack(out)

        def check(mine: np.ndarray, peer: np.ndarray) -> None:
            np.testing.assert_array_equal(mine, peer)

        result = compare(
            f"read {N} items of darcy {S}x{S} (2 fields)",
            pdeflow_read,
            {"raw h5py (no checksum)": raw_read, "raw h5py + CRC-32": raw_crc_read},
            repeats=9,
            warmup=1,
            check=check,
            meta={"n": N, "resolution": S, "compression": "gzip"},
        )
        f.close()
        ds.close()
    write_results("dataset_read", {"cases": [result]})


if __name__ == "__main__":
    main()
