"""Reading images back into plans: uploaded images to edit, reference images, and earlier turns.

The project's object detector (limner.vision.detect) finds each flat world object with its class, colour,
centroid and box; OCR (limner.vision.ocr) reads text when asked. `read_scene` turns an image into a
`ScenePlan` (plus where each object really is, which edits need to know what region to change), and
`read_reference` takes the main object of an uploaded reference ("draw the object in this image, but ...").
Unreadable inputs raise `ImageInputError` naming the input.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from limner.data.world import POSITIONS, SIZES
from limner.errors import ImageInputError
from limner.limits import MAX_INPUT_PIXELS
from limner.studio.plan import PlanObject, PlanText, ScenePlan
from limner.vision.color import nearest_named
from limner.vision.detect import Detection, detect


@dataclass
class Observed:
    """One detected object: its plan entry and where it is in the image."""

    obj: PlanObject
    bbox: tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive), pixels
    centroid: tuple[float, float]  # (x, y) pixels


def load_image(src: str | Path | bytes | Image.Image, what: str = "image") -> Image.Image:
    """Open an image from a path, bytes or a PIL image; ImageInputError names `what` and the problem."""
    if isinstance(src, Image.Image):
        return src
    try:
        if isinstance(src, bytes):
            im = Image.open(io.BytesIO(src))
        else:
            p = Path(src)
            if not p.is_file():
                raise ImageInputError(f"{what} {str(p)!r} does not exist or is not a file")
            im = Image.open(p)
        if im.width * im.height > MAX_INPUT_PIXELS:
            raise ImageInputError(f"{what} is {im.width}x{im.height}; the maximum is {MAX_INPUT_PIXELS} pixels")
        im.load()
    except ImageInputError:
        raise
    except UnidentifiedImageError:  # its message names an internal buffer object, not the user's input
        name = f"({len(src)} bytes)" if isinstance(src, bytes) else repr(str(src))
        raise ImageInputError(f"{what} {name} is not in an image format limner reads (png, jpeg, webp...)") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        name = "bytes" if isinstance(src, bytes) else repr(str(src))
        raise ImageInputError(f"{what} {name} could not be read as an image ({type(e).__name__}: {e})") from None
    return im


def nearest_size(d: Detection, w: int, h: int) -> str:
    """The world size whose radius fraction is nearest to a detection's half-extent over the shorter side."""
    r = max(d.bbox[2] - d.bbox[0], d.bbox[3] - d.bbox[1]) / 2 / min(w, h)
    return min(SIZES, key=lambda s: abs(SIZES[s] - r))


def nearest_position(x: float, y: float) -> str:
    """The world position whose anchor is nearest to (x, y) in canvas fractions."""
    return min(POSITIONS, key=lambda p: (POSITIONS[p][0] - x) ** 2 + (POSITIONS[p][1] - y) ** 2)


def read_background(image: Image.Image) -> str:
    """'transparent' when the image has a transparent border, else the nearest world colour of the border."""
    a = np.asarray(image.convert("RGBA"), dtype=np.float64)
    frame = np.concatenate([a[:2].reshape(-1, 4), a[-2:].reshape(-1, 4), a[:, :2].reshape(-1, 4),
                            a[:, -2:].reshape(-1, 4)])
    if float(np.median(frame[:, 3])) < 128:
        return "transparent"
    return nearest_named(tuple(np.median(frame[:, :3], axis=0)))


def observe(image: Image.Image) -> list[Observed]:
    """Every detected object, largest first."""
    w, h = image.size
    out = []
    for d in detect(image):
        pos = nearest_position(d.centroid[0] / w, d.centroid[1] / h)
        out.append(Observed(PlanObject(d.cls, d.color, nearest_size(d, w, h), 1, pos), d.bbox, d.centroid))
    return out


def blobs(image: Image.Image) -> list[Observed]:
    """Every foreground component, classified or not, as Observed with class '?' (largest first): where a
    weak model drew *something* the detector cannot name, an edit can still find the thing to change."""
    from limner.vision.detect import segment

    w, h = image.size
    out = []
    for c in segment(image):
        pos = nearest_position(c.centroid[0] / w, c.centroid[1] / h)
        out.append(Observed(PlanObject("?", nearest_named(c.rgb), "medium", 1, pos), c.bbox, c.centroid))
    return out


def read_scene(image: Image.Image, *, text: bool = False) -> tuple[ScenePlan, list[Observed]]:
    """The plan an image shows (objects at their nearest positions, background, optionally OCR text)."""
    seen = observe(image)
    plan = ScenePlan([o.obj for o in seen], background=read_background(image), size=image.size)
    if text:
        from limner.vision.ocr import read_text

        lines = [ln.strip()[:16] for ln in read_text(image).split("\n") if ln.strip()][:3]
        if lines:
            plan.text = PlanText(lines)
    return plan, seen


def read_reference(image: Image.Image | str | Path | bytes, what: str = "reference image") -> PlanObject:
    """The main (largest) world object of a reference image; ImageInputError when there is none."""
    im = load_image(image, what)
    seen = observe(im)
    if not seen:
        raise ImageInputError(f"{what}: no world object found in it (expected one of the 16 shapes on a plain "
                              "background)")
    o = seen[0].obj
    return PlanObject(o.cls, o.color, o.size)
