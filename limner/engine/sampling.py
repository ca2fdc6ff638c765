"""Sampling math as small pure functions: CFG, temperature, top-k, top-p, and one categorical draw."""

from __future__ import annotations

import torch


def cfg_logits(cond: torch.Tensor, uncond: torch.Tensor, scale: float) -> torch.Tensor:
    """Classifier-free guidance on logits: uncond + scale * (cond - uncond). scale=1 is plain conditional."""
    return uncond + scale * (cond - uncond)


def top_k_filter(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the k largest logits per row (B, V); others -> -inf. k <= 0 keeps all."""
    if k <= 0 or k >= logits.shape[-1]:
        return logits
    kth = torch.topk(logits, k, dim=-1).values[..., -1:]
    return logits.masked_fill(logits < kth, float("-inf"))


def top_p_filter(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Nucleus filter: keep the smallest set of tokens whose probability mass reaches p (B, V)."""
    if p >= 1.0:
        return logits
    if p <= 0.0:
        raise ValueError(f"top_p must be in (0, 1], got {p}")
    sorted_logits, idx = torch.sort(logits, descending=True, dim=-1)
    probs = sorted_logits.softmax(-1)
    cum = probs.cumsum(-1)
    remove = cum - probs > p  # keep the token that crosses p
    sorted_logits = sorted_logits.masked_fill(remove, float("-inf"))
    return torch.full_like(logits, float("-inf")).scatter(-1, idx, sorted_logits)


def sample_from_logits(
    logits: torch.Tensor,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """(B, V) logits -> (B,) token ids. temperature 0 means greedy."""
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    if temperature == 0:
        return logits.argmax(-1)
    logits = top_p_filter(top_k_filter(logits / temperature, top_k), top_p)
    probs = logits.softmax(-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


def near_codes(digits: torch.Tensor, prev: torch.Tensor, radius: int = 1) -> torch.Tensor:
    """(B, K) bool: the codes within `radius` FSQ levels of `prev` (B,) on every dimension, given every code's
    digits (K, D) (FSQ.digits). Such codes are shades of the same colour/edge (the tokenizer's neighbours),
    not a new object."""
    return (digits[None] - digits[prev][:, None]).abs().amax(-1) <= radius


def sample_with_repeat(
    logits: torch.Tensor,
    near: torch.Tensor,
    temperature: float,
    novel_temperature: float,
    top_k: int = 0,
    top_p: float = 1.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """(B, K) logits and a (B, K) bool mask of the codes that continue what came before -> (B,) codes.

    Most image codes continue the code before them (flat background, the inside of a shape); the few
    that change start an edge, an object or a colour. A single temperature trades these against each
    other: at 1.0 a weak prior's long tail of wrong codes shows as speckles, while at 0.5 no single
    position is likely enough to start an object, so none is drawn. Here the continue-or-change decision
    is drawn at `temperature` from the mass of `near`, and the code within the chosen set at
    `novel_temperature` (with top-k/top-p): objects start as often as the model expects, while their
    codes, and the continued ones, are sharpened. temperature 0 is plain greedy decoding."""
    if temperature < 0 or novel_temperature < 0:
        raise ValueError(f"temperatures must be >= 0, got {temperature} and {novel_temperature}")
    if temperature == 0:  # greedy stays greedy: the argmax is in one of the two sets, and the mode of it
        return logits.argmax(-1)
    p = (logits / temperature).softmax(-1)
    stay = torch.rand(len(logits), generator=generator) < (p * near).sum(-1)  # (B,)
    keep = torch.where(stay[:, None], near, ~near)  # (B, K): the set drawn from
    if not keep.any(-1).all():  # every code is near (cannot change) or none is: draw from all
        keep = keep | ~keep.any(-1, keepdim=True)
    masked = logits.masked_fill(~keep, float("-inf"))
    return sample_from_logits(masked, novel_temperature, top_k, top_p, generator)
