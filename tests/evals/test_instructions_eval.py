"""`limner eval instructions`: the reader on held-out phrasing families, per family, with its latency."""

import json

from limner.cli.main import main


def test_eval_instructions_reports_every_family(tmp_path, capsys) -> None:
    out = tmp_path / "ev"
    code = main(["eval", "instructions", "--per-family", "3", "--out", str(out)])
    rep = json.loads((out / "report.json").read_text())
    assert code == (0 if rep["understood"] >= 0.95 and rep["exact"] >= 0.90 else 1)
    assert rep["n"] == 3 * len(rep["families"])
    assert set(rep["families"]) >= {"negation", "two_ops", "undo", "none", "prompt"}
    assert rep["sources"]["model"] + rep["sources"]["parser"] == rep["n"]
    assert 0 < rep["latency_ms_p50"] <= rep["latency_ms_p95"]
    one = rep["one_off"]  # every fresh generation prompt routed as a one-off
    assert one["n"] == 180 and 0 <= one["drawn"] <= one["n"]
    assert len(one["refused"]) == min(20, one["n"] - one["drawn"])  # the first refused prompts, for reading
    table = capsys.readouterr().out
    assert "| two_ops | 3 |" in table and "Latency per turn" in table and "One-off prompts" in table
    assert (out / "report.md").read_text().startswith("# Instruction reader")


def test_eval_instructions_bad_input_is_exit_2(tmp_path, capsys) -> None:
    assert main(["eval", "instructions", "--per-family", "0", "--out", str(tmp_path / "a")]) == 2
    assert "--per-family must be between 1 and 1000, got 0" in capsys.readouterr().err
    assert main(["eval", "instructions", "--weights", str(tmp_path / "none.safetensors"), "--out",
                 str(tmp_path / "b")]) == 2
    assert "cannot load reader weights" in capsys.readouterr().err
