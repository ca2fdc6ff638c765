"""The learned image tokenizer: a convolutional encoder with finite scalar quantisation (FSQ).

image (B, 4, H, W) at output size
  -> downsample by `input_downsample`            (B, 4, H/2, W/2)
  -> encoder, three stride-2 stages              (B, D, H/16, W/16)
  -> FSQ: each of the D dims rounded to L_i levels -> one integer code per cell in [0, prod(L))

The codes are the image tokens the transformer reads and writes. The diffusion decoder
(decoder.py) turns codes back into pixels. The small `preview` head decodes codes directly to a
low-resolution image: it gives the encoder a fast reconstruction signal while training, and the
engine uses it to show partial previews of a half-sampled token grid cheaply.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from limner.model.config import TokenizerConfig
from limner.model.layers import Down, ResBlock, Up, norm


class FSQ(nn.Module):
    """Finite scalar quantisation (Mentzer et al., 2023) with a straight-through estimator."""

    levels: torch.Tensor  # (D,) buffer: levels per dim
    basis: torch.Tensor  # (D,) buffer: mixed-radix place values

    def __init__(self, levels: tuple[int, ...]) -> None:
        super().__init__()
        lv = torch.tensor(levels, dtype=torch.long)
        basis = torch.cumprod(torch.cat([torch.ones(1, dtype=torch.long), lv[:-1]]), 0)
        self.register_buffer("levels", lv, persistent=False)
        self.register_buffer("basis", basis, persistent=False)

    @property
    def dim(self) -> int:
        """The number of latent dims (one per FSQ level)."""
        return int(self.levels.numel())

    def bound(self, z: torch.Tensor) -> torch.Tensor:
        """Squash z (B, D, H, W) into each dim's level range."""
        lv = self.levels.float().view(1, -1, 1, 1)
        half = (lv - 1) * (1 + 1e-3) / 2
        offset = torch.where(self.levels.view(1, -1, 1, 1) % 2 == 0, 0.5, 0.0)
        shift = torch.atanh(offset / half)
        return torch.tanh(z + shift) * half - offset

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """z (B, D, H, W) -> (normalised quantised codes (B, D, H, W) in [-1, 1], indices (B, H, W))."""
        b = self.bound(z)
        q = b + (torch.round(b) - b).detach()  # straight-through rounding
        half_width = (self.levels // 2).float().view(1, -1, 1, 1)
        digits = (torch.round(b) + half_width).long()  # (B, D, H, W) in [0, L-1]
        idx = (digits * self.basis.view(1, -1, 1, 1)).sum(1)  # (B, H, W)
        return q / half_width, idx

    def digits(self, idx: torch.Tensor) -> torch.Tensor:
        """indices (...) -> their per-dim levels (..., D), each in [0, L-1] (first dim least significant)."""
        return (idx[..., None] // self.basis) % self.levels

    def indices_to_codes(self, idx: torch.Tensor) -> torch.Tensor:
        """indices (B, H, W) -> normalised codes (B, D, H, W)."""
        digits = self.digits(idx).permute(0, 3, 1, 2)  # (B, D, H, W)
        half_width = (self.levels // 2).float().view(1, -1, 1, 1)
        return (digits.float() - half_width) / half_width


class ImageTokenizer(nn.Module):
    """FSQ image tokenizer: encoder to integer codes, plus a small preview decoder from codes to pixels."""

    def __init__(self, cfg: TokenizerConfig) -> None:
        super().__init__()
        if cfg.patch != 2 ** len(cfg.widths):
            raise ValueError(f"patch {cfg.patch} must equal 2**len(widths)={2 ** len(cfg.widths)}")
        self.cfg = cfg
        self.fsq = FSQ(cfg.levels)
        w = cfg.widths
        enc: list[nn.Module] = [nn.Conv2d(cfg.channels, w[0], 3, padding=1)]
        for i in range(len(w)):
            cout = w[min(i + 1, len(w) - 1)]
            enc.append(Down(w[i], cout))
            if i >= len(w) - 2:  # residual blocks only at the cheap low resolutions
                enc.append(ResBlock(cout))
        enc += [ResBlock(w[-1]), norm(w[-1]), nn.SiLU(), nn.Conv2d(w[-1], self.fsq.dim, 1)]
        self.encoder = nn.Sequential(*enc)
        # Colour shortcut: a linear map of each patch's mean RGBA straight into the latent. Through the
        # conv stack alone the flat colour of a region is a weak signal next to edges and the codes came
        # out colour-blind (red and green squares got the same code); this path carries it undamped.
        self.colour = nn.Conv2d(cfg.channels, self.fsq.dim, 1)
        self._init_colour_path()
        dec: list[nn.Module] = [nn.Conv2d(self.fsq.dim, w[-1], 1), ResBlock(w[-1]), ResBlock(w[-1])]
        for i in reversed(range(len(w))):
            cin = w[min(i + 1, len(w) - 1)]
            dec.append(Up(cin, w[i]))
            if i >= len(w) - 2:
                dec.append(ResBlock(w[i]))
        dec += [norm(w[0]), nn.SiLU(), nn.Conv2d(w[0], cfg.channels, 3, padding=1)]
        self.preview = nn.Sequential(*dec)

    def _init_colour_path(self) -> None:
        """Start from codes that already carry colour: R, G, B into the first three latent dims and
        alpha into the last (when there are five or more), at a gain that spans each dim's levels
        without saturating the FSQ tanh; the conv stack's output starts small. Trained from a random
        start, the codes stayed colour-blind for hundreds of steps: red, green and blue landed one
        level apart in a saturated corner of the tanh, where the gradient that would pull them
        apart is nearly zero."""
        gain = 1.5
        with torch.no_grad():
            assert self.colour.bias is not None
            self.colour.weight.zero_()
            self.colour.bias.zero_()
            d = self.fsq.dim
            for i in range(min(3, d, self.cfg.channels)):
                self.colour.weight[i, i, 0, 0] = gain
            if d >= 5 and self.cfg.channels == 4:
                self.colour.weight[d - 1, 3, 0, 0] = gain
            last = self.encoder[-1]
            assert isinstance(last, nn.Conv2d) and last.bias is not None
            last.weight.mul_(0.1)
            last.bias.zero_()

    def downsample(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 4, H, W) output-size image -> (B, 4, H/d, W/d) tokenizer input."""
        d = self.cfg.input_downsample
        return F.avg_pool2d(x, d) if d > 1 else x

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, 4, H, W) in [-1, 1] at output size -> (codes (B, D, h, w), indices (B, h, w))."""
        x = self.downsample(x)
        mean_colour = F.avg_pool2d(x, self.cfg.patch)  # (B, 4, h, w)
        return self.fsq(self.encoder(x) + self.colour(mean_colour))

    def decode_preview(self, codes: torch.Tensor) -> torch.Tensor:
        """codes (B, D, h, w) -> (B, 4, h*patch, w*patch) image in [-1, 1] at tokenizer-input size."""
        return self.preview(codes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Returns (codes, indices, preview (B, 4, H/d, W/d), reconstruction loss).

        The loss is MSE plus L1: L1 keeps pushing on the small residuals at shape edges, where MSE
        alone settles for a blur, and crisp edges are what tell a star from a pentagon."""
        codes, idx = self.encode(x)
        rec = self.decode_preview(codes)
        target = self.downsample(x)
        return codes, idx, rec, F.mse_loss(rec, target) + F.l1_loss(rec, target)
