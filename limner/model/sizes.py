"""What a named size costs: parameters, training FLOPs per image and memory (`limner train --list-sizes`).

Parameters are counted exactly, on modules built on torch's `meta` device (no memory is allocated, so the ~1B
sizes cost nothing to count). FLOPs follow the usual dense-transformer accounting (Kaplan et al. 2020): a
training step costs 6 FLOPs per parameter per token (forward 2, backward 4) for the weight matrices the token
passes through, which for limner's prior are its blocks and its tied output layer (the input embedding is a
lookup), plus the attention scores, 6 x layers x context x d_model per token. Training memory counts fp32 weights,
gradients and AdamW's two moments (16 bytes a parameter), not activations, which depend on the batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from limner.model.config import MODEL_SIZES, ModelConfig, get_config
from limner.model.decoder import DiffusionDecoder
from limner.model.image_tokenizer import ImageTokenizer
from limner.model.layout import max_layout_tokens
from limner.model.native import prior_vocab
from limner.model.prior import Prior
from limner.model.text_tokenizer import TextTokenizer

# The tokens of one 256 x 256 training image: a typical caption, the size and <img> tokens, a four-object layout
# with colours and its end, the 16 x 16 codes and </img>.
CAPTION_TOKENS = 24
LAYOUT_TOKENS = 4 * 7 + 1
TOKENS_PER_IMAGE = 1 + CAPTION_TOKENS + 2 + LAYOUT_TOKENS + 256 + 1
BYTES_PER_TRAINED_PARAM = 16  # fp32 weight, gradient, AdamW exp_avg and exp_avg_sq


@dataclass(frozen=True)
class SizeCost:
    """One size's parameter counts and costs."""

    name: str
    prior_shape: str  # d_model x layers (heads)
    prior_params: int  # all of the prior's parameters
    prior_body_params: int  # the blocks and final norm: what every token's matmuls pass through, besides the output
    tokenizer_params: int
    decoder_params: int
    train_gflop_per_image: float  # the prior's training FLOPs for one 256 x 256 image (TOKENS_PER_IMAGE tokens)
    train_memory_gb: float  # all three networks trained with AdamW in fp32 (the prior dominates)
    weights_fp16_mb: float  # the shipped checkpoint's size at this size


def _count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def prior_train_flops_per_token(cfg: ModelConfig, vocab: int, body: int, context: int) -> float:
    """Training FLOPs per token of the prior: 6 x (body + output layer) + the attention scores over `context`."""
    d = cfg.prior.d_model
    return 6.0 * (body + vocab * d) + 6.0 * cfg.prior.n_layers * context * d


def size_cost(cfg: ModelConfig, text: TextTokenizer | None = None) -> SizeCost:
    """The costs of `cfg` with the default text vocabulary (or `text`)."""
    text = text or TextTokenizer.build_default()
    vocab, rows, hex_ids, img_id = prior_vocab(cfg, text)
    with torch.device("meta"):  # shapes only: counting a 1B-parameter prior allocates nothing
        prior = Prior(cfg.prior, vocab, rows, hex_ids, img_id)  # its index buffers stay small CPU tensors
        tok = ImageTokenizer(cfg.tokenizer)
        dec = DiffusionDecoder(cfg.decoder, tok.fsq.dim, cfg.tokenizer.output_stride)
    p_all, t_all, d_all = _count(prior), _count(tok), _count(dec)
    body = _count(prior.blocks) + _count(prior.ln_f)
    ctx = TOKENS_PER_IMAGE // 2  # a token attends to half the sequence on average
    flops = prior_train_flops_per_token(cfg, vocab, body, ctx) * TOKENS_PER_IMAGE
    p = cfg.prior
    return SizeCost(
        name=cfg.name, prior_shape=f"{p.d_model} x {p.n_layers} ({p.n_heads} heads)", prior_params=p_all,
        prior_body_params=body, tokenizer_params=t_all, decoder_params=d_all, train_gflop_per_image=flops / 1e9,
        train_memory_gb=(p_all + t_all + d_all) * BYTES_PER_TRAINED_PARAM / 1e9,
        weights_fp16_mb=(p_all + t_all + d_all) * 2 / 1e6,
    )


def sizes_table() -> str:
    """Every registered size's costs as an aligned text table."""
    text = TextTokenizer.build_default()
    head = ("size", "prior d x layers", "prior", "body", "tokenizer", "decoder", "GFLOP/img", "train GB", "fp16 MB")
    rows = [head]
    for name in MODEL_SIZES:
        c = size_cost(get_config(name), text)
        rows.append((c.name, c.prior_shape, f"{c.prior_params / 1e6:.1f}M", f"{c.prior_body_params / 1e6:.1f}M",
                     f"{c.tokenizer_params / 1e6:.1f}M", f"{c.decoder_params / 1e6:.1f}M",
                     f"{c.train_gflop_per_image:,.1f}", f"{c.train_memory_gb:.2f}", f"{c.weights_fp16_mb:,.0f}"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["  ".join(v.ljust(w) if i < 2 else v.rjust(w) for i, (v, w) in enumerate(zip(r, widths, strict=True)))
             for r in rows]
    note = (f"GFLOP/img: the prior's training FLOPs for one 256x256 image ({TOKENS_PER_IMAGE} tokens: 6 per parameter "
            "per token plus attention); train GB: fp32 weights, gradients and AdamW state of all three networks, "
            f"activations not included. The layout holds up to {max_layout_tokens(True)} tokens.")
    return "\n".join([*lines, "", note])
