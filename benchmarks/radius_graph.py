"""radius_graph on 100k points in 3-D (about 20 neighbours each) vs a bare cKDTree.query_pairs.

The peer is the least work that gives the same answer: ``cKDTree(x).query_pairs(r,
output_type="ndarray")``, both directions of every pair, sorted by target then source
(one int64 sort of packed keys) into a ``(2, E)`` array. pdeflow's ``radius_graph`` does
that plus input checks, the float64 re-check of every pair (the exact rule both of its
backends share), and the same packing. Goal: pdeflow at most 1.2x the peer's time (the
printed ratio ``peer / pdeflow`` at least 0.83). The edges must be identical.

Also times the torch cell-list backend on the CPU (for information: it exists for GPUs,
see ``gpu_graph.py``), and ``cKDTree.sparse_distance_matrix``, the other scipy route the
kd-tree backend could have taken.

Run::

    .venv/bin/python benchmarks/radius_graph.py [--n 100000] [--neighbours 20] [--repeats 7]
"""

from __future__ import annotations

import argparse
import math

import numpy as np
import torch
from _harness import compare, describe_ratio, write_results
from scipy.spatial import cKDTree

from pdeflow.meshes import radius_graph

GOAL = 1.2  # pdeflow time / peer time, at most


def bare_query_pairs(x: np.ndarray, r: float) -> np.ndarray:
    """The peer: query_pairs, both directions, sorted by (target, source), as (2, E)."""
    n = len(x)
    pairs = cKDTree(x).query_pairs(r, output_type="ndarray")
    i, j = pairs[:, 0], pairs[:, 1]
    shift = max(1, int(n - 1).bit_length())
    key = np.concatenate([(j << shift) | i, (i << shift) | j])
    key.sort()
    return np.stack([key & ((1 << shift) - 1), key >> shift])


def sparse_matrix_route(x: np.ndarray, r: float) -> np.ndarray:
    """sparse_distance_matrix of the tree with itself (both directions, self pairs)."""
    n = len(x)
    tree = cKDTree(x)
    m = tree.sparse_distance_matrix(tree, r, output_type="ndarray")
    i, j = m["i"], m["j"]
    keep = i != j
    shift = max(1, int(n - 1).bit_length())
    key = (j[keep] << shift) | i[keep]
    key.sort()
    return np.stack([key & ((1 << shift) - 1), key >> shift])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--neighbours", type=float, default=20.0)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--no-extras", action="store_true", help="only pdeflow vs the peer")
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    x = rng.random((args.n, 3))
    # uniform in the unit cube: expected neighbours = n * (4/3) pi r^3 (less at the faces)
    r = (args.neighbours / (args.n * 4.0 / 3.0 * math.pi)) ** (1.0 / 3.0)

    def check(ours: np.ndarray, theirs: np.ndarray) -> None:
        theirs = theirs.numpy() if isinstance(theirs, torch.Tensor) else theirs
        if not np.array_equal(ours, theirs):
            raise AssertionError(f"edge sets differ: {ours.shape} vs {theirs.shape}")

    result = compare(
        f"radius_graph, {args.n} points in 3-D, r={r:.4g}",
        lambda: radius_graph(x, r),
        {"cKDTree.query_pairs + edge array": lambda: bare_query_pairs(x, r)},
        repeats=args.repeats,
        warmup=1,
        check=check,
        meta={"n": args.n, "r": r, "dim": 3},
    )
    edges = radius_graph(x, r)
    mean_degree = edges.shape[1] / args.n
    slowdown = 1.0 / result.ratio("cKDTree.query_pairs + edge array")
    verdict = "PASS" if slowdown <= GOAL else "MISS"
    print(
        f"mean degree {mean_degree:.1f}; pdeflow / bare query_pairs = {slowdown:.3f} "
        f"(goal <= {GOAL}) {verdict}"
    )
    extras = None
    if not args.no_extras:
        xt = torch.from_numpy(x)
        extras = compare(
            "other routes (information)",
            lambda: radius_graph(x, r),
            {
                "pdeflow torch cell list (CPU)": lambda: radius_graph(xt, r, method="torch"),
                "cKDTree.sparse_distance_matrix": lambda: sparse_matrix_route(x, r),
            },
            repeats=max(3, args.repeats // 2),
            warmup=1,
            check=check,
            meta={"n": args.n, "r": r},
        )
        for peer in extras.peers:
            print(f"  {peer}: {describe_ratio(extras.ratio(peer))}")
    write_results(
        "radius_graph",
        {
            "cases": [result] + ([extras] if extras else []),
            "mean_degree": mean_degree,
            "pdeflow_over_peer": slowdown,
            "goal_at_most": GOAL,
            "verdict": verdict,
        },
    )


if __name__ == "__main__":
    main()
