"""The project's held-out eval prompts: `python -m limner.evals.heldout --write` (or `--check`).

Records come from the data engine's samplers with a seed of their own (HELDOUT_SEED), so their scenes
follow the training distribution, but about a third of the prompts are re-phrased here with templates
the training captions never use (other word orders, plurals, digits vs number words, "a picture of...",
"make an image with..."), so the eval measures generalisation to wording as well. The training loop
excludes `heldout_prompts()` verbatim.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

from limner.data.sampler import sample
from limner.data.world import NUMBER_WORDS, PLURALS, TAGS
from limner.vision.records import validate_record

HELDOUT_SEED = 917_2026
PER_TAG = 36
REPHRASE_SHARE = 0.35
MODULE = "limner.evals.heldout"  # how to rebuild the file: python -m MODULE --write
PATH = Path(__file__).parent / "data" / "heldout.jsonl"

_OPENERS = ("", "", "a picture of ", "make an image with ", "please make ", "i would like ", "show me ",
            "an image containing ", "depict ", "sketch ")


def _num(n: int, rng: random.Random) -> str:
    return str(n) if rng.random() < 0.5 else NUMBER_WORDS[n]


def _art(phrase: str) -> str:
    return "an" if phrase[0] in "aeiou" else "a"


def _color_of(e: dict[str, Any]) -> str | None:
    return e.get("color") or e.get("hex")


def _thing(e: dict[str, Any], rng: random.Random) -> str:
    """A singular or plural noun phrase for one include entry, in a phrasing of our own."""
    n, cls, col = e["count"], e["class"], _color_of(e)
    noun = PLURALS[cls] if n > 1 else cls
    if col is None:
        body = noun
    elif col.startswith("#"):
        body = rng.choice((f"{noun} colored {col}", f"{noun} filled with {col}", f"{noun} with the colour {col}"))
    else:
        body = rng.choice((f"{col} {noun}", f"{noun} colored {col}", f"{col}-colored {noun}", f"{noun} in {col}"))
    if n == 1:
        return rng.choice((f"{_art(body)} {body}", f"one {body}", f"a single {body}" if body[0] not in "aeiou"
                           else f"one single {body}"))
    return rng.choice((f"{_num(n, rng)} {body}", f"exactly {_num(n, rng)} {body}"))


def _background(bg: str | None, rng: random.Random) -> str:
    if bg is None or bg == "white":
        return ""
    if bg == "transparent":
        return rng.choice((", background=transparent", " with a see-through background",
                           " on a transparent background"))
    return rng.choice((f", background: {bg}", f" with the background in {bg}", f" on a {bg} background"))


def _rephrase(rec: dict[str, Any], rng: random.Random) -> str:
    tag = rec["tag"]
    if tag == "text":
        lines = rec["text"].split("\n")
        quoted = ", ".join(f'"{ln}"' for ln in lines)
        body = rng.choice((f"the text {quoted}", f"the words {quoted}", f"a sign with {quoted} on it",
                           f"lettering that reads {quoted}"))
        if len(lines) > 1:
            body = rng.choice((f"{_num(len(lines), rng)} lines of text: {quoted}", body))
        core = rng.choice((f"write {body}", body, f"a picture of {body}", f"make an image with {body}"))
    elif tag == "dense_grid":
        g = rec["grid"]
        items = [_thing({**c, "count": 1}, rng) for c in g["cells"]]
        head = rng.choice((f"a grid of {g['rows']} rows and {g['cols']} columns, in reading order: ",
                           f"{_num(g['rows'], rng)} rows by {_num(g['cols'], rng)} columns: ",
                           f"a {g['rows']}-by-{g['cols']} grid containing "))
        core = rng.choice(_OPENERS) + head + "; ".join(items)
    elif tag == "position":
        b, a = rec["include"][0], rec["include"][1]
        rel = a["position"][0]
        ta, tb = _thing(a, rng), _thing(b, rng)
        own = {"left of": "to its left", "right of": "to its right", "above": "above it", "below": "below it"}[rel]
        opener = rng.choice(_OPENERS)
        verb = "is " if not opener else ""
        core = opener + rng.choice((f"{tb} with {ta} {own}", f"{ta} {verb}{rel} {tb}", f"{ta} {verb}to the {rel} {tb}"
                                    if rel in ("left of", "right of") else f"{ta} {verb}{rel} {tb}"))
    else:
        things = [_thing(e, rng) for e in rec["include"]]
        if len(things) == 1:
            body = things[0]
        else:
            body = rng.choice((" together with ", " as well as ", " plus ")).join(things)
        core = rng.choice(_OPENERS) + body
    return core + _background(rec.get("background"), rng)


def build_heldout(seed: int = HELDOUT_SEED, per_tag: int = PER_TAG) -> list[dict[str, Any]]:
    """The held-out records, deterministically from `seed`, `per_tag` per world tag, prompts unique."""
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for t, tag in enumerate(TAGS):
        rng = random.Random(seed * 31 + t)
        made = 0
        while made < per_tag:
            rec = dict(sample(tag, rng).record)
            phrasing = "sampler"
            if rng.random() < REPHRASE_SHARE:
                rec["prompt"] = _rephrase(rec, rng)
                phrasing = "heldout"
                rec.pop("text_color", None)  # the re-phrasing names neither the letters' colour nor their place
                rec.pop("text_position", None)
            if rec["prompt"] in seen:
                continue
            validate_record(rec)
            seen.add(rec["prompt"])
            out.append({**rec, "phrasing": phrasing})
            made += 1
    return out


def write_records(path: Path, recs: list[dict[str, Any]]) -> int:
    """Write records as JSON Lines to `path` atomically; returns the record count. (Both held-out sets' files.)"""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in recs), encoding="utf-8")
    tmp.replace(path)
    return len(recs)


@lru_cache(maxsize=4)
def shipped_lines(path: Path, module: str) -> tuple[str, ...]:
    """The non-empty lines of a shipped record set; FileNotFoundError naming `python -m MODULE --write`."""
    if not path.is_file():
        raise FileNotFoundError(f"held-out set {path} missing: run `python -m {module} --write`")
    return tuple(ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip())


def set_main(argv: list[str] | None, path: Path, module: str, build: Callable[[], list[dict[str, Any]]],
             what: str) -> int:
    """The `--write` / `--check` command of a shipped record set built by `build`: `--write` regenerates the file,
    `--check` returns 1 when it differs from `build()`, else 0."""
    p = argparse.ArgumentParser(description=f"build the {what} eval prompts")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--write", action="store_true", help=f"write {path}")
    g.add_argument("--check", action="store_true", help="verify the shipped file matches the generator")
    a = p.parse_args(argv)
    if a.write:
        print(f"wrote {write_records(path, build())} records to {path}")
        return 0
    fresh = [json.dumps(r) for r in build()]
    if list(shipped_lines(path, module)) != fresh:
        print(f"{path} differs from {build.__name__}(): run --write", file=sys.stderr)
        return 1
    print(f"{path}: {len(fresh)} records, up to date")
    return 0


def write_heldout(path: Path = PATH) -> int:
    """Regenerate the held-out set with `build_heldout()`, write it to `path` atomically; returns the record count."""
    return write_records(path, build_heldout())


def heldout_records() -> list[dict[str, Any]]:
    """The shipped held-out records (fresh dicts each call)."""
    return [json.loads(ln) for ln in shipped_lines(PATH, MODULE)]


def heldout_prompts() -> frozenset[str]:
    """The exact held-out prompts; training must never use them."""
    return frozenset(json.loads(ln)["prompt"] for ln in shipped_lines(PATH, MODULE))


def main(argv: list[str] | None = None) -> int:
    """CLI: `--write` regenerates the shipped file; `--check` returns 1 when it differs from the generator, else 0."""
    return set_main(argv, PATH, MODULE, build_heldout, "held-out")


if __name__ == "__main__":
    raise SystemExit(main())
