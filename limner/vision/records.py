"""Eval records (the JSON Lines format of shared/world.md): validation, loading and exact oracle rendering.

`record_to_scene` turns ANY valid record, including ones the project never saw, into a `Scene` that the
data engine's renderer draws exactly: the objects each `include` entry asks for (class, count, colour or
hex), placed without overlap so that every `position` relation holds with a wide margin, a grid laid out
cell by cell, or the requested text. Unspecified attributes (an object's colour, the text colour) are
drawn from a seeded RNG among colours that contrast with the background.
"""

from __future__ import annotations

import json
import math
import random
import zlib
from pathlib import Path
from typing import Any

from limner.data.scene import TEXT_POSITIONS, Scene, SceneObject, SceneText
from limner.data.world import (
    COLORS,
    MAX_LINE_CHARS,
    MAX_TEXT_LINES,
    OBJECTS,
    RELATIONS,
    SIZES,
    TAGS,
    TEXT_CHARS,
    color_rgb,
)
from limner.vision.color import canonical_color

OBJECT_TAGS: tuple[str, ...] = tuple(t for t in TAGS if t not in ("text", "dense_grid"))
MAX_COUNT = 16  # world.md counts go to six; allow more so that grids-as-includes still validate
MAX_GRID = 4


class RecordError(ValueError):
    """A malformed eval record; the message names the bad field and value."""


def _fail(where: str, msg: str) -> RecordError:
    return RecordError(f"{where}: {msg}")


def _check_color(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise _fail(where, f"expected a colour string, got {value!r}")
    try:
        return canonical_color(value)
    except ValueError as e:
        raise _fail(where, str(e)) from None


def _check_object(entry: Any, where: str, *, need_count: bool) -> dict[str, Any]:
    if not isinstance(entry, dict):
        raise _fail(where, f"expected an object, got {entry!r}")
    out: dict[str, Any] = {}
    cls = entry.get("class")
    if cls not in OBJECTS:
        raise _fail(f"{where}.class", f"unknown object {cls!r}: expected one of {list(OBJECTS)}")
    out["class"] = cls
    if need_count or "count" in entry:
        n = entry.get("count", 1)
        if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= MAX_COUNT:
            raise _fail(f"{where}.count", f"expected an integer 1-{MAX_COUNT}, got {n!r}")
        out["count"] = n
    if "color" in entry and "hex" in entry:
        raise _fail(where, "give either 'color' or 'hex', not both")
    if "color" in entry:
        out["color"] = _check_color(entry["color"], f"{where}.color")
    if "hex" in entry:
        h = _check_color(entry["hex"], f"{where}.hex")
        if not h.startswith("#"):
            raise _fail(f"{where}.hex", f"expected #RRGGBB, got {entry['hex']!r}")
        out["hex"] = h
    return out


def validate_record(record: Any) -> dict[str, Any]:
    """A normalised copy of `record`, or RecordError naming the bad field. Unknown extra keys are kept."""
    if not isinstance(record, dict):
        raise RecordError(f"record: expected a JSON object, got {type(record).__name__}")
    out: dict[str, Any] = dict(record)
    tag = record.get("tag")
    if tag not in TAGS:
        raise _fail("tag", f"unknown tag {tag!r}: expected one of {list(TAGS)}")
    prompt = record.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise _fail("prompt", f"expected a non-empty string, got {prompt!r}")
    bg = record.get("background", "white")
    out["background"] = "transparent" if bg == "transparent" else _check_color(bg, "background")

    inc = record.get("include", [])
    if not isinstance(inc, list):
        raise _fail("include", f"expected a list, got {inc!r}")
    out["include"] = [_check_object(e, f"include[{i}]", need_count=True) for i, e in enumerate(inc)]
    for i, (raw, e) in enumerate(zip(inc, out["include"], strict=True)):
        if "position" in raw:
            pos = raw["position"]
            if (not isinstance(pos, list | tuple) or len(pos) != 2 or pos[0] not in RELATIONS
                    or not isinstance(pos[1], int) or isinstance(pos[1], bool)):
                raise _fail(f"include[{i}].position", f"expected [relation, index] with relation in {list(RELATIONS)}, "
                            f"got {pos!r}")
            if not 0 <= pos[1] < len(inc) or pos[1] == i:
                raise _fail(f"include[{i}].position", f"index {pos[1]} does not name another include entry")
            e["position"] = [pos[0], pos[1]]
    exc = record.get("exclude", [])
    if not isinstance(exc, list):
        raise _fail("exclude", f"expected a list, got {exc!r}")
    out["exclude"] = [_check_object(e, f"exclude[{i}]", need_count=True) for i, e in enumerate(exc)]
    for i, e in enumerate(out["exclude"]):
        drawn = sum(x["count"] for x in out["include"] if x["class"] == e["class"]
                    and ("color" not in e or x.get("color") == e["color"]))
        if drawn >= e["count"]:
            raise _fail(f"exclude[{i}]", f"contradicts include: {drawn} {e['class']} requested, {e['count']} excluded")

    if tag in OBJECT_TAGS and not out["include"]:
        raise _fail("include", f"tag {tag!r} needs at least one include entry")
    if tag == "text":
        out["text"] = _check_text(record.get("text"))
        if "text_color" in record:  # optional: the colour the prompt asks the letters in
            out["text_color"] = _check_color(record["text_color"], "text_color")
        if "text_position" in record and record["text_position"] not in TEXT_POSITIONS:
            raise _fail("text_position", f"expected one of {sorted(TEXT_POSITIONS)}, got {record['text_position']!r}")
    if tag == "dense_grid":
        out["grid"] = _check_grid(record.get("grid"))
    return out


def _check_text(text: Any) -> str:
    if not isinstance(text, str) or not text.strip():
        raise _fail("text", f"expected a non-empty string, got {text!r}")
    lines = text.split("\n")
    if len(lines) > MAX_TEXT_LINES:
        raise _fail("text", f"{len(lines)} lines, at most {MAX_TEXT_LINES} allowed")
    for i, ln in enumerate(lines):
        if not ln.strip() or len(ln) > MAX_LINE_CHARS:
            raise _fail(f"text line {i + 1}", f"{ln!r} must have 1-{MAX_LINE_CHARS} characters")
        bad = sorted(set(ln) - TEXT_CHARS)
        if bad:
            raise _fail(f"text line {i + 1}", f"unsupported characters {bad} in {ln!r}")
    return text


def _check_grid(grid: Any) -> dict[str, Any]:
    if not isinstance(grid, dict):
        raise _fail("grid", f"expected an object with rows, cols, cells, got {grid!r}")
    dims = {}
    for k in ("rows", "cols"):
        v = grid.get(k)
        if not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= MAX_GRID:
            raise _fail(f"grid.{k}", f"expected an integer 1-{MAX_GRID}, got {v!r}")
        dims[k] = v
    cells = grid.get("cells")
    if not isinstance(cells, list) or len(cells) != dims["rows"] * dims["cols"]:
        n = len(cells) if isinstance(cells, list) else cells
        raise _fail("grid.cells", f"expected a list of rows*cols = {dims['rows'] * dims['cols']} cells, got {n!r}")
    return {**dims, "cells": [_check_object(c, f"grid.cells[{i}]", need_count=False) for i, c in enumerate(cells)]}


def load_records(path: str | Path) -> list[dict[str, Any]]:
    """Read and validate a JSON Lines file; RecordError names the file, the line and the bad field."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise RecordError(f"{p}: cannot read prompts file ({e.strerror or e})") from None
    except UnicodeDecodeError:
        raise RecordError(f"{p}: not UTF-8 text") from None
    out = []
    for no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise RecordError(f"{p}:{no}: malformed JSON ({e.msg})") from None
        try:
            out.append(validate_record(obj))
        except RecordError as e:
            raise RecordError(f"{p}:{no}: {e}") from None
    if not out:
        raise RecordError(f"{p}: no records")
    return out


def select_tags(records: list[dict[str, Any]], spec: str) -> list[dict[str, Any]]:
    """The records whose tag is among `spec`'s comma-separated tags (e.g. "text,dense_grid"), in order; RecordError
    naming any tag that no record has, and the tags there are."""
    keep = {t.strip() for t in spec.split(",") if t.strip()}
    have = {r["tag"] for r in records}
    if not keep or keep - have:
        raise RecordError(f"--tags {spec!r}: no records of {sorted(keep - have) or 'any tag'} "
                          f"(these records' tags: {', '.join(sorted(have))})")
    return [r for r in records if r["tag"] in keep]


def _rng(record: dict[str, Any], seed: int) -> random.Random:
    key = json.dumps(record, sort_keys=True, default=str).encode()
    return random.Random(seed * 1_000_003 + zlib.crc32(key))


def _contrasting(rng: random.Random, background: str, avoid: tuple[str, ...] = ()) -> str:
    """A named colour far (>= 110 in sRGB) from the background, as the data engine picks them."""
    if background == "transparent":
        names = [c for c in COLORS if c not in avoid]
    else:
        bg = color_rgb(background)
        names = [c for c in COLORS if c not in avoid and math.dist(COLORS[c], bg) >= 110.0]
    return rng.choice(names or list(COLORS))


def _text_color(background: str) -> str:
    if background == "transparent":
        return "black"
    r, g, b = color_rgb(background)
    return "black" if 0.299 * r + 0.587 * g + 0.114 * b > 140 else "white"


def placement_holds(rel: str, dx: float, dy: float, sep: float) -> bool:
    """Strict placement test for `a rel b` with offset (dx, dy) = a - b: wide margin along the axis."""
    along, across = {"left of": (-dx, dy), "right of": (dx, dy), "above": (-dy, dx), "below": (dy, dx)}[rel]
    return along >= sep and along >= 2.0 * abs(across)


def _place(rng: random.Random, radii: list[float], cons: list[tuple[int, int, str]], w: int, h: int,
           gap: float) -> list[tuple[float, float]] | None:
    """Centres for circles of `radii`, non-overlapping, satisfying (a, b, rel) constraints, or None."""
    for _ in range(300):
        pts: list[tuple[float, float]] = []
        for k, r in enumerate(radii):
            for _ in range(200):
                x, y = rng.uniform(r + 4, w - r - 4), rng.uniform(r + 4, h - r - 4)
                if any(math.dist((x, y), p) <= r + radii[j] + gap for j, p in enumerate(pts)):
                    continue
                ok = True
                for a, b, rel in cons:
                    if k in (a, b) and max(a, b) == k:
                        pa = (x, y) if a == k else pts[a]
                        pb = (x, y) if b == k else pts[b]
                        if not placement_holds(rel, pa[0] - pb[0], pa[1] - pb[1], radii[a] + radii[b]):
                            ok = False
                            break
                if ok:
                    pts.append((x, y))
                    break
            else:
                break
        if len(pts) == len(radii):
            return pts
    return None


def record_to_scene(record: dict[str, Any], size: tuple[int, int] = (256, 256), seed: int = 0) -> Scene:
    """The exact scene for a (validated here) record; RecordError if it is malformed or cannot be laid out."""
    rec = validate_record(record)
    w, h = size
    rng = _rng(rec, seed)
    bg = rec["background"]
    scene = Scene(w, h, bg)
    if rec["tag"] == "text":
        scene.text = SceneText(rec["text"].split("\n"), rec.get("text_color") or _text_color(bg),
                               rec.get("text_position", "center"))
        return scene
    if rec["tag"] == "dense_grid":
        g = rec["grid"]
        cw, ch = w / g["cols"], h / g["rows"]
        rf = 0.36 * min(cw, ch) / min(w, h)
        for i, cell in enumerate(g["cells"]):
            r, c = divmod(i, g["cols"])
            col = cell.get("color") or cell.get("hex") or _contrasting(rng, bg)
            scene.objects.append(SceneObject(cell["class"], col, cx=(c + 0.5) * cw / w, cy=(r + 0.5) * ch / h,
                                             radius_frac=rf))
        return scene
    objs: list[SceneObject] = []
    entry_of: list[int] = []
    used: list[str] = []
    for i, e in enumerate(rec["include"]):
        col = e.get("color") or e.get("hex") or _contrasting(rng, bg, avoid=tuple(used))
        used.append(col)
        for _ in range(e["count"]):
            objs.append(SceneObject(e["class"], col))
            entry_of.append(i)
    cons = []
    for i, e in enumerate(rec["include"]):
        if "position" in e:
            rel, j = e["position"]
            cons += [(a, b, rel) for a in range(len(objs)) if entry_of[a] == i
                     for b in range(len(objs)) if entry_of[b] == j]
    n = len(objs)
    frac = SIZES["medium"] if n <= 3 else SIZES["small"]
    for _ in range(8):
        radii = [frac * min(w, h)] * n
        pts = _place(rng, radii, cons, w, h, gap=8.0)
        if pts is not None:
            for o, (x, y) in zip(objs, pts, strict=True):
                o.cx, o.cy, o.radius_frac = x / w, y / h, frac
            scene.objects = objs
            return scene
        frac *= 0.85
    raise RecordError(f"include: cannot lay out {n} objects with the requested positions on a {w}x{h} canvas")
