"""The verifier: plans scored by the project's detector (and OCR) on exact renders."""

from limner.data.scene import Scene, SceneObject, SceneText, render
from limner.studio.plan import PlanObject, PlanText, ScenePlan
from limner.studio.verifier import pick_best, verify


def test_verifier_checks_class_colour_position_and_text() -> None:
    plan = ScenePlan([PlanObject("star", "red", position="top left")])
    good = render(Scene(256, 256, "white", [SceneObject("star", "red", cx=0.22, cy=0.22)]))
    moved = render(Scene(256, 256, "white", [SceneObject("star", "red", cx=0.78, cy=0.78)]))
    recoloured = render(Scene(256, 256, "white", [SceneObject("star", "blue", cx=0.22, cy=0.22)]))
    v = verify(good, plan)
    assert v.correct and v.score == 1.0
    assert verify(moved, plan).score == 0.5 and "top left" in verify(moved, plan).reasons[-1]
    assert verify(moved, plan, strict=True).score < verify(moved, ScenePlan([PlanObject(
        "star", "red", position="top left", free=("position",))]), strict=False).score
    assert pick_best([recoloured, moved, good], plan)[0] == 2
    sign = ScenePlan(text=PlanText(["OPEN"]))
    v = verify(render(Scene(256, 256, "white", [], SceneText(["OPEN"]))), sign)
    assert v.correct and v.extra["text_exact"] == 1.0
    # text the engine typesets but eval records do not allow ('%') is still scored, not an error
    sale = ScenePlan(text=PlanText(["50% OFF"]))
    v = verify(render(Scene(256, 256, "white", [], SceneText(["50% OFF"]))), sale)
    assert v.extra["text_read"] and 0.0 <= v.score <= 1.0


def test_among_candidates_that_all_miss_the_one_with_most_objects_right_wins() -> None:
    """Scored 0/1 alone, a three-object plan's near misses all tie and the first candidate was kept, whatever it
    lost; the share of checks met ranks them, below any candidate that has them all."""
    plan = ScenePlan([PlanObject("star", "red"), PlanObject("heart", "blue"), PlanObject("ring", "green")])
    objs = [SceneObject("star", "red", cx=0.2, cy=0.3), SceneObject("heart", "blue", cx=0.75, cy=0.3),
            SceneObject("ring", "green", cx=0.5, cy=0.75)]
    none_right = render(Scene(256, 256, "white", [SceneObject("star", "yellow", cx=0.2, cy=0.3)]))
    two_right = render(Scene(256, 256, "white", objs[:2]))
    all_right = render(Scene(256, 256, "white", objs))
    scores = [verify(im, plan).score for im in (none_right, two_right, all_right)]
    assert scores[0] == 0.0 and 0.0 < scores[1] < 0.5 < scores[2] == 1.0
    assert pick_best([none_right, two_right], plan)[0] == 1
    assert pick_best([none_right, two_right, all_right], plan)[0] == 2


def test_a_resize_is_verified_against_the_objects_size_before_the_edit() -> None:
    from limner.studio.edits import apply_edit, parse_edit, size_goals
    from limner.studio.reading import observe

    before = render(Scene(256, 256, "white", [SceneObject("star", "red", "medium")])).convert("RGB")
    big = render(Scene(256, 256, "white", [SceneObject("star", "red", "large")])).convert("RGB")
    same = before
    plan = ScenePlan([PlanObject("star", "red")])
    seen = observe(before)
    edited, change = apply_edit(plan, parse_edit("make the star bigger"), observed=seen)
    goals = size_goals(parse_edit("make the star bigger"), change, seen)
    assert len(goals) == 1 and goals[0].bigger and goals[0].cls == "star"
    assert verify(big, edited, sizes=goals).score > verify(same, edited, sizes=goals).score
    assert "not bigger" in verify(same, edited, sizes=goals).reasons[-1]
    assert pick_best([same, big], edited, sizes=goals)[0] == 1
    _, change = apply_edit(plan, parse_edit("make the star smaller"), observed=seen)
    assert not size_goals(parse_edit("make the star smaller"), change, seen)[0].bigger
    assert size_goals(parse_edit("make the star blue"), change, seen) == []  # only a resize has one
