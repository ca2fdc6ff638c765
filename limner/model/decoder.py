"""The diffusion decoder: image tokens (+ a glyph image of the requested text) -> RGBA pixels.

This is the "powerful decoder" of "tokens -> transformer -> diffusion -> pixels". It holds both
its training loss (`loss`) and its sampler (`sample`), as DiT and MAR's diffusion loss do.

Shapes, for a 256 x 256 output with the small config:
  codes  (B, D=4, 16, 16)  --cond net at the token grid-->  (B, Cc, 16, 16) --nearest x4--> (B, Cc, 64, 64)
  x_t    (B, 4, 256, 256)  --pixel-unshuffle 4-->           (B, 64, 64, 64)
  glyph  (B, 1, 256, 256)  --pixel-unshuffle 4-->           (B, 16, 64, 64)
  preview (B, 4, 128, 128) --bilinear x2, unshuffle 4-->     (B, 64, 64, 64)
  layout (B, 23, 256, 256) --per-pixel MLP, unshuffle 4, conv--> added (B, 64, 64, 64)
  concat -> ResBlocks with time FiLM at 64 x 64 -> (B, 64, 64, 64) --pixel-shuffle--> x1_hat (B, 4, 256, 256)
  [cfg.glyph_refine] x1_hat, glyph --full-resolution head near the ink (model/glyph_refine.py)--> x1_hat

Text: the decoder is conditioned on a glyph image of the requested strings laid out by the data
engine's deterministic text layout (GlyphControl / TextDiffuser style). The transformer decides
the colours and the scene; the decoder learns to render the strokes in them. The loss is weighted
up on text strokes, since legibility hinges on a few pixels.

Shapes: the decoder also reads the prior's layout tokens as a layout map (model/layout.py): each object's
class, box-relative coordinates and colour, from which a small per-pixel network learns the class's outline
(GLIGEN-style grounding). Its last layer starts at zero, so a decoder converted from one without layouts
(train/upgrade.py) draws unchanged until it is trained. An empty layout (None) is all zeros: training
drops layouts now and then, so images without one (uploads, edits) still decode from their codes.

Because everything after the cond net is convolutional with a bounded receptive field, training
runs on random crops aligned to the token grid, which is what makes it affordable on a CPU.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from limner.data.world import OBJECTS
from limner.model.config import DecoderConfig
from limner.model.glyph_refine import GlyphRefiner, ink_map
from limner.model.layers import ResBlock, norm, timestep_embedding
from limner.model.layout import BOX, MAP_CHANNELS, MASK_CHANNEL
from limner.model.scheduler import FlowMatchEulerScheduler, sample_train_t

TPL_CHANNELS, TPL_SIDE = 8, 40  # per-class shape fields: channels and texels per side of the box


def crop_origin(
    size: tuple[int, int], crop: tuple[int, int], stride: int, ink: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> tuple[int, int]:
    """Random token-aligned (y0, x0) of a (ch, cw) crop of an (H, W) image. Given an ink map (H, W) with some
    ink, the crop holds one of its pixels at random: the text head learns nothing from crops without text."""
    (hh, ww), (ch, cw) = size, crop
    ny, nx = (hh - ch) // stride + 1, (ww - cw) // stride + 1  # possible origins per axis
    if ink is not None and bool(ink.any()):
        pts = torch.nonzero(ink)  # (N, 2) of (y, x)
        y, x = (int(v) for v in pts[int(torch.randint(0, len(pts), (1,), generator=generator))])
        # origins whose crop holds (y, x): y0 in (y - ch, y], clipped to the image, on the token grid
        lo_y, hi_y = max(0, -(-(y - ch + 1) // stride)), min(ny - 1, y // stride)
        lo_x, hi_x = max(0, -(-(x - cw + 1) // stride)), min(nx - 1, x // stride)
        if lo_y <= hi_y and lo_x <= hi_x:
            y0 = int(torch.randint(lo_y, hi_y + 1, (1,), generator=generator))
            x0 = int(torch.randint(lo_x, hi_x + 1, (1,), generator=generator))
            return y0 * stride, x0 * stride
    y0 = int(torch.randint(0, ny, (1,), generator=generator))
    x0 = int(torch.randint(0, nx, (1,), generator=generator))
    return y0 * stride, x0 * stride


class DiffusionDecoder(nn.Module):
    """Codes (+ glyph, + tokenizer preview) -> RGBA pixels; `token_stride` is output pixels per token side.
    Shapes are in the module docstring."""

    def __init__(self, cfg: DecoderConfig, code_dim: int, token_stride: int) -> None:
        super().__init__()
        if token_stride % cfg.unshuffle:
            raise ValueError(f"token stride {token_stride} must be a multiple of unshuffle {cfg.unshuffle}")
        self.cfg = cfg
        self.token_stride = token_stride
        u = cfg.unshuffle
        self.cond_in = nn.Conv2d(code_dim, cfg.cond_width, 3, padding=1)
        self.cond_blocks = nn.ModuleList([ResBlock(cfg.cond_width) for _ in range(cfg.cond_blocks)])
        self.cond_out = nn.Conv2d(cfg.cond_width, cfg.width, 1)
        emb = 4 * cfg.width
        self.t_mlp = nn.Sequential(nn.Linear(cfg.width, emb), nn.SiLU(), nn.Linear(emb, emb))
        n_in = cfg.channels * u * u + u * u + cfg.channels * u * u  # noisy image, glyph, preview
        self.x_in = nn.Conv2d(n_in, cfg.width, 3, padding=1)
        self.blocks = nn.ModuleList([ResBlock(cfg.width, emb) for _ in range(cfg.blocks)])
        lw = 32
        self.layout_mlp = nn.Sequential(
            nn.Conv2d(MAP_CHANNELS, lw, 1), nn.SiLU(),
            nn.Conv2d(lw, lw, 1), nn.SiLU(),
        )
        # A learned shape field per class (a neural texture over the object's box, sampled at each pixel's
        # box-relative position): an outline is a lookup the gradient reaches texel by texel, where the
        # per-pixel MLP above would have to fit 16 two-dimensional indicator functions in 32 units.
        self.layout_tpl = nn.Parameter(0.1 * torch.randn(len(OBJECTS), TPL_CHANNELS, TPL_SIDE, TPL_SIDE))
        self.layout_tpl_proj = nn.Conv2d(TPL_CHANNELS, lw, 1)
        nn.init.zeros_(self.layout_tpl_proj.weight)  # added at zero: a continued decoder is unchanged
        nn.init.zeros_(self.layout_tpl_proj.bias)  # type: ignore[arg-type]
        self.layout_out = nn.Conv2d(lw * u * u, cfg.width, 3, padding=1)
        nn.init.zeros_(self.layout_out.weight)  # a continued decoder starts exactly as it was
        nn.init.zeros_(self.layout_out.bias)  # type: ignore[arg-type]
        self.out = nn.Sequential(norm(cfg.width), nn.SiLU(), nn.Conv2d(cfg.width, cfg.channels * u * u, 3, padding=1))
        self.glyph_refine = GlyphRefiner(cfg.channels, cfg.glyph_refine) if cfg.glyph_refine else None

    def condition(self, codes: torch.Tensor) -> torch.Tensor:
        """codes (B, D, h, w) -> conditioning map (B, width, h*s/u, w*s/u) at the decoder's work resolution."""
        c = self.cond_in(codes)
        for blk in self.cond_blocks:
            c = blk(c)
        c = self.cond_out(c)
        return F.interpolate(c, scale_factor=self.token_stride // self.cfg.unshuffle, mode="nearest")

    def preview_input(self, preview: torch.Tensor | None, size: tuple[int, int]) -> torch.Tensor:
        """The tokenizer's preview (B, 4, h', w') resized to the output (H, W)."""
        if preview is None:
            raise ValueError("the decoder reads the tokenizer's preview of its codes; pass preview=")
        if tuple(preview.shape[-2:]) == size:
            return preview
        return F.interpolate(preview, size=size, mode="bilinear", align_corners=False)

    def layout_features(self, layout: torch.Tensor | None) -> torch.Tensor | None:
        """Layout map (B, MAP_CHANNELS, H, W) -> features (B, width, H/u, W/u) added to the decoder's input;
        None when there is no map."""
        if layout is None:
            return None
        f = self.layout_mlp(layout)  # (B, 32, H, W): per-pixel features of (class, dx, dy[, colour])
        f = f + self.layout_tpl_proj(self.template_features(layout))
        return self.layout_out(F.pixel_unshuffle(f, self.cfg.unshuffle))

    def template_features(self, layout: torch.Tensor) -> torch.Tensor:
        """(B, TPL_CHANNELS, H, W): each pixel's class shape field at its box-relative (dx, dy), 0 outside boxes."""
        b, _, h, w = layout.shape
        n_cls = len(OBJECTS)
        onehot = layout[:, :n_cls]  # (B, C, H, W)
        grid = (layout[:, n_cls : n_cls + 2] / BOX).permute(0, 2, 3, 1)  # (B, H, W, 2) in [-1, 1] inside a box
        tpl = self.layout_tpl.reshape(1, n_cls * TPL_CHANNELS, TPL_SIDE, TPL_SIDE).expand(b, -1, -1, -1)
        sampled = F.grid_sample(tpl, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        sampled = sampled.view(b, n_cls, TPL_CHANNELS, h, w)  # every class's field at every pixel
        return (sampled * onehot[:, :, None]).sum(1)  # keep the pixel's own class

    def denoise(
        self,
        x_t: torch.Tensor,
        t: torch.Tensor,
        cond: torch.Tensor,
        glyph: torch.Tensor,
        preview: torch.Tensor,
        layout: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Predict x1 (B, 4, H, W) from x_t (B, 4, H, W), t (B,), cond map, glyph (B, 1, H, W) in [0, 1],
        the tokenizer's preview (B, 4, H, W) already at output size and the precomputed `layout_features`
        (B, width, H/u, W/u) or None."""
        u = self.cfg.unshuffle
        parts = [F.pixel_unshuffle(x_t, u), F.pixel_unshuffle(glyph, u), F.pixel_unshuffle(preview, u)]
        h = torch.cat(parts, dim=1)
        h = self.x_in(h) + cond
        if layout is not None:
            h = h + layout
        emb = self.t_mlp(timestep_embedding(t, self.cfg.width))
        for blk in self.blocks:
            h = blk(h, emb)
        pred = F.pixel_shuffle(self.out(h), u)  # (B, 4, H, W)
        return pred if self.glyph_refine is None else self.glyph_refine(pred, glyph, t)

    def loss(
        self,
        codes: torch.Tensor,
        x1: torch.Tensor,
        glyph: torch.Tensor,
        crop: int | None = None,
        generator: torch.Generator | None = None,
        preview: torch.Tensor | None = None,
        layout: torch.Tensor | None = None,
        on_ink: bool = False,
    ) -> torch.Tensor:
        """Flow-matching loss on x1 (B, 4, H, W); optionally on a random token-aligned crop of side `crop` px,
        with `on_ink` one that holds some of the glyph's ink when there is any (for the text head).
        `preview` is the tokenizer's preview of `codes`; `layout` the layout map
        (B, MAP_CHANNELS, H, W) of layout.layout_map."""
        cond = self.condition(codes)  # (B, width, H/u, W/u)
        b, _, hh, ww = x1.shape
        pv = self.preview_input(preview, (hh, ww))
        if crop is not None and (crop < hh or crop < ww):
            s, u = self.token_stride, self.cfg.unshuffle
            ch, cw = min(crop, hh), min(crop, ww)
            ink = ink_map(glyph) if on_ink else None  # (H, W): any image's ink
            y0, x0 = crop_origin((hh, ww), (ch, cw), s, ink, generator)
            x1 = x1[:, :, y0 : y0 + ch, x0 : x0 + cw]
            glyph = glyph[:, :, y0 : y0 + ch, x0 : x0 + cw]
            pv = pv[:, :, y0 : y0 + ch, x0 : x0 + cw] if pv is not None else None
            layout = layout[:, :, y0 : y0 + ch, x0 : x0 + cw] if layout is not None else None
            cond = cond[:, :, y0 // u : (y0 + ch) // u, x0 // u : (x0 + cw) // u]
        t = sample_train_t(b, generator).to(x1.device)
        noise = torch.randn(x1.shape, generator=generator).to(x1.device)
        tt = t.view(-1, 1, 1, 1)
        x_t = tt * x1 + (1 - tt) * noise
        pred = self.denoise(x_t, t, cond, glyph, pv, self.layout_features(layout))
        # Up-weight text strokes and their surroundings: legibility is decided by few pixels. Likewise the
        # boxes of the layout's objects, whose outlines are few pixels of a mostly flat image.
        weight = 1.0 + 4.0 * F.max_pool2d(glyph, 5, stride=1, padding=2)
        if layout is not None:
            weight = weight + 2.0 * layout[:, MASK_CHANNEL : MASK_CHANNEL + 1]  # (B, 1, h, w): inside a box
        return (weight * (pred - x1) ** 2).mean()

    @torch.no_grad()
    def sample(
        self,
        codes: torch.Tensor,
        glyph: torch.Tensor,
        steps: int | None = None,
        generator: torch.Generator | None = None,
        preview: torch.Tensor | None = None,
        noise_scale: float = 1.0,
        layout: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """codes (B, D, h, w), glyph (B, 1, H, W) [, preview (B, 4, h', w')] [, layout map (B, MAP_CHANNELS,
        H, W)] -> image (B, 4, H, W) in [-1, 1].

        `noise_scale` scales the starting noise (a sampling temperature): below 1 the few Euler steps
        leave fewer stray specks on flat backgrounds; 0 makes the decoder a deterministic refiner of
        the codes, which the prior's sampling already makes diverse."""
        if noise_scale < 0:
            raise ValueError(f"noise_scale must be >= 0, got {noise_scale}")
        sched = FlowMatchEulerScheduler()
        sched.set_timesteps(steps or self.cfg.steps)
        cond = self.condition(codes)
        b, _, hh, ww = glyph.shape
        pv = self.preview_input(preview, (hh, ww))
        lay = self.layout_features(layout)  # once: it does not depend on the step
        # the noise is drawn on the CPU (a seed gives the same image on any device), then moved beside the weights
        x = noise_scale * torch.randn((b, self.cfg.channels, hh, ww), generator=generator).to(codes.device)
        for i in range(len(sched.timesteps) - 1):
            t = torch.full((b,), float(sched.timesteps[i]), device=codes.device)
            x = sched.step(self.denoise(x, t, cond, glyph, pv, lay), i, x)
        return x.clamp(-1, 1)
