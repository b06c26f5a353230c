"""NeuralStagger on a GPU: 256² Navier-Stokes, s ∈ {1, 2, 4}, k ∈ {1, 2}.

For each (s, k) a U-Net NeuralStagger is trained on the torus Navier-Stokes residual
(ν = 1e-3, no data) for the same wall time, then (1) timed per time step (batch
``--batch``, inference, CUDA-synchronized) and (2) rolled out against the
``navier-stokes`` family's spectral solver (vorticity relative L2 after ``--records``
records).  Targets of issue #24: s = 4, k = 2 at least 10x faster per step than s = k = 1,
at a rollout error at most 1.5x that of s = k = 1 trained for the same time; the speed-up
over the numerical solver (``NavierStokes.solve_one`` per record step, CPU) is printed.

Run (on a machine with a GPU; falls back to the CPU, e.g. with --quick to check it runs)::

    .venv/bin/python benchmarks/gpu_neuralstagger.py
    .venv/bin/python benchmarks/gpu_neuralstagger.py --quick
"""

from __future__ import annotations

import argparse
import functools
import time

import torch
from _harness import write_results

from pdeflow.operators.models.unet import UNet
from pdeflow.operators.stagger import NeuralStagger, TorusNavierStokesProblem, train_physics
from pdeflow.operators.tasks.physics import PhysicsTask
from pdeflow.operators.tasks.rollout import RolloutEvaluator


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def time_step(net, u, cond, k, device, repeats) -> float:
    """Median seconds per time step (one call covers ``k`` steps)."""
    times = []
    with torch.no_grad():
        for i in range(repeats + 2):
            sync(device)
            t0 = time.perf_counter()
            net(u, cond)
            sync(device)
            if i >= 2:
                times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2] / k


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="64², 5 s of training, CPU is fine")
    ap.add_argument("--resolution", type=int, default=256)
    ap.add_argument("--record-dt", type=float, default=0.1)
    ap.add_argument("--records", type=int, default=10)
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--train-seconds", type=float, default=60.0)
    ap.add_argument("--repeats", type=int, default=20)
    args = ap.parse_args()
    if args.quick:
        args.resolution, args.train_seconds, args.repeats, args.width = 64, 5.0, 3, 16
    device = "cuda" if torch.cuda.is_available() else "cpu"
    rows = []
    solver_s = None
    for k in (1, 2):
        problem = TorusNavierStokesProblem(
            resolution=args.resolution,
            n_records=args.records,
            record_dt=args.record_dt,
            k=k,
            nu=1e-3,
        )
        ref = problem.reference(range(100_000, 100_004))
        ref = {
            n: v.float().to(device) if torch.is_tensor(v) and n != "times" else v
            for n, v in ref.items()
        }
        evaluator = RolloutEvaluator(**ref)
        if solver_s is None:
            sample = problem.family.sample(0)
            t0 = time.perf_counter()
            problem.family.solve_one(sample)
            solver_s = (time.perf_counter() - t0) / args.records
        for s in (1, 2, 4):
            torch.manual_seed(0)
            base = functools.partial(UNet, width=args.width, depth=2, padding_mode="circular")
            net = NeuralStagger(base, s=s, k=k, cond_channels=1, scale=problem.scale).to(device)
            task = PhysicsTask(
                problem.residual,
                problem.initial,
                pool_size=64,
                max_age=10,
                precondition=problem.precondition,
                dtype=torch.float32,
                device=device,
            )
            log = train_physics(
                net,
                task,
                steps=10**7,
                batch_size=args.batch,
                lr=3e-3,
                seconds=args.train_seconds,
                log_every=25,
            )
            u = ref["u0"][:1].repeat(args.batch, 1, 1, 1)
            cond = ref["cond"][:1].repeat(args.batch, 1, 1, 1)
            per_step = time_step(net, u, cond, k, device, args.repeats) / args.batch
            err = float(evaluator.evaluate(net).rel_l2[-1])
            rows.append(
                {
                    "s": s,
                    "k": k,
                    "train_steps": log[-1]["step"],
                    "seconds_per_step": per_step,
                    "rel_l2_final": err,
                }
            )
            print(
                f"s={s} k={k}: {log[-1]['step']} training steps, {per_step * 1e3:.3f} ms per "
                f"sample-step, {args.records * args.record_dt:g}-time-unit rollout rel L2 {err:.3f}"
            )
    base_row = next(r for r in rows if r["s"] == 1 and r["k"] == 1)
    for r in rows:
        r["speedup_vs_s1k1"] = base_row["seconds_per_step"] / r["seconds_per_step"]
        r["error_ratio_vs_s1k1"] = r["rel_l2_final"] / base_row["rel_l2_final"]
        r["speedup_vs_solver"] = solver_s / r["seconds_per_step"]
        print(
            f"s={r['s']} k={r['k']}: {r['speedup_vs_s1k1']:.1f}x faster than s=k=1, error ratio "
            f"{r['error_ratio_vs_s1k1']:.2f}, {r['speedup_vs_solver']:.1f}x faster than "
            f"NavierStokes.solve_one ({solver_s * 1e3:.1f} ms per record step, CPU)"
        )
    write_results(
        "gpu_neuralstagger",
        {"device": device, "args": vars(args), "rows": rows, "solver_seconds_per_record": solver_s},
    )


if __name__ == "__main__":
    main()
