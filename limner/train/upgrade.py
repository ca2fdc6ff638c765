"""Continue a checkpoint written before a part of the architecture existed, loudly.

Loading stays strict everywhere else. Here exactly these differences are allowed, and each is logged:
- the decoder's layout input (`layout_mlp.*`, `layout_tpl*`, `layout_out.*`), or a part of it, is new: it
  starts fresh, its output layers at zero, so the continued decoder draws exactly as before until it
  learns to read layouts; or it reads more map channels than before (the object colours of
  `layout_colour`): the first layer's old input columns are kept and the new ones start at zero;
- the prior's vocabulary grows by the layout ids at its end: the old embedding rows (text and image
  codes keep their ids) are copied and the new rows start at the usual small random init; its
  planned-object embeddings (`obj_slot`, `obj_cls`), its hex-digit slot embedding (`hex_slot`,
  PriorConfig.hex_slots) or its layout object count embedding (`lay_count`, PriorConfig.layout_count) are new
  and start at zero;
- the decoder's full-resolution text head (`glyph_refine.*`, model/glyph_refine.py) is new: it starts fresh
  with its output at zero, so the decoder draws exactly as before until it is trained.
Anything else that differs is still a CheckpointError naming the file and the keys.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from limner.model.checkpoint import CheckpointError, component, load_into

NEW_DECODER_PARTS = ("layout_mlp.", "layout_out.", "layout_tpl")
NEW_PRIOR_PARTS = ("obj_slot.", "obj_cls.", "hex_slot.", "lay_count.")
GLYPH_REFINE = "glyph_refine."


def load_decoder_adding_glyph_refine(
    decoder: nn.Module, tensors: dict[str, torch.Tensor], path: str | Path, log: Callable[[str], None] = print
) -> None:
    """Load a decoder checkpoint into a decoder with the text head; the head may be missing (it starts fresh,
    its output at zero), everything else must match."""
    sub = component(tensors, "decoder")
    own = decoder.state_dict()
    if not any(k.startswith(GLYPH_REFINE) for k in own):
        raise CheckpointError(f"decoder has no text head to add; load {str(path)!r} with load_into")
    new = sorted(k for k in own if k.startswith(GLYPH_REFINE) and k not in sub)
    load_into(decoder, "decoder", {**tensors, **{f"decoder.{k}": own[k] for k in new}}, path)
    if new:
        log(f"decoder: {str(path)!r} lacks the text head ({len(new)} tensors); added it fresh, its output at zero")


def load_decoder_adding_layout(
    decoder: nn.Module, tensors: dict[str, torch.Tensor], path: str | Path, log: Callable[[str], None] = print
) -> None:
    """Load a decoder checkpoint that lacks the layout input into a layout decoder; the rest must match."""
    sub = component(tensors, "decoder")
    own = decoder.state_dict()
    if not any(k.startswith(NEW_DECODER_PARTS) for k in own):
        raise CheckpointError(f"decoder has no layout input to add; load {str(path)!r} with load_into")
    new = sorted(k for k in own if k.startswith(NEW_DECODER_PARTS) and k not in sub)
    stub = {f"decoder.{k}": own[k] for k in new}  # the fresh init stands in for the missing tensors
    widened = []
    for k, old in sub.items():  # the layout map's first layer, grown by input channels only
        mine = own.get(k)
        if (k.startswith(NEW_DECODER_PARTS) and mine is not None and old.shape != mine.shape and old.dim() >= 2
                and old.shape[0] == mine.shape[0] and old.shape[2:] == mine.shape[2:] and old.shape[1] < mine.shape[1]):
            grown = torch.zeros_like(mine)
            grown[:, : old.shape[1]] = old.to(grown.dtype)
            stub[f"decoder.{k}"] = grown
            widened.append(f"{k} {tuple(old.shape)} -> {tuple(mine.shape)}")
    load_into(decoder, "decoder", {**tensors, **stub}, path)
    if new:
        log(f"decoder: {str(path)!r} lacks {len(new)} layout-input tensors ({', '.join(new)}); added them fresh, "
            "their output at zero")
    if widened:
        log(f"decoder: layout input widened ({'; '.join(widened)}); the new input channels start at zero")


def load_prior_growing_vocab(
    prior: nn.Module, tensors: dict[str, torch.Tensor], path: str | Path, log: Callable[[str], None] = print
) -> None:
    """Load a prior whose vocabulary is a prefix of this prior's (tok_emb rows 0..V_old-1) and that may lack the
    new embeddings of NEW_PRIOR_PARTS (they stay at zero); the rest must match."""
    sub = component(tensors, "prior")
    old = sub.get("tok_emb.weight")
    emb = prior.state_dict()["tok_emb.weight"]
    if old is None or old.shape[1] != emb.shape[1] or old.shape[0] > emb.shape[0]:
        shape = None if old is None else tuple(old.shape)
        raise CheckpointError(f"checkpoint {str(path)!r}: prior.tok_emb.weight {shape} cannot grow to "
                              f"{tuple(emb.shape)}")
    grown = emb.clone()
    grown[: old.shape[0]] = old.to(grown.dtype)
    own = prior.state_dict()
    new = sorted(k for k in own if k.startswith(NEW_PRIOR_PARTS) and k not in sub)
    stub = {f"prior.{k}": own[k] for k in new}  # their fresh (zero) init stands in for the missing tensors
    load_into(prior, "prior", {**tensors, **stub, "prior.tok_emb.weight": grown}, path)
    if old.shape[0] < emb.shape[0]:
        log(f"prior: vocabulary grown {old.shape[0]} -> {emb.shape[0]} (new rows start fresh)")
    if new:
        log(f"prior: added the embeddings {new} (at zero)")
