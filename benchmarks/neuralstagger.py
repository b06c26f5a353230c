"""NeuralStagger speed on the CPU: s = 2 and 4 against the same U-Net at full resolution.

Per time step at 128² (batch 1, float32, one thread, inference): the NeuralStagger step
(one coarse U-Net on ``H/s × W/s`` with ``s²`` channels in and out) against the same U-Net
(``width``, ``depth``) stepping the full grid (``s = 1``), with the ``navier-stokes``
family's spectral solver (``NavierStokes.solve_one``, per record of ``dt = 0.1``) beside
them.  Targets: s = 2 at least 2.5x, s = 4 at least 8x faster than s = 1.

The error ratio: each of s = 1, 2, 4 is trained on the heat residual (no data) for the same
wall time, then rolled out 10 steps against the family's solver; the script prints each
10-step error and its ratio to the s = 1 error.

Run::

    .venv/bin/python benchmarks/neuralstagger.py                    # 128², 60 s training each
    .venv/bin/python benchmarks/neuralstagger.py --quick            # 64², 10 s training each
"""

from __future__ import annotations

import argparse
import functools

import torch
from _harness import compare, write_results

from pdeflow.datagen.families.navier_stokes import NavierStokes
from pdeflow.operators.models.unet import UNet
from pdeflow.operators.stagger import HeatProblem, NeuralStagger, train_physics
from pdeflow.operators.tasks.physics import PhysicsTask
from pdeflow.operators.tasks.rollout import RolloutEvaluator


def stepper(
    s: int,
    k: int,
    width: int,
    depth: int,
    cond: int = 0,
    padding: str = "circular",
    scale: float = 1.0,
) -> NeuralStagger:
    """The NeuralStagger (U-Net base) of factors ``s``, ``k``; ``s = k = 1`` is the plain U-Net."""
    base = functools.partial(UNet, width=width, depth=depth, padding_mode=padding)
    return NeuralStagger(base, s=s, k=k, cond_channels=cond, scale=scale, identity_init=False)


def speed(args) -> list:
    n = args.resolution
    u = torch.randn(args.batch, 1, n, n)
    nets = {s: stepper(s, 1, args.width, args.depth).eval() for s in (1, 2, 4)}
    fam = NavierStokes(resolution=n, T=0.1, n_snapshots=1, nu=1e-3)  # one record step
    sample = fam.sample(0)

    def step(s):
        with torch.no_grad():
            return nets[s](u)

    results = []
    for s in (2, 4):
        res = compare(
            f"NeuralStagger s={s} vs the same U-Net at s=1, {n}x{n}, batch {args.batch}, per step",
            lambda s=s: step(s),
            {
                "U-Net at full resolution (s=1)": lambda: step(1),
                "NavierStokes.solve_one, per record step (dt=0.1)": lambda: fam.solve_one(sample),
            },
            repeats=args.repeats,
            meta={
                "resolution": n,
                "s": s,
                "width": args.width,
                "depth": args.depth,
                "batch": args.batch,
                "record_dt": fam.T,
            },
        )
        results.append(res)
    return results


def error_ratio(args) -> dict:
    n = args.resolution
    problem = HeatProblem(resolution=n, n_records=10, record_dt=0.1)
    ref = problem.reference(range(100_000, 100_004))
    ref = {k: v.float() if torch.is_tensor(v) and k != "times" else v for k, v in ref.items()}
    ev = RolloutEvaluator(**ref)
    out = {}
    for s in (1, 2, 4):
        torch.manual_seed(0)
        net = NeuralStagger(
            functools.partial(UNet, width=args.width, depth=args.depth, padding_mode="zeros"),
            s=s,
            cond_channels=1,
            scale=problem.scale,
        )
        task = PhysicsTask(
            problem.residual,
            problem.initial,
            pool_size=32,
            max_age=10,
            precondition=problem.precondition,
            dtype=torch.float32,
        )
        log = train_physics(
            net, task, steps=10**7, batch_size=4, lr=3e-3, seconds=args.train_seconds, log_every=10
        )
        err = float(ev.evaluate(net).rel_l2[-1])
        out[s] = {"steps": log[-1]["step"], "rel_l2_10": err}
    for s in (1, 2, 4):
        out[s]["ratio_to_s1"] = out[s]["rel_l2_10"] / out[1]["rel_l2_10"]
        print(
            f"heat {n}x{n}, {args.train_seconds:.0f} s training: s={s}: {out[s]['steps']} steps, "
            f"10-step rel L2 {out[s]['rel_l2_10']:.3f} (ratio to s=1: {out[s]['ratio_to_s1']:.2f})"
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--resolution", type=int, default=128)
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--depth", type=int, default=2)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--train-seconds", type=float, default=60.0)
    ap.add_argument("--no-train", action="store_true", help="timings only")
    args = ap.parse_args()
    if args.quick:
        args.resolution, args.train_seconds, args.repeats = 64, 10.0, 3
    torch.set_num_threads(1)
    results = {"speed": speed(args)}
    if not args.no_train:
        results["error_ratio"] = error_ratio(args)
    write_results("neuralstagger", results)


if __name__ == "__main__":
    main()
