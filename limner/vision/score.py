"""Per-image scoring rules of shared/world.md, GenEval-style.

- Object tags: an image is correct when every `include` holds and no `exclude` holds. An include holds
  when at least `count` detections have its class (and its colour: nearest world colour for `color`,
  median CIEDE2000 <= HEX_DE_MAX for `hex`) and, for `position: [relation, j]`, each of them stands in
  that relation to every object matched by include j. An exclude holds when `count` or more detections
  have its class (and colour, if given). `counting` is exact: more objects of the class than asked fail.
- `position` relations are GenEval's, on centroids: the centre offset, shrunk per axis by 10% of the two
  bbox extents, must point within 60 degrees of the relation's direction.
- `dense_grid`: share of the R*C cells whose largest object (by centroid) has the right class and colour.
- `hex_color`: correct when an object of the class is found with median CIEDE2000 <= 10; the error is
  reported either way (of the best object of the class, else of the largest object, else DE_MISSING).
- `text`: OCR exact match after case/whitespace (and I/l homoglyph) folding (the image score) and NED; where the
  record names them, the letters' colour (the median ink inside the OCR boxes; nearest world colour, or
  CIEDE2000 <= 10 for hex) and the block's place (top, center or bottom third) are reported beside it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from limner.vision.color import ciede2000, color_lab, de2000_rgb, nearest_named, srgb_to_lab
from limner.vision.detect import DetectConfig, Detection, detect
from limner.vision.ocr import score_text

HEX_DE_MAX = 10.0
DE_MISSING = 100.0  # colour error charged when the image has no object at all
POSITION_THRESHOLD = 0.1  # GenEval's


@dataclass
class ImageScore:
    """The score of one image against one record; `reasons` say what made it incorrect (empty when correct)."""

    score: float  # in [0, 1]: correctness, the grid's cell share, or the text's exact match
    correct: bool
    reasons: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)  # ned, read text, de2000, detections


def relations(a: Detection, b: Detection, threshold: float = POSITION_THRESHOLD) -> set[str]:
    """Relations of a to b ('left of', 'right of', 'above', 'below') from centroids and bbox extents."""
    off = np.array(a.centroid) - np.array(b.centroid)
    dim_a = np.array([a.bbox[2] - a.bbox[0], a.bbox[3] - a.bbox[1]], dtype=np.float64)
    dim_b = np.array([b.bbox[2] - b.bbox[0], b.bbox[3] - b.bbox[1]], dtype=np.float64)
    revised = np.maximum(np.abs(off) - threshold * (dim_a + dim_b), 0) * np.sign(off)
    norm = float(np.linalg.norm(off))
    if np.all(np.abs(revised) < 1e-3) or norm == 0:
        return set()
    dx, dy = revised / norm
    out = set()
    if dx < -0.5:
        out.add("left of")
    if dx > 0.5:
        out.add("right of")
    if dy < -0.5:
        out.add("above")
    if dy > 0.5:
        out.add("below")
    return out


def object_de2000(d: Detection, color: str) -> float:
    """Median CIEDE2000 of the object's core pixels against `color`."""
    px = d.pixels if len(d.pixels) else np.array([d.rgb], dtype=np.float32)
    return float(np.median(ciede2000(srgb_to_lab(px), color_lab(color))))


def _color_ok(d: Detection, req: dict[str, Any]) -> bool:
    if "color" in req:
        return d.color == req["color"]
    if "hex" in req:
        return object_de2000(d, req["hex"]) <= HEX_DE_MAX
    return True


def text_colour_ok(ink: tuple[float, float, float], color: str) -> bool:
    """Letters of median colour `ink` are in `color`: the nearest world colour for a name, CIEDE2000 <= HEX_DE_MAX
    for a hex value (as objects are scored)."""
    if color.startswith("#"):
        return de2000_rgb(ink, color) <= HEX_DE_MAX
    return nearest_named(ink) == color


def _describe(dets: list[Detection]) -> list[dict[str, Any]]:
    return [{"class": d.cls, "p": round(d.prob, 3), "color": d.color, "centroid": [round(v, 1) for v in d.centroid],
             "area": round(d.area)} for d in dets]


def _score_objects(dets: list[Detection], rec: dict[str, Any]) -> ImageScore:
    reasons: list[str] = []
    extra: dict[str, Any] = {}
    groups: list[list[Detection] | None] = []
    for req in rec["include"]:
        of_class = sorted((d for d in dets if d.cls == req["class"]), key=lambda d: -d.prob)
        matched = [d for d in of_class if _color_ok(d, req)]
        if "hex" in req:
            pool = of_class or dets[:1]
            des = [object_de2000(d, req["hex"]) for d in pool]
            extra.setdefault("de2000", []).append(min(des) if des else DE_MISSING)
        if len(matched) < req["count"]:
            what = f"{req['class']}" + (f" ({req.get('color') or req.get('hex')})" if "color" in req or "hex" in req
                                        else "")
            reasons.append(f"expected {req['count']} {what}, found {len(matched)} (of class: {len(of_class)})")
            groups.append(None)
        else:
            groups.append(matched[:req["count"]])
    for i, req in enumerate(rec["include"]):
        if "position" not in req or groups[i] is None:
            continue
        rel, j = req["position"]
        target = groups[j]
        if target is None:
            reasons.append(f"no {rec['include'][j]['class']} for {req['class']} to be {rel}")
            continue
        group = groups[i]
        assert group is not None
        if not all(rel in relations(a, b) for a in group for b in target):
            reasons.append(f"{req['class']} is not {rel} {rec['include'][j]['class']}")
    excludes = list(rec.get("exclude", []))
    if rec["tag"] == "counting":  # exact counts, even when a record carries no exclude
        excludes += [{"class": r["class"], "count": r["count"] + 1} for r in rec["include"]]
    for req in excludes:
        n = sum(1 for d in dets if d.cls == req["class"] and _color_ok(d, req))
        if n >= req["count"]:
            reasons.append(f"excluded: {n} {req['class']} (limit {req['count'] - 1})")
    ok = not reasons
    if "de2000" in extra:
        extra["de2000"] = max(extra["de2000"])
    extra["detections"] = _describe(dets)
    # every check above adds at most one reason when it fails: the share met ranks near misses (best-of-N)
    checks = len(rec["include"]) + sum(1 for r in rec["include"] if "position" in r) + len(excludes)
    extra["checks_met"] = (checks - len(reasons)) / checks if checks else float(ok)
    return ImageScore(float(ok), ok, reasons, extra)


def _score_grid(dets: list[Detection], rec: dict[str, Any], w: int, h: int) -> ImageScore:
    g = rec["grid"]
    rows, cols = g["rows"], g["cols"]
    cw, ch = w / cols, h / rows
    best: dict[int, Detection] = {}
    for d in dets:  # dets are largest first, so the first object seen in a cell is its largest
        c = min(cols - 1, max(0, int(d.centroid[0] // cw)))
        r = min(rows - 1, max(0, int(d.centroid[1] // ch)))
        best.setdefault(r * cols + c, d)
    good = 0
    reasons = []
    for i, cell in enumerate(g["cells"]):
        hit = best.get(i)
        if hit is not None and hit.cls == cell["class"] and _color_ok(hit, cell):
            good += 1
        else:
            got = "nothing" if hit is None else f"{hit.color} {hit.cls}"
            reasons.append(f"cell {i}: wanted {cell.get('color') or cell.get('hex') or ''} {cell['class']}, got {got}")
    share = good / len(g["cells"])
    return ImageScore(share, share == 1.0, reasons, {"cells_correct": good, "detections": _describe(dets)})


def score_image(image: Image.Image, rec: dict[str, Any], cfg: DetectConfig | None = None) -> ImageScore:
    """Score one image against one validated record (records.validate_record)."""
    tag = rec["tag"]
    if tag == "text":
        ts = score_text(image, rec["text"])
        extra: dict[str, Any] = {"ned": ts.ned, "exact_strict": ts.exact_strict, "read": ts.read}
        reasons = [] if ts.exact else [f"read {ts.read!r}"]
        if "text_color" in rec:  # reported beside the exact match, which stays the image's score
            extra["colour_ok"] = ts.ink is not None and text_colour_ok(ts.ink, rec["text_color"])
            extra["ink"] = None if ts.ink is None else [round(v) for v in ts.ink]
            if not extra["colour_ok"]:
                reasons.append(f"letters not {rec['text_color']} (ink {extra['ink']})")
        if "text_position" in rec:
            extra["position_ok"] = ts.band == rec["text_position"]
            if not extra["position_ok"]:
                reasons.append(f"text at {ts.band}, wanted {rec['text_position']}")
        return ImageScore(ts.exact, ts.exact == 1.0, reasons, extra)
    dets = detect(image, cfg)
    if tag == "dense_grid":
        return _score_grid(dets, rec, image.width, image.height)
    return _score_objects(dets, rec)
