"""The paraphrase check: five phrasings of one record, all valid records that differ only in their prompt, and the
CLI's spread on a tiny model."""

from __future__ import annotations

import json
from pathlib import Path

from limner.cli.main import main
from limner.evals.paraphrase_check import PHRASINGS, paraphrase_records


def test_each_record_is_worded_five_ways_and_only_the_prompt_differs() -> None:
    recs = paraphrase_records(12)
    assert len(recs) == 60 and [r["phrasing"] for r in recs[:5]] == list(PHRASINGS)
    for i in range(12):
        group = recs[5 * i : 5 * i + 5]
        assert len({r["prompt"] for r in group}) == 5  # five different wordings
        strip = [{k: v for k, v in r.items() if k not in ("prompt", "phrasing")} for r in group]
        assert all(s == strip[0] for s in strip)  # of one and the same record
    polite = recs[1]["prompt"]
    assert polite.startswith("could you please draw") and polite.endswith("thank you!")


def test_cli_reports_each_phrasing_and_the_spread(tmp_path: Path, tiny_checkpoint: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["eval", "paraphrase", "--records", "0", "--out", str(tmp_path / "bad")]) == 2
    assert "--records must be between 1 and 300, got 0" in capsys.readouterr().err
    out = tmp_path / "p"
    main(["eval", "paraphrase", "--checkpoint", str(tiny_checkpoint), "--records", "2", "--out", str(out)])
    rep = json.loads((out / "paraphrase.json").read_text())
    assert set(rep["phrasings"]) == set(PHRASINGS) and rep["n_records"] == 2
    assert rep["spread"] == max(rep["phrasings"].values()) - min(rep["phrasings"].values())
    assert "spread" in (out / "paraphrase.md").read_text()
