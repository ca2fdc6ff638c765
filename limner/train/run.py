"""Build a stage and its data from plain arguments, then train it (called by `limner train`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch

from limner.model.checkpoint import load_into, read_checkpoint
from limner.model.config import ModelConfig, get_config
from limner.model.decoder import DiffusionDecoder
from limner.model.image_tokenizer import ImageTokenizer
from limner.model.text_tokenizer import TextTokenizer
from limner.train.batches import SceneBatcher, Shard
from limner.train.stages import DecoderStage, PriorStage, TokenizerStage
from limner.train.trainer import TrainConfig, Trainer, leave_process_group
from limner.train.upgrade import load_decoder_adding_glyph_refine, load_prior_growing_vocab

STAGES = ("tokenizer", "decoder", "prior")


def parse_mix(spec: str) -> dict[str, float]:
    """`"single_object=1,colors=0.5"` -> {tag: weight}; ValueError naming an unknown tag or a bad weight."""
    from limner.data.sampler import SAMPLERS

    mix: dict[str, float] = {}
    for part in (p.strip() for p in spec.split(",") if p.strip()):
        tag, eq, w = part.partition("=")
        if tag not in SAMPLERS:
            raise ValueError(f"unknown tag {tag!r} in --mix: expected some of {sorted(SAMPLERS)}")
        try:
            weight = float(w) if eq else 1.0
        except ValueError:
            raise ValueError(f"bad weight {w!r} for {tag!r} in --mix: expected a number") from None
        if weight < 0:
            raise ValueError(f"weight of {tag!r} in --mix must be >= 0, got {weight}")
        mix[tag] = weight
    if not mix or not any(mix.values()):
        raise ValueError(f"--mix {spec!r} gives no tag a positive weight")
    return mix


def data_source(
    data: str | None, batch_size: int, exclude: frozenset[str], mix: dict[str, float] | None = None,
    recolour: float = 0.0, paraphrase: float = 0.0, coloured: float = 0.0,
) -> Callable[[Shard], Iterator[Any]]:
    """A stream of batches for a batches.Shard: procedural scenes by default (the `mix` of data-engine tags,
    default TRAIN_MIX, with `recolour` of the
    white scenes moved onto coloured backgrounds, `paraphrase` of the captions rewritten by data/paraphrase.py and
    `coloured` of the examples drawn from scenes whose caption names a coloured background);
    a folder or webdataset shards of captioned images with --data."""
    if data:
        from limner.train.real import RealImageBatcher

        return lambda shard: RealImageBatcher(data, batch_size, shard=shard)
    return lambda shard: SceneBatcher(
        batch_size, shard.seed, mix=mix, exclude=exclude, recolour=recolour, paraphrase=paraphrase, shard=shard,
        coloured=coloured,
    )


def build_tokenizer_stage(
    size: str, init: str | None, crop: int, frozen_tokenizer: bool = False, flow_weight: float = 1.0,
    log: Callable[[str], None] = print, glyph_refine: int = 0, prior_codes: float = 0.0, seed: int = 0,
    device: str = "cpu",
) -> tuple[ModelConfig, TokenizerStage]:
    """The tokenizer (or, with frozen_tokenizer, the decoder) stage: a named size, or continued from `init`
    (a checkpoint of an older release is refused by its config, naming train/upgrade.py). `glyph_refine`
    (decoder stage) gives the decoder its full-resolution text head of that width when `init` has none, and
    trains that head alone. `prior_codes` (decoder stage): the
    share of examples decoded from codes the frozen prior of `init` samples for them (train/prior_codes.py), on
    `device`."""
    cfg = read_checkpoint(init)[0] if init else get_config(size)
    if glyph_refine:
        if not frozen_tokenizer:
            raise ValueError("--glyph-refine is for the decoder stage")
        have = cfg.decoder.glyph_refine
        if have and have != glyph_refine:
            raise ValueError(f"{init!r} has a text head of width {have}, not {glyph_refine}")
        cfg = dataclasses.replace(cfg, decoder=dataclasses.replace(cfg.decoder, glyph_refine=glyph_refine))
    sampler = None
    if prior_codes:
        if not (frozen_tokenizer and init):
            raise ValueError("--prior-codes is for the decoder stage, continued from a whole model (--init)")
        from limner.model.native import NativeModel
        from limner.train.prior_codes import prior_code_sampler

        sampler = prior_code_sampler(NativeModel.from_checkpoint(init).to(device), seed=seed)
    stage = (DecoderStage(cfg, crop=crop, head_only=bool(glyph_refine), prior_codes=prior_codes, code_sampler=sampler)
             if frozen_tokenizer else TokenizerStage(cfg, crop, flow_weight))
    if init:
        _, tensors, _ = read_checkpoint(init)
        load_into(stage.tokenizer, "tokenizer", tensors, init)
        if glyph_refine:
            load_decoder_adding_glyph_refine(stage.decoder, tensors, init, log)
        else:
            load_into(stage.decoder, "decoder", tensors, init)
    return cfg, stage


def build_prior_stage(
    tokenizer_ckpt: str, init: str | None, seed: int, prior_size: str | None = None, novel_weight: float = 0.0,
    layout_weight: float = 1.0, log: Callable[[str], None] = print, first_weight: float = 0.0,
    layout_count: bool = False,
) -> tuple[ModelConfig, PriorStage]:
    """The prior stage on a trained tokenizer checkpoint, optionally continuing the prior in `init`;
    `layout_count` gives a continued prior's layout tokens their object count embedding (PriorConfig.layout_count;
    new, at zero)."""
    cfg, tensors, md = read_checkpoint(tokenizer_ckpt)
    continued = read_checkpoint(init) if init else None  # read once: config, weights and vocabulary
    if continued:  # continuing a prior: its architecture is the one in that checkpoint
        cfg = dataclasses.replace(cfg, prior=continued[0].prior)
        if layout_count and not cfg.prior.layout_count:
            cfg = dataclasses.replace(cfg, prior=dataclasses.replace(cfg.prior, layout_count=True))
            log(f"{init}: the layout's tokens now carry how many objects it has written (layout_count; new, at zero)")
    elif prior_size:  # the tokenizer's stored prior config is a default; a named size overrides it
        cfg = dataclasses.replace(cfg, name=prior_size, prior=get_config(prior_size).prior)
    tok = ImageTokenizer(cfg.tokenizer)
    dec = DiffusionDecoder(cfg.decoder, tok.fsq.dim, cfg.tokenizer.output_stride)
    load_into(tok, "tokenizer", tensors, tokenizer_ckpt)
    load_into(dec, "decoder", tensors, tokenizer_ckpt)
    # A continued prior keeps the vocabulary its embeddings were trained with.
    vocab = (continued[2].get("text_vocab") if continued else None) or md.get("text_vocab")
    text = TextTokenizer.from_json(vocab) if vocab else TextTokenizer.build_default()
    stage = PriorStage(cfg, tok, dec, text, seed=seed, novel_weight=novel_weight, layout_weight=layout_weight,
                       first_weight=first_weight)
    if continued and init:
        if layout_count:
            load_prior_growing_vocab(stage.prior, continued[1], init, log)
        else:
            load_into(stage.prior, "prior", continued[1], init)
    return cfg, stage


def train(
    stage_name: str,
    tcfg: TrainConfig,
    *,
    size: str | None = None,
    init: str | None = None,
    tokenizer_ckpt: str | None = None,
    crop: int = 128,
    flow_weight: float = 1.0,
    data: str | None = None,
    novel_weight: float = 0.0,
    mix: dict[str, float] | None = None,
    layout_weight: float = 1.0,
    first_weight: float = 0.0,
    recolour: float = 0.0,
    paraphrase: float = 0.0,
    coloured: float = 0.0,
    layout_count: bool = False,
    glyph_refine: int = 0,
    prior_codes: float = 0.0,
    heldout: frozenset[str] = frozenset(),
    log: Callable[[str], None] = print,
    on_finish: Callable[[Path], None] | None = None,
) -> dict[str, float]:
    """Train one stage (tokenizer, decoder or prior) with `tcfg`; returns the final logs.

    `heldout`: exact prompts that no training caption may be (the entry point passes the eval sets', so
    this package needs no evals). `on_finish(log_path)`: run after the final save (`limner train` draws
    the loss chart there)."""
    if tcfg.threads:
        torch.set_num_threads(tcfg.threads)
    torch.manual_seed(tcfg.seed)
    stage: TokenizerStage | PriorStage
    if glyph_refine and stage_name != "decoder":
        raise ValueError(f"--glyph-refine is for the decoder stage, not {stage_name!r}")
    if stage_name == "tokenizer":
        cfg, stage = build_tokenizer_stage(size or "small", init, crop, flow_weight=flow_weight, log=log)
        exclude: frozenset[str] = frozenset()
    elif stage_name == "decoder":
        if not init:
            raise ValueError("the decoder stage needs --init CHECKPOINT (a trained tokenizer stage)")
        cfg, stage = build_tokenizer_stage(size or "small", init, crop, frozen_tokenizer=True, log=log,
                                           glyph_refine=glyph_refine, prior_codes=prior_codes, seed=tcfg.seed,
                                           device=tcfg.device)
        exclude = heldout if prior_codes else frozenset()  # the prior reads these captions
    elif stage_name == "prior":
        if not tokenizer_ckpt:
            raise ValueError("the prior stage needs --tokenizer CHECKPOINT (a trained tokenizer stage)")
        cfg, stage = build_prior_stage(tokenizer_ckpt, init, tcfg.seed, prior_size=size, novel_weight=novel_weight,
                                       layout_weight=layout_weight, log=log, first_weight=first_weight,
                                       layout_count=layout_count)
        exclude = heldout
    else:
        raise ValueError(f"unknown stage {stage_name!r}: expected one of {STAGES}")
    Path(tcfg.out_dir).mkdir(parents=True, exist_ok=True)
    n = sum(p.numel() for p in stage.parameters() if p.requires_grad)
    log(f"stage {stage_name}: {n / 1e6:.2f}M trainable parameters, config {cfg.name}")
    source = data_source(data, tcfg.batch_size, exclude, mix, recolour, paraphrase, coloured)
    trainer = Trainer(tcfg, cfg, stage, source, log=log, on_finish=on_finish)
    last = trainer.run()
    leave_process_group()  # only on success: a failed rank is ended by torchrun, and a barrier would hang
    return last
