"""Transparent images are marked as seen over white: the mark survives flattening, alpha barely changes."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from limner.provenance.alpha import composite_over_white, embed_rgba
from limner.provenance.phash import flatten
from limner.provenance.watermark import WatermarkConfig, detect, embed_measured, psnr
from tests.provenance.conftest import make_render

KEY = bytes(range(32))
PAYLOAD = 0x0F1E2D3C4B5A
CFG = WatermarkConfig()


@pytest.fixture(scope="module")
def source() -> np.ndarray:
    rgba = np.asarray(make_render("dense_grid", 2).convert("RGBA")).copy()
    assert (rgba[..., 3] == 0).mean() > 0.5  # mostly transparent, like a "transparent background" request
    rgba[:20, :, 3] = 128  # a half-transparent band, to cover the partial-alpha branch
    return rgba


@pytest.fixture(scope="module")
def marked(source: np.ndarray) -> tuple[np.ndarray, float]:
    return embed_rgba(source, KEY, PAYLOAD, CFG)


def _flat_jpeg(rgba: np.ndarray, q: int = 75) -> np.ndarray:
    buf = io.BytesIO()
    flatten(Image.fromarray(rgba, "RGBA")).save(buf, "JPEG", quality=q)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))


def test_psnr_over_white_and_black(source: np.ndarray, marked: tuple[np.ndarray, float]) -> None:
    out, db = marked
    white_before = np.rint(composite_over_white(source[..., :3], source[..., 3]))
    white_after = np.rint(composite_over_white(out[..., :3], out[..., 3]))
    assert db >= 38.0 and abs(psnr(white_before, white_after) - db) < 1e-6

    def over_black(a: np.ndarray) -> np.ndarray:
        return np.rint(a[..., :3].astype(np.float64) * a[..., 3:4] / 255.0)

    # over black the change is never larger than over white (the transparent pixels add nothing there)
    assert psnr(over_black(source), over_black(out)) >= db - 0.05


def test_alpha_changes_only_where_it_was_zero_and_stays_faint(source: np.ndarray,
                                                              marked: tuple[np.ndarray, float]) -> None:
    out, _ = marked
    a0, a1 = source[..., 3], out[..., 3]
    assert np.array_equal(a1[a0 > 0], a0[a0 > 0])
    lit = (a0 == 0) & (a1 > 0)
    assert lit.any()
    assert a1[lit].max() <= 16  # at most ~6% opacity
    # those pixels are grey (a darkening, no coloured specks) and black under, like the generated background
    assert (out[lit][:, 0] == out[lit][:, 1]).all() and (out[lit][:, 1] == out[lit][:, 2]).all()
    assert out[lit][:, :3].max() <= 8
    # the RGB under pixels that stay transparent is untouched
    still = a1 == 0
    assert np.array_equal(out[still][:, :3], source[still][:, :3])


@pytest.mark.parametrize("quality", [75, 90])
def test_payload_survives_flattening_and_jpeg(marked: tuple[np.ndarray, float], quality: int) -> None:
    det = detect(_flat_jpeg(marked[0], quality), KEY, CFG)
    assert det.found and det.payload == PAYLOAD


def test_payload_survives_premultiplied_resize(marked: tuple[np.ndarray, float]) -> None:
    im = Image.fromarray(marked[0], "RGBA")
    half = im.resize((im.width // 2, im.height // 2), Image.Resampling.BICUBIC).resize(im.size)
    det = detect(np.asarray(flatten(half)), KEY, CFG)
    assert det.found and det.payload == PAYLOAD


def test_marking_only_the_visible_pixels_does_not_survive(source: np.ndarray) -> None:
    """The reason for alpha.py: the RGB under alpha 0 and the few visible pixels are not enough."""
    visible = source[..., 3] > 0
    rgb, _ = embed_measured(np.ascontiguousarray(source[..., :3]), KEY, PAYLOAD, CFG, visible)
    old = np.dstack([rgb, source[..., 3]])
    assert detect(_flat_jpeg(old), KEY, CFG).payload != PAYLOAD


def test_bad_shape_is_named() -> None:
    with pytest.raises(ValueError, match=r"\(H, W, 4\).*\(8, 8, 3\)"):
        embed_rgba(np.zeros((8, 8, 3), np.uint8), KEY, 1, CFG)
