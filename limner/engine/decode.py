"""Autoregressive sampling of image tokens with a KV cache: prefill once, then one token a step.

Batched: B prompts (left-padded to one length) are sampled together; with classifier-free
guidance the batch is doubled with the unconditional prefixes. A progress callback sees the
partial token grid after every token, which is what streaming previews decode.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from limner.engine.sampling import cfg_logits, sample_from_logits
from limner.model.native import NativeModel
from limner.model.sequence import image_grid_pos, prompt_prefix

# progress(done_tokens, total_tokens, codes (B, h*w) with -1 where not yet sampled)
TokenProgress = Callable[[int, int, torch.Tensor], None]


@dataclass
class SamplingParams:
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    cfg_scale: float = 3.0
    decoder_steps: int | None = None  # None: the checkpoint's default

    def validate(self) -> None:
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.cfg_scale < 0:
            raise ValueError(f"cfg_scale must be >= 0, got {self.cfg_scale}")


def left_pad(seqs: list[list[int]], pad: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Left-pad to one length: (tokens (B, T), key_valid (B, T), rotary positions (B, T))."""
    t = max(len(s) for s in seqs)
    tokens = torch.full((len(seqs), t), pad, dtype=torch.long)
    valid = torch.zeros((len(seqs), t), dtype=torch.bool)
    for i, s in enumerate(seqs):
        tokens[i, t - len(s) :] = torch.tensor(s)
        valid[i, t - len(s) :] = True
    pos = (valid.long().cumsum(1) - 1).clamp(min=0)
    return tokens, valid, pos


def prefill(model: NativeModel, seqs: list[list[int]], extra: int) -> tuple[torch.Tensor, torch.Tensor, object]:
    """Run the prompt prefixes through the prior; returns (last logits (B, V), next positions (B,), cache)."""
    tokens, valid, pos = left_pad(seqs, model.text.id("<pad>"))
    cache = model.prior.new_cache(len(seqs), tokens.shape[1] + extra)
    grid = torch.zeros((*tokens.shape, 2), dtype=torch.long)
    logits = model.prior(tokens, grid, pos_ids=pos, key_valid=valid, cache=cache)[:, -1]
    return logits, pos[:, -1] + 1, cache


@torch.no_grad()
def sample_codes(
    model: NativeModel,
    prompts: list[str],
    size: tuple[int, int],
    params: SamplingParams,
    generator: torch.Generator | None = None,
    progress: TokenProgress | None = None,
) -> torch.Tensor:
    """Sample image codes (B, rows, cols) for `prompts` at output `size` (W, H)."""
    params.validate()
    rows, cols = model.grid(size)
    n = rows * cols
    b = len(prompts)
    text, max_text = model.text, model.config.prior.max_text_tokens
    seqs = [prompt_prefix(text, p, size, max_text) for p in prompts]
    use_cfg = params.cfg_scale != 1.0
    if use_cfg:
        seqs += [prompt_prefix(text, "", size, max_text, drop_text=True) for _ in prompts]
    logits, next_pos, cache = prefill(model, seqs, n)
    offset, k = text.vocab_size, model.config.tokenizer.codebook_size
    gp = image_grid_pos(rows, cols)  # (n, 2)
    codes = torch.full((b, n), -1, dtype=torch.long)
    for i in range(n):
        img_logits = logits[:, offset : offset + k]  # only image codes may follow <img>
        if use_cfg:
            img_logits = cfg_logits(img_logits[:b], img_logits[b:], params.cfg_scale)
        tok = sample_from_logits(img_logits, params.temperature, params.top_k, params.top_p, generator)  # (B,)
        codes[:, i] = tok
        if progress is not None:
            progress(i + 1, n, codes)
        if i == n - 1:
            break
        inp = (tok + offset).repeat(2 if use_cfg else 1)[:, None]  # (B or 2B, 1)
        grid = gp[i].view(1, 1, 2).expand(inp.shape[0], 1, 2)
        logits = model.prior(inp, grid, pos_ids=next_pos[:, None], cache=cache)[:, -1]  # type: ignore[arg-type]
        next_pos = next_pos + 1
    return codes.view(b, rows, cols)


def fill_partial(codes: torch.Tensor) -> torch.Tensor:
    """Replace not-yet-sampled codes (-1) by the first code of their row-major image (usually background)."""
    out = codes.clone()
    first = out[:, :1].clamp(min=0).expand_as(out)
    return torch.where(out < 0, first, out)
