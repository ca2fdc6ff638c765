"""Random scenes with their captions and eval records, one sampler per tag.

`sample(tag, rng)` returns an `Example`: the scene (which `render` draws exactly), a prompt, and the
record in the JSON Lines format of shared/world.md. The same code makes training data and the
held-out eval set, with disjoint seeds and an exclusion list of held-out prompts.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from limner.data import captions as cap
from limner.data.scene import TEXT_POSITIONS, Scene, SceneObject, SceneText
from limner.data.world import COLORS, OBJECTS, POSITIONS, RELATIONS, SIZES, color_rgb

TEXT_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
TEXT_PUNCT = ".,!?'-:&"
WORDS = (
    "OPEN",
    "SALE",
    "HELLO",
    "STOP",
    "CAFE",
    "EXIT",
    "LIMNER",
    "WELCOME",
    "HOME",
    "PARK",
    "NEWS",
    "FRESH",
    "BOOKS",
    "DAYS",
    "SHOP",
    "ART",
    "MUSIC",
    "LOVE",
    "YES",
    "NO",
    "GO",
    "NOW",
    "FREE",
    "BEST",
    "TODAY",
    "HOTEL",
    "TAXI",
    "PIZZA",
    "GARDEN",
    "WINTER",
    "SUMMER",
    "NORTH",
    "SOUTH",
    "CITY",
    "TEA",
    "BAR",
    "ZONE",
    "ROOM",
)


@dataclass
class Example:
    """One training or eval example: the scene (`render` draws it exactly), its caption, its world.md record."""

    scene: Scene
    prompt: str
    record: dict[str, Any] = field(default_factory=dict)


def _far(c1: tuple[int, int, int], c2: tuple[int, int, int], d: float = 110.0) -> bool:
    return math.dist(c1, c2) >= d


def rand_color(rng: random.Random, background: str, avoid: tuple[str, ...] = ()) -> str:
    """A random named world colour not in `avoid` that stands out from `background` (RGB distance >= 110)."""
    bg = None if background == "transparent" else color_rgb(background)
    names = [c for c in COLORS if c not in avoid and (bg is None or _far(COLORS[c], bg))]
    return rng.choice(names)


def rand_hex(rng: random.Random, background: str) -> str:
    """A random #RRGGBB colour that stands out from `background` (RGB distance >= 130)."""
    bg = None if background == "transparent" else color_rgb(background)
    while True:
        rgb = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        if bg is None or _far(rgb, bg, 130.0):
            return "#{:02X}{:02X}{:02X}".format(*rgb)


def rand_background(rng: random.Random, p_plain: float = 0.75) -> str:
    """White with probability `p_plain`, then transparent and a non-white named colour with 0.1 each, and a
    random #RRGGBB for the rest."""
    u = rng.random()
    if u < p_plain:
        return "white"
    if u < p_plain + 0.1:
        return "transparent"
    if u < p_plain + 0.2:
        return rng.choice([c for c in COLORS if c != "white"])
    # a light or dark hex background
    return "#{:02X}{:02X}{:02X}".format(*[rng.randrange(256) for _ in range(3)])


def on_colour(background: str | None) -> bool:
    """Whether a scene's background is a colour: neither white nor transparent (None, a record's missing
    "background", means white)."""
    return background not in (None, "white", "transparent")


def recoloured(ex: Example, rng: random.Random) -> Example:
    """`ex` redrawn on a random coloured background (a non-white named colour or a random #RRGGBB) at least
    110 RGB away from every object's, text's and panel's colour; `ex` itself when it is not on white or no
    such colour turns up.

    Decoder training only (SceneBatcher `recolour`): the caption and record still describe the white
    scene, and the decoder stage never reads them. Most scenes are drawn on white, but paint mode must draw
    objects over any background the prior picks."""
    sc = ex.scene
    if sc.background != "white":
        return ex
    inks = [color_rgb(o.color) for o in sc.objects]
    if sc.text is not None:
        inks += [color_rgb(c) for c in (sc.text.color, sc.text.panel) if c is not None]
    for _ in range(20):
        bg = rand_background(rng, 0.0)
        if bg != "transparent" and all(_far(color_rgb(bg), ink) for ink in inks):
            return dataclasses.replace(ex, scene=dataclasses.replace(sc, background=bg))
    return ex


def place(rng: random.Random, radii: list[float], w: int, h: int, gap: float = 6.0) -> list[tuple[float, float]] | None:
    """Non-overlapping centres (pixels) for circles of the given radii, or None after many tries."""
    for _ in range(200):
        pts: list[tuple[float, float]] = []
        ok = True
        for r in radii:
            for _ in range(100):
                x, y = rng.uniform(r + 4, w - r - 4), rng.uniform(r + 4, h - r - 4)
                if all(math.dist((x, y), p) > r + rr + gap for p, rr in zip(pts, radii, strict=False)):
                    pts.append((x, y))
                    break
            else:
                ok = False
                break
        if ok:
            return pts
    return None


def _canvas(rng: random.Random) -> tuple[int, int]:
    u = rng.random()
    return (256, 256) if u < 0.8 else ((384, 256) if u < 0.9 else (256, 384))


def _scatter(rng: random.Random, objs: list[SceneObject], w: int, h: int) -> bool:
    pts = place(rng, [o.radius(w, h) for o in objs], w, h)
    if pts is None:
        return False
    for o, (x, y) in zip(objs, pts, strict=True):
        o.cx, o.cy = x / w, y / h
    return True


def _size(rng: random.Random, p_medium: float = 0.6) -> str:
    return "medium" if rng.random() < p_medium else rng.choice(("small", "large"))


def _objects_scene(rng: random.Random, tag: str) -> Example:
    w, h = _canvas(rng)
    bg = rand_background(rng)
    rec: dict[str, Any]
    if tag == "single_object":
        o = SceneObject(rng.choice(OBJECTS), rand_color(rng, bg), _size(rng))
        use_pos = rng.random() < 0.35
        if use_pos:
            p = rng.choice(list(POSITIONS))
            o.cx, o.cy = POSITIONS[p]
            o.cx += rng.uniform(-0.03, 0.03)
            o.cy += rng.uniform(-0.03, 0.03)
        else:
            _scatter(rng, [o], w, h)
        show_color = rng.random() < 0.6
        core = cap.noun_phrase(o, rng, color=show_color, size=True)
        if use_pos:
            core = rng.choice(cap.POS_TEMPLATES).format(o=core, p=cap.pos_word(p, rng))
        inc: dict[str, Any] = {"class": o.cls, "count": 1}
        if show_color:
            inc["color"] = o.color
        rec = {"include": [inc]}
        objs = [o]
    elif tag in ("two_object", "color_attr", "colors", "hex_color"):
        n_obj = 1 if tag in ("colors", "hex_color") else 2
        classes = rng.sample(OBJECTS, n_obj)
        cols: list[str] = []
        for _ in classes:
            cols.append(rand_hex(rng, bg) if tag == "hex_color" else rand_color(rng, bg, avoid=tuple(cols)))
        objs = [
            SceneObject(c, col, _size(rng, 0.7 if n_obj == 2 else 0.5)) for c, col in zip(classes, cols, strict=True)
        ]
        if not _scatter(rng, objs, w, h):
            return _objects_scene(rng, tag)
        show_color = tag != "two_object" or rng.random() < 0.5
        core = cap.join_list([cap.noun_phrase(o, rng, color=show_color, size=rng.random() < 0.3) for o in objs], rng)
        incs = []
        for o in objs:
            inc = {"class": o.cls, "count": 1}
            if show_color:
                inc["hex" if tag == "hex_color" else "color"] = o.color
            incs.append(inc)
        rec = {"include": incs}
    elif tag == "counting":
        n = rng.randint(1, 6)
        o0 = SceneObject(
            rng.choice(OBJECTS), rand_color(rng, bg), "small" if n > 3 else rng.choice(("small", "medium"))
        )
        objs = [SceneObject(o0.cls, o0.color, o0.size) for _ in range(n)]
        if not _scatter(rng, objs, w, h):
            return _objects_scene(rng, tag)
        show_color = rng.random() < 0.6
        core = cap.plural_phrase(n, o0, rng, color=show_color)
        inc = {"class": o0.cls, "count": n}
        if show_color:
            inc["color"] = o0.color
        rec = {"include": [inc], "exclude": [{"class": o0.cls, "count": n + 1}]}
    elif tag == "position":
        a, b = (SceneObject(c, "", _size(rng, 0.7)) for c in rng.sample(OBJECTS, 2))
        show_color = rng.random() < 0.5
        a.color = rand_color(rng, bg)
        b.color = rand_color(rng, bg, avoid=(a.color,))
        rel = rng.choice(RELATIONS)
        along = rng.uniform(0.22, 0.32)
        mid = rng.uniform(0.4, 0.6)
        lo, hi = 0.5 - along, 0.5 + along
        if rel in ("left of", "right of"):
            a.cy, b.cy = mid + rng.uniform(-0.05, 0.05), mid + rng.uniform(-0.05, 0.05)
            a.cx, b.cx = (lo, hi) if rel == "left of" else (hi, lo)
        else:
            a.cx, b.cx = mid + rng.uniform(-0.05, 0.05), mid + rng.uniform(-0.05, 0.05)
            a.cy, b.cy = (lo, hi) if rel == "above" else (hi, lo)
        objs = [a, b]
        pa = cap.noun_phrase(a, rng, color=show_color, size=False)
        pb = cap.noun_phrase(b, rng, color=show_color, size=False)
        core = rng.choice(cap.REL_TEMPLATES[rel]).format(a=pa, b=pb)
        ib: dict[str, Any] = {"class": b.cls, "count": 1}
        ia: dict[str, Any] = {"class": a.cls, "count": 1, "position": [rel, 0]}
        if show_color:
            ib["color"], ia["color"] = b.color, a.color
        rec = {"include": [ib, ia]}
    else:
        raise ValueError(f"unknown tag {tag!r}")
    prompt = cap.with_frame(core, bg, rng, bg_forced=bg != "white")
    rec = {"tag": tag, "prompt": prompt, **rec}
    if bg != "white":
        rec["background"] = bg
    return Example(Scene(w, h, bg, objs), prompt, rec)


def _grid(rng: random.Random) -> Example:
    w, h = _canvas(rng) if rng.random() < 0.3 else (256, 256)
    bg = "white" if rng.random() < 0.85 else rand_background(rng, 0.0)
    rows, cols = rng.randint(1, 4), rng.randint(1, 4)
    if rows * cols == 1:
        cols = 2
    objs, cells = [], []
    cw, ch = w / cols, h / rows
    rf = 0.36 * min(cw, ch) / min(w, h)
    for r in range(rows):
        for c in range(cols):
            o = SceneObject(rng.choice(OBJECTS), rand_color(rng, bg), radius_frac=rf)
            o.cx, o.cy = (c + 0.5) * cw / w, (r + 0.5) * ch / h
            objs.append(o)
            cells.append({"class": o.cls, "color": o.color})
    items = [cap.noun_phrase(o, rng, color=True, size=False, det=rng.random() < 0.8) for o in objs]
    head = rng.choice(
        (
            f"a {rows} by {cols} grid: ",
            f"a {rows} by {cols} grid of ",
            f"a {rows}x{cols} grid: ",
            f"a grid with {rows} rows and {cols} columns: ",
            f"a {cap.number(rows, rng)} by {cap.number(cols, rng)} grid: ",
        )
    )
    core = head + cap.join_list(items, rng) if rng.random() < 0.5 else head + ", ".join(items)
    prompt = cap.with_frame(core, bg, rng, bg_forced=bg != "white")
    rec: dict[str, Any] = {"tag": "dense_grid", "prompt": prompt, "grid": {"rows": rows, "cols": cols, "cells": cells}}
    if bg != "white":
        rec["background"] = bg
    return Example(Scene(w, h, bg, objs), prompt, rec)


def rand_line(rng: random.Random, max_len: int = 16) -> str:
    """One line of sign text, 1 to `max_len` characters: a few words or numbers, or random capitals and
    digits (sometimes lower case too) with the odd punctuation mark or space."""
    u = rng.random()
    if u < 0.45:
        words: list[str] = []
        while True:
            wd = rng.choice(WORDS) if rng.random() < 0.7 else str(rng.randint(0, 999))
            if len(" ".join([*words, wd])) > max_len:
                break
            words.append(wd)
            if rng.random() < 0.45:
                break
        s = " ".join(words) or rng.choice(WORDS)[:max_len]
    else:
        n = rng.randint(1, max_len)
        pool = TEXT_ALPHABET + ("abcdefghijklmnopqrstuvwxyz" if rng.random() < 0.3 else "")
        s = "".join(rng.choice(pool) for _ in range(n))
        if n > 4 and rng.random() < 0.4:
            i = rng.randrange(1, n - 1)
            s = s[:i] + rng.choice(TEXT_PUNCT + "  ") + s[i + 1 :]
    if rng.random() < 0.15 and len(s) < max_len:
        s += rng.choice("!.?")
    return s.strip() or "A"


def _text(rng: random.Random) -> Example:
    w, h = _canvas(rng)
    bg = "white" if rng.random() < 0.7 else rand_background(rng, 0.0)
    n_lines = 1 if rng.random() < 0.6 else rng.randint(2, 3)
    lines = [rand_line(rng) for _ in range(n_lines)]
    position = "center" if rng.random() < 0.5 else rng.choice(list(TEXT_POSITIONS))
    quoted = ", ".join(cap.quote(ln, rng) for ln in lines)
    pos_clause = (
        ""
        if position == "center" and rng.random() < 0.7
        else rng.choice((f" at the {position}", f" in the {position}", f", {position}"))
    )
    if rng.random() < 0.4:
        panel = rand_color(rng, bg)
        st = SceneText(lines, "black", position, panel)
        core = rng.choice(
            (
                "{a} {c} sign that says {q}",
                "{a} {c} sign reading {q}",
                "{a} {c} sign with the text {q}",
                "{a} {c} sign saying {q}",
            )
        ).format(a=cap.article(panel), c=cap.color_word(panel, rng), q=quoted)
    else:
        col = rand_color(rng, bg) if rng.random() < 0.7 else rand_hex(rng, bg)
        st = SceneText(lines, col, position)
        c = cap.color_word(col, rng)
        core = rng.choice(
            (
                "the text {q} in {c}",
                "the word {q} in {c}",
                "{c} text that says {q}",
                "the words {q} written in {c}",
                "{q} in {c} letters",
                "{c} lettering: {q}",
            )
        ).format(q=quoted, c=c)
    if n_lines > 1 and rng.random() < 0.5:
        core = core.replace(quoted, f"{cap.number(n_lines, rng)} lines: {quoted}")
    prompt = cap.with_frame(core + pos_clause, bg, rng, bg_forced=bg != "white")
    rec: dict[str, Any] = {"tag": "text", "prompt": prompt, "text": "\n".join(lines)}
    if bg != "white":
        rec["background"] = bg
    if st.panel is None:  # the letters' colour is the prompt's (on a sign it is the panel's contrast)
        rec["text_color"] = st.color
    if pos_clause:
        rec["text_position"] = position
    return Example(Scene(w, h, bg, [], st), prompt, rec)


def _multi(rng: random.Random) -> Example:
    """Training-only: 3-6 distinct objects with colours, sizes and absolute positions (the 10-20 object regime)."""
    w, h = _canvas(rng)
    bg = rand_background(rng, 0.8)
    n = rng.randint(3, 6)
    objs = [
        SceneObject(c, rand_color(rng, bg), "small" if n > 4 else _size(rng, 0.7)) for c in rng.choices(OBJECTS, k=n)
    ]
    if not _scatter(rng, objs, w, h):
        return _multi(rng)
    core = cap.join_list([cap.noun_phrase(o, rng, color=True, size=rng.random() < 0.3) for o in objs], rng)
    prompt = cap.with_frame(core, bg, rng, bg_forced=bg != "white")
    return Example(Scene(w, h, bg, objs), prompt, {"tag": "multi", "prompt": prompt})


SAMPLERS: dict[str, Callable[[random.Random], Example]] = {
    **{
        t: functools.partial(_objects_scene, tag=t)
        for t in ("single_object", "two_object", "counting", "colors", "position", "color_attr", "hex_color")
    },
    "text": _text,
    "dense_grid": _grid,
    "multi": _multi,
}

# Training mixture: harder tags get more weight.
TRAIN_MIX: dict[str, float] = {
    "single_object": 1.0,
    "two_object": 1.0,
    "counting": 1.5,
    "colors": 0.7,
    "position": 1.2,
    "color_attr": 1.0,
    "hex_color": 1.2,
    "text": 2.0,
    "dense_grid": 2.0,
    "multi": 0.8,
}


def sample(tag: str, rng: random.Random) -> Example:
    """One random example of `tag` (a world.md tag, or 'multi')."""
    if tag not in SAMPLERS:
        raise ValueError(f"unknown tag {tag!r}: expected one of {sorted(SAMPLERS)}")
    return SAMPLERS[tag](rng)


def sample_mix(rng: random.Random, mix: dict[str, float] | None = None) -> Example:
    """One random example of a tag drawn with the weights of `mix` (default TRAIN_MIX)."""
    mix = mix or TRAIN_MIX
    tag = rng.choices(list(mix), weights=list(mix.values()))[0]
    return sample(tag, rng)


__all__ = ["Example", "on_colour", "recoloured", "sample", "sample_mix", "SAMPLERS", "TRAIN_MIX", "SIZES"]
