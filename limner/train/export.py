"""Assemble a shippable checkpoint: the prior stage's complete model, optionally with a decoder
refined by the decoder stage, stored in half precision (the shipped file stays small)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from limner.model.checkpoint import CheckpointError, load_into, read_checkpoint
from limner.model.native import NativeModel


def export(
    prior_ckpt: str | Path,
    out: str | Path,
    decoder_ckpt: str | Path | None = None,
    half: bool = True,
    meta: dict[str, str] | None = None,
    max_bytes: int = 0,
) -> Path:
    """Write the prior checkpoint's model (with the decoder from `decoder_ckpt`, if given) to `out` (in parts of
    at most `max_bytes` when larger; 0 = one file)."""
    model = NativeModel.from_checkpoint(prior_ckpt)
    if decoder_ckpt is not None:
        cfg, tensors, _ = read_checkpoint(decoder_ckpt)
        if cfg.tokenizer != model.config.tokenizer:
            raise CheckpointError(
                f"decoder checkpoint {str(decoder_ckpt)!r} has a different tokenizer config than {str(prior_ckpt)!r}"
            )
        if cfg.decoder != model.config.decoder:  # a refined decoder may add parts (e.g. the text head)
            rebuilt = NativeModel.build(dataclasses.replace(model.config, decoder=cfg.decoder), model.text)
            rebuilt.tokenizer.load_state_dict(model.tokenizer.state_dict())
            rebuilt.prior.load_state_dict(model.prior.state_dict())
            model = rebuilt
        # The decoder must belong to the same frozen tokenizer the prior was trained on.
        own = model.tokenizer.state_dict()
        for k, v in tensors.items():
            if k.startswith("tokenizer.encoder.") and not torch.equal(own[k[len("tokenizer.") :]], v.to(torch.float32)):
                raise CheckpointError(f"decoder checkpoint {str(decoder_ckpt)!r} was trained on a different tokenizer")
        load_into(model.decoder, "decoder", tensors, decoder_ckpt)
    _, _, md = read_checkpoint(prior_ckpt)
    keep: dict[str, str] = {k: md[k] for k in ("step", "train") if k in md}
    model.save(out, {**keep, **(meta or {})}, dtype=torch.float16 if half else torch.float32, max_bytes=max_bytes)
    return Path(out)
