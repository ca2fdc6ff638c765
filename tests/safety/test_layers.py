"""Bad input to the layers: a missing optional model, an enormous image and an empty registry fail closed."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from limner.safety.image_layers import OptOutFaceLayer
from limner.safety.layers import OptOutNameLayer, Request
from limner.safety.optout import OptOutRegistry
from limner.safety.policy import load_policy
from limner.safety.stack import SafetySettings, SafetyStack


def _stack(tmp_path: Path) -> SafetyStack:
    # Rules only on the prompt side: these tests are about the image layers and need no embedder.
    return SafetyStack.from_policy(
        settings=SafetySettings(record=False, optout_path=tmp_path / "o.sqlite", classifier=False)
    )


def test_missing_nudity_model_refuses_with_a_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # `None` in sys.modules makes `import nudenet` raise ImportError: the package is not installed.
    monkeypatch.setitem(sys.modules, "nudenet", None)
    s = _stack(tmp_path)
    d = s.check_images([Image.new("RGB", (64, 64), "white")], stage="output", prompt="a white square")
    assert not d.allowed and d.categories == ["system"]
    v = d.blocking[0]
    assert v.layer == "image.nudity" and "nudity model is not installed (nudenet)" in v.reason
    # The stack keeps serving: prompt checks still run and allow.
    assert s.check_prompt("a red circle").allowed
    s.close()


def test_decoded_image_over_the_pixel_budget_is_refused(tmp_path: Path) -> None:
    s = _stack(tmp_path)
    d = s.check_images([Image.new("1", (7000, 7000))], stage="input", prompt="make it blue")
    assert not d.allowed and d.blocking[0].layer == "image.size"
    assert "7000x7000" in d.reason
    s.close()


def test_empty_optout_registry_has_no_faces_and_matches_nothing(tmp_path: Path) -> None:
    reg = OptOutRegistry(tmp_path / "empty.sqlite")
    assert reg.entries() == [] and not reg.has_faces
    req = Request(
        prompt="a portrait of jane example",
        normalised="a portrait of jane example",
        stage="input",
        age=None,
        minor=False,
        low=False,
        user=None,
        images=[Image.new("RGB", (32, 32), "gray")],
    )
    face = OptOutFaceLayer(reg).check(req)
    assert face.allowed and "no reference faces" in face.reason
    assert OptOutNameLayer(load_policy(), reg).check(req).allowed
    reg.close()


def test_optout_add_reports_the_time_it_stored(tmp_path: Path) -> None:
    reg = OptOutRegistry(tmp_path / "o.sqlite")
    before = time.time()
    entry = reg.add("Ada Lovelace", aliases=["ada"])
    assert before <= entry.added <= time.time()
    assert reg.entries() == [entry]  # what add() answered is what the registry lists
    reg.close()
