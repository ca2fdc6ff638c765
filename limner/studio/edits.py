"""Edit instructions of world.md (recolour, add, remove, move, resize, replace text, background),
parsed and applied to the plan of the earlier image, with the pixel region each one changes.

    "make the red star blue"  -> EditOp(kind="recolour", target=("star", "red"), color="blue")
    apply_edit(plan, op)      -> (new plan, EditChange: which objects changed, from where to where)
    edit_region(change, ...)  -> (H, W) bool: the boxes of the changed objects, before and after
    edit_layout(change, ...)  -> the layout tokens of the edited image (model/layout.py)

The region is where the image may change (inpaint.py resamples only its tokens and copies the rest
exactly); the new plan's revised prompt is what the model draws it from.
"""

from __future__ import annotations

import copy
import random
import re
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from limner.data.scene import layout_text
from limner.data.world import OBJECTS, POSITIONS, SIZES, color_rgb_or_none
from limner.engine.inpaint import box_region
from limner.model.layout import MAX_OBJECTS, Layout, LayoutItem
from limner.studio.plan import PlanObject, PlanText, ScenePlan
from limner.studio.planner import COLOR_ALIASES, COLORS, POS_WORDS, _canon_color, plan_prompt
from limner.studio.reading import Observed
from limner.studio.verifier import SizeGoal

KINDS = ("recolour", "add", "remove", "move", "resize", "text", "background")
_COLOR = r"(#[0-9a-fA-F]{6}|" + "|".join(sorted([*COLORS, *COLOR_ALIASES], key=len, reverse=True)) + ")"
_POS = r"(" + "|".join(sorted(POS_WORDS, key=len, reverse=True)) + r")"
_QUOTED = re.compile(r"'([^']*)'|\"([^\"]*)\"")
_THE = r"((?:the|it|that|this|its|them)\b.*?)"  # a phrase naming an object already in the image
_RESIZE = r"(?:make|enlarge|shrink|grow|resize|scale|increase|reduce)"
_BIGGER = {"bigger", "larger", "big", "large", "huge", "enlarge", "grow", "increase"}
_SMALLER = {"smaller", "small", "tiny", "little", "shrink", "reduce", "decrease"}


class EditError(ValueError):
    """An edit cannot be applied (no image in context, no such object, not an edit); names the problem."""


@dataclass
class EditOp:
    """A parsed edit instruction: its kind and the fields that kind uses."""

    kind: str  # one of KINDS
    target: tuple[str | None, str | None] = (None, None)  # (class, colour) the instruction refers to
    color: str | None = None  # recolour / background
    position: str | None = None  # move / add
    size: str | None = None  # resize: small | medium | large
    new: PlanObject | None = None  # add
    lines: list[str] = field(default_factory=list)  # text
    hint: str | None = None  # which object when (class, colour) do not say: "it", "other", "left", "big", ...


@dataclass
class EditChange:
    """What an edit changed in the plan; `edit_region` turns it into the pixels that may change."""

    before: list[PlanObject] = field(default_factory=list)  # objects as they were (removed, moved, recoloured)
    after: list[PlanObject] = field(default_factory=list)  # objects as they are now (added, moved, ...)
    text: tuple[PlanText | None, PlanText | None] | None = None
    background: bool = False
    in_place: bool = False  # recoloured or resized where it stands, whatever position its plan names


def _target(phrase: str) -> tuple[str | None, str | None]:
    """(class, colour) of 'the red star' / 'the circle' / 'it'; None where the phrase does not say."""
    plans = plan_prompt(phrase, 0).plans[0]
    words = phrase.split()
    cls = plans.objects[0].cls if plans.objects and not any(w in ("it", "shape", "object", "thing") for w in words) \
        else None
    m = re.search(r"\b" + _COLOR + r"\b", phrase)
    return cls, _canon_color(m.group(1)) if m else None


def parse_edit(instruction: str, seed: int = 0) -> EditOp:
    """The edit an instruction asks for; EditError when it is not one of world.md's edits."""
    s = instruction.strip().lower().rstrip(".!")
    s = re.sub(r"^(?:please|now|then|and|ok|okay)[, ]+", "", s)
    raw_quotes = [a or b for a, b in _QUOTED.findall(instruction)]
    if raw_quotes and re.match(r"(?:change|replace|make|set|update|edit|rewrite|let|have)\b", s) and \
            re.search(r"\b(text|sign|word|words|say|says|read|reads|replace|lettering|label)\b", s):
        m = re.search(r"\bwith\b", s)
        lines = [q for q in raw_quotes if q.strip()]
        if m and len(lines) > 1:
            lines = lines[1:]  # "replace 'A' with 'B'"
        return EditOp("text", lines=[ln[:16] for ln in lines[:3]])
    m = re.match(r"(?:make|turn|change|paint|set|recolou?r|colou?r)\s+the\s+background\s+(?:colou?r\s+)?"
                 r"(?:to\s+|into\s+)?"
                 r"(?:be\s+)?" + _COLOR, s)
    if m:
        return EditOp("background", color=_canon_color(m.group(1)))
    m = re.match(r"(?:remove|delete|erase|take away|take out|get rid of|drop)\s+(.*)", s)
    if m:
        return EditOp("remove", target=_target(m.group(1)))
    m = re.match(r"(?:add|insert|include|put|place)\s+((?:a|an|one|another|\d|two|three|four|five|six)\b.*)", s)
    if m:
        phrase = re.sub(r"^another\b", "a", m.group(1))
        p = plan_prompt(phrase, seed).plans[0]
        if not p.objects:
            raise EditError(f"cannot tell what to add from {instruction!r}")
        pm = re.search(r"\b(?:in|at|to|on)\s+the\s+" + _POS + r"\b", phrase)
        new = copy.copy(p.objects[0])
        new.position = POS_WORDS[pm.group(1)] if pm else None
        new.relation = None
        return EditOp("add", new=new, position=new.position)
    m = re.match(r"(?:move|shift|put|place|relocate|drag|slide)\s+" + _THE + r"\s+"
                 r"(?:to|in|into|at|over to|toward|towards)\s+"
                 r"(?:the\s+)?" + _POS + r"\b", s)
    if m:
        return EditOp("move", target=_target(m.group(1)), position=POS_WORDS[m.group(2)])
    words = set(re.findall(r"[a-z]+", s))
    if re.match(_RESIZE + r"\s+(?:the|it|that|this|its)\b", s) and words & (_BIGGER | _SMALLER) \
            and not re.search(r"\b" + _COLOR + r"\s*$", s):
        m = re.match(_RESIZE + r"\s+" + _THE + r"(?:\s+(?:bigger|larger|smaller|"
                     r"big|large|small|tiny|huge|little))?(?:\s+(?:size|in size))?$", s)
        size = "large" if words & _BIGGER else "small"
        return EditOp("resize", target=_target(m.group(1) if m else s), size=size)
    m = re.match(r"(?:make|turn|change|recolou?r|colou?r|paint|fill)\s+" + _THE + r"\s+(?:to\s+|into\s+|in\s+)?"
                 + _COLOR + r"(?:\s+instead)?$", s)
    if m:
        return EditOp("recolour", target=_target(m.group(1)), color=_canon_color(m.group(2)))
    raise EditError(f"not an edit instruction: {instruction!r} (expected recolour, add, remove, move, resize, "
                    "replace text or change the background)")


def is_edit_instruction(text: str) -> bool:
    """Whether `text` parses as one of world.md's edits (and so needs an image in context)."""
    try:
        parse_edit(text)
    except EditError:
        return False
    return True


SPATIAL = {"left": (0, min), "right": (0, max), "top": (1, min), "upper": (1, min), "bottom": (1, max),
           "lower": (1, max)}


def _objects(plan: ScenePlan) -> list[PlanObject]:
    """The objects an edit can refer to: the plan's objects, or a grid's cells."""
    return plan.objects if plan.objects or plan.grid is None else plan.grid.cells


def _where(plan: ScenePlan, i: int, observed: list[Observed] | None) -> tuple[float, float]:
    """Where object i stands (canvas fractions): its detection when the detector read it, else its planned
    anchor, else the centre."""
    o = _objects(plan)[i]
    w, h = plan.size or (256, 256)
    for s in observed or []:
        if s.obj.cls == o.cls and s.obj.color == o.color:
            return s.centroid[0] / w, s.centroid[1] / h
    return POSITIONS[o.position] if o.position in POSITIONS else (0.5, 0.5)


def _find(plan: ScenePlan, target: tuple[str | None, str | None], hint: str | None = None,
          observed: list[Observed] | None = None) -> int:
    """The index of the object an op refers to: by class and colour, then by `hint` ("it": the last edited
    object, "other": the one that is not, "left" / "top" / ...: by where it stands, "first" / "last", "big" /
    "small"); EditError naming what the image shows when none or several fit."""
    cls, color = target
    objects = _objects(plan)
    idx = [i for i, o in enumerate(objects)
           if (cls is None or o.cls == cls) and (color is None or o.color == color)]
    if not idx:
        have = ", ".join(f"{o.color} {o.cls}" for o in objects) or "no objects"
        want = " ".join(x for x in (color, cls) if x) or "object"
        raise EditError(f"there is no {want} in the image to edit (it shows: {have})")
    if len(idx) == 1:
        return idx[0]
    focus = plan.focus if plan.focus is not None and plan.focus < len(objects) else None
    if hint == "it" and focus in idx:
        return focus
    if hint == "other" and focus is not None and len([i for i in idx if i != focus]) == 1:
        return next(i for i in idx if i != focus)
    if hint in SPATIAL:
        axis, pick = SPATIAL[hint]
        return pick(idx, key=lambda i: _where(plan, i, observed)[axis])
    if hint in ("first", "second", "last"):
        return idx[{"first": 0, "second": min(1, len(idx) - 1), "last": -1}[hint]]
    if hint in ("big", "large", "bigger", "small", "little", "smaller"):
        order = sorted(idx, key=lambda i: SIZES[objects[i].size])
        return order[-1] if hint in ("big", "large", "bigger") else order[0]
    if cls is None and color is None:
        raise EditError(f"the instruction does not say which of {len(idx)} objects to edit")
    return idx[0]


def apply_edit(plan: ScenePlan, op: EditOp, rng: random.Random | None = None,
               observed: list[Observed] | None = None) -> tuple[ScenePlan, EditChange]:
    """The edited copy of `plan` and what changed. `observed` (the detector's reading) guides where to add."""
    rng = rng or random.Random(0)
    new = copy.deepcopy(plan)
    new.notes = []
    ch = EditChange()
    if op.kind == "text":
        if not op.lines:  # "change the text to ' '": nothing to draw, and an empty layout has no size
            raise EditError("the new text is empty: quote the words the image should show, e.g. 'OPEN'")
        old = plan.text
        new.text = PlanText(op.lines, old.color if old else None, old.position if old else "center",
                            old.panel if old else None)
        ch.text = (old, new.text)
    elif op.kind == "background":
        new.background = op.color or "white"
        ch.background = True
    elif op.kind == "add":
        assert op.new is not None
        obj = copy.copy(op.new)
        if obj.position is None:
            taken = [(o.centroid[0], o.centroid[1]) for o in observed or []]
            obj.position = _free_position(taken, plan.size or (256, 256), rng)
        new.objects.append(obj)
        new.focus = len(new.objects) - 1
        ch.after.append(obj)
    else:
        i = _find(plan, op.target, op.hint, observed)
        if new.grid is not None and not new.objects:  # a grid's cell: recoloured in place, its cell kept
            if op.kind != "recolour":
                raise EditError(f"a grid's cells can be recoloured one by one, but not given a {op.kind} edit: ask "
                                "for a new grid instead")
            cell = new.grid.cells[i]
            ch.before.append(plan.grid.cells[i])  # type: ignore[union-attr]
            cell.color = op.color or cell.color
            ch.after.append(cell)
            new.focus = None
            return new, ch
        before, obj = plan.objects[i], new.objects[i]
        ch.before.append(before)
        if op.kind == "remove":
            del new.objects[i]
            new.focus = None
            for o in new.objects:
                if o.relation is not None:
                    o.relation = None if o.relation[1] == i else (o.relation[0], o.relation[1] - (o.relation[1] > i))
            return new, ch
        if op.kind == "recolour":
            obj.color = op.color or obj.color
        elif op.kind == "move":
            obj.position, obj.relation = op.position, None
        elif op.kind == "resize":
            obj.size = op.size or obj.size
        # a recoloured or resized object stays where the model drew it (the region and layout are around its
        # detection), not at its plan's anchor, where the model may have drawn something else
        ch.in_place = op.kind in ("recolour", "resize")
        ch.after.append(obj)
        new.focus = i
    return new, ch


def _free_position(taken: list[tuple[float, float]], size: tuple[int, int], rng: random.Random) -> str:
    """The world position farthest from every taken centroid (pixels); random among ties."""
    w, h = size
    names = list(POSITIONS)
    rng.shuffle(names)
    return max(names, key=lambda p: min((np.hypot(POSITIONS[p][0] * w - x, POSITIONS[p][1] * h - y)
                                         for x, y in taken), default=0.0))


ROOM = 0.2  # how far (share of the canvas) a placed object may shift from its position's anchor to clear others
ROOM_STEP = 0.05
GAP = 8.0  # pixels between a placed object and the others
REACH = 1.3  # a drawn object's reach in radii (its tips, and the box the decoder redraws: `_anchor_box`)


def _others(change: EditChange, observed: list[Observed]) -> list[Observed]:
    """The objects read from the image that the edit does not change: all but those `_matches` takes for the
    changed ones (an object the model drew in another shade than its plan's is still the one changed, and
    must not stay in the edited layout beside its moved self)."""
    changed = {id(s) for o in change.before for s in _matches(o, observed)}
    return [s for s in observed if id(s) not in changed]


def _obstacles(change: EditChange, observed: list[Observed], blobs: list[Observed] | None) -> list[Observed]:
    """What an added or moved object must keep clear of: the objects the edit leaves alone, and every other
    foreground blob (`blobs`: a shape the detector could not name is still something the user did not ask to
    paint over), except the blobs that are the changed objects (their centre inside a changed object's box)."""
    changed = [b for o in change.before for b in _observed_boxes(o, observed, blobs)]
    return _others(change, observed) + [
        b for b in blobs or []
        if not any(x0 <= b.centroid[0] < x1 and y0 <= b.centroid[1] < y1 for x0, y0, x1, y1 in changed)]


def _spot(o: PlanObject, others: list[Observed], size: tuple[int, int]) -> tuple[tuple[float, float], bool]:
    """`anchor_point`'s search: the point (canvas fractions) and whether it clears every one of `others`."""
    assert o.position is not None
    w, h = size
    ax, ay = POSITIONS[o.position]
    r = SIZES[o.size] * min(w, h)
    k = round(ROOM / ROOM_STEP)
    spots = sorted(((ax + i * ROOM_STEP, ay + j * ROOM_STEP) for i in range(-k, k + 1) for j in range(-k, k + 1)),
                   key=lambda p: (p[0] - ax) ** 2 + (p[1] - ay) ** 2)
    best, best_slack = (ax, ay), -np.inf
    for fx, fy in spots:
        x, y = fx * w, fy * h
        if not (r <= x <= w - r and r <= y <= h - r):
            continue
        slack = min((np.hypot(x - s.centroid[0], y - s.centroid[1]) - REACH * r
                     - max(s.bbox[2] - s.bbox[0], s.bbox[3] - s.bbox[1]) / 2 - GAP for s in others), default=np.inf)
        if slack >= 0:
            return (fx, fy), True
        if slack > best_slack:  # nowhere clear: the spot that crowds the others least
            best, best_slack = (fx, fy), slack
    return best, False


def anchor_point(o: PlanObject, others: list[Observed], size: tuple[int, int]) -> tuple[float, float]:
    """Where an object sent to its world position goes, in canvas fractions: the position's anchor or, when an
    object already stands there, the nearest point within ROOM of it that clears every one of `others` (or,
    when none does, the one that crowds them least), so "add a star in the bottom right" does not paint over
    the diamond that is there."""
    return _spot(o, others, size)[0]


def make_room(change: EditChange, observed: list[Observed], size: tuple[int, int],
              blobs: list[Observed] | None = None) -> list[str]:
    """Shrink each added or moved object of the default size to small, in place (the edited plan holds the same
    objects), when at that size it cannot clear the objects already near its position; the user's notes on it.

    An object that covers another would hide what the user did not ask to change (a small one covers less, or
    nothing); a size nobody asked for is the planner's to choose. An object whose size the user gave keeps it.
    `blobs` (reading.blobs): shapes the detector could not name, kept clear of as well (`_obstacles`)."""
    others = _obstacles(change, observed, blobs)
    notes = []
    for o in change.after:
        if change.in_place or o.position is None or o.size != "medium" or _spot(o, others, size)[1]:
            continue
        o.size = "small"
        notes.append(f"drew the {o.cls} small, to keep clear of what stands near the {o.position}")
    return notes


def _anchor_box(o: PlanObject, w: int, h: int,
                at: tuple[float, float] | None = None) -> tuple[float, float, float, float] | None:
    """The box an object at its world position (or at `at`, canvas fractions) may cover."""
    if o.position is None:
        return None
    r = SIZES[o.size] * min(w, h) * REACH  # a little more than the radius: shapes' tips, placement jitter
    fx, fy = at or POSITIONS[o.position]
    x, y = fx * w, fy * h
    return (x - r, y - r, x + r, y + r)


def _observed_boxes(o: PlanObject, observed: list[Observed],
                    blobs: list[Observed] | None = None) -> list[tuple[float, float, float, float]]:
    """Boxes of the object in the image: detections of its class and colour, else of its class, else
    unclassified blobs of its colour (a weak model's attempt at it), else the blob no detection owns that is
    nearest its colour, else none."""
    def box(s: Observed) -> tuple[float, float, float, float]:
        return (float(s.bbox[0]), float(s.bbox[1]), float(s.bbox[2]), float(s.bbox[3]))

    found = _matches(o, observed)
    if found:
        return [box(s) for s in found]
    same = [box(s) for s in blobs or [] if not o.color.startswith("#") and s.obj.color == o.color][:1]
    return same or [box(s) for s in _nearest_unowned(o, observed, blobs or [])]


def _nearest_unowned(o: PlanObject, observed: list[Observed], blobs: list[Observed]) -> list[Observed]:
    """[the blob whose centre lies in no detection's box and whose colour is nearest `o`'s] or []. A weak model
    draws an asked-for object in a shade the detector names otherwise (a purple heart drawn blue) or in a shape
    it cannot name; without this the edit could not locate it and redrew the whole image, losing every object
    it did not touch."""
    want = color_rgb_or_none(o.color)
    free = [b for b in blobs if not any(x0 <= b.centroid[0] <= x1 and y0 <= b.centroid[1] <= y1
                                        for x0, y0, x1, y1 in (d.bbox for d in observed))]
    if not free:
        return []
    if want is None:
        return free[:1]  # blobs come largest first

    def dist(b: Observed) -> float:
        rgb = color_rgb_or_none(b.obj.color)
        return float("inf") if rgb is None else float(np.sum((np.array(rgb, float) - np.array(want, float)) ** 2))

    return [min(free, key=dist)]


def _matches(o: PlanObject, observed: list[Observed]) -> list[Observed]:
    """The detections that are `o`: those of its class and colour (any colour for a hex one), else the first
    of its class."""
    same_color = o.color.startswith("#")
    exact = [s for s in observed if s.obj.cls == o.cls and (same_color or s.obj.color == o.color)]
    return exact or [s for s in observed if s.obj.cls == o.cls][:1]


def object_extent(boxes: list[tuple[float, float, float, float]], fg: np.ndarray, share: float = 0.5,
                  grow: int = 2) -> np.ndarray:
    """(H, W) bool: every foreground component (`fg`, 8-connected) with at least `share` of its pixels inside
    the boxes, grown by `grow` pixels. A drawn object often reaches past the box the detector gives it (a
    soft rim, a part split off by colour); the region of an object that moves or goes must hold all of it,
    or what is left of it stays behind. A component mostly outside the boxes (another object it touches, a
    noisy background) is not taken."""
    h, w = fg.shape
    inside = box_region(boxes, (w, h), pad=0)
    labels, n = ndimage.label(fg, structure=np.ones((3, 3), dtype=bool))
    if n == 0:
        return np.zeros_like(fg)
    total = np.bincount(labels.ravel(), minlength=n + 1)
    within = np.bincount(labels[inside].ravel(), minlength=n + 1)
    keep = within >= share * np.maximum(total, 1)
    keep[0] = False
    out = keep[labels]
    return ndimage.binary_dilation(out, structure=np.ones((3, 3), dtype=bool), iterations=grow) if grow else out


def edit_region(change: EditChange, observed: list[Observed], size: tuple[int, int], pad: int = 6,
                blobs: list[Observed] | None = None, fg: np.ndarray | None = None) -> np.ndarray:
    """(H, W) bool: where the image may change for this edit. The whole canvas when nothing can be located.

    `blobs` (reading.blobs): unclassified components, the fallback for finding an object to change, and
    shapes an added or moved object keeps clear of (`_obstacles`). `fg` (vision.detect.foreground): the
    image's foreground, to take each changed object whole (`object_extent`) where it reaches past its box."""
    w, h = size
    if change.background:
        kept = [(float(x0), float(y0), float(x1), float(y1)) for x0, y0, x1, y1 in (s.bbox for s in observed)]
        objects = box_region(kept, size, pad=2)
        return ~objects
    boxes: list[tuple[float, float, float, float]] = []
    for o in change.before:
        found = _observed_boxes(o, observed, blobs)
        box = _anchor_box(o, w, h)
        boxes += found or ([box] if box else [])
        if not found and box is None:
            return np.ones((h, w), dtype=bool)
    whole = object_extent(boxes, fg) if fg is not None and boxes else None
    others = _obstacles(change, observed, blobs)
    for o in change.after:
        box = None if change.in_place else _anchor_box(o, w, h, anchor_point(o, others, size)
                                                         if o.position is not None else None)
        if box is not None:
            boxes.append(box)
        if o.size == "large" and change.before:  # grown in place: a bigger box around the old one
            for x0, y0, x1, y1 in _observed_boxes(change.before[0], observed):
                cx, cy, r = (x0 + x1) / 2, (y0 + y1) / 2, SIZES["large"] * min(w, h) * 1.3
                boxes.append((cx - r, cy - r, cx + r, cy + r))
    if change.text is not None:
        for t in change.text:
            if t is not None:
                x0, y0, x1, y1 = layout_text(tuple(t.lines), t.position, w, h).box
                boxes.append((x0, y0, x1, y1 + 8))
    region = box_region(boxes, size, pad)
    return region | whole if whole is not None else region


def size_goals(op: EditOp, change: EditChange, observed: list[Observed],
               blobs: list[Observed] | None = None) -> list[SizeGoal]:
    """The verifier's check of a resize: the object's box before the edit, to be clearly bigger or smaller than
    after it ("bigger" / "smaller" are relative to what the image shows, whatever size the plan named)."""
    if op.kind != "resize" or op.size not in ("large", "small") or not change.before:
        return []
    found = _observed_boxes(change.before[0], observed, blobs)
    if not found:
        return []
    x0, y0, x1, y1 = found[0]
    return [SizeGoal(change.before[0].cls, op.size == "large", (x1 - x0) * (y1 - y0))]


def observed_layout(observed: list[Observed], w: int, h: int) -> Layout:
    """Detections as layout items (centroid, half the larger box side as the radius), in order; classes unknown
    to the world (a blob the detector could not name) are left out."""
    items = []
    for s in observed:
        if s.obj.cls in OBJECTS:
            x0, y0, x1, y1 = s.bbox
            r = max(x1 - x0, y1 - y0) / 2 / min(w, h)
            items.append(LayoutItem.quantize(s.obj.cls, s.centroid[0] / w, s.centroid[1] / h, r,
                                             color_rgb_or_none(s.obj.color)))
    return items


def edit_layout(change: EditChange, observed: list[Observed], size: tuple[int, int],
                blobs: list[Observed] | None = None) -> Layout:
    """The layout of the edited image, for a layout prior to draw the edit from (the engine knows it, as a
    conversation keeps its earlier layouts): the objects read from the image that the edit leaves alone,
    then the changed ones where they now stand (`anchor_point`: clear of the others); a changed object with
    no position of its own stays where it was read, or where an unclassified blob of its colour stands
    (`blobs`, as `edit_region` finds it; see `observed_layout` for the objects read)."""
    w, h = size
    items = observed_layout(_others(change, observed), w, h)
    others = _obstacles(change, observed, blobs)
    for o in change.after:
        if o.position is not None and not change.in_place:
            cx, cy = anchor_point(o, others, size)
        else:
            at = _observed_boxes(change.before[0], observed, blobs) if change.before else []
            if not at:
                continue
            x0, y0, x1, y1 = at[0]
            cx, cy = (x0 + x1) / 2 / w, (y0 + y1) / 2 / h
        items.append(LayoutItem.quantize(o.cls, cx, cy, SIZES[o.size], color_rgb_or_none(o.color)))
    return items[-MAX_OBJECTS:]
