"""Text2PDE on the CPU: autoencoder accuracy, conditioned latent diffusion vs the solver.

    .venv/bin/python benchmarks/text2pde.py            # ~15 min on a quiet 2-core machine
    .venv/bin/python benchmarks/text2pde.py --quick    # ~2 min, small budgets

1. Autoencoder: a tiny space-time KL autoencoder trained ``--ae-seconds`` on 64² smoke
   (``smoke-buoyancy``, ``--frames`` frames); relative L2 of held-out reconstructions
   (goal <= 0.05).
2. Latent diffusion on 32² smoke: one autoencoder, then three tiny DiTs (first-frame, text,
   unconditional), ``--dit-seconds`` each.  On held-out trajectories: relative L2 and Pearson
   correlation of a sample (DPM-Solver++, 25 steps) against the solver's trajectory, and of
   the unconditional mean-trajectory baseline.
3. Samplers: error of DDIM and DPM-Solver++ at 10/25/50/100 steps (text model, same noise).
4. Time to sample one trajectory against the solver's time for it (median of repeats).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import write_results  # noqa: E402

from pdeflow.datagen import families  # noqa: E402
from pdeflow.operators.text2pde import (  # noqa: E402
    AutoencoderConfig,
    LatentDiffusionConfig,
    LatentDiffusionPDE,
    SpaceTimeAutoencoder,
    TextEncoder,
    caption,
    relative_l2,
)
from pdeflow.operators.text2pde.train import (  # noqa: E402
    reconstruction_error,
    take_condition,
    train_autoencoder,
    train_diffusion,
)


def smoke(n: int, resolution: int, frames: int, seed: int):
    """Trajectories (n, T, 3, s, s) float32 and their parameters."""
    fam = families.get("smoke-buoyancy", resolution=resolution, n_frames=frames, seed=seed)
    res = fam.solve(range(n))
    return torch.tensor(res.fields["trajectory"], dtype=torch.float32), res.params, fam


def pearson(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-sample Pearson correlation (B,)."""
    a = a.reshape(a.shape[0], -1)
    b = b.reshape(b.shape[0], -1)
    a = a - a.mean(1, keepdim=True)
    b = b - b.mean(1, keepdim=True)
    return (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1)).clamp(min=1e-12)


def scores(pred: torch.Tensor, true: torch.Tensor) -> dict[str, float]:
    return {"rel_l2": float(relative_l2(pred, true).median()),
            "pearson": float(pearson(pred, true).median())}


def autoencoder_case(args) -> dict:
    x, _, _ = smoke(args.ae_train + 8, 64, args.frames, seed=1)
    train, test = x[:-8], x[-8:]
    torch.manual_seed(0)
    ae = SpaceTimeAutoencoder(AutoencoderConfig(width=32))
    t0 = time.perf_counter()
    hist = train_autoencoder(ae, train, seconds=args.ae_seconds, batch=4)
    err = reconstruction_error(ae, test)
    out = {"resolution": 64, "frames": args.frames, "train": len(train), "steps": len(hist),
           "seconds": time.perf_counter() - t0, "test_rel_l2_median": float(err.median()),
           "test_rel_l2_max": float(err.max()), "goal": 0.05}
    print(f"autoencoder 64²: {len(hist)} steps in {out['seconds']:.0f} s, held-out rel L2 "
          f"median {out['test_rel_l2_median']:.4f} (max {out['test_rel_l2_max']:.4f})")
    return out


def diffusion_cases(args) -> dict:
    s, frames = 32, args.frames
    x, params, fam = smoke(args.n_train + args.n_test, s, frames, seed=2)
    train, test = x[: args.n_train], x[args.n_train:]
    rng = np.random.default_rng(0)
    texts = [caption("smoke-buoyancy", {k: float(v[i]) for k, v in params.items()}, rng)
             for i in range(len(x))]
    tokens, mask = TextEncoder(max_tokens=32).tokens(texts)
    torch.manual_seed(0)
    base = LatentDiffusionPDE(LatentDiffusionConfig(frames=frames, resolution=s, mode="none"))
    train_autoencoder(base.autoencoder, train, seconds=args.ae32_seconds, batch=8)
    base.fit_scale(train)
    ae_err = float(reconstruction_error(base.autoencoder, test).median())
    print(f"autoencoder 32²: held-out rel L2 {ae_err:.4f}")
    mean_traj = train.mean(0, keepdim=True).expand_as(test)
    result = {"autoencoder_rel_l2": ae_err, "mean_baseline": scores(mean_traj, test)}
    print(f"  mean-trajectory baseline: {result['mean_baseline']}")
    models = {}
    for mode in args.modes:
        model = LatentDiffusionPDE(LatentDiffusionConfig(frames=frames, resolution=s, mode=mode))
        model.autoencoder.load_state_dict(base.autoencoder.state_dict())
        model.latent_std.copy_(base.latent_std)
        cond_all = ((tokens, mask) if mode == "text" else
                    model.condition(first_frame=x[:, 0]) if mode == "frame" else None)
        cond_train = take_condition(cond_all, slice(0, args.n_train))
        hist = train_diffusion(model, train, cond_train, seconds=args.dit_seconds, batch=16)
        cond_test = take_condition(cond_all, slice(args.n_train, None))
        g = torch.Generator().manual_seed(1)
        pred = model.sample(cond_test, steps=25, n=len(test), generator=g,
                            guidance=args.guidance)
        result[mode] = {**scores(pred, test), "steps": len(hist),
                        "final_loss": float(np.mean(hist[-20:]))}
        print(f"  {mode:5s}: {result[mode]}")
        models[mode] = (model, cond_test)
    if "text" in models:
        result["samplers"] = sampler_errors(*models["text"], test, args)
        result["timing"] = timing(models["text"][0], models["text"][1], fam, args)
    return result


def sampler_errors(model, cond, test, args) -> dict:
    out = {}
    for method in ("ddim", "dpm-solver++"):
        for steps in (10, 25, 50, 100):
            g = torch.Generator().manual_seed(1)
            pred = model.sample(cond, steps=steps, method=method, generator=g,
                                guidance=args.guidance)
            out[f"{method}@{steps}"] = scores(pred, test)
            print(f"  text, {method} {steps:3d} steps: {out[f'{method}@{steps}']}")
    return out


def timing(model, cond, fam, args) -> dict:
    one = (cond[0][:1], cond[1][:1])
    sample_s, solve_s = [], []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        model.sample(one, steps=25)
        sample_s.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        fam.solve([0])
        solve_s.append(time.perf_counter() - t0)
    out = {"sample_s": float(np.median(sample_s)), "solver_s": float(np.median(solve_s))}
    out["solver_over_sample"] = out["solver_s"] / out["sample_s"]
    print(f"  one trajectory: sample (DPM-Solver++ 25 steps) {out['sample_s']:.3f} s, solver "
          f"{out['solver_s']:.3f} s, ratio solver/sample {out['solver_over_sample']:.2f}")
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--frames", type=int, default=8)
    p.add_argument("--ae-seconds", type=float, default=240)
    p.add_argument("--ae-train", type=int, default=40)
    p.add_argument("--ae32-seconds", type=float, default=90)
    p.add_argument("--dit-seconds", type=float, default=150)
    p.add_argument("--n-train", type=int, default=192)
    p.add_argument("--n-test", type=int, default=16)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--guidance", type=float, default=1.0, help="classifier-free guidance w")
    p.add_argument("--modes", nargs="+", default=["frame", "text", "none"],
                   choices=["frame", "text", "none"])
    p.add_argument("--skip-ae64", action="store_true", help="skip the 64² autoencoder case")
    args = p.parse_args()
    if args.quick:
        args.ae_seconds, args.ae32_seconds, args.dit_seconds = 20, 10, 15
        args.n_train, args.ae_train = 32, 8
    torch.set_num_threads(args.threads)
    payload = {"args": vars(args)}
    if not args.skip_ae64:
        payload["autoencoder_64"] = autoencoder_case(args)
    payload["diffusion_32"] = diffusion_cases(args)
    path = write_results("text2pde", payload)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
