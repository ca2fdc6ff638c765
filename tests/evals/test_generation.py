import json

import pytest
from PIL import Image

from limner.data.scene import render
from limner.data.world import GENEVAL_TAGS, TAGS
from limner.evals.generation import EvalError, _derangement, evaluate_generation
from limner.evals.heldout import heldout_records
from limner.vision.records import record_to_scene


def _sample(per_tag: int) -> list[dict]:
    recs = heldout_records()
    out = []
    for t in TAGS:
        out += [r for r in recs if r["tag"] == t][:per_tag]
    return out


@pytest.fixture(scope="module")
def oracle_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("oracle")
    return evaluate_generation(None, _sample(3), samples=1, out_dir=out, oracle=True), out


def test_oracle_high_control_low_on_heldout_sample(oracle_report):
    rep, out = oracle_report
    v = rep["validation"]
    assert v["oracle"] >= 0.98, v["oracle_failures"]
    assert v["control"] <= 0.30
    assert v["valid"] is True
    assert rep["overall"] >= 0.98


def test_report_has_world_md_fields(oracle_report):
    rep, out = oracle_report
    on_disk = json.loads((out / "report.json").read_text())
    assert on_disk == rep
    assert set(rep["tags"]) == set(TAGS)
    for t in TAGS:
        assert {"score", "n"} <= set(rep["tags"][t]) and rep["tags"][t]["n"] == 3
    assert {"exact", "ned"} <= set(rep["tags"]["text"])
    assert rep["tags"]["hex_color"]["median_de2000"] < 2.0
    assert rep["overall"] == pytest.approx(sum(rep["tags"][t]["score"] for t in GENEVAL_TAGS) / 6)
    assert {"oracle", "control", "valid"} <= set(rep["validation"])
    assert rep["samples"] == 1 and "checkpoint" in rep
    assert len(list((out / "images").glob("*.png"))) == 27
    assert "| text |" in (out / "report.md").read_text()
    assert len((out / "results.jsonl").read_text().splitlines()) == 27


def test_generator_path_scores_what_it_is_given(tmp_path):
    """A real generate_fn: it draws the oracle scene of ANOTHER record, so its own score must be low while
    validation (on the oracle renders) still passes; a blank generator scores zero."""
    recs = _sample(2)
    scenes = {r["prompt"]: record_to_scene(r, seed=5) for r in recs}
    prompts = [r["prompt"] for r in recs]
    calls = []

    def shifted(prompt, size, background, n, seed):
        calls.append((prompt, size, background, n, seed))
        other = prompts[(prompts.index(prompt) + 2) % len(prompts)]
        return [render(scenes[other])] * n

    rep = evaluate_generation(shifted, recs, samples=2, out_dir=tmp_path / "a", checkpoint_sha="abc")
    assert len(calls) == len(recs) and all(c[3] == 2 and c[1] == (256, 256) for c in calls)
    assert {c[2] for c in calls} <= {"opaque", "transparent"}
    assert rep["overall"] <= 0.3 and rep["checkpoint"] == "abc"
    assert rep["validation"]["oracle"] >= 0.98

    def blank(prompt, size, background, n, seed):
        return [Image.new("RGB", size, "white") for _ in range(n)]

    rep = evaluate_generation(blank, recs, samples=1, out_dir=tmp_path / "b")
    assert rep["overall"] == 0.0 and rep["tags"]["text"]["ned"] == 0.0
    assert rep["tags"]["hex_color"]["median_de2000"] == 100.0


def test_report_splits_scores_by_phrasing(tmp_path):
    """Exact renders for the sampler-worded records and blanks for the re-phrased ones: by_phrasing must put
    every point on the sampler side."""
    recs = []
    for t in GENEVAL_TAGS:
        for ph in ("sampler", "heldout"):
            recs += [r for r in heldout_records() if r["tag"] == t and r["phrasing"] == ph][:1]
    by_prompt = {r["prompt"]: r for r in recs}

    def half(prompt, size, background, n, seed):
        r = by_prompt[prompt]
        if r["phrasing"] == "sampler":
            return [render(record_to_scene(r, size, seed=3))] * n
        return [Image.new("RGB", size, "white")] * n

    rep = evaluate_generation(half, recs, samples=1, out_dir=tmp_path)
    bp = rep["by_phrasing"]
    assert set(bp) == {"sampler", "heldout"}
    assert bp["sampler"]["overall"] >= 0.98 and bp["heldout"]["overall"] == 0.0
    assert bp["sampler"]["n_records"] == bp["heldout"]["n_records"] == len(GENEVAL_TAGS)
    assert rep["overall"] == pytest.approx(0.5, abs=0.02)
    assert "| heldout |" in (tmp_path / "report.md").read_text()


def test_bad_inputs(tmp_path):
    recs = _sample(1)[:2]
    with pytest.raises(EvalError, match="record 1"):
        evaluate_generation(None, [recs[0], {"tag": "nope", "prompt": "x"}], 1, tmp_path, oracle=True)
    with pytest.raises(EvalError, match="returned 1 images, expected 2"):
        evaluate_generation(lambda p, s, b, n, seed: [Image.new("RGB", s)], recs, 2, tmp_path / "c")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(EvalError, match="not writable"):
        evaluate_generation(None, recs, 1, blocker / "out", oracle=True)


def test_derangement_has_no_fixed_points_and_keeps_tags():
    recs = _sample(3) + [{"tag": "text"}] * 0
    perm = _derangement(recs, 0)
    assert all(p != i for i, p in enumerate(perm))
    assert all(recs[p]["tag"] == recs[i]["tag"] for i, p in enumerate(perm))
    lonely = [{"tag": "text"}, {"tag": "counting"}, {"tag": "counting"}]
    assert _derangement(lonely, 0)[0] in (1, 2)
    assert _derangement([{"tag": "text"}], 0) == [-1]
