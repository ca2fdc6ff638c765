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
        return ""
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
    return "\n".join(" ".join(t for *_, t in sorted(r, key=lambda z: z[1])) for r in rows)


def score_text(image: Image.Image, target: str) -> TextScore:
    """OCR `image` and score the reading against `target`: folded exact match, NED and strict exact match."""
    got = read_text(image)
    return TextScore(got, float(fold(got) == fold(target)), ned(got, target),
                     float(fold_strict(got) == fold_strict(target)))
