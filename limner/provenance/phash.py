"""Perceptual hashes for the reverse-search index: PDQ (256 bits) on a normalised copy of the image.

The image is flattened over white (how a transparent image is usually shown and screenshotted) and
reduced to at most 256 px on its longest side first: PDQ downsamples to 64x64 internally anyway, and
hashing 1024x1024 directly costs ~190 ms instead of ~3 ms.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

HASH_BYTES = 32
CHUNKS = 16  # multi-index hashing: 16 substrings of 16 bits each
HASH_SIDE = 256


def flatten(im: Image.Image, background: tuple[int, int, int] = (255, 255, 255)) -> Image.Image:
    """Any mode -> RGB, compositing alpha over `background`."""
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        base = Image.new("RGBA", rgba.size, (*background, 255))
        return Image.alpha_composite(base, rgba).convert("RGB")
    return im.convert("RGB")


def pdq(im: Image.Image) -> tuple[bytes, int]:
    """(32-byte PDQ hash, PDQ quality 0-100). Quality below ~50 means a near-featureless image."""
    import pdqhash  # lazy: C extension

    rgb = flatten(im)
    scale = HASH_SIDE / max(rgb.size)
    if scale < 1.0:
        rgb = rgb.resize((max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale))), Image.Resampling.BOX)
    bits, quality = pdqhash.compute(np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8)))
    return np.packbits(bits.astype(np.uint8)).tobytes(), int(quality)


def chunks(h: bytes) -> list[int]:
    """32-byte hash -> 16 unsigned 16-bit substrings (the multi-index keys)."""
    if len(h) != HASH_BYTES:
        raise ValueError(f"perceptual hash must be {HASH_BYTES} bytes, got {len(h)}")
    return [int.from_bytes(h[2 * i: 2 * i + 2], "big") for i in range(CHUNKS)]


def hamming(a: bytes, b: bytes) -> int:
    """The number of bits in which two hashes of the same length differ."""
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).bit_count()


def probes(value: int, radius: int) -> list[int]:
    """All 16-bit values within Hamming `radius` (0 or 1) of `value`."""
    if radius <= 0:
        return [value]
    return [value] + [value ^ (1 << i) for i in range(16)]
