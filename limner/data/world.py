"""The vocabulary of the limner world (see shared/world.md): objects, colours, sizes, positions.

Everything the data engine draws, the captions name and the scorer checks is defined here once.
"""

from __future__ import annotations

import re

OBJECTS: tuple[str, ...] = (
    "circle",
    "square",
    "triangle",
    "star",
    "heart",
    "hexagon",
    "pentagon",
    "diamond",
    "cross",
    "ring",
    "crescent",
    "arrow",
    "hourglass",
    "lightning bolt",
    "cloud",
    "infinity sign",
)

# Plural forms used by captions and the prompt parser.
PLURALS: dict[str, str] = {o: o + "s" for o in OBJECTS}
PLURALS["cross"] = "crosses"
PLURALS["hourglass"] = "hourglasses"
PLURALS["lightning bolt"] = "lightning bolts"
PLURALS["infinity sign"] = "infinity signs"

# Named colours as sRGB. Chosen to be far apart in CIELAB so a scorer can name them.
COLORS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 40),
    "orange": (250, 140, 20),
    "yellow": (250, 220, 30),
    "green": (40, 170, 60),
    "blue": (30, 80, 220),
    "purple": (130, 50, 180),
    "pink": (250, 130, 190),
    "brown": (130, 80, 40),
    "black": (20, 20, 20),
    "white": (255, 255, 255),
    "gray": (140, 140, 140),
    "cyan": (40, 210, 230),
}
COLOR_ALIASES: dict[str, str] = {"grey": "gray"}

SIZES: dict[str, float] = {"small": 0.085, "medium": 0.13, "large": 0.2}  # radius / min(W, H)

# Anchor (x, y) as a fraction of the canvas.
POSITIONS: dict[str, tuple[float, float]] = {
    "center": (0.5, 0.5),
    "left": (0.22, 0.5),
    "right": (0.78, 0.5),
    "top": (0.5, 0.22),
    "bottom": (0.5, 0.78),
    "top left": (0.22, 0.22),
    "top right": (0.78, 0.22),
    "bottom left": (0.22, 0.78),
    "bottom right": (0.78, 0.78),
}
RELATIONS: tuple[str, ...] = ("left of", "right of", "above", "below")

NUMBER_WORDS: tuple[str, ...] = ("zero", "one", "two", "three", "four", "five", "six")

TEXT_CHARS = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 .,!?'-:&")
MAX_TEXT_LINES = 3
MAX_LINE_CHARS = 16

# Sizes (W, H) the model supports, keyed by aspect ratio.
TAGS: tuple[str, ...] = (
    "single_object",
    "two_object",
    "counting",
    "colors",
    "position",
    "color_attr",
    "text",
    "dense_grid",
    "hex_color",
)
GENEVAL_TAGS: tuple[str, ...] = TAGS[:6]

_HEX_RE = re.compile(r"^#[0-9a-fA-F]{6}$")


def is_hex(color: str) -> bool:
    """True for a `#RRGGBB` colour string."""
    return bool(_HEX_RE.match(color))


def color_rgb(color: str) -> tuple[int, int, int]:
    """sRGB of a named colour (or alias) or a `#RRGGBB` string; raises ValueError naming the bad value."""
    c = color.strip().lower()
    c = COLOR_ALIASES.get(c, c)
    if c in COLORS:
        return COLORS[c]
    if is_hex(c):
        return (int(c[1:3], 16), int(c[3:5], 16), int(c[5:7], 16))
    raise ValueError(f"unknown colour {color!r}: expected one of {sorted(COLORS)} or #RRGGBB")


def color_rgb_or_none(color: str | None) -> tuple[int, int, int] | None:
    """`color_rgb`, or None when there is no colour or it is not a world colour (a reading, a plan's choice)."""
    try:
        return color_rgb(color) if color else None
    except ValueError:
        return None
