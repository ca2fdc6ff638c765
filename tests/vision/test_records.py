import json
import math
import random

import pytest

from limner.data.sampler import sample
from limner.data.scene import render
from limner.data.world import TAGS, color_rgb
from limner.vision.records import RecordError, load_records, record_to_scene, validate_record


@pytest.mark.parametrize("tag", TAGS)
def test_round_trip_every_tag(tag):
    """record -> scene holds exactly what the record asks for, for sampler records of every tag."""
    rng = random.Random(11)
    for _ in range(6):
        rec = sample(tag, rng).record
        scene = record_to_scene(rec, seed=3)
        bg = rec.get("background", "white")
        if bg == "transparent":
            assert scene.background == "transparent"
        else:
            assert color_rgb(scene.background) == color_rgb(bg)
        im = render(scene)
        assert im.size == (256, 256) and im.mode == "RGBA"
        if tag == "text":
            assert "\n".join(scene.text.lines) == rec["text"]
            continue
        if tag == "dense_grid":
            g = rec["grid"]
            assert [(o.cls, o.color) for o in scene.objects] == [(c["class"], c["color"]) for c in g["cells"]]
            continue
        want = sorted((e["class"], e.get("color") or e.get("hex") or "*")
                      for e in rec["include"] for _ in range(e["count"]))
        got = sorted((o.cls, o.color) for o in scene.objects)
        assert [c for c, _ in got] == [c for c, _ in want]
        for (_, wc), (_, gc) in zip(want, got, strict=True):
            if wc != "*":
                assert color_rgb(wc) == color_rgb(gc)
        # No overlaps.
        for i, a in enumerate(scene.objects):
            for b in scene.objects[i + 1:]:
                gap = math.dist((a.cx * 256, a.cy * 256), (b.cx * 256, b.cy * 256))
                assert gap > a.radius(256, 256) + b.radius(256, 256)


def test_position_relations_hold_in_layout():
    rec = {"tag": "position", "prompt": "p", "include": [
        {"class": "star", "count": 1}, {"class": "heart", "count": 1, "position": ["above", 0]},
        {"class": "circle", "count": 2, "position": ["left of", 0]}]}
    for seed in range(10):
        s = record_to_scene(rec, seed=seed)
        star, heart, c1, c2 = s.objects
        assert heart.cy < star.cy and abs(heart.cx - star.cx) < abs(heart.cy - star.cy)
        for c in (c1, c2):
            assert c.cx < star.cx and abs(c.cy - star.cy) < abs(c.cx - star.cx)


def test_layout_is_seeded():
    rec = sample("counting", random.Random(2)).record
    a, b = record_to_scene(rec, seed=1), record_to_scene(rec, seed=1)
    c = record_to_scene(rec, seed=2)
    assert [(o.cx, o.cy) for o in a.objects] == [(o.cx, o.cy) for o in b.objects]
    assert [(o.cx, o.cy) for o in a.objects] != [(o.cx, o.cy) for o in c.objects]


def test_transparent_background_and_multiline_text():
    s = record_to_scene({"tag": "text", "prompt": "x", "text": "OPEN\n7 DAYS", "background": "transparent"})
    assert s.text.lines == ["OPEN", "7 DAYS"]
    im = render(s)
    assert im.getpixel((0, 0))[3] == 0


@pytest.mark.parametrize(("bad", "field"), [
    ({"tag": "shapes", "prompt": "x"}, "tag"),
    ({"tag": "single_object", "prompt": " "}, "prompt"),
    ({"tag": "single_object", "prompt": "x", "include": [{"class": "oval", "count": 1}]}, "include[0].class"),
    ({"tag": "counting", "prompt": "x", "include": [{"class": "star", "count": 0}]}, "include[0].count"),
    ({"tag": "colors", "prompt": "x", "include": [{"class": "star", "count": 1, "color": "mauve"}]},
     "include[0].color"),
    ({"tag": "hex_color", "prompt": "x", "include": [{"class": "star", "count": 1, "hex": "#12345"}]},
     "include[0].hex"),
    ({"tag": "position", "prompt": "x", "include": [{"class": "star", "count": 1, "position": ["near", 0]}]},
     "include[0].position"),
    ({"tag": "position", "prompt": "x", "include": [{"class": "star", "count": 1, "position": ["above", 3]}]},
     "include[0].position"),
    ({"tag": "counting", "prompt": "x", "include": [{"class": "star", "count": 3}],
      "exclude": [{"class": "star", "count": 3}]}, "exclude[0]"),
    ({"tag": "text", "prompt": "x", "text": "A VERY LONG LINE OF TEXT"}, "text line 1"),
    ({"tag": "text", "prompt": "x", "text": "A\nB\nC\nD"}, "text"),
    ({"tag": "text", "prompt": "x", "text": "caf\u00e9"}, "text line 1"),
    ({"tag": "dense_grid", "prompt": "x", "grid": {"rows": 2, "cols": 2, "cells": [{"class": "star"}]}}, "grid.cells"),
    ({"tag": "dense_grid", "prompt": "x", "grid": {"rows": 5, "cols": 2, "cells": []}}, "grid.rows"),
    ({"tag": "single_object", "prompt": "x", "background": "plaid", "include": [{"class": "star", "count": 1}]},
     "background"),
    ({"tag": "single_object", "prompt": "x"}, "include"),
])
def test_validation_names_the_bad_field(bad, field):
    with pytest.raises(RecordError) as e:
        validate_record(bad)
    assert str(e.value).startswith(field), str(e.value)


def test_load_records_names_file_and_line(tmp_path):
    p = tmp_path / "p.jsonl"
    good = {"tag": "single_object", "prompt": "a star", "include": [{"class": "star", "count": 1}]}
    p.write_text(json.dumps(good) + "\n\n{not json\n")
    with pytest.raises(RecordError, match=r"p\.jsonl:3: malformed JSON"):
        load_records(p)
    p.write_text(json.dumps(good) + "\n" + json.dumps({**good, "tag": "nope"}) + "\n")
    with pytest.raises(RecordError, match=r"p\.jsonl:2: tag"):
        load_records(p)
    p.write_text(json.dumps(good) + "\n")
    assert load_records(p)[0]["include"] == [{"class": "star", "count": 1}]
    with pytest.raises(RecordError, match="cannot read"):
        load_records(tmp_path / "missing.jsonl")


def test_select_tags_keeps_order_and_names_missing_tags():
    from limner.vision.records import RecordError, select_tags

    recs = [{"tag": "text", "i": 0}, {"tag": "colors", "i": 1}, {"tag": "text", "i": 2}]
    assert [r["i"] for r in select_tags(recs, "text")] == [0, 2]
    assert [r["i"] for r in select_tags(recs, " colors , text ")] == [0, 1, 2]
    with pytest.raises(RecordError, match=r"\['hex_color'\].*colors, text"):
        select_tags(recs, "text,hex_color")
    with pytest.raises(RecordError, match="any tag"):
        select_tags(recs, ",")
