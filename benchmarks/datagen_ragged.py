"""Ragged write (#21): point clouds of 5k-20k points against the same bytes as fixed shapes.

    .venv/bin/python benchmarks/datagen_ragged.py            # 2,000 clouds (the figure)
    .venv/bin/python benchmarks/datagen_ragged.py --n 200    # a quick run

Both families run through :func:`pdeflow.datagen.generate` with 2 workers, the same
compression, in one process, with interleaved repeats:

* ``ragged``: sample ``i`` has ``n_i`` points, ``n_i`` uniform in [5000, 20000]: float32
  positions ``(n_i, 3)``, int32 types ``(n_i,)`` and a float32 output ``(n_i,)``, stored as
  ragged fields (concatenated rows plus offsets, layout v2);
* ``fixed``: every sample has 12,500 points (the mean of ``n_i``), the same three fields
  as fixed-shape fields, so both files hold the same bytes on average.

Throughput is field bytes written per second of the run (cluster start-up excluded); the
ratio ragged / fixed must be at least 0.8.  JSON goes to ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import write_results  # noqa: E402

from pdeflow.datagen.families import FieldSpec, PointwiseFamily, SampleReport  # noqa: E402

N_MIN, N_MAX = 5_000, 20_000
N_FIXED = (N_MIN + N_MAX) // 2


@dataclass(frozen=True)
class RaggedClouds(PointwiseFamily):
    """Point clouds of ``n_i`` in [5000, 20000] points."""

    name = "bench-ragged-clouds"
    seed: int = 0

    def fields(self) -> dict[str, FieldSpec]:
        return {
            "pos": FieldSpec("pos", (None, 3), "input", ("p", "d"), dtype="float32",
                             ragged=True),
            "types": FieldSpec("types", (None,), "input", ("p",), dtype="int32", ragged=True),
            "r": FieldSpec("r", (None,), "output", ("p",), dtype="float32", ragged=True),
        }

    def coords(self) -> dict[str, np.ndarray]:
        return {}

    def _size(self, rng: np.random.Generator) -> int:
        return int(rng.integers(N_MIN, N_MAX + 1))

    def sample(self, i: int) -> dict[str, Any]:
        rng = self.rng(i)
        n = self._size(rng)
        return {
            "pos": rng.random((n, 3), dtype=np.float32),
            "types": rng.integers(0, 8, n, dtype=np.int32),
        }

    def solve_one(self, sample: dict[str, Any]) -> tuple[dict[str, np.ndarray], SampleReport]:
        r = np.sqrt((sample["pos"] ** 2).sum(axis=1))
        return {"r": r.astype(np.float32)}, SampleReport(iterations=1)


@dataclass(frozen=True)
class FixedClouds(RaggedClouds):
    """The same fields with every sample at the mean size (fixed-shape fields)."""

    name = "bench-fixed-clouds"

    def fields(self) -> dict[str, FieldSpec]:
        return {
            "pos": FieldSpec("pos", (N_FIXED, 3), "input", ("p", "d"), dtype="float32"),
            "types": FieldSpec("types", (N_FIXED,), "input", ("p",), dtype="int32"),
            "r": FieldSpec("r", (N_FIXED,), "output", ("p",), dtype="float32"),
        }

    def _size(self, rng: np.random.Generator) -> int:
        rng.integers(N_MIN, N_MAX + 1)  # same random stream as the ragged family
        return N_FIXED


def _field_bytes(path: Path) -> int:
    import h5py

    with h5py.File(path, "r") as f:
        total = 0
        for ds in f["fields"].values():
            total += ds.size * ds.dtype.itemsize
        for g in (f["ragged"].values() if "ragged" in f else ()):
            off = g["offsets"][...]
            row = int(np.prod(g["data"].shape[1:])) * g["data"].dtype.itemsize
            total += int((off[:, 1] - off[:, 0]).sum()) * row
    return total


def _run(obj: str, n: int, out: Path, args: argparse.Namespace) -> dict[str, float]:
    from pdeflow.datagen import generate
    from pdeflow.datagen.storage import verify

    report = generate(
        family=f"{Path(__file__).resolve()}:{obj}", n=n, out=str(out), workers=args.workers,
        executor=args.executor, compression=args.compression, overwrite=True,
        progress_mode="off",
    )  # fmt: skip
    seconds = report.seconds - report.startup_seconds
    assert verify(out).ok
    nbytes = _field_bytes(out)
    out.unlink()
    return {"seconds": seconds, "bytes": nbytes, "mb_per_s": nbytes / 1e6 / seconds}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=2000, help="point clouds per run")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--executor", default="processes", choices=["processes", "dask"])
    p.add_argument("--compression", default="none", choices=["none", "gzip", "lzf"])
    args = p.parse_args()
    runs: dict[str, list[dict[str, float]]] = {"ragged": [], "fixed": []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            order = ["ragged", "fixed"] if r % 2 == 0 else ["fixed", "ragged"]
            for kind in order:
                obj = "RaggedClouds" if kind == "ragged" else "FixedClouds"
                res = _run(obj, args.n, Path(tmp) / f"{kind}.h5", args)
                runs[kind].append(res)
                print(f"  {kind:<6} {res['bytes'] / 1e6:8.1f} MB in {res['seconds']:6.2f} s: "
                      f"{res['mb_per_s']:7.1f} MB/s")
    med = {k: statistics.median(x["mb_per_s"] for x in v) for k, v in runs.items()}
    ratio = med["ragged"] / med["fixed"]
    print(f"{args.n} point clouds of {N_MIN}-{N_MAX} points, {args.workers} workers "
          f"({args.executor}, compression {args.compression}): ragged {med['ragged']:.1f} "
          f"MB/s, fixed {med['fixed']:.1f} MB/s; ragged/fixed throughput {ratio:.2f} "
          f"(goal >= 0.8)")
    write_results("datagen_ragged", {
        "n": args.n, "workers": args.workers, "executor": args.executor,
        "compression": args.compression, "runs": runs, "median_mb_per_s": med,
        "ratio_ragged_over_fixed": ratio, "goal": 0.8,
    })  # fmt: skip


if __name__ == "__main__":
    main()
