from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from limner.safety.policy import REQUIRED_CATEGORIES, PolicyError, load_policy, load_raw, validate


def _write(tmp: Path, data: dict) -> Path:
    p = tmp / "policy.yaml"
    p.write_text(yaml.safe_dump(data))
    return p


def test_default_policy_covers_every_category_of_the_seeds() -> None:
    p = load_policy()
    for c in REQUIRED_CATEGORIES:
        assert c in p.categories
    ruled = {r.category for r in p.rules}
    for c in (
        "child_safety",
        "sexual",
        "violence",
        "self_harm",
        "extremism_hate",
        "real_people",
        "illicit",
        "cbrn",
        "public_figures",
        "styles",
    ):
        assert c in ruled, f"no rule for {c}"
    for r in p.rules:  # every rule says what is disallowed and what is allowed
        assert r.disallowed and r.allowed, r.id


def test_unknown_category_is_named(tmp_path: Path) -> None:
    data, _ = load_raw()
    data["rules"][2]["category"] = "gore"
    with pytest.raises(PolicyError, match=r"rules\[2\].*category: unknown category 'gore'"):
        validate(data)


@pytest.mark.parametrize(
    "mutate,msg",
    [
        (lambda r: r.pop("match"), "match"),
        (lambda r: r.update(match=["(unclosed"]), "invalid pattern"),
        (lambda r: r.update(match=["$no_such_lexicon"]), "unknown lexicon"),
        (lambda r: r.update(colour="red"), "unknown field"),
        (lambda r: r.update(minor_only="yes"), "minor_only"),
    ],
)
def test_malformed_rule_is_named(mutate, msg: str) -> None:
    data, _ = load_raw()
    mutate(data["rules"][5])
    with pytest.raises(PolicyError, match=msg):
        validate(data)


def test_child_safety_can_never_be_relaxed() -> None:
    data, _ = load_raw()
    data["moderation"]["low_relaxes"] = ["child_safety"]
    with pytest.raises(PolicyError, match="can never be relaxed"):
        validate(data)


def test_thresholds_validated() -> None:
    data, _ = load_raw()
    data["classifier"]["thresholds"]["violence"] = {"adult": 1.5, "minor": 0.5, "low": 0.9}
    with pytest.raises(PolicyError, match=r"classifier.thresholds.violence.adult"):
        validate(data)


def test_operator_file_extends_relaxes_and_adds(tmp_path: Path) -> None:
    from limner.safety.layers import RulesLayer

    p = _write(
        tmp_path,
        {
            "extends": "default",
            "version": "op-1",
            "name": "operator",
            "rules": [
                {"id": "style.living_artist", "enabled": False},
                {
                    "id": "op.no_clowns",
                    "category": "violence",
                    "description": "no clowns",
                    "disallowed": "clowns",
                    "allowed": "mimes",
                    "match": [["clowns?"]],
                },
            ],
        },
    )
    pol = load_policy(p)
    assert pol.version == "op-1"
    ids = [r.id for r in pol.rules]
    assert "style.living_artist" not in ids and "op.no_clowns" in ids
    fired = RulesLayer(pol).fired(["a sad clown"], minor=False, low=False)
    assert fired == ["op.no_clowns"]


def test_missing_and_non_yaml_files(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="not found"):
        load_policy(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules: [unclosed")
    with pytest.raises(PolicyError, match="not valid YAML"):
        load_policy(bad)
