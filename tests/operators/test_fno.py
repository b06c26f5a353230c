"""FNO shapes, resolution transfer and input validation."""

from __future__ import annotations

import math

import pytest
import torch

from pdeflow.errors import ConfigError, ShapeError
from pdeflow.operators import FNO
from pdeflow.operators.layers import SpectralConv


@pytest.mark.parametrize(
    ("modes", "grid"),
    [((6,), (24,)), ((4, 5), (16, 12)), ((3, 3, 2), (8, 8, 6))],
    ids=["1d", "2d", "3d"],
)
def test_shapes(modes, grid):
    model = FNO(in_channels=2, out_channels=3, modes=modes, width=8, n_layers=2)
    out = model(torch.randn(2, 2, *grid))
    assert out.shape == (2, 3, *grid)
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters())


@pytest.mark.parametrize("padding", [0.0, 0.25])
def test_padding_and_options(padding):
    model = FNO(
        1,
        1,
        modes=(4, 4),
        width=8,
        n_layers=2,
        padding=padding,
        channel_mlp=False,
        grid_embedding=False,
    )
    assert model(torch.randn(1, 1, 16, 16)).shape == (1, 1, 16, 16)


def test_spectral_conv_matches_direct_fft():
    """The axis-by-axis truncated transform equals rfftn -> keep corners -> irfftn."""
    conv = SpectralConv(3, 2, modes=(4, 3))
    torch.nn.init.normal_(conv.weight)
    x = torch.randn(2, 3, 16, 10)
    w = torch.view_as_complex(conv.weight.detach())  # (8, 3, Cin, Cout)
    xf = torch.fft.rfftn(x, dim=(-2, -1))
    out = torch.zeros(2, 2, 16, 6, dtype=torch.cfloat)
    rows = list(range(4)) + list(range(12, 16))
    for r_w, r in enumerate(rows):
        out[:, :, r, :3] = torch.einsum("bik,kio->bok", xf[:, :, r, :3], w[r_w])
    ref = torch.fft.irfftn(out, s=(16, 10), dim=(-2, -1))
    torch.testing.assert_close(conv(x), ref, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(
    ("modes", "shape"),
    [
        ((5,), (3, 4, 16)),
        ((4, 5), (2, 4, 12, 15)),
        ((4, 5), (2, 4, 6, 7)),
        ((3, 4, 2), (2, 4, 10, 9, 8)),
    ],
    ids=["1d", "2d", "2d-coarse", "3d"],
)
def test_cuda_and_cpu_transforms_agree(modes, shape):
    """The CUDA path (one rfftn, real-valued mixing) and the CPU path (axis by axis, complex
    mixing) give the same values and gradients, coarse grids included."""
    conv = SpectralConv(4, 3, modes).double()
    x = torch.randn(*shape, dtype=torch.double, requires_grad=True)
    sizes = tuple(shape[2:])
    kept = conv._kept(sizes)
    ya = conv._forward_axiswise(x, sizes, kept)
    yb = conv._forward_full(x, sizes, kept)
    torch.testing.assert_close(yb, ya, rtol=1e-12, atol=1e-12)
    g = torch.randn_like(ya)
    grads_a = torch.autograd.grad((ya * g).sum(), (x, conv.weight))
    grads_b = torch.autograd.grad((yb * g).sum(), (x, conv.weight))
    for a, b in zip(grads_a, grads_b, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-12, atol=1e-12)


def test_resolution_transfer():
    """A band-limited input sampled at two resolutions gives the same function (sampled)."""
    model = FNO(1, 1, modes=(4, 4), width=8, n_layers=2, channel_mlp=False, grid_embedding=True)
    model.eval()

    def field(n):
        t = torch.arange(n) / n
        xx, yy = torch.meshgrid(t, t, indexing="ij")
        return (torch.sin(2 * math.pi * xx) + 0.5 * torch.cos(2 * math.pi * (xx + 2 * yy)))[
            None, None
        ]

    with torch.no_grad():
        fine = model(field(64))
        coarse = model(field(32))
    # GELU creates harmonics beyond the kept modes, so agreement is close, not exact
    err = (fine[..., ::2, ::2] - coarse).norm() / coarse.norm()
    assert err < 2e-2
    # the spectral layer alone is exactly resolution independent on band-limited input
    conv = model.blocks[0].spectral
    v = field(64).expand(1, 8, 64, 64).contiguous()
    v2 = field(32).expand(1, 8, 32, 32).contiguous()
    with torch.no_grad():
        torch.testing.assert_close(conv(v)[..., ::2, ::2], conv(v2), atol=1e-5, rtol=1e-4)


def test_coarse_grid_uses_fewer_modes():
    model = FNO(1, 1, modes=(12,), width=8, n_layers=1)
    assert model(torch.randn(1, 1, 8)).shape == (1, 1, 8)


def test_wrong_input_errors():
    model = FNO(in_channels=2, out_channels=1, modes=(4, 4), width=8, n_layers=1)
    with pytest.raises(ShapeError, match="2 channel"):
        model(torch.randn(1, 3, 16, 16))
    with pytest.raises(ShapeError, match="2-D"):
        model(torch.randn(1, 2, 16))


def test_bad_constructor_args():
    with pytest.raises(ConfigError, match="modes"):
        FNO(1, 1, modes=(4, 4, 4, 4))
    with pytest.raises(ConfigError, match="width"):
        FNO(1, 1, modes=4, width=0)


def test_repr_and_reset():
    model = FNO(1, 1, modes=(4,), width=8, n_layers=2)
    assert repr(model).startswith("FNO(1 -> 1, modes=(4,)")
    assert "SpectralConv(8, 8, modes=(4,)" in repr(model.blocks[0].spectral)
    before = model.blocks[0].spectral.weight.clone()
    model.reset_parameters()
    assert not torch.equal(before, model.blocks[0].spectral.weight)


@pytest.mark.parametrize(("n", "m"), [(16, 5), (16, 9), (15, 8), (8, 1)])
def test_truncated_rfft_gradient(n, m):
    from pdeflow.operators.layers.spectral import truncated_rfft

    x = torch.randn(3, n, dtype=torch.float64, requires_grad=True)
    g = torch.randn(3, m, dtype=torch.complex128)
    (ours,) = torch.autograd.grad(torch.view_as_real(truncated_rfft(x, m) * g.conj()).sum(), x)
    (ref,) = torch.autograd.grad(
        torch.view_as_real(torch.fft.rfft(x, dim=-1)[..., :m] * g.conj()).sum(), x
    )
    torch.testing.assert_close(ours, ref)
    assert torch.autograd.gradcheck(lambda t: truncated_rfft(t, m), (x,))
