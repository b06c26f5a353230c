"""Dataset generation throughput: ``pdeflow generate darcy`` against a PDEBench-style script.

    .venv/bin/python benchmarks/datagen_throughput.py            # 6 cases, ~12 min
    .venv/bin/python benchmarks/datagen_throughput.py --quick    # darcy 128^2 only

The peer is what PDEBench's generators do: a ``multiprocessing.Pool`` solves each sample
independently with scipy's sparse direct solver (``spsolve``) and the main process appends
every finished sample to resizable HDF5 datasets.  Both sides

* solve the same samples of the same family with the same assembly code: ``darcy``
  (``-div(K grad u) = 1``, ``K = exp(GRF)``, cell-centred finite volumes) at 64^2, 128^2
  and 256^2, and ``darcy-fno`` (FNO's data: thresholded GRF, solved at 421^2 nodes and
  subsampled to 85^2),
* use 2 processes with one BLAS thread each,
* write float32, lzf-compressed, one sample per chunk,

and are timed end to end in one process, interleaved, start-up included (pdeflow's default
embedded Dask cluster, the peer's Pool).  pdeflow runs with its defaults
(``--solver auto``; ``--executor processes`` times the process pool instead).  The ratio
is peer seconds / pdeflow seconds (samples/s ratio).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import h5py  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import compare, write_results  # noqa: E402


def _peer_solve(args: tuple[str, dict, int]) -> tuple[int, dict, dict]:
    """One sample, PDEBench style: sample, assemble, scipy spsolve."""
    import scipy.sparse.linalg as spla

    from pdeflow.datagen import families

    name, options, i = args
    fam = families.get(name, **options)
    s = fam.sample(i)
    A, b = fam.assemble(s)
    x = spla.spsolve(A.tocsc(), b)
    return i, {k: s[k] for k in fam.inputs}, fam.to_outputs(s, x)


def pdebench_style(name: str, options: dict, n: int, path: Path, processes: int = 2) -> Path:
    """Pool.imap over the samples; the parent appends each result to HDF5."""
    from pdeflow.datagen import families

    specs = families.get(name, **options).fields()
    with h5py.File(path, "w") as f:
        dsets = {
            k: f.create_dataset(
                k,
                (0, *spec.shape),
                maxshape=(None, *spec.shape),
                chunks=(1, *spec.shape),
                dtype="float32",
                compression="lzf",
            )
            for k, spec in specs.items()
        }
        jobs = ((name, options, i) for i in range(n))
        with mp.get_context("fork").Pool(processes) as pool:
            for i, inputs, outputs in pool.imap(_peer_solve, jobs):
                for k, value in {**inputs, **outputs}.items():
                    d = dsets[k]
                    d.resize(d.shape[0] + 1, axis=0)
                    d[-1] = value
                assert i == dsets[k].shape[0] - 1
    return path


def pdeflow_generate(
    name: str, options: dict, n: int, path: Path, workers: int = 2, executor: str = "auto"
) -> Path:
    from pdeflow.datagen import generate

    generate(
        family=name,
        executor=executor,
        n=n,
        workers=workers,
        out=str(path),
        overwrite=True,
        progress_mode="off",
        resolution=options.get("resolution"),
        options={k: v for k, v in options.items() if k != "resolution"},
    )
    return path


def _check(ours: Path, peer: Path) -> None:
    with h5py.File(ours, "r") as f, h5py.File(peer, "r") as g:
        a, u = f["fields/a"][:], f["fields/u"][:].astype(float)
        np.testing.assert_allclose(a, g["a"][:], rtol=1e-6)
        ref = g["u"][:].astype(float)
        err = np.linalg.norm(u - ref, axis=(1, 2)) / np.linalg.norm(ref, axis=(1, 2))
        assert err.max() < 1e-5, f"solutions differ: max relative difference {err.max():.2e}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument(
        "--executor", default="auto", help="pdeflow's executor: auto (the default), processes, dask"
    )
    ap.add_argument("--cases", default=None, help="darcy cases RES:N[,RES:N...], e.g. 128:1024")
    args = ap.parse_args()
    # the goal is judged on dataset-sized runs (PDEBench's Darcy sets hold 10,000 samples);
    # the 256-sample runs take 1-6 s, where the cluster's start-up and the scheduler weigh
    cases = [
        ("darcy", {"resolution": 64}, 256),
        ("darcy", {"resolution": 64}, 1024),
        ("darcy", {"resolution": 128}, 256),
        ("darcy", {"resolution": 128}, 1024),
        ("darcy", {"resolution": 256}, 128),
        ("darcy-fno", {"resolution": 85, "solve_resolution": 421}, 48),
    ]
    if args.quick:
        cases = cases[2:3]
    if args.cases:
        cases = []
        for spec in args.cases.split(","):
            res, n = (int(v) for v in spec.split(":"))
            cases.append(("darcy", {"resolution": res}, n))
    tmp = Path(tempfile.mkdtemp(prefix="pdeflow-bench-"))
    results = []
    for k, (name, options, n) in enumerate(cases):
        ours, peer = tmp / f"ours-{k}.h5", tmp / f"peer-{k}.h5"
        res = compare(
            f"{name} {options}, {n} samples, 2 processes",
            lambda name=name, options=options, n=n, ours=ours: pdeflow_generate(
                name, options, n, ours, executor=args.executor
            ),
            {
                "PDEBench-style Pool + spsolve + h5py append": (
                    lambda name=name, options=options, n=n, peer=peer: pdebench_style(
                        name, options, n, peer
                    )
                )
            },
            repeats=args.repeats,
            warmup=0,
            check=_check,
            meta={
                "family": name,
                "options": options,
                "n": n,
                "processes": 2,
                "executor": args.executor,
            },
        )
        t = res.timings
        for key, timing in t.items():
            print(f"  {key}: {n / timing.median:.1f} samples/s")
        results.append(res)
    write_results("datagen_throughput", {"cases": results})


if __name__ == "__main__":
    main()
