"""The verifier of best-of-N: how well an image follows its scene plan, by the project's detector and OCR.

A plan becomes world.md eval records (`ScenePlan.to_records`); each is scored with the eval's own rules
(`limner.vision.score.score_image`: classes, colours, counts, relations, grid cells, OCR exact match and
edit similarity), objects placed at an absolute position are checked against that part of the canvas, and a
resized object against its box before the edit (`SizeGoal`).
The verdict's `score` in [0, 1] averages these checks with partial credit (the text's NED, a grid's cell
share, half the share of an object record's checks met), so that among N candidates that all miss, the
closest one still wins.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from limner.data.world import POSITIONS
from limner.studio.plan import ScenePlan
from limner.vision.detect import Detection, detect
from limner.vision.records import validate_record
from limner.vision.score import score_image

POSITION_TOLERANCE = 0.2  # how far (fraction of the canvas) a centroid may sit from its anchor, per axis
SIZE_CHANGE = 1.3  # a resized object's box must grow (or shrink) by at least this factor in area to count


@dataclass(frozen=True)
class SizeGoal:
    """A resize edit's check: the largest `cls` in the image has a box clearly bigger (or smaller) than the one
    it had before the edit (`ref_area`, pixels), by SIZE_CHANGE."""

    cls: str
    bigger: bool
    ref_area: float


@dataclass
class Verdict:
    """How well one image follows its plan; with text in the plan, `extra` holds the exact-match score and
    what OCR read."""

    score: float  # in [0, 1]
    correct: bool  # every check holds
    reasons: list[str] = field(default_factory=list)  # what failed, for logs and the eval report
    extra: dict[str, Any] = field(default_factory=dict)


def at_position(d: Detection, position: str, w: int, h: int, tol: float = POSITION_TOLERANCE) -> bool:
    """Whether a detection's centroid is near a world position's anchor (each axis within `tol`)."""
    ax, ay = POSITIONS[position]
    return abs(d.centroid[0] / w - ax) <= tol and abs(d.centroid[1] / h - ay) <= tol


def _position_checks(image: Image.Image, plan: ScenePlan, dets: list[Detection],
                     strict: bool) -> tuple[list[float], list[str]]:
    scores, reasons = [], []
    w, h = image.size
    for cls, color, pos in plan.absolute_positions(strict):
        same = [d for d in dets if d.cls == cls and (color.startswith("#") or d.color == color)]
        ok = any(at_position(d, pos, w, h) for d in same)
        scores.append(float(ok))
        if not ok:
            reasons.append(f"no {color} {cls} in the {pos}")
    return scores, reasons


def _size_checks(dets: list[Detection], goals: list[SizeGoal]) -> tuple[list[float], list[str]]:
    scores, reasons = [], []
    for g in goals:
        areas = [(d.bbox[2] - d.bbox[0]) * (d.bbox[3] - d.bbox[1]) for d in dets if d.cls == g.cls]
        a = max(areas, default=0.0)
        ok = a > 0 and (a >= SIZE_CHANGE * g.ref_area if g.bigger else a <= g.ref_area / SIZE_CHANGE)
        scores.append(float(ok))
        if not ok:
            reasons.append(f"the {g.cls} is not {'bigger' if g.bigger else 'smaller'} than before")
    return scores, reasons


def verify(image: Image.Image, plan: ScenePlan, strict: bool = True, sizes: list[SizeGoal] | None = None) -> Verdict:
    """Score one image against its plan (objects, grid, text, absolute positions) and, for an edit that
    resized an object, against its size before (`sizes`).

    strict=False checks only what the prompt itself asked for (see ScenePlan.to_records)."""
    parts: list[float] = []
    reasons: list[str] = []
    extra: dict[str, Any] = {}
    for rec in plan.to_records(strict):
        # a text record is scored as it stands: the eval records' alphabet is narrower than what the engine
        # typesets ("50% OFF"), and the verifier must score any plan the engine draws (OCR reads either way)
        s = score_image(image, rec if rec["tag"] == "text" else validate_record(rec))
        if rec["tag"] == "text":
            ned = float(s.extra.get("ned", 0.0))
            parts.append(0.5 * s.score + 0.5 * ned)  # partial credit: the closest reading wins among misses
            extra["text_exact"], extra["text_read"] = s.score, s.extra.get("read", "")
        elif not s.correct and "checks_met" in s.extra:
            # partial credit, as for text: when no candidate has every object right, the one with the most right
            # wins (scored 0/1 alone, they all tie and the first is kept, whatever it lost)
            parts.append(0.5 * float(s.extra["checks_met"]))
        else:
            parts.append(s.score)
        reasons += s.reasons
    if plan.absolute_positions(strict) or sizes:
        dets = detect(image)
        ps, pr = _position_checks(image, plan, dets, strict)
        ss, sr = _size_checks(dets, sizes or [])
        parts += ps + ss
        reasons += pr + sr
    score = sum(parts) / len(parts) if parts else 0.0
    return Verdict(score, not reasons and bool(parts), reasons, extra)


def pick_best(images: list[Image.Image], plan: ScenePlan, strict: bool = True,
              sizes: list[SizeGoal] | None = None) -> tuple[int, list[Verdict]]:
    """Index of the image the verifier scores best (the first among ties) and every verdict."""
    if not images:
        raise ValueError("pick_best needs at least one candidate image")
    verdicts = [verify(im, plan, strict, sizes) for im in images]
    best = max(range(len(images)), key=lambda i: (verdicts[i].score, -i))
    return best, verdicts
