"""Two toy families with ragged (per-sample length) fields, for the layout-v2 tests.

Reachable from the CLI as ``--family tests/datagen/toy_ragged.py:PointClouds`` and
``...:TriMeshes``.  Neither has a grid ``resolution``.

* :class:`PointClouds` -- point clouds of 30-120 points: float32 positions, int32 types,
  int64 ids above 2**53 (exact only as integers), a per-point float32 target; an extra
  statistic ``energy_drift``; every 7th sample is marked not converged.
* :class:`TriMeshes` -- a triangulated unit square per sample (4-9 points per axis):
  float64 points, int32 cells, int32 boundary tags, a coefficient per point and the field
  ``u = a sin(pi x) sin(pi y)`` on the nodes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from pdeflow.datagen.families import FieldSpec, PointwiseFamily, SampleReport, SampleStatus


@dataclass(frozen=True)
class PointClouds(PointwiseFamily):
    """Ragged point clouds; the target depends on position and type."""

    name = "toy-point-clouds"
    seed: int = 0
    n_min: int = 30
    n_max: int = 120
    delay: float = 0.0  # seconds per sample (so that a run can be killed midway)
    floats_for_types: bool = False  # a broken family: yields floats for the int field

    def fields(self) -> dict[str, FieldSpec]:
        return {
            "pos": FieldSpec("pos", (None, 3), "input", ("point", "dim"), dtype="float32",
                             ragged=True),
            "types": FieldSpec("types", (None,), "input", ("point",), dtype="int32",
                               ragged=True),
            "ids": FieldSpec("ids", (None,), "input", ("point",), dtype="int64", ragged=True),
            "target": FieldSpec("target", (None,), "output", ("point",), dtype="float32",
                                ragged=True),
        }

    def coords(self) -> dict[str, np.ndarray]:
        return {}

    def extra_stats(self) -> dict[str, str]:
        return {"energy_drift": "relative energy drift (toy)"}

    def sample(self, i: int) -> dict[str, Any]:
        rng = self.rng(i)
        n = int(rng.integers(self.n_min, self.n_max + 1))
        types = rng.integers(0, 4, n).astype(np.int32)
        return {
            "pos": rng.random((n, 3)).astype(np.float32),
            "types": types.astype(np.float64) if self.floats_for_types else types,
            "ids": rng.integers(2**53, 2**62, n, dtype=np.int64),
        }

    def solve_one(self, sample: dict[str, Any]) -> tuple[dict[str, np.ndarray], SampleReport]:
        if self.delay:
            time.sleep(self.delay)
        pos, types = sample["pos"], np.asarray(sample["types"])
        target = np.sin(2 * np.pi * pos[:, 0]) * np.cos(2 * np.pi * pos[:, 1]) + 0.5 * types
        i = int(sample["ids"][0] % 7)  # a deterministic "failure" in about 1 of 7 samples
        report = SampleReport(iterations=len(pos), stats={"energy_drift": 1e-6 * len(pos)})
        if i == 3:
            report = SampleReport(
                iterations=len(pos), converged=False, code=int(SampleStatus.NOT_CONVERGED),
                message="toy solver stalled", stats={"energy_drift": 0.5},
            )
        return {"target": target.astype(np.float32)}, report


@dataclass(frozen=True)
class TriMeshes(PointwiseFamily):
    """A triangulated unit square per sample; ``u = a sin(pi x) sin(pi y)`` on its nodes."""

    name = "toy-tri-meshes"
    seed: int = 0
    delay: float = 0.0

    def fields(self) -> dict[str, FieldSpec]:
        return {
            "points": FieldSpec("points", (None, 2), "input", ("node", "dim"), dtype="float64",
                                ragged=True),
            "cells": FieldSpec("cells", (None, 3), "input", ("cell", "vertex"), dtype="int32",
                               ragged=True),
            "boundary": FieldSpec("boundary", (None,), "input", ("node",), dtype="int32",
                                  ragged=True),
            "coef": FieldSpec("coef", (None,), "input", ("node",), dtype="float32",
                              ragged=True),
            "u": FieldSpec("u", (None,), "output", ("node",), dtype="float32", ragged=True),
        }

    def coords(self) -> dict[str, np.ndarray]:
        return {}

    def param_names(self) -> tuple[str, ...]:
        return ("a",)

    def sample(self, i: int) -> dict[str, Any]:
        rng = self.rng(i)
        nx, ny = (int(v) for v in rng.integers(4, 10, 2))
        x, y = np.meshgrid(np.linspace(0, 1, nx), np.linspace(0, 1, ny), indexing="ij")
        points = np.stack([x.ravel(), y.ravel()], axis=1)
        points[:, :] += 0.01 * rng.standard_normal(points.shape) * (
            (points > 0) & (points < 1)
        )
        k = np.arange(nx * ny).reshape(nx, ny)
        a, b, c, d = k[:-1, :-1].ravel(), k[1:, :-1].ravel(), k[1:, 1:].ravel(), k[:-1, 1:].ravel()
        cells = np.concatenate([np.stack([a, b, c], 1), np.stack([a, c, d], 1)]).astype(np.int32)
        on_edge = (x.ravel() == 0) | (x.ravel() == 1) | (y.ravel() == 0) | (y.ravel() == 1)
        amp = float(rng.uniform(0.5, 2.0))
        return {
            "points": points,
            "cells": cells,
            "boundary": on_edge.astype(np.int32),
            "coef": np.full(nx * ny, amp, dtype=np.float32),
            "a": amp,
        }

    def solve_one(self, sample: dict[str, Any]) -> tuple[dict[str, np.ndarray], SampleReport]:
        if self.delay:
            time.sleep(self.delay)
        p = sample["points"]
        u = sample["a"] * np.sin(np.pi * p[:, 0]) * np.sin(np.pi * p[:, 1])
        return {"u": u.astype(np.float32)}, SampleReport(iterations=1, residual=0.0)
