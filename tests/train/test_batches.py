import math
import random

import numpy as np
import pytest

from limner.data.sampler import Example, on_colour, recoloured, sample
from limner.data.scene import Scene, SceneObject, render, to_array
from limner.data.world import color_rgb
from limner.train.batches import SceneBatcher


def test_recoloured_moves_a_white_scene_onto_a_colour_far_from_its_objects() -> None:
    rng = random.Random(0)
    scene = Scene(objects=[SceneObject("circle", "red"), SceneObject("star", "#20C040", cx=0.2, cy=0.2)])
    ex = Example(scene, "a red circle and a green star")
    for _ in range(20):
        out = recoloured(ex, rng)
        bg = out.scene.background
        assert on_colour(bg)
        assert all(math.dist(color_rgb(bg), color_rgb(o.color)) >= 110 for o in scene.objects)
        assert out.scene.objects == scene.objects and out.prompt == ex.prompt
        px = to_array(render(out.scene))[:3, 2, 2]  # a corner pixel: the new background, in [-1, 1]
        assert np.allclose((px + 1) * 127.5, color_rgb(bg), atol=1.5)
    assert scene.background == "white"  # the input example is untouched


def test_recoloured_leaves_coloured_and_transparent_scenes_alone() -> None:
    rng = random.Random(1)
    for bg in ("transparent", "#102030", "pink"):
        ex = Example(Scene(background=bg, objects=[SceneObject("circle", "red")]), "p")
        assert recoloured(ex, rng) is ex


def test_recoloured_keeps_text_readable() -> None:
    rng = random.Random(2)
    moved = 0
    for _ in range(200):
        ex = sample("text", rng)
        if ex.scene.background != "white" or ex.scene.text is None:
            continue
        out = recoloured(ex, rng)
        if out is ex:  # no colour far enough from every ink: the scene stays on white
            continue
        moved += 1
        inks = [ex.scene.text.color] + ([ex.scene.text.panel] if ex.scene.text.panel else [])
        assert all(math.dist(color_rgb(out.scene.background), color_rgb(c)) >= 110 for c in inks)
    assert moved >= 10, moved  # the check above ran on enough recoloured text scenes to mean something


def test_on_colour_names_neither_white_nor_transparent() -> None:
    assert [on_colour(bg) for bg in (None, "white", "transparent", "pink", "#102030")] == [False, False, False, True,
                                                                                             True]


def _on_colour(b: SceneBatcher) -> int:
    """How many of one batch of 256 x 256 examples have their scene on a coloured background."""
    return sum(on_colour(ex.scene.background) for ex in b.examples((256, 256)))


def test_batcher_recolour_share_and_range() -> None:
    plain = SceneBatcher(64, 0, mix={"single_object": 1.0})
    moved = SceneBatcher(64, 0, mix={"single_object": 1.0}, recolour=1.0)
    assert _on_colour(moved) > _on_colour(plain) + 20
    with pytest.raises(ValueError, match="recolour must be in"):
        SceneBatcher(4, 0, recolour=1.5)


def test_batcher_coloured_share_draws_scenes_whose_caption_names_their_background() -> None:
    plain = SceneBatcher(200, 0)
    leaning = SceneBatcher(200, 0, coloured=0.5)
    assert _on_colour(plain) < 0.3 * 200  # the data engine's own share is ~16%
    assert _on_colour(leaning) > 0.5 * 200  # half drawn from coloured scenes, plus the engine's own share of the rest
    every = SceneBatcher(40, 1, mix={"single_object": 1.0}, coloured=1.0)
    for ex in every.examples((256, 256)):
        # unlike recolour, the scene was drawn that way: its caption names the background
        assert ex.record.get("background") == ex.scene.background != "white"
    with pytest.raises(ValueError, match="coloured must be in"):
        SceneBatcher(4, 0, coloured=-0.1)
