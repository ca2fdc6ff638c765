import random

import numpy as np
import pytest

from limner.data.sampler import SAMPLERS, sample
from limner.data.scene import Scene, SceneObject, SceneText, glyph_image, layout_text, render, to_array
from limner.data.shapes import shape_mask
from limner.data.world import OBJECTS, color_rgb
from limner.limits import parse_size


@pytest.mark.parametrize("name", OBJECTS)
def test_every_shape_has_ink_inside_its_box(name: str) -> None:
    m = np.asarray(shape_mask(name, 30.0))
    assert m.shape == (62, 62)
    frac = (m > 127).mean()
    assert 0.05 < frac < 0.9, f"{name} covers {frac:.2f} of its box"


def test_shapes_are_distinct() -> None:
    masks = {n: np.asarray(shape_mask(n, 30.0)) > 127 for n in OBJECTS}
    for a in OBJECTS:
        for b in OBJECTS:
            if a < b:
                assert (masks[a] != masks[b]).mean() > 0.03, (a, b)


def test_render_colours_and_transparent_background() -> None:
    sc = Scene(256, 256, "transparent", [SceneObject("square", "#1E90FF", "large", 0.5, 0.5)])
    a = np.asarray(render(sc))
    assert a[0, 0, 3] == 0
    assert tuple(a[128, 128]) == (0x1E, 0x90, 0xFF, 255)
    sc.background = "red"
    assert tuple(np.asarray(render(sc))[0, 0]) == (*color_rgb("red"), 255)


def test_text_layout_is_deterministic_and_fits() -> None:
    lay1 = layout_text(("OPEN 7 DAYS", "HELLO"), "top", 256, 256)
    lay2 = layout_text(("OPEN 7 DAYS", "HELLO"), "top", 256, 256)
    assert lay1 == lay2
    x0, y0, x1, y1 = lay1.box
    assert 0 <= x0 < x1 <= 256 and 0 <= y0 < y1 < 128
    g = np.asarray(glyph_image(SceneText(["ABCDEFGHIJKLMNOP"]), 256, 256))
    cols = np.where(g.max(0) > 0)[0]
    assert cols.min() > 0 and cols.max() < 255
    with pytest.raises(ValueError, match="sideways"):
        layout_text(("A",), "sideways", 256, 256)


@pytest.mark.parametrize("tag", sorted(SAMPLERS))
def test_samplers_make_renderable_examples(tag: str) -> None:
    rng = random.Random(7)
    for _ in range(5):
        ex = sample(tag, rng)
        assert ex.prompt.strip()
        a = to_array(render(ex.scene))
        assert a.shape == (4, ex.scene.height, ex.scene.width)
        assert -1.0 <= a.min() and a.max() <= 1.0
        if tag != "multi":
            assert ex.record["tag"] == tag and ex.record["prompt"] == ex.prompt


def test_samplers_are_reproducible_from_a_seed() -> None:
    a = [sample("dense_grid", random.Random(3)).prompt for _ in range(2)]
    assert a[0] == a[1]


def test_bad_values_are_named() -> None:
    with pytest.raises(ValueError, match="'mauve'"):
        color_rgb("mauve")
    with pytest.raises(ValueError, match="'100x100'"):
        parse_size("100x100")
    with pytest.raises(ValueError, match="'blob'"):
        shape_mask("blob", 10)
