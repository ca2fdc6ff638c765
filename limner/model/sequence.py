"""Interleaved sequences: how text and images share one token stream.

One turn is   <bos> text... <size:WxH> <img> code code ... code </img>
or, for a prior with layout tokens (model/layout.py),
              <bos> text... <size:WxH> <img> cls x y r ... <lay_end> code ... code </img>
and a conversation concatenates segments: text, image, text, image, ... (earlier turns' images
and uploaded images sit in the context as image segments). Image codes are offset by the text
vocabulary size. `grid_pos` gives each image token its (row+1, col+1); text tokens get (0, 0).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch

from limner.model.layout import Layout, cell_objects, encode_layout
from limner.model.text_tokenizer import TextTokenizer


@dataclass
class TokenBatch:
    """A right-padded batch of training sequences with their grid positions and masks."""

    tokens: torch.Tensor  # (B, T) long
    grid_pos: torch.Tensor  # (B, T, 2) long
    loss_mask: torch.Tensor  # (B, T) bool: token is a prediction target
    is_image: torch.Tensor  # (B, T) bool: token is an image code or </img>
    is_layout: torch.Tensor | None = None  # (B, T) bool: token is a layout token (incl. <lay_end>)
    obj_pos: torch.Tensor | None = None  # (B, T, 2) long: layout.cell_objects of the code after each token

    def to(self, device: torch.device | str) -> TokenBatch:
        """The batch with every tensor on `device`."""
        def move(t: torch.Tensor | None) -> torch.Tensor | None:
            return None if t is None else t.to(device, non_blocking=True)

        return TokenBatch(self.tokens.to(device, non_blocking=True), self.grid_pos.to(device, non_blocking=True),
                          self.loss_mask.to(device, non_blocking=True), self.is_image.to(device, non_blocking=True),
                          move(self.is_layout), move(self.obj_pos))


def size_token(text: TextTokenizer, size: tuple[int, int]) -> int:
    """Id of the <size:WxH> token for `size` (W, H); ValueError when the vocabulary has none."""
    name = f"<size:{size[0]}x{size[1]}>"
    if name not in text.stoi:
        raise ValueError(f"unsupported size {size[0]}x{size[1]}")
    return text.stoi[name]


def prompt_prefix(
    text: TextTokenizer,
    prompt: str,
    size: tuple[int, int],
    max_text: int,
    drop_text: bool = False,
    unk_prob: float = 0.0,
    rng: random.Random | None = None,
) -> list[int]:
    """[<bos>, text..., <size>, <img>]; with drop_text the unconditional prefix used for CFG."""
    ids = [] if drop_text else text.encode(prompt, unk_prob, rng)[:max_text]
    return [text.id("<bos>"), *ids, size_token(text, size), text.id("<img>")]


def image_grid_pos(h: int, w: int) -> torch.Tensor:
    """(h*w, 2) of (row+1, col+1) in raster order."""
    r = torch.arange(h).repeat_interleave(w) + 1
    c = torch.arange(w).repeat(h) + 1
    return torch.stack([r, c], dim=1)


def build_training_sequences(
    text: TextTokenizer,
    prompts: list[str],
    codes: torch.Tensor,
    size: tuple[int, int],
    drop: list[bool],
    max_text: int,
    unk_prob: float = 0.03,
    rng: random.Random | None = None,
    layouts: list[Layout | None] | None = None,
    layout_offset: int | None = None,
    layout_colour: bool = False,
) -> TokenBatch:
    """Right-padded batch of single-turn sequences; codes (B, h, w) image indices.

    With `layout_offset` (the prior's first layout id) every image starts with its layout tokens from
    `layouts` (with their colour tokens when `layout_colour`); a None layout (unknown objects) is the empty
    layout, <lay_end> alone."""
    b, h, w = codes.shape
    rng = rng or random.Random(0)
    offset = text.vocab_size
    img_end = text.id("</img>")
    pad = text.id("<pad>")
    prefixes = [prompt_prefix(text, p, size, max_text, d, unk_prob, rng) for p, d in zip(prompts, drop, strict=True)]
    lays: list[list[int]] = [[] for _ in prompts]
    given: list[Layout | None] = [None] * b
    if layout_offset is not None:
        given = list(layouts) if layouts else given
        lays = [[t + layout_offset for t in encode_layout(lay or [], layout_colour)] for lay in given]
    n_img = h * w + 1
    t_max = max(len(p) + len(lay) for p, lay in zip(prefixes, lays, strict=True)) + n_img
    tokens = torch.full((b, t_max), pad, dtype=torch.long)
    grid = torch.zeros((b, t_max, 2), dtype=torch.long)
    loss_mask = torch.zeros((b, t_max), dtype=torch.bool)
    is_image = torch.zeros((b, t_max), dtype=torch.bool)
    is_layout = torch.zeros((b, t_max), dtype=torch.bool)
    obj_pos = torch.zeros((b, t_max, 2), dtype=torch.long)
    gp = image_grid_pos(h, w)
    for i, (pre, lay) in enumerate(zip(prefixes, lays, strict=True)):
        n = len(pre)
        tokens[i, :n] = torch.tensor(pre)
        if lay:
            tokens[i, n : n + len(lay)] = torch.tensor(lay)
            is_layout[i, n : n + len(lay)] = True
            n += len(lay)
            # each code's object goes on the token before it (<lay_end> for the first), which predicts it
            obj_pos[i, n - 1 : n - 1 + h * w] = cell_objects(given[i], h, w)
        tokens[i, n : n + h * w] = codes[i].flatten() + offset
        tokens[i, n + h * w] = img_end
        grid[i, n : n + h * w] = gp
        loss_mask[i, 1 : n + n_img] = True
        is_image[i, n : n + n_img] = True
    return TokenBatch(tokens, grid, loss_mask, is_image, is_layout, obj_pos if layout_offset is not None else None)
