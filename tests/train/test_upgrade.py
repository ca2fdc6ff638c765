"""Continuing checkpoints written before layouts or the text head: only those parts may be new, starting neutral."""

import dataclasses
from pathlib import Path

import pytest
import torch

from limner.model.checkpoint import CheckpointError, read_checkpoint, save_checkpoint
from limner.model.config import get_config
from limner.model.decoder import DiffusionDecoder
from limner.model.layout import LAYOUT_VOCAB, LayoutItem, layout_map
from limner.model.prior import Prior
from limner.train.upgrade import load_decoder_adding_layout, load_prior_growing_vocab


def _old_config():  # type: ignore[no-untyped-def]
    cfg = get_config("tiny")
    return dataclasses.replace(cfg, decoder=dataclasses.replace(cfg.decoder, layout_cond=False),
                               prior=dataclasses.replace(cfg.prior, layout=False))


def test_added_layout_input_leaves_the_decoder_unchanged(tmp_path: Path) -> None:
    old_cfg, new_cfg = _old_config(), get_config("tiny")
    torch.manual_seed(0)
    old = DiffusionDecoder(old_cfg.decoder, 3, 16)
    save_checkpoint(tmp_path / "d.safetensors", old_cfg, {"decoder": old})
    new = DiffusionDecoder(new_cfg.decoder, 3, 16)
    logs: list[str] = []
    load_decoder_adding_layout(new, read_checkpoint(tmp_path / "d.safetensors")[1], tmp_path / "d.safetensors",
                               logs.append)
    assert "added them fresh" in logs[0]
    codes, glyph = torch.randn(1, 3, 4, 4), torch.zeros(1, 1, 64, 64)
    lmap = layout_map([[LayoutItem.quantize("star", 0.5, 0.5, 0.3)]], (64, 64))
    g = torch.Generator().manual_seed(1)
    a = old.sample(codes, glyph, generator=g, preview=torch.zeros(1, 4, 32, 32))
    g = torch.Generator().manual_seed(1)
    b = new.sample(codes, glyph, generator=g, preview=torch.zeros(1, 4, 32, 32), layout=lmap)
    assert torch.allclose(a, b)


def test_mismatched_decoder_still_fails_loudly(tmp_path: Path) -> None:
    cfg = _old_config()
    wide = dataclasses.replace(cfg.decoder, width=24)
    save_checkpoint(tmp_path / "d.safetensors", cfg, {"decoder": DiffusionDecoder(wide, 3, 16)})
    new = DiffusionDecoder(get_config("tiny").decoder, 3, 16)
    with pytest.raises(CheckpointError, match="has shape"):
        load_decoder_adding_layout(new, read_checkpoint(tmp_path / "d.safetensors")[1], tmp_path / "d.safetensors")


def test_grown_prior_keeps_old_rows(tmp_path: Path) -> None:
    # its rows and hex ids need a text vocabulary
    cfg = dataclasses.replace(get_config("tiny").prior, hex_levels=False, hex_slots=False, layout_count=False)
    old = Prior(dataclasses.replace(cfg, layout=False), 100)
    save_checkpoint(tmp_path / "p.safetensors", _old_config(), {"prior": old})
    new = Prior(cfg, 100 + LAYOUT_VOCAB)
    logs: list[str] = []
    load_prior_growing_vocab(new, read_checkpoint(tmp_path / "p.safetensors")[1], tmp_path / "p.safetensors",
                             logs.append)
    assert torch.equal(new.tok_emb.weight[:100], old.tok_emb.weight) and "100 -> 197" in logs[0]
    assert torch.equal(new.blocks[0].attn.qkv.weight, old.blocks[0].attn.qkv.weight)
    with pytest.raises(CheckpointError, match="cannot grow"):
        load_prior_growing_vocab(Prior(cfg, 50), read_checkpoint(tmp_path / "p.safetensors")[1],
                                 tmp_path / "p.safetensors")


def test_widened_colour_input_keeps_a_layout_decoder_unchanged(tmp_path: Path) -> None:
    """A layout decoder written before object colours: its map layer grows by the colour channels at zero, so
    it draws exactly as before whatever colours the map carries."""
    cfg = get_config("tiny")
    no_colour = dataclasses.replace(cfg, decoder=dataclasses.replace(cfg.decoder, layout_colour=False))
    torch.manual_seed(0)
    old = DiffusionDecoder(no_colour.decoder, 3, 16)
    with torch.no_grad():
        old.layout_out.weight.normal_(std=0.1)  # a trained layout input: it changes the picture
    save_checkpoint(tmp_path / "d.safetensors", no_colour, {"decoder": old})
    new = DiffusionDecoder(cfg.decoder, 3, 16)
    logs: list[str] = []
    load_decoder_adding_layout(new, read_checkpoint(tmp_path / "d.safetensors")[1], tmp_path / "d.safetensors",
                               logs.append)
    assert any("widened" in x and "(32, 19, 1, 1) -> (32, 23, 1, 1)" in x for x in logs)
    codes, glyph = torch.randn(1, 3, 4, 4), torch.zeros(1, 1, 64, 64)
    lmap = layout_map([[LayoutItem.quantize("star", 0.5, 0.5, 0.3, rgb=(10, 200, 30))]], (64, 64))
    pv = torch.zeros(1, 4, 32, 32)
    a = old.sample(codes, glyph, generator=torch.Generator().manual_seed(1), preview=pv, layout=lmap)
    b = new.sample(codes, glyph, generator=torch.Generator().manual_seed(1), preview=pv, layout=lmap)
    assert torch.allclose(a, b, atol=1e-6)


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
