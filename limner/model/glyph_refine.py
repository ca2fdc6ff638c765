"""The decoder's full-resolution text head: sharpens its prediction where the requested text is.

The diffusion decoder works at a quarter of the output resolution (`DecoderConfig.unshuffle` 4), so a
stroke of a small glyph is a fraction of one of its cells. It got the letters right but blurred the
details that tell letters apart at small sizes (the tail of a Q, the waist of an 8, the dot of a !).
This head runs at the output resolution on a few channels and adds a correction to the decoder's x1
prediction, only near the glyph image's ink:

  pred (B, 4, H, W), glyph (B, 1, H, W), t (B,)
    -> crop to the ink's box (+ margin) -> 3 dilated 3x3 convs (receptive field 15 px) -> delta (B, 4, h', w')
    -> pred + mask * delta, mask = the glyph dilated by `REACH` px

Its last layer starts at zero and images without text have an empty mask, so a decoder that gains this
head draws exactly as before until it is trained, and text-free images never change. The text's colour
is the decoder's (hence the prior's): the head reads it off the prediction around the strokes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

REACH = 3  # px the correction reaches beyond the glyph's ink: antialiasing and the decoder's blur
MARGIN = 16  # px of context around the ink's box: more than the head's receptive radius (7 px) + REACH


def ink_map(glyph: torch.Tensor) -> torch.Tensor:
    """(B, 1, H, W) glyph -> (H, W) bool: where any image of the batch has ink."""
    return glyph.amax(dim=(0, 1)) > 0


def ink_mask(glyph: torch.Tensor) -> torch.Tensor:
    """(B, 1, H, W) glyph in [0, 1] -> (B, 1, H, W) mask in [0, 1]: the ink dilated by REACH px."""
    return F.max_pool2d(glyph, 2 * REACH + 1, stride=1, padding=REACH)


def ink_box(glyph: torch.Tensor) -> tuple[int, int, int, int] | None:
    """(y0, y1, x0, x1) around every image's ink, grown by MARGIN and clipped; None when there is no ink."""
    ink = ink_map(glyph)  # (H, W)
    if not bool(ink.any()):
        return None
    rows = torch.nonzero(ink.any(1)).flatten()
    cols = torch.nonzero(ink.any(0)).flatten()
    h, w = ink.shape
    return (max(int(rows[0]) - MARGIN, 0), min(int(rows[-1]) + 1 + MARGIN, h),
            max(int(cols[0]) - MARGIN, 0), min(int(cols[-1]) + 1 + MARGIN, w))


class GlyphRefiner(nn.Module):
    """Full-resolution correction of the decoder's prediction near text; shapes in the module docstring."""

    def __init__(self, channels: int, width: int) -> None:
        super().__init__()
        if width < 1:
            raise ValueError(f"glyph refiner width must be >= 1, got {width}")
        n_in = channels + 2  # prediction, glyph, diffusion time
        self.body = nn.Sequential(
            nn.Conv2d(n_in, width, 3, padding=1), nn.SiLU(),
            nn.Conv2d(width, width, 3, padding=2, dilation=2), nn.SiLU(),
            nn.Conv2d(width, width, 3, padding=4, dilation=4), nn.SiLU(),
        )
        self.out = nn.Conv2d(width, channels, 1)
        nn.init.zeros_(self.out.weight)  # added at zero: a decoder gaining this head draws as before
        nn.init.zeros_(self.out.bias)  # type: ignore[arg-type]

    def forward(self, pred: torch.Tensor, glyph: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """pred (B, C, H, W) x1 estimate, glyph (B, 1, H, W), t (B,) -> the corrected pred (B, C, H, W)."""
        box = ink_box(glyph)
        if box is None:
            return pred  # no text anywhere in the batch: nothing to sharpen
        y0, y1, x0, x1 = box
        p, g = pred[:, :, y0:y1, x0:x1], glyph[:, :, y0:y1, x0:x1]  # (B, C, h', w'), (B, 1, h', w')
        tt = t.view(-1, 1, 1, 1).to(pred.dtype).expand(-1, 1, *g.shape[-2:])
        delta = self.out(self.body(torch.cat([p, g, tt], dim=1)))  # (B, C, h', w')
        fixed = p + ink_mask(g) * delta
        out = pred.clone()
        out[:, :, y0:y1, x0:x1] = fixed
        return out
