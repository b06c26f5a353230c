"""Harness self-check: numpy's sum (standing in for pdeflow) against Python's built-in sum.

This is not a pdeflow claim; it proves the harness end to end (interleaved timing,
output check, ratios, peak memory, JSON results).  Expect "pdeflow" (numpy) to be tens
of times faster than the pure-Python loop.

Run::

    .venv/bin/python benchmarks/harness_selfcheck.py [--n 1000000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import math

import numpy as np
from _harness import compare, peak_memory, write_results


def make_values(n: int) -> list[float]:
    """Deterministic values with a known sum: 0.5, 1.5, ..., n - 0.5 (sum n**2 / 2)."""
    return [i + 0.5 for i in range(n)]


def build_and_sum(n: int) -> float:
    """Allocate an n-element float64 array and sum it (the memory probe's workload)."""
    return float(np.arange(n, dtype=np.float64).sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    values = make_values(args.n)
    array = np.asarray(values)
    exact = args.n**2 / 2

    def check(ours: float, theirs: float) -> None:
        assert math.isclose(ours, theirs, rel_tol=1e-9), (ours, theirs)
        assert math.isclose(ours, exact, rel_tol=1e-9), (ours, exact)

    result = compare(
        f"sum of {args.n} floats",
        lambda: float(np.sum(array)),
        {"python sum": lambda: sum(values), "math.fsum": lambda: math.fsum(values)},
        repeats=args.repeats,
        warmup=1,
        check=check,
        meta={"n": args.n},
    )
    traced = peak_memory(build_and_sum, args.n, method="tracemalloc")
    rss = peak_memory(build_and_sum, args.n, method="rss")
    expected = 8 * args.n
    mib = 2**20
    print(
        f"peak memory of building+summing {args.n} float64: tracemalloc "
        f"{traced.peak_bytes / mib:.1f} MiB (array is {expected / mib:.1f} MiB), "
        f"subprocess RSS {rss.peak_bytes / mib:.1f} MiB (baseline {rss.baseline_bytes / mib:.1f})"
    )
    if traced.peak_bytes < expected:
        raise SystemExit("harness self-check failed: tracemalloc missed the numpy buffer")
    write_results("harness_selfcheck", {"cases": [result], "memory": [traced, rss]})


if __name__ == "__main__":
    main()
