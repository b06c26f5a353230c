"""FNO training-step time on the CPU: pdeflow vs neuraloperator, side by side.

    .venv/bin/python benchmarks/fno_speed.py            # ~1-3 min on a quiet 2-core machine
    .venv/bin/python benchmarks/fno_speed.py --quick    # smaller grids
    .venv/bin/python benchmarks/fno_speed.py --neuralop-path DIR   # pre-installed peer

One training step = zero_grad, forward, relative L2 loss, backward, AdamW step, on identical
architectures (width, modes, layers, lifting/projection, channel MLP, batch); see
``fno_peer.build_pair``.  neuraloperator is installed for this benchmark only (into a
temporary folder, never into the project).  Both run on the same number of torch threads
(``--threads``, default 1: on a shared machine extra threads add noise, not speed).  Goal:
pdeflow >= 1.0x neuraloperator.  Peak memory is the RSS high-water mark of a fresh process
running a few steps (minus its size before the steps).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import compare, peak_memory, write_results  # noqa: E402
from fno_peer import build_pair, import_neuralop, real_parameter_count  # noqa: E402

from pdeflow.operators.losses import LpLoss  # noqa: E402

CASES = {
    "full": [
        {
            "name": "2-D 64x64",
            "ndim": 2,
            "n": 64,
            "batch": 8,
            "width": 32,
            "modes": 12,
            "layers": 4,
        },
        {
            "name": "1-D 1024",
            "ndim": 1,
            "n": 1024,
            "batch": 16,
            "width": 64,
            "modes": 16,
            "layers": 4,
        },
        {"name": "3-D 24^3", "ndim": 3, "n": 24, "batch": 2, "width": 16, "modes": 6, "layers": 4},
    ],
    "quick": [
        {"name": "2-D 32x32", "ndim": 2, "n": 32, "batch": 8, "width": 32, "modes": 8, "layers": 4},
        {
            "name": "1-D 256",
            "ndim": 1,
            "n": 256,
            "batch": 16,
            "width": 32,
            "modes": 16,
            "layers": 4,
        },
    ],
}


def make_step(model, case):
    torch.manual_seed(0)
    shape = (case["batch"], 1) + (case["n"],) * case["ndim"]
    x, y = torch.randn(shape), torch.randn(shape)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    loss_fn = LpLoss()

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return float(loss.detach())

    return step


def memory_probe(which: str, case: dict, neuralop_path: str | None, threads: int) -> None:
    """Run in a fresh process by ``peak_memory(method="rss")``: build one model, 3 steps."""
    torch.set_num_threads(threads)
    peer, _ = import_neuralop(neuralop_path, install=False)
    ours, theirs = build_pair(peer, case["ndim"], case["width"], case["modes"], case["layers"])
    step = make_step(ours if which == "pdeflow" else theirs, case)
    for _ in range(3):
        step()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--neuralop-path", default=None)
    parser.add_argument("--no-memory", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    peer, how = import_neuralop(args.neuralop_path)
    if peer is None:
        print(f"SKIP: neuraloperator unavailable: {how}")
        return
    print(f"peer: {how}; torch {torch.__version__}, {args.threads} thread(s)", flush=True)
    neuralop_path = str(Path(sys.modules["neuralop"].__file__).parent.parent)
    results, summary = [], []
    for case in CASES["quick" if args.quick else "full"]:
        ours, theirs = build_pair(peer, case["ndim"], case["width"], case["modes"], case["layers"])
        params = {
            "pdeflow": real_parameter_count(ours),
            "neuraloperator": real_parameter_count(theirs),
        }
        meta = {"case": case, "threads": args.threads, "real_parameters": params}
        res = compare(
            f"FNO train step, {case['name']}, batch {case['batch']}, width {case['width']}, "
            f"modes {case['modes']}, {case['layers']} layers",
            make_step(ours, case),
            {"neuraloperator": make_step(theirs, case)},
            repeats=args.repeats,
            warmup=1,
            meta=meta,
        )
        if not args.no_memory:
            mem = {
                w: peak_memory(memory_probe, w, case, neuralop_path, args.threads, method="rss")
                for w in ("pdeflow", "neuraloperator")
            }
            meta["peak_memory"] = {w: m.to_dict() for w, m in mem.items()}
            print(
                "peak memory (step growth): "
                + ", ".join(f"{w} {m.delta_bytes / 2**20:.1f} MiB" for w, m in mem.items())
            )
        ratio = res.ratio("neuraloperator")
        verdict = "PASS" if ratio >= 1.0 else "MISS"
        line = (
            f"{case['name']}: ratio {ratio:.2f}x (goal >= 1.0x) {verdict}; real parameters "
            f"pdeflow {params['pdeflow']:,} / neuraloperator {params['neuraloperator']:,}"
        )
        print(line, flush=True)
        summary.append(line)
        results.append(res)
    print("\n".join(["== summary", *summary]))
    write_results("fno_speed", {"peer": how, "cases": results, "summary": summary})


if __name__ == "__main__":
    main()
