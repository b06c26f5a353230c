"""CUDA target on a GPU: RD3 right-hand side at N=1024 against the memory-bandwidth roofline.

Run on a machine with an NVIDIA GPU (numba-cuda and numpy<2.5 installed):

    python benchmarks/gpu_codegen.py [--N 1024] [--repeats 50]

What it measures, in one run:

* correctness of the CUDA RHS against the numpy user code (max abs error);
* the time of one CUDA RHS evaluation, on device arrays, synchronized;
* a copy kernel over the same number of bytes, timed in the same run;
* the fraction of the roofline: the RHS's compulsory traffic (read the state
  once, write the output once: 16 bytes per unknown) over its time, divided by
  the copy kernel's bandwidth.  Goal (issue 4): at least 50%.

It also times the numba CPU target for reference and writes JSON to
``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import machine_info, write_results  # noqa: E402
from _pde_cases import rd3_args, rd3_rhs  # noqa: E402

from pdeflow.symbolic import compile, trace  # noqa: E402


def _time_cuda(fn, repeats: int) -> tuple[float, float]:
    """(median wall time per synchronized call, median GPU time of the kernels alone).

    The GPU time is measured with CUDA events around one call while the stream
    is kept busy by a preceding spin kernel, so the host's launch overhead is
    hidden and only the kernels' own execution is counted.
    """
    from numba import cuda

    @cuda.jit
    def spin(n):
        for _ in range(n):
            cuda.nanosleep(1000)

    fn()
    cuda.synchronize()
    walls, gpus = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        cuda.synchronize()
        walls.append(time.perf_counter() - t0)
        start, stop = cuda.event(), cuda.event()
        spin[1, 1](500)
        start.record()
        fn()
        stop.record()
        stop.synchronize()
        gpus.append(cuda.event_elapsed_time(start, stop) / 1e3)
    return float(np.median(walls)), float(np.median(gpus))


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--N", type=int, default=1024)
    ap.add_argument("--repeats", type=int, default=50)
    args = ap.parse_args(argv)

    from numba import cuda

    if not cuda.is_available():
        print("no CUDA device: this benchmark needs a GPU")
        return {}
    N = args.N
    f = rd3_rhs(N)
    t0, u, p = rd3_args(N)
    t_trace = time.perf_counter()
    out, ins = trace(f, t0, u, p, return_inputs=True)
    t_trace = time.perf_counter() - t_trace
    t_comp = time.perf_counter()
    g = compile(out, [ins["u"]], params=list(ins["p"]), target="cuda")
    y_d = cuda.to_device(u.ravel())
    p_d = cuda.to_device(np.asarray(p, dtype=float))
    o_d = cuda.device_array(g.n_out)
    g(o_d, y_d, p_d, 0.0)
    cuda.synchronize()
    t_comp = time.perf_counter() - t_comp
    err = float(np.abs(o_d.copy_to_host() - f(t0, u, p).ravel()).max())

    @cuda.jit
    def copy(dst, src):
        i = cuda.grid(1)
        if i < src.size:
            dst[i] = src[i]

    n = g.n_out
    src = cuda.to_device(np.random.default_rng(0).random(n))
    dst = cuda.device_array(n)
    threads = 256
    blocks = (n + threads - 1) // threads

    wall_rhs, t_rhs = _time_cuda(lambda: g(o_d, y_d, p_d, 0.0), args.repeats)
    wall_copy, t_copy = _time_cuda(lambda: copy[blocks, threads](dst, src), args.repeats)
    # compulsory traffic: the state, the output, and any constant data arrays the kernels read
    # (index and run tables are the method's own overhead and are not counted as useful bytes)
    const_bytes = sum(v.nbytes for k, v in g.program.consts.items() if k.startswith("c"))
    bytes_rhs = 8 * (g.n_in + g.n_out) + const_bytes
    bw_copy = 16 * n / t_copy
    bw_rhs = bytes_rhs / t_rhs
    frac = bw_rhs / bw_copy

    cpu = compile(out, [ins["u"]], params=list(ins["p"]), target="numba", parallel=True)
    o_h = np.empty(cpu.n_out)
    y_h = u.ravel().copy()
    p_h = np.asarray(p, dtype=float)
    cpu(o_h, y_h, p_h, 0.0)
    ts = []
    for _ in range(5):
        s = time.perf_counter()
        cpu(o_h, y_h, p_h, 0.0)
        ts.append(time.perf_counter() - s)
    t_cpu = float(np.median(ts))

    res = {
        "N": N,
        "unknowns": int(g.n_in),
        "trace_s": t_trace,
        "cuda_compile_s": t_comp,
        "max_abs_error": err,
        "rhs_gpu_s": t_rhs,
        "copy_gpu_s": t_copy,
        "rhs_wall_s": wall_rhs,
        "copy_wall_s": wall_copy,
        "copy_GBps": bw_copy / 1e9,
        "rhs_effective_GBps": bw_rhs / 1e9,
        "bytes_counted": bytes_rhs,
        "roofline_fraction": frac,
        "numba_parallel_cpu_s": t_cpu,
        "steps": [
            type(s).__name__ + ("(runs)" if getattr(s, "runs", None) is not None else "")
            for s in g.program.steps
        ],
    }
    print(f"RD3 N={N}: {g.n_in} unknowns; trace {t_trace:.2f} s, CUDA compile {t_comp:.2f} s")
    print(f"max |error| vs numpy user code: {err:.3e}")
    print(
        f"GPU time: RHS {t_rhs * 1e3:.3f} ms, copy {t_copy * 1e3:.3f} ms "
        f"(copy {bw_copy / 1e9:.0f} GB/s); wall per synchronized call: RHS "
        f"{wall_rhs * 1e3:.3f} ms, copy {wall_copy * 1e3:.3f} ms"
    )
    print(
        f"RHS effective bandwidth {bw_rhs / 1e9:.0f} GB/s = {100 * frac:.0f}% of the copy roofline "
        f"(goal >= 50%: {'PASS' if frac >= 0.5 else 'MISS'})"
    )
    print(f"numba parallel CPU RHS on this host: {t_cpu * 1e3:.2f} ms")
    write_results("gpu_codegen", {"results": res, "machine": machine_info()})
    return res


if __name__ == "__main__":
    main()
