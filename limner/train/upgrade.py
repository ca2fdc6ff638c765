"""Convert a checkpoint written before a part of the architecture existed, once and loudly.

    python -m limner.train.upgrade OLD.safetensors NEW.safetensors

Every limner model now reads the tokenizer's preview, writes and reads layouts with colours, ties colour
levels to hex digits and slots hex digits (config.RETIRED_FLAGS). A checkpoint written with one of those
switched off is refused at load, naming this command; `convert` rebuilds it in today's architecture, its new
parts at zero so that it draws as before until they are trained. The same loaders let `limner train` add the
parts that are still options (the text head, the layout object count) to a checkpoint it continues.

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

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file
from torch import nn

from limner.model.checkpoint import FORMAT, CheckpointError, component, load_into, save_checkpoint
from limner.model.config import RETIRED_FLAGS, ModelConfig

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


def retired_off(raw: dict[str, Any]) -> list[str]:
    """The retired flags a raw config (a checkpoint's JSON) has switched off, as 'part.flag'. A config that names
    none of them is today's; in one of an older release, which names some, a missing flag predates that part."""
    if not any(f in raw.get(part, {}) for part, flags in RETIRED_FLAGS.items() for f in flags):
        return []
    off = []
    for part, flags in RETIRED_FLAGS.items():
        sub = raw.get(part, {})
        for flag in flags:
            if sub.get(flag, False) is not True:
                off.append(f"{part}.{flag}")
    return off


def convert(src: str | Path, dst: str | Path, log: Callable[[str], None] = print) -> list[str]:
    """Rewrite the checkpoint `src` in today's architecture to `dst`; returns what was converted ('part.flag').

    Its new parts start at zero (logged), so it draws as before until trained; tensors keep their dtype and the
    metadata (text vocabulary, training notes) is kept. CheckpointError for what cannot be converted: a decoder
    from before the preview input (its first layer would need inputs it never learned), or a file that is not
    a limner checkpoint."""
    from limner.model.decoder import DiffusionDecoder
    from limner.model.image_tokenizer import ImageTokenizer
    from limner.model.native import prior_vocab
    from limner.model.prior import Prior
    from limner.model.text_tokenizer import TextTokenizer

    src, dst = Path(src), Path(dst)
    try:
        tensors = load_file(str(src))
        with safe_open(str(src), framework="pt") as f:
            md = dict(f.metadata() or {})
        raw = json.loads(md["config"])
    except (SafetensorError, OSError, ValueError, KeyError) as e:
        raise CheckpointError(f"checkpoint {str(src)!r} is not a readable limner checkpoint: {e}") from e
    if md.get("format") != FORMAT:
        raise CheckpointError(f"checkpoint {str(src)!r} has format {md.get('format')!r}, expected {FORMAT!r}")
    off = retired_off(raw)
    parts = json.loads(md.get("components", "[]"))
    if "decoder.preview_cond" in off and "decoder" in parts:
        raise CheckpointError(f"{str(src)!r}: its decoder predates the tokenizer preview input and cannot be "
                              "converted; train a decoder on its tokenizer (`limner train decoder --init ...`)")
    clean = {part: {k: v for k, v in sub.items() if k not in RETIRED_FLAGS.get(part, ())} if isinstance(sub, dict)
             else sub for part, sub in raw.items()}
    cfg = ModelConfig.from_dict(clean)
    modules: dict[str, nn.Module] = {}
    if "tokenizer" in parts:
        modules["tokenizer"] = ImageTokenizer(cfg.tokenizer)
        load_into(modules["tokenizer"], "tokenizer", tensors, src)
    if "decoder" in parts:
        tok_dim = ImageTokenizer(cfg.tokenizer).fsq.dim
        modules["decoder"] = DiffusionDecoder(cfg.decoder, tok_dim, cfg.tokenizer.output_stride)
        if any(o.startswith("decoder.layout") for o in off):
            load_decoder_adding_layout(modules["decoder"], tensors, src, log)
        else:
            load_into(modules["decoder"], "decoder", tensors, src)
    if "prior" in parts:
        vocab = md.get("text_vocab")
        text = TextTokenizer.from_json(vocab) if vocab else TextTokenizer.build_default()
        modules["prior"] = Prior(cfg.prior, *prior_vocab(cfg, text))
        load_prior_growing_vocab(modules["prior"], tensors, src, log)
        if "prior.hex_levels" in off:
            log("prior: colour levels now read and write through the hex digits' embedding rows (hex_levels); "
                "their own rows stay in the table, unused")
    dtype = next((t.dtype for t in tensors.values() if t.is_floating_point()), torch.float32)
    meta = {k: v for k, v in md.items() if k not in ("format", "config", "components")}
    save_checkpoint(dst, cfg, modules, meta=meta, dtype=dtype)
    log(f"wrote {dst}: converted {', '.join(off)}" if off else f"wrote {dst}: it was already current")
    return off


def main(argv: list[str] | None = None) -> int:
    """CLI: convert OLD to NEW; exit 2 with the reason when it cannot be converted."""
    ap = argparse.ArgumentParser(prog="python -m limner.train.upgrade",
                                 description="Rewrite a checkpoint of an older release in today's architecture "
                                 "(its new parts at zero, so it draws as before until they are trained).")
    ap.add_argument("src", type=Path, help="the old checkpoint (.safetensors)")
    ap.add_argument("dst", type=Path, help="where to write the converted checkpoint")
    a = ap.parse_args(argv)
    try:
        convert(a.src, a.dst)
    except CheckpointError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
