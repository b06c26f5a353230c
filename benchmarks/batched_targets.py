"""Batched torch/jax right-hand sides: one call on a batch against a loop of single calls.

Case: the Gray-Scott RHS (numpy, ``np.roll`` Laplacian) traced once and compiled for
``torch`` and ``jax``.  Timed per batch of ``B`` states: the batched call ``f(Y, p)`` with
``Y`` of shape ``(B, n)``, against ``B`` single calls of the same function and ``B`` calls
of the numba target (the CPU path the ODE solvers use).  torch runs on the GPU when one is
at hand (float64 and float32), else on the CPU with one thread.  Every batched result is
checked against the single calls first.

Run::

    .venv/bin/python benchmarks/batched_targets.py           # 64x64 grid, B=64
    .venv/bin/python benchmarks/batched_targets.py --quick   # 32x32, B=16
"""

from __future__ import annotations

import argparse

import numpy as np
from _harness import compare, write_results

from pdeflow.symbolic import compile, trace


def gray_scott(t, y, p):
    u, v = y[0], y[1]

    def lap(w):
        return np.roll(w, 1, 0) + np.roll(w, -1, 0) + np.roll(w, 1, 1) + np.roll(w, -1, 1) - 4 * w

    uvv = u * v * v
    return np.stack([p[0] * lap(u) - uvv + p[2] * (1 - u),
                     p[1] * lap(v) + uvv - (p[2] + p[3]) * v])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    m, batch = (32, 16) if args.quick else (64, 64)
    import jax.numpy as jnp
    import torch

    torch.set_num_threads(1)
    p = np.array([0.16, 0.08, 0.035, 0.06])
    ys = np.random.default_rng(0).uniform(0.0, 1.0, (batch, 2 * m * m))
    du, ins = trace(gray_scott, 0.0, ys[0].reshape(2, m, m), tuple(p), return_inputs=True)
    fns = {tg: compile(du, [ins["y"]], params=list(ins["p"]), target=tg)
           for tg in ("torch", "jax", "numba")}
    device = "cuda" if torch.cuda.is_available() else "cpu"
    numba_out = np.stack([fns["numba"](y, p, 0.0) for y in ys])

    def sync(x):
        if device == "cuda":
            torch.cuda.synchronize()
        return x

    results = []
    for dtype in (torch.float64, torch.float32):
        if dtype == torch.float32 and device == "cpu" and args.quick:
            continue
        Y = torch.tensor(ys, dtype=dtype, device=device)
        P = torch.tensor(p, dtype=dtype, device=device)
        f = fns["torch"]
        tol = 1e-12 if dtype == torch.float64 else 1e-4

        def check(a, b, tol=tol):
            a, b = np.asarray(a.cpu() if hasattr(a, "cpu") else a), np.asarray(
                b.cpu() if hasattr(b, "cpu") else b)
            assert np.abs(a - b).max() <= tol * np.abs(b).max(), np.abs(a - b).max()

        peers = {
            "torch, B single calls": lambda Y=Y, P=P, f=f: sync(torch.stack([f(y, P) for y in Y])),
        }
        if dtype == torch.float64:
            peers["numba, B single calls"] = lambda: np.stack([fns["numba"](y, p, 0.0)
                                                               for y in ys])
        res = compare(
            f"torch {device} {str(dtype)[6:]}: Gray-Scott {m}x{m}, batch of {batch}",
            lambda Y=Y, P=P, f=f: sync(f(Y, P)),
            peers,
            repeats=7,
            check=check,
            meta={"grid": m, "batch": batch, "device": device, "dtype": str(dtype)},
        )
        results.append(res)
    J, JP = jnp.asarray(ys), jnp.asarray(p)
    fj = fns["jax"]
    np.testing.assert_allclose(np.asarray(fj(J, JP)), numba_out, rtol=1e-12, atol=1e-12)
    results.append(compare(
        f"jax cpu float64: Gray-Scott {m}x{m}, batch of {batch}",
        lambda: fj(J, JP).block_until_ready(),
        {"jax, B single calls": lambda: [fj(y, JP).block_until_ready() for y in J]},
        repeats=7,
        meta={"grid": m, "batch": batch, "device": "cpu", "dtype": "float64"},
    ))
    write_results("batched_targets", {"cases": results})


if __name__ == "__main__":
    main()
