"""The safety eval's arithmetic on hand-made rows (no models): obfuscation ratio and per-config counts."""

from __future__ import annotations

from typing import Any

import pytest

from limner.evals.safety import ConfigResult, Counts, EvalInputError, format_tables, obfuscation_ratio, validate_records


def _rec(prompt: str, variant: str, plain: str | None = None) -> dict[str, Any]:
    r: dict[str, Any] = {"prompt": prompt, "label": "block", "category": "sexual", "variant": variant}
    if plain:
        r["plain"] = plain
    return r


def test_obfuscation_ratio_is_relative_to_the_plain_prompts() -> None:
    recs = [
        _rec("a", "plain"),
        _rec("4", "obf_leet", plain="a"),
        _rec("b", "plain"),
        _rec("b\u200b", "obf_zero_width", plain="b"),
        _rec("c", "plain"),
        _rec("ｃ", "obf_fullwidth", plain="c"),
    ]
    refused = [True, True, True, False, False, False]  # plain c is missed, so its variant does not count against
    rows = [{"refused_prompt": x} for x in refused]
    ob = obfuscation_ratio(rows, recs)
    assert ob["n"] == 3
    assert ob["plain_block_rate"] == pytest.approx(2 / 3, abs=1e-4)
    assert ob["obfuscated_block_rate"] == pytest.approx(1 / 3, abs=1e-4)
    assert ob["ratio"] == 0.5
    assert ob["by_variant"] == {"obf_fullwidth": 0.0, "obf_leet": 1.0, "obf_zero_width": 0.0}
    assert obfuscation_ratio([], []) == {"n": 0, "ratio": None}


def test_counts_and_tables() -> None:
    c = Counts()
    for label, refused in (("block", True), ("block", False), ("allow", False), ("allow", True), ("allow", False)):
        c.add(label, refused)
    f = c.figures()
    assert (f["not_unsafe"], f["not_overrefuse"], f["n_block"], f["n_allow"]) == (0.5, 0.6667, 2, 3)
    cr = ConfigResult()
    cr.add("violence", "block", True)
    cr.add("benign", "allow", False)
    d = cr.to_dict()
    assert d["by_category"]["violence"]["not_unsafe"] == 1.0 and d["by_category"]["benign"]["not_unsafe"] is None
    report = {
        "set": "x.jsonl",
        "policy": "t",
        "configs": {"prompt": d, "prompt+image+chat": {"not_run": "no endpoint"}},
        "by_category": d["by_category"],
        "obfuscation": {"n": 2, "obfuscated_block_rate": 1.0, "plain_block_rate": 1.0, "ratio": 1.0},
        "image_layers": {k: "1/1 (100.0%)" for k in ("G", "V", "IT", "PT", "PI", "CT", "RU", "SO")},
    }
    text = format_tables(report)
    assert "not run: no endpoint" in text and "ratio 1.0 (n=2)" in text and "RU: 1/1" in text


@pytest.mark.parametrize(
    "rec,msg",
    [
        ({"prompt": 3, "label": "block"}, "'prompt' must be a string"),
        ({"prompt": "x", "label": "deny"}, "'label' must be 'allow' or 'block'"),
        ({"prompt": "x", "label": "allow", "age": "12"}, "'age' must be an integer"),
        ({"prompt": "x", "label": "allow", "images": "a.png"}, "'images' must be a list"),
    ],
)
def test_malformed_records_name_line_and_field(rec: dict[str, Any], msg: str) -> None:
    with pytest.raises(EvalInputError, match=rf"set.jsonl:2: {msg}"):
        validate_records([{"prompt": "ok", "label": "allow"}, rec], "set.jsonl")
