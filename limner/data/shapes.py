"""Anti-aliased masks of the sixteen world objects.

Each shape is drawn into a square 'L' mask of side 2*r (supersampled, then reduced), centred on
the object's centre, so the renderer can paste any colour through it onto any background.
"""

from __future__ import annotations

import math

from PIL import Image, ImageDraw

_SS = 3  # supersampling factor for anti-aliasing

Pt = tuple[float, float]


def _regular(n: int, r: float, c: float, rot: float = -math.pi / 2) -> list[Pt]:
    return [
        (c + r * math.cos(rot + 2 * math.pi * k / n), c + r * math.sin(rot + 2 * math.pi * k / n)) for k in range(n)
    ]


def _star(r: float, c: float) -> list[Pt]:
    pts = []
    for k in range(10):
        rr = r if k % 2 == 0 else r * 0.45
        a = -math.pi / 2 + math.pi * k / 5
        pts.append((c + rr * math.cos(a), c + rr * math.sin(a)))
    return pts


def _heart(r: float, c: float) -> list[Pt]:
    pts = []
    for k in range(80):
        t = 2 * math.pi * k / 80
        x = 16 * math.sin(t) ** 3
        y = -(13 * math.cos(t) - 5 * math.cos(2 * t) - 2 * math.cos(3 * t) - math.cos(4 * t))
        pts.append((c + x / 17 * r, c + (y + 1.5) / 17 * r))
    return pts


def _draw(d: ImageDraw.ImageDraw, name: str, r: float, c: float) -> None:
    """Draw shape `name` of radius r centred at (c, c) in white on the mask."""
    box = (c - r, c - r, c + r, c + r)
    if name == "circle":
        d.ellipse(box, fill=255)
    elif name == "square":
        s = r * 0.82
        d.rectangle((c - s, c - s, c + s, c + s), fill=255)
    elif name == "triangle":
        d.polygon([(c, c - r), (c + r * 0.95, c + r * 0.75), (c - r * 0.95, c + r * 0.75)], fill=255)
    elif name == "star":
        d.polygon(_star(r, c), fill=255)
    elif name == "heart":
        d.polygon(_heart(r, c), fill=255)
    elif name == "hexagon":
        d.polygon(_regular(6, r, c, rot=0.0), fill=255)
    elif name == "pentagon":
        d.polygon(_regular(5, r, c), fill=255)
    elif name == "diamond":
        d.polygon([(c, c - r), (c + r * 0.62, c), (c, c + r), (c - r * 0.62, c)], fill=255)
    elif name == "cross":
        t = r * 0.3
        d.rectangle((c - t, c - r, c + t, c + r), fill=255)
        d.rectangle((c - r, c - t, c + r, c + t), fill=255)
    elif name == "ring":
        d.ellipse(box, fill=255)
        ri = r * 0.55
        d.ellipse((c - ri, c - ri, c + ri, c + ri), fill=0)
    elif name == "crescent":
        d.ellipse(box, fill=255)
        o = r * 0.45
        d.ellipse((c - r + o, c - r - o * 0.3, c + r + o, c + r - o * 0.3), fill=0)
    elif name == "arrow":
        t = r * 0.28
        d.rectangle((c - r, c - t, c + r * 0.15, c + t), fill=255)
        d.polygon([(c + r * 0.1, c - r * 0.7), (c + r, c), (c + r * 0.1, c + r * 0.7)], fill=255)
    elif name == "hourglass":
        w = r * 0.8
        d.polygon(
            [(c - w, c - r), (c + w, c - r), (c + r * 0.08, c), (c + w, c + r), (c - w, c + r), (c - r * 0.08, c)],
            fill=255,
        )
    elif name == "lightning bolt":
        pts = [(0.25, -1.0), (-0.55, 0.12), (-0.02, 0.12), (-0.3, 1.0), (0.6, -0.2), (0.06, -0.2), (0.4, -1.0)]
        d.polygon([(c + x * r, c + y * r) for x, y in pts], fill=255)
    elif name == "cloud":
        for cx, cy, rr in ((-0.5, 0.15, 0.42), (0.0, -0.2, 0.55), (0.5, 0.1, 0.45), (0.05, 0.25, 0.45)):
            d.ellipse((c + (cx - rr) * r, c + (cy - rr) * r, c + (cx + rr) * r, c + (cy + rr) * r), fill=255)
        d.rectangle((c - 0.5 * r, c + 0.05 * r, c + 0.5 * r, c + 0.55 * r), fill=255)
    elif name == "infinity sign":
        w = max(1, int(r * 0.24))
        pts = []
        for k in range(121):
            t = 2 * math.pi * k / 120
            den = 1 + math.sin(t) ** 2
            pts.append((c + 0.95 * r * math.cos(t) / den * 1.05, c + 0.95 * r * math.sin(t) * math.cos(t) / den * 1.3))
        d.line(pts, fill=255, width=w, joint="curve")
    else:
        raise ValueError(f"unknown object {name!r}")


def shape_mask(name: str, radius: float) -> Image.Image:
    """An 'L' mask of side ceil(2*radius)+2 with shape `name` centred in it."""
    side = int(math.ceil(2 * radius)) + 2
    big = Image.new("L", (side * _SS, side * _SS), 0)
    _draw(ImageDraw.Draw(big), name, radius * _SS, side * _SS / 2)
    return big.resize((side, side), Image.Resampling.BOX)
