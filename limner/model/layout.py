"""Layout tokens: the objects of an image as a short token plan the prior writes before the code grid.

One image segment of a layout prior is

    <img>  cls x y r  cls x y r ...  <lay_end>  code code ... code  </img>

Each object is four tokens: its class (one of the world's 16), the column and row of its centre
(`XY_BINS` bins across the canvas) and its radius (`R_BINS` log-spaced bins of the radius as a
fraction of the shorter side). Objects come in drawing order, so a later one covers an earlier one.

Why: the 16 x 16 code grid spends ~250 tokens copying background, and the few that decide what the
prompt asked (which shape, how many, where) are drowned by them; a tokenizer code of a 16-px patch
also has too few levels to carry a shape's outline, so shapes came out as blobs. Layout tokens put
those decisions in a handful of tokens the loss can weigh, and the diffusion decoder reads them as a
layout map (GLIGEN-style grounding: learned features per class, painted in each object's box with
box-relative coordinates), from which it learns to draw the outline.

Layout ids are local here, [0, LAYOUT_VOCAB); the prior places them after the text and image-code
ids (see `layout_offset`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from limner.data.world import OBJECTS, color_rgb

XY_BINS = 32
R_BINS = 16
R_MIN, R_MAX = 0.04, 0.40  # radius / shorter canvas side: small objects 0.085, 1x2 grid cells up to 0.36
MAX_OBJECTS = 16  # a 4 x 4 grid

END = 0  # <lay_end>
CLS0 = 1
X0 = CLS0 + len(OBJECTS)
Y0 = X0 + XY_BINS
R0 = Y0 + XY_BINS
LAYOUT_VOCAB = R0 + R_BINS
TOKENS_PER_OBJECT = 4
MAX_LAYOUT_TOKENS = MAX_OBJECTS * TOKENS_PER_OBJECT + 1
MASK_CHANNEL = len(OBJECTS) + 2  # class one-hot, box-relative dx and dy, then the inside-the-box mask
BASE_MAP_CHANNELS = MASK_CHANNEL + 1  # what a decoder without colour input reads
MAP_CHANNELS = BASE_MAP_CHANNELS + 4  # + the object's colour (r, g, b in [-1, 1]) and a colour-known flag
BOX = 1.25  # the map covers |dx|, |dy| <= BOX * radius: the whole shape and a margin of background


def layout_offset(text_vocab: int, codebook: int) -> int:
    """First prior id of the layout tokens: they follow the text ids and the image codes."""
    return text_vocab + codebook


@dataclass(frozen=True)
class LayoutItem:
    """One object of a layout, quantised: class index into OBJECTS, centre bins and radius bin. `rgb`, when
    known, is the object's colour (0-255): it is not a token; the data engine knows it, and the engine reads it
    off the prior's codes (engine/paint.py). It does not take part in comparisons."""

    cls: int
    x: int
    y: int
    r: int
    rgb: tuple[int, int, int] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if not (0 <= self.cls < len(OBJECTS) and 0 <= self.x < XY_BINS and 0 <= self.y < XY_BINS
                and 0 <= self.r < R_BINS):
            raise ValueError(f"layout item out of range: {self}")

    @staticmethod
    def quantize(cls: str, cx: float, cy: float, radius_frac: float,
                 rgb: tuple[int, int, int] | None = None) -> LayoutItem:
        """From a class name, centre (fractions of width and height), radius / shorter side and colour."""
        if cls not in OBJECTS:
            raise ValueError(f"unknown object class {cls!r}")
        xb = min(XY_BINS - 1, max(0, int(cx * XY_BINS)))
        yb = min(XY_BINS - 1, max(0, int(cy * XY_BINS)))
        rf = min(R_MAX, max(R_MIN, radius_frac))
        rb = round(math.log(rf / R_MIN) / math.log(R_MAX / R_MIN) * (R_BINS - 1))
        return LayoutItem(OBJECTS.index(cls), xb, yb, int(rb), rgb)

    @property
    def name(self) -> str:
        """The object's class name."""
        return OBJECTS[self.cls]

    def center(self) -> tuple[float, float]:
        """Centre as fractions of width and height (the middle of its bins)."""
        return (self.x + 0.5) / XY_BINS, (self.y + 0.5) / XY_BINS

    def radius_frac(self) -> float:
        """Radius as a fraction of the shorter canvas side (the bin's value)."""
        return R_MIN * (R_MAX / R_MIN) ** (self.r / (R_BINS - 1))

    def tokens(self) -> list[int]:
        """The item's four local ids: class, x, y, r."""
        return [CLS0 + self.cls, X0 + self.x, Y0 + self.y, R0 + self.r]


Layout = list[LayoutItem]


def scene_layout(scene: object) -> Layout:
    """The layout of a data-engine Scene (its objects in drawing order; text is the glyph's job)."""
    w, h = scene.width, scene.height  # type: ignore[attr-defined]
    out = []
    for o in scene.objects[:MAX_OBJECTS]:  # type: ignore[attr-defined]
        out.append(LayoutItem.quantize(o.cls, o.cx, o.cy, o.radius(w, h) / min(w, h), color_rgb(o.color)))
    return out


def encode_layout(layout: Layout) -> list[int]:
    """Local ids of a layout, ending in END."""
    ids = [t for it in layout[:MAX_OBJECTS] for t in it.tokens()]
    return [*ids, END]


def decode_layout(ids: list[int]) -> Layout:
    """Local ids (as `allowed` permits them, END optional) -> items; ValueError naming a misplaced id."""
    out: Layout = []
    for k in range(0, len(ids), TOKENS_PER_OBJECT):
        chunk = ids[k : k + TOKENS_PER_OBJECT]
        if chunk and chunk[0] == END:
            break
        if len(chunk) < TOKENS_PER_OBJECT:
            raise ValueError(f"layout ends inside an object: {chunk}")
        c, x, y, r = chunk
        if not (CLS0 <= c < X0 and X0 <= x < Y0 and Y0 <= y < R0 and R0 <= r < LAYOUT_VOCAB):
            raise ValueError(f"bad layout object tokens {chunk}")
        out.append(LayoutItem(c - CLS0, x - X0, y - Y0, r - R0))
    return out


def allowed(step: int) -> tuple[int, int]:
    """[lo, hi) of the local ids allowed as the `step`-th layout token (0-based): the grammar
    (cls|END) x y r (cls|END) ..., with END forced after MAX_OBJECTS objects."""
    slot = step % TOKENS_PER_OBJECT
    if slot == 0:
        return (END, END + 1) if step >= MAX_OBJECTS * TOKENS_PER_OBJECT else (END, X0)
    return {1: (X0, Y0), 2: (Y0, R0), 3: (R0, LAYOUT_VOCAB)}[slot]


def layout_map(layouts: list[Layout | None], size: tuple[int, int]) -> torch.Tensor:
    """(B, MAP_CHANNELS, H, W) at output size (W, H): per pixel, the class one-hot, the box-relative offsets
    (dx, dy) / radius, a mask and, where the item has one, its colour and a colour-known flag, of the last
    object whose box covers it; zeros elsewhere and for None."""
    w, h = size
    out = torch.zeros(len(layouts), MAP_CHANNELS, h, w)
    ys = torch.arange(h, dtype=torch.float32)[:, None] + 0.5  # (H, 1)
    xs = torch.arange(w, dtype=torch.float32)[None, :] + 0.5  # (1, W)
    n_cls = len(OBJECTS)
    for b, layout in enumerate(layouts):
        for it in layout or []:
            cx, cy = it.center()
            r = it.radius_frac() * min(w, h)
            dx = (xs - cx * w) / r  # (1, W)
            dy = (ys - cy * h) / r  # (H, 1)
            inside = (dx.abs() <= BOX) & (dy.abs() <= BOX)  # (H, W)
            out[b, :, inside] = 0.0
            out[b, it.cls][inside] = 1.0
            out[b, n_cls][inside] = dx.expand(h, w)[inside]
            out[b, n_cls + 1][inside] = dy.expand(h, w)[inside]
            out[b, MASK_CHANNEL][inside] = 1.0
            if it.rgb is not None:
                for c in range(3):
                    out[b, BASE_MAP_CHANNELS + c][inside] = it.rgb[c] / 127.5 - 1.0
                out[b, BASE_MAP_CHANNELS + 3][inside] = 1.0
    return out


def prior_vocab_size(text_vocab: int, codebook: int, layout: bool) -> int:
    """The prior's vocabulary: text ids, image codes and, for a layout prior, the layout ids."""
    return layout_offset(text_vocab, codebook) + (LAYOUT_VOCAB if layout else 0)


def drop_layouts(layouts: list[Layout | None], p: float, rng: object) -> list[Layout | None]:
    """Each layout replaced by None with probability p (`rng` a random.Random): the decoder then also learns
    to draw from the codes alone, as it must for uploaded images, whose objects it is not told."""
    return [None if rng.random() < p else lay for lay in layouts]  # type: ignore[attr-defined]


def cell_objects(layout: Layout | None, rows: int, cols: int) -> torch.Tensor:
    """(rows * cols, 2) long, raster order: for each token cell, (k + 1, class + 1) of the last layout item k
    whose shape box (|dx|, |dy| <= radius) holds the cell's centre, else (0, 0). The prior reads this for the
    cell it is about to write (model/prior.py), so a code knows which planned object it belongs to without
    working out the geometry from the layout tokens itself."""
    out = torch.zeros(rows * cols, 2, dtype=torch.long)
    if not layout:
        return out
    ys = (torch.arange(rows, dtype=torch.float32) + 0.5) / rows  # cell centres as fractions
    xs = (torch.arange(cols, dtype=torch.float32) + 0.5) / cols
    short = min(rows, cols)
    for k, it in enumerate(layout[:MAX_OBJECTS]):
        cx, cy = it.center()
        r = it.radius_frac() * short  # in cells
        inside = ((ys[:, None] - cy).abs() * rows <= r) & ((xs[None, :] - cx).abs() * cols <= r)  # (rows, cols)
        flat = inside.flatten()
        out[flat, 0] = k + 1
        out[flat, 1] = it.cls + 1
    return out


def layout_free_cells(layout: Layout, rows: int, cols: int, margin: float) -> torch.Tensor:
    """(rows * cols,) bool, raster order: True for the token cells whose centre lies farther than `margin`
    cells outside every item's shape box, the cells a layout leaves to the background. The sampler's
    background lock (engine/decode.py) gives them the background code."""
    ys = (torch.arange(rows, dtype=torch.float32) + 0.5) / rows
    xs = (torch.arange(cols, dtype=torch.float32) + 0.5) / cols
    short = min(rows, cols)
    near = torch.zeros(rows, cols, dtype=torch.bool)
    for it in layout[:MAX_OBJECTS]:
        cx, cy = it.center()
        r = it.radius_frac() * short + margin  # in cells
        near |= ((ys[:, None] - cy).abs() * rows <= r) & ((xs[None, :] - cx).abs() * cols <= r)
    return ~near.flatten()
