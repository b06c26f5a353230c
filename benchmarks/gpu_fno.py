"""FNO training-step time on CUDA with bf16 autocast and torch.compile: pdeflow vs neuraloperator.

Runs offline on a GPU machine (no network needed).  Prepare neuraloperator beforehand on a
machine with network access::

    pip download --no-deps -d wheels neuraloperator tensorly tensorly-torch opt-einsum configmypy
    pip install --no-deps --no-index --find-links wheels --target neuralop_site \\
        neuraloperator tensorly tensorly-torch opt-einsum configmypy

(or directly ``pip install --no-deps --target neuralop_site neuraloperator tensorly
tensorly-torch opt-einsum configmypy``), carry ``neuralop_site/`` to the GPU machine, and run::

    python benchmarks/gpu_fno.py --neuralop-path neuralop_site [--no-compile] [--out FILE.json]

Each case times one training step (zero_grad, forward under ``torch.autocast(bfloat16)``,
relative L2 loss, backward, AdamW step) of identical architectures, after warm-up steps
that include compilation; CUDA is synchronized around every timed step.  If neuraloperator
fails under bf16 autocast (its FFT receives bf16 tensors, which cuFFT rejects), it is
retried with ``fno_block_precision="mixed"``, then in fp32; the precision used is reported.
Goal: pdeflow >= 1.3x.  Peak memory is ``torch.cuda.max_memory_allocated`` per candidate.
Prints a table and a summary and writes JSON (``benchmarks/results/gpu_fno-*.json`` and
``--out`` if given).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import traceback
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import machine_info, write_results  # noqa: E402
from fno_peer import build_pair, import_neuralop, real_parameter_count  # noqa: E402

from pdeflow.operators.losses import LpLoss  # noqa: E402

CASES = [
    {
        "name": "2-D Darcy 85x85",
        "ndim": 2,
        "n": 85,
        "batch": 20,
        "width": 32,
        "modes": 12,
        "layers": 4,
    },
    {
        "name": "2-D 128x128",
        "ndim": 2,
        "n": 128,
        "batch": 32,
        "width": 64,
        "modes": 16,
        "layers": 4,
    },
    {"name": "1-D 4096", "ndim": 1, "n": 4096, "batch": 64, "width": 64, "modes": 32, "layers": 4},
    {"name": "3-D 48^3", "ndim": 3, "n": 48, "batch": 4, "width": 32, "modes": 12, "layers": 4},
]


def make_step(model, case, compile_: bool, amp: bool):
    device = torch.device("cuda")
    torch.manual_seed(0)
    shape = (case["batch"], 1) + (case["n"],) * case["ndim"]
    x = torch.randn(shape, device=device)
    y = torch.randn(shape, device=device)
    model = model.to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    fwd = torch.compile(model) if compile_ else model
    loss_fn = LpLoss()

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
            out = fwd(x)
        loss = loss_fn(out.float(), y)
        loss.backward()
        opt.step()
        return loss

    return step


def time_steps(step, warmup: int, repeats: int) -> tuple[list[float], int]:
    for _ in range(warmup):
        step()
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(repeats):
        torch.cuda.synchronize()
        t = time.perf_counter()
        step()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    return times, torch.cuda.max_memory_allocated()


def run_candidate(build, case, args, precisions):
    """Try each (label, amp, extra-kwargs) precision until one runs; returns a result dict."""
    errors = []
    for label, amp, kwargs in precisions:
        try:
            torch.cuda.empty_cache()
            torch._dynamo.reset()
            model = build(**kwargs)
            step = make_step(model, case, not args.no_compile, amp)
            times, peak = time_steps(step, args.warmup, args.repeats)
            return {
                "precision": label,
                "compile": not args.no_compile,
                "median_s": statistics.median(times),
                "samples_s": times,
                "peak_bytes": peak,
                "real_parameters": real_parameter_count(model),
                "errors": errors,
            }
        except Exception as exc:  # report and fall back, never hide
            errors.append(f"{label}: {type(exc).__name__}: {exc}".splitlines()[0][:300])
            traceback.print_exc(limit=2)
    return {"precision": None, "errors": errors}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--neuralop-path", default=None, help="folder holding neuralop")
    parser.add_argument("--no-compile", action="store_true")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--cases", default="all", help="comma-separated case indices or 'all'")
    parser.add_argument("--out", default=None, help="also write the JSON here")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("SKIP: CUDA is not available")
        return
    peer, how = import_neuralop(args.neuralop_path, install=args.neuralop_path is None)
    print(f"device: {torch.cuda.get_device_name()}; peer: {how}", flush=True)
    cases = CASES if args.cases == "all" else [CASES[int(i)] for i in args.cases.split(",")]
    rows, summary = [], []
    for case in cases:
        dims = (case["ndim"], case["width"], case["modes"], case["layers"])

        def ours_build(dims=dims, **kw):
            return build_pair(None, *dims)[0]

        def theirs_build(case=case, **kw):
            n_modes = (2 * case["modes"],) * (case["ndim"] - 1) + (2 * case["modes"] - 1,)
            return peer(
                n_modes=n_modes,
                in_channels=1,
                out_channels=1,
                hidden_channels=case["width"],
                n_layers=case["layers"],
                **kw,
            )

        ours = run_candidate(ours_build, case, args, [("bf16", True, {})])
        theirs = {"precision": None, "errors": [how]}
        if peer is not None:
            theirs = run_candidate(
                theirs_build,
                case,
                args,
                [
                    ("bf16", True, {}),
                    ("bf16+mixed-fno-block", True, {"fno_block_precision": "mixed"}),
                    ("fp32", False, {}),
                ],
            )
        row = {"case": case, "pdeflow": ours, "neuraloperator": theirs}
        if ours.get("median_s") and theirs.get("median_s"):
            ratio = theirs["median_s"] / ours["median_s"]
            row["ratio"] = ratio
            verdict = "PASS" if ratio >= 1.3 else "MISS"
            line = (
                f"{case['name']}: pdeflow {ours['median_s'] * 1e3:.2f} ms ({ours['precision']}), "
                f"neuraloperator {theirs['median_s'] * 1e3:.2f} ms ({theirs['precision']}), "
                f"ratio {ratio:.2f}x (goal >= 1.3x) {verdict}; peak MiB "
                f"{ours['peak_bytes'] / 2**20:.0f} / {theirs['peak_bytes'] / 2**20:.0f}; params "
                f"{ours['real_parameters']:,} / {theirs['real_parameters']:,}"
            )
        else:
            line = f"{case['name']}: incomplete; errors {ours['errors'] + theirs['errors']}"
        print(line, flush=True)
        summary.append(line)
        rows.append(row)
    print("\n".join(["== summary", *summary]))
    payload = {"peer": how, "compile": not args.no_compile, "cases": rows, "summary": summary}
    write_results("gpu_fno", payload)
    if args.out:
        Path(args.out).write_text(json.dumps({"machine": machine_info(), **payload}, indent=2))


if __name__ == "__main__":
    main()
