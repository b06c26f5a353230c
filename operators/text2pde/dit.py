"""A diffusion transformer (DiT) over latent trajectories, with cross-attention.

Latents ``(B, C, T, H, W)`` are cut into ``(1, p, p)`` patches, one token each.  Every block
is adaLN-Zero self-attention (modulated by the diffusion step), cross-attention to the
condition tokens (text token states, or tokens of the first frame) and an MLP.  A learned
null token stands for "no condition" (classifier-free guidance).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from pdeflow.errors import ConfigError, DataError

__all__ = ["DiTConfig", "DiT", "DIT_SIZES"]


@dataclass(frozen=True)
class DiTConfig:
    """Sizes of :class:`DiT`.

    Attributes
    ----------
    latent_shape : tuple of int
        ``(C, T, H, W)`` of one latent.
    cond_dim : int
        Width of the condition tokens (384 for MiniLM token states).
    dim, depth, heads : int
        Token width, number of blocks, attention heads.
    patch : int
        Spatial patch size ``p`` (patches are ``(1, p, p)``).
    """

    latent_shape: tuple[int, int, int, int] = (8, 4, 8, 8)
    cond_dim: int = 384
    dim: int = 64
    depth: int = 2
    heads: int = 4
    patch: int = 2

    def __post_init__(self) -> None:
        c, t, h, w = self.latent_shape
        if h % self.patch or w % self.patch:
            raise ConfigError(
                f"DiTConfig: latent H, W {(h, w)} must be multiples of patch {self.patch}."
            )
        if self.dim % self.heads:
            raise ConfigError(f"DiTConfig: dim {self.dim} must be a multiple of heads.")


#: Preset widths: tiny for CPU tests, S as in DiT-S.
DIT_SIZES = {"tiny": {"dim": 64, "depth": 2, "heads": 4}, "S": {"dim": 384, "depth": 12,
                                                                "heads": 6}}


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding (B, dim) of integer steps ``t`` (B,)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([args.cos(), args.sin()], dim=1)


class _Block(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, elementwise_affine=False)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm_x = nn.LayerNorm(dim)
        self.cross = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm2 = nn.LayerNorm(dim, elementwise_affine=False)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))
        self.ada = nn.Linear(dim, 6 * dim)
        nn.init.zeros_(self.ada.weight)
        nn.init.zeros_(self.ada.bias)

    def forward(self, x, c, cond, pad):
        s1, b1, g1, s2, b2, g2 = self.ada(c)[:, None].chunk(6, dim=2)
        h = self.norm1(x) * (1 + s1) + b1
        x = x + g1 * self.attn(h, h, h, need_weights=False)[0]
        h = self.norm_x(x)
        x = x + self.cross(h, cond, cond, key_padding_mask=pad, need_weights=False)[0]
        h = self.norm2(x) * (1 + s2) + b2
        return x + g2 * self.mlp(h)


class DiT(nn.Module):
    """Diffusion transformer: ``model(x, t, cond=None, drop=None) -> ε̂``.

    Parameters
    ----------
    config
        :class:`DiTConfig`.

    Shapes
    ------
    x: (B, C, T, H, W) latents; t: (B,) int steps; cond: ``(tokens (B, L, cond_dim), mask
    (B, L) bool or None)`` or None; drop: (B,) bool or None -> (B, C, T, H, W).

    Examples
    --------
    >>> import torch
    >>> net = DiT(DiTConfig(latent_shape=(4, 2, 4, 4), cond_dim=8, dim=16, depth=1, heads=2))
    >>> x = torch.randn(3, 4, 2, 4, 4)
    >>> net(x, torch.tensor([0, 5, 9]), (torch.randn(3, 5, 8), None)).shape
    torch.Size([3, 4, 2, 4, 4])
    """

    def __init__(self, config: DiTConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or DiTConfig()
        c, t, h, w = cfg.latent_shape
        p, d = cfg.patch, cfg.dim
        self.embed = nn.Conv3d(c, d, (1, p, p), stride=(1, p, p))
        self.pos = nn.Parameter(torch.zeros(1, t * (h // p) * (w // p), d))
        nn.init.normal_(self.pos, std=0.02)
        self.t_mlp = nn.Sequential(nn.Linear(d, d), nn.SiLU(), nn.Linear(d, d))
        self.cond_proj = nn.Linear(cfg.cond_dim, d)
        self.null = nn.Parameter(torch.zeros(1, 1, d))
        self.blocks = nn.ModuleList(_Block(d, cfg.heads) for _ in range(cfg.depth))
        self.norm = nn.LayerNorm(d, elementwise_affine=False)
        self.out_ada = nn.Linear(d, 2 * d)
        self.out = nn.Linear(d, c * p * p)
        for lin in (self.out_ada, self.out):
            nn.init.zeros_(lin.weight)
            nn.init.zeros_(lin.bias)

    def _cond(self, cond, drop, batch: int, device) -> tuple[torch.Tensor, torch.Tensor]:
        """Condition tokens (B, L, dim) and their padding mask (True = ignore)."""
        null = self.null.expand(batch, 1, -1)
        if cond is None:
            return null, torch.zeros(batch, 1, dtype=torch.bool, device=device)
        tokens, mask = cond
        if tokens.dim() != 3 or tokens.shape[0] != batch:
            raise DataError(f"DiT: condition tokens must be (B, L, D); got {tuple(tokens.shape)}.")
        tokens = self.cond_proj(tokens)
        if mask is None:
            mask = torch.ones(tokens.shape[:2], dtype=torch.bool, device=device)
        tokens = torch.cat([null, tokens], dim=1)
        keep = torch.cat([torch.ones(batch, 1, dtype=torch.bool, device=device), mask], 1)
        if drop is not None:
            keep = keep & ~drop[:, None]
            keep[:, 0] = True
        return tokens, ~keep

    def forward(self, x, t, cond=None, drop=None):
        """Predicted noise of latents ``x`` at steps ``t`` (see the class docstring)."""
        cfg = self.config
        if tuple(x.shape[1:]) != tuple(cfg.latent_shape):
            raise DataError(f"DiT expects latents {cfg.latent_shape}; got {tuple(x.shape[1:])}.")
        b, c, nt, h, w = x.shape
        p = cfg.patch
        tok = self.embed(x).flatten(2).transpose(1, 2) + self.pos
        temb = self.t_mlp(timestep_embedding(t, cfg.dim))
        ctok, pad = self._cond(cond, drop, b, x.device)
        for blk in self.blocks:
            tok = blk(tok, temb, ctok, pad)
        shift, scale = self.out_ada(temb)[:, None].chunk(2, dim=2)
        out = self.out(self.norm(tok) * (1 + scale) + shift)
        out = out.view(b, nt, h // p, w // p, c, p, p)
        return out.permute(0, 4, 1, 2, 5, 3, 6).reshape(b, c, nt, h, w)
