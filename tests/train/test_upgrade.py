"""Converting checkpoints of older releases once (train/upgrade.py), and continuing one without the text head:
only the new parts may differ, and they start neutral."""

import dataclasses
import json
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from limner.model.checkpoint import CheckpointError, read_checkpoint, save_checkpoint
from limner.model.config import get_config
from limner.model.decoder import DiffusionDecoder
from limner.model.layout import LAYOUT_VOCAB, LayoutItem, layout_map
from limner.model.native import NativeModel, prior_vocab
from limner.model.prior import Prior
from limner.train.upgrade import convert, load_decoder_adding_layout, load_prior_growing_vocab, main


def _old_checkpoint(path: Path, cfg_patch: dict[str, dict[str, bool]], drop: tuple[str, ...] = (),
                    narrow: dict[str, int] | None = None, seed: int = 0) -> NativeModel:
    """A checkpoint as an older release wrote it: today's tiny model with the parts of `drop` (key prefixes)
    missing, the tensors of `narrow` cut to their first input channels, and `cfg_patch` (RETIRED_FLAGS values)
    in its config. Returns today's model it was cut from, whose new parts are zero as a converter adds them."""
    torch.manual_seed(seed)
    m = NativeModel.build(get_config("tiny"))
    save_checkpoint(path, m.config, {"tokenizer": m.tokenizer, "decoder": m.decoder, "prior": m.prior},
                    meta={"text_vocab": m.text.to_json()})
    tensors = {k: v for k, v in load_file(str(path)).items() if not k.startswith(drop)}
    for k, cols in (narrow or {}).items():
        tensors[k] = tensors[k][:, :cols].contiguous()
    with safe_open(str(path), framework="pt") as f:
        md = dict(f.metadata() or {})
    raw = json.loads(md["config"])
    for part, flags in cfg_patch.items():
        raw[part].update(flags)
    md["config"] = json.dumps(raw)
    save_file(tensors, str(path), metadata=md)
    return m


def _draw(m: NativeModel, layout: list[LayoutItem] | None) -> torch.Tensor:
    codes, glyph = torch.randn(1, m.tokenizer.fsq.dim, 4, 4, generator=torch.Generator().manual_seed(2)), \
        torch.zeros(1, 1, 64, 64)
    lmap = layout_map([layout], (64, 64)) if layout is not None else None
    return m.decoder.sample(codes, glyph, generator=torch.Generator().manual_seed(1),
                            preview=torch.zeros(1, 4, 32, 32), layout=lmap)


def test_an_old_checkpoint_is_refused_by_name_and_converted_once(tmp_path: Path) -> None:
    """A checkpoint from before layouts: loading names the converter; `convert` adds the layout input, the
    layout ids and the object embeddings at zero, so the converted model draws and scores as before."""
    old = tmp_path / "old.safetensors"
    flags = {"decoder": {"preview_cond": True, "layout_cond": False, "layout_colour": False},
             "prior": {"layout": False, "layout_colour": False, "hex_levels": False, "hex_slots": False}}
    m = _old_checkpoint(old, flags, drop=("decoder.layout_", "prior.obj_", "prior.hex_slot"))
    with pytest.raises(CheckpointError, match=r"built without 'layout_cond'.*python -m limner.train.upgrade"):
        NativeModel.from_checkpoint(old)
    logs: list[str] = []
    done = convert(old, tmp_path / "new.safetensors", logs.append)
    assert "decoder.layout_cond" in done and "prior.layout" in done and "prior.hex_slots" in done
    assert any("added them fresh" in x for x in logs) and any("added the embeddings" in x for x in logs)
    new = NativeModel.from_checkpoint(tmp_path / "new.safetensors")
    star = [LayoutItem.quantize("star", 0.5, 0.5, 0.3)]
    assert torch.allclose(_draw(m, None), _draw(new, star))  # the new layout input starts at zero
    ids = torch.tensor([m.text.encode("a red star")])
    grid = torch.zeros(*ids.shape, 2, dtype=torch.long)
    with torch.no_grad():
        assert torch.allclose(m.prior(ids, grid), new.prior(ids, grid))
    assert convert(tmp_path / "new.safetensors", tmp_path / "again.safetensors", logs.append) == []


def test_a_layout_decoder_from_before_colours_is_widened_at_zero(tmp_path: Path) -> None:
    """A layout decoder written before object colours: its map layer grows by the colour channels at zero, so it
    draws exactly as before whatever colours the map carries."""
    old = tmp_path / "old.safetensors"
    flags = {"decoder": {"preview_cond": True, "layout_cond": True, "layout_colour": False},
             "prior": {"layout": True, "layout_colour": True, "hex_levels": True, "hex_slots": True}}
    m = _old_checkpoint(old, flags, narrow={"decoder.layout_mlp.0.weight": 19})
    with torch.no_grad():
        m.decoder.layout_out.weight.normal_(std=0.1)  # a trained layout input: it changes the picture
        m.decoder.layout_mlp[0].weight[:, 19:] = 0  # what the old decoder could not read
    save_file({**load_file(str(old)), "decoder.layout_out.weight": m.decoder.layout_out.weight.detach().clone()},
              str(old), metadata=dict(safe_open(str(old), framework="pt").metadata()))
    logs: list[str] = []
    convert(old, tmp_path / "new.safetensors", logs.append)
    assert any("widened" in x and "(32, 19, 1, 1) -> (32, 23, 1, 1)" in x for x in logs)
    new = NativeModel.from_checkpoint(tmp_path / "new.safetensors")
    star = [LayoutItem.quantize("star", 0.5, 0.5, 0.3, rgb=(10, 200, 30))]
    assert torch.allclose(_draw(m, star), _draw(new, star), atol=1e-6)


def test_what_cannot_be_converted_is_refused(tmp_path: Path) -> None:
    old = tmp_path / "old.safetensors"
    _old_checkpoint(old, {"decoder": {"preview_cond": False}})
    with pytest.raises(CheckpointError, match="predates the tokenizer preview input"):
        convert(old, tmp_path / "new.safetensors")
    assert main([str(old), str(tmp_path / "new.safetensors")]) == 2 and not (tmp_path / "new.safetensors").exists()
    (tmp_path / "junk.safetensors").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable limner checkpoint"):
        convert(tmp_path / "junk.safetensors", tmp_path / "x.safetensors")


def test_mismatched_decoder_still_fails_loudly(tmp_path: Path) -> None:
    cfg = get_config("tiny")
    wide = dataclasses.replace(cfg.decoder, width=24)
    save_checkpoint(tmp_path / "d.safetensors", cfg, {"decoder": DiffusionDecoder(wide, 3, 16)})
    new = DiffusionDecoder(cfg.decoder, 3, 16)
    with pytest.raises(CheckpointError, match="has shape"):
        load_decoder_adding_layout(new, read_checkpoint(tmp_path / "d.safetensors")[1], tmp_path / "d.safetensors")


def test_grown_prior_keeps_old_rows(tmp_path: Path) -> None:
    m = NativeModel.build(get_config("tiny"))
    save_checkpoint(tmp_path / "p.safetensors", m.config, {"prior": m.prior})
    tensors = read_checkpoint(tmp_path / "p.safetensors")[1]
    v = m.prior.vocab_size
    small = {**tensors, "prior.tok_emb.weight": tensors["prior.tok_emb.weight"][: v - LAYOUT_VOCAB]}
    new = Prior(m.config.prior, *prior_vocab(m.config, m.text))
    logs: list[str] = []
    load_prior_growing_vocab(new, small, tmp_path / "p.safetensors", logs.append)
    assert torch.equal(new.tok_emb.weight[: v - LAYOUT_VOCAB], m.prior.tok_emb.weight[: v - LAYOUT_VOCAB])
    assert f"{v - LAYOUT_VOCAB} -> {v}" in logs[0]
    assert torch.equal(new.blocks[0].attn.qkv.weight, m.prior.blocks[0].attn.qkv.weight)
    big = {**tensors, "prior.tok_emb.weight": torch.zeros(v + 5, m.config.prior.d_model)}
    with pytest.raises(CheckpointError, match="cannot grow"):
        load_prior_growing_vocab(new, big, tmp_path / "p.safetensors")


def test_added_text_head_is_logged_neutral_and_alone_trained(tmp_path: Path) -> None:
    """`train decoder --glyph-refine W` on a checkpoint without the head: it is added at zero (logged), it is
    the only part that trains, and a text-free image decodes as before."""
    from limner.model.image_tokenizer import ImageTokenizer
    from limner.train.batches import SceneBatcher
    from limner.train.run import build_tokenizer_stage

    cfg = get_config("tiny")
    torch.manual_seed(0)
    old = DiffusionDecoder(cfg.decoder, 3, 16)
    save_checkpoint(tmp_path / "d.safetensors", cfg, {"tokenizer": ImageTokenizer(cfg.tokenizer), "decoder": old})
    logs: list[str] = []
    new_cfg, stage = build_tokenizer_stage("tiny", str(tmp_path / "d.safetensors"), 64, frozen_tokenizer=True,
                                           glyph_refine=8, log=logs.append)
    assert new_cfg.decoder.glyph_refine == 8 and "lacks the text head" in logs[0]
    trainable = {n for n, p in stage.named_parameters() if p.requires_grad}
    assert trainable and all(n.startswith("decoder.glyph_refine.") for n in trainable)
    codes, glyph, pv = torch.randn(1, 3, 4, 4), torch.zeros(1, 1, 64, 64), torch.zeros(1, 4, 32, 32)
    a = old.sample(codes, glyph, generator=torch.Generator().manual_seed(1), preview=pv)
    b = stage.decoder.sample(codes, glyph, generator=torch.Generator().manual_seed(1), preview=pv)
    assert torch.equal(a, b)
    batch = next(SceneBatcher(2, 0, mix={"text": 1.0}, sizes={(256, 256): 1.0}))
    loss, _ = stage(batch)
    loss.backward()
    grad = stage.decoder.glyph_refine.out.weight.grad  # type: ignore[union-attr]
    assert grad is not None and grad.abs().sum() > 0  # zero-initialised, learning from the first step


def test_text_head_is_only_for_the_decoder_stage(tmp_path: Path) -> None:
    from limner.train.run import build_tokenizer_stage

    with pytest.raises(ValueError, match="decoder stage"):
        build_tokenizer_stage("tiny", None, 64, glyph_refine=8)
