"""Convolutional building blocks shared by the image tokenizer and the diffusion decoder."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ChannelNorm(nn.Module):
    """LayerNorm over channels at each pixel.

    Not GroupNorm: group statistics over space subtract each image's spatial mean, which for
    flat-coloured scenes is the background colour, so the tokenizer would lose it.
    """

    def __init__(self, c: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(c))
        self.bias = nn.Parameter(torch.zeros(c))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, C, H, W), normalised over C at each pixel."""
        mu = x.mean(1, keepdim=True)  # (B, 1, H, W)
        var = (x - mu).pow(2).mean(1, keepdim=True)
        return (x - mu) * torch.rsqrt(var + self.eps) * self.weight[:, None, None] + self.bias[:, None, None]


def norm(c: int) -> ChannelNorm:
    """The normalisation layer of the conv blocks: a `ChannelNorm` over `c` channels."""
    return ChannelNorm(c)


class ResBlock(nn.Module):
    """Pre-norm residual conv block; optional FiLM from an embedding (diffusion time)."""

    def __init__(self, c: int, emb_dim: int = 0) -> None:
        super().__init__()
        self.n1, self.c1 = norm(c), nn.Conv2d(c, c, 3, padding=1)
        self.n2, self.c2 = norm(c), nn.Conv2d(c, c, 3, padding=1)
        self.film = nn.Linear(emb_dim, 2 * c) if emb_dim else None
        assert self.c2.bias is not None
        nn.init.zeros_(self.c2.weight)
        nn.init.zeros_(self.c2.bias)

    def forward(self, x: torch.Tensor, emb: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, C, H, W), emb (B, emb_dim) -> (B, C, H, W); `emb` is ignored by a block built without FiLM."""
        h = self.c1(F.silu(self.n1(x)))  # (B, C, H, W)
        h = self.n2(h)
        if self.film is not None and emb is not None:
            scale, shift = self.film(emb)[:, :, None, None].chunk(2, dim=1)  # (B, C, 1, 1) each
            h = h * (1 + scale) + shift
        return x + self.c2(F.silu(h))


class Down(nn.Module):
    """Downsample by 2 with a stride-2 4x4 convolution."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 4, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, cin, H, W) -> (B, cout, H/2, W/2)."""
        return self.conv(x)


class Up(nn.Module):
    """Upsample by 2: nearest-neighbour, then a 3x3 convolution (no checkerboard artefacts)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, cin, H, W) -> (B, cout, 2H, 2W)."""
        return self.conv(F.interpolate(x, scale_factor=2, mode="nearest"))


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of t in [0, 1]: (B,) -> (B, dim)."""
    half = dim // 2
    freqs = torch.exp(-torch.arange(half, dtype=torch.float32, device=t.device) * (9.0 / half))
    ang = t[:, None].float() * 1000.0 * freqs[None]  # (B, half)
    return torch.cat([ang.sin(), ang.cos()], dim=1)
