"""Traced spectral right-hand sides: compiled code against the user's own numpy function.

A pseudo-spectral code is already vectorized numpy around FFT calls, so the honest peer of
``compile(trace(f))`` is ``f`` itself.  Cases: viscous Burgers in 1-D (``rfft``/``irfft``
with ``ik`` multipliers) and the vorticity form of 2-D Navier-Stokes on the torus
(``rfft2``/``irfft2``).  Timed per case: one RHS evaluation of the generated numpy, numba
(compiled segments between numpy FFTs) and torch (CPU, one torch thread) code against the
numpy function, each sample a batch of calls (about 20 ms), interleaved repeats; trace and
compile times are reported once.  Every generated function is checked against the numpy
function first (max abs difference over the output's scale).

Run::

    .venv/bin/python benchmarks/spectral_codegen.py           # 4 cases (~1 min)
    .venv/bin/python benchmarks/spectral_codegen.py --quick   # the two small cases
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _harness import compare, write_results

from pdeflow.symbolic import compile, trace


def burgers_case(n: int):
    k = np.fft.rfftfreq(n, 1.0 / n)

    def burgers(t, u, p):
        uh = np.fft.rfft(u)
        return -u * np.fft.irfft(1j * k * uh, n) + p[0] * np.fft.irfft(-(k**2) * uh, n)

    x = 2 * np.pi * np.arange(n) / n
    return f"burgers 1-D, n={n}", burgers, np.sin(x) + 0.5 * np.cos(3 * x), (0.05,)


def vorticity_case(m: int):
    kx = np.fft.fftfreq(m, 1.0 / m)
    ky = np.fft.rfftfreq(m, 1.0 / m)
    KX, KY = np.meshgrid(kx, ky, indexing="ij")
    K2 = KX**2 + KY**2
    K2[0, 0] = 1.0

    def vorticity(t, w, p):
        wh = np.fft.rfft2(w)
        psih = wh / K2
        u = np.fft.irfft2(1j * KY * psih, (m, m))
        v = np.fft.irfft2(-1j * KX * psih, (m, m))
        wx = np.fft.irfft2(1j * KX * wh, (m, m))
        wy = np.fft.irfft2(1j * KY * wh, (m, m))
        return -(u * wx + v * wy) + p[0] * np.fft.irfft2(-K2 * wh, (m, m))

    w0 = np.random.default_rng(0).standard_normal((m, m))
    return f"vorticity NS 2-D, {m}x{m}", vorticity, w0, (1e-3,)


def run_case(name, fun, y0, p, repeats: int) -> dict:
    s = time.perf_counter()
    out, ins = trace(fun, 0.0, y0, p, return_inputs=True)
    t_trace = time.perf_counter() - s
    state = next(v for v in ins.values() if getattr(v, "shape", None) == y0.shape)
    pv = np.asarray(p, dtype=float)
    ref = fun(0.0, y0, p).ravel()
    fns, t_compile, errors = {}, {}, {}
    for target in ("numpy", "numba", "torch"):
        s = time.perf_counter()
        fns[target] = compile(out, [state], params=list(ins["p"]), target=target)
        t_compile[target] = time.perf_counter() - s
        got = np.asarray(fns[target](y0.ravel(), pv, 0.0))
        errors[target] = float(np.abs(got - ref).max() / np.abs(ref).max())
        # another FFT library (torch's) rounds differently, and u_xx multiplies that rounding
        # by k_max^2: at n = 4096 the difference reaches 4e-11 of the output's scale
        if errors[target] > 1e-9:
            raise AssertionError(f"{name}: {target} differs from numpy by {errors[target]:.2e}")
    # a batch of calls per sample: single calls take microseconds
    fun(0.0, y0, p)
    single = time.perf_counter()
    for _ in range(5):
        fun(0.0, y0, p)
    batch = max(2, int(0.02 / max((time.perf_counter() - single) / 5, 1e-6)))
    flat = y0.ravel()

    def numpy_code():
        for _ in range(batch):
            fns["numpy"](flat, pv, 0.0)

    def numba_code():
        out_buf = np.empty(flat.size)
        for _ in range(batch):
            fns["numba"](out_buf, flat, pv, 0.0)

    def torch_code():
        for _ in range(batch):
            fns["torch"](flat, pv, 0.0)

    def user_code():
        for _ in range(batch):
            fun(0.0, y0, p)

    res = compare(
        f"{name}: one RHS call x {batch} (generated numpy code)",
        numpy_code,
        {"user numpy function": user_code, "generated numba code": numba_code,
         "generated torch code (CPU)": torch_code},
        repeats=repeats,
        warmup=1,
    )
    compile_ms = ", ".join(f"{k} {v * 1e3:.0f} ms" for k, v in t_compile.items())
    print(f"   trace {t_trace * 1e3:.1f} ms, compile {compile_ms}; max rel. difference {errors}")
    return {"result": res, "batch": batch, "trace_s": t_trace, "compile_s": t_compile,
            "max_rel_difference": errors}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="the two small cases only")
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    import torch

    # one torch thread: its default oversubscribes a loaded machine (issue #28, item 6),
    # 10x slower here; this benchmark is about the generated code, not thread pools
    torch.set_num_threads(1)
    cases = [burgers_case(256), vorticity_case(64)]
    if not args.quick:
        cases += [burgers_case(4096), vorticity_case(256)]
    results = {name: run_case(name, f, y0, p, args.repeats) for name, f, y0, p in cases}
    write_results("spectral_codegen", {"cases": results})


if __name__ == "__main__":
    main()
