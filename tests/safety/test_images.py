"""Image layers with the real models: hashes (PDQ), nudenet, the photorealistic-person classifier, faces."""

from __future__ import annotations

import io
import random
from pathlib import Path

import matplotlib.cbook as cb
import numpy as np
import pytest
import skimage.data
from PIL import Image

from limner.errors import ImageInputError
from limner.safety.hashes import HashList, HashListError, pdq_bits, to_hex
from limner.safety.image_io import load_image
from limner.safety.person import classify_person, photo_score
from limner.safety.stack import SafetySettings, SafetyStack


def _world(seed: int) -> Image.Image:
    from limner.data.sampler import sample_mix
    from limner.data.scene import render

    return render(sample_mix(random.Random(seed)).scene).convert("RGB")


def _jpeg(im: Image.Image, q: int = 60) -> Image.Image:
    buf = io.BytesIO()
    im.resize((im.width * 9 // 10, im.height * 9 // 10)).save(buf, "JPEG", quality=q)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


@pytest.fixture(scope="module")
def hopper() -> Image.Image:
    with cb.get_sample_data("grace_hopper.jpg") as f:
        return Image.open(f).convert("RGB")


def test_bad_image_input_is_refused_cleanly(tmp_path: Path) -> None:
    good = tmp_path / "g.png"
    _world(1).save(good)
    assert load_image(good).mode == "RGB"
    trunc = tmp_path / "t.png"
    trunc.write_bytes(good.read_bytes()[:200])
    with pytest.raises(ImageInputError, match="not a readable image"):
        load_image(trunc)
    (tmp_path / "x.png").write_bytes(b"not an image at all")
    with pytest.raises(ImageInputError, match="not a readable image"):
        load_image(tmp_path / "x.png")
    bomb = tmp_path / "bomb.png"
    Image.new("1", (9000, 9000)).save(bomb)  # tiny file, 81 Mpixel
    with pytest.raises(ImageInputError, match="decompression bomb"):
        load_image(bomb)
    with pytest.raises(ImageInputError, match="cannot read"):
        load_image(tmp_path / "missing.png")


def test_hash_list_matches_reencoded_copies_only(tmp_path: Path) -> None:
    # PDQ is built for photographs (a flat-shapes render hashes with low quality), so the list holds a photo.
    bad = Image.fromarray(skimage.data.astronaut())
    lst = tmp_path / "hashes.txt"
    lst.write_text(f"# synthetic list\npdq:{to_hex(pdq_bits(bad)[0])} known-bad-1\n")
    hl = HashList.load(lst)
    assert hl.match(_jpeg(bad))[0] == "known-bad-1"
    assert hl.match(Image.fromarray(skimage.data.coffee()))[0] is None
    assert hl.match(_world(6))[0] is None
    lst.write_text("pdq:zz12\n")
    with pytest.raises(HashListError, match=r"hashes.txt:1: bad pdq hash"):
        HashList.load(lst)


def test_photo_vs_illustration() -> None:
    assert photo_score(Image.fromarray(skimage.data.astronaut())) > 0.8
    assert photo_score(_world(2)) < 0.2


def test_person_classifier(hopper: Image.Image) -> None:
    r = classify_person(Image.fromarray(skimage.data.astronaut()))
    assert r.label == "adult" and r.faces and all(f.age >= 22 for f in r.faces)
    assert classify_person(Image.fromarray(skimage.data.coffee())).label == "none"
    assert classify_person(_world(3)).label == "none"
    # The err-toward-child threshold: the same face counts as a child when the cut-off is above its age.
    age = classify_person(hopper).min_age
    assert classify_person(hopper, child_below_age=age + 1).label == "child"


def test_image_stack_input_output(tmp_path: Path, hopper: Image.Image) -> None:
    bad = _world(9)
    lst = tmp_path / "h.txt"
    lst.write_text(f"pdq:{to_hex(pdq_bits(bad)[0])} synthetic-csam-test\n")
    s = SafetyStack.from_policy(
        settings=SafetySettings(audit_path=tmp_path / "a.sqlite", optout_path=tmp_path / "o.sqlite", hash_list=lst)
    )
    ok = s.check_images([_world(4)], stage="output", prompt="a red circle")
    assert ok.allowed, ok.to_dict()
    layers = [v.layer for v in ok.verdicts]
    assert {"image.hashes", "image.nudity", "image.person", "image.monitor"} <= set(layers)
    hit = s.check_images([_jpeg(bad)], stage="output", prompt="a blue square")
    assert not hit.allowed and hit.categories == ["child_safety"]
    gore = s.check_images([hopper], stage="output", prompt="an old woman covered in blood")
    assert not gore.allowed and gore.blocking[0].layer == "image.monitor"
    # Opt-out by face: a different photo of no one registered passes, the registered face is refused.
    s.optout.add("grace hopper", photos=[hopper])
    mirrored = Image.fromarray(np.asarray(hopper)[:, ::-1].copy())
    d = s.check_images([mirrored], stage="input", prompt="make the background blue")
    assert not d.allowed and d.categories == ["public_figures"]
    assert s.check_images(
        [Image.fromarray(skimage.data.astronaut())], stage="input", prompt="make the sky pink"
    ).allowed
    huge = Image.new("RGB", (13000, 10))
    assert not s.check_images([huge], stage="input").allowed
    s.close()


def test_face_optout_without_the_person_layer_still_refuses(tmp_path: Path, hopper: Image.Image) -> None:
    # A policy that turns image.person off leaves no `person` signal: the opt-out layer must look for faces
    # itself rather than let a registered face through.
    from limner.safety.image_layers import OptOutFaceLayer
    from limner.safety.layers import Request
    from limner.safety.optout import OptOutRegistry

    reg = OptOutRegistry(tmp_path / "o.sqlite")
    reg.add("grace hopper", photos=[hopper])
    layer = OptOutFaceLayer(reg)
    mirrored = Image.fromarray(np.asarray(hopper)[:, ::-1].copy())
    req = Request("edit this", "edit this", "input", None, False, False, None, images=[mirrored])
    v = layer.check(req)
    assert not v.allowed and v.category == "public_figures" and "grace hopper" in v.reason
    reg.close()
