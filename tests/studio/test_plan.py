"""ScenePlan: canonical phrasing, eval records for the verifier, and JSON validation."""

import pytest

from limner.studio.plan import PlanError, PlanGrid, PlanObject, PlanText, ScenePlan
from limner.vision.records import validate_record


def test_records_follow_the_plan() -> None:
    p = ScenePlan([PlanObject("heart", "red"), PlanObject("star", "blue", relation=("left of", 0))],
                  PlanText(["SALE"], panel="yellow"))
    recs = [validate_record(r) for r in p.to_records()]
    assert [r["tag"] for r in recs] == ["position", "text"]
    assert recs[0]["include"][1]["position"] == ["left of", 0] and recs[1]["text"] == "SALE"
    assert p.revised_prompt() == "a blue star to the left of a red heart and a yellow sign that says 'SALE'"


def test_free_choices_are_not_required_unless_strict() -> None:
    p = ScenePlan([PlanObject("ring", "pink", position="top", free=("class", "color", "position")),
                   PlanObject("star", "green", free=("color",))])
    loose = p.to_records(strict=False)
    assert loose[0]["include"] == [{"class": "star", "count": 1}] and not p.absolute_positions(strict=False)
    assert len(p.to_records()[0]["include"]) == 2 and p.absolute_positions() == [("ring", "pink", "top")]


def test_json_round_trip_and_named_errors() -> None:
    p = ScenePlan(grid=PlanGrid(1, 2, [PlanObject("star", "red"), PlanObject("cross", "#00FF00")]),
                  background="transparent")
    q = ScenePlan.from_dict(p.to_dict())
    assert q.revised_prompt() == p.revised_prompt() == \
        "a 1 by 2 grid: a red star, a cross in #00FF00 on a transparent background"
    with pytest.raises(PlanError, match="objects\\[0\\].class: unknown object 'dragon'"):
        ScenePlan.from_dict({"objects": [{"class": "dragon", "color": "red"}]})
    with pytest.raises(PlanError, match="text.lines\\[0\\]"):
        ScenePlan.from_dict({"text": {"lines": ["x" * 40]}})
    with pytest.raises(PlanError, match="no objects"):
        ScenePlan.from_dict({})
