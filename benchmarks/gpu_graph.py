"""GPU check of pdeflow's point-cloud kernels: radius_graph and chamfer_distance, GPU vs CPU.

Two cases, each timed on the GPU and on the CPU in the same run, with identical results
checked before anything is timed:

* ``radius_graph`` on 1M uniform points in 3-D (about 20 neighbours each): the torch cell
  list on a CUDA tensor vs the cKDTree backend on the CPU. Goal: GPU at least 10x faster.
  The edge sets must be identical.
* ``chamfer_distance`` of two 100k-point clouds (float32): CUDA vs the same code on the
  CPU (all cores). Goal: GPU at least 10x faster. The values must agree to 1e-4
  (relative). Reports the peak CUDA memory, which stays far below the 40 GB that a full
  100k x 100k float32 matrix would need.

Without a CUDA GPU the script says so and exits with status 0. ``--smoke`` runs tiny sizes
with the torch backend on the CPU standing in for the GPU, to check the script itself.

Run (GPU machine)::

    python benchmarks/gpu_graph.py [--points 1000000] [--cloud 100000] [--repeats 3]

Expect a few minutes: the CPU side of the chamfer case (1e10 distances) takes tens of
seconds per call, and runs three times (one warm-up, two timed).
"""

from __future__ import annotations

import argparse
import math
import sys

import numpy as np
import torch
from _harness import compare, write_results

from pdeflow.meshes import radius_graph
from pdeflow.operators.losses import chamfer_distance

GOAL = 10.0  # CPU time / GPU time, at least


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def radius_case(n: int, device: torch.device, repeats: int) -> dict:
    rng = np.random.default_rng(0)
    x = rng.random((n, 3))
    r = (20.0 / (n * 4.0 / 3.0 * math.pi)) ** (1.0 / 3.0)
    xd = torch.from_numpy(x).to(device)

    def on_device():
        out = radius_graph(xd, r, method="torch")
        _sync(device)
        return out

    def check(ours: torch.Tensor, theirs: np.ndarray) -> None:
        if not np.array_equal(ours.cpu().numpy(), theirs):
            raise AssertionError(f"edges differ: {tuple(ours.shape)} vs {theirs.shape}")

    result = compare(
        f"radius_graph, {n} points in 3-D, r={r:.4g} ({device.type} cell list vs CPU cKDTree)",
        on_device,
        {"CPU (cKDTree backend)": lambda: radius_graph(x, r)},
        repeats=repeats,
        warmup=1,
        check=check,
        meta={"n": n, "r": r, "device": str(device)},
    )
    return {"result": result, "ratio": result.ratio("CPU (cKDTree backend)")}


def chamfer_case(n: int, device: torch.device, repeats: int) -> dict:
    gen = torch.Generator().manual_seed(0)
    x, y = torch.rand(n, 3, generator=gen), torch.rand(n, 3, generator=gen) + 0.01
    xd, yd = x.to(device), y.to(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)

    def on_device():
        out = chamfer_distance(xd, yd)
        _sync(device)
        return out

    def check(ours: torch.Tensor, theirs: torch.Tensor) -> None:
        a, b = float(ours), float(theirs)
        if not math.isclose(a, b, rel_tol=1e-4):
            raise AssertionError(f"chamfer values differ: {a} vs {b}")

    result = compare(
        f"chamfer_distance, {n} x {n} points in 3-D, float32 ({device.type} vs CPU)",
        on_device,
        {"CPU (same code)": lambda: chamfer_distance(x, y)},
        repeats=repeats,
        warmup=1,
        check=check,
        meta={"n": n, "device": str(device)},
    )
    peak = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None
    return {"result": result, "ratio": result.ratio("CPU (same code)"), "peak_bytes": peak}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000, help="radius_graph points")
    parser.add_argument("--cloud", type=int, default=100_000, help="chamfer points per cloud")
    parser.add_argument("--repeats", type=int, default=3, help="radius_graph timed repeats")
    parser.add_argument(
        "--chamfer-repeats", type=int, default=2, help="chamfer repeats (the CPU side is slow)"
    )
    parser.add_argument(
        "--smoke", action="store_true", help="tiny sizes, torch on the CPU as the 'GPU'"
    )
    args = parser.parse_args()
    if args.smoke:
        device = torch.device("cpu")
        args.points, args.cloud, args.repeats, args.chamfer_repeats = 20_000, 3_000, 1, 1
    elif torch.cuda.is_available():
        device = torch.device("cuda")
    else:
        print(
            "gpu_graph: no CUDA GPU here (torch.cuda.is_available() is False); nothing "
            "measured. Run this script on a GPU machine, or with --smoke to check it on the CPU."
        )
        sys.exit(0)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU (smoke)"
    print(f"device: {name}; CPU threads: {torch.get_num_threads()}", flush=True)
    radius = radius_case(args.points, device, args.repeats)
    chamfer = chamfer_case(args.cloud, device, args.chamfer_repeats)
    lines = []
    for label, case in (("radius_graph", radius), ("chamfer_distance", chamfer)):
        verdict = "PASS" if case["ratio"] >= GOAL else "MISS"
        lines.append(
            f"{label}: GPU {case['ratio']:.1f}x faster than CPU (goal >= {GOAL:g}x) {verdict}"
        )
    if chamfer["peak_bytes"] is not None:
        lines.append(f"chamfer_distance peak CUDA memory: {chamfer['peak_bytes'] / 2**20:.0f} MiB")
    if args.smoke:
        lines.append("smoke run: torch on the CPU stood in for the GPU; the ratios mean nothing")
    print("\n".join(["== summary", *lines]))
    write_results(
        "gpu_graph" + ("_smoke" if args.smoke else ""),
        {
            "device": name,
            "cases": [radius["result"], chamfer["result"]],
            "ratios_cpu_over_gpu": {"radius_graph": radius["ratio"], "chamfer": chamfer["ratio"]},
            "chamfer_peak_cuda_bytes": chamfer["peak_bytes"],
            "goal_at_least": GOAL,
            "summary": lines,
        },
    )


if __name__ == "__main__":
    main()
