"""The ordinary edits of the robustness table. Each decodes pixels and re-encodes, so metadata is gone."""

from __future__ import annotations

import io
import random
from collections.abc import Callable

import numpy as np
from PIL import Image

from limner.provenance.phash import flatten


def _png(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "PNG", compress_level=1)
    return buf.getvalue()


def none(im: Image.Image, rng: random.Random) -> bytes:
    return _png(im)


def jpeg75(im: Image.Image, rng: random.Random) -> bytes:
    buf = io.BytesIO()
    flatten(im).save(buf, "JPEG", quality=75)  # transparent images are shown on white, then saved
    return buf.getvalue()


def resize_half(im: Image.Image, rng: random.Random) -> bytes:
    small = im.resize((im.width // 2, im.height // 2), Image.Resampling.BICUBIC)
    return _png(small.resize(im.size, Image.Resampling.BICUBIC))


def crop10(im: Image.Image, rng: random.Random) -> bytes:
    """Keep 90% of the width and 90% of the height at a random offset (19% of the area gone), no rescale."""
    w, h = int(im.width * 0.9), int(im.height * 0.9)
    x, y = rng.randint(0, im.width - w), rng.randint(0, im.height - h)
    return _png(im.crop((x, y, x + w, y + h)))


def _brightness(im: Image.Image, factor: float) -> bytes:
    a = np.asarray(im.convert("RGBA") if "A" in im.mode else im.convert("RGB")).astype(np.float32)
    a[..., :3] = np.clip(np.rint(a[..., :3] * factor), 0, 255)  # multiplicative, like ImageEnhance.Brightness
    return _png(Image.fromarray(a.astype(np.uint8)))


def brighter10(im: Image.Image, rng: random.Random) -> bytes:
    return _brightness(im, 1.1)


def darker10(im: Image.Image, rng: random.Random) -> bytes:
    return _brightness(im, 0.9)


ATTACKS: dict[str, Callable[[Image.Image, random.Random], bytes]] = {
    "none": none, "jpeg_q75": jpeg75, "resize_0.5x": resize_half, "crop_10%": crop10,
    "brightness_+10%": brighter10, "brightness_-10%": darker10,
}
