import io
import math
import random

import pytest
from PIL import Image, ImageFilter

from limner.data.scene import Scene, SceneObject, render
from limner.data.world import COLORS, OBJECTS, color_rgb
from limner.vision.detect import detect, segment
from limner.vision.records import record_to_scene
from limner.vision.score import relations


def _decoderish(im: Image.Image) -> Image.Image:
    """Roughly what a learned decoder at half resolution produces: softer, blurrier, compressed."""
    im = im.convert("RGB").resize((128, 128), Image.Resampling.BILINEAR).resize((256, 256), Image.Resampling.BICUBIC)
    im = im.filter(ImageFilter.GaussianBlur(0.8))
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=60)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


def _grid_of_all_classes(bg: str) -> tuple[Scene, list[str]]:
    objs = []
    # The world only draws colours that contrast with the background (sRGB distance >= 110).
    far = [c for c in COLORS if bg == "transparent" or math.dist(COLORS[c], color_rgb(bg)) >= 110]
    cols = [c for c in ["red", "blue", "green", "purple", "orange", "black", "pink", "brown", "yellow", "cyan"]
            if c in far][:8]
    for i, cls in enumerate(OBJECTS):
        r, c = divmod(i, 4)
        objs.append(SceneObject(cls, cols[i % len(cols)], cx=(c + 0.5) / 4, cy=(r + 0.5) / 4, radius_frac=0.09))
    return Scene(256, 256, bg, objs), [o.color for o in objs]


@pytest.mark.parametrize("bg", ["white", "#203040", "transparent"])
def test_every_class_and_colour_on_exact_render(bg):
    scene, colors = _grid_of_all_classes(bg)
    dets = detect(render(scene))
    assert len(dets) == 16
    by_cell = {int(d.centroid[1] // 64) * 4 + int(d.centroid[0] // 64): d for d in dets}
    assert [by_cell[i].cls for i in range(16)] == list(OBJECTS)
    assert [by_cell[i].color for i in range(16)] == colors


def test_classes_survive_decoder_like_degradation():
    scene, _ = _grid_of_all_classes("white")
    dets = detect(_decoderish(render(scene)))
    by_cell = {int(d.centroid[1] // 64) * 4 + int(d.centroid[0] // 64): d.cls for d in dets}
    correct = sum(by_cell.get(i) == cls for i, cls in enumerate(OBJECTS))
    assert correct >= 14, by_cell


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 6])
def test_counts_on_renders(n):
    rec = {"tag": "counting", "prompt": "x", "include": [{"class": "star", "count": n, "color": "green"}]}
    for seed in range(3):
        im = render(record_to_scene(rec, seed=seed))
        for img in (im, _decoderish(im)):
            dets = detect(img)
            assert sum(d.cls == "star" and d.color == "green" for d in dets) == n


def test_positions_on_renders():
    rng = random.Random(0)
    for rel in ("left of", "right of", "above", "below"):
        a, b = rng.sample(OBJECTS, 2)
        rec = {"tag": "position", "prompt": "x", "include": [
            {"class": b, "count": 1}, {"class": a, "count": 1, "position": [rel, 0]}]}
        dets = detect(render(record_to_scene(rec, seed=1)))
        da = next(d for d in dets if d.cls == a)
        db = next(d for d in dets if d.cls == b)
        assert rel in relations(da, db)
        opposite = {"left of": "right of", "right of": "left of", "above": "below", "below": "above"}[rel]
        assert opposite not in relations(da, db)
        assert opposite in relations(db, da)


def test_touching_objects_of_two_colours_are_split_and_specks_ignored():
    objs = [SceneObject("square", "red", cx=0.40, cy=0.5, radius_frac=0.13),
            SceneObject("square", "blue", cx=0.40 + 0.2132, cy=0.5, radius_frac=0.13)]  # edges touch
    im = render(Scene(256, 256, "white", objs))
    im.paste((0, 0, 0, 255), (10, 10, 12, 12))  # a 2x2 speck
    comps = segment(im)
    assert len(comps) == 2
    assert sorted(round(c.rgb[0]) for c in comps) == [30, 220]


def test_empty_image_has_no_detections():
    assert detect(render(Scene(256, 256, "white"))) == []
    assert detect(render(Scene(256, 256, "transparent"))) == []
