"""A scene plan's layout: where thinking mode's planned objects stand, as the prior's layout tokens.

Thinking mode (studio/planner.py) decides every object of the image: class, colour, size, count, absolute
position or relation, or a grid. Its revised prompt says that in words; this module also says it as the
layout the prior would otherwise sample (model/layout.py: class, centre, radius and colour of each object),
so the engine can teacher-force it. The prior still writes the image's codes after it, and the decoder draws
from both, as for an edit whose objects are known (Generator.generate(layout=...)).

    plan (objects | grid) --plan_layout(size, seed)--> [LayoutItem(cls, cx, cy, r, rgb), ...]

Unplaced objects are scattered by a seeded draw (non-overlapping, relations held with a wide margin), so
`seed` varies the composition while the plan stays the same; None when the plan has no objects or they do
not fit.
"""

from __future__ import annotations

import math
import random

from limner.data.world import POSITIONS, SIZES, color_rgb_or_none
from limner.model.layout import MAX_OBJECTS, Layout, LayoutItem
from limner.studio.plan import PlanObject, ScenePlan
from limner.vision.records import placement_holds

GRID_FILL = 0.36  # a grid cell's object radius as a share of the cell's shorter side (the data engine's)
GAP = 24.0  # pixels between objects, as paint.SEPARATION keeps them
JITTER = 0.03  # an absolute position's random offset, as a share of the canvas (the data engine's)


def grid_layout(plan: ScenePlan, size: tuple[int, int]) -> Layout:
    """The grid's cells in reading order, each object centred in its cell."""
    assert plan.grid is not None
    w, h = size
    g = plan.grid
    cw, ch = w / g.cols, h / g.rows
    rf = GRID_FILL * min(cw, ch) / min(w, h)
    return [LayoutItem.quantize(c.cls, (i % g.cols + 0.5) * cw / w, (i // g.cols + 0.5) * ch / h, rf,
                                color_rgb_or_none(c.color))
            for i, c in enumerate(g.cells[:MAX_OBJECTS])]


def _expand(objects: list[PlanObject]) -> tuple[list[PlanObject], list[int]]:
    """Each object repeated `count` times, and the plan index of each copy."""
    out: list[PlanObject] = []
    index: list[int] = []
    for i, o in enumerate(objects):
        out += [o] * o.count
        index += [i] * o.count
    return out[:MAX_OBJECTS], index[:MAX_OBJECTS]


def place(
    objs: list[PlanObject], index: list[int], radii: list[float], size: tuple[int, int], rng: random.Random
) -> list[tuple[float, float]] | None:
    """Centres (pixels) for the objects: absolute positions at their anchors (jittered), the rest drawn at random
    without overlap and keeping every planned relation; None after many tries."""
    w, h = size
    for _ in range(100):
        pts: list[tuple[float, float]] = []
        for k, (o, r) in enumerate(zip(objs, radii, strict=True)):
            for _ in range(200):
                if o.position is not None:
                    ax, ay = POSITIONS[o.position]
                    x = min(max(ax + rng.uniform(-JITTER, JITTER), 0), 1) * w
                    y = min(max(ay + rng.uniform(-JITTER, JITTER), 0), 1) * h
                    x, y = min(max(x, r + 2), w - r - 2), min(max(y, r + 2), h - r - 2)
                else:
                    x, y = rng.uniform(r + 4, w - r - 4), rng.uniform(r + 4, h - r - 4)
                if any(math.dist((x, y), p) <= r + radii[j] + GAP for j, p in enumerate(pts)):
                    if o.position is None:
                        continue
                ok = True
                for j, p in enumerate(pts):  # relations between this copy and those placed before it
                    a, b = objs[k], objs[j]
                    if a.relation is not None and a.relation[1] == index[j]:
                        ok &= placement_holds(a.relation[0], x - p[0], y - p[1], r + radii[j])
                    if b.relation is not None and b.relation[1] == index[k]:
                        ok &= placement_holds(b.relation[0], p[0] - x, p[1] - y, r + radii[j])
                if ok:
                    pts.append((x, y))
                    break
            else:
                break
        if len(pts) == len(objs):
            return pts
    return None


def plan_layout(plan: ScenePlan, size: tuple[int, int], seed: int = 0) -> Layout | None:
    """The layout of `plan` on a canvas of `size` (W, H): grid cells in place, or its objects with their sizes
    and colours placed by a `seed`ed draw; None when it has no objects or they cannot be placed."""
    if plan.grid is not None:
        return grid_layout(plan, size)
    if not plan.objects:
        return None
    objs, index = _expand(plan.objects)
    w, h = size
    short = min(w, h)
    # many objects are drawn small unless sized, as the data engine draws them; each failed try shrinks all
    base = [SIZES["small"] if len(objs) > 3 and o.size == "medium" else SIZES[o.size] for o in objs]
    rng = random.Random(seed)
    scale = 1.0
    for _ in range(6):
        radii = [f * scale * short for f in base]
        pts = place(objs, index, radii, size, rng)
        if pts is not None:
            return [LayoutItem.quantize(o.cls, x / w, y / h, r / short, color_rgb_or_none(o.color))
                    for o, (x, y), r in zip(objs, pts, radii, strict=True)]
        scale *= 0.85
    return None
