"""Paraphrases: a second, freer caption for a data-engine example, written from its record.

The samplers' captions (captions.py) follow the way each scene was built: colour before noun, one
relation order, a few openers. People write prompts in many more ways ("a heart with a star to its
left", "six squares colored brown", "a grid of 2 rows and 3 columns, in reading order: ..."), and a
small prior that never saw a construction reads it badly (bench/layout_accuracy.py --heldout). This
module re-captions an example from what it must show (its world.md record, plus the scene for the
text's colour and the objects' sizes) with a compositional grammar: openers x noun phrases (colour
before or after the noun, hyphenated, "with the colour ...") x counts x connectors x relation
phrasings (either object first) x background clauses. Training swaps it in for a share of examples
(SceneBatcher `paraphrase`).

It never reads the eval's own rephrasings (evals/heldout.py); both write common English, so some
constructions coincide. The eval's held-out prompts stay excluded verbatim after paraphrasing.

Every function takes an explicit `random.Random`, so paraphrases are reproducible from a seed.
"""

from __future__ import annotations

import random
from typing import Any

from limner.data.captions import article, color_word, number, quote
from limner.data.scene import Scene, SceneObject
from limner.data.world import PLURALS

OPENERS = (
    "", "", "", "", "a picture of ", "draw ", "draw me ", "make ", "make an image with ", "an image of ",
    "an image containing ", "an image showing ", "a picture showing ", "show ", "show me ", "please draw ",
    "please make ", "please create ", "create ", "generate ", "render ", "depict ", "sketch ", "paint ",
    "illustrate ", "i want ", "i would like ", "i'd like ", "i need ", "give me ", "could you draw ",
    "can you make ", "a drawing of ", "an illustration of ", "a simple image of ", "a graphic with ",
    "a scene with ", "image: ", "picture: ", "produce ",
)
# A colour's place in a singular noun phrase; {c} the colour, {n} the noun.
COLOUR_FORMS = (
    "{c} {n}", "{c} {n}", "{c} {n}", "{n} in {c}", "{n} colored {c}", "{n} coloured {c}", "{c}-colored {n}",
    "{c}-coloured {n}", "{n} with the colour {c}", "{n} with the color {c}", "{n} filled with {c}",
    "{n} painted {c}", "{n} that is {c}",
)
# The same for a counted plural; {k} the count.
PLURAL_FORMS = (
    "{k} {c} {n}", "{k} {c} {n}", "{k} {n} in {c}", "{k} {n} colored {c}", "{k} {n} coloured {c}",
    "{k} {c}-colored {n}", "{k} {n} painted {c}", "{k} {n}, all {c}", "{k} {n} that are {c}",
)
COUNT_FORMS = ("{k}", "{k}", "{k}", "exactly {k}", "precisely {k}", "a total of {k}", "a group of {k}")
SINGLE_DETERMINERS = ("a", "a", "a", "one", "a single", "just one", "the", "one single")
CONNECTORS = (
    " and ", " and ", ", and ", " together with ", " as well as ", " plus ", " along with ", " alongside ",
    " with ", " and also ", ", plus ", " accompanied by ",
)
# Relation phrasings with the located object a first, then with the reference b first.
A_FIRST = {
    "left of": ("left of", "to the left of", "on the left of", "on the left side of", "placed left of"),
    "right of": ("right of", "to the right of", "on the right of", "on the right side of", "placed right of"),
    "above": ("above", "over", "placed above", "sitting above", "positioned above"),
    "below": ("below", "under", "beneath", "underneath", "placed below"),
}
B_FIRST = {
    "left of": ("to its left", "on its left", "on the left of it", "left of it"),
    "right of": ("to its right", "on its right", "on the right of it", "right of it"),
    "above": ("above it", "over it", "placed above it"),
    "below": ("below it", "under it", "beneath it", "underneath it"),
}
BACKGROUNDS = (
    " on a {b} background", " with a {b} background", ", background: {b}", ", {b} background", " on {b}",
    " against a {b} backdrop", " with the background in {b}", " over a {b} background", " set against {b}",
    " with {b} as the background", "; the background is {b}", " on a plain {b} background", " (background {b})",
)
TRANSPARENT = (
    " on a transparent background", ", background=transparent", " with a see-through background",
    " with no background", ", transparent background", " with a transparent backdrop",
    " with the background transparent", " (transparent background)", " on a clear background",
)
GRID_HEADS = (
    "a {r} by {c} grid: ", "a {r}x{c} grid of ", "a {r}-by-{c} grid containing ",
    "a grid of {r} rows and {c} columns: ",
    "a grid with {r} rows and {c} columns, in reading order: ", "{r} rows by {c} columns: ",
    "{r} rows and {c} columns of ", "a grid, {r} rows by {c} columns: ", "a {r} by {c} grid with ",
)
TEXT_FORMS = (
    "the text {q}", "the words {q}", "the word {q}", "a sign with {q} on it", "a sign that says {q}",
    "lettering that reads {q}", "text reading {q}", "{q} written out", "the phrase {q}", "write {q}",
    "the caption {q}", "words that say {q}",
)


def _size_word(ob: SceneObject | None, rng: random.Random) -> str:
    return f"{ob.size} " if ob is not None and ob.size != "medium" and rng.random() < 0.6 else ""


def thing(entry: dict[str, Any], ob: SceneObject | None, rng: random.Random) -> str:
    """A noun phrase for one include entry ({class, count, color|hex}); `ob`, a scene object of the entry,
    may add its size word."""
    n, cls = int(entry.get("count", 1)), entry["class"]
    col = entry.get("color") or entry.get("hex")
    c = color_word(col, rng) if col else None
    if n == 1:
        noun = _size_word(ob, rng) + cls
        body = rng.choice(COLOUR_FORMS).format(c=c, n=noun) if c else noun
        det = rng.choice(SINGLE_DETERMINERS)
        return f"{article(body)} {body}" if det == "a" else f"{det} {body}"
    k = rng.choice(COUNT_FORMS).format(k=number(n, rng))
    if c:
        return rng.choice(PLURAL_FORMS).format(k=k, c=c, n=PLURALS[cls])
    return f"{k} {PLURALS[cls]}"


def background_clause(bg: str | None, rng: random.Random) -> str:
    """The clause naming a background: always for a colour or transparency, a tenth of the time for white."""
    if bg == "transparent":
        return rng.choice(TRANSPARENT)
    if bg is None or bg == "white":
        return rng.choice(BACKGROUNDS).format(b="white") if rng.random() < 0.1 else ""
    return rng.choice(BACKGROUNDS).format(b=color_word(bg, rng))


def _scene_object(scene: Scene, cls: str) -> SceneObject | None:
    return next((o for o in scene.objects if o.cls == cls), None)


def _position(rec: dict[str, Any], scene: Scene, rng: random.Random) -> str:
    inc = rec["include"]
    k = next(i for i, e in enumerate(inc) if "position" in e)
    rel, j = inc[k]["position"]
    a = thing(inc[k], _scene_object(scene, inc[k]["class"]), rng)
    b = thing(inc[j], _scene_object(scene, inc[j]["class"]), rng)
    u = rng.random()
    if u < 0.55:
        verb = rng.choice(("", "", "is ", "sits ", "located "))
        return f"{a} {verb}{rng.choice(A_FIRST[rel])} {b}"
    if u < 0.85:
        joiner = rng.choice((" with ", " with ", " and ", ", with ", " that has ", " and then "))
        return f"{b}{joiner}{a} {rng.choice(B_FIRST[rel])}"
    lead = rng.choice(A_FIRST[rel])
    return f"{lead} {b}, {a}"


def _grid(rec: dict[str, Any], rng: random.Random) -> str:
    g = rec["grid"]
    r, c = g["rows"], g["cols"]
    rs, cs = (number(r, rng), number(c, rng)) if rng.random() < 0.5 else (str(r), str(c))
    head = rng.choice(GRID_HEADS).format(r=rs, c=cs)
    items = [thing({**cell, "count": 1}, None, rng) for cell in g["cells"]]
    sep = rng.choice((", ", "; ", ", ", "; then "))
    return head + sep.join(items)


def _text(rec: dict[str, Any], scene: Scene, rng: random.Random) -> str:
    lines = rec["text"].split("\n")
    q = ", ".join(quote(ln, rng) for ln in lines)
    core = rng.choice(TEXT_FORMS).format(q=q)
    if len(lines) > 1 and rng.random() < 0.5:
        core = rng.choice(("{k} lines of text: {q}", "text on {k} lines: {q}", "{k} lines: {q}")).format(
            k=number(len(lines), rng), q=q)
    st = scene.text
    if st is not None and st.panel is None and st.color != "black" and rng.random() < 0.7:
        c = color_word(st.color, rng)
        core += rng.choice((f" in {c}", f" written in {c}", f" in {c} letters", f", {c} text"))
    elif st is not None and st.panel is not None and rng.random() < 0.7:
        core = f"{article(st.panel)} {color_word(st.panel, rng)} sign with {q} on it"
    if st is not None and (st.position != "center" or rng.random() < 0.2):
        core += rng.choice((f" at the {st.position}", f" in the {st.position}", f", {st.position}"))
    return core


def paraphrase(rec: dict[str, Any], scene: Scene, rng: random.Random) -> str | None:
    """A fresh prompt for the example with world.md record `rec` and scene `scene`; None for records this
    grammar does not cover (no world.md tag)."""
    tag = rec.get("tag")
    if tag == "text":
        core = _text(rec, scene, rng)
    elif tag == "dense_grid":
        core = _grid(rec, rng)
    elif tag == "position":
        core = _position(rec, scene, rng)
    elif tag in ("single_object", "two_object", "counting", "colors", "color_attr", "hex_color"):
        things = [thing(e, _scene_object(scene, e["class"]), rng) for e in rec["include"]]
        core = things[0] if len(things) == 1 else rng.choice(CONNECTORS).join(things)
    else:
        return None
    opener = "" if core.startswith("write ") else rng.choice(OPENERS)
    return opener + core + background_clause(rec.get("background"), rng)
