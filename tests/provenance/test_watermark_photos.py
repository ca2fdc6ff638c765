"""The watermark on photographs: informed embedding works against the host's own texture, and a marked
photo reads after the ordinary edits."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from PIL import Image

from limner.provenance import watermark as wm
from limner.provenance.ecc import encode_payload
from limner.provenance.watermark import WatermarkConfig, detect, embed, jpeg_round_trip, psnr
from tests.provenance.conftest import half_size

KEY = bytes(range(32))
PAYLOAD = 0x2468ACE13579
CFG = WatermarkConfig()


def _photo(name: str, box: tuple[int, int, int, int]) -> np.ndarray:
    """(H, W, 3) uint8: a crop of a photo shipped with scikit-image."""
    import skimage.data as skd

    a = getattr(skd, name)()
    return np.ascontiguousarray(np.asarray(Image.fromarray(a).convert("RGB").crop(box)))


def _half(rgb: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(half_size(Image.fromarray(rgb))))


PHOTOS = {"astronaut": ("astronaut", (100, 40, 356, 296)), "coffee": ("coffee", (150, 50, 470, 370)),
          "chelsea": ("chelsea", (0, 0, 384, 300))}


@pytest.mark.parametrize("name", sorted(PHOTOS))
def test_photo_reads_after_jpeg_and_half_size(name: str) -> None:
    rgb = _photo(*PHOTOS[name])
    marked = embed(rgb, KEY, PAYLOAD, CFG)
    assert psnr(rgb, marked) >= 44.9
    for attacked in (marked, jpeg_round_trip(marked), _half(marked)):
        assert detect(attacked, KEY, CFG).payload == PAYLOAD


def test_informed_embedding_raises_the_weakest_bits_margin() -> None:
    """Read after JPEG q75 at the true phase, the weakest coded bit's margin (soft value times its sign) is
    larger with informed embedding than without, at the same PSNR budget."""
    rgb = _photo("astronaut", (100, 40, 356, 296))
    sign = encode_payload(PAYLOAD).astype(np.float64) * 2.0 - 1.0
    margins = {}
    for informed in (0.0, CFG.informed):
        cfg = dataclasses.replace(CFG, informed=informed)
        marked = embed(rgb, KEY, PAYLOAD, cfg)
        assert psnr(rgb, marked) >= 44.9
        soft = wm._soft_bits(jpeg_round_trip(marked), KEY, cfg, "box") * sign  # noqa: SLF001 - the detector's own reading
        margins[informed] = np.sort(soft / np.mean(np.abs(soft)))[:5].mean()
    assert margins[CFG.informed] > margins[0.0]


@pytest.mark.parametrize("beta", [0.5, 0.9])
def test_dense_texture_reads_through_the_box_estimate(beta: float) -> None:
    """In dense texture the bilateral host estimate keeps the mark with the texture and loses it; the
    default detector's second estimate (3x3 box, inverse-variance weighted) reads it, also after JPEG."""
    from bench.provenance.dev_textures import fractal_noise

    grey = 128.0 + 45.0 * fractal_noise(320, beta, seed=3)
    rgb = np.ascontiguousarray(np.clip(grey[..., None] * np.array([0.8, 1.0, 0.7]), 0, 255).astype(np.uint8))
    marked = embed(rgb, KEY, PAYLOAD, CFG)
    assert psnr(rgb, marked) >= 44.9
    bilateral_only = dataclasses.replace(CFG, host_filter="bilateral")
    assert detect(marked, KEY, bilateral_only).payload is None
    for attacked in (marked, jpeg_round_trip(marked)):
        assert detect(attacked, KEY, CFG).payload == PAYLOAD


def test_host_filter_names_are_checked() -> None:
    with pytest.raises(ValueError, match="'median'"):
        WatermarkConfig(host_filter="bilateral+median")
