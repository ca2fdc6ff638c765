"""Pipeline: edits, conversations and references through the one path the CLI and the server use,
and every 'Bad input' case of the conversation issue as a named InvalidRequest."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from limner.data.scene import Scene, SceneObject, render
from limner.engine.generator import Generator
from limner.errors import InvalidRequest
from limner.model.native import NativeModel
from limner.pipeline import Pipeline


@pytest.fixture(scope="module")
def pipe(tiny_model: NativeModel) -> Pipeline:
    from limner.provenance.stage import ProvenanceStage

    return Pipeline(Generator(tiny_model), None, ProvenanceStage())


def star() -> Image.Image:
    return render(Scene(256, 256, "white", [SceneObject("star", "red", cx=0.3, cy=0.3)])).convert("RGB")


def test_edit_instruction_without_an_image_is_refused(pipe: Pipeline) -> None:
    with pytest.raises(InvalidRequest, match="no image in context"):
        pipe.edit(None, "make the star green")
    with pytest.raises(InvalidRequest, match="edit instruction but there is no image in context"):
        pipe("make the star green")
    with pytest.raises(InvalidRequest, match="no image in context yet"):
        pipe.chat().send("remove the ring")


def test_bad_masks_are_named(pipe: Pipeline) -> None:
    with pytest.raises(InvalidRequest, match="mask is 100x100 but the image is 256x256"):
        pipe.edit(star(), "a blue ring", mask=Image.new("RGBA", (100, 100)))
    with pytest.raises(InvalidRequest, match="no alpha channel"):
        pipe.edit(star(), "a blue ring", mask=Image.new("RGB", (256, 256)))


def test_unreadable_reference_is_named(pipe: Pipeline, tmp_path: Path) -> None:
    bad = tmp_path / "ref.png"
    bad.write_bytes(b"not an image")
    with pytest.raises(InvalidRequest, match="reference image 1 .*ref.png.* is not in an image format limner reads"):
        pipe("draw the object in this image, but green", references=[bad])
    with pytest.raises(InvalidRequest, match="no world object found"):
        pipe("draw the object in this image, but green", references=[Image.new("RGB", (256, 256), "white")])
    with pytest.raises(InvalidRequest, match="best_of must be between 1 and 8, got 9"):
        pipe("a star", best_of=9)
    with pytest.raises(InvalidRequest, match="best_of must be between 1 and 8, got 0"):
        pipe.edit(Image.new("RGB", (256, 256), "white"), "make the star green", best_of=0)


def test_conversation_keeps_the_image_in_context(pipe: Pipeline) -> None:
    conv = pipe.chat(seed=4, quality="low")
    r = conv.send("a red star", images=None)
    assert r.planner == "builtin" and r.revised_prompt.startswith("a red star") and conv.plan is not None
    before = np.asarray(conv.image)
    r2 = conv.send("make the star blue")
    assert conv.turns[-1].kind == "edit" and r2.revised_prompt.startswith("a blue star")
    assert [k for k, _ in conv.context()] == ["text", "image", "text", "image"]
    assert conv.image is not None and conv.image.size == Image.fromarray(before).size
    assert r2.planner == "reader" and "learned reader" in r2.notes[0]


def test_a_conversation_in_ordinary_words_with_two_ops_undo_and_chat(pipe: Pipeline) -> None:
    conv = pipe.chat(seed=5, quality="low")
    r1 = conv.send("a red star on the left and a blue ring on the right")
    r2 = conv.send("could you make the star green and move it to the top left?")
    star = next(o for o in r2.plans[0].objects if o.cls == "star")
    assert (star.color, star.position) == ("green", "top left")
    back = conv.send("hmm, go back to the previous one")
    assert back is r1 and conv.turns[-1].kind == "undo" and conv.plan is r1.plans[0]
    r3 = conv.send("now lose the ring")
    assert [o.cls for o in r3.plans[0].objects] == ["star"] and r3.plans[0].objects[0].color == "red"
    with pytest.raises(InvalidRequest, match="does not ask for a picture"):
        conv.send("thanks, that's all!")
    assert len(conv.turns) == 4  # the chat turn changed nothing


def test_every_image_names_its_pixel_path_in_the_result_and_the_c2pa_assertion(pipe: Pipeline) -> None:
    """The default is the model alone ('native'); paint mode is opt-in and says so in the signed manifest."""
    from limner.engine.decode import SamplingParams
    from limner.provenance.verify import Verifier

    native = pipe("a red star", seed=0, size="256x256")
    assert native.pixel_path == "native"
    painted = pipe("a red star", seed=0, size="256x256", sampling=SamplingParams(paint=True))
    assert painted.pixel_path == "paint"
    for res, want in ((native, "native"), (painted, "paint")):
        d = Verifier().verify(res.images[0].data).to_dict()
        assert d["c2pa"]["generation"]["pixel_path"] == want


def test_words_outside_the_models_world_are_named_never_silently_dropped(pipe: Pipeline) -> None:
    res = pipe("a cat wearing a detective hat", seed=0, size="256x256")
    notice = [n for n in res.notes if "outside what the model has learned" in n]
    assert len(notice) == 1 and all(f"'{w}'" in notice[0] for w in ("cat", "wearing", "detective", "hat"))
    assert not any("outside what the model" in n for n in pipe("a red star", seed=0, size="256x256").notes)


def test_a_given_request_id_names_the_result_and_its_manifest(pipe: Pipeline) -> None:
    from limner.provenance.verify import verify

    r = pipe("a red star", seed=1, request_id="img_" + "ab" * 12)
    assert r.request_id == "img_" + "ab" * 12
    assert verify(r.images[0].data).c2pa.generation["request_id"] == r.request_id
    assert pipe("a red star", seed=1).request_id != r.request_id  # otherwise a fresh one


def test_any_size_within_the_limits_is_drawn_at_its_aspect_and_resized(pipe: Pipeline) -> None:
    r = pipe("a red star", seed=1, size="1024x1536")
    assert r.size == (1024, 1536) and r.images[0].image.size == (1024, 1536)
    assert r.native_size == (256, 384) and any("drawn at 256x384" in n and "1024x1536" in n for n in r.notes)
    assert pipe("a red star", seed=1, size="384x256").native_size is None  # a native size is not resized
    with pytest.raises(InvalidRequest, match="unsupported size '9000x9000'"):
        pipe("a red star", size="9000x9000")

