"""Spectral convolution: the Fourier layer of the FNO (Li et al. 2020, arXiv:2010.08895)."""

from __future__ import annotations

import math

import torch
from torch import nn

from pdeflow.errors import ConfigError, ShapeError

__all__ = ["SpectralConv", "truncated_rfft"]


class _TruncatedRFFT(torch.autograd.Function):
    """``rfft(x, dim=-1)[..., :m]`` with a cheap backward.

    Autograd's backward of ``rfft`` zero-fills the gradient to the full half-spectrum and runs
    a full complex FFT; the adjoint of the truncated transform is a zero-padded real inverse
    FFT instead: ``grad_x = (n / 2) * irfft(G, n)`` with ``G = grad`` except that the DC
    (and Nyquist, if kept) coefficients are doubled.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, m: int) -> torch.Tensor:
        n = x.shape[-1]
        ctx.n, ctx.m = n, m
        return torch.fft.rfft(x, dim=-1)[..., :m]

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        n, m = ctx.n, ctx.m
        g = grad.clone()
        g[..., 0] *= 2
        if n % 2 == 0 and m == n // 2 + 1:
            g[..., -1] *= 2
        return torch.fft.irfft(g, n=n, dim=-1) * (n / 2), None


def truncated_rfft(x: torch.Tensor, m: int) -> torch.Tensor:
    """The first ``m`` coefficients of ``torch.fft.rfft(x, dim=-1)`` (differentiable).

    Shapes: ``(..., n)`` real -> ``(..., m)`` complex, ``m <= n // 2 + 1``.
    """
    return _TruncatedRFFT.apply(x, m)


def _check_modes(modes: int | tuple[int, ...] | list[int]) -> tuple[int, ...]:
    modes = (modes,) if isinstance(modes, int) else tuple(modes)
    if not 1 <= len(modes) <= 3:
        raise ConfigError(f"The 'modes' parameter must give 1, 2 or 3 axes. Got {modes!r}.")
    for m in modes:
        if not isinstance(m, int) or isinstance(m, bool) or m < 1:
            raise ConfigError(f"The 'modes' parameter must hold ints >= 1. Got {modes!r}.")
    return modes


class SpectralConv(nn.Module):
    r"""Fourier integral operator with truncated modes.

    .. math::

        (\mathcal K v)(x) = \mathcal F^{-1}\big(R \cdot (\mathcal F v)\big)(x) + b,
        \qquad (R \cdot \hat v)_{k,o} = \sum_i R_{k,i,o}\, \hat v_{k,i},

    where :math:`\mathcal F` is the real FFT over the spatial axes (``torch.fft.rfft`` on the
    last axis, ``torch.fft.fft`` on the others) and :math:`R` is a learned complex tensor that
    is non-zero only for the kept frequencies: :math:`k_j \in \{-m_j, \dots, m_j - 1\}` on every
    axis but the last, :math:`k_d \in \{0, \dots, m_d - 1\}` on the last (the original FNO
    convention: ``modes=12`` keeps 12 positive and 12 negative frequencies).

    The transform is evaluated axis by axis so that each FFT runs only on the modes still
    needed, and the per-frequency channel mixing is one complex batched matmul (weights
    stored as real pairs, viewed with ``torch.view_as_complex``).  Weights are independent
    of the grid size, so one layer applies at any resolution; a grid with fewer modes than
    ``modes`` uses the lowest ones.

    Parameters
    ----------
    in_channels, out_channels : int
        Channels :math:`C_{in}`, :math:`C_{out}`.
    modes : int or tuple of int
        Kept frequencies per spatial axis (1, 2 or 3 axes).
    bias : bool
        Add a learned per-channel bias :math:`b`.

    Shapes
    ------
    input ``(B, C_in, *S)`` with ``len(S) == len(modes)``; output ``(B, C_out, *S)``.

    Examples
    --------
    >>> conv = SpectralConv(4, 8, modes=(6, 6))
    >>> conv(torch.randn(2, 4, 32, 32)).shape
    torch.Size([2, 8, 32, 32])
    """

    def __init__(
        self, in_channels: int, out_channels: int, modes: int | tuple[int, ...], bias: bool = True
    ) -> None:
        super().__init__()
        self.in_channels = int(in_channels)
        self.out_channels = int(out_channels)
        self.modes = _check_modes(modes)
        # weight[..., 0] real, [..., 1] imaginary; mode axes: 2m on leading axes, m on the last.
        sizes = [2 * m for m in self.modes[:-1]] + [self.modes[-1]]
        self.weight = nn.Parameter(torch.empty(*sizes, self.in_channels, self.out_channels, 2))
        self.bias = nn.Parameter(torch.empty(self.out_channels)) if bias else None
        self.reset_parameters()

    @property
    def ndim(self) -> int:
        """Number of spatial axes (the length of ``modes``)."""
        return len(self.modes)

    def reset_parameters(self) -> None:
        """Uniform complex weights scaled by ``1 / (C_in C_out)`` (FNO paper), zero bias."""
        scale = 1.0 / (self.in_channels * self.out_channels)
        with torch.no_grad():
            self.weight.uniform_(0.0, 1.0).mul_(scale)
            if self.bias is not None:
                self.bias.zero_()

    def __repr__(self) -> str:
        return (
            f"SpectralConv({self.in_channels}, {self.out_channels}, modes={self.modes}, "
            f"bias={self.bias is not None})"
        )

    # ------------------------------------------------------------------ forward
    def _kept(self, sizes: tuple[int, ...]) -> tuple[int, ...]:
        """Modes actually used on a grid of ``sizes`` (fewer when the grid is coarse)."""
        kept = [min(m, n // 2) for m, n in zip(self.modes[:-1], sizes[:-1], strict=True)]
        kept.append(min(self.modes[-1], sizes[-1] // 2 + 1))
        return tuple(kept)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d = self.ndim
        if x.ndim != d + 2 or x.shape[1] != self.in_channels:
            raise ShapeError(
                f"SpectralConv expects input (batch, {self.in_channels}, "
                f"{', '.join('n' + str(i) for i in range(d))}); got shape {tuple(x.shape)}"
            )
        sizes = tuple(x.shape[2:])
        kept = self._kept(sizes)
        with torch.autocast(device_type=x.device.type, enabled=False):
            x = x.float()
            if x.device.type == "cuda":
                y = self._forward_full(x, sizes, kept)
            else:
                y = self._forward_axiswise(x, sizes, kept)
            if self.bias is not None:
                y = y + self.bias.float().view(-1, *([1] * d))
        return y

    def _forward_axiswise(
        self, x: torch.Tensor, sizes: tuple[int, ...], kept: tuple[int, ...]
    ) -> torch.Tensor:
        """The transform axis by axis, each FFT only on the modes still needed: the fewest
        floating-point operations (the CPU path)."""
        d = self.ndim
        # forward transform, last axis first, truncating before the next FFT
        xf = truncated_rfft(x, kept[-1])
        for ax in range(d - 2, -1, -1):
            dim = 2 + ax
            xf = torch.fft.fft(xf, dim=dim)
            m = kept[ax]
            xf = torch.cat([xf.narrow(dim, 0, m), xf.narrow(dim, sizes[ax] - m, m)], dim=dim)
        yf = self._mix(xf, kept)
        # inverse transform, leading axes first (zero-filled back to full length)
        for ax in range(d - 1):
            dim = 2 + ax
            m = kept[ax]
            shape = list(yf.shape)
            shape[dim] = sizes[ax] - 2 * m
            zeros = yf.new_zeros(shape)
            yf = torch.cat([yf.narrow(dim, 0, m), zeros, yf.narrow(dim, m, m)], dim=dim)
            yf = torch.fft.ifft(yf, dim=dim)
        return torch.fft.irfft(yf, n=sizes[-1], dim=-1)

    def _forward_full(
        self, x: torch.Tensor, sizes: tuple[int, ...], kept: tuple[int, ...]
    ) -> torch.Tensor:
        """One ``rfftn`` and one ``irfftn``, with the mode selection, the channel mixing and
        the zero fill done on real views: the fewest kernel launches (the CUDA path, where a
        small FNO is bound by launches, and ``torch.compile`` fuses real-valued gathers and
        scatters but not complex ones).  Equal to :meth:`_forward_axiswise`."""
        d = self.ndim
        dims = tuple(range(2, 2 + d))
        xr = torch.view_as_real(torch.fft.rfftn(x, dim=dims))  # (B, Cin, *half, 2)
        for ax in range(d - 1):
            dim, m = 2 + ax, kept[ax]
            xr = torch.cat([xr.narrow(dim, 0, m), xr.narrow(dim, sizes[ax] - m, m)], dim=dim)
        xr = xr.narrow(1 + d, 0, kept[-1])  # (B, Cin, *modes, 2)
        mode_shape = tuple(xr.shape[2 : 2 + d])
        k, b = math.prod(mode_shape), x.shape[0]
        cin, cout = self.in_channels, self.out_channels
        # [Re x, Im x] @ [[Re w, Im w], [-Im w, Re w]] = [Re y, Im y], one real matmul per mode
        x2 = xr.reshape(b, cin, k, 2).permute(2, 0, 3, 1).reshape(k, b, 2 * cin)
        w = self._kept_weight(kept).reshape(k, cin, cout, 2)
        wr, wi = w[..., 0], w[..., 1]
        w2 = torch.cat([torch.cat([wr, wi], dim=2), torch.cat([-wi, wr], dim=2)], dim=1)
        y2 = torch.bmm(x2, w2)  # (K, B, 2 Cout)
        yr = y2.reshape(k, b, 2, cout).permute(1, 3, 0, 2).reshape(b, cout, *mode_shape, 2)
        # zero-filled half spectrum with the kept corners in place
        half = [*sizes[:-1], sizes[-1] // 2 + 1]
        full = yr.new_zeros(b, cout, *half, 2)
        for corner in range(2 ** (d - 1)):
            dst = [slice(None), slice(None)]
            src = [slice(None), slice(None)]
            for ax in range(d - 1):
                m = kept[ax]
                high = (corner >> ax) & 1
                dst.append(slice(sizes[ax] - m, sizes[ax]) if high else slice(0, m))
                src.append(slice(m, 2 * m) if high else slice(0, m))
            dst.append(slice(0, kept[-1]))
            full[tuple(dst)] = yr[tuple(src)]
        return torch.fft.irfftn(torch.view_as_complex(full), s=sizes, dim=dims)

    def _kept_weight(self, kept: tuple[int, ...]) -> torch.Tensor:
        """The weights of the modes a grid keeps: ``(*modes, C_in, C_out, 2)``."""
        d = self.ndim
        w = self.weight
        for ax in range(d - 1):  # keep the lowest frequencies of a coarse grid
            m, full = kept[ax], self.modes[ax]
            if m < full:
                w = torch.cat([w.narrow(ax, 0, m), w.narrow(ax, 2 * full - m, m)], dim=ax)
        return w.narrow(d - 1, 0, kept[-1])

    def _mix(self, xf: torch.Tensor, kept: tuple[int, ...]) -> torch.Tensor:
        """Per-frequency channel mixing: one complex batched matmul over the kept modes."""
        d = self.ndim
        w = self._kept_weight(kept)
        mode_shape = tuple(w.shape[:d])
        k = math.prod(mode_shape)
        cin, cout = self.in_channels, self.out_channels
        wc = torch.view_as_complex(w.contiguous()).reshape(k, cin, cout)
        b = xf.shape[0]
        xc = xf.reshape(b, cin, k).permute(2, 0, 1)  # (K, B, Cin)
        yc = torch.bmm(xc, wc)  # (K, B, Cout)
        return yc.permute(1, 2, 0).reshape(b, cout, *mode_shape)
