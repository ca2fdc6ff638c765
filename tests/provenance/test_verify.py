"""verify: evidence after ordinary edits with metadata stripped, tampering, foreign manifests, bad input."""

from __future__ import annotations

import io
import json
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image, ImageEnhance

from limner.cli.main import main
from limner.provenance import manifest
from limner.provenance.certs import create_dev_ca, load_credentials
from limner.provenance.errors import InputImageError
from limner.provenance.settings import ProvenanceSettings
from limner.provenance.stage import ProvenancedImage, ProvenanceStage
from limner.provenance.verify import Verifier
from tests.provenance.conftest import info, make_render


def _jpeg(im: Image.Image, q: int = 75) -> bytes:
    buf = io.BytesIO()
    im.convert("RGB").save(buf, "JPEG", quality=q)
    return buf.getvalue()


def _png(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


ATTACKS = {  # each re-encodes from pixels, so the C2PA manifest is gone
    "jpeg75": lambda im: _jpeg(im, 75),
    "resize0.5": lambda im: _png(im.resize((im.width // 2, im.height // 2), Image.Resampling.BICUBIC).resize(im.size)),
    "crop10": lambda im: _png(im.crop((13, 9, im.width - 13, im.height - 17))),
    "brightness-10": lambda im: _png(ImageEnhance.Brightness(im.convert("RGB")).enhance(0.9)),
    "brightness+10": lambda im: _png(ImageEnhance.Brightness(im.convert("RGB")).enhance(1.1)),
}


@pytest.fixture(scope="module")
def generated(stage: ProvenanceStage) -> list[ProvenancedImage]:
    return [stage.apply(make_render(tag, seed), info(request_id=f"{tag}-{seed}"), "png")
            for tag, seed in [("position", 3), ("color_attr", 5), ("counting", 8)]]


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_found_after_attack_with_metadata_stripped(attack: str, generated: list[ProvenancedImage],
                                                   module_settings: ProvenanceSettings) -> None:
    v = Verifier(module_settings)
    for g in generated:
        data = ATTACKS[attack](Image.open(io.BytesIO(g.data)))
        d = v.verify(data).to_dict()
        assert d["c2pa"]["state"] == "absent"
        assert d["watermark"]["found"] and d["watermark"]["payload"] == g.payload_hex
        assert d["verdict"] == "made_by_limner"
        assert d["index"]["record"]["record_id"] == g.record_id
    v.close()


def test_transparent_background(stage: ProvenanceStage, module_settings: ProvenanceSettings) -> None:
    im = make_render("dense_grid", 2)  # transparent background, opaque shapes on ~11% of the pixels
    assert im.getextrema()[3][0] == 0
    out = stage.apply(im, info(), "png")
    v = Verifier(module_settings)
    assert v.verify(out.data).to_dict()["verdict"] == "made_by_limner"
    back = Image.open(io.BytesIO(out.data))
    # shown on white and saved as JPEG (what a viewer, a converter or a screenshot does), or resized with
    # premultiplied alpha (which zeroes the RGB under alpha 0): the watermark alone finds the record
    flat = Image.new("RGB", back.size, "white")
    flat.paste(back, mask=back.getchannel("A"))
    half = back.resize((back.width // 2, back.height // 2), Image.Resampling.BICUBIC).resize(back.size)
    for data in (_jpeg(flat, 75), _png(half)):
        d = v.verify(data).to_dict()
        assert d["watermark"]["found"] and d["watermark"]["payload"] == out.payload_hex
        assert d["index"]["record"]["record_id"] == out.record_id
    v.close()


def test_unrelated_images_give_no_evidence(module_settings: ProvenanceSettings) -> None:
    v = Verifier(module_settings)
    for tag, seed in [("position", 3), ("text", 5)]:  # the same scenes, never passed through the stage
        d = v.verify(_png(make_render(tag, seed))).to_dict()
        assert d["verdict"] == "no_evidence" or d["index"]["record"]["pdq_quality"] >= 50
        assert not d["watermark"]["found"] and d["watermark"]["payload"] is None
    v.close()


def test_tampered_pixels_make_the_manifest_invalid(stage: ProvenanceStage,
                                                   module_settings: ProvenanceSettings) -> None:
    out = stage.apply(make_render("colors", 5), info(), "jpeg")
    data = bytearray(out.data)
    eoi = data.rfind(b"\xff\xd9")
    # inside the entropy-coded scan: the picture changes, the manifest does not. Some flips leave a
    # stream the decoder refuses (it depends on the watermarked pixels); the manifest must catch both
    for offset in (40, 41, 77, 120):
        bad = bytearray(data)
        bad[eoi - offset] ^= 0x55
        d = Verifier(module_settings).verify(bytes(bad)).to_dict()
        assert d["c2pa"]["state"] == "invalid"
        assert "assertion.dataHash.mismatch" in {f["code"] for f in d["c2pa"]["failures"]}


def test_tampered_manifest_is_invalid_and_names_the_failure(stage: ProvenanceStage,
                                                            module_settings: ProvenanceSettings) -> None:
    out = stage.apply(make_render("colors", 6), info(), "png")
    pos = out.data.find(b"limner-test")
    assert pos > 0
    forged = out.data[:pos] + b"limner-evil" + out.data[pos + 11:]  # same length: the file stays parseable
    d = Verifier(module_settings).verify(forged).to_dict()
    assert d["c2pa"]["state"] == "invalid"
    # a careful forger also fixes the PNG chunk CRC: the C2PA hashes must still catch it
    d = Verifier(module_settings).verify(_fix_png_crcs(forged)).to_dict()
    assert d["c2pa"]["state"] == "invalid"
    codes = {f["code"] for f in d["c2pa"]["failures"]}
    assert any("mismatch" in c or "signature" in c.lower() for c in codes), codes
    # the pixels still carry the mark, so the image is still recognised, by its watermark
    assert d["watermark"]["found"] and d["verdict"] == "made_by_limner"


def test_foreign_valid_manifest(tmp_path: Path, module_settings: ProvenanceSettings) -> None:
    other = ProvenanceSettings(data_dir=tmp_path / "acme")
    create_dev_ca(other.dev_ca_dir)
    creds = load_credentials(other)
    m = {"claim_generator_info": [{"name": "acme-camera", "version": "2.1"}], "title": "photo.jpg",
         "format": "image/jpeg", "assertions": [{"label": "c2pa.actions.v2", "data": {"actions": [
             {"action": "c2pa.created",
              "digitalSourceType": "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture"}]}}]}
    signed = manifest.sign(_jpeg(make_render("position", 9), 90), "jpeg", m, creds)
    d = Verifier(module_settings).verify(signed).to_dict()
    assert d["c2pa"]["state"] == "valid"  # signature fine, signer not among our anchors
    assert d["c2pa"]["generator"] == "acme-camera" and d["c2pa"]["is_limner"] is False
    assert d["verdict"] == "no_evidence"


def _fix_png_crcs(data: bytes) -> bytes:
    out, pos = [data[:8]], 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos: pos + 4])
        body = data[pos + 4: pos + 8 + length]
        out.append(data[pos: pos + 4] + body + struct.pack(">I", zlib.crc32(body)))
        pos += 12 + length
    return b"".join(out)


def _bomb_png(w: int, h: int) -> bytes:
    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + \
        chunk(b"IEND", b"")


@pytest.mark.parametrize(("name", "data", "message"), [
    ("empty", b"", "empty"),
    ("text", b"hello, I am not an image\n" * 10, "not a readable image"),
    ("bomb", _bomb_png(50_000, 50_000), "Mpx|decompression bomb"),
    # below Pillow's bomb limit, above ours: refused from the header, before any pixel is decoded
    ("enormous", _bomb_png(7_000, 6_000), r"7000x6000 = 42 Mpx, above the 40 Mpx limit"),
])
def test_bad_input_gets_a_clear_error(name: str, data: bytes, message: str,
                                      module_settings: ProvenanceSettings) -> None:
    with pytest.raises(InputImageError, match=message):
        Verifier(module_settings).verify(data)


def test_truncated_file_still_has_its_manifest_checked(generated: list[ProvenancedImage],
                                                       module_settings: ProvenanceSettings) -> None:
    res = Verifier(module_settings).verify(generated[0].data[: len(generated[0].data) // 2])
    assert res.c2pa.state == "invalid" and res.watermark is None and res.verdict == "no_evidence"
    assert any("truncated or corrupt" in n and "skipped" in n for n in res.notes)
    # with the manifest cut off as well there is nothing left to judge: a clear error
    with pytest.raises(InputImageError, match="(?i)truncated"):
        Verifier(module_settings).verify(generated[0].data[:100])


def test_cli_json_and_errors(generated: list[ProvenancedImage], module_settings: ProvenanceSettings,
                             tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    img = tmp_path / "gen.png"
    img.write_bytes(generated[0].data)
    home = str(module_settings.data_dir)
    assert main(["verify", str(img), "--json", "--data-dir", home]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["verdict"] == "made_by_limner" and d["c2pa"]["state"] == "trusted"
    assert main(["verify", str(img), "--data-dir", home]) == 0
    assert "made by this limner" in capsys.readouterr().out
    bad = tmp_path / "bad.png"
    bad.write_bytes(generated[0].data[:100])
    assert main(["verify", str(bad), "--data-dir", home]) == 2
    err = capsys.readouterr().err
    assert "bad.png" in err and "Traceback" not in err
    assert main(["verify", str(tmp_path / "missing.png"), "--data-dir", home]) == 2
    assert "no such file" in capsys.readouterr().err
