"""A scene: typed description of one world image, its exact renderer and its text layout.

The renderer is the 'oracle' of the eval: it draws a scene exactly. The text layout is a pure
function of (lines, position, canvas) so that the glyph image the diffusion decoder is
conditioned on (see model/decoder.py) is the same at training and at generation time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from limner.data.shapes import shape_mask
from limner.data.world import SIZES, color_rgb

TEXT_POSITIONS: dict[str, float] = {"top": 0.2, "center": 0.5, "bottom": 0.8}  # y anchor of the block


@dataclass
class SceneObject:
    """One shape of a scene; `radius(w, h)` gives its size in pixels."""

    cls: str
    color: str  # named colour or #RRGGBB
    size: str = "medium"
    cx: float = 0.5  # centre as a fraction of width
    cy: float = 0.5  # centre as a fraction of height
    radius_frac: float | None = None  # overrides `size` (grids)

    def radius(self, w: int, h: int) -> float:
        """Radius in pixels on a `w` x `h` canvas: the size's (or `radius_frac`'s) fraction of the shorter side."""
        return (self.radius_frac if self.radius_frac is not None else SIZES[self.size]) * min(w, h)


@dataclass
class SceneText:
    """Text drawn centred in a block at `position` (see `layout_text`), optionally on a sign panel."""

    lines: list[str]
    color: str = "black"
    position: str = "center"  # top | center | bottom
    panel: str | None = None  # colour of a sign behind the text


@dataclass
class Scene:
    """One world image: canvas size, background, objects and optional text; `render` draws it exactly."""

    width: int = 256
    height: int = 256
    background: str = "white"  # named, #RRGGBB or "transparent"
    objects: list[SceneObject] = field(default_factory=list)
    text: SceneText | None = None


@lru_cache(maxsize=64)
def font(size: int) -> ImageFont.FreeTypeFont:
    """Pillow's bundled FreeType font (Aileron) at `size` px; needs no system fonts."""
    f = ImageFont.load_default(size=size)
    assert isinstance(f, ImageFont.FreeTypeFont), "Pillow was built without FreeType"
    return f


@dataclass(frozen=True)
class TextLayout:
    """Where `layout_text` puts a text block: the font size in px, each line's origin and the block's box."""

    size: int
    origins: tuple[tuple[int, int], ...]  # top-left of each line's ink box anchor
    box: tuple[int, int, int, int]  # (x0, y0, x1, y1) of the whole block


def layout_text(lines: tuple[str, ...], position: str, w: int, h: int) -> TextLayout:
    """Deterministic layout: the largest font (<= 34 px) whose widest line fits 86% of the width."""
    if position not in TEXT_POSITIONS:
        raise ValueError(f"unknown text position {position!r}: expected one of {sorted(TEXT_POSITIONS)}")
    size = 34 if len(lines) == 1 else 28
    while size > 12:
        widths = [font(size).getlength(ln) for ln in lines]
        if max(widths) <= 0.86 * w:
            break
        size -= 1
    f = font(size)
    line_h = int(size * 1.25)
    block_h = line_h * len(lines)
    y0 = int(TEXT_POSITIONS[position] * h - block_h / 2)
    y0 = max(4, min(h - block_h - 4, y0))
    origins = []
    x_min, x_max = w, 0
    for i, ln in enumerate(lines):
        lw = f.getlength(ln)
        x = int(round((w - lw) / 2))
        origins.append((x, y0 + i * line_h))
        x_min, x_max = min(x_min, x), max(x_max, int(x + lw))
    return TextLayout(size, tuple(origins), (x_min, y0, x_max, y0 + block_h))


def glyph_image(text: SceneText | None, w: int, h: int) -> Image.Image:
    """'L' image of the requested strings, white on black, at their laid-out place (GlyphControl-style)."""
    im = Image.new("L", (w, h), 0)
    if text is None or not any(ln.strip() for ln in text.lines):
        return im
    lay = layout_text(tuple(text.lines), text.position, w, h)
    d = ImageDraw.Draw(im)
    f = font(lay.size)
    for ln, (x, y) in zip(text.lines, lay.origins, strict=True):
        d.text((x, y), ln, font=f, fill=255)
    return im


def _contrast_text(panel_rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    lum = 0.299 * panel_rgb[0] + 0.587 * panel_rgb[1] + 0.114 * panel_rgb[2]
    return (20, 20, 20) if lum > 140 else (255, 255, 255)


def render(scene: Scene) -> Image.Image:
    """Draw `scene` exactly, as RGBA. A transparent background has alpha 0 and black RGB."""
    w, h = scene.width, scene.height
    if scene.background == "transparent":
        im = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    else:
        im = Image.new("RGBA", (w, h), (*color_rgb(scene.background), 255))
    for ob in scene.objects:
        r = ob.radius(w, h)
        m = shape_mask(ob.cls, r)
        x0 = int(round(ob.cx * w - m.width / 2))
        y0 = int(round(ob.cy * h - m.height / 2))
        im.paste(Image.new("RGBA", m.size, (*color_rgb(ob.color), 255)), (x0, y0), m)
    if scene.text is not None:
        t = scene.text
        text_rgb = color_rgb(t.color)
        if t.panel is not None:
            lay = layout_text(tuple(t.lines), t.position, w, h)
            x0, y0, x1, y1 = lay.box
            pad = max(8, lay.size // 2)
            ImageDraw.Draw(im).rounded_rectangle(
                (x0 - pad, y0 - pad // 2, x1 + pad, y1 + pad // 2), radius=pad // 2, fill=(*color_rgb(t.panel), 255)
            )
            text_rgb = _contrast_text(color_rgb(t.panel))
        g = glyph_image(t, w, h)
        im.paste(Image.new("RGBA", (w, h), (*text_rgb, 255)), (0, 0), g)
    return im


def to_array(im: Image.Image) -> np.ndarray:
    """RGBA image -> float32 array (4, H, W) in [-1, 1]."""
    a = np.asarray(im.convert("RGBA"), dtype=np.float32) / 127.5 - 1.0
    return a.transpose(2, 0, 1).copy()


def from_array(a: np.ndarray) -> Image.Image:
    """float array (4, H, W) in [-1, 1] -> RGBA image."""
    x = np.clip((a.transpose(1, 2, 0) + 1.0) * 127.5, 0, 255).round().astype(np.uint8)
    return Image.fromarray(x, "RGBA")
