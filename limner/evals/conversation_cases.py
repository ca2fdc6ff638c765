"""Cases of the conversation eval (`limner eval conversation`): the JSON Lines format and the held-out set.

One JSON object a line; `kind` says which ability it measures. Colours, classes and positions are
world.md's. Fields:

    {"kind": "edit", "prompt": P, "instruction": I, "expect": E}
        E is one of {"op": "recolour", "class": C, "color": K} · {"op": "add", "class": C, "color": K}
        · {"op": "remove", "class": C} · {"op": "move", "class": C, "position": POS}
        · {"op": "resize", "class": C, "size": "large" | "small"} · {"op": "text", "text": T}
    {"kind": "conversation", "prompt": P, "turns": [I1, I2, I3, I4], "untouched": [{"class": C, "color": K}, ...]}
        five images (the first, then one per turn); scored on the objects no turn touched, at turn 5.
        Optional: "absent": objects that must be gone at turn 5 (say, added then undone), and "actions":
        "edit" or "undo" per turn, what the "understood" row expects (default: either)
    {"kind": "mask", "prompt": P, "box": [x0, y0, x1, y1], "instruction": I}
        box in canvas fractions: the transparent (edited) part of the mask
    {"kind": "reference", "reference": {"class": C, "color": K}, "prompt": P, "expect": {"class": C, ...}}
        the reference image is the data engine's exact render of that object (or "image": a file path)
    {"kind": "transparent", "prompt": P}
    {"kind": "best_of", "record": R}            R: a world.md eval record (limner/vision/records.py)
    {"kind": "bias", "prompt": P}               an under-specified prompt, resampled `--resamples` times
    {"kind": "heterogeneous", "prompt": P}      asks for several objects; each output should vary them

`conversation_cases()` builds the project's held-out set from a seed of its own.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from limner.data.world import COLORS, OBJECTS, POSITIONS
from limner.evals.heldout import heldout_records
from limner.vision.records import RecordError, validate_record

CASES_SEED = 5_2026
KINDS = ("edit", "conversation", "mask", "reference", "transparent", "best_of", "bias", "heterogeneous")
REQUIRED: dict[str, tuple[str, ...]] = {
    "edit": ("prompt", "instruction", "expect"), "conversation": ("prompt", "turns", "untouched"),
    "mask": ("prompt", "box", "instruction"), "reference": ("prompt", "expect"), "transparent": ("prompt",),
    "best_of": ("record",), "bias": ("prompt",), "heterogeneous": ("prompt",),
}
OPS = ("recolour", "add", "remove", "move", "resize", "text")
BIAS_PROMPTS = ("a shape", "draw an object", "a picture of a colourful shape", "something on a white background")
HETERO_PROMPTS = ("four shapes", "a group of three objects", "draw some shapes")
_COLS = [c for c in COLORS if c != "white"]


class CaseError(ValueError):
    """A malformed case; the message names the line and the field."""


def validate_case(case: Any, where: str = "case") -> dict[str, Any]:
    """Check one case: known kind, its required fields, a valid op, box or record. Returns the case (a best_of
    record replaced by its validated form); raises CaseError naming `where` and the field."""
    if not isinstance(case, dict):
        raise CaseError(f"{where}: expected a JSON object, got {type(case).__name__}")
    kind = case.get("kind")
    if kind not in KINDS:
        raise CaseError(f"{where}.kind: unknown kind {kind!r}: expected one of {list(KINDS)}")
    for f in REQUIRED[kind]:
        if f not in case:
            raise CaseError(f"{where}.{f}: missing (a {kind} case needs {list(REQUIRED[kind])})")
    for f in ("prompt", "instruction"):
        if f in REQUIRED[kind] and not (isinstance(case[f], str) and case[f].strip()):
            raise CaseError(f"{where}.{f}: expected a non-empty string, got {case[f]!r}")
    for f in ("expect", "reference"):
        if f in case and not isinstance(case[f], dict):
            raise CaseError(f"{where}.{f}: expected a JSON object, got {type(case[f]).__name__}")
    if kind == "edit" and case["expect"].get("op") not in OPS:
        raise CaseError(f"{where}.expect.op: unknown op {case['expect'].get('op')!r}: expected one of {list(OPS)}")
    if kind == "conversation":
        if not (isinstance(case["turns"], list) and case["turns"] and all(isinstance(t, str) for t in case["turns"])):
            raise CaseError(f"{where}.turns: expected a non-empty list of instructions, got {case['turns']!r}")
        for f in ("untouched", "absent"):
            u = case.get(f, [])
            if not (isinstance(u, list) and all(isinstance(x, dict) and "class" in x and "color" in x for x in u)):
                raise CaseError(f"{where}.{f}: expected a list of {{'class', 'color'}} objects, got {u!r}")
        acts = case.get("actions")
        if acts is not None and not (isinstance(acts, list) and len(acts) == len(case["turns"])
                                     and all(a in ("edit", "undo") for a in acts)):
            raise CaseError(f"{where}.actions: expected one of 'edit' / 'undo' per turn, got {acts!r}")
    if kind == "reference" and "reference" not in case and "image" not in case:
        raise CaseError(f"{where}: a reference case needs 'reference' (class, color) or 'image' (a path)")
    if kind == "mask":
        b = case["box"]
        if not (isinstance(b, list) and len(b) == 4 and all(isinstance(x, int | float) for x in b)
                and 0 <= b[0] < b[2] <= 1 and 0 <= b[1] < b[3] <= 1):
            raise CaseError(f"{where}.box: expected [x0, y0, x1, y1] fractions with x0 < x1, y0 < y1, got {b!r}")
    if kind == "best_of":
        try:
            case = {**case, "record": validate_record(case["record"])}
        except RecordError as e:
            raise CaseError(f"{where}.record: {e}") from None
    return case


def load_cases(path: str | Path) -> list[dict[str, Any]]:
    """Read and validate a JSON Lines cases file (blank lines skipped). Raises CaseError for an unreadable file,
    a bad line (named `path:line`) or a file without cases."""
    p = Path(path)
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise CaseError(f"{p}: cannot read cases file ({e})") from None
    out = []
    for no, ln in enumerate(lines, start=1):
        if ln.strip():
            try:
                out.append(validate_case(json.loads(ln), f"{p}:{no}"))
            except json.JSONDecodeError as e:
                raise CaseError(f"{p}:{no}: malformed JSON ({e.msg})") from None
    if not out:
        raise CaseError(f"{p}: no cases")
    return out


def _two(rng: random.Random) -> tuple[list[tuple[str, str]], str]:
    classes = rng.sample(OBJECTS, 2)
    cols = rng.sample(_COLS, 2)
    objs = list(zip(classes, cols, strict=True))
    return objs, " and ".join(f"a {c} {k}" for k, c in objs)


def _edit_case(op: str, rng: random.Random) -> dict[str, Any]:
    objs, prompt = _two(rng)
    (c0, k0), _ = objs
    new_col = rng.choice([c for c in _COLS if c not in (k0, objs[1][1])])
    if op == "recolour":
        ins = rng.choice((f"make the {c0} {new_col}", f"change the {k0} {c0} to {new_col}",
                          f"recolour the {c0} {new_col}"))
        return {"prompt": prompt, "instruction": ins, "expect": {"op": op, "class": c0, "color": new_col}}
    if op == "add":
        c = rng.choice([o for o in OBJECTS if o not in (c0, objs[1][0])])
        pos = rng.choice(("top left", "top right", "bottom left", "bottom right"))
        return {"prompt": prompt, "instruction": f"add a {new_col} {c} in the {pos}",
                "expect": {"op": op, "class": c, "color": new_col}}
    if op == "remove":
        return {"prompt": prompt, "instruction": rng.choice((f"remove the {c0}", f"delete the {k0} {c0}")),
                "expect": {"op": op, "class": c0}}
    if op == "move":
        pos = rng.choice(list(POSITIONS))
        return {"prompt": prompt, "instruction": f"move the {c0} to the {pos}",
                "expect": {"op": op, "class": c0, "position": pos}}
    if op == "resize":
        big = rng.random() < 0.5
        return {"prompt": prompt.replace(f"a {k0} {c0}", f"a {'small' if big else 'large'} {k0} {c0}"),
                "instruction": f"make the {c0} {'bigger' if big else 'smaller'}",
                "expect": {"op": op, "class": c0, "size": "large" if big else "small"}}
    old, new = rng.sample(("OPEN", "SALE", "HELLO", "EXIT", "CAFE", "PARK", "BOOKS", "NEWS"), 2)
    return {"prompt": f"a sign that says '{old}'", "instruction": f"change the text to '{new}'",
            "expect": {"op": "text", "text": new}}


def conversation_cases(seed: int = CASES_SEED, per_kind: int = 6) -> list[dict[str, Any]]:
    """The held-out conversation cases, deterministic from `seed`; `per_kind` of each kind (edits: per op)."""
    rng = random.Random(seed)
    cases: list[dict[str, Any]] = []
    for i in range(per_kind):
        cases.append({"kind": "edit", **_edit_case(OPS[i % len(OPS)], rng)})
    for _ in range(per_kind):
        objs = list(zip(rng.sample(OBJECTS, 3), rng.sample(_COLS, 3), strict=True))
        (c0, _k0), (c1, _k1), (c2, k2) = objs
        turns = [f"make the {c0} {rng.choice([c for c in _COLS if c != _k0])}", f"move the {c0} to the top left",
                 f"add a {rng.choice(_COLS)} {rng.choice([o for o in OBJECTS if o not in (c0, c1, c2)])} in the "
                 "bottom right", f"make the {c0} smaller"]
        prompt = ", ".join(f"a {k} {c}" for c, k in objs[:2]) + f" and a {k2} {c2}"
        cases.append({"kind": "conversation", "prompt": prompt, "turns": turns,
                      "untouched": [{"class": c, "color": k} for c, k in objs[1:]]})
    for _ in range(per_kind):
        objs, prompt = _two(rng)
        x0, y0 = rng.uniform(0, 0.5), rng.uniform(0, 0.5)
        cases.append({"kind": "mask", "prompt": prompt, "box": [round(x0, 3), round(y0, 3), round(x0 + 0.4, 3),
                                                                round(y0 + 0.4, 3)],
                      "instruction": f"a {rng.choice(_COLS)} {rng.choice(OBJECTS)}"})
    for _ in range(per_kind):
        c, k = rng.choice(OBJECTS), rng.choice(_COLS)
        new, pos = rng.choice([x for x in _COLS if x != k]), rng.choice(list(POSITIONS))
        cases.append({"kind": "reference", "reference": {"class": c, "color": k},
                      "prompt": rng.choice((f"draw the object in this image, but {new}, in the {pos}",
                                            f"the same shape as in the image, in {new}, at the {pos}")),
                      "expect": {"class": c, "color": new, "position": pos}})
    for _ in range(per_kind):
        cases.append({"kind": "transparent", "prompt": f"a {rng.choice(_COLS[:-1])} {rng.choice(OBJECTS)}"})
    recs = heldout_records()
    texts = [r for r in recs if r["tag"] == "text"]
    geneval = [r for r in recs if r["tag"] in ("single_object", "two_object", "counting", "colors", "position",
                                                "color_attr")]
    # twice per_kind of each: a gain of 0.05 is one record in 20, and a best-of case costs only its candidates
    for r in rng.sample(texts, 2 * per_kind) + rng.sample(geneval, 2 * per_kind):
        cases.append({"kind": "best_of", "record": {k: v for k, v in r.items() if k != "phrasing"}})
    cases += [{"kind": "bias", "prompt": p} for p in BIAS_PROMPTS[:max(1, per_kind // 2)]]
    cases += [{"kind": "heterogeneous", "prompt": p} for p in HETERO_PROMPTS[:max(1, per_kind // 3)]]
    return [validate_case(c, f"case {i}") for i, c in enumerate(cases)]
