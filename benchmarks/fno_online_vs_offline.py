"""Online vs offline FNO training at equal wall time (1-D Darcy, CPU).

    .venv/bin/python benchmarks/fno_online_vs_offline.py             # ~2.5 min
    .venv/bin/python benchmarks/fno_online_vs_offline.py --budget 20  # seconds per run

Both runs get the same wall-clock budget, which includes making their data (solving the
PDE with the toy 1-D Darcy solver of ``pdeflow.operators.toy_data``):

* offline: solve a fixed set of ``--n-offline`` samples once, then train epoch after epoch
  over it (shuffled) until the budget is spent;
* online: train on fresh samples from the solver stream (``StreamDataset``, small buffer)
  until the budget is spent; the solver runs in ``--online-workers`` DataLoader worker(s)
  (default 1, the machine's second core), concurrently with training, as an online pipeline
  does.  For reference the online run is repeated with the solver inline (0 workers), where
  every solve takes time from training.

Same FNO, optimizer, batch size and learning rate (cosine-decayed over the remaining wall time,
so a run ends at a small rate wherever the deadline falls), training on one thread in every
run; all
are scored on the same held-out test set of fresh samples.  Goal (Melissa's observation):
online error <= offline error, judged on the pipelined online run.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import write_results  # noqa: E402

from pdeflow.operators import (  # noqa: E402
    FNO,
    StreamDataset,
    TensorFieldDataset,
    Trainer,
    TrainerConfig,
)
from pdeflow.operators.toy_data import darcy1d_source  # noqa: E402


def run(mode: str, args, test: TensorFieldDataset, workers: int = 0) -> dict:
    torch.manual_seed(0)
    start = time.perf_counter()
    source = darcy1d_source(resolution=args.resolution)
    stream = StreamDataset(source, samples_per_epoch=10**9, buffer_size=args.buffer, seed=1)
    if mode == "offline":
        train = stream.take(args.n_offline, seed=2)  # solve the fixed dataset (timed)
    else:
        train = stream
    model = FNO(1, 1, modes=args.modes, width=args.width, n_layers=4)
    cfg = TrainerConfig(
        batch_size=args.batch,
        lr=args.lr,
        scheduler="none",
        progress="off",
        device="cpu",
        num_workers=workers,
    )
    trainer = Trainer(model, cfg)
    trainer.fit_normalizers(train)
    steps = samples = epoch = 0
    deadline = start + args.budget
    train_start = time.perf_counter()
    while time.perf_counter() < deadline:
        trainer.model.train()
        for batch in trainer.loader(train, epoch):
            # cosine decay over the wall-clock budget: the run ends at a small learning
            # rate whenever the deadline falls, so the score does not depend on the last step
            frac = min(1.0, (time.perf_counter() - train_start) / (deadline - train_start))
            for group in trainer.optimizer.param_groups:
                group["lr"] = args.lr * 0.5 * (1.0 + math.cos(math.pi * frac))
            trainer.train_step(batch)
            steps += 1
            samples += batch["x"].shape[0]
            if time.perf_counter() >= deadline:
                break
        epoch += 1
    elapsed = time.perf_counter() - start
    metrics = trainer.evaluate({"test": test})
    distinct = args.n_offline if mode == "offline" else samples
    return {
        "mode": mode if mode == "offline" else f"online ({workers} solver worker(s))",
        "solver_workers": workers,
        "steps": steps,
        "samples_seen": samples,
        "distinct_samples": distinct,
        "wall_s": elapsed,
        **metrics,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=45.0, help="seconds per run")
    parser.add_argument("--n-offline", type=int, default=128)
    parser.add_argument("--n-test", type=int, default=256)
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--modes", type=int, default=16)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--buffer", type=int, default=16)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--online-workers",
        type=int,
        default=1,
        help="DataLoader workers solving the stream concurrently with training (0: inline)",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    test = StreamDataset(darcy1d_source(resolution=args.resolution), 1, seed=1).take(
        args.n_test, seed=99
    )
    rows = [run("offline", args, test), run("online", args, test, args.online_workers)]
    if args.online_workers > 0:
        rows.append(run("online", args, test, 0))  # reference: solves take training time
    for r in rows:
        print(
            f"{r['mode']:>30}: test rel. L2 {r['test/l2']:.4f}, H1 {r['test/h1']:.4f} "
            f"({r['steps']} steps, {r['distinct_samples']} distinct samples, {r['wall_s']:.1f} s)"
        )
    off, on = rows[0]["test/l2"], rows[1]["test/l2"]
    verdict = "PASS" if on <= off else "MISS"
    print(f"online / offline test error: {on / off:.3f} (goal <= 1) {verdict}")
    write_results("fno_online_vs_offline", {"args": vars(args), "runs": rows, "verdict": verdict})


if __name__ == "__main__":
    main()
