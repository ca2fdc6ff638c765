"""Paint mode: a layout's objects drawn by the decoder over a grid of nothing but background codes.

The prior writes an image as layout tokens (class, centre, size per object) followed by a code grid. Its
layouts match their prompts far more often than its codes do (bench/layout_accuracy.py against the
generation eval): the codes add stray blobs and smear outlines. In paint mode the engine keeps the
prior's decisions and drops its brushwork:

    codes (h, w) --background_code--> one code --> a plain grid (h, w) of it
    codes --tokenizer preview--> object_colours(layout) --> each layout item's rgb
    plain grid + layout map with colours --diffusion decoder--> pixels

so the background and each object's colour still come from the prior's codes, and every object from its
layout tokens. The decoder learns it by seeing a share of its training examples painted
the same way (`paint_batch`): the true layout with the true colours over the background code.

Images with text keep their codes: the text's colour and panel live in them, not in the layout.
"""

from __future__ import annotations

import dataclasses
import math
import random

import torch
import torch.nn.functional as F

from limner.model.layout import BASE_MAP_CHANNELS, R_BINS, XY_BINS, Layout, cell_objects, xy_bin

# How far (in [-1, 1] RGB units, Euclidean) a preview pixel must be from the background to count as paint.
PAINT_DISTANCE = 0.25
CORE = 0.7  # share of an object's radius whose pixels are read for its colour
CORE_SHARE = 0.6  # of those, the pixels at least this share of the farthest one's distance from the background
# How far from white (in [-1, 1] RGB units, Euclidean) a background and every object must be for an image to be
# painted as a layer on white and laid onto its background (`on_white`, `lay_onto`).
WHITE_FAR = 0.5
NEAR_WHITE = 0.1  # a background this close to white is white: painting on the white code is already the layer
FULL_COVERAGE = 0.75  # quantile of an object's clearly covered pixels taken as its solid inside (`lay_onto`)


def first_free_cell(layout: Layout | None, rows: int, cols: int) -> int:
    """The first cell, in raster order, that no layout item covers (layout.cell_objects) and that touches none
    that does; else the first uncovered one; 0 when every cell is covered. A cell right beside an object may
    carry the prior's smeared brushwork of it, and a painted image's whole background is this one cell's code."""
    covered = (cell_objects(layout, rows, cols)[:, 0] > 0).float().view(1, 1, rows, cols)
    near = F.max_pool2d(covered, 3, stride=1, padding=1).flatten() > 0  # (rows * cols,)
    for free in (~near, covered.flatten() == 0):
        idx = free.nonzero()
        if len(idx):
            return int(idx[0])
    return 0


def planned_colours(layout: Layout | None) -> bool:
    """True for a non-empty layout whose every item has its colour (a colour prior's, or one an edit knows)."""
    return bool(layout) and all(it.rgb is not None for it in layout or [])


def background_code(idx: torch.Tensor, layout: Layout | None) -> int:
    """The background code of one image's code grid idx (rows, cols): the code of its `first_free_cell`, clear of
    every layout item. It is all the sampler needs to draw of a painted image (engine/decode.py)."""
    rows, cols = idx.shape
    return int(idx.flatten()[first_free_cell(layout, rows, cols)])


def common_background_code(idx: torch.Tensor, layout: Layout | None) -> int:
    """The most frequent code of idx (rows, cols) among the cells no layout item covers (all cells when every
    one is covered). For an edit, whose codes were read from an image: an object the detector missed leaves
    its cells uncovered, and its first one may well be the first free cell."""
    rows, cols = idx.shape
    free = cell_objects(layout, rows, cols)[:, 0] == 0  # (rows * cols,)
    pool = idx.flatten()[free] if bool(free.any()) else idx.flatten()
    return int(torch.mode(pool).values)


def plain_grid(idx: torch.Tensor, layout: Layout | None, common: bool = False) -> torch.Tensor:
    """(rows, cols): every cell the background code of idx (rows, cols): `background_code`, or with `common`
    `common_background_code`."""
    return torch.full_like(idx, common_background_code(idx, layout) if common else background_code(idx, layout))


TEXT_REACH = 1  # cells around a text's ink whose codes a text image keeps (its panel, its anti-aliasing)


def text_grid(idx: torch.Tensor, glyph: torch.Tensor, background: int | None = None,
              reach: int = TEXT_REACH) -> torch.Tensor:
    """A text image's codes idx (rows, cols), cleaned: cells within `reach` cells of the glyph condition's ink
    (1, H, W) keep their codes, the text's colour and panel; every other cell becomes `background` (default: the
    commonest code among them). The prior's codes around a text block carry stray blobs that OCR reads as ink."""
    rows, cols = idx.shape
    ink = F.adaptive_max_pool2d(glyph.float().abs()[None], (rows, cols))[0, 0] > 0  # (rows, cols)
    near = F.max_pool2d(ink.float()[None, None], 2 * reach + 1, stride=1, padding=reach)[0, 0] > 0
    far = ~near
    if not bool(far.any()):
        return idx
    out = idx.clone()
    out[far] = int(torch.mode(idx[far]).values) if background is None else background
    return out


EDGE = 4.0  # pixels a painted object keeps from the canvas edge (the data engine's margin)


def fit_canvas(layout: Layout, size: tuple[int, int]) -> Layout:
    """The layout with every item's centre moved, by whole bins, just far enough in that the object lies inside
    the (W, H) canvas with EDGE to spare, as every training scene's objects do; sizes and colours unchanged. The
    prior's centre bins can put an object half off the canvas, where paint mode would draw it cut."""
    w, h = size

    def inside(b: int, reach: float, extent: int) -> int:
        """Centre bin b moved to the nearest bin whose centre keeps `reach` px from both ends of `extent`."""
        lo = math.ceil(reach / extent * XY_BINS - 0.5)
        hi = math.floor((1 - reach / extent) * XY_BINS - 0.5)
        return min(max(b, lo), hi) if lo <= hi else b

    reach = [it.radius_frac() * min(w, h) + EDGE for it in layout]
    return [dataclasses.replace(it, x=inside(it.x, r, w), y=inside(it.y, r, h))
            for it, r in zip(layout, reach, strict=True)]


SEPARATION = 24.0  # pixels between painted objects: the decoder draws an outline a little wide, and objects closer
# than this ran together into one blob for the detector (measured: 6 -> 24 raised counting from 0.62 to 0.71)


def _push_apart(
    pts: list[list[float]], rad: list[float], size: tuple[int, int], iters: int
) -> list[list[float]]:
    """Centres (px) pushed apart pairwise along the line between them until SEPARATION pixels lie between each
    pair of discs of radii `rad` (or `iters` rounds pass), each kept inside the (W, H) canvas by EDGE."""
    w, h = size
    pts = [list(p) for p in pts]
    for _ in range(iters):
        moved = False
        for i in range(len(pts)):
            for j in range(i + 1, len(pts)):
                dx, dy = pts[j][0] - pts[i][0], pts[j][1] - pts[i][1]
                d = math.hypot(dx, dy)
                need = rad[i] + rad[j] + SEPARATION
                if d >= need:
                    continue
                ux, uy = (dx / d, dy / d) if d > 1e-6 else (1.0, 0.0)
                push = (need - d) / 2
                pts[i][0] -= ux * push
                pts[i][1] -= uy * push
                pts[j][0] += ux * push
                pts[j][1] += uy * push
                moved = True
        for p, r in zip(pts, rad, strict=True):
            p[0] = min(max(p[0], r + EDGE), w - r - EDGE) if w > 2 * (r + EDGE) else w / 2
            p[1] = min(max(p[1], r + EDGE), h - r - EDGE) if h > 2 * (r + EDGE) else h / 2
        if not moved:
            break
    return pts


def _crowded(pts: list[list[float]], rad: list[float]) -> set[int]:
    """The items whose disc still lies closer than SEPARATION / 2 to another's: the decoder draws such a pair
    as one blob. (Half the gap, since the data engine's own 4-row grids keep about 18 px.)"""
    out: set[int] = set()
    for i in range(len(pts)):
        for j in range(i + 1, len(pts)):
            if math.dist(pts[i], pts[j]) < rad[i] + rad[j] + SEPARATION / 2:
                out |= {i, j}
    return out


def separate(layout: Layout, size: tuple[int, int], iters: int = 40) -> Layout:
    """The layout with overlapping objects pushed apart along the line between their centres until SEPARATION
    pixels lie between them (or `iters` rounds pass), each kept inside the (W, H) canvas by EDGE; colours and
    order unchanged. No training scene has overlapping objects, and paint mode draws two that overlap as one
    blob. Pushing along the line between them keeps which one is left of or above the other.

    Objects too big to be parted on the canvas (the prior wrote a 1 x 2 grid's two cells 65 px in radius, where
    its cells hold 46) are made smaller, one radius bin at a time for those still crowded, each try starting
    again from the prior's centres: a smaller object in its place reads right, two merged ones do not."""
    w, h = size
    short = min(w, h)
    start = [[it.center()[0] * w, it.center()[1] * h] for it in layout]
    rbin = [it.r for it in layout]
    for _ in range(R_BINS):
        rad = [dataclasses.replace(it, r=b).radius_frac() * short for it, b in zip(layout, rbin, strict=True)]
        pts = _push_apart(start, rad, size, iters)
        crowded = [i for i in _crowded(pts, rad) if rbin[i] > 0]
        if not crowded:
            break
        for i in crowded:
            rbin[i] -= 1
    return [dataclasses.replace(it, x=xy_bin(p[0] / w), y=xy_bin(p[1] / h), r=b)
            for it, p, b in zip(layout, pts, rbin, strict=True)]


def paint_batch(
    idx: torch.Tensor, layouts: list[Layout | None], has_text: list[bool], share: float, rng: random.Random
) -> tuple[torch.Tensor, list[bool]]:
    """Training: each image of idx (B, rows, cols) with a non-empty layout and no text is made a plain grid
    with probability `share`. Returns (the new idx, which images were painted)."""
    if not 0 <= share <= 1:
        raise ValueError(f"paint share must be in [0, 1], got {share}")
    out = idx.clone()
    painted = []
    for i, (lay, text) in enumerate(zip(layouts, has_text, strict=True)):
        p = bool(lay) and not text and rng.random() < share
        if p:
            out[i] = plain_grid(idx[i], lay)
        painted.append(p)
    return out, painted


def _disc(item_center: tuple[float, float], radius: float, h: int, w: int) -> torch.Tensor:
    """(h, w) bool: pixels within `radius` px of the centre (fractions of width and height)."""
    ys = torch.arange(h, dtype=torch.float32)[:, None] + 0.5
    xs = torch.arange(w, dtype=torch.float32)[None, :] + 0.5
    cx, cy = item_center[0] * w, item_center[1] * h
    return (xs - cx) ** 2 + (ys - cy) ** 2 <= radius**2


def object_colours(preview: torch.Tensor, layout: Layout, bg_rgb: torch.Tensor) -> Layout:
    """The layout with each item's rgb read off a preview (4, h, w) in [-1, 1] of the prior's codes.

    An item's colour is the median of the paint (pixels at least PAINT_DISTANCE from `bg_rgb` (3,)) inside the
    core of its disc that no later item covers, its most saturated part (CORE_SHARE); with no paint there, of
    all paint in the image (the prior drew the colour, only elsewhere); with none at all, the item keeps rgb
    None (the decoder guesses)."""
    _, h, w = preview.shape
    rgb = preview[:3]  # (3, h, w)
    opaque = preview[3] > 0
    dist = (rgb - bg_rgb.view(3, 1, 1)).norm(dim=0)  # (h, w)
    paint = (dist >= PAINT_DISTANCE) & opaque
    short = min(h, w)
    discs = [_disc(it.center(), CORE * it.radius_frac() * short, h, w) for it in layout]
    out: Layout = []
    for k, it in enumerate(layout):
        own = discs[k].clone()
        for later in discs[k + 1 :]:
            own &= ~later
        sel = own & paint
        if not bool(sel.any()):
            sel = paint
        if not bool(sel.any()):
            out.append(dataclasses.replace(it, rgb=None))
            continue
        # the preview is blurry: an object's rim is mixed with the background, so read its saturated core only
        sel &= dist >= CORE_SHARE * dist[sel].max()
        med = ((rgb[:, sel].median(dim=1).values + 1) * 127.5).round().clamp(0, 255)  # (3,)
        out.append(dataclasses.replace(it, rgb=(int(med[0]), int(med[1]), int(med[2]))))
    return out


def outside_discs(layout: Layout | None, h: int, w: int) -> torch.Tensor:
    """(h, w) bool: the pixels of an h x w image outside every layout item's disc (its background)."""
    outside = torch.ones(h, w, dtype=torch.bool)
    for it in layout or []:
        outside &= ~_disc(it.center(), it.radius_frac() * min(h, w), h, w)
    return outside


def background_rgb(preview: torch.Tensor, layout: Layout | None) -> torch.Tensor:
    """(3,) the median colour, in [-1, 1], of the preview (4, h, w) pixels outside every item's disc."""
    _, h, w = preview.shape
    outside = outside_discs(layout, h, w)
    px = preview[:3, outside] if bool(outside.any()) else preview[:3].flatten(1)
    return px.median(dim=1).values


def far_from_white(layout: Layout | None) -> bool:
    """Whether a layout is non-empty and every item has a colour far (WHITE_FAR) from white: a layer of it
    painted on white comes apart exactly (`lay_onto`)."""
    white = torch.ones(3)
    return planned_colours(layout) and all(
        float((torch.tensor(it.rgb, dtype=torch.float32) / 127.5 - 1 - white).norm()) >= WHITE_FAR
        for it in layout or [] if it.rgb is not None)


def is_white(background: torch.Tensor) -> bool:
    """Whether a background (4,) in [-1, 1] is opaque and within NEAR_WHITE of white."""
    return float(background[3]) >= 0 and float((background[:3] - torch.ones(3)).norm()) < NEAR_WHITE


def on_white(background: torch.Tensor, layout: Layout | None) -> bool:
    """Whether a painted image is better drawn on white and laid onto its background (`lay_onto`): its
    background (4,) in [-1, 1] is not white (a colour, however light, or transparent), and every object has a
    colour far from white.

    Most of the data engine's scenes are white, and the decoder paints crisp objects there; over a coloured or
    a transparent background it paints them faint or misshapen. A layer on white with known object colours
    comes apart exactly (`lay_onto`), so the decoder's white-canvas skill serves every background."""
    return far_from_white(layout) and not is_white(background)


def lay_onto(painted: torch.Tensor, lmap: torch.Tensor, background: torch.Tensor) -> torch.Tensor:
    """An image painted on white, laid onto another background; all in [-1, 1].

    painted (4, H, W): the decoder's picture on a white canvas; lmap (MAP_CHANNELS, H, W): its layout map, whose
    colour channels give the object colour o at each pixel of an object's box; background (4, H, W). Where a
    pixel is p = a o + (1 - a) white, a = (1 - p) / (1 - o) on the channel where o is farthest below white
    (clamped to [0, 1]); the result is a o + (1 - a) background, its alpha a + (1 - a) background alpha (opaque
    objects over a transparent background).

    The decoder fills an object's inside a few levels short of its colour (coverage 0.97, not 1), which would
    leave every object faintly tinted by white; so each object colour's coverage is divided by its solid level,
    the FULL_COVERAGE quantile of its clearly covered pixels (a > 0.5), when that is below 1."""
    o = lmap[BASE_MAP_CHANNELS : BASE_MAP_CHANNELS + 3]  # (3, H, W)
    known = lmap[BASE_MAP_CHANNELS + 3 : BASE_MAP_CHANNELS + 4] > 0  # (1, H, W)
    gap = 1.0 - o  # (3, H, W): how far each channel of the colour lies below white
    c = gap.argmax(dim=0, keepdim=True)  # (1, H, W)
    a = ((1.0 - painted[:3]).gather(0, c) / gap.gather(0, c).clamp(min=1e-3)) * known  # (1, H, W), unclamped
    colours = o.flatten(1)[:, known.flatten()]  # (3, N): the object colour at each known pixel
    for col in colours.unique(dim=1).T:  # (3,): one object colour at a time
        mine = known[0] & (o == col.view(3, 1, 1)).all(dim=0)  # (H, W)
        solid = a[0][mine & (a[0] > 0.5)]
        if len(solid):
            level = float(solid.quantile(FULL_COVERAGE))
            if level < 1.0:
                a[0][mine] = a[0][mine] / level
    a = a.clamp(0, 1)
    rgb = a * o + (1 - a) * background[:3]
    alpha = a + (1 - a) * background[3:4]  # a = 1 is opaque (+1 in [-1, 1])
    return torch.cat([rgb, alpha], dim=0)
