"""Where one FNO training step spends its time on CUDA (torch.profiler), eager and compiled.

    python benchmarks/gpu_fno_profile.py [--n 85 --batch 20 --width 32 --modes 12]

Prints the step time and the top operators by CUDA and by CPU time, so a GPU session can see
whether the step is launch-bound (many short kernels), sync-bound or compute-bound.
"""

from __future__ import annotations

import argparse
import time

import torch

from pdeflow.operators import FNO
from pdeflow.operators.losses import LpLoss


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=85)
    ap.add_argument("--batch", type=int, default=20)
    ap.add_argument("--width", type=int, default=32)
    ap.add_argument("--modes", type=int, default=12)
    args = ap.parse_args()
    if not torch.cuda.is_available():
        print("SKIP: CUDA is not available")
        return
    dev = torch.device("cuda")
    x = torch.randn(args.batch, 1, args.n, args.n, device=dev)
    y = torch.randn_like(x)
    for compiled in (False, True):
        step = _make_step(args, x, y, compiled)
        for _ in range(5):
            step()
        torch.cuda.synchronize()
        t = time.perf_counter()
        for _ in range(20):
            step()
        torch.cuda.synchronize()
        ms = (time.perf_counter() - t) / 20 * 1e3
        print(f"compiled={compiled}: {ms:.2f} ms/step", flush=True)
        acts = [torch.profiler.ProfilerActivity.CPU, torch.profiler.ProfilerActivity.CUDA]
        with torch.profiler.profile(activities=acts) as prof:
            for _ in range(5):
                step()
            torch.cuda.synchronize()
        table = prof.key_averages().table
        print(table(sort_by="cuda_time_total", row_limit=12, max_name_column_width=50))
        print(table(sort_by="cpu_time_total", row_limit=12, max_name_column_width=50))


def _make_step(args, x: torch.Tensor, y: torch.Tensor, compiled: bool):
    """One bf16-autocast training step of a fresh FNO (AdamW, relative L2 loss)."""
    torch.manual_seed(0)
    model = FNO(1, 1, modes=(args.modes,) * 2, width=args.width, n_layers=4).to(x.device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    fwd = torch.compile(model) if compiled else model
    loss_fn = LpLoss()

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            out = fwd(x)
        loss_fn(out.float(), y).backward()
        opt.step()

    return step


if __name__ == "__main__":
    main()
