import math

from limner.data.world import POSITIONS, color_rgb
from limner.studio.plan import PlanGrid, PlanObject, ScenePlan
from limner.studio.plan_layout import plan_layout
from limner.studio.planner import plan_prompt

SIZE = (256, 256)


def test_relations_counts_and_colours_are_laid_out() -> None:
    plan = plan_prompt("a red star to the left of a blue circle", 0).plans[0]
    for seed in range(10):
        lay = plan_layout(plan, SIZE, seed)
        assert lay is not None and [it.name for it in lay] == ["star", "circle"]
        (sx, sy), (cx, cy) = lay[0].center(), lay[1].center()
        assert sx < cx and abs(sx - cx) >= 2 * abs(sy - cy) - 0.05  # left of, with a clear margin
        assert lay[0].rgb == color_rgb("red") and lay[1].rgb == color_rgb("blue")
    five = plan_layout(plan_prompt("five green hearts", 0).plans[0], SIZE, 3)
    assert five is not None and len(five) == 5 and {it.name for it in five} == {"heart"}
    for i, a in enumerate(five):  # none overlap
        for b in five[i + 1:]:
            assert math.dist(a.center(), b.center()) > a.radius_frac() + b.radius_frac()


def test_absolute_positions_sizes_and_hex() -> None:
    plan = ScenePlan(objects=[PlanObject("cloud", "yellow", "large", position="top left"),
                              PlanObject("ring", "#1E90FF", "small", position="bottom right")])
    lay = plan_layout(plan, SIZE, 0)
    assert lay is not None
    for it, pos in zip(lay, ("top left", "bottom right"), strict=True):
        ax, ay = POSITIONS[pos]
        x, y = it.center()
        assert abs(x - ax) < 0.12 and abs(y - ay) < 0.12, (it, pos)
    assert lay[0].radius_frac() > lay[1].radius_frac() and lay[1].rgb == (30, 144, 255)


def test_grids_fill_their_cells_and_seeds_vary_free_placement() -> None:
    cells = [PlanObject(c, "red") for c in ("star", "circle", "heart", "cross", "ring", "arrow")]
    lay = plan_layout(ScenePlan(grid=PlanGrid(2, 3, cells)), SIZE, 0)
    assert lay is not None and [it.name for it in lay] == [c.cls for c in cells]
    for i, it in enumerate(lay):
        r, c = divmod(i, 3)
        x, y = it.center()
        assert abs(x - (c + 0.5) / 3) < 0.04 and abs(y - (r + 0.5) / 2) < 0.04
    plan = plan_prompt("a star and a heart", 0).plans[0]
    centres = {tuple(it.center() for it in plan_layout(plan, SIZE, s) or []) for s in range(5)}
    assert len(centres) > 1
    assert plan_layout(ScenePlan(), SIZE) is None
