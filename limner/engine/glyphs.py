"""The text a prompt asks to render, as the glyph condition of the diffusion decoder.

Quoted strings become lines (several quoted strings, or newlines inside one, give several lines;
at most 3). The block's place comes from position words outside the quotes (top / bottom, else
centre), then `limner.data.scene.layout_text` lays it out exactly as the data engine does.
"""

from __future__ import annotations

import re

import numpy as np
import torch

from limner.data.scene import SceneText, glyph_image
from limner.data.world import MAX_TEXT_LINES
from limner.model.text_tokenizer import TextTokenizer

_UNQUOTED_WORD = re.compile(r"\b(?:the\s+)?(?:word|text)\s+([A-Z0-9][A-Z0-9!?.&'-]*)\b")


def requested_text(prompt: str) -> SceneText | None:
    """SceneText of the strings a prompt asks to draw, or None when it asks for no text."""
    pieces = TextTokenizer(()).split(prompt)
    lines: list[str] = []
    outside: list[str] = []
    for kind, piece in pieces:
        if kind == "quote":
            lines += [ln.strip() for ln in piece.split("\n") if ln.strip()]
        else:
            outside.append(piece)
    if not lines:
        m = _UNQUOTED_WORD.search(prompt)
        if m:
            lines = [m.group(1)]
    if not lines:
        return None
    words = set(outside)
    position = "top" if {"top", "upper"} & words else "bottom" if {"bottom", "lower"} & words else "center"
    return SceneText(lines[:MAX_TEXT_LINES], position=position)


def glyph_tensor(prompt: str, size: tuple[int, int]) -> torch.Tensor:
    """(1, H, W) glyph condition in [0, 1] for `prompt` at output size (W, H)."""
    w, h = size
    g = np.asarray(glyph_image(requested_text(prompt), w, h), dtype=np.float32) / 255.0
    return torch.from_numpy(g)[None]
