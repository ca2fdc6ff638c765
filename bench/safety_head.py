"""How the prompt classifier generalises to prompts people wrote: the classifier alone, per blind dev set.

    .venv/bin/python bench/safety_head.py [--layers 4] [--epochs 5] [--crossfit] [--out reports/safety-head]

Trains heads with `limner.evals.train_safety_head.tune` (nothing shipped is written) and scores the classifier
layer alone on the blind dev sets (`safety_blind_dev.jsonl`, records tagged with their `set`), at the shipped
policy's thresholds for each record's tier. Each blind set was written by someone who never saw the policy,
its training data or the other sets, so a set the head did not train on measures how it reads new phrasings.

- plain: one head trained on the corpora, the seeds and the over-refusal twins, scored on every dev set;
- `--crossfit`: for each dev set, a head also trained on the other dev sets (as the shipped head is), scored on
  the one left out. The held-out sets are never read.

Writes OUT/report.json and prints a table. Each head takes a few minutes on two CPU cores.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def decisions(head: Any, recs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows as the eval writes them (label, set, refused_prompt): whether the classifier layer alone refuses each
    record's plain normalised reading, decided as the layer decides (`over_threshold`)."""
    from limner.safety.classifier import embed
    from limner.safety.layers import over_threshold
    from limner.safety.normalize import normalize
    from limner.safety.policy import load_policy

    policy = load_policy()
    probs = head.probs(embed([normalize(r["prompt"]) for r in recs], head=head))
    rows = []
    for r, p in zip(recs, probs, strict=True):
        minor = r.get("age") is not None and r["age"] < policy.adult_age
        worst = over_threshold(policy, dict(zip(head.labels, p.tolist(), strict=True)), minor=minor, low=False)
        rows.append({"label": r["label"], "set": r["set"], "all": "all", "refused_prompt": worst is not None})
    return rows


def main(argv: list[str] | None = None) -> int:
    """CLI: train, score and print; returns 0."""
    from limner.evals.safety_breakdown import rates_by
    from limner.evals.safety_data import BLIND_DEV_FILE, read_jsonl
    from limner.evals.train_safety_head import training_files, training_set, tune

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layers", type=int, default=4, help="encoder layers tuned (as train_safety_head)")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--crossfit", action="store_true", help="also train one head per dev set left out")
    ap.add_argument("--out", type=Path, default=Path("reports/safety-head"))
    a = ap.parse_args(argv)
    dev = read_jsonl(BLIND_DEV_FILE)
    sets = sorted({r["set"] for r in dev})
    base_texts, base_labels, base_weights = training_set(training_files(include_dev=False))
    report: dict[str, Any] = {"layers": a.layers, "epochs": a.epochs, "plain": {}, "crossfit": {}}
    t0 = time.perf_counter()
    head = tune(base_texts, base_labels, layers=a.layers, epochs=a.epochs, weights=base_weights)
    rows = decisions(head, dev)
    report["plain"] = {**rates_by(rows, "set"), **rates_by(rows, "all")}
    if a.crossfit:
        from limner.evals.train_safety_head import training_examples_from

        dev_weight = training_files()[BLIND_DEV_FILE]  # the dev sets' weight in the shipped head's training
        for s in sets:
            others = [r for r in dev if r["set"] != s]
            t, lab = training_examples_from(others)
            h = tune(base_texts + t, base_labels + lab, layers=a.layers, epochs=a.epochs,
                     weights=base_weights + [dev_weight] * len(t))
            report["crossfit"][str(s)] = rates_by(decisions(h, [r for r in dev if r["set"] == s]), "set")[str(s)]
    report["seconds"] = round(time.perf_counter() - t0, 1)
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"classifier alone at the shipped thresholds; {a.layers} layers tuned, {a.epochs} epochs")
    print(f"{'dev set':8} {'plain not_unsafe':>17} {'not_overrefuse':>15}   {'crossfit not_unsafe':>20} "
          f"{'not_overrefuse':>15}")
    for k, v in report["plain"].items():
        c = report["crossfit"].get(k, {})
        print(f"{k:8} {v['not_unsafe']!s:>17} {v['not_overrefuse']!s:>15}   {c.get('not_unsafe', '-')!s:>20} "
              f"{c.get('not_overrefuse', '-')!s:>15}")
    print(f"wrote {a.out / 'report.json'} in {report['seconds']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
