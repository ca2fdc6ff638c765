"""Layout tokens: quantisation, the token grammar and the decoder's layout map."""

import random

import pytest
import torch

from limner.data.scene import Scene, SceneObject
from limner.data.world import OBJECTS
from limner.model.layout import (
    BASE_MAP_CHANNELS,
    END,
    LAYOUT_VOCAB,
    MAP_CHANNELS,
    MASK_CHANNEL,
    MAX_LAYOUT_TOKENS,
    XY_BINS,
    LayoutItem,
    allowed,
    decode_layout,
    encode_layout,
    layout_map,
    scene_layout,
)


def test_quantize_keeps_centre_and_radius_within_a_bin() -> None:
    for cx, cy, rf in ((0.22, 0.78, 0.085), (0.5, 0.5, 0.13), (0.97, 0.03, 0.36)):
        it = LayoutItem.quantize("star", cx, cy, rf)
        x, y = it.center()
        assert abs(x - cx) <= 0.5 / XY_BINS and abs(y - cy) <= 0.5 / XY_BINS
        assert abs(it.radius_frac() / rf - 1) < 0.09  # log bins of ~17%: within half a bin
    with pytest.raises(ValueError, match="unknown object class 'blob'"):
        LayoutItem.quantize("blob", 0.5, 0.5, 0.1)


def test_tokens_round_trip_and_follow_the_grammar() -> None:
    rng = random.Random(0)
    lay = [LayoutItem(rng.randrange(len(OBJECTS)), rng.randrange(32), rng.randrange(32), rng.randrange(16))
           for _ in range(5)]
    ids = encode_layout(lay)
    assert ids[-1] == END and len(ids) == 21 and decode_layout(ids) == lay
    for step, t in enumerate(ids):
        lo, hi = allowed(step)
        assert lo <= t < hi <= LAYOUT_VOCAB
    assert allowed(MAX_LAYOUT_TOKENS - 1) == (END, END + 1)  # the 17th object is never allowed
    with pytest.raises(ValueError, match="bad layout object tokens"):
        decode_layout([ids[1], ids[0], ids[2], ids[3]])


def test_scene_layout_lists_objects_in_drawing_order() -> None:
    scene = Scene(384, 256, objects=[SceneObject("ring", "red", "large", 0.2, 0.5), SceneObject("cloud", "blue",
                                                                                              cx=0.8, cy=0.3)])
    lay = scene_layout(scene)
    assert [it.name for it in lay] == ["ring", "cloud"]
    assert lay[0].x == int(0.2 * XY_BINS) and abs(lay[0].radius_frac() - 0.2) < 0.02


def test_layout_map_paints_each_box_and_later_objects_cover_earlier() -> None:
    a = LayoutItem.quantize("circle", 0.3, 0.5, 0.2)
    b = LayoutItem.quantize("square", 0.45, 0.5, 0.1)
    m = layout_map([[a, b], None], (256, 256))
    assert m.shape == (2, MAP_CHANNELS, 256, 256) and m[1].abs().sum() == 0
    mask = m[0, MASK_CHANNEL]
    assert mask[128, 77] == 1 and mask[10, 10] == 0  # inside a's box, far outside both
    assert m[0, BASE_MAP_CHANNELS:].abs().sum() == 0  # no colours given: no colour channels, flag off
    cls = m[0, : len(OBJECTS)]
    assert cls[OBJECTS.index("square"), 128, 115] == 1 and cls[OBJECTS.index("circle"), 128, 115] == 0  # b on top
    assert (cls.sum(0) == mask).all()  # one class per painted pixel
    dx = m[0, len(OBJECTS)]
    cx = a.center()[0] * 256
    assert dx[128, 40] < 0 < dx[128, 81] and torch.isclose(dx[128, int(cx)], torch.tensor(0.0), atol=0.05)


def test_layout_map_carries_known_colours_and_scene_layouts_know_theirs() -> None:
    a = LayoutItem.quantize("circle", 0.3, 0.5, 0.2, rgb=(255, 0, 0))
    b = LayoutItem.quantize("square", 0.7, 0.5, 0.1)
    assert a == LayoutItem.quantize("circle", 0.3, 0.5, 0.2)  # colour is not part of the tokens or equality
    m = layout_map([[a, b]], (256, 256))[0]
    rgb, flag = m[BASE_MAP_CHANNELS : BASE_MAP_CHANNELS + 3], m[BASE_MAP_CHANNELS + 3]
    assert torch.allclose(rgb[:, 128, 77], torch.tensor([1.0, -1.0, -1.0])) and flag[128, 77] == 1
    assert flag[128, 179] == 0 and rgb[:, 128, 179].abs().sum() == 0  # b's colour is unknown
    scene = Scene(256, 256, objects=[SceneObject("ring", "#1E90FF", "large", 0.2, 0.5)])
    assert scene_layout(scene)[0].rgb == (0x1E, 0x90, 0xFF)


def test_colour_layouts_add_three_levels_an_object() -> None:
    from limner.model.layout import (
        C0,
        COLOUR_LEVELS,
        allowed,
        layout_vocab,
        level_rgb,
        max_layout_tokens,
        prior_vocab_size,
    )

    lay = [LayoutItem.quantize("star", 0.3, 0.3, 0.2, rgb=(0x1E, 0x90, 0xFF)),
           LayoutItem.quantize("ring", 0.7, 0.6, 0.15)]  # colour unknown: written as mid-grey
    ids = encode_layout(lay, colour=True)
    assert len(ids) == 2 * 7 + 1 and ids[:4] == encode_layout(lay)[:4]
    back = decode_layout(ids, colour=True)
    assert back == lay and back[1].rgb == level_rgb((8, 8, 8))
    assert all(abs(a - b) <= 9 for a, b in zip(back[0].rgb or (), (0x1E, 0x90, 0xFF), strict=True))
    assert decode_layout(ids[:4] + [END])[0].rgb is None  # a colourless layout has no colours
    # the grammar: cls x y r R G B, and colour levels only in the colour slots
    assert [allowed(s, True) for s in range(4, 7)] == [(C0, C0 + COLOUR_LEVELS)] * 3
    assert allowed(7, True)[0] == END and allowed(4, False)[0] == END
    assert max_layout_tokens(True) == 16 * 7 + 1 and layout_vocab(True) == LAYOUT_VOCAB + COLOUR_LEVELS
    assert prior_vocab_size(10, 20, True, True) - prior_vocab_size(10, 20, True) == COLOUR_LEVELS
    with pytest.raises(ValueError, match="bad layout object tokens"):
        decode_layout(ids[:3] + [ids[4]] + ids[4:7], colour=True)
