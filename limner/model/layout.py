"""Layout tokens: the objects of an image as a short token plan the prior writes before the code grid.

One image segment of a layout prior is

    <img>  cls x y r [R G B]  cls x y r [R G B] ...  <lay_end>  code code ... code  </img>

Each object is four tokens: its class (one of the world's 16), the column and row of its centre
(`XY_BINS` bins across the canvas) and its radius (`R_BINS` log-spaced bins of the radius as a
fraction of the shorter side); a colour layout (what every prior writes) adds its colour as three
levels. Objects come in drawing order, so a later one covers an earlier one.

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
# A colour layout (what every prior writes) adds three tokens an object, its red, green and blue levels: one
# range of COLOUR_LEVELS ids after the radius bins serves all three (the grammar slot names the channel), so the
# first LAYOUT_VOCAB ids keep their meaning and a colourless prior grows into a colour one.
COLOUR_LEVELS = 16  # steps of 17 of 0-255: at most 8.5 off per channel, a CIEDE2000 error of a few units
C0 = LAYOUT_VOCAB
COLOUR_TOKENS = 3
UNKNOWN_LEVEL = COLOUR_LEVELS // 2  # an item of unknown colour (rgb None) is written as mid-grey
MASK_CHANNEL = len(OBJECTS) + 2  # class one-hot, box-relative dx and dy, then the inside-the-box mask
BASE_MAP_CHANNELS = MASK_CHANNEL + 1  # what a decoder without colour input reads
MAP_CHANNELS = BASE_MAP_CHANNELS + 4  # + the object's colour (r, g, b in [-1, 1]) and a colour-known flag
BOX = 1.25  # the map covers |dx|, |dy| <= BOX * radius: the whole shape and a margin of background


def layout_offset(text_vocab: int, codebook: int) -> int:
    """First prior id of the layout tokens: they follow the text ids and the image codes."""
    return text_vocab + codebook


def xy_bin(frac: float) -> int:
    """The centre bin of a position given as a fraction of the canvas side (clamped to the canvas)."""
    return min(XY_BINS - 1, max(0, int(frac * XY_BINS)))


@dataclass(frozen=True)
class LayoutItem:
    """One object of a layout, quantised: class index into OBJECTS, centre bins and radius bin. `rgb`, when
    known, is the object's colour (0-255): it is not a token; the data engine knows it, and the engine reads it
    off the prior's codes (model/paint.py). It does not take part in comparisons."""

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
        xb, yb = xy_bin(cx), xy_bin(cy)
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

    def tokens(self, colour: bool = False) -> list[int]:
        """The item's local ids: class, x, y, r and, for a colour layout, its red, green and blue levels."""
        ids = [CLS0 + self.cls, X0 + self.x, Y0 + self.y, R0 + self.r]
        if colour:
            ids += [C0 + lv for lv in colour_levels(self.rgb)]
        return ids


def colour_levels(rgb: tuple[int, int, int] | None) -> tuple[int, int, int]:
    """0-255 channels -> levels in [0, COLOUR_LEVELS); None -> mid-grey."""
    if rgb is None:
        return (UNKNOWN_LEVEL,) * 3
    step = 255 / (COLOUR_LEVELS - 1)
    r, g, b = (min(COLOUR_LEVELS - 1, max(0, round(v / step))) for v in rgb)
    return (r, g, b)


def level_rgb(levels: tuple[int, int, int]) -> tuple[int, int, int]:
    """Levels in [0, COLOUR_LEVELS) -> 0-255 channels (the levels' centres)."""
    step = 255 / (COLOUR_LEVELS - 1)
    r, g, b = (round(v * step) for v in levels)
    return (r, g, b)


def tokens_per_object(colour: bool) -> int:
    """Layout tokens an object takes: 4, or 7 with colour."""
    return TOKENS_PER_OBJECT + (COLOUR_TOKENS if colour else 0)


def max_layout_tokens(colour: bool) -> int:
    """The longest layout: MAX_OBJECTS objects and END."""
    return MAX_OBJECTS * tokens_per_object(colour) + 1


def layout_vocab(colour: bool) -> int:
    """Local layout ids of a (colour) layout prior."""
    return LAYOUT_VOCAB + (COLOUR_LEVELS if colour else 0)


Layout = list[LayoutItem]


def scene_layout(scene: object) -> Layout:
    """The layout of a data-engine Scene (its objects in drawing order; text is the glyph's job)."""
    w, h = scene.width, scene.height  # type: ignore[attr-defined]
    out = []
    for o in scene.objects[:MAX_OBJECTS]:  # type: ignore[attr-defined]
        out.append(LayoutItem.quantize(o.cls, o.cx, o.cy, o.radius(w, h) / min(w, h), color_rgb(o.color)))
    return out


def encode_layout(layout: Layout, colour: bool = False) -> list[int]:
    """Local ids of a layout (with colour tokens for a colour layout), ending in END."""
    ids = [t for it in layout[:MAX_OBJECTS] for t in it.tokens(colour)]
    return [*ids, END]


def decode_layout(ids: list[int], colour: bool = False) -> Layout:
    """Local ids (as `allowed` permits them, END optional) -> items, with their rgb for a colour layout;
    ValueError naming a misplaced id."""
    out: Layout = []
    per = tokens_per_object(colour)
    for k in range(0, len(ids), per):
        chunk = ids[k : k + per]
        if chunk and chunk[0] == END:
            break
        if len(chunk) < per:
            raise ValueError(f"layout ends inside an object: {chunk}")
        c, x, y, r = chunk[:TOKENS_PER_OBJECT]
        levels = [v - C0 for v in chunk[TOKENS_PER_OBJECT:]]
        if not (CLS0 <= c < X0 and X0 <= x < Y0 and Y0 <= y < R0 and R0 <= r < LAYOUT_VOCAB
                and all(0 <= lv < COLOUR_LEVELS for lv in levels)):
            raise ValueError(f"bad layout object tokens {chunk}")
        rgb = level_rgb((levels[0], levels[1], levels[2])) if colour else None
        out.append(LayoutItem(c - CLS0, x - X0, y - Y0, r - R0, rgb))
    return out


def allowed(step: int, colour: bool = False) -> tuple[int, int]:
    """[lo, hi) of the local ids allowed as the `step`-th layout token (0-based): the grammar
    (cls|END) x y r [R G B] (cls|END) ..., with END forced after MAX_OBJECTS objects."""
    per = tokens_per_object(colour)
    slot = step % per
    if slot == 0:
        return (END, END + 1) if step >= MAX_OBJECTS * per else (END, X0)
    if slot >= TOKENS_PER_OBJECT:
        return (C0, C0 + COLOUR_LEVELS)
    return {1: (X0, Y0), 2: (Y0, R0), 3: (R0, LAYOUT_VOCAB)}[slot]


def layout_map(layouts: list[Layout | None], size: tuple[int, int],
               device: torch.device | str = "cpu") -> torch.Tensor:
    """(B, MAP_CHANNELS, H, W) on `device` at output size (W, H): per pixel, the class one-hot, the box-relative
    offsets (dx, dy) / radius, a mask and, where the item has one, its colour and a colour-known flag, of the last
    object whose box covers it; zeros elsewhere and for None. (Built where it is used: on a GPU trainer a
    batch's map is many small writes, ~1 s for 64 images on one CPU core.)"""
    w, h = size
    out = torch.zeros(len(layouts), MAP_CHANNELS, h, w, device=device)
    ys = torch.arange(h, dtype=torch.float32, device=device)[:, None] + 0.5  # (H, 1)
    xs = torch.arange(w, dtype=torch.float32, device=device)[None, :] + 0.5  # (1, W)
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


def embedding_rows(vocab: int, text_vocab: int, codebook: int, hex_ids: list[int]) -> torch.Tensor:
    """(vocab,) long: the embedding row each prior id reads and writes through (every prior ties them): its
    own, except colour level l, which shares the row of hex digit l (`hex_ids`: the text ids of '#0'..'#f').
    Level l is the value 17 l, hex 'll', so a channel the prompt spells '#Xy' is level X or next to it."""
    if len(hex_ids) != COLOUR_LEVELS:
        raise ValueError(f"expected {COLOUR_LEVELS} hex digit ids, got {len(hex_ids)}")
    rows = torch.arange(vocab)
    first = layout_offset(text_vocab, codebook) + C0
    if first + COLOUR_LEVELS > vocab:
        raise ValueError(f"vocabulary of {vocab} ids has no colour levels (they would start at {first})")
    rows[first : first + COLOUR_LEVELS] = torch.tensor(hex_ids)
    return rows


def prior_vocab_size(text_vocab: int, codebook: int, layout: bool, colour: bool = False) -> int:
    """The prior's vocabulary: text ids, image codes and, for a layout prior, the layout ids (with the colour
    levels for a colour layout)."""
    return layout_offset(text_vocab, codebook) + (layout_vocab(colour) if layout else 0)


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

