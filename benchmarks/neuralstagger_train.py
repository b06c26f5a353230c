"""NeuralStagger trained without data on 64² heat and torus Navier-Stokes (ν = 1e-3), s = 2.

Acceptance run of issue #24: a U-Net NeuralStagger (s = 2) is trained on the physics
residual only (``PhysicsTask``: initial states from the family's sampler, a pool refreshed
by the model's own rollouts) for a fixed wall time on the CPU, then rolled out 10 steps
from unseen initial states and compared with the family's own solver
(``RolloutEvaluator``; heat scored on ``u``, Navier-Stokes on the vorticity ``-Δψ``).
Targets: 10-step relative L2 <= 0.05 (heat), <= 0.2 (NS).  Writes the loss curve and the
error against time to ``benchmarks/results/neuralstagger_train-*.json``.

Run::

    .venv/bin/python benchmarks/neuralstagger_train.py --seconds 420    # 420 s per problem
    .venv/bin/python benchmarks/neuralstagger_train.py --seconds 30 --problems heat
"""

from __future__ import annotations

import argparse
import functools
import time

import torch
from _harness import write_results

from pdeflow.operators.models.unet import UNet
from pdeflow.operators.stagger import (
    HeatProblem,
    NeuralStagger,
    TorusNavierStokesProblem,
    train_physics,
)
from pdeflow.operators.tasks.physics import PhysicsTask
from pdeflow.operators.tasks.rollout import RolloutEvaluator

TARGETS = {"heat": 0.05, "ns": 0.2}


def build(name: str, resolution: int, record_dt: float):
    """The problem and the padding its U-Net uses."""
    if name == "heat":
        return HeatProblem(resolution=resolution, n_records=10, record_dt=record_dt), "zeros"
    return TorusNavierStokesProblem(
        resolution=resolution, n_records=10, record_dt=record_dt, nu=1e-3
    ), "circular"


def run(name: str, args) -> dict:
    torch.manual_seed(0)
    problem, padding = build(name, args.resolution, args.record_dt)
    dtype = torch.float32
    ref = problem.reference(range(100_000, 100_000 + args.eval_samples))
    ref = {k: v.to(dtype) if torch.is_tensor(v) and k != "times" else v for k, v in ref.items()}
    evaluator = RolloutEvaluator(**ref)
    identity = evaluator.evaluate(lambda u, c=None: u).rel_l2
    base = functools.partial(UNet, width=args.width, depth=2, padding_mode=padding)
    net = NeuralStagger(
        base, s=args.s, cond_channels=problem.cond_channels, scale=problem.scale
    ).to(dtype)
    task = PhysicsTask(
        problem.residual,
        problem.initial,
        pool_size=args.pool,
        max_age=args.max_age,
        precondition=None if args.no_precondition else problem.precondition,
        dtype=dtype,
    )
    start = time.perf_counter()
    log = train_physics(
        net,
        task,
        steps=10**7,
        batch_size=args.batch,
        lr=args.lr,
        seconds=args.seconds,
        log_every=25,
    )
    seconds = time.perf_counter() - start
    res = evaluator.evaluate(net)
    print(
        f"{name}: {log[-1]['step']} steps in {seconds:.0f} s, loss {log[0]['loss']:.3g} -> "
        f"{log[-1]['loss']:.3g}"
    )
    print(f"  rollout rel L2 vs solver: {' '.join(f'{e:.3f}' for e in res.rel_l2)}")
    print(f"  identity (u_n = u_0):     {' '.join(f'{e:.3f}' for e in identity)}")
    final = float(res.rel_l2[-1])
    print(
        f"  10-step error {final:.3f} (target <= {TARGETS[name]}): "
        f"{'met' if final <= TARGETS[name] else 'NOT met'}"
    )
    return {
        "problem": name,
        "steps": log[-1]["step"],
        "seconds": seconds,
        "curve": log,
        "times": res.times,
        "rel_l2": res.rel_l2,
        "identity_rel_l2": identity,
        "final_rel_l2": final,
        "target": TARGETS[name],
        "met": final <= TARGETS[name],
        "params": sum(p.numel() for p in net.parameters()),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--problems", nargs="+", default=["heat", "ns"], choices=["heat", "ns"])
    ap.add_argument("--seconds", type=float, default=300.0)
    ap.add_argument("--resolution", type=int, default=64)
    ap.add_argument("--record-dt", type=float, default=0.1)
    ap.add_argument("--s", type=int, default=2)
    ap.add_argument("--width", type=int, default=24)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--pool", type=int, default=64)
    ap.add_argument("--max-age", type=int, default=1)
    ap.add_argument("--eval-samples", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-precondition", action="store_true", help="raw residual loss")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    results = [run(name, args) for name in args.problems]
    path = write_results("neuralstagger_train", {"args": vars(args), "runs": results})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
