"""The built-in planner of thinking mode: a free-form world prompt -> one or more `ScenePlan`s.

It needs no model. The prompt is read noun by noun: every object noun (a world class, its plural, a
generic "shape"/"object"/"thing", or an uploaded reference) collects the count, size and colour words in
front of it and the colour / position phrases after it; relation words between two nouns link them.
Quoted strings (and "the word HELLO") become text lines, "R by C grid" a grid, "on a blue background"
the background, "three variations" / "a four-panel strip" several images.

What the prompt leaves open is filled with *deliberate, seeded* diversity (a "shape" is not always a
red circle): classes uniformly over the world's 16, colours uniformly over those that contrast with the
background, an absolute position for a lone object. Every choice is listed in `plan.notes`. The same
prompt and seed always give the same plans; another seed gives other choices.
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass, field

from limner.data.sampler import rand_color
from limner.data.world import COLOR_ALIASES, COLORS, NUMBER_WORDS, OBJECTS, PLURALS, POSITIONS
from limner.engine.glyphs import requested_text
from limner.limits import MAX_PLANNED_IMAGES
from limner.studio.plan import PlanGrid, PlanObject, PlanText, ScenePlan

MAX_OBJECTS = 6
GENERIC = {"shape", "shapes", "object", "objects", "thing", "things", "figure", "figures", "symbol", "symbols",
           "icon", "icons", "something", "item", "items"}
SIZE_WORDS = {"small": "small", "tiny": "small", "little": "small", "medium": "medium", "large": "large",
              "big": "large", "huge": "large"}
COUNT_WORDS = {**{w: i for i, w in enumerate(NUMBER_WORDS)}, "a": 1, "an": 1, "single": 1, "pair": 2, "couple": 2}
POS_WORDS = {"top left": "top left", "upper left": "top left", "top right": "top right", "upper right": "top right",
             "bottom left": "bottom left", "lower left": "bottom left", "bottom right": "bottom right",
             "lower right": "bottom right", "center": "center", "centre": "center", "middle": "center",
             "left": "left", "right": "right", "top": "top", "bottom": "bottom"}
RELATION_WORDS = (("left of", "left of"), ("right of", "right of"), ("above", "above"), ("over", "above"),
                  ("below", "below"), ("under", "below"), ("beneath", "below"), ("underneath", "below"))
OWN_RELATIONS = {"to its left": "left of", "to its right": "right of", "above it": "above", "below it": "below",
                 "under it": "below", "over it": "above"}
BOUNDARIES = {"and", "plus", "with", "together", "also", ";", "then", "beside", "next"}
_COLOR = r"(#[0-9a-fA-F]{6}|" + "|".join(sorted([*COLORS, *COLOR_ALIASES], key=len, reverse=True)) + ")"
_NUM = r"(\d+|" + "|".join(NUMBER_WORDS[1:]) + ")"
_REF = re.compile(r"\b(?:the|this|that|my)\s+(?:same\s+)?(?:object|shape|thing|symbol)\s+(?:shown\s+)?"
                  r"(?:as\s+)?(?:in|from|of|on)\s+"
                  r"(?:this|the|that|my)?\s*(first|second|third|1st|2nd|3rd|last|other)?\s*"
                  r"(?:uploaded\s+)?(?:image|picture|upload|photo|reference)\b")
_MULTI = re.compile(r"\b" + _NUM + r"(?:\s+different)?\s+(variations|versions|variants|options|alternatives|takes|"
                    r"images|pictures)\b|\b" + _NUM + r"[- ]panel(?:\s+(?:strip|comic))?\b")
_GRID = (re.compile(r"\b" + _NUM + r"\s*(?:-?by-?|x|×)\s*" + _NUM + r"\s+grid\b"),
         re.compile(r"\bgrid\s+(?:of|with)\s+" + _NUM + r"\s+rows?\s+(?:and|by)\s+" + _NUM + r"\s+columns?\b"),
         re.compile(r"\b" + _NUM + r"\s+rows?\s+(?:by|and|of)\s+" + _NUM + r"\s+columns?\b"))
_BG = (re.compile(r"background\s*=\s*transparent|\btransparent\b|see-through|no background|\bcutout\b"),
       re.compile(r"\b(?:on|with|against|over)\s+(?:a|an|the)?\s*" + _COLOR + r"(?:\s*-?colou?red)?\s+"
                  r"(?:background|backdrop)\b"),
       re.compile(r"\bbackground\s*(?::|=|is|in|of|colou?red)\s*(?:a\s+)?" + _COLOR + r"\b"),
       re.compile(r"\b" + _COLOR + r"\s+(?:background|backdrop)\b"),
       re.compile(r",?\s+on\s+" + _COLOR + r"\s*$"))


class PlannerError(ValueError):
    """The prompt cannot be planned (e.g. it names an uploaded image and none was given)."""


@dataclass
class Plans:
    """A planner's answer: one plan per image, which planner made them, and notes about the whole request."""

    plans: list[ScenePlan]
    planner: str = "builtin"  # builtin | llm
    notes: list[str] = field(default_factory=list)  # planner-level notes (fallbacks, clipped requests)

    @property
    def revised_prompts(self) -> list[str]:
        """Each plan's revised prompt, in order."""
        return [p.revised_prompt() for p in self.plans]


def _num(word: str) -> int:
    return int(word) if word.isdigit() else NUMBER_WORDS.index(word)


def _canon_color(c: str) -> str:
    c = c.lower()
    return c.upper() if c.startswith("#") else COLOR_ALIASES.get(c, c)


def multi_image_request(prompt: str) -> tuple[int, str, str]:
    """(number of images asked for, 'variations' | 'panels' | '', prompt without the request)."""
    m = _MULTI.search(prompt.lower())
    if not m:
        return 1, "", prompt
    word = m.group(1) or m.group(3)
    kind = "panels" if m.group(3) else "variations"
    rest = (prompt[: m.start()] + prompt[m.end():]).strip(" ,:;")
    rest = re.sub(r"^(?:of|showing|with)\s+", "", rest.strip())
    return _num(word), kind, rest


def _background(text: str) -> tuple[str, str]:
    """(background, text with the background phrase blanked out)."""
    for i, rx in enumerate(_BG):
        m = rx.search(text)
        if m:
            bg = "transparent" if i == 0 else _canon_color(m.group(1))
            return bg, text[: m.start()] + " " + text[m.end():]
    return "white", text


@dataclass
class _Noun:
    start: int  # token index of the noun's first token
    end: int  # one past the last token
    cls: str | None  # None: generic ("a shape") or reference
    plural: bool
    ref: int | None = None  # index into the references


def _tokens(text: str) -> list[str]:
    return re.findall(r"#[0-9a-fA-F]{6}|ref\d+|[a-z]+|\d+|[,;]", text.replace("-", " "))


def _find_nouns(tok: list[str]) -> list[_Noun]:
    names = sorted([(o.split(), o, False) for o in OBJECTS] + [(PLURALS[o].split(), o, True) for o in OBJECTS],
                   key=lambda x: -len(x[0]))
    out: list[_Noun] = []
    i = 0
    while i < len(tok):
        if tok[i].startswith("ref") and tok[i][3:].isdigit():
            out.append(_Noun(i, i + 1, None, False, int(tok[i][3:])))
            i += 1
            continue
        for words, cls, plural in names:
            if tok[i:i + len(words)] == words:
                out.append(_Noun(i, i + len(words), cls, plural))
                i += len(words)
                break
        else:
            if tok[i] in GENERIC and not (i + 1 < len(tok) and tok[i + 1] == "grid"):
                out.append(_Noun(i, i + 1, None, tok[i].endswith("s") and tok[i] != "something"))
            i += 1
    return out


def _position_at(tok: list[str], i: int) -> tuple[str | None, int]:
    """An absolute position phrase starting at token i ('in the top left'), and its length."""
    j = i
    if j < len(tok) and tok[j] in ("in", "at", "on", "to", "near", "toward", "towards"):
        j += 1
    if j < len(tok) and tok[j] == "the":
        j += 1
    for n in (2, 1):
        w = " ".join(tok[j:j + n])
        if w in POS_WORDS and (j + n >= len(tok) or tok[j + n] != "of") and (j > i or n == 2):
            return POS_WORDS[w], j + n - i
    return None, 0


@dataclass
class _Spec:
    cls: str | None
    count: int = 1
    color: str | None = None
    size: str = "medium"
    position: str | None = None
    relation: tuple[str, int] | None = None
    generic: bool = False


def _read_nouns(tok: list[str], nouns: list[_Noun], refs: list[PlanObject]) -> list[_Spec]:
    specs: list[_Spec] = []
    for k, n in enumerate(nouns):
        spec = _Spec(n.cls, generic=n.cls is None and n.ref is None)
        if n.ref is not None:
            if n.ref >= len(refs):
                raise PlannerError(f"the prompt names uploaded image {n.ref + 1} but {len(refs)} image(s) were given")
            spec.cls, spec.color, spec.size = refs[n.ref].cls, refs[n.ref].color, refs[n.ref].size
        lo = nouns[k - 1].end if k else 0
        back = tok[lo:n.start]
        for b in range(len(back) - 1, -1, -1):  # walk back to the nearest boundary
            if back[b] in BOUNDARIES or back[b] in (",", ";", "of", "above", "below", "over", "under", "beneath"):
                back = back[b + 1:]
                break
        for w in back:
            if w in SIZE_WORDS:
                spec.size = SIZE_WORDS[w]
            elif w in COLORS or w in COLOR_ALIASES or w.startswith("#"):
                spec.color = _canon_color(w)
            elif w.isdigit() or w in COUNT_WORDS:
                spec.count = int(w) if w.isdigit() else COUNT_WORDS[w]
        if n.plural and spec.count == 1 and not any(w in ("a", "an", "one", "single") for w in back):
            spec.count = 2  # "stars" with no number: a few
        hi = nouns[k + 1].start if k + 1 < len(nouns) else len(tok)
        i = n.end
        while i < hi:
            w = tok[i]
            if w in ("in", "colored", "coloured", "but", "painted", "filled", "with", "colour", "color") and i + 1 < hi:
                j = i + 1
                while j < hi and tok[j] in ("with", "the", "colour", "color", "in", "a"):
                    j += 1
                if j < hi and (tok[j] in COLORS or tok[j] in COLOR_ALIASES or tok[j].startswith("#")):
                    spec.color = _canon_color(tok[j])
                    i = j + 1
                    continue
                if w == "but" and j < hi and tok[j] in SIZE_WORDS:
                    spec.size = SIZE_WORDS[tok[j]]
                    i = j + 1
                    continue
            pos, used = _position_at(tok, i)
            if pos is not None:
                spec.position = pos
                i += used
                continue
            if w in ("and", "plus") or any(" ".join(tok[i:i + len(r.split())]) == r for r, _ in RELATION_WORDS):
                break
            i += 1
        specs.append(spec)
    _link_relations(tok, nouns, specs)
    return specs


def _link_relations(tok: list[str], nouns: list[_Noun], specs: list[_Spec]) -> None:
    for k in range(len(nouns) - 1):
        between = " ".join(tok[nouns[k].end:nouns[k + 1].start])
        for word, rel in RELATION_WORDS:
            if re.search(r"\b" + word + r"\b", between):
                specs[k].relation, specs[k].position = (rel, k + 1), None
                break
        after = " ".join(tok[nouns[k + 1].end:nouns[k + 2].start if k + 2 < len(nouns) else len(tok)])
        for phrase, rel in OWN_RELATIONS.items():
            if phrase in after:  # "a heart with a star to its left": the star is left of the heart
                specs[k + 1].relation, specs[k + 1].position = (rel, k), None


# Irrational steps of Weyl sequences: the first free choice of seed s is pool[frac(s * step) * len(pool)], so
# consecutive (or evenly spaced) seeds spread over the pool almost evenly instead of repeating by chance; a
# user who resamples a vague prompt 20 times sees nearly every colour and shape.
_STEPS = {"class": 0.6180339887498949, "color": 0.4142135623730951, "position": 0.7320508075688772}


def spread_choice(seed: int, pool: list[str], what: str) -> str:
    """A low-discrepancy pick from `pool` for this seed (see _STEPS)."""
    return pool[int((seed * _STEPS[what]) % 1.0 * len(pool))]


def _fill(specs: list[_Spec], bg: str, rng: random.Random, notes: list[str], seed: int) -> list[PlanObject]:
    objs: list[PlanObject] = []
    used_cls: list[str] = []
    used_col: list[str] = []
    for s in specs:
        # A generic plural ("four shapes") is four different objects, not four copies of one.
        copies = s.count if s.generic and s.count > 1 else 1
        for _ in range(copies):
            cls, free = s.cls, []
            if cls is None:
                free.append("class")
                pool = [o for o in OBJECTS if o not in used_cls] or list(OBJECTS)
                cls = spread_choice(seed, pool, "class") if not objs else rng.choice(pool)
                notes.append(f"chose {'an' if cls[0] in 'aeiou' else 'a'} {cls} for the unspecified shape")
            color = s.color
            if color is None:
                free.append("color")
                color = rand_color(rng, bg, avoid=tuple(used_col))
                if not objs:
                    color = spread_choice(seed, _contrasting(bg), "color")
                notes.append(f"chose {color} for the {cls}")
            used_cls.append(cls)
            used_col.append(color)
            objs.append(PlanObject(cls, color, s.size, 1 if copies > 1 else min(s.count, MAX_OBJECTS), s.position,
                                   s.relation, tuple(free)))
    if len(objs) == 1 and objs[0].position is None and objs[0].relation is None and objs[0].count == 1:
        objs[0].position = spread_choice(seed, list(POSITIONS), "position")
        objs[0].free = (*objs[0].free, "position")
        notes.append(f"placed the {objs[0].cls} in the {objs[0].position}")
    return objs


def _contrasting(bg: str) -> list[str]:
    """World colours far enough from the background to be seen (the data engine's rule)."""
    if bg == "transparent":
        return list(COLORS)
    from limner.data.world import color_rgb

    return [c for c in COLORS if math.dist(COLORS[c], color_rgb(bg)) >= 110.0]


def _grid(text: str) -> tuple[int, int, str] | None:
    for rx in _GRID:
        m = rx.search(text)
        if m:
            r, c = _num(m.group(1)), _num(m.group(2))
            if 1 <= r <= 4 and 1 <= c <= 4:
                return r, c, text[m.end():]
    return None


def _text(prompt: str, rng: random.Random, bg: str) -> PlanText | None:
    st = requested_text(prompt)
    if st is None:
        return None
    outside = re.sub(r"(['\"]).*?\1", " ", prompt.lower())
    t = PlanText([ln[:16] for ln in st.lines], None, st.position)
    m = re.search(_COLOR + r"\s+(?:sign|board|banner|poster|placard|plaque)\b", outside)
    if m:
        t.panel = _canon_color(m.group(1))
    elif re.search(r"\b(?:sign|board|placard)\b", outside):
        t.panel = rand_color(rng, bg, avoid=("black", "white", "brown", "gray", "purple", "blue"))
    m = re.search(r"(?:text|word|words|letters|lettering|written|says|reading)\b[^,;]*?\bin\s+" + _COLOR, outside) \
        or re.search(_COLOR + r"\s+(?:text|letters|lettering|words|word)\b", outside)
    if m and t.panel is None:
        t.color = _canon_color(m.group(1))
    return t


def _plan_one(prompt: str, seed: int, refs: list[PlanObject]) -> ScenePlan:
    rng = random.Random(seed)
    low = prompt.lower()
    quoted_free = re.sub(r"(['\"]).*?\1", " ", prompt).lower()
    bg, work = _background(quoted_free)
    refs_seen = 0
    order = {"first": 0, "1st": 0, "second": 1, "2nd": 1, "third": 2, "3rd": 2, "last": max(0, len(refs) - 1),
             "other": 1}

    def ref_sub(m: re.Match[str]) -> str:
        nonlocal refs_seen
        idx = order.get(m.group(1) or "", refs_seen)
        refs_seen += 1
        return f" ref{idx} "

    work = _REF.sub(ref_sub, work)
    if "'" not in prompt and '"' not in prompt and requested_text(prompt):  # "the word HELLO": not an object
        work = re.sub(r"\b(?:the\s+)?(?:word|text)\s+[a-z0-9!?.&'-]+\b", " ", work)
    notes: list[str] = []
    plan = ScenePlan(background=bg, notes=notes)
    if any(w in low for w in ("landscape", "wide", "banner")):
        plan.size = (384, 256)
    elif any(w in low for w in ("portrait", "tall", "poster")):
        plan.size = (256, 384)
    plan.text = _text(prompt, rng, bg)
    grid = _grid(work)
    if grid is not None:
        rows, cols, rest = grid
        tok = _tokens(rest)
        specs = _read_nouns(tok, _find_nouns(tok), refs)
        cells: list[PlanObject] = []
        for s in specs:
            for _ in range(max(1, s.count)):
                cells.append(PlanObject(s.cls or rng.choice(OBJECTS), s.color or rand_color(rng, bg), "medium"))
        if len(cells) < rows * cols:
            notes.append(f"filled {rows * cols - len(cells)} empty grid cell(s) with chosen shapes")
        while len(cells) < rows * cols:
            cells.append(PlanObject(rng.choice(OBJECTS), rand_color(rng, bg)))
        if len(cells) > rows * cols:
            notes.append(f"the grid has {rows * cols} cells; dropped {len(cells) - rows * cols} extra object(s)")
        plan.grid = PlanGrid(rows, cols, cells[: rows * cols])
        return plan
    tok = _tokens(work)
    specs = _read_nouns(tok, _find_nouns(tok), refs)
    if refs and refs_seen == 0 and not specs:
        specs = [_Spec(r.cls, color=r.color) for r in refs]  # "like this, but green": the reference is the subject
    if not specs and plan.text is None:
        specs = [_Spec(None, generic=True) for _ in range(rng.randint(1, 3))]
        notes.append("the prompt names no object: chose some")
    total = sum(s.count for s in specs)
    if total > MAX_OBJECTS:
        notes.append(f"{total} objects asked; the world draws at most {MAX_OBJECTS}")
        for s in specs:
            s.count = max(1, min(s.count, MAX_OBJECTS // max(1, len(specs))))
    plan.objects = _fill(specs, bg, rng, notes, seed)
    return plan


def plan_prompt(prompt: str, seed: int = 0, references: list[PlanObject] | None = None) -> Plans:
    """The built-in planner: prompt -> Plans (several when the prompt asks for variations or panels)."""
    k, kind, rest = multi_image_request(prompt)
    notes: list[str] = []
    if k > MAX_PLANNED_IMAGES:
        notes.append(f"{k} images asked; answering with {MAX_PLANNED_IMAGES}")
        k = MAX_PLANNED_IMAGES
    k = max(1, k)
    refs = list(references or [])
    plans = [_plan_one(rest if kind else prompt, seed * 7919 + i, refs) for i in range(k)]
    if kind:
        notes.append(f"answering with {k} {kind}")
    return Plans(plans, "builtin", notes)
