"""Loss math against numpy, and the normalizer round trip."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pdeflow.errors import ConfigError, ShapeError
from pdeflow.operators import UnitGaussianNormalizer
from pdeflow.operators.losses import H1Loss, LpLoss


@pytest.mark.parametrize("p", [1, 2, 3])
def test_lp_loss_matches_numpy(p):
    rng = np.random.default_rng(0)
    pred, target = rng.standard_normal((2, 4, 3, 5, 6))
    diff = (pred - target).reshape(4, -1)
    rel = np.sum(np.abs(diff) ** p, 1) ** (1 / p) / np.sum(
        np.abs(target.reshape(4, -1)) ** p, 1
    ) ** (1 / p)
    ab = np.mean(np.abs(diff) ** p, 1) ** (1 / p)
    tp, tt = torch.tensor(pred), torch.tensor(target)
    np.testing.assert_allclose(LpLoss(p, reduction="none")(tp, tt).numpy(), rel, rtol=1e-5)
    np.testing.assert_allclose(float(LpLoss(p)(tp, tt)), rel.mean(), rtol=1e-5)
    np.testing.assert_allclose(float(LpLoss(p, reduction="sum")(tp, tt)), rel.sum(), rtol=1e-5)
    np.testing.assert_allclose(
        LpLoss(p, relative=False, reduction="none")(tp, tt).numpy(), ab, rtol=1e-5
    )


def test_h1_loss_matches_numpy():
    rng = np.random.default_rng(1)
    pred, target = rng.standard_normal((2, 3, 1, 8, 10))

    def sq(f):
        g = np.gradient(f, 1 / 8, 1 / 10, axis=(2, 3))
        return np.mean(f**2, (1, 2, 3)) + sum(np.mean(x**2, (1, 2, 3)) for x in g)

    expected = np.sqrt(sq(pred - target) / sq(target))
    got = H1Loss(reduction="none")(torch.tensor(pred), torch.tensor(target)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_h1_is_discretization_invariant():
    def f(n):
        x = torch.linspace(0, 1, n)
        return torch.sin(3 * x)[None, None], torch.sin(3 * x + 0.1)[None, None]

    a, b = H1Loss()(*f(200)), H1Loss()(*f(400))
    assert abs(float(a) - float(b)) < 1e-2 * float(a)


def test_loss_errors():
    with pytest.raises(ShapeError, match="target shape"):
        LpLoss()(torch.zeros(2, 1, 4), torch.zeros(2, 1, 5))
    with pytest.raises(ConfigError, match="reduction"):
        LpLoss(reduction="avg")
    with pytest.raises(ConfigError, match="'p'"):
        LpLoss(p=0.5)


def test_normalizer_round_trip_and_stats():
    x = torch.randn(16, 2, 8, 8) * torch.tensor([3.0, 0.5]).view(1, 2, 1, 1) + torch.tensor(
        [1.0, -2.0]
    ).view(1, 2, 1, 1)
    norm = UnitGaussianNormalizer.fitted(x)
    enc = norm.encode(x)
    torch.testing.assert_close(enc.mean(dim=(0, 2, 3)), torch.zeros(2), atol=1e-5, rtol=0)
    torch.testing.assert_close(
        enc.std(dim=(0, 2, 3), unbiased=False), torch.ones(2), atol=1e-4, rtol=0
    )
    torch.testing.assert_close(norm.decode(enc), x, atol=1e-5, rtol=1e-5)
    batched = UnitGaussianNormalizer.fitted([x[:5], x[5:]])
    torch.testing.assert_close(batched.mean, norm.mean)
    restored = UnitGaussianNormalizer.from_dict(norm.to_dict())
    torch.testing.assert_close(restored.encode(x), enc)
    with pytest.raises(ShapeError):
        norm.encode(torch.zeros(1, 3, 4))
