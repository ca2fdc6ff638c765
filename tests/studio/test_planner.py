"""The built-in planner (thinking mode): structure, canonical phrasing, seeded diversity, several images."""

from limner.data.world import COLORS, OBJECTS
from limner.studio.plan import PlanObject
from limner.studio.planner import PlannerError, multi_image_request, plan_prompt


def revised(prompt: str, seed: int = 1) -> list[str]:
    return plan_prompt(prompt, seed).revised_prompts


def test_explicit_prompts_keep_every_attribute() -> None:
    assert revised("a red star above a blue ring") == ["a red star above a blue ring"]
    assert revised("three green triangles") == ["three green triangles"]
    assert revised("a large orange diamond in the top left and a small cyan cross") == [
        "a large orange diamond in the top left and a small cyan cross"]
    p = plan_prompt("a heart with a star to its left, background: black", 0).plans[0]
    assert [o.cls for o in p.objects] == ["heart", "star"] and p.objects[1].relation == ("left of", 0)
    assert p.background == "black"


def test_text_grid_hex_and_transparency() -> None:
    p = plan_prompt("a yellow sign that says 'OPEN 7 DAYS' at the top", 0).plans[0]
    assert p.text is not None and p.text.lines == ["OPEN 7 DAYS"] and p.text.panel == "yellow"
    assert p.text.position == "top" and not p.objects
    g = plan_prompt("a 2 by 2 grid: a blue star, a red triangle, a green circle, a pink heart", 0).plans[0].grid
    assert g is not None and [(c.cls, c.color) for c in g.cells] == [
        ("star", "blue"), ("triangle", "red"), ("circle", "green"), ("heart", "pink")]
    p = plan_prompt("a circle in #1E90FF, background=transparent", 0).plans[0]
    assert p.objects[0].color == "#1E90FF" and p.background == "transparent"
    assert p.revised_prompt().endswith("on a transparent background")
    assert plan_prompt("the word HELLO in red", 0).plans[0].text.color == "red"  # type: ignore[union-attr]


def test_unspecified_details_are_diverse_and_seeded() -> None:
    picks = [plan_prompt("a shape", s).plans[0].objects[0] for s in range(40)]
    assert len({p.cls for p in picks}) >= 10 and len({p.color for p in picks}) >= 8
    assert all(p.cls in OBJECTS and p.color in COLORS and p.color != "white" for p in picks)
    assert len({p.position for p in picks}) >= 6
    assert "class" in picks[0].free and "color" in picks[0].free
    assert revised("a shape", 3) == revised("a shape", 3)
    four = plan_prompt("four shapes", 2).plans[0].objects
    assert len(four) == 4 and len({(o.cls, o.color) for o in four}) == 4  # heterogeneous, not four copies


def test_several_images_when_asked() -> None:
    assert multi_image_request("three variations of a red star")[:2] == (3, "variations")
    assert multi_image_request("a four-panel strip of a heart")[:2] == (4, "panels")
    r = plan_prompt("three variations of a star on a black background", 5)
    assert len(r.plans) == 3 and all(p.objects[0].cls == "star" and p.background == "black" for p in r.plans)
    assert len(set(r.revised_prompts)) > 1 and "answering with 3 variations" in r.notes
    assert len(plan_prompt("10 variations of a ring").plans) == 6


def test_references_fill_the_named_object() -> None:
    ref = PlanObject("star", "red")
    p = plan_prompt("draw the object in this image, but green, in the bottom right", 0, [ref]).plans[0]
    assert (p.objects[0].cls, p.objects[0].color, p.objects[0].position) == ("star", "green", "bottom right")
    p = plan_prompt("the same shape as in the image, at the top", 0, [ref]).plans[0]
    assert (p.objects[0].cls, p.objects[0].color) == ("star", "red")


def test_a_named_reference_that_was_not_uploaded_is_an_error() -> None:
    try:
        plan_prompt("the object in the second image, in blue", 0, [PlanObject("star", "red")])
    except PlannerError as e:
        assert "image 2" in str(e)
    else:
        raise AssertionError("expected PlannerError")
