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

Only examples whose sampled background agrees with the true one are kept (`background_agrees`). The layout map
tells the decoder each object's place and colour, but nothing tells it the background except the codes: trained
to paint the true cyan where the prior had drawn white, a first run (900 steps at share 0.6) learned to hedge and
painted every white background a flat grey (dev overall 0.361 -> 0.000). Where the prior's background is right, its
stray blobs and smeared objects still teach the decoder to follow the layout.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from limner.engine.decode import SamplingParams, sample_tokens
from limner.model.image_tokenizer import ImageTokenizer
from limner.model.layout import Layout
from limner.model.native import NativeModel
from limner.model.paint import outside_discs

# A background pixel of the prior's preview this far (Euclidean, RGBA in [-1, 1]) from the true preview's differs;
# an example is kept when at most MAX_DIFFERENT of its background pixels differ.
PIXEL_DIFFERENT = 0.3
MAX_DIFFERENT = 0.1

# codes (B, rows, cols) for prompts, canvas (W, H) and the layouts to teacher-force
CodeSampler = Callable[[list[str], tuple[int, int], list[Layout]], torch.Tensor]


def prior_code_sampler(model: NativeModel, params: SamplingParams | None = None, seed: int = 0) -> CodeSampler:
    """A CodeSampler over `model`'s frozen prior, drawing as the engine does by default (`params`, default
    SamplingParams()), with its own generator so that training is reproducible from `seed`."""
    sp = params or SamplingParams()
    g = torch.Generator().manual_seed(seed)
    model.prior.eval().requires_grad_(False)

    def draw(prompts: list[str], size: tuple[int, int], layouts: list[Layout]) -> torch.Tensor:
        with torch.no_grad():
            return sample_tokens(model, prompts, size, sp, g, layouts=[list(lay) for lay in layouts]).codes

    return draw


def background_agrees(tokenizer: ImageTokenizer, true_idx: torch.Tensor, own_idx: torch.Tensor,
                      layouts: list[Layout]) -> list[bool]:
    """For codes (B, rows, cols) of true images and the prior's samples of them, whether the prior drew each
    image's background as it is: at most MAX_DIFFERENT of the preview pixels outside every layout object's disc
    differ by more than PIXEL_DIFFERENT."""
    dev = next(tokenizer.parameters()).device  # the tokenizer may sit on a GPU; the comparison runs on the CPU
    with torch.no_grad():
        pt = tokenizer.decode_preview(tokenizer.fsq.indices_to_codes(true_idx.to(dev))).cpu()  # (B, 4, h, w)
        po = tokenizer.decode_preview(tokenizer.fsq.indices_to_codes(own_idx.to(dev))).cpu()
    _, _, h, w = pt.shape
    out = []
    for i, lay in enumerate(layouts):
        outside = outside_discs(lay, h, w)
        diff = (pt[i] - po[i]).norm(dim=0) > PIXEL_DIFFERENT  # (h, w)
        out.append(bool(outside.any()) and float(diff[outside].float().mean()) <= MAX_DIFFERENT)
    return out
