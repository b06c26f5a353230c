"""SKR ordering: a permutation whose path is shorter than a random order's."""

from __future__ import annotations

import numpy as np
import pytest

from pdeflow.datagen import families
from pdeflow.errors import ConfigError, DataError
from pdeflow.solvers import hilbert_index, morton_index, path_length, skr_order


@pytest.fixture(scope="module")
def fields():
    fam = families.get("darcy", resolution=24, seed=5)
    return np.stack([fam.sample(i)["a"] for i in range(120)])


@pytest.mark.parametrize("method", ["greedy", "hilbert", "morton", "knn", "auto"])
def test_order_is_permutation_and_shorter_than_random(fields, method):
    order = skr_order(fields, method=method)
    assert order.dtype.kind == "i"
    assert np.array_equal(np.sort(order), np.arange(len(fields)))
    rng = np.random.default_rng(0)
    random_len = np.mean([path_length(fields, rng.permutation(len(fields))) for _ in range(5)])
    assert path_length(fields, order) < 0.95 * random_len


def test_greedy_is_best_on_a_curve():
    t = np.random.default_rng(1).permutation(200) / 200.0
    X = np.stack([np.cos(3 * t), np.sin(3 * t), t], axis=1)
    order = skr_order(X, method="greedy")
    assert path_length(X, order) < 1.3 * path_length(X, np.argsort(t))
    assert path_length(X, order) < 0.1 * path_length(X, np.arange(200))


def test_scalable_variant_on_many_points():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((12_000, 2)) @ rng.standard_normal((2, 64))
    order = skr_order(X, method="auto")  # N > 4000: k-NN chain on PCA features
    assert np.array_equal(np.sort(order), np.arange(len(X)))
    assert path_length(X, order) < 0.1 * path_length(X, rng.permutation(len(X)))


def test_hilbert_visits_grid_cells_adjacently():
    s = 16
    g = (
        np.stack(np.meshgrid(np.arange(s), np.arange(s), indexing="ij"), -1).reshape(-1, 2) + 0.5
    ) / s
    key = hilbert_index(g, bits=4)
    assert len(np.unique(key)) == s * s
    steps = np.abs(np.diff(g[np.argsort(key)] * s, axis=0)).sum(axis=1)
    np.testing.assert_allclose(steps, 1.0)  # every step moves to a neighbouring cell
    assert len(np.unique(morton_index(g, bits=4))) == s * s


def test_identity_and_bad_input():
    assert np.array_equal(skr_order(np.zeros((4, 3)), method="none"), np.arange(4))
    with pytest.raises(ConfigError, match="'method' parameter of skr_order"):
        skr_order(np.zeros((4, 3)), method="random")
    with pytest.raises(DataError):
        skr_order(np.array([[np.nan, 1.0], [0.0, 1.0], [1.0, 1.0]]))
