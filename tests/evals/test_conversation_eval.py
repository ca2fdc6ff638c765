"""The conversation eval's measures, its case format and its command's bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from limner.data.scene import Scene, SceneObject, render
from limner.evals.conversation import alpha_shares, edit_holds, format_table, normalised_entropy, psnr
from limner.evals.conversation_cases import CaseError, conversation_cases, validate_case


def test_psnr_and_entropy() -> None:
    a = np.zeros((8, 8, 3), dtype=np.uint8)
    assert psnr(a, a) == 100.0 and abs(psnr(a, a + 1) - 48.13) < 0.01
    assert normalised_entropy(["red"] * 5, 12) == 0.0
    assert abs(normalised_entropy(["a", "b", "c", "d"], 4) - 1.0) < 1e-9


def test_alpha_shares_of_an_exact_transparent_render() -> None:
    im = render(Scene(256, 256, "transparent", [SceneObject("heart", "green", "large")]))
    ab, ao = alpha_shares(im)
    assert ab == 1.0 and ao == 1.0


def test_edit_checks_on_exact_renders() -> None:
    before = render(Scene(256, 256, "white", [SceneObject("star", "red", cx=0.3, cy=0.3)]))
    after = render(Scene(256, 256, "white", [SceneObject("star", "green", cx=0.78, cy=0.78)]))
    assert edit_holds(before, after, {"op": "recolour", "class": "star", "color": "green"})
    assert edit_holds(before, after, {"op": "move", "class": "star", "position": "bottom right"})
    assert not edit_holds(before, after, {"op": "remove", "class": "star"})


def test_cases_validate_and_errors_are_named() -> None:
    cases = conversation_cases(per_kind=2)
    assert {c["kind"] for c in cases} == {"edit", "conversation", "mask", "reference", "transparent", "best_of",
                                          "bias", "heterogeneous"}
    with pytest.raises(CaseError, match="case.kind: unknown kind 'paint'"):
        validate_case({"kind": "paint"})
    with pytest.raises(CaseError, match="case.instruction: missing"):
        validate_case({"kind": "edit", "prompt": "a star", "expect": {"op": "add"}})
    with pytest.raises(CaseError, match="case.box"):
        validate_case({"kind": "mask", "prompt": "x", "instruction": "y", "box": [0.5, 0, 0.2, 1]})
    # wrong types are named too, never an AttributeError/TypeError from deep inside the eval
    with pytest.raises(CaseError, match="case.expect: expected a JSON object, got str"):
        validate_case({"kind": "edit", "prompt": "a star", "instruction": "make it red", "expect": "red"})
    with pytest.raises(CaseError, match="case.box"):
        validate_case({"kind": "mask", "prompt": "x", "instruction": "y", "box": ["a", 0, 1, 1]})
    with pytest.raises(CaseError, match="case.prompt: expected a non-empty string"):
        validate_case({"kind": "bias", "prompt": 3})
    with pytest.raises(CaseError, match="case.turns"):
        validate_case({"kind": "conversation", "prompt": "a star", "turns": "make it red", "untouched": []})
    with pytest.raises(CaseError, match="case.untouched"):
        validate_case({"kind": "conversation", "prompt": "a star", "turns": ["make it red"], "untouched": ["x"]})
    assert "Edit success" in format_table({"edit_success": 1.0})


def test_cli_names_a_bad_cases_file(tmp_path: Path) -> None:
    f = tmp_path / "cases.jsonl"
    f.write_text(json.dumps({"kind": "edit", "prompt": "a star"}) + "\n")
    r = subprocess.run([sys.executable, "-m", "limner.cli.main", "eval", "conversation", "--cases", str(f),
                        "--out", str(tmp_path / "out")], capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "cases.jsonl:1.instruction: missing" in r.stderr and "Traceback" not in r.stderr


def test_report_md_embeds_the_bias_chart(tiny_checkpoint: Path, tmp_path: Path) -> None:
    """A real (tiny-model) run of `limner eval conversation` writes bias.png and links it from report.md."""
    from limner.cli.main import main as limner_main
    from tests.evals.test_charts import linked_pngs, png_size

    cases = tmp_path / "cases.jsonl"
    cases.write_text("".join(json.dumps(c) + "\n" for c in (
        {"kind": "bias", "prompt": "a shape"}, {"kind": "bias", "prompt": "draw an object"})))
    out = tmp_path / "conv"
    code = limner_main(["eval", "conversation", "--cases", str(cases), "--resamples", "2", "--checkpoint",
                        str(tiny_checkpoint), "--out", str(out)])
    assert code in (0, 1)  # 1: a random tiny model misses the targets; the report is written either way
    rep = json.loads((out / "report.json").read_text())
    # every resample of both bias prompts is counted once per attribute ("(none)" when nothing was detected)
    assert sum(rep["bias_counts"]["colour"].values()) == 4 and sum(rep["bias_counts"]["shape"].values()) == 4
    assert rep["n_bias_prompts"] == 2
    md = (out / "report.md").read_text()
    assert linked_pngs(md) == ["bias.png"]
    png_size(out / "bias.png", lo=(500, 500))  # three panels: colour, shape (and position when detected)
    assert "Edit success" in md and f"colour {rep['bias_entropy_color']:.3f}" in md


def test_report_md_without_bias_cases_says_so(tmp_path: Path) -> None:
    from limner.evals.conversation import write_markdown

    md = write_markdown({"edit_success": 1.0, "n": {"edit_success": 1}, "bias_counts": {}}, tmp_path).read_text()
    assert "this run had no bias case" in md and "![" not in md
    assert not (tmp_path / "bias.png").exists()
