"""NeuralStagger: space/time decomposition (bit-exact) and the model."""

from __future__ import annotations

import functools

import pytest
import torch

from pdeflow.errors import ConfigError, ShapeError
from pdeflow.operators.models.fno import FNO
from pdeflow.operators.models.unet import UNet
from pdeflow.operators.stagger import (
    NeuralStagger,
    space_to_stagger,
    stagger_to_space,
    stagger_to_time,
    time_to_stagger,
)


@pytest.mark.parametrize("s", [2, 4])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_stagger_roundtrip_is_bit_exact(s, dtype):
    u = torch.randn(3, 2, 16, 8, dtype=dtype)
    v = space_to_stagger(u, s)
    assert v.shape == (3, 2 * s * s, 16 // s, 8 // s)
    assert torch.equal(stagger_to_space(v, s), u)
    # sub-grid (a, b) of channel c is u[c, a::s, b::s]
    for c in range(2):
        for a in range(s):
            for b in range(s):
                assert torch.equal(v[:, c * s * s + a * s + b], u[:, c, a::s, b::s])


def test_stagger_extra_leading_axes():
    u = torch.randn(2, 3, 1, 8, 8)
    assert torch.equal(stagger_to_space(space_to_stagger(u, 2), 2), u)


def test_temporal_split_k2_is_bit_exact():
    frames = torch.randn(2, 6, 1, 4, 4)
    sub = time_to_stagger(frames, 2)
    assert sub.shape == (2, 2, 3, 1, 4, 4)
    assert torch.equal(sub[:, 0], frames[:, 0::2]) and torch.equal(sub[:, 1], frames[:, 1::2])
    assert torch.equal(stagger_to_time(sub, 2), frames)


def test_decomposition_errors():
    with pytest.raises(ShapeError, match="not divisible by s = 4"):
        space_to_stagger(torch.zeros(1, 1, 6, 8), 4)
    with pytest.raises(ShapeError, match="multiple of k = 2"):
        time_to_stagger(torch.zeros(1, 3, 4), 2)
    with pytest.raises(ShapeError, match="'s' factor"):
        space_to_stagger(torch.zeros(1, 1, 4, 4), 0)


BASES = {
    "unet": functools.partial(UNet, width=8, depth=1),
    "cnn": functools.partial(UNet, width=8, depth=0),
    "fno": functools.partial(FNO, modes=(3, 3), width=8, n_layers=2),
}


@pytest.mark.parametrize("base", sorted(BASES))
@pytest.mark.parametrize("share", [True, False])
@pytest.mark.parametrize(("s", "k"), [(2, 1), (2, 2), (4, 1)])
def test_neural_stagger_shapes_and_levels(base, share, s, k):
    torch.manual_seed(0)
    net = NeuralStagger(
        BASES[base], s=s, k=k, share_weights=share, channels=2, cond_channels=1, identity_init=False
    )  # float32: the FNO's spectral layers are float32
    u, cond = torch.randn(3, 2, 16, 16), torch.randn(3, 1, 16, 16)
    traj = net.trajectory(u, cond)
    assert traj.shape == (3, k, 2, 16, 16)
    assert torch.equal(net(u, cond), traj[:, -1])
    assert net.n_subtasks == s * s * k
    assert len(net.solvers) == (1 if share else s * s * k)
    level = 0
    while s % 2**level == 0:
        r = 2**level
        coarse = net.forward_level(u, level, cond)
        assert coarse.shape == (3, 2, 16 // r, 16 // r)
        torch.testing.assert_close(coarse, traj[:, -1, :, ::r, ::r], rtol=0, atol=0)
        level += 1


def test_identity_init_and_subgrid_ownership():
    """Untrained it is the identity; sub-solver (a, b) changes only sub-grid (a, b)."""
    net = NeuralStagger(BASES["cnn"], s=2, share_weights=False)
    u = torch.randn(2, 1, 8, 8)
    assert torch.equal(net(u), u)
    with torch.no_grad():
        net.solvers[1].head.bias.fill_(1.0)  # sub-grid (0, 1)
    d = net(u) - u
    assert torch.allclose(d[..., 0::2, 1::2], torch.ones(1))
    assert d[..., 0::2, 0::2].abs().max() == 0 and d[..., 1::2, :].abs().max() == 0


def test_neural_stagger_errors():
    with pytest.raises(ConfigError, match="'s' parameter of NeuralStagger"):
        NeuralStagger(BASES["cnn"], s=0)
    with pytest.raises(ConfigError, match="'base'"):
        NeuralStagger("unet", s=2)
    net = NeuralStagger(BASES["cnn"], s=2, cond_channels=1)
    with pytest.raises(ShapeError, match="cond of shape"):
        net(torch.zeros(1, 1, 8, 8))
    with pytest.raises(ShapeError, match="state of shape"):
        net(torch.zeros(1, 2, 8, 8), torch.zeros(1, 1, 8, 8))
    with pytest.raises(ConfigError, match="'level'"):
        net.forward_level(torch.zeros(1, 1, 8, 8), 2, torch.zeros(1, 1, 8, 8))


def test_unet_rejects_bad_grid():
    with pytest.raises(ShapeError, match="multiples of 2\\*\\*depth = 4"):
        UNet(1, 1, width=4, depth=2)(torch.zeros(1, 1, 6, 6))


def test_neural_stagger_backpropagates_to_every_subsolver():
    net = NeuralStagger(BASES["cnn"], s=2, k=2, share_weights=False)
    net.trajectory(torch.randn(2, 1, 8, 8)).pow(2).sum().backward()
    for solver in net.solvers:
        assert solver.head.weight.grad.abs().sum() > 0
