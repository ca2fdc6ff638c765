"""The watermark on flat-colour renders: invisible (PSNR), robust to ordinary edits, absent elsewhere."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageEnhance

from limner.provenance.watermark import WatermarkConfig, detect, embed, psnr
from tests.provenance.conftest import make_render

KEY = bytes(range(32))
BICUBIC = Image.Resampling.BICUBIC
CFG = WatermarkConfig()
# scenes with enough coloured content to be read after every attack (tiny-content scenes are measured in bench/)
CASES = [("position", 3), ("color_attr", 5), ("dense_grid", 2), ("text", 10)]


def _rgb(im: Image.Image) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(im.convert("RGBA"))[..., :3])


def _jpeg(im: Image.Image, q: int) -> Image.Image:
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=q)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


ATTACKS = {
    "none": lambda im: im,
    "jpeg75": lambda im: _jpeg(im, 75),
    "resize0.5": lambda im: im.resize((im.width // 2, im.height // 2), BICUBIC).resize(im.size, BICUBIC),
    "crop10": lambda im: im.crop((im.width // 20 + 3, im.height // 20 + 1, im.width - im.width // 20,
                                  im.height - im.height // 20)),
    "darker10": lambda im: ImageEnhance.Brightness(im).enhance(0.9),
    "brighter10": lambda im: ImageEnhance.Brightness(im).enhance(1.1),
}


@pytest.fixture(scope="module")
def marked() -> list[tuple[int, np.ndarray, np.ndarray]]:
    out = []
    for i, (tag, seed) in enumerate(CASES):
        rgb = _rgb(make_render(tag, seed))
        payload = 0x1234_5678_9A00 + i
        out.append((payload, rgb, embed(rgb, KEY, payload, CFG)))
    return out


def test_psnr_at_least_38_db_on_flat_colour(marked: list[tuple[int, np.ndarray, np.ndarray]]) -> None:
    for _, rgb, wm in marked:
        assert psnr(rgb, wm) >= 38.0
        d = wm.astype(int) - rgb.astype(int)
        assert np.abs(d[..., :2]).max() <= 24  # no visible blotches
        luma = d @ np.array([0.299, 0.587, 0.114])
        assert np.abs(luma).max() <= 24


def test_deep_dips_only_on_blue_where_brightening_clips(marked: list[tuple[int, np.ndarray, np.ndarray]]) -> None:
    for _, rgb, wm in marked:
        d = wm[..., 2].astype(int) - rgb[..., 2].astype(int)
        deep = d < -24
        assert deep.any()  # the renders are mostly white: the headroom dips must be there
        assert (rgb[..., 2][deep] >= CFG.bright_level).all()
        assert deep.mean() < 0.03  # sparse: a few % of the pixels at most


def _brighten(rgb: np.ndarray, factor: float) -> np.ndarray:
    return np.clip(np.rint(rgb.astype(np.float32) * factor), 0, 255).astype(np.uint8)


def test_white_field_survives_brightening_into_clipping() -> None:
    """Every channel of a white field clips at +10%: only the headroom dips can carry the payload."""
    rgb = np.full((256, 256, 3), 255, np.uint8)
    wm = embed(rgb, KEY, 0xABCDEF012345, CFG)
    bright = _brighten(wm, 1.1)
    det = detect(bright, KEY, CFG)
    assert det.found and det.payload == 0xABCDEF012345
    # the same image marked without dips loses the mark completely: the dips are what carries it
    no_dips = WatermarkConfig(dot_depth=0.0)
    assert not detect(_brighten(embed(rgb, KEY, 0xABCDEF012345, no_dips), 1.1), KEY, no_dips).found


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_payload_survives(attack: str, marked: list[tuple[int, np.ndarray, np.ndarray]]) -> None:
    for payload, _, wm in marked:
        attacked = ATTACKS[attack](Image.fromarray(wm))
        det = detect(np.asarray(attacked.convert("RGB")), KEY, CFG)
        assert det.found, f"{attack}: not found (pilot z {det.pilot_z:.1f})"
        assert det.payload == payload
        assert det.confidence > 0.8


def test_plain_white_image_carries_the_mark() -> None:
    rgb = np.full((256, 256, 3), 255, np.uint8)
    det = detect(np.asarray(_jpeg(Image.fromarray(embed(rgb, KEY, 42, CFG)), 75)), KEY, CFG)
    assert det.found and det.payload == 42


def test_unmarked_and_wrong_key_find_nothing(marked: list[tuple[int, np.ndarray, np.ndarray]]) -> None:
    rng = np.random.default_rng(3)
    noise = rng.integers(0, 256, (300, 280, 3), dtype=np.uint8)
    for _, rgb, wm in marked:
        assert not detect(rgb, KEY, CFG).found
        assert not detect(wm, bytes(32), CFG).found
    assert not detect(noise, KEY, CFG).found


def test_tiny_and_odd_sized_images_do_not_crash() -> None:
    for shape in [(1, 1, 3), (7, 300, 3), (69, 71, 3)]:
        rgb = np.full(shape, 128, np.uint8)
        marked = embed(rgb, KEY, 7, CFG)
        assert marked.shape == shape
        assert detect(marked, KEY, CFG).found in (True, False)
    with pytest.raises(ValueError, match="uint8"):
        embed(np.zeros((8, 8, 3), np.float32), KEY, 1, CFG)
