"""Decisions: merging two stages keeps the refusing stage's name and its audit record id."""

from limner.safety.verdict import Decision, Verdict


def _v(allowed: bool, layer: str) -> Verdict:
    return Verdict(allowed, layer, None if allowed else "sexual", None if allowed else "r1", {}, "why")


def test_merge_names_the_refusing_stage_and_keeps_its_record() -> None:
    prompt = Decision(True, "prompt", [_v(True, "keywords")], decision_id="p-1")
    images = Decision(False, "input", [_v(False, "nudity")], decision_id="i-2")
    d = prompt.merge(images)
    assert not d.allowed and d.stage == "input" and d.decision_id == "i-2"
    assert [v.layer for v in d.verdicts] == ["keywords", "nudity"]
    refused_first = Decision(False, "prompt", [_v(False, "keywords")], decision_id="p-3").merge(images)
    assert refused_first.stage == "prompt" and refused_first.decision_id == "p-3"


def test_merge_of_allowed_stages_is_allowed_with_the_last_record() -> None:
    d = Decision(True, "prompt", decision_id="p-1").merge(Decision(True, "input", decision_id="i-2"))
    assert d.allowed and d.stage == "input" and d.decision_id == "i-2"
