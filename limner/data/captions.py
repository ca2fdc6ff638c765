"""Caption phrasing: many templates per scene type, so held-out prompts phrased differently still work.

Every function takes an explicit `random.Random` so captions are reproducible from a seed.
"""

from __future__ import annotations

import random

from limner.data.scene import SceneObject
from limner.data.world import NUMBER_WORDS, PLURALS

PREFIXES = (
    "",
    "",
    "",
    "a picture of ",
    "draw ",
    "an image of ",
    "make an image with ",
    "show ",
    "please draw ",
    "a drawing of ",
    "render ",
    "generate ",
    "create ",
    "an illustration of ",
    "i want ",
    "paint ",
    "can you draw ",
    "a simple image of ",
    "image: ",
    "a graphic with ",
)
BG_TEMPLATES = (
    " on a {bg} background",
    " with a {bg} background",
    " against a {bg} backdrop",
    ", {bg} background",
    " on {bg}",
)
REL_TEMPLATES = {
    "left of": ("{a} to the left of {b}", "{a} left of {b}", "{a} on the left of {b}", "{a} placed left of {b}"),
    "right of": ("{a} to the right of {b}", "{a} right of {b}", "{a} on the right of {b}", "{a} placed right of {b}"),
    "above": ("{a} above {b}", "{a} over {b}", "{a} placed above {b}", "{a} sitting above {b}"),
    "below": ("{a} below {b}", "{a} under {b}", "{a} beneath {b}", "{a} placed below {b}"),
}
POS_TEMPLATES = ("{o} in the {p}", "{o} at the {p}", "{o} on the {p}", "{o} positioned in the {p}", "{o}, {p}")
POS_WORDS = {
    "center": ("center", "centre", "middle"),
    "top left": ("top left", "upper left", "top-left"),
    "top right": ("top right", "upper right", "top-right"),
    "bottom left": ("bottom left", "lower left", "bottom-left"),
    "bottom right": ("bottom right", "lower right", "bottom-right"),
}


def article(word: str) -> str:
    """'an' when `word` starts with a lower-case vowel letter, else 'a'."""
    return "an" if word[0] in "aeiou" else "a"


def color_word(color: str, rng: random.Random) -> str:
    """How a caption names `color`: 'gray' is spelled 'grey' 40% of the time, so both spellings are trained."""
    if color == "gray" and rng.random() < 0.4:
        return "grey"
    return color


def number(n: int, rng: random.Random) -> str:
    """A count as captions write it: digits 40% of the time, else the word ('3' or 'three'); `n` in 0-6."""
    return str(n) if rng.random() < 0.4 else NUMBER_WORDS[n]


def pos_word(p: str, rng: random.Random) -> str:
    """A random synonym of world position `p` ('top left' -> 'upper left', 'top-left', ...); `p` itself when
    it has none."""
    return rng.choice(POS_WORDS.get(p, (p,)))


def noun_phrase(ob: SceneObject, rng: random.Random, *, color: bool, size: bool, det: bool = True) -> str:
    """'a large red star', 'the blue circle', 'a #1E90FF circle' ..."""
    words = []
    if size and ob.size != "medium":
        words.append(ob.size)
    elif size and rng.random() < 0.2:
        words.append("medium")
    if color:
        c = color_word(ob.color, rng)
        if c.startswith("#") and rng.random() < 0.5:
            body = f"{ob.cls} in {c}"
            words.append(body)
            phrase = " ".join(words)
            return f"{article(phrase)} {phrase}" if det else phrase
        words.append(c)
    words.append(ob.cls)
    phrase = " ".join(words)
    if not det:
        return phrase
    d = rng.random()
    if d < 0.12:
        return f"one {phrase}"
    if d < 0.2:
        return f"the {phrase}"
    return f"{article(phrase)} {phrase}"


def plural_phrase(n: int, ob: SceneObject, rng: random.Random, *, color: bool) -> str:
    """`n` copies of `ob` as a counted phrase: 'three red stars', '4 circles in #1E90FF', 'two hearts'
    (the colour only when `color`)."""
    noun = PLURALS[ob.cls] if n != 1 else ob.cls
    c = f"{color_word(ob.color, rng)} " if color else ""
    if color and ob.color.startswith("#") and rng.random() < 0.5:
        return f"{number(n, rng)} {noun} in {ob.color}"
    return f"{number(n, rng)} {c}{noun}"


def join_list(items: list[str], rng: random.Random) -> str:
    """Items joined as English: 'a, b and c', or with the serial comma ('a, b, and c') about a quarter of the time."""
    if len(items) == 1:
        return items[0]
    if rng.random() < 0.5:
        return ", ".join(items[:-1]) + " and " + items[-1]
    return ", ".join(items[:-1]) + (", and " if rng.random() < 0.5 else " and ") + items[-1]


def with_frame(core: str, background: str, rng: random.Random, *, bg_forced: bool) -> str:
    """Add a random prefix and, for non-default (or sometimes default) backgrounds, a background clause."""
    s = rng.choice(PREFIXES) + core
    if background == "transparent":
        s += rng.choice(
            (
                " on a transparent background",
                " with a transparent background",
                ", transparent background",
                " with no background",
            )
        )
    elif bg_forced or rng.random() < 0.1:
        s += rng.choice(BG_TEMPLATES).format(bg=color_word(background, rng))
    return s


def quote(text: str, rng: random.Random) -> str:
    """`text` quoted as prompts quote text to draw: in double quotes when it holds an apostrophe (and 40%
    of the time anyway), else in single quotes."""
    if "'" in text or rng.random() < 0.4:
        return f'"{text}"'
    return f"'{text}'"
