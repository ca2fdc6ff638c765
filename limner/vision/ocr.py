"""Text scoring by OCR with rapidocr 3.x (its ONNX models ship inside the package; nothing is downloaded).

Reading order: detected lines are sorted top to bottom (lines whose vertical centres are closer than half
a line height are one row, read left to right) and joined with newlines. Exact match and normalised
edit distance (NED) are computed after case and whitespace folding: lower case, all whitespace removed
(OCR engines are inconsistent about the spaces between words; world.md scores the characters), and the
one homoglyph pair of the world's sans-serif font, capital I and lower-case l, drawn as the same bar,
folded together (no reader can tell them apart; the oracle renders would otherwise fail on them).
`exact_strict` is also reported, without the homoglyph fold.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from PIL import Image


@dataclass
class TextScore:
    """What OCR read in one image and how it compares with the target text (see the module docstring for the folds)."""

    read: str  # what OCR read, lines joined by "\n"
    exact: float  # 1.0 when the folded strings are equal
    ned: float  # 1 - edit distance / max length, on the folded strings
    exact_strict: float  # exact match with case and whitespace folding only
    ink: tuple[float, float, float] | None = None  # the letters' median colour (sRGB), None when none was found
    band: str | None = None  # top | center | bottom: where the text block sits


def fold_strict(s: str) -> str:
    """Case and whitespace folding only: 'Open 7\nDays' -> 'open7days'."""
    return "".join(s.split()).lower()


def fold(s: str) -> str:
    """Case, whitespace and I/l folding: 'Open 7\\nDays' -> 'open7days', 'MIL' -> 'mii'."""
    return fold_strict(s).replace("l", "i")


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (insert, delete, substitute), O(len(a) * len(b))."""
    if len(a) < len(b):
        a, b = b, a
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        cur = [i]
        for j, cb in enumerate(b, start=1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def ned(read: str, target: str) -> float:
    """Normalised edit similarity on folded strings: 1 - d / max(len); 1.0 for two empty strings."""
    a, b = fold(read), fold(target)
    m = max(len(a), len(b))
    return 1.0 if m == 0 else 1.0 - edit_distance(a, b) / m


@lru_cache(maxsize=1)
def _engine() -> Any:
    from rapidocr import RapidOCR  # lazy: onnxruntime sessions are created on first use

    # One onnxruntime thread: on a busy 2-core machine more threads spin and cost ~2x the CPU time.
    return RapidOCR(params={"Global.log_level": "error", "EngineConfig.onnxruntime.intra_op_num_threads": 1,
                            "EngineConfig.onnxruntime.inter_op_num_threads": 1})


def ocr_view(image: Image.Image) -> np.ndarray:
    """The RGB array OCR reads. A transparent image is laid over black when its opaque pixels are light on
    average, else over white, so text of any colour, white included, stays legible, and so does text on a
    sign panel (which reading the alpha alone would turn into one dark block); an opaque image is read as is."""
    a = np.asarray(image.convert("RGBA"))
    alpha = a[..., 3:].astype(np.float32) / 255.0  # (H, W, 1)
    if float(np.mean(alpha < 0.5)) > 0.02:
        rgb = a[..., :3].astype(np.float32)
        opaque = alpha[..., 0] >= 0.5
        lum = float((rgb[opaque] @ np.array([0.299, 0.587, 0.114], np.float32)).mean()) if opaque.any() else 0.0
        under = 0.0 if lum > 127.5 else 255.0
        return np.clip(rgb * alpha + under * (1 - alpha) + 0.5, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(a[..., :3])


def read_text(image: Image.Image) -> str:
    """OCR the image: detected text lines in reading order, joined with newlines."""
    return read_text_boxes(image)[0]


def read_text_boxes(image: Image.Image) -> tuple[str, list[tuple[int, int, int, int]]]:
    """`read_text` and the detected lines' boxes (x0, y0, x1, y1) in image pixels, clipped to the canvas."""
    view = ocr_view(image)
    # A margin helps the detector with text that touches the canvas edge or is a single glyph.
    pad = 16
    bg = np.median(np.concatenate([view[0], view[-1], view[:, 0], view[:, -1]]), axis=0).astype(np.uint8)
    padded = np.empty((view.shape[0] + 2 * pad, view.shape[1] + 2 * pad, 3), dtype=np.uint8)
    padded[:] = bg
    padded[pad:-pad, pad:-pad] = view
    res = _engine()(padded)
    txts = list(res.txts or ())
    boxes = res.boxes if res.boxes is not None else []
    if not txts:
        return "", []
    h, w = view.shape[:2]
    rects = []
    for b in boxes:
        b = np.asarray(b, dtype=np.float64) - pad
        rects.append((max(0, int(b[:, 0].min())), max(0, int(b[:, 1].min())), min(w, int(np.ceil(b[:, 0].max()))),
                      min(h, int(np.ceil(b[:, 1].max())))))
    items = []
    for t, b in zip(txts, boxes, strict=False):
        b = np.asarray(b, dtype=np.float64)
        items.append((float(b[:, 1].mean()), float(b[:, 0].min()), float(b[:, 1].max() - b[:, 1].min()), t))
    items.sort()
    rows: list[list[tuple[float, float, float, str]]] = []
    for it in items:
        if rows and abs(it[0] - rows[-1][0][0]) < 0.5 * max(it[2], rows[-1][0][2]):
            rows[-1].append(it)
        else:
            rows.append([it])
    return "\n".join(" ".join(t for *_, t in sorted(r, key=lambda z: z[1])) for r in rows), rects


# A pixel inside a text box whose colour is this far (sRGB Euclidean) from the box's background is ink.
INK_DISTANCE = 80.0


def ink_rgb(image: Image.Image, boxes: list[tuple[int, int, int, int]]) -> tuple[float, float, float] | None:
    """The letters' colour: the median of the pixels inside the OCR boxes that stand far from their box's
    background (the median colour of the box's border); None when no box holds ink."""
    a = np.asarray(ocr_view(image), dtype=np.float64)  # (H, W, 3)
    inks = []
    for x0, y0, x1, y1 in boxes:
        if x1 - x0 < 3 or y1 - y0 < 3:
            continue
        crop = a[y0:y1, x0:x1]
        border = np.concatenate([crop[0], crop[-1], crop[:, 0], crop[:, -1]])
        bg = np.median(border, axis=0)
        far = np.linalg.norm(crop - bg, axis=-1) > INK_DISTANCE
        inks.append(crop[far])
    px = np.concatenate(inks) if inks else np.zeros((0, 3))
    if len(px) < 8:
        return None
    m = np.median(px, axis=0)
    return (float(m[0]), float(m[1]), float(m[2]))


def text_band(boxes: list[tuple[int, int, int, int]], height: int) -> str | None:
    """Where the text block sits: 'top', 'center' or 'bottom' by its vertical centre in thirds of the canvas."""
    if not boxes:
        return None
    cy = (min(b[1] for b in boxes) + max(b[3] for b in boxes)) / 2 / height
    return "top" if cy < 1 / 3 else "bottom" if cy > 2 / 3 else "center"


def score_text(image: Image.Image, target: str) -> TextScore:
    """OCR `image` and score the reading against `target`: folded exact match, NED and strict exact match; the
    ink colour and the block's band come with it."""
    got, boxes = read_text_boxes(image)
    return TextScore(got, float(fold(got) == fold(target)), ned(got, target),
                     float(fold_strict(got) == fold_strict(target)), ink_rgb(image, boxes),
                     text_band(boxes, image.height))
