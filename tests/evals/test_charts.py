"""Every chart renders from small data to a PNG of a sensible size, and the reports link their charts."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from limner.cli.main import main as limner_main
from limner.evals.charts import (
    ChartError,
    Sample,
    bias_chart,
    draw_or_warn,
    loss_chart,
    main,
    md_image,
    robustness_chart,
    safety_category_chart,
    safety_layers_chart,
    sample_grid,
    tag_scores_chart,
)
from limner.evals.safety import write_markdown


def png_size(path: Path, lo: tuple[int, int] = (300, 150), hi: tuple[int, int] = (3000, 4000)) -> tuple[int, int]:
    """The PNG opens with PIL and its size lies in [lo, hi]; returns the size."""
    assert path.is_file(), path
    with Image.open(path) as im:
        assert im.format == "PNG"
        im.load()
        w, h = im.size
    assert lo[0] <= w <= hi[0] and lo[1] <= h <= hi[1], (path.name, w, h)
    return w, h


def linked_pngs(md: str) -> list[str]:
    return re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", md)


def test_tag_scores_with_reference_and_missing_value(tmp_path: Path) -> None:
    out = tag_scores_chart({"single_object": 1.0, "counting": 0.25, "text": None}, tmp_path / "t.png",
                           reference={"single_object": 1.0, "counting": 1.0})
    png_size(out)
    with pytest.raises(ChartError, match="no tag scores"):
        tag_scores_chart({}, tmp_path / "e.png")


def test_sample_grid_marks_pass_fail_and_draws_transparency(tmp_path: Path) -> None:
    f = tmp_path / "a.png"
    Image.new("RGB", (256, 256), "red").save(f)
    clear = Image.new("RGBA", (384, 256), (0, 0, 0, 0))
    samples = [Sample(f, "a red square that costs $5 and has a very long prompt " * 3, True),
               Sample(clear, "transparent", False), Sample(clear, "no verdict")]
    w, h = png_size(sample_grid(samples, tmp_path / "g.png", cols=2))
    assert h > w  # two rows of two columns, each cell taller than wide (caption above)
    with pytest.raises(ChartError, match="cannot open sample image"):
        sample_grid([Sample(tmp_path / "missing.png", "x")], tmp_path / "m.png")


def test_bias_chart_shows_every_label_and_entropy(tmp_path: Path) -> None:
    counts = {"colour": {"red": 6, "blue": 2, "white": 1}, "shape": {"circle": 5, "star": 4}}
    out = bias_chart(counts, {"colour": 0.61, "shape": 0.99}, tmp_path / "bias.png",
                     labels={"colour": ["red", "blue", "white", "green"]})
    png_size(out)


def test_robustness_chart_takes_bench_table_or_rows(tmp_path: Path) -> None:
    table = {"none": {"bit": 0.99, "found": 0.98, "recall": 1.0}, "jpeg_q75": {"bit": 0.97, "found": 0.9}}
    png_size(robustness_chart(table, tmp_path / "r1.png", targets={"bit": 0.95}))
    rows = [{"attack": a, **v} for a, v in table.items()]
    png_size(robustness_chart(rows, tmp_path / "r2.png", metrics=("bit", "recall")))
    with pytest.raises(ChartError, match="'attack'"):
        robustness_chart([{"bit": 1.0}], tmp_path / "r3.png")


def write_log(path: Path) -> None:
    recs = [{"step": s, "lr": 1e-3 * s / 30, "loss": 1.0 / s, "rec": 0.8 / s, "grad_norm": 1.0, "s_per_step": 0.1,
             "time": 0.0} for s in (10, 20, 30, 20, 30)]  # a resume at step 10 logs 20 and 30 again
    path.write_text("\n".join(json.dumps(r) for r in recs) + '\n{"step": 4', encoding="utf-8")  # killed mid-line


def test_loss_chart_and_its_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "run" / "log.jsonl"
    log.parent.mkdir()
    write_log(log)
    assert loss_chart(log) == log.with_name("loss.png")
    png_size(log.with_name("loss.png"))
    assert main(["loss", str(log), "-o", str(tmp_path / "again.png")]) == 0
    png_size(tmp_path / "again.png")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert main(["loss", str(empty)]) == 2
    assert "no logged steps" in capsys.readouterr().err


def test_robustness_command_reads_bench_results(tmp_path: Path) -> None:
    res = tmp_path / "results.json"
    res.write_text(json.dumps({"robustness": {"attacks": {"none": {"bit": 1.0, "recall": 1.0}}}}))
    assert main(["robustness", str(res), "-o", str(tmp_path / "rob.png")]) == 0
    png_size(tmp_path / "rob.png")
    assert main(["robustness", str(tmp_path / "log.jsonl")]) == 2


def test_draw_or_warn_reports_instead_of_raising(tmp_path: Path) -> None:
    said: list[str] = []
    assert draw_or_warn(tag_scores_chart, {}, tmp_path / "x.png", warn=said.append) is None
    assert said and "tag_scores_chart" in said[0] and not (tmp_path / "x.png").exists()


def test_md_image_links_relative_to_the_report(tmp_path: Path) -> None:
    assert md_image(tmp_path / "rep" / "tags.png", tmp_path / "rep", "a [b]") == r"![a \[b\]](tags.png)"
    assert md_image(tmp_path / "rep" / "c" / "x.png", tmp_path / "rep", "x") == "![x](c/x.png)"


def safety_report() -> dict:
    figs = {"not_unsafe": 0.9, "not_overrefuse": 0.95, "n_block": 10, "n_allow": 20}
    return {
        "set": "heldout.jsonl", "policy": "test", **figs,
        "by_category": {"violence": figs, "benign": {**figs, "not_unsafe": None, "n_block": 0}},
        "configs": {"rules": figs, "prompt": figs, "prompt+image": figs,
                    "prompt+image+chat": {"not_run": "no chat judge endpoint configured (--chat-url)"}},
    }


def test_safety_charts_and_markdown(tmp_path: Path) -> None:
    rep = safety_report()
    png_size(safety_category_chart(rep["by_category"], tmp_path / "c.png"))
    png_size(safety_layers_chart(rep["configs"], tmp_path / "l.png"))
    md = write_markdown(rep, tmp_path / "rep").read_text()
    assert linked_pngs(md) == ["layers.png", "categories.png"]
    for name in linked_pngs(md):
        png_size(tmp_path / "rep" / name)
    assert "not_unsafe" in md and "prompt+image+chat" in md  # the tables follow the charts


def test_generation_report_writes_and_links_its_charts(tmp_path: Path) -> None:
    out = tmp_path / "gen"
    assert limner_main(["eval", "generation", "--oracle", "--limit", "9", "--samples", "1", "--out", str(out)]) == 0
    md = (out / "report.md").read_text()
    links = linked_pngs(md)
    assert links[:2] == ["tags.png", "samples.png"]
    png_size(out / "tags.png")
    png_size(out / "samples.png", lo=(600, 400))
    assert md.index("tags.png") < md.index("| tag |")  # the chart leads the table it summarises
    with Image.open(out / "samples.png") as im:
        pixels = np.asarray(im.convert("RGB").resize((64, 64))).reshape(-1, 3)
    assert len(np.unique(pixels, axis=0)) > 20  # the grid holds pictures, not an empty canvas


def test_provenance_bench_report_embeds_its_robustness_chart(tmp_path: Path) -> None:
    """bench/provenance writes results.md beside its results.json, linking robustness.png (per attack)."""
    from bench.provenance.run import TARGETS
    from bench.provenance.run import main as bench_main

    attacks = {a: {"bit": 1.0, "found": 0.95, "recall": 1.0, "wrong": 0.0, "bit_content_ge_10pct": 1.0,
                   "bit_opaque": 1.0, "bit_transparent": None} for a in TARGETS}
    attacks["crop_10%"]["bit"] = 0.8  # below its must-reach of 0.90: the table must say FAIL
    results = {"robustness": {"images": 3, "images_content_ge_10pct": 3, "images_transparent": 0,
                              "psnr_db_min": 38.5, "psnr_db_mean": 38.7, "attacks": attacks},
               "false_positives": {"images": 5, "watermark_false_positives": 0, "index_false_matches": 0,
                                   "verdict_not_no_evidence": 0}}
    res = tmp_path / "bench" / "results.json"
    res.parent.mkdir()
    res.write_text(json.dumps(results))
    assert bench_main(["--report-only", "--out", str(res)]) == 0
    md = (res.parent / "results.md").read_text()
    assert linked_pngs(md) == ["robustness.png"]
    png_size(res.parent / "robustness.png", lo=(600, 500))
    assert md.index("robustness.png") < md.index("| figure")  # the chart leads the table it summarises
    assert "FAIL: watermark bit accuracy, crop_10%" in md
    # results without a robustness phase still get their table, and say why there is no chart
    res.write_text(json.dumps({"stage_cost": {}}))
    (res.parent / "robustness.png").unlink()
    assert bench_main(["--report-only", "--out", str(res)]) == 0
    assert "no robustness chart" in (res.parent / "results.md").read_text()
    assert not (res.parent / "robustness.png").exists()


def test_robustness_chart_marks_per_attack_targets(tmp_path: Path) -> None:
    table = {"none": {"bit": 1.0, "recall": 1.0}, "crop": {"bit": 0.9, "recall": 0.97}}
    png_size(robustness_chart(table, tmp_path / "r.png", metrics=("bit", "recall"),
                              targets={"bit": {"none": 1.0, "crop": 0.9}, "recall": 0.95}))
