"""A scene plan: the structured reading of a prompt that thinking mode, the verifier and edits share.

A `ScenePlan` names every object (class, colour, size, absolute position or relation, count), an
optional grid, the text lines and the background. It is the single place that

- phrases a plan as the *revised prompt*: a canonical, explicit caption in the templates the data
  engine trained the model on (`limner.data.captions`), so the model reads it reliably;
- turns a plan into world.md eval records (`to_records`), which the verifier scores images against
  with the project's own detector and OCR (`limner.vision.score`);
- serialises to and from plain JSON (the LLM planner's answer, the server's history).

Colours are named world colours or `#RRGGBB`; positions are world.md's absolute positions.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from limner.data.world import (
    MAX_LINE_CHARS,
    MAX_TEXT_LINES,
    NUMBER_WORDS,
    OBJECTS,
    PLURALS,
    POSITIONS,
    RELATIONS,
    SIZES,
    TEXT_CHARS,
)
from limner.limits import SUPPORTED_SIZES
from limner.vision.color import canonical_color

TEXT_PLACES = ("top", "center", "bottom")


class PlanError(ValueError):
    """A plan field is invalid; the message names the field and the bad value."""


@dataclass
class PlanObject:
    """One planned object (or `count` alike); `free` lists the attributes the planner chose itself."""

    cls: str
    color: str  # named world colour or #RRGGBB
    size: str = "medium"
    count: int = 1
    position: str | None = None  # an absolute world position ("top left"), or None: the model places it
    relation: tuple[str, int] | None = None  # ("left of", j): this object stands in that relation to object j
    free: tuple[str, ...] = ()  # attributes the planner chose itself ("class", "color", "position")

    def noun(self) -> str:
        """'large red star', 'three blue rings', 'circle in #1E90FF' (no determiner)."""
        words = [self.size] if self.size != "medium" else []
        name = PLURALS[self.cls] if self.count > 1 else self.cls
        if self.color.startswith("#"):
            return " ".join([*words, f"{name} in {self.color}"])
        return " ".join([*words, self.color, name])


@dataclass
class PlanText:
    """Planned text: up to three lines, their colour, block position and optional sign panel."""

    lines: list[str]
    color: str | None = None  # None: the model's choice (dark on light)
    position: str = "center"  # top | center | bottom
    panel: str | None = None  # colour of a sign behind the text


@dataclass
class PlanGrid:
    """A rows x cols grid of objects, one per cell."""

    rows: int
    cols: int
    cells: list[PlanObject]  # rows * cols, reading order


@dataclass
class ScenePlan:
    """The plan of one image: objects (or a grid), text, background, size and the planner's notes."""

    objects: list[PlanObject] = field(default_factory=list)
    text: PlanText | None = None
    grid: PlanGrid | None = None
    background: str = "white"  # named, #RRGGBB or "transparent"
    size: tuple[int, int] | None = None  # (W, H) when the prompt implies an aspect ratio
    notes: list[str] = field(default_factory=list)  # what the planner decided on its own, for the user
    focus: int | None = None  # the object the last edit changed: what "it" means in the next turn

    # -- phrasing ----------------------------------------------------------------------------------

    def revised_prompt(self) -> str:
        """The canonical caption of this plan, in the data engine's training templates."""
        parts: list[str] = []
        if self.grid is not None:
            g = self.grid
            items = ", ".join(_with_article(c.noun()) for c in g.cells)
            parts.append(f"a {g.rows} by {g.cols} grid: {items}")
        else:
            parts += self._object_phrases()
        if self.text is not None:
            parts.append(self._text_phrase(self.text))
        core = _join(parts) if parts else "an empty canvas"
        if self.background == "transparent":
            return core + " on a transparent background"
        if self.background != "white":
            return core + f" on a {self.background} background"
        return core

    def _object_phrases(self) -> list[str]:
        out: list[str] = []
        related = {o.relation[1] for o in self.objects if o.relation is not None}
        for i in range(len(self.objects)):
            if i in related:
                continue  # phrased inside the relation clause of the object that refers to it
            out.append(self._phrase(i))
        return out

    def _phrase(self, i: int) -> str:
        o = self.objects[i]
        np_ = _counted(o)
        if o.relation is not None:
            rel, j = o.relation
            other = _counted(self.objects[j])
            verb = "to the left of" if rel == "left of" else "to the right of" if rel == "right of" else rel
            return f"{np_} {verb} {other}"
        if o.position is not None:
            return f"{np_} in the {o.position}"
        return np_

    @staticmethod
    def _text_phrase(t: PlanText) -> str:
        quoted = ", ".join(_quote(ln) for ln in t.lines)
        if t.panel is not None:
            s = f"{_with_article(t.panel + ' sign')} that says {quoted}"
        elif t.color is not None:
            s = f"the text {quoted} in {t.color}"
        else:
            s = f"the text {quoted}"
        return s if t.position == "center" else s + f" at the {t.position}"

    # -- records for the verifier --------------------------------------------------------------------

    def to_records(self, strict: bool = True) -> list[dict[str, Any]]:
        """world.md eval records that hold exactly when an image follows this plan (objects, text).

        With strict=False, what the planner chose itself is not required: objects of a chosen class are
        left out and chosen colours are not checked (best-of-N without thinking mode verifies the prompt)."""
        prompt = self.revised_prompt()
        recs: list[dict[str, Any]] = []
        bg = {} if self.background == "white" else {"background": self.background}
        if self.grid is not None:
            cells = [_color_entry({"class": c.cls}, c.color) for c in self.grid.cells]
            recs.append({"tag": "dense_grid", "prompt": prompt, **bg,
                         "grid": {"rows": self.grid.rows, "cols": self.grid.cols, "cells": cells}})
        elif self.objects:
            include = []
            kept = [o for o in self.objects if strict or "class" not in o.free]
            for o in kept:
                e = {"class": o.cls, "count": o.count}
                if strict or "color" not in o.free:
                    e = _color_entry(e, o.color)
                if o.relation is not None and self.objects[o.relation[1]] in kept:
                    e["position"] = [o.relation[0], kept.index(self.objects[o.relation[1]])]
                include.append(e)
            tag = ("position" if any("position" in e for e in include)
                   else "counting" if any(o.count > 1 for o in kept)
                   else "two_object" if len(include) > 1 else "single_object")
            if include:
                recs.append({"tag": tag, "prompt": prompt, "include": include, **bg})
        if self.text is not None:
            recs.append({"tag": "text", "prompt": prompt, "text": "\n".join(self.text.lines), **bg})
        return recs

    def absolute_positions(self, strict: bool = True) -> list[tuple[str, str, str]]:
        """(class, colour, position) of every object placed at an absolute position (by the prompt, unless strict)."""
        return [(o.cls, o.color, o.position) for o in self.objects
                if o.position is not None and (strict or "position" not in o.free)]

    # -- JSON ---------------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON of the plan (size as 'WxH'), the form `from_dict` reads back (except `free`, which it drops)."""
        d = asdict(self)
        if self.size is not None:
            d["size"] = f"{self.size[0]}x{self.size[1]}"
        return d

    @staticmethod
    def from_dict(d: Any) -> ScenePlan:
        """Validate and build a plan from JSON (e.g. an LLM's answer); PlanError names the bad field."""
        if not isinstance(d, dict):
            raise PlanError(f"plan: expected a JSON object, got {type(d).__name__}")
        bg = d.get("background") or "white"
        plan = ScenePlan(background="transparent" if bg == "transparent" else _color(bg, "background"))
        objs = d.get("objects") or []
        if not isinstance(objs, list):
            raise PlanError(f"objects: expected a list, got {objs!r}")
        plan.objects = [_object(o, f"objects[{i}]", len(objs)) for i, o in enumerate(objs)]
        g = d.get("grid")
        if g:
            if not isinstance(g, dict):
                raise PlanError(f"grid: expected an object, got {g!r}")
            rows, cols = _int(g.get("rows"), "grid.rows", 1, 4), _int(g.get("cols"), "grid.cols", 1, 4)
            cells = g.get("cells") or []
            if not isinstance(cells, list) or len(cells) != rows * cols:
                raise PlanError(f"grid.cells: expected {rows * cols} cells, got {cells!r}")
            plan.grid = PlanGrid(rows, cols, [_object(c, f"grid.cells[{i}]", 0) for i, c in enumerate(cells)])
        t = d.get("text")
        if t:
            plan.text = _text(t)
        size = d.get("size")
        if size:
            from limner.limits import parse_size

            try:
                plan.size = parse_size(size) if isinstance(size, str) else tuple(size)
            except (ValueError, TypeError) as e:
                raise PlanError(f"size: {e}") from None
            if plan.size not in SUPPORTED_SIZES:
                raise PlanError(f"size: unsupported {size!r}")
        notes = d.get("notes") or []
        plan.notes = [str(n) for n in notes] if isinstance(notes, list) else [str(notes)]
        focus = d.get("focus")
        plan.focus = focus if isinstance(focus, int) and 0 <= focus < len(plan.objects) else None
        if not plan.objects and plan.grid is None and plan.text is None:
            raise PlanError("plan: has no objects, grid or text")
        return plan


# -- helpers ----------------------------------------------------------------------------------------


def _with_article(phrase: str) -> str:
    return ("an " if phrase[0] in "aeiou" else "a ") + phrase


def _counted(o: PlanObject) -> str:
    return f"{NUMBER_WORDS[o.count]} {o.noun()}" if 1 < o.count < len(NUMBER_WORDS) else (
        f"{o.count} {o.noun()}" if o.count > 1 else _with_article(o.noun()))


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _quote(line: str) -> str:
    return f'"{line}"' if "'" in line else f"'{line}'"


def _color_entry(e: dict[str, Any], color: str) -> dict[str, Any]:
    e["hex" if color.startswith("#") else "color"] = color
    return e


def _color(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise PlanError(f"{where}: expected a colour string, got {value!r}")
    try:
        return canonical_color(value)
    except ValueError as e:
        raise PlanError(f"{where}: {e}") from None


def _int(value: Any, where: str, lo: int, hi: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise PlanError(f"{where}: expected an integer {lo}-{hi}, got {value!r}")
    return value


def _object(o: Any, where: str, n: int) -> PlanObject:
    if not isinstance(o, dict):
        raise PlanError(f"{where}: expected an object, got {o!r}")
    cls = o.get("class", o.get("cls"))
    if cls not in OBJECTS:
        raise PlanError(f"{where}.class: unknown object {cls!r}: expected one of {list(OBJECTS)}")
    size = o.get("size") or "medium"
    if size not in SIZES:
        raise PlanError(f"{where}.size: unknown size {size!r}: expected one of {list(SIZES)}")
    pos = o.get("position")
    if pos is not None and pos not in POSITIONS:
        raise PlanError(f"{where}.position: unknown position {pos!r}: expected one of {list(POSITIONS)}")
    rel = o.get("relation")
    relation = None
    if rel is not None:
        if (not isinstance(rel, list | tuple) or len(rel) != 2 or rel[0] not in RELATIONS
                or not isinstance(rel[1], int) or not 0 <= rel[1] < n):
            raise PlanError(f"{where}.relation: expected [relation, index] with relation in {list(RELATIONS)}, "
                            f"got {rel!r}")
        relation = (rel[0], rel[1])
    return PlanObject(cls, _color(o.get("color", "black"), f"{where}.color"), size,
                      _int(o.get("count", 1), f"{where}.count", 1, 16), pos, relation)


def _text(t: Any) -> PlanText:
    if not isinstance(t, dict):
        raise PlanError(f"text: expected an object, got {t!r}")
    lines = t.get("lines")
    if isinstance(lines, str):
        lines = lines.split("\n")
    if not isinstance(lines, list) or not 1 <= len(lines) <= MAX_TEXT_LINES:
        raise PlanError(f"text.lines: expected 1-{MAX_TEXT_LINES} lines, got {lines!r}")
    for i, ln in enumerate(lines):
        if not isinstance(ln, str) or not ln.strip() or len(ln) > MAX_LINE_CHARS or set(ln) - TEXT_CHARS:
            raise PlanError(f"text.lines[{i}]: {ln!r} must be 1-{MAX_LINE_CHARS} world characters")
    pos = t.get("position") or "center"
    if pos not in TEXT_PLACES:
        raise PlanError(f"text.position: unknown {pos!r}: expected one of {list(TEXT_PLACES)}")
    color = t.get("color")
    panel = t.get("panel")
    return PlanText(list(lines), None if color is None else _color(color, "text.color"), pos,
                    None if panel is None else _color(panel, "text.panel"))
