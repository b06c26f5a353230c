"""NeuralStagger: ``s² · k`` coarse sub-solvers that together advance a fine field."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from pdeflow.errors import ConfigError, ShapeError
from pdeflow.operators.stagger.decompose import space_to_stagger, stagger_to_space

__all__ = ["NeuralStagger"]

BaseFactory = Callable[..., nn.Module]


class NeuralStagger(nn.Module):
    r"""Advance a fine field by ``k`` time steps with ``s² · k`` coarse sub-solvers.

    The input ``u_t`` (and optional conditioning fields such as a diffusivity or an obstacle
    mask) is split into ``s²`` staggered sub-grids (:func:`space_to_stagger`), stacked as
    channels of one coarse field of ``H/s × W/s`` nodes.  Sub-solver ``(a, b, τ)`` reads
    that whole coarse stack and predicts the increment of sub-grid ``(a, b)`` over
    ``τ`` time steps, ``τ = 1 .. k``; the increments are reassembled
    (:func:`stagger_to_space`) into the fine frames

    .. math::

        u_{t + τ\,dt} = u_t + P_s^{-1}\big(f_{\cdot,\cdot,τ}(P_s[u_t, c])\big),
        \qquad τ = 1, \dots, k,

    with :math:`P_s` the pixel unshuffle.

    Every network runs on the coarse grid, so a convolutional or spectral base costs about
    ``1/s²`` of the same architecture at full resolution, and one call covers ``k`` steps.

    Parameters
    ----------
    base : callable
        ``base(in_channels=..., out_channels=...)`` builds one coarse model taking
        ``(B, in, h, w) -> (B, out, h, w)``: e.g. ``functools.partial(UNet, width=32)`` or
        ``functools.partial(FNO, modes=(8, 8))``.
    s : int
        Spatial factor; the grid must be divisible by ``s`` (and the base's own constraints
        apply to ``H/s``).
    k : int
        Temporal factor: frames predicted per call.
    share_weights : bool
        ``True``: one base model with ``s²·k·C`` outputs (the sub-solvers share every weight
        but their output channels; the fast choice).  ``False``: ``s²·k`` independent base
        models with ``C`` outputs each (as in the paper; ``forward_level`` then runs only the
        sub-solvers it needs).
    channels : int
        Channels ``C`` of the state.
    cond_channels : int
        Channels of the conditioning fields (read, never predicted); 0 for none.
    scale : float
        Typical size of the state: the networks read ``u / scale`` and their outputs are
        multiplied by ``scale`` (so they work with numbers of order one).
    identity_init : bool
        Zero the last layer of every base model (the last registered module with a
        ``weight``), so the untrained stepper is the identity ``u_{t+τ dt} = u_t``: a
        physics loss starts from a sensible state instead of grid-scale noise.

    Shapes
    ------
    ``u``: (B, C, H, W); ``cond``: (B, cond_channels, H, W); ``forward`` -> (B, C, H, W);
    ``trajectory`` -> (B, k, C, H, W).

    Examples
    --------
    >>> import functools, torch
    >>> from pdeflow.operators.models.unet import UNet
    >>> net = NeuralStagger(base=functools.partial(UNet, width=8, depth=1), s=2, k=2)
    >>> u = torch.randn(3, 1, 16, 16)
    >>> net(u).shape, net.trajectory(u).shape, net.forward_level(u, 1).shape
    (torch.Size([3, 1, 16, 16]), torch.Size([3, 2, 1, 16, 16]), torch.Size([3, 1, 8, 8]))
    """

    def __init__(
        self,
        base: BaseFactory,
        s: int = 2,
        k: int = 1,
        share_weights: bool = True,
        channels: int = 1,
        cond_channels: int = 0,
        scale: float = 1.0,
        identity_init: bool = True,
    ) -> None:
        super().__init__()
        for name, value, low in (
            ("s", s, 1),
            ("k", k, 1),
            ("channels", channels, 1),
            ("cond_channels", cond_channels, 0),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ConfigError(
                    f"The {name!r} parameter of NeuralStagger must be an int >= {low}. "
                    f"Got {value!r}."
                )
        if not callable(base):
            raise ConfigError(
                "The 'base' parameter of NeuralStagger must be a callable "
                f"base(in_channels=..., out_channels=...). Got {base!r}."
            )
        if not float(scale) > 0.0:
            raise ConfigError(f"The 'scale' parameter of NeuralStagger must be > 0. Got {scale!r}.")
        self.s, self.k, self.channels, self.cond_channels = s, k, channels, cond_channels
        self.scale = float(scale)
        self.share_weights = bool(share_weights)
        n_in = s * s * (channels + cond_channels)
        if self.share_weights:
            self.solvers = nn.ModuleList(
                [base(in_channels=n_in, out_channels=s * s * k * channels)]
            )
        else:
            self.solvers = nn.ModuleList(
                base(in_channels=n_in, out_channels=channels) for _ in range(s * s * k)
            )

        if identity_init:
            for solver in self.solvers:
                _zero_output_layer(solver)

    @property
    def n_subtasks(self) -> int:
        """Number of sub-solvers ``s² · k``."""
        return self.s * self.s * self.k

    def __repr__(self) -> str:
        n = sum(p.numel() for p in self.parameters())
        return (
            f"NeuralStagger(s={self.s}, k={self.k}, share_weights={self.share_weights}, "
            f"base={type(self.solvers[0]).__name__}, params={n})"
        )

    def _coarse_input(self, u: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
        C, Cc = self.channels, self.cond_channels
        if u.ndim != 4 or u.shape[1] != C:
            raise ShapeError(
                f"NeuralStagger expects a state of shape (batch, {C}, H, W); got {tuple(u.shape)}"
            )
        if Cc:
            if cond is None or cond.shape != (u.shape[0], Cc, *u.shape[2:]):
                got = None if cond is None else tuple(cond.shape)
                raise ShapeError(
                    f"NeuralStagger expects cond of shape {(u.shape[0], Cc, *u.shape[2:])}; "
                    f"got {got}"
                )
            u = torch.cat([u / self.scale, cond.to(u.dtype)], dim=1)
        elif cond is not None:
            raise ShapeError("NeuralStagger was built with cond_channels=0 but got cond")
        else:
            u = u / self.scale
        return space_to_stagger(u, self.s)

    def _increments(self, x: torch.Tensor, tasks: list[tuple[int, int]]) -> torch.Tensor:
        """Coarse increments of the listed ``(sub-grid, τ)`` tasks: (B, len(tasks), C, h, w)."""
        C, s2 = self.channels, self.s * self.s
        if self.share_weights:
            out = self.solvers[0](x)  # (B, k·s²·C, h, w), channel = (τ, c, sub-grid)
            out = out.reshape(x.shape[0], self.k, C, s2, *x.shape[-2:])
            return self.scale * torch.stack([out[:, tau, :, g] for g, tau in tasks], dim=1)
        return self.scale * torch.stack([self.solvers[tau * s2 + g](x) for g, tau in tasks], dim=1)

    def trajectory(self, u: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        """All ``k`` predicted frames ``u_{t+dt}, ..., u_{t+k·dt}``: (B, k, C, H, W)."""
        x = self._coarse_input(u, cond)
        s2 = self.s * self.s
        tasks = [(g, tau) for tau in range(self.k) for g in range(s2)]
        inc = self._increments(x, tasks)  # (B, k·s², C, h, w)
        B, C = u.shape[:2]
        inc = inc.reshape(B, self.k, s2, C, *x.shape[-2:]).transpose(2, 3)
        inc = inc.reshape(B, self.k, C * s2, *x.shape[-2:])
        return u.unsqueeze(1) + stagger_to_space(inc, self.s)

    def forward(self, u: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        """``u_{t + k·dt}`` from ``u_t``: (B, C, H, W)."""
        return self.trajectory(u, cond)[:, -1]

    def forward_level(
        self, u: torch.Tensor, level: int, cond: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``u_{t + k·dt}`` on the grid coarsened by ``r = 2**level`` (nodes ``[::r, ::r]``).

        Only the sub-solvers of the ``(s/r)²`` sub-grids on that lattice are evaluated
        (with ``share_weights=False`` the others are not run at all); nothing is retrained.

        Parameters
        ----------
        u : Tensor, shape (B, C, H, W)
        level : int
            ``0 <= level`` with ``2**level`` dividing ``s``.
        cond : Tensor, optional

        Returns
        -------
        Tensor, shape (B, C, H/r, W/r)
        """
        r = 2**level if isinstance(level, int) and level >= 0 else 0
        if not r or self.s % r:
            raise ConfigError(
                f"The 'level' of NeuralStagger.forward_level must be an int >= 0 with 2**level "
                f"dividing s = {self.s}. Got {level!r}."
            )
        x = self._coarse_input(u, cond)
        s, q = self.s, self.s // r
        grids = [a * s + b for a in range(0, s, r) for b in range(0, s, r)]
        inc = self._increments(x, [(g, self.k - 1) for g in grids])  # (B, q², C, h, w)
        B, C = u.shape[:2]
        inc = inc.transpose(1, 2).reshape(B, C * q * q, *x.shape[-2:])
        return u[..., ::r, ::r] + stagger_to_space(inc, q)


def _zero_output_layer(module: nn.Module) -> None:
    """Zero the weight (and bias) of the last registered leaf module that has a weight."""
    for m in reversed(list(module.modules())):
        w = getattr(m, "weight", None)
        if isinstance(w, nn.Parameter) and not list(m.children()):
            with torch.no_grad():
                w.zero_()
                if isinstance(getattr(m, "bias", None), nn.Parameter):
                    m.bias.zero_()
            return
    raise ConfigError(
        "NeuralStagger(identity_init=True): the base model has no layer with a weight"
    )
