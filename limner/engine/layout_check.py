"""Rejection sampling of the prior's layouts: a verifier of physical plausibility, not of the prompt.

The prior writes each image's layout (class, centre, radius, colour of every object) before its codes. About a
fifth of its layouts on the dev prompts put two objects on top of each other or one partly off the canvas
(a probe over 64 dev records: 13 overlapping, 5 off the canvas); the decoder then draws a merged blob or a cut
object. No training scene is like that (the data engine keeps objects apart and inside the canvas).

So the engine draws `SamplingParams.layout_tries` layouts for each image in one batch and keeps the first the
check below passes (else the one with the fewest violations). Every candidate is the model's own sample, taken
as it was written: nothing is moved or resized. This is best-of-N with a verifier, applied to the few layout
tokens before the expensive code grid.
"""

from __future__ import annotations

import math

from limner.model.layout import Layout

MIN_GAP_PX = 6.0  # the data engine's own minimum gap between two objects' discs (data/sampler.place)
EDGE_SLACK_PX = 2.0  # a disc may cross the canvas edge by this much (bin rounding)


def layout_violations(layout: Layout, size: tuple[int, int]) -> int:
    """How many object pairs of `layout` lie closer than MIN_GAP_PX, plus how many objects cross the (W, H)
    canvas edge; 0 for a layout the data engine could have drawn."""
    w, h = size
    discs = [(it.center()[0] * w, it.center()[1] * h, it.radius_frac() * min(w, h)) for it in layout]
    bad = sum(1 for x, y, r in discs
              if min(x - r, y - r, w - x - r, h - y - r) < -EDGE_SLACK_PX)
    for i, (xi, yi, ri) in enumerate(discs):
        for xj, yj, rj in discs[i + 1 :]:
            if math.dist((xi, yi), (xj, yj)) < ri + rj + MIN_GAP_PX:
                bad += 1
    return bad


def pick_layout(candidates: list[Layout], size: tuple[int, int]) -> Layout:
    """The first candidate without violations, else the first with the fewest (a stable choice: with one
    candidate this is plain sampling)."""
    if not candidates:
        raise ValueError("pick_layout needs at least one candidate layout")
    scores = [layout_violations(c, size) for c in candidates]
    return candidates[scores.index(min(scores))]
