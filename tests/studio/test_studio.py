"""Studio: thinking mode, best-of-N with the verifier, instruction and mask edits (lossless outside)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from PIL import Image

from limner.data.scene import Scene, SceneObject, render
from limner.engine.generator import GenerateOptions, Generator
from limner.model.native import NativeModel
from limner.studio.edits import EditError
from limner.studio.llm_planner import LLMPlanner
from limner.studio.studio import Studio


def scene_image(*objs: SceneObject, bg: str = "white") -> Image.Image:
    return render(Scene(256, 256, bg, list(objs))).convert("RGB")


@dataclass
class FakeGenerator:
    """Returns fixed candidates (no model): best-of picks among them, planning decides the prompts."""

    candidates: list[Image.Image]

    def __post_init__(self) -> None:
        self.prompts: list[str] = []
        self.layouts: list[object] = []
        self.batches: list[int] = []  # opts.n of each call
        self.backdrops: list[str | None] = []
        self.drawn = 0

    def generate(self, prompt: str, opts: GenerateOptions, progress: object = None,
                 fixed: object = None, layout: object = None, backdrop: str | None = None,
                 layouts: list[object] | None = None) -> list[Image.Image]:
        self.prompts.append(prompt)
        self.layouts += layouts if layouts is not None else [layout]
        self.batches.append(opts.n)
        self.backdrops.append(backdrop)
        out = [self.candidates[(self.drawn + i) % len(self.candidates)] for i in range(opts.n)]
        self.drawn += opts.n
        return out

    def unknown_words(self, prompt: str) -> list[str]:
        return []


def test_best_of_keeps_the_candidate_the_verifier_prefers() -> None:
    wrong = scene_image(SceneObject("circle", "red", cx=0.3, cy=0.3))
    right = scene_image(SceneObject("star", "green", "large"))
    fake = FakeGenerator([wrong, right])
    d = Studio(fake).generate("a green star", GenerateOptions(seed=1), best_of=2)  # type: ignore[arg-type]
    assert d.images[0] is right and d.verdicts[0] is not None and d.verdicts[0].correct
    assert fake.prompts == ["a green star"]  # without thinking, the model reads the user's prompt


def test_thinking_revises_prompts_answers_several_and_falls_back() -> None:
    fake = FakeGenerator([scene_image()])
    warned: list[str] = []
    studio = Studio(fake, LLMPlanner("http://127.0.0.1:9/v1", timeout=1), warn=warned.append)  # type: ignore[arg-type]
    d = studio.generate("three variations of a star", GenerateOptions(seed=3), think=True)
    assert len(d.images) == 3 and all(p.startswith("a ") and "star" in p for p in d.revised_prompts)
    assert fake.prompts == d.revised_prompts and d.planner == "builtin"
    assert "unreachable" in d.notes[0] and "built-in planner" in d.notes[0] and warned
    studio.generate("a star on a #E0A4F6 background", GenerateOptions(seed=3), think=True)
    assert fake.backdrops[-1] == "#E0A4F6"  # the planned background is painted, not left to the prior
    studio.generate("a star on a transparent background", GenerateOptions(seed=3), think=True)
    assert fake.backdrops[-1] is None  # transparency is the prior's (and the matte's)


def test_thinking_draws_each_candidate_from_its_own_composition_of_the_plan() -> None:
    wrong = scene_image(SceneObject("circle", "red", cx=0.3, cy=0.3))
    right = scene_image(SceneObject("star", "green", cx=0.25, cy=0.5), SceneObject("heart", "red", cx=0.75, cy=0.5))
    fake = FakeGenerator([wrong, right])
    d = Studio(fake).generate("a green star left of a red heart", GenerateOptions(seed=4), think=True,  # type: ignore[arg-type]
                              best_of=2)
    assert d.images[0] is right  # candidates drawn as one batch, the verifier still picks
    assert fake.batches == [2] and len(fake.layouts) == 2 and all(lay is not None for lay in fake.layouts)
    for lay in fake.layouts:
        assert [it.name for it in lay] == ["star", "heart"]  # type: ignore[attr-defined]
        assert lay[0].center()[0] < lay[1].center()[0]  # type: ignore[index]
    assert fake.layouts[0] != fake.layouts[1]


def test_a_planned_picture_keeps_the_verifiers_best_of_think_best_of_by_default() -> None:
    from limner.pipeline import default_best_of
    from limner.studio.studio import THINK_BEST_OF

    wrong = scene_image(SceneObject("circle", "red", cx=0.3, cy=0.3))
    right = scene_image(SceneObject("star", "green", "large"))
    fake = FakeGenerator([wrong, wrong, wrong, right])
    d = Studio(fake).generate("a green star", GenerateOptions(seed=1), think=True)  # type: ignore[arg-type]
    assert THINK_BEST_OF == 4 and fake.batches == [4]  # one batch of four planned compositions
    assert d.images[0] is right and d.verdicts[0] is not None and d.verdicts[0].correct
    fake = FakeGenerator([wrong, right])
    d = Studio(fake).generate("a green star", GenerateOptions(seed=1))  # type: ignore[arg-type]
    assert fake.batches == [1] and d.images[0] is wrong and not any(d.verdicts)  # unplanned: drawn once, unchecked
    assert default_best_of("low") == 1 and default_best_of("auto") is None and default_best_of("high") is None


def test_instruction_edit_changes_only_the_target(tiny_model: NativeModel) -> None:
    base = scene_image(SceneObject("star", "red", cx=0.25, cy=0.25), SceneObject("ring", "blue", cx=0.75, cy=0.75))
    d = Studio(Generator(tiny_model)).edit(base, "make the star green", GenerateOptions(seed=2))
    region = d.regions[0]
    assert region[64, 64] and not region[192, 192] and region.mean() < 0.25
    a, b = np.asarray(d.images[0]), np.asarray(base)
    assert (a[~region] == b[~region]).all()
    assert "green star" in d.revised_prompts[0] and "blue ring" in d.revised_prompts[0]  # order is the plan's
    with pytest.raises(EditError, match="no heart"):
        Studio(Generator(tiny_model)).edit(base, "remove the heart", GenerateOptions(seed=2))


def test_an_edit_keeps_the_verifiers_best_of_edit_best_of_candidates_by_default(tiny_model: NativeModel) -> None:
    from limner.pipeline import default_edit_best_of
    from limner.studio.studio import EDIT_BEST_OF

    base = scene_image(SceneObject("star", "red", cx=0.25, cy=0.25), SceneObject("ring", "blue", cx=0.75, cy=0.75))
    studio = Studio(Generator(tiny_model))
    d = studio.edit(base, "make the star green", GenerateOptions(seed=2))
    assert EDIT_BEST_OF > 1 and d.verdicts[0] is not None  # the verifier chose among the candidates
    d = studio.edit(base, "make the star green", GenerateOptions(seed=2), best_of=1)
    assert d.verdicts[0] is None  # one candidate: nothing to choose
    assert default_edit_best_of("low") == 1 and default_edit_best_of("auto") is None  # None: EDIT_BEST_OF


def test_mask_edit_is_lossless_outside_and_transparency_is_binary(tiny_model: NativeModel) -> None:
    base = scene_image(SceneObject("heart", "pink"))
    mask = Image.new("RGBA", base.size, (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), (0, 0, 96, 96))
    d = Studio(Generator(tiny_model)).edit(base, "a blue star", GenerateOptions(seed=1), mask=mask)
    out, b = np.asarray(d.images[0]), np.asarray(base)
    inside = np.asarray(mask.getchannel("A")) == 0
    # The copy-back (inpaint.composite_exact) keeps whatever lies outside `regions[0]`, so what this test can
    # get wrong is the region itself: it must be the mask's transparent area exactly, not grown to the token
    # grid or to the object, and the model must have drawn something new inside it.
    assert d.regions[0].shape == inside.shape and (d.regions[0] == inside).all()
    assert (out[inside] != b[inside]).any()
    t = Studio(Generator(tiny_model)).generate("a heart", GenerateOptions(seed=1, background="transparent"),
                                               think=True)
    assert t.images[0].mode == "RGBA" and set(np.unique(np.asarray(t.images[0])[..., 3])) <= {0, 255}
    assert t.revised_prompts[0].endswith("on a transparent background")


def test_mask_layout_centres_the_one_new_object_in_the_mask() -> None:
    import numpy as np

    from limner.studio.plan import PlanObject, ScenePlan
    from limner.studio.reading import Observed
    from limner.studio.studio import mask_layout

    region = np.zeros((256, 256), dtype=bool)
    region[160:240, 150:230] = True
    kept = Observed(PlanObject("ring", "red"), (20, 20, 60, 60), (40.0, 40.0))
    inside = Observed(PlanObject("star", "blue"), (170, 170, 200, 200), (185.0, 185.0))
    lay = mask_layout(ScenePlan([PlanObject("heart", "green")]), region, [kept, inside])
    assert lay is not None and [it.name for it in lay] == ["ring", "heart"]  # what the mask replaces is gone
    cx, cy = lay[-1].center()
    assert abs(cx - 190 / 256) < 0.03 and abs(cy - 200 / 256) < 0.03 and lay[-1].radius_frac() < 40 / 256
    assert mask_layout(ScenePlan([PlanObject("heart", "green", count=2)]), region, []) is None


OUT_OF_WORLD = (
    ("a cat wearing a detective hat", "cat"), ("a giraffe eating leaves", "giraffe"),
    ("a bicycle leaning on a wall", "bicycle"), ("a teapot on a wooden table", "teapot"),
    ("an astronaut riding a horse", "astronaut"), ("a dog in a red sweater", "dog"),
    ("a pizza with olives", "pizza"), ("a lighthouse at dusk", "lighthouse"), ("a violin", "violin"),
    ("a robot dancing", "robot"), ("a penguin on the ice", "penguin"), ("a castle in the sky", "castle"),
    ("three blue cars", "cars"), ("a tree next to a house", "tree"),
    ("a portrait of an old sailor", "sailor"), ("a bowl of ramen", "ramen"),
    ("a green dragon above a red ring", "dragon"), ("two yellow bananas", "bananas"),
    ("a mountain lake at sunrise", "mountain"), ("a watercolour of a fox", "fox"),
)


def test_every_out_of_world_prompt_gets_a_notice_naming_its_words() -> None:
    """20 prompts naming things the shipped model has not learned: each gets the notice, naming the thing."""
    from limner.engine.generator import Generator, default_checkpoint
    from limner.model.native import NativeModel
    from limner.studio.studio import unknown_words_note

    gen = Generator(NativeModel.from_checkpoint(default_checkpoint()))
    for prompt, word in OUT_OF_WORLD:
        note = unknown_words_note(gen.unknown_words(prompt))
        assert len(note) == 1 and f"'{word}'" in note[0], (prompt, note)
    assert unknown_words_note(gen.unknown_words("three green triangles above a red ring")) == []
