"""The fresh held-out set: every prompt written from its record with template families training never uses.

`python -m limner.evals.fresh --write` (or `--check`) builds `data/heldout-fresh.jsonl`, the default records of
`limner eval generation` and the set its figures of record come from.

Why a second set. The first held-out set (evals/heldout.py) rephrases only a third of its prompts, and some of
its templates ("a heart with a star to its left", "colored", "exactly") were later taught to the prior by
data/paraphrase.py. Its remaining two thirds are the sampler's own captions. A score on it says little about
wording people write. Here:

- Scenes come from the data engine with a seed of their own (FRESH_SEED), so they follow the world's
  distribution; the *wording* is held out whole: openers, colour forms, count forms, joiners, relation forms,
  grid headers, text forms and background clauses below are each a family that neither data/captions.py nor
  data/paraphrase.py writes (tests/evals/test_fresh.py checks every family's marker against thousands of
  training captions, and every prompt after normalisation).
- Filler and politeness the closed text vocabulary may not know stay in: the model must cope with them.
- Tuning (sampling defaults, checkpoint choice) uses the dev records of bench/sampling_sweep.py, never these.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any

from limner.data.sampler import sample
from limner.data.world import NUMBER_WORDS, PLURALS, TAGS
from limner.evals.heldout import set_main, shipped_lines, write_records
from limner.vision.records import validate_record

FRESH_SEED = 20_261_205
PER_TAG = 20
MODULE = "limner.evals.fresh"  # how to rebuild the file: python -m MODULE --write
PATH = Path(__file__).parent / "data" / "heldout-fresh.jsonl"

# Each family: the phrasings, and (in MARKERS) a marker that identifies the family in any caption.
OPENERS = ("could i get ", "i'm hoping for ", "for my slides, ", "quick request: ", "hey there, i need ",
           "picture this: ", "kindly produce ", "what i'm after is ")
SINGLE = ("{n} in the shade {c}", "{n} done in {c}", "{n}, tinted {c}", "{c}-toned {n}")
SINGLE_PLAIN = ("{n}", "{n}")
COUNT = ("{k} {p} in total, each {c}", "{p} in {c}, {k} of them", "{k} {p}, all of them {c}")
COUNT_PLAIN = ("{k} {p} in total", "{p}, {k} of them")
HEX = ("{n} in the exact colour {c}", "{n} whose colour code is {c}")
JOINERS = (" next to ", ", besides that ", " and, in addition, ")
REL_A_FIRST = {
    "left of": ("{a} sitting further left than {b}", "{a}, and to the right of it {b}"),
    "right of": ("{a} sitting further right than {b}", "{a}, and to the left of it {b}"),
    "above": ("{a} sitting higher up than {b}", "{a}, and lower down {b}"),
    "below": ("{a} sitting lower down than {b}", "{a}, and higher up {b}"),
}
GRID = ("tiles in {r} rows and {c} columns, read left to right then top to bottom: ",
        "a {r} row, {c} column arrangement holding ", "a table layout ({r} rows, {c} columns) with ")
TEXT = ("a banner reading {q}", "{q} in big letters", "a label saying {q}", "typography only: {q}")
TEXT_LINES = ("{k} rows of lettering: {q}",)
TEXT_COLOUR = (", lettered in {c}", ", the letters {c}")
TEXT_PLACE = {"top": ", placed near the top", "center": ", placed centrally", "bottom": ", placed near the bottom"}
BACKGROUND = (" over a {b} field", ", backdrop {b}", " on a {b} canvas")
TRANSPARENT = (" with an empty see-through backdrop", " with nothing behind it (transparent)")
MARKERS = ("could i get", "hoping for", "for my slides", "quick request", "hey there", "picture this",
           "kindly produce", "what i'm after", "in the shade", "done in", "tinted", "-toned", "in total",
           "of them", "exact colour", "colour code", "next to", "besides that", "in addition", "sitting further",
           "sitting higher", "sitting lower", "and to the right of it", "and to the left of it", "and lower down",
           "and higher up", "read left to right", "arrangement holding", "table layout", "a banner reading",
           "in big letters", "a label saying", "typography only", "rows of lettering", "lettered in", "the letters",
           "placed near the", "placed centrally", "field", ", backdrop ",
           "canvas", "see-through backdrop", "nothing behind it")


def _num(n: int, rng: random.Random) -> str:
    return str(n) if rng.random() < 0.5 else NUMBER_WORDS[n]


def _art(phrase: str) -> str:
    return "an" if phrase[0] in "aeiou" else "a"


def _thing(e: dict[str, Any], rng: random.Random) -> str:
    """One include entry (or grid cell) as a noun phrase of the held-out families."""
    n, cls = e.get("count", 1), e["class"]
    col = e.get("color") or e.get("hex")
    if n > 1:
        forms = COUNT if col else COUNT_PLAIN
        return rng.choice(forms).format(k=_num(n, rng), p=PLURALS[cls], c=col)
    if col is None:
        body = rng.choice(SINGLE_PLAIN).format(n=cls)
    elif col.startswith("#"):
        body = rng.choice(HEX).format(n=cls, c=col)
    else:
        body = rng.choice(SINGLE).format(n=cls, c=col)
    return f"{_art(body)} {body}"


def _background(bg: str | None, rng: random.Random) -> str:
    if bg is None or bg == "white":
        return ""
    if bg == "transparent":
        return rng.choice(TRANSPARENT)
    return rng.choice(BACKGROUND).format(b=bg)


def fresh_prompt(rec: dict[str, Any], rng: random.Random) -> str:
    """A prompt for record `rec` in the held-out families only."""
    tag = rec["tag"]
    if tag == "text":
        lines = rec["text"].split("\n")
        quoted = ", ".join(f'"{ln}"' for ln in lines)
        forms = TEXT_LINES if len(lines) > 1 else TEXT
        core = rng.choice(forms).format(q=quoted, k=_num(len(lines), rng))
        if "text_color" in rec:
            core += rng.choice(TEXT_COLOUR).format(c=rec["text_color"])
        if "text_position" in rec:
            core += TEXT_PLACE[rec["text_position"]]
    elif tag == "dense_grid":
        g = rec["grid"]
        head = rng.choice(GRID).format(r=_num(g["rows"], rng), c=_num(g["cols"], rng))
        core = head + "; ".join(_thing(c, rng) for c in g["cells"])
    elif tag == "position":
        b, a = rec["include"][0], rec["include"][1]
        core = rng.choice(REL_A_FIRST[a["position"][0]]).format(a=_thing(a, rng), b=_thing(b, rng))
    else:
        core = rng.choice(JOINERS).join(_thing(e, rng) for e in rec["include"])
    return rng.choice(OPENERS) + core + _background(rec.get("background"), rng)


def normalise(prompt: str) -> str:
    """Lower case, punctuation and quotes dropped, spaces collapsed: how leakage is compared."""
    return " ".join(re.sub(r"[^a-z0-9#]+", " ", prompt.lower()).split())


def build_fresh(seed: int = FRESH_SEED, per_tag: int = PER_TAG) -> list[dict[str, Any]]:
    """The fresh held-out records, deterministically from `seed`, `per_tag` per world tag, prompts unique."""
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for t, tag in enumerate(TAGS):
        rng = random.Random(seed * 37 + t)
        made = 0
        while made < per_tag:
            rec = {k: v for k, v in sample(tag, rng).record.items() if k != "phrasing"}
            rec["prompt"] = fresh_prompt(rec, rng)
            if normalise(rec["prompt"]) in seen:
                continue
            validate_record(rec)
            seen.add(normalise(rec["prompt"]))
            out.append({**rec, "phrasing": "fresh"})
            made += 1
    return out


def write_fresh(path: Path = PATH) -> int:
    """Regenerate the fresh set with `build_fresh()` and write it to `path` atomically; returns the record count."""
    return write_records(path, build_fresh())


def fresh_records() -> list[dict[str, Any]]:
    """The shipped fresh held-out records (fresh dicts each call)."""
    return [json.loads(ln) for ln in shipped_lines(PATH, MODULE)]


def fresh_prompts() -> frozenset[str]:
    """The exact fresh held-out prompts; training must never use them."""
    return frozenset(json.loads(ln)["prompt"] for ln in shipped_lines(PATH, MODULE))


def heldout_exclusions() -> frozenset[str]:
    """Exact prompts of both held-out eval sets (evals/heldout.py and this file's), which training never sees;
    `limner train` hands them to the trainer."""
    from limner.evals.heldout import heldout_prompts

    return heldout_prompts() | fresh_prompts()


def main(argv: list[str] | None = None) -> int:
    """CLI: `--write` regenerates the shipped file; `--check` returns 1 when it differs from the generator, else 0."""
    return set_main(argv, PATH, MODULE, build_fresh, "fresh held-out")


if __name__ == "__main__":
    raise SystemExit(main())
