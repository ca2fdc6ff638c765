"""The instruction reader's eval: understanding only, on held-out phrasing families (instruction_cases.py).

For each held-out turn the reader's Reading (studio/reader.py, with its grammar fallback, exactly as every
chat path reads a turn; told a picture is in view, except for a one-off "prompt", which has none) is compared
with the turn's own reading (its gold tags decoded by the same `decode`):

- understood: the action is right and, for an edit, the reader produced ops without a problem;
- exact: the ops are the same (kind, target class / colour / hint, new colour, position, size, text, new
  object), in order;
- per family (FAMILIES: the held-out phrasing families, and "prompt", the fresh generation set's one-off prompts,
  which must read as new pictures) and per source (model / parser);
- latency: the warm reader's wall time per turn, p50 and p95 (one turn at a time, as a chat reads it);
- one-off prompts: all 180 prompts of the fresh generation set routed as a one-off prompt is (`is_edit`, as
  `route_turn` decides): how many are drawn and which are refused as an edit with nothing to edit.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from limner.data.instructions import Example
from limner.evals.fresh import fresh_prompts
from limner.evals.instruction_cases import FAMILIES, heldout_turns
from limner.studio.edits import EditOp
from limner.studio.reader import InstructionReader, Reading, decode
from limner.studio.routing import is_edit

TARGETS = (("understood", 0.95), ("exact", 0.90))


def op_key(op: EditOp) -> tuple[Any, ...]:
    """What an op asks for, comparable between two readings of one turn."""
    hint = "it" if op.hint in ("it",) else op.hint
    new = (op.new.cls, op.new.color, op.new.count) if op.new is not None else None
    return (op.kind, op.target, hint, op.color, op.position, op.size, tuple(op.lines), new)


def gold_reading(ex: Example) -> Reading:
    """The turn's own reading: its gold tags through the reader's `decode`."""
    return decode(list(ex.words), list(ex.tags), ex.action)


def evaluate_instructions(reader: InstructionReader, per_family: int = 40) -> dict[str, Any]:
    """Run the reader on `per_family` held-out turns of every family; the report (see the module doc)."""
    turns = heldout_turns(per_family)
    reader.read("warm up")
    rows: list[dict[str, Any]] = []
    times: list[float] = []
    for fam, ex in turns:
        gold = gold_reading(ex)
        t0 = time.perf_counter()
        got = reader.read(ex.text, image=ex.image)
        times.append(time.perf_counter() - t0)
        understood = got.action == gold.action and got.understood
        exact = understood and [op_key(o) for o in got.ops] == [op_key(o) for o in gold.ops]
        rows.append({"family": fam, "text": ex.text, "action": got.action, "gold_action": gold.action,
                     "source": got.source, "understood": understood, "exact": exact,
                     "ops": [list(map(str, op_key(o))) for o in got.ops],
                     "gold_ops": [list(map(str, op_key(o))) for o in gold.ops]})
    rep: dict[str, Any] = {"n": len(rows), "understood": _share(rows, "understood"), "exact": _share(rows, "exact")}
    rep["families"] = {f: {"n": sum(r["family"] == f for r in rows),
                           "understood": _share([r for r in rows if r["family"] == f], "understood"),
                           "exact": _share([r for r in rows if r["family"] == f], "exact")} for f in FAMILIES}
    rep["sources"] = {s: sum(r["source"] == s for r in rows) for s in ("model", "parser")}
    rep["latency_ms_p50"] = round(float(np.percentile(times, 50)) * 1000, 1)
    rep["latency_ms_p95"] = round(float(np.percentile(times, 95)) * 1000, 1)
    rep["failures"] = [r for r in rows if not r["exact"]][:40]
    rep["one_off"] = one_off_prompts(reader)
    return rep


def one_off_prompts(reader: InstructionReader) -> dict[str, Any]:
    """Every prompt of the fresh generation set as a one-off (nothing in view), routed as `route_turn` routes it:
    how many are drawn, and the ones refused as an edit with nothing to edit (what a user of `limner generate`
    or /v1/images/generations would see)."""
    prompts = sorted(fresh_prompts())
    refused = [p for p in prompts if is_edit(reader.read(p, image=False))]
    return {"n": len(prompts), "drawn": len(prompts) - len(refused), "refused": refused[:20]}


def _share(rows: list[dict[str, Any]], key: str) -> float:
    return round(sum(bool(r[key]) for r in rows) / len(rows), 4) if rows else 0.0


def format_table(rep: dict[str, Any]) -> str:
    """The report as a Markdown table: one row per family, then the totals and latency."""
    lines = ["| family | n | understood | exact |", "| --- | --- | --- | --- |"]
    for f, r in rep["families"].items():
        lines.append(f"| {f} | {r['n']} | {r['understood']:.3f} | {r['exact']:.3f} |")
    lines.append(f"| **all** | {rep['n']} | **{rep['understood']:.3f}** | **{rep['exact']:.3f}** |")
    lines.append("")
    lines.append(f"Read by the model: {rep['sources']['model']}, by the grammar fallback: {rep['sources']['parser']}. "
                 f"Latency per turn (warm, one at a time): p50 {rep['latency_ms_p50']} ms, "
                 f"p95 {rep['latency_ms_p95']} ms.")
    if "one_off" in rep:
        o = rep["one_off"]
        lines += ["", f"One-off prompts of the fresh generation set, routed as `limner generate` and "
                  f"/v1/images/generations route them: {o['drawn']} of {o['n']} drawn, {o['n'] - o['drawn']} refused "
                  "as an edit with nothing to edit (an edit that only adds things is drawn)."]
    return "\n".join(lines)


def write_report(rep: dict[str, Any], out: Path) -> None:
    """out/report.json (every figure and the first failures) and out/report.md (the table)."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(rep, indent=1), encoding="utf-8")
    (out / "report.md").write_text("# Instruction reader: held-out phrasing families\n\n"
                                   "`limner eval instructions --out " + str(out) + "`\n\n" + format_table(rep) + "\n",
                                   encoding="utf-8")
