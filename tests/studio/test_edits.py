"""Edit instructions of world.md: parsing, applying them to a plan, and the region each one changes."""

import pytest

from limner.studio.edits import EditError, EditOp, apply_edit, edit_region, is_edit_instruction, parse_edit
from limner.studio.plan import PlanObject, PlanText, ScenePlan
from limner.studio.reading import Observed


@pytest.mark.parametrize(("instruction", "kind", "detail"), [
    ("make the red star blue", "recolour", (("star", "red"), "blue")),
    ("change the circle to green", "recolour", (("circle", None), "green")),
    ("add a blue star in the top left", "add", "top left"),
    ("remove the ring", "remove", ("ring", None)),
    ("move the star to the bottom right", "move", "bottom right"),
    ("make the star bigger", "resize", "large"),
    ("shrink the circle", "resize", "small"),
    ("change the text to 'SALE'", "text", ["SALE"]),
    ("replace 'OPEN' with 'CLOSED'", "text", ["CLOSED"]),
    ("make the background black", "background", "black"),
])
def test_parse(instruction: str, kind: str, detail: object) -> None:
    op = parse_edit(instruction)
    assert op.kind == kind
    got = {"recolour": (op.target, op.color), "add": op.position, "remove": op.target, "move": op.position,
           "resize": op.size, "text": op.lines, "background": op.color}[kind]
    assert got == detail


def test_descriptions_are_not_edits() -> None:
    for p in ("draw a red circle", "a sign that says 'OPEN'", "write the text 'HI'", "a star, background: yellow",
              "make an image with a red circle", "make a picture of a star in blue"):
        assert not is_edit_instruction(p), p
    with pytest.raises(EditError, match="not an edit instruction: 'hello there'"):
        parse_edit("hello there")


def scene() -> ScenePlan:
    return ScenePlan([PlanObject("star", "red"), PlanObject("ring", "blue", position="bottom right")],
                     PlanText(["OPEN"]))


def test_apply_changes_only_the_target() -> None:
    p = scene()
    new, ch = apply_edit(p, parse_edit("make the star green"))
    assert new.objects[0].color == "green" and new.objects[1] == p.objects[1] and p.objects[0].color == "red"
    assert ch.before[0].color == "red" and ch.after[0].color == "green"
    new, _ = apply_edit(p, parse_edit("remove the star"))
    assert [o.cls for o in new.objects] == ["ring"]
    new, _ = apply_edit(p, parse_edit("change the text to 'SHUT'"))
    assert new.text is not None and new.text.lines == ["SHUT"]
    new, ch = apply_edit(p, parse_edit("add a yellow heart"),
                         observed=[Observed(p.objects[1], (180, 180, 220, 220), (200.0, 200.0))])
    assert new.objects[-1].position is not None and new.objects[-1].position != "bottom right"


def test_missing_target_is_named() -> None:
    with pytest.raises(EditError, match="no green star in the image to edit \\(it shows: red star, blue ring\\)"):
        apply_edit(scene(), parse_edit("remove the green star"))


def test_blank_new_text_is_a_clear_error() -> None:
    op = parse_edit("change the text to ' '")
    assert op.kind == "text" and op.lines == []
    with pytest.raises(EditError, match="the new text is empty"):
        apply_edit(scene(), op)


def test_region_covers_before_and_after_only() -> None:
    p = scene()
    seen = [Observed(p.objects[0], (20, 20, 60, 60), (40.0, 40.0))]
    _, ch = apply_edit(p, parse_edit("move the star to the bottom left"), observed=seen)
    r = edit_region(ch, seen, (256, 256))
    assert r[40, 40] and r[200, 56] and not r[128, 128] and not r[200, 200]
    _, ch = apply_edit(p, parse_edit("make the background pink"))
    r = edit_region(ch, seen, (256, 256))
    assert not r[40, 40] and r[128, 128]


def test_edit_layout_keeps_untouched_objects_and_places_the_changed_one() -> None:
    from limner.studio.edits import edit_layout

    p = ScenePlan(objects=[PlanObject("star", "red"), PlanObject("circle", "blue")])
    seen = [Observed(p.objects[0], (20, 20, 60, 60), (40.0, 40.0)),
            Observed(p.objects[1], (180, 100, 240, 160), (210.0, 130.0))]
    _, ch = apply_edit(p, parse_edit("move the star to the bottom left"), observed=seen)
    lay = edit_layout(ch, seen, (256, 256))
    assert [it.name for it in lay] == ["circle", "star"]  # the kept object, then the changed one on top
    assert abs(lay[0].center()[0] - 210 / 256) < 0.03 and abs(lay[0].radius_frac() - 30 / 256) < 0.02
    assert lay[1].center()[0] < 0.3 and lay[1].center()[1] > 0.7  # bottom left
    _, ch = apply_edit(p, parse_edit("make the star green"), observed=seen)
    star = edit_layout(ch, seen, (256, 256))[-1]
    assert star.name == "star" and abs(star.center()[0] - 40 / 256) < 0.03  # recoloured where it was
    _, ch = apply_edit(p, parse_edit("remove the star"), observed=seen)
    assert [it.name for it in edit_layout(ch, seen, (256, 256))] == ["circle"]
    # the detector could not name the star: a red blob is where it stands, so it is recoloured there, not lost
    blob = [Observed(PlanObject("?", "red"), (20, 20, 60, 60), (40.0, 40.0))]
    _, ch = apply_edit(p, parse_edit("make the red star green"), observed=seen[1:])
    assert [it.name for it in edit_layout(ch, seen[1:], (256, 256))] == ["circle"]
    star = edit_layout(ch, seen[1:], (256, 256), blob)[-1]
    assert star.name == "star" and abs(star.center()[0] - 40 / 256) < 0.03 and star.rgb == (40, 170, 60)


def test_a_placed_object_clears_the_one_already_at_its_position() -> None:
    """'add a star in the bottom right' with a diamond there: the star goes to the nearest clear spot around the
    anchor, and the edit's region and layout agree on it; with the corner free it sits on the anchor."""
    import math

    from limner.data.world import POSITIONS
    from limner.studio.edits import anchor_point, edit_layout

    p = ScenePlan(objects=[PlanObject("diamond", "pink")])
    ax, ay = POSITIONS["bottom right"]
    seen = [Observed(p.objects[0], (int(ax * 256) - 20, int(ay * 256) - 20, int(ax * 256) + 20, int(ay * 256) + 20),
                     (ax * 256, ay * 256))]
    _, ch = apply_edit(p, parse_edit("add a red star in the bottom right"), observed=seen)
    x, y = anchor_point(ch.after[0], seen, (256, 256))
    assert (x, y) != (ax, ay) and math.dist((x, y), (ax, ay)) <= 0.2 * math.sqrt(2) + 1e-9
    assert math.dist((x * 256, y * 256), seen[0].centroid) >= 0.13 * 256 + 20
    lay = edit_layout(ch, seen, (256, 256))
    assert [it.name for it in lay] == ["diamond", "star"] and abs(lay[1].center()[0] - x) < 0.03
    region = edit_region(ch, seen, (256, 256))
    assert region[int(y * 256), int(x * 256)] and not region[int(ay * 256), int(ax * 256)]
    assert anchor_point(ch.after[0], [], (256, 256)) == (ax, ay)


def test_with_no_clear_spot_the_object_crowds_the_others_least() -> None:
    import math

    from limner.data.world import POSITIONS
    from limner.studio.edits import anchor_point

    p = ScenePlan(objects=[PlanObject("diamond", "pink"), PlanObject("ring", "blue")])
    ax, ay = POSITIONS["top left"]
    big = Observed(p.objects[0], (0, 0, 120, 120), (ax * 256, ay * 256))  # sits on the anchor, too big to clear
    side = Observed(p.objects[1], (150, 0, 250, 100), (200.0, 50.0))
    _, ch = apply_edit(p, parse_edit("add a red star in the top left"), observed=[big, side])
    x, y = anchor_point(ch.after[0], [big, side], (256, 256))
    assert (x, y) != (ax, ay)
    d = math.dist((x * 256, y * 256), big.centroid)
    assert d > 0.1 * 256 and math.dist((x, y), (ax, ay)) <= 0.2 * math.sqrt(2) + 1e-9


def test_make_room_shrinks_an_unsized_object_that_only_fits_small() -> None:
    from limner.studio.edits import _spot, make_room

    p = ScenePlan(objects=[PlanObject("triangle", "yellow"), PlanObject("star", "blue")])
    # a triangle just inside the bottom-right corner's room: a medium circle cannot clear it, a small one can
    seen = [Observed(p.objects[0], (140, 131, 205, 191), (172.0, 170.0)),
            Observed(p.objects[1], (44, 99, 106, 158), (74.0, 130.0))]
    new, ch = apply_edit(p, parse_edit("add a gray circle in the bottom right"), observed=seen)
    assert not _spot(ch.after[0], seen, (256, 256))[1]
    notes = make_room(ch, seen, (256, 256))
    assert ch.after[0].size == "small" and new.objects[-1].size == "small"  # the edited plan holds it too
    assert notes and "circle" in notes[0] and _spot(ch.after[0], seen, (256, 256))[1]
    _, ch = apply_edit(p, parse_edit("add a large gray circle in the bottom right"), observed=seen)
    assert make_room(ch, seen, (256, 256)) == [] and ch.after[0].size == "large"  # the user's size is kept
    _, ch = apply_edit(p, parse_edit("add a gray circle in the top right"), observed=seen)
    assert make_room(ch, seen, (256, 256)) == [] and ch.after[0].size == "medium"  # room enough already


def test_a_grid_cell_is_recoloured_in_place_and_other_grid_edits_say_what_to_do() -> None:
    from limner.studio.plan import PlanGrid

    cells = [PlanObject(c, k) for c, k in (("star", "red"), ("ring", "blue"), ("heart", "green"), ("star", "pink"))]
    p = ScenePlan(grid=PlanGrid(2, 2, cells))
    new, ch = apply_edit(p, EditOp("recolour", target=("star", "pink"), color="purple"))
    assert [c.color for c in new.grid.cells] == ["red", "blue", "green", "purple"]
    assert [(o.cls, o.color) for o in ch.before] == [("star", "pink")] and ch.after[0].color == "purple"
    assert p.grid is not None and p.grid.cells[3].color == "pink"  # the earlier plan is unchanged
    with pytest.raises(EditError, match="recoloured one by one, but not given a remove edit"):
        apply_edit(p, EditOp("remove", target=("ring", None)))


def test_hints_pick_among_several_objects() -> None:
    p = ScenePlan(objects=[PlanObject("star", "red", position="right"), PlanObject("star", "blue", position="left",
                                                                                   size="large")])
    assert apply_edit(p, EditOp("remove", target=("star", None), hint="left"))[0].objects[0].color == "red"
    assert apply_edit(p, EditOp("remove", target=("star", None), hint="big"))[0].objects[0].color == "red"
    edited, _ = apply_edit(p, EditOp("recolour", target=("star", "red"), color="green"))
    assert edited.focus == 0
    again, _ = apply_edit(edited, EditOp("resize", target=(None, None), hint="it", size="large"))
    assert again.objects[0].size == "large" and again.objects[0].color == "green"
    other, _ = apply_edit(edited, EditOp("remove", target=(None, None), hint="other"))
    assert [o.color for o in other.objects] == ["green"]


def test_a_changed_object_drawn_in_another_shade_leaves_the_layout() -> None:
    """The model drew the orange cross brown: moving "the cross" takes the brown one (by class), and it must not
    stay in the edited layout beside its moved self."""
    from limner.studio.edits import edit_layout

    p = ScenePlan(objects=[PlanObject("cross", "orange"), PlanObject("circle", "blue")])
    seen = [Observed(PlanObject("cross", "brown"), (100, 100, 150, 150), (125.0, 125.0)),
            Observed(p.objects[1], (180, 20, 240, 80), (210.0, 50.0))]
    _, ch = apply_edit(p, parse_edit("move the cross to the bottom left"), observed=seen)
    lay = edit_layout(ch, seen, (256, 256))
    assert [it.name for it in lay] == ["circle", "cross"] and lay[1].center()[0] < 0.3


def test_a_recolour_stays_where_the_object_was_drawn_not_at_its_planned_position() -> None:
    from limner.studio.edits import edit_layout

    p = ScenePlan(objects=[PlanObject("star", "red", position="left"), PlanObject("circle", "blue")])
    seen = [Observed(p.objects[0], (150, 20, 200, 70), (175.0, 45.0)),  # drawn top right, not on the left
            Observed(p.objects[1], (10, 100, 70, 160), (40.0, 130.0))]  # and the circle stands on the left
    _, ch = apply_edit(p, parse_edit("make the star green"), observed=seen)
    assert ch.in_place
    star = edit_layout(ch, seen, (256, 256))[-1]
    assert abs(star.center()[0] * 256 - 175) < 8 and abs(star.center()[1] * 256 - 45) < 8
    region = edit_region(ch, seen, (256, 256))
    assert region[45, 175] and not region[130, 40]  # the circle on the left is not redrawn



def test_an_added_object_keeps_clear_of_a_shape_the_detector_could_not_name() -> None:
    from limner.data.world import POSITIONS
    from limner.studio.edits import edit_layout

    p = ScenePlan(objects=[PlanObject("circle", "blue")])
    seen = [Observed(p.objects[0], (20, 20, 60, 60), (40.0, 40.0))]
    ax, ay = POSITIONS["top right"]
    x, y = ax * 256, ay * 256
    blob = Observed(PlanObject("?", "pink"), (int(x) - 25, int(y) - 25, int(x) + 25, int(y) + 25), (x, y))
    _, ch = apply_edit(p, parse_edit("add a red star in the top right"), observed=seen)
    assert edit_layout(ch, seen, (256, 256))[-1].center() == pytest.approx((ax, ay), abs=0.02)
    star = edit_layout(ch, seen, (256, 256), [*seen, blob])[-1]
    assert abs(star.center()[0] * 256 - x) + abs(star.center()[1] * 256 - y) > 30
    region = edit_region(ch, seen, (256, 256), blobs=[*seen, blob])
    assert not region[int(y), int(x)]  # the unnamed shape is outside the region: it is kept exactly


def test_the_region_takes_the_whole_object_where_it_reaches_past_its_box() -> None:
    import numpy as np

    from limner.studio.edits import object_extent

    fg = np.zeros((128, 128), dtype=bool)
    fg[20:60, 20:70] = True  # the object, whose detected box below misses its right part
    fg[90:110, 40:120] = True  # another object, touching the box only at its edge
    box = (18.0, 18.0, 50.0, 95.0)
    whole = object_extent([box], fg)
    assert whole[40, 68] and whole[40, 71]  # all of it, grown by two pixels
    assert not whole[100, 100]  # mostly outside the box: not this object
    p = ScenePlan(objects=[PlanObject("star", "red")])
    seen = [Observed(p.objects[0], (20, 20, 50, 60), (35.0, 40.0))]
    _, ch = apply_edit(p, parse_edit("remove the star"), observed=seen)
    assert not edit_region(ch, seen, (128, 128))[40, 68]
    assert edit_region(ch, seen, (128, 128), fg=fg)[40, 68]


def test_an_object_drawn_in_a_shade_the_detector_names_otherwise_is_still_found() -> None:
    """A purple heart drawn blue and not classified: the edit takes the blob no detection owns that is nearest
    its colour, instead of redrawing the whole image and losing the objects it did not touch."""
    p = ScenePlan(objects=[PlanObject("heart", "purple"), PlanObject("pentagon", "cyan")])
    seen = [Observed(p.objects[1], (180, 10, 240, 60), (210.0, 35.0))]
    blobs = [Observed(PlanObject("?", "cyan"), (180, 10, 240, 60), (210.0, 35.0)),  # the pentagon: owned
             Observed(PlanObject("?", "blue"), (100, 140, 170, 210), (135.0, 175.0)),
             Observed(PlanObject("?", "yellow"), (20, 200, 40, 220), (30.0, 210.0))]
    _, ch = apply_edit(p, parse_edit("move the heart to the top left"), observed=seen)
    assert edit_region(ch, seen, (256, 256)).all()  # without blobs: nothing to locate, the whole image
    region = edit_region(ch, seen, (256, 256), blobs=blobs)
    assert region[175, 135] and not region[35, 210] and not region[210, 30] and region.mean() < 0.5
