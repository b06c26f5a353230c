"""chamfer_distance: per graph, equal to brute force, differentiable (gradcheck), chunked."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pdeflow.errors import ConfigError, DataError, ShapeError
from pdeflow.operators.losses import _blocks, chamfer_distance


def brute_chamfer(x, y, bx=None, by=None) -> np.ndarray:
    """Per-graph mean squared nearest distance both ways, from the full distance matrix."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    bx = np.zeros(len(x), int) if bx is None else np.asarray(bx)
    by = np.zeros(len(y), int) if by is None else np.asarray(by)
    out = []
    for g in range(max(bx.max(), by.max()) + 1):
        p, q = x[bx == g], y[by == g]
        d2 = ((p[:, None, :] - q[None, :, :]) ** 2).sum(-1)
        out.append(d2.min(axis=1).mean() + d2.min(axis=0).mean())
    return np.array(out)


@pytest.mark.parametrize("dim", [2, 3])
def test_equals_brute_force_single_cloud(dim):
    rng = np.random.default_rng(dim)
    x, y = rng.normal(size=(300, dim)), rng.normal(size=(250, dim)) + 0.3
    got = chamfer_distance(torch.as_tensor(x), torch.as_tensor(y))
    assert got.dtype == torch.float64 and got.ndim == 0
    np.testing.assert_allclose(float(got), brute_chamfer(x, y)[0], rtol=1e-6, atol=1e-12)
    # float32 input: same to 1e-6 relative
    got32 = chamfer_distance(torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y).float())
    np.testing.assert_allclose(float(got32), brute_chamfer(x, y)[0], rtol=1e-5)


@pytest.mark.parametrize("block_size", [None, 1, 37, 500])
def test_per_graph_unsorted_batches_and_small_blocks(block_size):
    """Graphs of different sizes, ids in any order; blocks split big graphs and group small
    ones; the result never merges graphs."""
    rng = np.random.default_rng(0)
    sizes_x, sizes_y = [5, 120, 1, 40, 9], [7, 80, 3, 1, 60]
    bx = rng.permutation(np.repeat(np.arange(5), sizes_x))
    by = rng.permutation(np.repeat(np.arange(5), sizes_y))
    x = rng.normal(size=(len(bx), 3)) + bx[:, None]  # graphs far apart: merging would differ
    y = rng.normal(size=(len(by), 3)) + by[:, None] * 1.1
    expected = brute_chamfer(x, y, bx, by)
    per_graph = chamfer_distance(
        torch.as_tensor(x),
        torch.as_tensor(y),
        torch.as_tensor(bx),
        torch.as_tensor(by),
        reduction="none",
        block_size=block_size,
    )
    assert per_graph.shape == (5,)
    np.testing.assert_allclose(per_graph.numpy(), expected, rtol=1e-6, atol=1e-12)
    mean = chamfer_distance(
        torch.as_tensor(x),
        torch.as_tensor(y),
        torch.as_tensor(bx),
        torch.as_tensor(by),
        block_size=block_size,
    )
    np.testing.assert_allclose(float(mean), expected.mean(), rtol=1e-6)
    merged = brute_chamfer(x, y)[0]
    assert abs(merged - expected.mean()) > 1e-3  # what a merged cloud would have given


def test_gradcheck_float64():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(12, 3, dtype=torch.float64, generator=gen, requires_grad=True)
    y = torch.randn(9, 3, dtype=torch.float64, generator=gen, requires_grad=True)
    bx = torch.tensor([0] * 7 + [1] * 5)
    by = torch.tensor([1, 0, 1, 0, 0, 1, 1, 0, 1])

    def f(a, b):
        return chamfer_distance(a, b, bx, by, reduction="none", block_size=10)

    assert torch.autograd.gradcheck(f, (x, y))
    assert torch.autograd.gradcheck(lambda a, b: chamfer_distance(a, b), (x, y))


def test_gradient_pulls_clouds_together():
    x = torch.tensor([[0.0, 0.0], [2.0, 0.0]], requires_grad=True)
    y = torch.tensor([[0.0, 1.0]])
    chamfer_distance(x, y).backward()
    # d/dx of mean_i |x_i - y|^2 (x side) plus |y - x_0|^2 (y side, nearest is x_0)
    torch.testing.assert_close(x.grad, torch.tensor([[0.0, -1.0 - 2.0], [2.0, -1.0]]))


def test_identical_clouds_and_reductions():
    x = torch.rand(50, 3)
    assert float(chamfer_distance(x, x)) == 0.0
    y = x + torch.tensor([0.0, 0.0, 0.5])
    b = torch.arange(50) % 2
    none = chamfer_distance(x, y, b, b, reduction="none")
    assert float(chamfer_distance(x, y, b, b, reduction="sum")) == pytest.approx(float(none.sum()))


def test_blocked_search_matches_chunked_cdist():
    """A 20k x 20k comparison in blocks of 1M entries (no block holds the 400M-entry matrix)
    equals a reference from torch.cdist in row chunks."""
    assert max((b - a) * (d - c) for a, b, c, d, _ in _blocks([20_000], [20_000], 1 << 20)) <= (
        1 << 20
    )
    gen = torch.Generator().manual_seed(1)
    x, y = torch.rand(20_000, 3, generator=gen), torch.rand(20_000, 3, generator=gen)
    value = chamfer_distance(x, y, block_size=1 << 20)
    # reference from a torch.cdist in row chunks
    ref = 0.0
    col = torch.full((20_000,), float("inf"))
    for a in range(0, 20_000, 2_000):
        d2 = torch.cdist(x[a : a + 2_000].double(), y.double()).pow(2)
        ref += float(d2.min(dim=1).values.sum())
        col = torch.minimum(col, d2.min(dim=0).values.float())
    ref = ref / 20_000 + float(col.double().mean())
    assert float(value) == pytest.approx(ref, rel=1e-5)


@pytest.mark.parametrize(
    ("call", "error", "words"),
    [
        (lambda: chamfer_distance(torch.rand(4, 3), torch.rand(4, 2)), ShapeError, "coordinates"),
        (lambda: chamfer_distance(torch.rand(4), torch.rand(4, 1)), ShapeError, "2-D"),
        (
            lambda: chamfer_distance(
                torch.rand(4, 2),
                torch.rand(3, 2),
                torch.zeros(3, dtype=int),
                torch.zeros(3, dtype=int),
            ),
            ShapeError,
            "batch_x",
        ),
        (
            lambda: chamfer_distance(torch.rand(4, 2), torch.rand(3, 2), torch.zeros(4, dtype=int)),
            ShapeError,
            "both",
        ),
        (
            lambda: chamfer_distance(
                torch.rand(2, 2), torch.rand(2, 2), torch.tensor([0, 2]), torch.tensor([0, 1])
            ),
            DataError,
            "graph 1",
        ),
        (
            lambda: chamfer_distance(torch.tensor([[float("nan"), 0.0]]), torch.rand(2, 2)),
            DataError,
            "non-finite",
        ),
        (
            lambda: chamfer_distance(
                torch.rand(2, 2), torch.rand(2, 2), torch.tensor([0.0, 1.0]), torch.tensor([0, 1])
            ),
            DataError,
            "integer",
        ),
        (lambda: chamfer_distance(torch.rand(2, 2), torch.rand(0, 2)), DataError, "0 in y"),
        (
            lambda: chamfer_distance(torch.rand(2, 2), torch.rand(2, 2), reduction="max"),
            ConfigError,
            "reduction",
        ),
        (
            lambda: chamfer_distance(torch.rand(2, 2), torch.rand(2, 2), block_size=0),
            ConfigError,
            "block_size",
        ),
    ],
)
def test_bad_input_one_line_error(call, error, words):
    with pytest.raises(error) as info:
        call()
    assert words in str(info.value) and "\n" not in str(info.value)
