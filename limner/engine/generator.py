"""The generation engine: prompt -> n images, with seeds, progress and partial previews.

    prompt --prior (KV cache, CFG, top-k/p)--> [layout tokens] codes (n, rows, cols)
           [--paint mode: plain background grid, object colours read off the codes (model/paint.py)]
           --diffusion decoder (+ glyph, + layout map)--> RGBA (n, 4, H, W) --> PIL images

`Generator.generate` is the one path the CLI, the eval, the server and the Python API call.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from limner.data.scene import Scene, render, to_array
from limner.engine.decode import SamplingParams, fill_partial, sample_tokens
from limner.engine.glyphs import glyph_tensor
from limner.engine.matte import matte
from limner.limits import SUPPORTED_SIZES, check_n, check_prompt, parse_size
from limner.model.layout import Layout, layout_map
from limner.model.native import NativeModel
from limner.model.paint import (
    background_rgb,
    far_from_white,
    fit_canvas,
    lay_onto,
    object_colours,
    on_white,
    plain_grid,
    planned_colours,
    separate,
    text_grid,
)

QUALITIES: dict[str, int] = {"low": 2, "medium": 4, "auto": 4, "high": 8}  # decoder steps
# What made an image's pixels, as every output names it (CLI, Python result, C2PA assertion, API):
#   native          the transformer wrote the layout and the codes, the diffusion decoder drew them (the default)
#   native+planner  the same, but the layout was placed by hand-written code (thinking mode's planner, an edit's)
#   paint           opt-in assisted mode (model/paint.py): code replaced the codes by one background code, moved,
#                   shrank and separated objects and composited layers; never a figure of record
#   paint+planner   both
PIXEL_PATHS = ("native", "native+planner", "paint", "paint+planner")


def pixel_path(paint: bool, planned: bool) -> str:
    """The PIXEL_PATHS name of an image drawn with paint mode on or off, its layout planned by code or not."""
    return ("paint" if paint else "native") + ("+planner" if planned else "")
BACKGROUNDS = ("auto", "opaque", "transparent")

# progress(stage, done, total, preview images or None)
Progress = Callable[[str, int, int, "list[Image.Image] | None"], None]


def default_checkpoint() -> Path:
    """$LIMNER_CHECKPOINT, else the model shipped inside the package."""
    env = os.environ.get("LIMNER_CHECKPOINT")
    return Path(env) if env else Path(__file__).resolve().parent.parent / "weights" / "limner-small.safetensors"


def resolve_size(size: str | tuple[int, int], prompt: str) -> tuple[int, int]:
    """'auto' picks the aspect ratio from the prompt's words; 'WxH' must be a supported size."""
    if isinstance(size, tuple):
        if size not in SUPPORTED_SIZES:
            raise ValueError(f"unsupported size {size[0]}x{size[1]}: supported {SUPPORTED_SIZES}")
        return size
    if size == "auto":
        p = prompt.lower()
        if any(w in p for w in ("landscape", "wide", "banner")):
            return (384, 256)
        if any(w in p for w in ("portrait", "tall", "poster")):
            return (256, 384)
        return (256, 256)
    return parse_size(size)


def to_pil(x: torch.Tensor, transparent: bool) -> list[Image.Image]:
    """(B, 4, H, W) in [-1, 1] -> RGBA images (transparent) or RGB images (alpha dropped)."""
    arr = ((x.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy()
    out = []
    for a in arr:
        if transparent:
            a = a.copy()
            alpha = a[..., 3]
            alpha[alpha < 24] = 0  # snap the decoder's near-transparent noise to exactly transparent
            alpha[alpha > 231] = 255
            out.append(Image.fromarray(a, "RGBA"))
        else:
            out.append(Image.fromarray(np.ascontiguousarray(a[..., :3]), "RGB"))
    return out


@dataclass
class GenerateOptions:
    """Options of one `Generator.generate` call; `size` is 'auto', 'WxH' or (W, H), `quality` picks the
    decoder steps (QUALITIES)."""

    n: int = 1
    seed: int = 0
    size: str | tuple[int, int] = "auto"
    quality: str = "auto"
    background: str = "auto"
    sampling: SamplingParams = field(default_factory=SamplingParams)
    preview_every: int = 0  # tokens between partial previews (0: none)

    def validate(self) -> None:
        """ValueError naming the bad option: n outside 1-10, an unknown quality or background, bad sampling.
        The size is checked when it is resolved."""
        check_n(self.n)
        if self.quality not in QUALITIES:
            raise ValueError(f"unknown quality {self.quality!r}: expected one of {sorted(QUALITIES)}")
        if self.background not in BACKGROUNDS:
            raise ValueError(f"unknown background {self.background!r}: expected one of {BACKGROUNDS}")
        self.sampling.validate()


class Generator:
    """The model alone: prompt -> images, with no safety or provenance (`limner.pipeline` adds both)."""

    def __init__(self, model: NativeModel) -> None:
        self.model = model

    @staticmethod
    def from_checkpoint(path: str | Path | None = None, device: str = "cpu") -> Generator:
        """A generator on the checkpoint at `path` (default: `default_checkpoint()`), its model on `device` (a
        torch device name; model/device.py resolves `auto`); CheckpointError names what is wrong with the file."""
        return Generator(NativeModel.from_checkpoint(path or default_checkpoint()).to(device))

    @property
    def checkpoint_sha(self) -> str:
        """sha256 of the loaded checkpoint file ('' for a model built in memory)."""
        return self.model.sha256

    def unknown_words(self, prompt: str) -> list[str]:
        """The prompt's words outside this model's vocabulary (read as unknown), once each, in order."""
        return self.model.text.unknown_words(prompt)

    def effective_prompt(self, prompt: str, background: str) -> str:
        """`background=transparent` is a request the model reads from the prompt, as it was trained."""
        if background == "transparent" and "transparent" not in prompt.lower():
            return prompt + " on a transparent background"
        return prompt

    def decode(
        self,
        codes: torch.Tensor,
        glyph: torch.Tensor,
        steps: int,
        generator: torch.Generator,
        noise: float = 0.0,
        layouts: list[Layout] | None = None,
    ) -> torch.Tensor:
        """codes (B, rows, cols) + glyph (B, 1, H, W) [+ the prior's layouts] -> (B, 4, H, W) in [-1, 1], on the CPU
        (the decoder runs on the model's device)."""
        dev = self.model.device
        c = self.model.tokenizer.fsq.indices_to_codes(codes.to(dev))
        preview = self.model.tokenizer.decode_preview(c)
        h, w = glyph.shape[-2:]
        lmap = layout_map(list(layouts) if layouts is not None else [None] * len(codes), (w, h), device=dev)
        return self.model.decoder.sample(c, glyph.to(dev), steps=steps, generator=generator, preview=preview,
                                         noise_scale=noise, layout=lmap).cpu()

    def paint(
        self, codes: torch.Tensor, layouts: list[Layout], glyph: torch.Tensor, edit: bool = False,
        background: int | None = None,
    ) -> tuple[torch.Tensor, list[Layout]]:
        """Paint mode (model/paint.py) for codes (B, rows, cols): each image with a layout and no text (glyph
        (B, 1, H, W) empty) becomes a plain grid of its background code, its layout items coloured as its
        codes drew them (or as the prior's colour tokens planned them); other images are returned as they were.
        An `edit`'s codes were mostly read from an image: its background is their commonest free code.
        `background`: the code a fresh image's grid takes instead of the prior's (a planned backdrop)."""
        out, lays = codes.clone(), []
        preview: torch.Tensor | None = None  # (B, 4, h, w), made only when a colour must be read off the codes
        for i, lay in enumerate(layouts):
            if not lay or bool(glyph[i].any()):
                lays.append(lay)
                continue
            if not planned_colours(lay):
                if preview is None:
                    preview = self.codes_preview(codes)
                lay = object_colours(preview[i], lay, background_rgb(preview[i], lay))
            if background is not None and not edit:
                out[i] = background
            else:  # read where the sampler stopped: before any move
                out[i] = plain_grid(codes[i], lay, common=edit)
            if not edit:  # a fresh image's objects are kept whole on the canvas, and apart
                size = (glyph.shape[-1], glyph.shape[-2])
                lay = separate(fit_canvas(lay, size), size)
            lays.append(lay)
        return out, lays

    @functools.cached_property
    def white_code(self) -> int:
        """The code of a white patch under this model's tokenizer (computed on first use)."""
        return self.colour_code("white")

    @functools.lru_cache(maxsize=64)  # noqa: B019 - one Generator lives as long as its process
    def colour_code(self, colour: str) -> int:
        """The code of a plain patch of `colour` (a world colour name or #RRGGBB) under this model's tokenizer:
        the centre code of a plain 256x256 scene of it."""
        x = torch.from_numpy(to_array(render(Scene(256, 256, colour))))[None]  # (1, 4, 256, 256)
        with torch.no_grad():
            return int(self.model.tokenizer.encode(x.to(self.model.device))[1][0, 8, 8])

    def codes_preview(self, codes: torch.Tensor) -> torch.Tensor:
        """The tokenizer's preview (B, 4, h, w) of codes (B, rows, cols), on the CPU."""
        tok = self.model.tokenizer
        return tok.decode_preview(tok.fsq.indices_to_codes(codes.to(self.model.device))).cpu()

    def decode_layered(
        self,
        codes: torch.Tensor,
        glyph: torch.Tensor,
        steps: int,
        generator: torch.Generator,
        noise: float,
        layouts: list[Layout],
    ) -> torch.Tensor:
        """`decode` for painted images (a plain grid, colours planned, no text) whose objects are all far from
        white (paint.far_from_white): each is drawn on white and its objects take their planned colours exactly
        (paint.lay_onto: the decoder gives each pixel's coverage, the layout its colour). One whose background
        is not white (paint.on_white) is painted on a white grid, its background decoded alone beside it, and
        the one laid onto the other. (B, 4, H, W) in [-1, 1]."""
        b = len(codes)
        pv = self.codes_preview(codes)  # (B, 4, h, w)
        bgs = pv[:, :, pv.shape[2] // 2, pv.shape[3] // 2]  # (B, 4): a plain grid's colour
        painted = [i for i in range(b) if not bool(glyph[i].any())
                   and bool((codes[i] == codes[i].flatten()[0]).all()) and far_from_white(layouts[i])]
        rows = [i for i in painted if on_white(bgs[i], layouts[i])]
        drawn = codes.clone()
        drawn[rows] = self.white_code
        both = torch.cat([drawn, codes[rows]])  # the objects on white, then each layered one's background alone
        x = self.decode(both, torch.cat([glyph, glyph[rows]]), steps, generator, noise,
                        [*layouts, *([[]] * len(rows))])
        h, w = glyph.shape[-2:]
        out = x[:b].clone()
        alone = {i: x[b + j] for j, i in enumerate(rows)}  # each layered image's background, decoded alone
        for i in painted:  # one already on white is its own background
            out[i] = lay_onto(x[i], layout_map([layouts[i]], (w, h))[0], alone.get(i, x[i]))
        return out

    def preview(self, codes: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """Cheap preview of a (possibly partial, -1 filled) code grid via the tokenizer's preview head."""
        x = self.codes_preview(fill_partial(codes.flatten(1)).view_as(codes))
        return torch.nn.functional.interpolate(x, size=(size[1], size[0]), mode="nearest")

    @torch.no_grad()
    def generate(
        self,
        prompt: str,
        opts: GenerateOptions | None = None,
        progress: Progress | None = None,
        fixed: torch.Tensor | None = None,
        layout: Layout | None = None,
        backdrop: str | None = None,
        layouts: list[Layout] | None = None,
    ) -> list[Image.Image]:
        """Draw `opts.n` images of `prompt`. `fixed` (n, rows, cols): codes to keep (>= 0) while the -1 ones
        are sampled (region edits, see inpaint.py); the size must then match its grid. `layout`: the objects
        to draw, teacher-forced as the layout tokens of every image (edits know them); a prior without layout
        tokens ignores it. `layouts`: one such layout per image instead (`opts.n` of them: thinking mode's
        candidates, each its own composition, drawn as one batch). `backdrop`: a planned background
        colour (world name or #RRGGBB) that a painted image's background code is set to, instead of the one
        the prior drew (thinking mode knows it)."""
        opts = opts or GenerateOptions()
        opts.validate()
        prompt = check_prompt(prompt)
        size = resolve_size(opts.size, prompt)
        text_prompt = self.effective_prompt(prompt, opts.background)
        transparent = opts.background == "transparent" or (
            opts.background == "auto" and "transparent" in prompt.lower()
        )
        g = torch.Generator().manual_seed(int(opts.seed))
        rows, cols = self.model.grid(size)

        def on_tokens(done: int, total: int, codes: torch.Tensor) -> None:
            if progress is None:
                return
            imgs = None
            if opts.preview_every and (done % opts.preview_every == 0) and done < total:
                imgs = to_pil(self.preview(codes.view(-1, rows, cols), size), transparent)
            progress("tokens", done, total, imgs)

        if layouts is not None and (layout is not None or len(layouts) != opts.n):
            raise ValueError(f"layouts: one per image ({opts.n}), got {len(layouts)}"
                             + (" and a shared layout as well" if layout is not None else ""))
        forced = ([list(lay) for lay in layouts] if layouts is not None
                  else [list(layout)] * opts.n if layout is not None else None)
        glyph = glyph_tensor(prompt, size).unsqueeze(0).expand(opts.n, -1, -1, -1)
        # An edit (fixed codes) is painted too when its layout knows every object's colour (edits.edit_layout): the
        # region is then redrawn from the layout, and the caller copies the pixels outside it back exactly.
        paint = opts.sampling.paint and (fixed is None or (forced is not None and planned_colours(layout)))
        # a painted image needs only its background code, but streamed previews show the whole grid being drawn
        stop_early = paint and not opts.preview_every
        drawn = sample_tokens(self.model, [text_prompt] * opts.n, size, opts.sampling, g, on_tokens, fixed=fixed,
                              layouts=forced, paint_rows=[stop_early and not bool(gl.any()) for gl in glyph])
        steps = opts.sampling.decoder_steps or QUALITIES[opts.quality]
        codes, lays = drawn.codes, drawn.layouts
        back = None if backdrop is None else self.colour_code(backdrop)
        if paint and lays is not None:
            codes, lays = self.paint(codes, lays, glyph, edit=fixed is not None, background=back)
        if paint and fixed is None:  # a text image keeps its codes only around its ink (paint.text_grid)
            for i in range(len(codes)):
                if bool(glyph[i].any()):
                    codes[i] = text_grid(codes[i], glyph[i], back)
        if paint and lays is not None and fixed is None:
            x = self.decode_layered(codes, glyph, steps, g, opts.sampling.decoder_noise, lays)
        else:
            x = self.decode(codes, glyph, steps, g, opts.sampling.decoder_noise,
                            decoder_layouts(lays, opts.sampling.decoder_layout))
        images = to_pil(x, transparent)
        if transparent:
            images = [matte(im) for im in images]  # binary alpha: opaque objects, background exactly 0
        if progress is not None:
            progress("decode", 1, 1, images)
        return images


def decoder_layouts(layouts: list[Layout] | None, which: str) -> list[Layout] | None:
    """What of the prior's `layouts` the decoder reads (SamplingParams.decoder_layout): all of it, its geometry
    without colours, or nothing (None: an empty layout map)."""
    if layouts is None or which == "full":
        return layouts
    if which == "geometry":
        return [[dataclasses.replace(it, rgb=None) for it in lay] for lay in layouts]
    return None
