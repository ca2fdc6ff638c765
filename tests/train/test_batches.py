import math
import random

import numpy as np
import pytest

from limner.data.sampler import Example, recoloured, sample
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
        assert bg not in ("white", "transparent")
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


def test_batcher_recolour_share_and_range() -> None:
    def coloured(b: SceneBatcher) -> int:
        return sum(ex.scene.background not in ("white", "transparent") for ex in b.examples((256, 256)))

    plain = SceneBatcher(64, 0, mix={"single_object": 1.0})
    moved = SceneBatcher(64, 0, mix={"single_object": 1.0}, recolour=1.0)
    assert coloured(moved) > coloured(plain) + 20
    with pytest.raises(ValueError, match="recolour must be in"):
        SceneBatcher(4, 0, recolour=1.5)
