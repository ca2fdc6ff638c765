"""The paraphrase check: the same record asked for five ways should give the same score.

`limner eval paraphrase --out DIR` draws N_RECORDS records of the six GenEval tags from the data engine (a seed of
their own, none a training or held-out prompt) and words each one five ways, from its record:

    terse      "red star, blue ring, on yellow"
    polite     "could you please draw a red star and a blue ring on a yellow background? thank you!"
    list       "draw the following: 1) a red star 2) a blue ring. background: yellow"
    filler     "so, um, basically what i'd really like is a red star and a blue ring on yellow, if that's ok"
    reordered  "a ring in blue and a star in red, on yellow" (includes in reverse order, colour after the noun)

Every variant is scored by the generation eval's scorer. The report gives each phrasing's score and the
**spread**: the largest minus the smallest of the five phrasings' mean scores (the must-reach figure: a model
that reads language, not templates, keeps it small), and the mean per-record range as a noisier second view.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from limner.data.sampler import sample
from limner.data.world import GENEVAL_TAGS, PLURALS
from limner.evals.generation import GenerateFn, evaluate_generation
from limner.vision.records import validate_record

PARAPHRASE_SEED = 5_550_123
N_RECORDS = 30
PHRASINGS = ("terse", "polite", "list", "filler", "reordered")


def _noun(e: dict[str, Any], colour_after: bool = False) -> str:
    n, cls = e.get("count", 1), e["class"]
    col = e.get("color") or e.get("hex")
    noun = PLURALS[cls] if n > 1 else cls
    if col and colour_after:
        body = f"{noun} in {col}"
    else:
        body = f"{col} {noun}" if col else noun
    if n > 1:
        return f"{body}, {n} of them" if colour_after else f"{n} {body}"
    return ("an " if body[0] in "aeiou" else "a ") + body


def _rel(rec: dict[str, Any]) -> tuple[str, int, int] | None:
    for i, e in enumerate(rec["include"]):
        if "position" in e:
            return e["position"][0], i, e["position"][1]
    return None


def phrase(rec: dict[str, Any], how: str) -> str:
    """The record `rec` (a GenEval-tag record) worded the `how` way (one of PHRASINGS)."""
    inc = rec["include"]
    rel = _rel(rec)
    bg = rec.get("background")
    bg = None if bg in (None, "white") else bg
    rev = how == "reordered"
    things = [_noun(e, colour_after=rev) for e in inc]
    if rel is not None:
        r, a, b = rel
        core = f"{things[b]}, and {things[a]} {r} it" if rev else f"{things[a]} {r} {things[b]}"
        items = [core]
    else:
        items = things[::-1] if rev else things
    joined = " and ".join(items)
    if how == "terse":
        body = ", ".join(s.removeprefix("a ").removeprefix("an ") for s in items)
        return body + (f", on {bg}" if bg else "")
    if how == "polite":
        return f"could you please draw {joined}" + (f" on a {bg} background" if bg else "") + "? thank you!"
    if how == "list":
        listed = " ".join(f"{k + 1}) {s}" for k, s in enumerate(items))
        return f"draw the following: {listed}" + (f". background: {bg}" if bg else "")
    if how == "filler":
        return f"so, um, basically what i'd really like is {joined}" + (f" on {bg}" if bg else "") + ", if that's ok"
    if how == "reordered":
        return joined + (f", on {bg}" if bg else "")
    raise ValueError(f"unknown phrasing {how!r}: expected one of {PHRASINGS}")


def paraphrase_records(n: int = N_RECORDS, seed: int = PARAPHRASE_SEED) -> list[dict[str, Any]]:
    """n base records spread over the GenEval tags, each as five records (one per phrasing) that differ only in
    their prompt; every one carries `base` (its record's index) and `phrasing`."""
    out: list[dict[str, Any]] = []
    for i in range(n):
        tag = GENEVAL_TAGS[i % len(GENEVAL_TAGS)]
        rng = random.Random(seed + i)
        rec = {k: v for k, v in sample(tag, rng).record.items() if k != "phrasing"}
        for how in PHRASINGS:
            out.append(validate_record({**rec, "prompt": phrase(rec, how), "base": i, "phrasing": how}))
    return out


def evaluate_paraphrase(generate_fn: GenerateFn, records: list[dict[str, Any]], samples: int, out: Path,
                        checkpoint_sha: str = "") -> dict[str, Any]:
    """Score every variant (evaluate_generation writes its images and results under out/), then the per-phrasing
    scores and the spread; writes out/paraphrase.json and out/paraphrase.md."""
    rep = evaluate_generation(generate_fn, records, samples, out, checkpoint_sha=checkpoint_sha)
    rows = [json.loads(ln) for ln in (out / "results.jsonl").read_text(encoding="utf-8").splitlines() if ln.strip()]
    by_rec: dict[int, list[float]] = {}
    for r in rows:
        by_rec.setdefault(r["record"], []).append(float(r["score"]))
    mean = {i: sum(v) / len(v) for i, v in by_rec.items()}
    per_phrasing = {how: sum(mean[i] for i, rec in enumerate(records) if rec["phrasing"] == how)
                    / sum(rec["phrasing"] == how for rec in records) for how in PHRASINGS}
    per_base: dict[int, list[float]] = {}
    for i, rec in enumerate(records):
        per_base.setdefault(rec["base"], []).append(mean[i])
    report = {
        "phrasings": per_phrasing,
        "spread": max(per_phrasing.values()) - min(per_phrasing.values()),
        "mean_record_range": sum(max(v) - min(v) for v in per_base.values()) / len(per_base),
        "n_records": len(per_base), "samples": samples, "checkpoint": checkpoint_sha,
        "validation": rep["validation"],
    }
    (out / "paraphrase.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    md = ["# Paraphrase check", "", f"{len(per_base)} records x 5 phrasings x {samples} sample(s), checkpoint "
          f"`{checkpoint_sha[:16] or '-'}`.", "", "| phrasing | score |", "| --- | --- |",
          *[f"| {how} | {v:.3f} |" for how, v in per_phrasing.items()], "",
          f"- **spread (max - min of the phrasings' scores): {report['spread']:.3f}**",
          f"- mean range within a record: {report['mean_record_range']:.3f}", "",
          "Examples:", "", *[f"- {rec['phrasing']}: {rec['prompt']!r}" for rec in records[:5]]]
    (out / "paraphrase.md").write_text("\n".join(md) + "\n", encoding="utf-8")
    return report
