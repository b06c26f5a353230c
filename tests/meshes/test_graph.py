"""radius_graph and knn_graph: exact against brute force, equal across backends, typed errors."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from pdeflow.errors import ConfigError, DataError, ShapeError
from pdeflow.meshes import CappedGraph, _graph_torch, knn_graph, radius_graph


# ---------------------------------------------------------------------- brute force
def brute_d2(x: np.ndarray) -> np.ndarray:
    """All squared distances, float64, summed axis by axis (the documented formula)."""
    x = np.asarray(x, dtype=np.float64)
    s = (x[:, None, 0] - x[None, :, 0]) ** 2
    for k in range(1, x.shape[1]):
        s = s + (x[:, None, k] - x[None, :, k]) ** 2
    return s


def _allowed(x, batch, loop):
    n = len(x)
    allowed = np.ones((n, n), dtype=bool)
    if batch is not None:
        batch = np.asarray(batch)
        allowed &= batch[:, None] == batch[None, :]
    if not loop:
        allowed &= ~np.eye(n, dtype=bool)
    return allowed


def brute_radius(x, r, batch=None, loop=False, cap=None):
    """Edges (source row 0, target row 1) sorted by target then source; dropped count."""
    d2 = brute_d2(x)
    mask = (d2 <= r * r) & _allowed(x, batch, loop)
    src, tgt, dropped = [], [], 0
    for i in range(len(x)):  # i: target
        js = np.flatnonzero(mask[i])
        if cap is not None and js.size > cap:
            nearest = sorted(js, key=lambda j: (d2[i, j], j))[:cap]
            dropped += js.size - cap
            js = np.sort(np.array(nearest, dtype=np.int64))
        src += list(js)
        tgt += [i] * len(js)
    return np.array([src, tgt], dtype=np.int64).reshape(2, -1), dropped


def brute_knn(x, k, batch=None, loop=False):
    d2 = brute_d2(x)
    allowed = _allowed(x, batch, loop)
    src, tgt = [], []
    for i in range(len(x)):
        js = sorted(np.flatnonzero(allowed[i]), key=lambda j: (d2[i, j], j))[:k]
        src += sorted(js)
        tgt += [i] * len(js)
    return np.array([src, tgt], dtype=np.int64).reshape(2, -1)


def _both_backends_radius(x, r, batch=None, loop=False):
    ours = radius_graph(x, r, batch, loop=loop, method="kdtree")
    cell = radius_graph(torch.as_tensor(x), r, batch, loop=loop, method="torch")
    assert isinstance(cell, torch.Tensor) and cell.dtype == torch.int64
    return ours, cell.numpy()


# ---------------------------------------------------------------------- clouds
def clouds(max_n: int = 40):
    """Random clouds in 1-3 D, half of them on a coarse lattice (ties and duplicates)."""

    @st.composite
    def make(draw):
        n = draw(st.integers(0, max_n))
        dim = draw(st.integers(1, 3))
        if draw(st.booleans()):
            x = draw(arrays(np.int64, (n, dim), elements=st.integers(-3, 3))).astype(float)
        else:
            x = draw(arrays(np.float64, (n, dim), elements=st.floats(-5, 5, allow_nan=False)))
        batch = None
        if draw(st.booleans()):
            batch = draw(arrays(np.int64, (n,), elements=st.integers(0, 3)))
        return x, batch

    return make()


SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(cloud=clouds(), r=st.sampled_from([0.0, 0.5, 1.0, 1.5, 2.0, 3.7]), loop=st.booleans())
def test_radius_graph_equals_brute_force(cloud, r, loop):
    x, batch = cloud
    expected, _ = brute_radius(x, r, batch, loop)
    kd, cell = _both_backends_radius(x, r, batch, loop)
    np.testing.assert_array_equal(kd, expected)
    np.testing.assert_array_equal(cell, expected)


@SETTINGS
@given(cloud=clouds(), k=st.integers(1, 6), loop=st.booleans())
def test_knn_graph_equals_brute_force(cloud, k, loop):
    x, batch = cloud
    expected = brute_knn(x, k, batch, loop)
    np.testing.assert_array_equal(knn_graph(x, k, batch, loop=loop, method="kdtree"), expected)
    dense = knn_graph(torch.as_tensor(x), k, batch, loop=loop, method="torch")
    np.testing.assert_array_equal(dense.numpy(), expected)


@SETTINGS
@given(
    cloud=clouds(), r=st.sampled_from([1.0, 2.0, 3.0]), cap=st.integers(1, 4), loop=st.booleans()
)
def test_max_neighbors_keeps_the_nearest_and_counts_the_dropped(cloud, r, cap, loop):
    x, batch = cloud
    expected, dropped = brute_radius(x, r, batch, loop, cap=cap)
    for method, pts in (("kdtree", x), ("torch", torch.as_tensor(x))):
        out = radius_graph(pts, r, batch, max_neighbors=cap, loop=loop, method=method)
        assert isinstance(out, CappedGraph)
        np.testing.assert_array_equal(np.asarray(out.edge_index), expected)
        assert out.n_dropped == dropped


@pytest.mark.parametrize("dim", [2, 3])
@pytest.mark.parametrize("batched", [False, True])
def test_random_clouds_2d_3d_with_batches(dim, batched):
    rng = np.random.default_rng(dim)
    n = 600
    x = rng.random((n, dim)).astype(np.float32)  # float32 input: decided in float64
    batch = rng.integers(0, 5, n) if batched else None  # unsorted graph ids
    r = 0.12 if dim == 2 else 0.2
    expected, _ = brute_radius(x.astype(np.float64), r, batch)
    assert expected.shape[1] > 2 * n  # a real graph, not an empty one
    kd, cell = _both_backends_radius(x, r, batch)
    np.testing.assert_array_equal(kd, expected)
    np.testing.assert_array_equal(cell, expected)
    if batched:  # no edge crosses graphs
        assert (batch[kd[0]] == batch[kd[1]]).all()
    expected_knn = brute_knn(x, 7, batch)
    np.testing.assert_array_equal(knn_graph(x, 7, batch), expected_knn)
    np.testing.assert_array_equal(
        knn_graph(
            torch.as_tensor(x), 7, torch.as_tensor(batch) if batched else None, method="torch"
        ).numpy(),
        expected_knn,
    )


def test_duplicate_points():
    base = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [5.0, 5.0]])
    x = np.repeat(base, [4, 1, 3, 2], axis=0)[np.random.default_rng(0).permutation(10)]
    for r in (0.0, 1.0, 1.5):
        expected, _ = brute_radius(x, r)
        kd, cell = _both_backends_radius(x, r)
        np.testing.assert_array_equal(kd, expected)
        np.testing.assert_array_equal(cell, expected)
    # r = 0 joins exactly the copies: 4*3 + 3*2 + 2*1 directed edges
    assert radius_graph(x, 0.0).shape == (2, 12 + 6 + 2)
    for k in (1, 2, 3, 5, 9, 12):
        for loop in (False, True):
            expected = brute_knn(x, k, loop=loop)
            np.testing.assert_array_equal(knn_graph(x, k, loop=loop), expected)
            np.testing.assert_array_equal(
                knn_graph(torch.as_tensor(x), k, loop=loop, method="torch").numpy(), expected
            )
    # a cap among copies keeps the lowest indices (ties broken by index, deterministic)
    capped = radius_graph(np.zeros((5, 3)), 0.0, max_neighbors=2)
    np.testing.assert_array_equal(
        capped.edge_index, [[1, 2, 0, 2, 0, 1, 0, 1, 0, 1], [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]]
    )
    assert capped.n_dropped == 20 - 10


def test_closed_ball_on_a_lattice():
    """Pairs at exactly distance r are in: a 5x5 unit lattice with r=1 has 40 grid segments."""
    x = np.stack(np.meshgrid(np.arange(5.0), np.arange(5.0)), axis=-1).reshape(-1, 2)
    for method, pts in (("kdtree", x), ("torch", torch.as_tensor(x))):
        edges = np.asarray(radius_graph(pts, 1.0, method=method))
        assert edges.shape == (2, 80)
        assert (np.abs(x[edges[0]] - x[edges[1]]).sum(axis=1) == 1).all()
    # k=6 on a lattice ties among the diagonals: both backends break them by index
    expected = brute_knn(x, 6)
    np.testing.assert_array_equal(knn_graph(x, 6), expected)
    np.testing.assert_array_equal(
        knn_graph(torch.as_tensor(x), 6, method="torch").numpy(), expected
    )


def test_output_layout_and_kind():
    x = np.array([[0.0], [1.0], [3.0]])
    edges = radius_graph(x, 2.0)
    assert isinstance(edges, np.ndarray) and edges.dtype == np.int64
    np.testing.assert_array_equal(edges, [[1, 0, 2, 1], [0, 1, 1, 2]])  # sorted by target
    t = knn_graph(torch.tensor(x, dtype=torch.float32, requires_grad=True), 1)
    assert isinstance(t, torch.Tensor) and t.dtype == torch.int64 and t.device.type == "cpu"
    np.testing.assert_array_equal(t.numpy(), [[1, 0, 1], [0, 1, 2]])  # 2's nearest is 1
    assert radius_graph(np.zeros((0, 3)), 1.0).shape == (2, 0)
    assert knn_graph(np.zeros((0, 2)), 3).shape == (2, 0)
    capped = radius_graph(np.zeros((0, 3)), 1.0, max_neighbors=2)
    assert capped.edge_index.shape == (2, 0) and capped.n_dropped == 0


def test_pyg_flow_source_to_target():
    """In PyG, messages go from edge_index[0] to edge_index[1]: each node hears its k neighbours."""
    pyg = pytest.importorskip("torch_geometric.nn")
    x = torch.rand(50, 3, generator=torch.Generator().manual_seed(0))
    edge_index = knn_graph(x, 4)
    heard = pyg.SimpleConv(aggr="sum")(torch.ones(50, 1), edge_index)
    assert (heard == 4).all()
    # and the sources are the targets' nearest points
    d = torch.cdist(x, x)
    d.fill_diagonal_(float("inf"))
    nearest = d.topk(4, largest=False).indices.sort(dim=1).values
    torch.testing.assert_close(edge_index[0].reshape(50, 4), nearest)


def test_small_chunks_and_wide_sparse_grids(monkeypatch):
    """Chunked candidates, grouped/split kNN blocks and widened cells give the same edges."""
    monkeypatch.setitem(_graph_torch._BUDGET, "cpu", 50)
    rng = np.random.default_rng(3)
    x = rng.random((300, 3))
    batch = np.sort(rng.integers(0, 30, 300))
    for b in (None, batch):
        np.testing.assert_array_equal(
            radius_graph(torch.as_tensor(x), 0.2, b, method="torch").numpy(),
            radius_graph(x, 0.2, b),
        )
        np.testing.assert_array_equal(
            knn_graph(torch.as_tensor(x), 5, b, method="torch").numpy(), knn_graph(x, 5, b)
        )
    # 8-D points spread over 1e6 with r = 1e-3: the cell grid would overflow int64 keys
    y = np.concatenate([rng.random((100, 8)) * 1e6, np.zeros((20, 8)) + rng.random((20, 8)) * 1e-3])
    expected, _ = brute_radius(y, 1e-3)
    assert expected.shape[1] > 0
    kd, cell = _both_backends_radius(y, 1e-3)
    np.testing.assert_array_equal(kd, expected)
    np.testing.assert_array_equal(cell, expected)


def test_torch_path_equals_kdtree_on_a_larger_cloud():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(20_000, 3))
    kd = radius_graph(x, 0.15, max_neighbors=12)
    cell = radius_graph(torch.as_tensor(x), 0.15, max_neighbors=12, method="torch")
    np.testing.assert_array_equal(kd.edge_index, cell.edge_index.numpy())
    assert kd.n_dropped == cell.n_dropped > 0


@pytest.mark.parametrize(
    ("call", "error", "words"),
    [
        (lambda: radius_graph(np.zeros((4, 2)), 1.0, batch=np.zeros(3, int)), ShapeError, "batch"),
        (lambda: knn_graph(np.zeros((4, 2)), 2, batch=np.zeros((4, 1), int)), ShapeError, "batch"),
        (lambda: radius_graph(np.zeros((4, 2)), -0.1), ConfigError, "'r'"),
        (lambda: radius_graph(np.zeros((4, 2)), float("inf")), ConfigError, "'r'"),
        (lambda: knn_graph(np.zeros((4, 2)), 0), ConfigError, "'k'"),
        (lambda: knn_graph(np.zeros((4, 2)), 2.5), ConfigError, "'k'"),
        (
            lambda: radius_graph(np.zeros((4, 2)), 1.0, max_neighbors=0),
            ConfigError,
            "max_neighbors",
        ),
        (lambda: radius_graph(np.array([[0.0, np.nan], [1, 1]]), 1.0), DataError, "non-finite"),
        (lambda: knn_graph(torch.tensor([[0.0, float("inf")]]), 1), DataError, "non-finite"),
        (lambda: radius_graph(np.zeros(4), 1.0), ShapeError, "2-D"),
        (lambda: knn_graph(np.zeros((2, 3, 4)), 1), ShapeError, "2-D"),
        (lambda: radius_graph(np.zeros((4, 2)), 1.0, batch=np.zeros(4)), DataError, "integer"),
        (
            lambda: radius_graph(np.zeros((4, 2)), 1.0, batch=-np.ones(4, int)),
            DataError,
            "negative",
        ),
        (lambda: radius_graph(np.zeros((4, 2)), 1.0, method="ball"), ConfigError, "method"),
    ],
)
def test_bad_input_one_line_error(call, error, words):
    with pytest.raises(error) as info:
        call()
    message = str(info.value)
    assert words in message and "\n" not in message


def test_numpy_use_loads_neither_torch_nor_upper_layers():
    """meshes sits below datagen and operators; numpy callers do not pay for torch."""
    code = (
        "import sys, numpy as np\n"
        "from pdeflow.meshes import knn_graph, radius_graph\n"
        "radius_graph(np.random.rand(50, 3), 0.3); knn_graph(np.random.rand(50, 3), 3)\n"
        "bad = [m for m in sys.modules if m == 'torch' or m.startswith(('pdeflow.datagen',"
        " 'pdeflow.operators'))]\n"
        "assert not bad, bad\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
