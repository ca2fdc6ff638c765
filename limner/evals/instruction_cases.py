"""Held-out chat turns for the instruction reader, in phrasing families training never sees.

Every frame, target phrase, opener, closer, connector and negation here is absent from data/instructions.py's
TRAIN (tests/evals/test_instruction_cases.py proves it), so the reader is scored on phrasings it has to
generalise to. Two uses:

- `heldout_turns(per_family)`: (family, Example) pairs for `limner eval instructions` (understanding only:
  does the reader's reading equal the turn's own?), one family per row of its report;
- `fresh_conversation_cases()`: the conversation eval's fresh held-out cases (edit and five-turn kinds, in
  conversation_cases.py's JSON Lines format) with instructions in these families, written to
  limner/evals/data/conversation-fresh.jsonl by `python -m limner.evals.instruction_cases`.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from limner.data.instructions import (
    COLOR_WORDS,
    TEXT_WORDS,
    Example,
    Phrasing,
    detokenize,
    edit_turn,
    expand,
    plain_turn,
    words_of,
)
from limner.data.world import OBJECTS
from limner.evals.fresh import fresh_prompts

HELDOUT_SEED = 22_2026
FRESH_CASES = Path(__file__).parent / "data" / "conversation-fresh.jsonl"

HELDOUT = Phrasing(
    ops={
        "recolour": ("I'd rather {T} was {C}", "can we have {T} in {C}", "go with {C} for {T}",
                     "I want {T} to be {C}", "recolor {T} as {C}", "swap {T} to {C}", "make {T} look {C}",
                     "have {T} be {C}", "{T} ought to be {C}"),
        "remove": ("[get|RM] {T} [out|RM]", "{T} [shouldn't be there|RM]", "[take|RM] {T} [off|RM]",
                   "[wipe out|RM] {T}", "[eliminate|RM] {T}", "I [don't need|RM] {T} [anymore|RM]",
                   "[hide|RM] {T}", "[strip out|RM] {T}", "[remove|RM] {T} completely"),
        "move": ("{T} over to the {P}", "reposition {T} to the {P}", "let's have {T} in the {P}",
                 "nudge {T} {D}", "send {T} to the {P}", "I'd put {T} in the {P}", "can {T} sit in the {P}",
                 "shove {T} {D}", "have {T} on the {P} instead"),
        "resize": ("make {T} [way bigger|BIG]", "[pump up|BIG] {T}", "[upsize|BIG] {T}",
                   "{T} [needs to be bigger|BIG]", "{T} [looks too big|SMALL]", "make {T} [twice as big|BIG]",
                   "[minimise|SMALL] {T}", "make {T} [much smaller|SMALL]", "{T} [could be smaller|SMALL]"),
        "add": ("{O} in the {P} would be nice", "squeeze {O} into the {P}", "can I get {O} in there",
                "I want {O} as well", "slip {O} into the {P}", "toss in {O}", "add on {O}",
                "put in {O} at the {P}", "also add {O} in the {P}"),
        "text": ("let it say {X}", "the words should be {X}", "change what it says to {X}",
                 "swap the wording to {X}", "put {X} on the sign instead", "relabel it {X}",
                 "make the text {X}"),
        "background": ("{B} for the background", "could the background be {B}", "switch to a {B} background",
                       "background in {B}", "I want the backdrop {B}", "paint the backdrop {B}"),
    },
    targets=("the {o} you drew", "that {c} {o}", "the {c} thing", "the {o} there", "the one on the {side}",
             "your {o}", "the {side}-most one", "those {o}s"),
    openers=("", "", "would it be possible to", "I was wondering if you could", "so,", "um,", "right then,",
             "one last thing,", "and finally,", "also, please", "ok cool, now", "wait,", "sorry, I meant",
             "just", "quickly", "kindly", "hmm, how about you", "next up,"),
    gerund_openers=("mind", "what do you think about", "consider", "how about trying"),
    closers=("", "", "when you get a chance", "thx", "cheers", "asap", "if that's ok", "please and thank you",
             "rather", "instead, please", "would you?"),
    connectors=("[, and after that|SEP]", "[; also|SEP]", "[. next,|SEP]", "[, then also|SEP]",
                "[and afterwards|SEP]", "[, and finally|SEP]"),
    negations=("nope, not {T2}.", "forget {T2},", "hold on, not {C2}.", "{T2} stays, but", "I hate {T},"),
    undo=("undo please", "go back a step", "can you revert that?", "let's undo the last one",
          "return to the previous version", "restore how it looked before", "back up one step",
          "that's worse, revert", "rewind", "I preferred the previous one, go back"),
    generate=("scrap this and draw {D}", "brand new image: {D}", "okay, different idea: {D}",
              "let's make {D} now", "please produce {D}", "completely new: {D}", "could I get {D}?",
              "render {D}", "new drawing with {D}"),
    none=("thanks so much", "awesome", "what are you?", "do you like cats?", "how long did that take",
          "great work", "what's 5 times 7", "who won the game last night", "can you explain what you did?",
          "ok bye", "that's all for now", "tell me about paris"),
)
FAMILIES = ("recolour", "remove", "move", "resize", "add", "text", "background", "gerund", "negation",
            "two_ops", "undo", "generate", "none", "prompt")
# "prompt": a one-off image prompt as the generation eval of record asks it (evals/fresh.py, in wording families
# that neither the data engine's captions nor its paraphrases, and so none of the reader's training turns, use).
# Every way in routes a prompt through the reader: it must read as a new picture, or it is refused as an edit
# with nothing to edit (or, in a chat, answered as nothing drawable)


def heldout_turns(per_family: int = 40, seed: int = HELDOUT_SEED) -> list[tuple[str, Example]]:
    """`per_family` held-out turns of each family in FAMILIES, a pure function of the seed."""
    rng = random.Random(seed)
    kinds = list(HELDOUT.ops)
    prompts = sorted(fresh_prompts())
    out: list[tuple[str, Example]] = []
    for fam in FAMILIES:
        for _ in range(per_family):
            if fam in kinds:
                ex = edit_turn(HELDOUT, rng, [fam], ger=False, neg=False)
            elif fam == "gerund":
                ex = edit_turn(HELDOUT, rng, [rng.choice(("recolour", "remove", "move", "resize", "add"))],
                               ger=True, neg=False)
            elif fam == "negation":
                ex = edit_turn(HELDOUT, rng, [rng.choice(("recolour", "remove", "move", "resize"))], ger=False,
                               neg=True)
            elif fam == "two_ops":
                ex = edit_turn(HELDOUT, rng, rng.sample(["recolour", "move", "resize", "remove", "add"], 2),
                               ger=False, neg=False)
            elif fam == "prompt":
                ws = words_of(rng.choice(prompts))
                ex = Example(tuple(ws), ("O",) * len(ws), "generate", image=False)  # a one-off: nothing in view
            else:
                ex = plain_turn(HELDOUT, fam, rng)
            out.append((fam, ex))
    return out


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def _instruction(frame_kind: str, rng: random.Random, slots: dict[str, str]) -> str:
    """One held-out instruction of `frame_kind` with the given slots, and a held-out opener and closer."""
    frame = rng.choice(HELDOUT.ops[frame_kind])
    words, _ = expand(frame, slots, {})
    opener, closer = rng.choice(HELDOUT.openers), rng.choice(HELDOUT.closers)
    return detokenize(words_of(opener) + words + words_of(closer))


def fresh_conversation_cases(per_kind: int = 8, seed: int = HELDOUT_SEED + 1) -> list[dict[str, Any]]:
    """Edit and five-turn cases (conversation_cases.py's format) whose instructions are held-out phrasings;
    one edit case per op kind in turn, then `per_kind` five-turn cases with pronouns and an undo."""
    rng = random.Random(seed)
    cases: list[dict[str, Any]] = []
    objs = [o for o in OBJECTS if " " not in o]
    cols = [c for c in COLOR_WORDS if c not in ("grey", "white", "black")]
    ops = ("recolour", "remove", "move", "resize", "add", "text")
    for i in range(per_kind * len(ops)):
        kind = ops[i % len(ops)]
        a, b = rng.sample(objs, 2)
        ca, cb, cn = rng.sample(cols, 3)
        prompt = f"{_article(ca)} {ca} {a} on the left and {_article(cb)} {cb} {b} on the right"
        slots = {"T": f"the {a}", "C": cn, "P": rng.choice(("top left", "bottom right", "top right")),
                 "D": "down", "O": f"{_article(cn)} {cn} {rng.choice([o for o in objs if o not in (a, b)])}",
                 "X": f"'{rng.choice(TEXT_WORDS)}'", "B": cn}
        expect: dict[str, Any]
        if kind == "recolour":
            expect = {"op": "recolour", "class": a, "color": cn}
        elif kind == "remove":
            expect = {"op": "remove", "class": a}
        elif kind == "move":
            expect = {"op": "move", "class": a, "position": slots["P"]}
        elif kind == "resize":
            frame_big = rng.random() < 0.5
            kind = "resize"
            frame = rng.choice([f for f in HELDOUT.ops["resize"] if ("BIG" in f) == frame_big])
            words, _ = expand(frame, slots, {})
            cases.append({"kind": "edit", "prompt": prompt, "instruction": detokenize(words),
                          "expect": {"op": "resize", "class": a, "size": "large" if frame_big else "small"}})
            continue
        elif kind == "add":
            new_cls = slots["O"].split()[-1]
            expect = {"op": "add", "class": new_cls, "color": cn}
        else:
            prompt = f"a sign that says '{rng.choice(TEXT_WORDS)}'"
            expect = {"op": "text", "text": slots["X"].strip("'")}
        cases.append({"kind": "edit", "prompt": prompt, "instruction": _instruction(kind, rng, slots),
                      "expect": expect})
    for _ in range(per_kind):
        a, b, c = rng.sample(objs, 3)
        ca, cb, cc, cn = rng.sample(cols, 4)
        prompt = f"{_article(ca)} {ca} {a} on the left and {_article(cb)} {cb} {b} on the right"
        t1 = _instruction("recolour", rng, {"T": f"the {a}", "C": cn})
        t2 = _instruction("resize", rng, {"T": "it"})
        t3 = _instruction("add", rng, {"O": f"{_article(cc)} {cc} {c}", "P": "bottom right"})
        t4 = rng.choice(HELDOUT.undo)
        cases.append({"kind": "conversation", "prompt": prompt, "turns": [t1, t2, t3, t4],
                      "untouched": [{"class": b, "color": cb}, {"class": a, "color": cn}],
                      "absent": [{"class": c, "color": cc}], "actions": ["edit", "edit", "edit", "undo"]})
    return cases


def main() -> int:
    """Write the fresh conversation cases to FRESH_CASES."""
    FRESH_CASES.parent.mkdir(parents=True, exist_ok=True)
    with FRESH_CASES.open("w", encoding="utf-8") as f:
        for c in fresh_conversation_cases():
            f.write(json.dumps(c) + "\n")
    print(f"wrote {FRESH_CASES}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
