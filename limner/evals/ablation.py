"""The pixel-path ablation every generation report carries: the same records, drawn four ways in one run.

    native          the default: the decoder reads the transformer's codes and the layout it wrote (with colours)
    no colours      the same, but the decoder's layout map loses the colours the transformer wrote
    tokens only     the decoder reads the transformer's image codes alone (an empty layout map)
    paint           the opt-in assisted mode (model/paint.py): code set the grid, moved and composited objects

Each row is scored by the same scorer as the report it sits in, so the rows compare like with like; only the
default row is a figure of record. `run_ablation` takes a factory so the evals stay free of engine state.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

from limner.evals.generation import GenerateFn, evaluate_generation

# (key, label, SamplingParams fields changed from the report's own)
ABLATIONS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("native", "native (default): codes + the prior's layout map", {"paint": False, "decoder_layout": "full"}),
    ("no_colours", "native, layout map without the prior's colours", {"paint": False, "decoder_layout": "geometry"}),
    ("tokens_only", "tokens only: the prior's codes, empty layout map", {"paint": False, "decoder_layout": "none"}),
    ("paint", "paint mode (opt-in, assisted: not the model alone)", {"paint": True, "decoder_layout": "full"}),
)
COLUMNS = ("single_object", "two_object", "counting", "colors", "position", "color_attr", "text", "dense_grid",
           "hex_color")


def run_ablation(
    make_fn: Callable[[Any], GenerateFn], base: Any, records: list[dict[str, Any]], samples: int, out: Path,
    progress: Callable[[str, int, int], None] | None = None,
) -> list[dict[str, Any]]:
    """Score `records` x `samples` under each ABLATIONS row; `make_fn(sampling)` builds the generate function
    for a dataclasses.replace of `base` (a SamplingParams). Writes each row's report under out/ablation/KEY.
    Returns one dict a row: key, label, overall, per-tag scores, text colour accuracy and hex ΔE2000."""
    rows = []
    for key, label, change in ABLATIONS:
        fn = make_fn(dataclasses.replace(base, **change))
        rep = evaluate_generation(fn, records, samples, out / "ablation" / key, progress=progress,
                                  checkpoint_sha=str(getattr(fn, "checkpoint_sha", "")))
        rows.append(summary_row(key, label, rep))
    return rows


def summary_row(key: str, label: str, rep: dict[str, Any]) -> dict[str, Any]:
    """One ablation row from a generation report."""
    tags = rep["tags"]
    return {
        "key": key, "label": label, "overall": rep["overall"], "samples": rep["samples"],
        "n_records": rep["n_records"],
        "tags": {t: tags[t]["score"] for t in COLUMNS if t in tags},
        "text_colour": tags.get("text", {}).get("colour"),
        "hex_de2000": tags.get("hex_color", {}).get("median_de2000"),
    }


def _cell(x: Any) -> str:
    return "-" if x is None else f"{x:.3f}" if isinstance(x, float) else str(x)


def ablation_markdown(rows: list[dict[str, Any]]) -> str:
    """The ablation as a Markdown section (a table, one row a pixel path)."""
    present = [t for t in COLUMNS if any(t in r["tags"] for r in rows)]
    head = ["pixel path", "overall", *present, "text colour", "hex ΔE2000"]
    lines = [
        "## Pixel-path ablation (same records, same scorer, this run)",
        "",
        f"{rows[0]['n_records']} records x {rows[0]['samples']} sample(s) a row. Only the first row is the default "
        "path and a figure of record; paint mode is an opt-in assisted mode.",
        "",
        "| " + " | ".join(head) + " |",
        "| " + " | ".join("---" for _ in head) + " |",
    ]
    for r in rows:
        cells = [r["label"], _cell(r["overall"]), *(_cell(r["tags"].get(t)) for t in present), _cell(r["text_colour"]),
                 _cell(r["hex_de2000"])]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
