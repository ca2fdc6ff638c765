"""Paint mode: the background code, plain grids, training-time painting and colours read off a preview."""

import random

import pytest
import torch

from limner.model.layout import LayoutItem, cell_objects
from limner.model.paint import (
    background_code,
    background_rgb,
    common_background_code,
    object_colours,
    paint_batch,
    plain_grid,
)


def test_background_code_is_the_first_code_outside_the_objects() -> None:
    idx = torch.full((8, 8), 3)
    idx[0:4, 0:4] = 9  # an object over the first cells
    lay = [LayoutItem.quantize("square", 0.25, 0.25, 0.25)]
    assert background_code(idx, lay) == 3 and background_code(idx, None) == 9
    covered = torch.full((2, 2), 7)
    assert background_code(covered, [LayoutItem.quantize("square", 0.5, 0.5, 0.4)]) == 7  # every cell covered
    assert (plain_grid(idx, lay) == 3).all()


def test_paint_batch_paints_only_layout_scenes_without_text() -> None:
    idx = torch.arange(3 * 16).view(3, 4, 4) % 5
    lay = [LayoutItem.quantize("heart", 0.5, 0.5, 0.2)]
    out, painted = paint_batch(idx, [lay, lay, None], [False, True, False], 1.0, random.Random(0))
    assert painted == [True, False, False]
    assert len(out[0].unique()) == 1 and torch.equal(out[1:], idx[1:])
    _, none = paint_batch(idx, [lay, lay, lay], [False] * 3, 0.0, random.Random(0))
    assert none == [False] * 3
    with pytest.raises(ValueError, match="paint share must be in"):
        paint_batch(idx, [lay] * 3, [False] * 3, 1.5, random.Random(0))


def test_object_colours_read_each_object_off_the_preview() -> None:
    pv = torch.ones(4, 64, 64)  # white and opaque
    pv[:3, 10:30, 10:30] = torch.tensor([1.0, -1.0, -1.0]).view(3, 1, 1)  # a red patch top-left
    pv[:3, 40:60, 40:60] = torch.tensor([-1.0, -1.0, 1.0]).view(3, 1, 1)  # a blue one bottom-right
    red = LayoutItem.quantize("square", 20 / 64, 20 / 64, 0.15)
    blue = LayoutItem.quantize("circle", 50 / 64, 50 / 64, 0.15)
    lonely = LayoutItem.quantize("star", 0.8, 0.2, 0.1)  # planned where the codes drew nothing
    bg = background_rgb(pv, [red, blue, lonely])
    assert torch.allclose(bg, torch.ones(3))
    out = object_colours(pv, [red, blue, lonely], bg)
    assert out[0].rgb == (255, 0, 0) and out[1].rgb == (0, 0, 255)
    assert out[2].rgb is not None and out[0] == red  # no paint of its own: the image's paint; tokens unchanged
    blank = object_colours(torch.ones(4, 64, 64), [red], torch.ones(3))
    assert blank[0].rgb is None  # nothing drawn at all: the decoder is not told a colour


def test_first_free_cell_and_planned_colours() -> None:
    from limner.model.paint import first_free_cell, planned_colours

    corner = [LayoutItem.quantize("square", 0.1, 0.1, 0.13)]  # covers the top-left cells of a 16 x 16 grid
    assert first_free_cell(corner, 16, 16) > 0 and first_free_cell([], 16, 16) == 0
    assert first_free_cell([LayoutItem.quantize("square", 0.5, 0.5, 0.4)], 2, 2) == 0  # all covered
    # the first free cell keeps a cell's distance from every object (a cell beside one may carry its smear)
    box = [LayoutItem.quantize("square", 0.14, 0.12, 0.08)]  # columns 1-3 of rows 0-2: cell 0 touches it
    covered = cell_objects(box, 16, 16)[:, 0].view(16, 16) > 0
    first_uncovered = int((~covered).flatten().nonzero()[0])
    clear = [r * 16 + c for r in range(16) for c in range(16)
             if not covered[max(r - 1, 0) : r + 2, max(c - 1, 0) : c + 2].any()]
    assert first_free_cell(box, 16, 16) == clear[0] != first_uncovered
    assert not planned_colours(corner) and not planned_colours([]) and not planned_colours(None)
    assert planned_colours([LayoutItem.quantize("square", 0.1, 0.1, 0.13, rgb=(1, 2, 3))])


def test_common_background_code_ignores_a_missed_object_in_the_first_free_cell() -> None:
    idx = torch.full((4, 4), 7)
    idx[0, :2] = 3  # an object the layout does not know, where the first free cell is
    idx[2:, 2:] = 5  # the one it knows
    lay = [LayoutItem.quantize("square", 0.75, 0.75, 0.12)]
    assert background_code(idx, lay) == 3
    assert common_background_code(idx, lay) == 7
    assert plain_grid(idx, lay, common=True).unique().tolist() == [7]
    full = [LayoutItem.quantize("square", 0.5, 0.5, 0.5)]  # covers every cell: the commonest code of all
    idx[:] = 9
    idx[0, 0] = 1
    assert common_background_code(idx, full) == 9


def test_lay_onto_takes_a_white_canvas_layer_apart_exactly() -> None:
    from limner.model.layout import layout_map
    from limner.model.paint import lay_onto, on_white

    red = (200, 30, 40)
    lay = [LayoutItem.quantize("circle", 0.5, 0.5, 0.2, rgb=red)]
    lmap = layout_map([lay], (64, 64))[0]
    o = torch.tensor(red, dtype=torch.float32).view(3, 1, 1) / 127.5 - 1
    a = torch.zeros(1, 64, 64)
    a[:, 24:40, 24:40] = 1.0
    a[:, 23, 24:40] = 0.5  # an anti-aliased edge
    painted = torch.cat([a * o + (1 - a) * 1.0, torch.ones(1, 64, 64)])  # the object on white
    bg = torch.tensor([-0.2, -0.6, 0.4, 1.0]).view(4, 1, 1).expand(4, 64, 64)
    out = lay_onto(painted, lmap, bg)
    want = a * o + (1 - a) * bg[:3]
    assert torch.allclose(out[:3], want, atol=1e-5) and torch.equal(out[3], bg[3])
    assert on_white(bg[:, 0, 0], lay)
    assert not on_white(torch.tensor([1.0, 1.0, 1.0, 1.0]), lay)  # a white background needs no layering
    clear = torch.tensor([-1.0, -1.0, -1.0, -1.0]).view(4, 1, 1).expand(4, 64, 64)  # a transparent background
    assert on_white(clear[:, 0, 0], lay)
    assert on_white(torch.tensor([1.0, 0.5, 0.6, 1.0]), lay)  # so is a light (pink) one
    over = lay_onto(painted, lmap, clear)
    assert torch.allclose(over[3], 2 * a[0] - 1, atol=1e-5)  # opaque object, clear background, soft edge between
    assert torch.allclose(over[:3], a * o - (1 - a), atol=1e-5)
    assert not on_white(bg[:, 0, 0], [LayoutItem.quantize("circle", 0.5, 0.5, 0.2, rgb=(250, 250, 250))])
    assert not on_white(bg[:, 0, 0], [LayoutItem.quantize("circle", 0.5, 0.5, 0.2)])  # colour unknown


def test_lay_onto_takes_a_faint_inside_as_the_objects_full_colour() -> None:
    """A decoder that fills an object's inside at 0.96 coverage (a few levels short of its colour) still gives
    the planned colour inside; the anti-aliased edge keeps its share, scaled the same way; a second object's
    level is its own."""
    from limner.model.layout import layout_map
    from limner.model.paint import lay_onto

    red, blue = (220, 30, 40), (20, 40, 200)
    lay = [LayoutItem.quantize("square", 0.25, 0.5, 0.15, rgb=red), LayoutItem.quantize("square", 0.75, 0.5, 0.15,
                                                                                             rgb=blue)]
    lmap = layout_map([lay], (64, 64))[0]
    o = torch.ones(3, 64, 64)
    a = torch.zeros(1, 64, 64)
    for rgb, cols, level in ((red, slice(12, 20), 0.96), (blue, slice(44, 52), 1.0)):
        o[:, 28:36, cols] = torch.tensor(rgb, dtype=torch.float32).view(3, 1, 1) / 127.5 - 1
        a[:, 28:36, cols] = level
    o[:, 27, 12:20] = o[:, 28, 12:20]
    a[:, 27, 12:20] = 0.48  # the red square's soft top edge
    painted = torch.cat([a * o + (1 - a), torch.ones(1, 64, 64)])
    bg = torch.tensor([-0.2, -0.6, 0.4, 1.0]).view(4, 1, 1).expand(4, 64, 64)
    out = lay_onto(painted, lmap, bg)
    rgb = ((out[:3] + 1) * 127.5).round()
    assert rgb[:, 32, 16].tolist() == list(red) and rgb[:, 32, 48].tolist() == list(blue)
    edge = 0.5 * o[:, 27, 16] + 0.5 * bg[:3, 0, 0]  # 0.48 / 0.96
    assert torch.allclose(out[:3, 27, 16], edge, atol=1e-4)


def test_fit_canvas_pulls_an_object_half_off_the_canvas_back_in() -> None:
    from limner.model.paint import EDGE, fit_canvas

    off = LayoutItem.quantize("star", 0.99, 0.02, 0.13, rgb=(1, 2, 3))
    inside = LayoutItem.quantize("heart", 0.5, 0.5, 0.1)
    moved, kept = fit_canvas([off, inside], (256, 256))
    assert kept == inside and moved.r == off.r and moved.rgb == off.rgb and moved.cls == off.cls
    (x, y), r = moved.center(), moved.radius_frac() * 256
    assert r + EDGE <= x * 256 <= 256 - r - EDGE and r + EDGE <= y * 256 <= 256 - r - EDGE
    wide = fit_canvas([off], (384, 256))[0]  # a wider canvas needs less of a move across
    assert wide.x >= moved.x


def test_separate_pushes_overlapping_objects_apart_and_keeps_their_order() -> None:
    import math

    from limner.model.paint import EDGE, SEPARATION, separate

    a = LayoutItem.quantize("star", 0.45, 0.5, 0.12, rgb=(1, 2, 3))
    b = LayoutItem.quantize("heart", 0.52, 0.52, 0.12)
    far = LayoutItem.quantize("ring", 0.1, 0.1, 0.06)
    out = separate([a, b, far], (256, 256))
    assert [it.cls for it in out] == [a.cls, b.cls, far.cls] and out[0].rgb == a.rgb and out[0].r == a.r
    (ax, ay), (bx, by) = out[0].center(), out[1].center()
    gap = math.dist((ax * 256, ay * 256), (bx * 256, by * 256)) - (out[0].radius_frac() + out[1].radius_frac()) * 256
    assert gap >= SEPARATION - 256 / 32  # up to one centre bin lost to quantisation
    assert ax < bx  # the star stays left of the heart
    assert out[2] == far  # an object clear of the others does not move
    for it in out:
        x, r = it.center()[0] * 256, it.radius_frac() * 256
        assert r + EDGE - 8 <= x <= 256 - r - EDGE + 8


def test_text_grid_keeps_the_cells_around_the_ink_and_cleans_the_rest() -> None:
    from limner.model.paint import text_grid

    idx = torch.full((16, 16), 5)
    idx[0, 0] = 9  # a stray blob far from the text
    idx[7:9, 3:13] = 2  # the text's own codes
    idx[6, 2] = 3  # its panel's edge, one cell off the ink
    glyph = torch.zeros(1, 256, 256)
    glyph[:, 7 * 16 + 4 : 9 * 16 - 4, 3 * 16 + 2 : 13 * 16 - 2] = 1.0  # ink in rows 7-8, cols 3-12
    out = text_grid(idx, glyph)
    assert out[0, 0] == 5 and out[6, 2] == 3 and torch.equal(out[7:9, 3:13], idx[7:9, 3:13])
    assert text_grid(idx, glyph, background=4)[0, 0] == 4  # a planned background replaces the rest
    assert text_grid(idx, glyph, reach=0)[6, 2] == 5
    assert torch.equal(text_grid(idx, torch.ones(1, 256, 256)), idx)  # ink everywhere: nothing to clean


def test_separate_shrinks_objects_too_big_to_part_on_the_canvas() -> None:
    import math

    from limner.model.paint import SEPARATION, separate

    # A 1 x 2 grid's cells written 65 px in radius: 2 * (65 + 4) + 24 > 256, so no push can part them.
    a = LayoutItem.quantize("ring", 0.25, 0.5, 65 / 256, rgb=(0, 0, 255))
    b = LayoutItem.quantize("hexagon", 0.75, 0.5, 65 / 256)
    small = LayoutItem.quantize("star", 0.5, 0.1, 0.05)  # clear of both: keeps its size and place
    out = separate([a, b, small], (256, 256))
    assert out[0].r < a.r and out[1].r < b.r and out[0].rgb == a.rgb and out[0].cls == a.cls
    assert out[2] == small and out[2].r == small.r
    (ax, ay), (bx, by) = out[0].center(), out[1].center()
    gap = math.dist((ax * 256, ay * 256), (bx * 256, by * 256)) - (out[0].radius_frac() + out[1].radius_frac()) * 256
    assert gap >= SEPARATION / 2 - 256 / 32  # parted, up to one centre bin lost to quantisation
    assert ax < bx  # still left and right
    # objects that can be parted keep their size
    c = LayoutItem.quantize("ring", 0.4, 0.5, 0.1)
    d = LayoutItem.quantize("heart", 0.45, 0.5, 0.1)
    assert [it.r for it in separate([c, d], (256, 256))] == [c.r, d.r]
