"""The transformer's own codes as the decoder's training input (`limner train decoder --prior-codes P`).

The native pixel path decodes the codes the prior *samples*, not the tokenizer's encoding of a true image:
those carry the prior's brushwork (stray blobs, smeared outlines, a neighbour's colour). A decoder trained only
on true codes draws every such mistake faithfully. Here a share of each decoder batch gets, instead of its
true codes, codes the frozen prior samples for the same caption with the example's true layout teacher-forced
(as the prior writes its own layout first at inference, its codes then follow that layout), while the target
stays the exact render. The decoder learns to read the prior's codes the way they are actually written, and to
take the objects' geometry and colour from the layout tokens the prior wrote (GLIGEN-style grounding). This is
conditioning augmentation with the real generator's outputs, in the spirit of cascaded diffusion models.

Nothing here sets a pixel: the sampler only produces the decoder's *inputs* during training.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from limner.engine.decode import SamplingParams, sample_tokens
from limner.model.layout import Layout
from limner.model.native import NativeModel

# codes (B, rows, cols) for prompts, canvas (W, H) and the layouts to teacher-force
CodeSampler = Callable[[list[str], tuple[int, int], list[Layout]], torch.Tensor]


def prior_code_sampler(model: NativeModel, params: SamplingParams | None = None, seed: int = 0) -> CodeSampler:
    """A CodeSampler over `model`'s frozen prior, drawing as the engine does by default (`params`, default
    SamplingParams()), with its own generator so that training is reproducible from `seed`."""
    sp = params or SamplingParams()
    g = torch.Generator().manual_seed(seed)
    model.prior.eval().requires_grad_(False)

    def draw(prompts: list[str], size: tuple[int, int], layouts: list[Layout]) -> torch.Tensor:
        if model.layout_offset is None:
            raise ValueError("--prior-codes needs a layout prior in the --init checkpoint (it teacher-forces layouts)")
        with torch.no_grad():
            return sample_tokens(model, prompts, size, sp, g, layouts=[list(lay) for lay in layouts]).codes

    return draw
