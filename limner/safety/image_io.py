"""Safe image decoding for untrusted uploads: size limits before decoding, truncation and bombs rejected.

Pillow's own bomb check is a warning below 2x its limit; here any image over the policy's pixel budget is
an error, checked from the header before the pixels are decoded.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

from PIL import Image

from limner.errors import ImageInputError

DEFAULT_MAX_PIXELS = 40_000_000
DEFAULT_MAX_SIDE = 12_000
DEFAULT_MAX_BYTES = 50 * 1024 * 1024


def check_size(
    width: int,
    height: int,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_side: int = DEFAULT_MAX_SIDE,
    name: str = "image",
) -> None:
    """Raise ImageInputError when `width` x `height` (read from the header) is empty or over the pixel or side limit."""
    if width <= 0 or height <= 0:
        raise ImageInputError(f"{name}: empty image ({width}x{height})")
    if width * height > max_pixels or max(width, height) > max_side:
        raise ImageInputError(
            f"{name}: {width}x{height} pixels exceeds the limit of {max_pixels} pixels / "
            f"{max_side} per side (possible decompression bomb)"
        )


def load_image(
    src: str | Path | bytes,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_side: int = DEFAULT_MAX_SIDE,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Image.Image:
    """Decode an image from a path or bytes into RGB(A), refusing bad input with ImageInputError."""
    name = str(src) if not isinstance(src, bytes) else "<bytes>"
    if isinstance(src, bytes):
        data = src
    else:
        p = Path(src)
        try:
            size = p.stat().st_size
        except OSError as e:
            raise ImageInputError(f"{name}: cannot read image file: {e.strerror or e}") from None
        if size > max_bytes:
            raise ImageInputError(f"{name}: file is {size} bytes, over the {max_bytes}-byte limit")
        try:
            data = p.read_bytes()
        except OSError as e:
            raise ImageInputError(f"{name}: cannot read image file: {e.strerror or e}") from None
    if len(data) > max_bytes:
        raise ImageInputError(f"{name}: {len(data)} bytes, over the {max_bytes}-byte limit")
    if not data:
        raise ImageInputError(f"{name}: empty file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data))
            check_size(im.width, im.height, max_pixels=max_pixels, max_side=max_side, name=name)
            im.load()  # decodes now: truncated files fail here, not later inside a classifier
    except ImageInputError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageInputError(f"{name}: refused as a possible decompression bomb ({e})") from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise ImageInputError(f"{name}: not a readable image ({e})") from None
    return to_rgb(im)


def to_rgb(im: Image.Image) -> Image.Image:
    """RGB copy; transparent pixels composited on white (the shipped model's background)."""
    if im.mode == "RGB":
        return im
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(bg, rgba).convert("RGB")
    return im.convert("RGB")
