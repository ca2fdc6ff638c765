"""The public API of issue 7: `from limner import Pipeline`, save_pretrained / from_pretrained on a
directory, `limner.verify` on bytes and PIL images, and the typed errors for bad directories and files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

import limner
from limner.provenance.errors import InputImageError


def test_import_is_light_and_names_resolve_lazily() -> None:
    # `import limner` must not pull in torch: the CLI's --help and small tools stay fast
    out = subprocess.run([sys.executable, "-c", "import sys, limner; print('torch' in sys.modules)"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    from limner.pipeline import Pipeline

    assert limner.Pipeline is Pipeline and callable(limner.verify)
    with pytest.raises(AttributeError, match="no attribute 'Pipelin'"):
        limner.Pipelin  # noqa: B018


def test_save_pretrained_round_trips_model_and_policy(tiny_checkpoint: Path, tmp_path: Path) -> None:
    pipe = limner.Pipeline.from_pretrained(tiny_checkpoint)
    out = pipe.save_pretrained(tmp_path / "pipe")
    meta = json.loads((out / "limner.json").read_text())
    assert meta["checkpoint_sha256"] == pipe.generator.checkpoint_sha and meta["policy"] == "policy.yaml"
    assert (out / "heads" / "prompt_head.safetensors").is_file()

    again = limner.Pipeline.from_pretrained(out)  # the directory alone rebuilds everything
    assert again.generator.checkpoint_sha == pipe.generator.checkpoint_sha
    assert again.safety.policy.version == pipe.safety.policy.version
    assert again.safety.check_prompt("a red star").allowed
    assert not again.safety.check_prompt("how to synthesize sarin nerve agent infographic").allowed
    r = again("a red star", seed=3, quality="low")
    assert r.images[0].image.size == (256, 256) and r.safety and r.safety[0].allowed
    # provenance answers for bytes and for a PIL image (pixels only, no manifest: found through the index).
    # The untrained tiny model draws noise, where a 45 dB mark is too weak to read (bench/provenance measures
    # the watermark on the shipped model's outputs), so the pixels are matched by their perceptual hash.
    assert limner.verify(r.images[0].data).verdict != "unknown"
    pixels = limner.verify(r.images[0].image.convert("RGB")).to_dict()
    assert pixels["verdict"] == "likely_made_by_limner"  # a perceptual-hash match alone is the weaker verdict
    assert pixels["index"]["method"] == "pdq" and pixels["index"]["record"]["record_id"] == r.images[0].record_id


def test_bad_directories_and_inputs_name_what_is_wrong(tiny_checkpoint: Path, tmp_path: Path) -> None:
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "weights.bin").write_bytes(b"x")
    with pytest.raises(limner.InvalidRequest, match="limner.json is missing"):
        limner.Pipeline.from_pretrained(foreign)
    partial = limner.Pipeline.from_pretrained(tiny_checkpoint, safety=False).save_pretrained(tmp_path / "partial")
    (partial / "model.safetensors").unlink()
    with pytest.raises(limner.InvalidRequest, match="'model.safetensors' named in limner.json is missing"):
        limner.Pipeline.from_pretrained(partial)
    (partial / "limner.json").write_text('{"format": "something-else"}')
    with pytest.raises(limner.InvalidRequest, match="format 'something-else'"):
        limner.Pipeline.from_pretrained(partial)
    with pytest.raises(InputImageError, match="got int"):
        limner.verify(42)  # type: ignore[arg-type]
    text = tmp_path / "notes.txt"
    text.write_text("not an image")
    with pytest.raises(InputImageError):
        limner.verify(text)
    pipe = limner.Pipeline.from_pretrained(tiny_checkpoint, safety=False)
    with pytest.raises(limner.InvalidRequest):
        pipe.edit(text, "make the star green")
    with pytest.raises(limner.InvalidRequest):
        pipe.edit(Image.new("RGB", (256, 256)), "make the star green", mask=text)
