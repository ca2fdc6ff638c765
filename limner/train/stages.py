"""Training stages. Each stage is an nn.Module whose forward(batch) returns (loss, logs), so one
trainer (trainer.py) drives every stage, on one process or many under DDP.

- `tokenizer`: the FSQ image tokenizer and the diffusion decoder, trained jointly on pixels.
- `prior`: the transformer, on token sequences made by a frozen tokenizer.
"""

from __future__ import annotations

import dataclasses
import random
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from limner.model.config import ModelConfig
from limner.model.decoder import DiffusionDecoder
from limner.model.image_tokenizer import ImageTokenizer
from limner.model.layout import Layout, drop_layouts, layout_map, layout_offset
from limner.model.native import prior_vocab
from limner.model.paint import paint_batch
from limner.model.prior import Prior
from limner.model.sequence import TokenBatch, build_training_sequences
from limner.model.text_tokenizer import TextTokenizer
from limner.train.batches import Batch
from limner.train.prior_codes import CodeSampler, background_agrees

LAYOUT_DROP = 0.15  # share of decoder examples trained without their layout (uploads and edits have none)
# The decoder's layout input learns at 4x the rate: on a continued decoder it starts from zero next to parts
# that are already trained, and outlines are a small share of a mostly flat image's loss.
LAYOUT_LR_SCALE = 4.0
# The decoder sees this share of its examples with a layout and no text
# painted (model/paint.py): all codes the background code, so it learns to draw objects from the layout alone.
PAINT_SHARE = 0.5
# Unpainted examples lose their objects' colours this often: edits and uploads may not know them.
COLOUR_DROP = 0.3


def exact(batch: Batch) -> torch.autocast:
    """No autocast here: the frozen tokenizer's codes must be the ones inference computes in float32 (bf16 would
    move some latents across an FSQ rounding boundary)."""
    return torch.autocast(batch.images.device.type, enabled=False)


def batch_layouts(batch: Batch, rng: random.Random) -> list[Layout | None]:
    """The layouts the decoder sees for a batch, some dropped (LAYOUT_DROP)."""
    return drop_layouts(batch.layouts or [None] * len(batch.prompts), LAYOUT_DROP, rng)


def batch_layout_map(cfg: ModelConfig, batch: Batch, rng: random.Random) -> torch.Tensor:
    """The decoder's layout map of a batch (some layouts dropped), on the batch's device."""
    return layout_map(batch_layouts(batch, rng), batch.size, device=batch.images.device)


def drop_colours(layouts: list[Layout | None], keep: list[bool], p: float, rng: random.Random) -> list[Layout | None]:
    """Each layout not marked `keep` loses its items' colours with probability p."""
    out: list[Layout | None] = []
    for lay, k in zip(layouts, keep, strict=True):
        if lay is not None and not k and rng.random() < p:
            lay = [dataclasses.replace(it, rgb=None) for it in lay]
        out.append(lay)
    return out


class TokenizerStage(nn.Module):
    """Joint loss: preview reconstruction at tokenizer resolution + `flow_weight` x flow matching at
    output size. With flow_weight 0 the decoder is skipped (about 3x cheaper a step) and trained
    afterwards by the decoder stage on the frozen codes."""

    def __init__(self, cfg: ModelConfig, crop: int = 128, flow_weight: float = 1.0) -> None:
        super().__init__()
        if flow_weight < 0:
            raise ValueError(f"flow_weight must be >= 0, got {flow_weight}")
        self.cfg = cfg
        self.crop = crop
        self.flow_weight = flow_weight
        self.tokenizer = ImageTokenizer(cfg.tokenizer)
        self.decoder = DiffusionDecoder(cfg.decoder, self.tokenizer.fsq.dim, cfg.tokenizer.output_stride)
        if flow_weight == 0:  # unused: frozen, so DDP does not wait for its gradients
            self.decoder.requires_grad_(False)
        self.rng = random.Random(0)
        self.lr_scales = {"decoder.layout_": LAYOUT_LR_SCALE}  # read by trainer.param_groups

    def checkpoint_modules(self) -> dict[str, nn.Module]:
        """The parts a checkpoint of this stage holds, by name prefix."""
        return {"tokenizer": self.tokenizer, "decoder": self.decoder}

    def checkpoint_meta(self) -> dict[str, str]:
        """Extra safetensors metadata of this stage's checkpoints (none)."""
        return {}

    def forward(self, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        """Batch of (B, 4, H, W) images -> (loss, logs): preview reconstruction + weighted flow matching."""
        codes, _, preview, rec = self.tokenizer(batch.images)
        if self.flow_weight == 0:
            return rec, {"rec": rec.item()}
        flow = self.decoder.loss(codes, batch.images, batch.glyphs, crop=self.crop, preview=preview.detach(),
                                 layout=batch_layout_map(self.cfg, batch, self.rng))
        return rec + self.flow_weight * flow, {"rec": rec.item(), "flow": flow.item()}


class DecoderStage(TokenizerStage):
    """Flow-matching loss only, with the tokenizer frozen: refines the decoder while (or after) the
    prior trains on the same codes, which stay fixed. With `head_only` only the decoder's full-resolution text
    head (model/glyph_refine.py) trains: the rest stays frozen, so text-free images decode exactly as before."""

    def __init__(
        self, cfg: ModelConfig, crop: int = 128, head_only: bool = False, prior_codes: float = 0.0,
        code_sampler: CodeSampler | None = None,
    ) -> None:
        super().__init__(cfg, crop)
        if not 0 <= prior_codes <= 1:
            raise ValueError(f"prior_codes must be in [0, 1], got {prior_codes}")
        if prior_codes > 0 and code_sampler is None:
            raise ValueError("prior_codes needs a code sampler")
        self.tokenizer.requires_grad_(False)
        self.head_only = head_only
        self.prior_codes = prior_codes
        self.code_sampler = code_sampler
        if head_only:
            if self.decoder.glyph_refine is None:
                raise ValueError("head_only trains the decoder's text head, but its config has none (glyph_refine 0)")
            self.decoder.requires_grad_(False)
            self.decoder.glyph_refine.requires_grad_(True)

    def checkpoint_modules(self) -> dict[str, nn.Module]:
        """Tokenizer (frozen, carried over) and decoder."""
        return {"tokenizer": self.tokenizer, "decoder": self.decoder}

    def forward(self, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        """Batch of (B, 4, H, W) images -> (flow-matching loss, logs) on the frozen tokenizer's codes."""
        self.tokenizer.eval()
        lmap = None
        own: list[int] = []
        dev = batch.images.device
        with torch.no_grad():
            with exact(batch):
                codes, idx = self.tokenizer.encode(batch.images)  # (B, D, h, w), (B, h, w)
            idx = idx.cpu()  # painting and the prior's codes are per-example CPU work
            lays = batch_layouts(batch, self.rng)
            own = self.prior_rows(batch)  # these rows decode the prior's own codes, full layout kept
            if own:
                idx = idx.clone()
                true = [batch.layouts[i] or [] for i in own]
                drawn = self.code_sampler([batch.prompts[i] for i in own], batch.size, true)  # type: ignore[misc]
                agree = background_agrees(self.tokenizer, idx[own], drawn, true)
                kept = [k for k, ok in enumerate(agree) if ok]  # a wrong background would teach greys
                for k in kept:
                    lays[own[k]] = true[k]
                own = [own[k] for k in kept]
                if own:
                    idx[own] = drawn[kept]
            has_text = [bool(g.any()) or i in own for i, g in enumerate(batch.glyphs)]  # never paint own
            idx, painted = paint_batch(idx, lays, has_text, PAINT_SHARE, self.rng)
            if any(painted) or own:
                codes = self.tokenizer.fsq.indices_to_codes(idx.to(dev))
            keep = [p or i in own for i, p in enumerate(painted)]  # own rows keep the prior's colours
            lays = drop_colours(lays, keep, COLOUR_DROP, self.rng)
            lmap = layout_map(lays, batch.size, device=dev)
            preview = self.tokenizer.decode_preview(codes)
        flow = self.decoder.loss(codes, batch.images, batch.glyphs, crop=self.crop, preview=preview, layout=lmap,
                                 on_ink=self.head_only)
        logs = {"flow": flow.item()}
        if self.prior_codes > 0:
            logs["own"] = float(len(own))  # examples decoded from the prior's codes in this batch
        return flow, logs

    def prior_rows(self, batch: Batch) -> list[int]:
        """The rows of `batch` whose codes are replaced by the prior's own (share `prior_codes` of those with a
        known layout: the prior is teacher-forced that layout)."""
        if self.prior_codes <= 0 or not batch.layouts:
            return []
        return [i for i, lay in enumerate(batch.layouts) if lay is not None and self.rng.random() < self.prior_codes]


def novel_token_weights(inputs: torch.Tensor, targets: torch.Tensor, novel_weight: float) -> torch.Tensor:
    """Per-target loss weights (B, T): 1 + novel_weight where the target differs from the token before it.

    Most image codes repeat their raster predecessor (flat background, the inside of a shape) and are
    predictable from the image alone; the codes that start something new (the first code, an object's
    edge, its colour) are the ones the prompt decides. Up-weighting them keeps the prompt's share of the
    gradient from being diluted by the copies. inputs and targets are (B, T) and aligned: inputs[:, t]
    is the token just before targets[:, t]."""
    if novel_weight < 0:
        raise ValueError(f"novel_weight must be >= 0, got {novel_weight}")
    return 1.0 + novel_weight * (targets != inputs).float()


class PriorStage(nn.Module):
    """Next-token cross-entropy over interleaved [text, size, image] sequences; tokenizer frozen.

    With novel_weight > 0 the image loss is a weighted mean that counts codes unlike their predecessor
    (1 + novel_weight) times; the logged img_ce stays the plain mean, comparable across runs.

    The prior also predicts each image's layout tokens; their mean CE is added
    with `layout_weight`: they are few, and they decide what the prompt asked for. `first_weight` adds the
    mean CE of each image's first code (its top-left cell: usually the background colour the prompt names),
    a single decision per image that the mean over 256 codes all but ignores."""

    def __init__(
        self,
        cfg: ModelConfig,
        tokenizer: ImageTokenizer,
        decoder: DiffusionDecoder,
        text: TextTokenizer,
        seed: int = 0,
        novel_weight: float = 0.0,
        layout_weight: float = 1.0,
        first_weight: float = 0.0,
    ) -> None:
        super().__init__()
        weights = {"novel_weight": novel_weight, "layout_weight": layout_weight, "first_weight": first_weight}
        for name, v in weights.items():
            if v < 0:
                raise ValueError(f"{name} must be >= 0, got {v}")
        self.novel_weight = novel_weight
        self.layout_weight = layout_weight
        self.first_weight = first_weight
        self.cfg = cfg
        self.text = text
        self.prior = Prior(cfg.prior, *prior_vocab(cfg, text))
        self.layout_offset = layout_offset(text.vocab_size, cfg.tokenizer.codebook_size)
        # A plain tuple keeps the frozen parts out of this module's state_dict and out of DDP.
        self.frozen: tuple[ImageTokenizer, DiffusionDecoder] = (
            tokenizer.eval().requires_grad_(False),
            decoder.eval().requires_grad_(False),
        )
        self.rng = random.Random(seed)

    def _apply(self, fn: Any, recurse: bool = True) -> PriorStage:
        """`.to(device)` and friends also move the frozen parts, which the tuple keeps out of `children()`."""
        super()._apply(fn, recurse)
        for m in self.frozen:
            m._apply(fn, recurse)
        return self

    def checkpoint_modules(self) -> dict[str, nn.Module]:
        """The whole native model, so the prior stage's checkpoint is a complete, shippable model."""
        return {"tokenizer": self.frozen[0], "decoder": self.frozen[1], "prior": self.prior}

    def checkpoint_meta(self) -> dict[str, str]:
        """The text vocabulary, so the checkpoint alone can encode prompts."""
        return {"text_vocab": self.text.to_json()}

    def forward(self, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        """Batch of images + prompts -> (image CE + 0.1 x text CE, logs), with CFG text dropout."""
        with torch.no_grad(), exact(batch):
            _, idx = self.frozen[0].encode(batch.images)  # (B, h, w)
        return self.sequence_loss(self.sequences(batch.prompts, idx.cpu(), batch.size, batch.layouts)
                                  .to(batch.images.device))

    def sequences(self, prompts: list[str], idx: torch.Tensor, size: tuple[int, int],
                  layouts: list[Layout | None] | None) -> TokenBatch:
        """Training sequences of codes idx (B, h, w) with their prompts and layouts, some prompts dropped for CFG."""
        drop = [self.rng.random() < self.cfg.prior.cond_drop for _ in prompts]
        return build_training_sequences(
            self.text, prompts, idx, size, drop, self.cfg.prior.max_text_tokens, rng=self.rng,
            layouts=layouts, layout_offset=self.layout_offset, layout_colour=True,
        )

    def sequence_loss(self, seq: TokenBatch) -> tuple[torch.Tensor, dict[str, float]]:
        """(image CE + 0.1 x text CE + layout_weight x layout CE [+ first_weight x first-code CE], logs) of a
        batch of training sequences."""
        obj = seq.obj_pos[:, :-1] if seq.obj_pos is not None else None
        logits = self.prior(seq.tokens[:, :-1], seq.grid_pos[:, :-1], obj_pos=obj)  # (B, T-1, V)
        target = seq.tokens[:, 1:].clone()
        target[~seq.loss_mask[:, 1:]] = -100
        img = seq.is_image[:, 1:]
        ce = F.cross_entropy(logits.transpose(1, 2), target, reduction="none")  # (B, T-1)
        valid = target != -100
        sel = img & valid
        img_loss = ce[sel].mean()
        lay = seq.is_layout[:, 1:] & valid if seq.is_layout is not None else None
        txt = valid & ~img if lay is None else valid & ~img & ~lay
        txt_loss = ce[txt].mean() if txt.any() else ce.new_zeros(())
        logs = {"img_ce": img_loss.item(), "txt_ce": txt_loss.item()}
        img_obj = img_loss
        if self.novel_weight > 0:
            inputs = seq.tokens[:, :-1]
            w = novel_token_weights(inputs, seq.tokens[:, 1:], self.novel_weight)[sel]  # (N,)
            img_obj = (w * ce[sel]).sum() / w.sum()
            novel = (seq.tokens[:, 1:] != inputs)[sel]
            logs["novel_ce"] = ce[sel][novel].mean().item() if novel.any() else 0.0
        loss = img_obj + 0.1 * txt_loss
        if lay is not None and lay.any():
            lay_loss = ce[lay].mean()
            logs["lay_ce"] = lay_loss.item()
            loss = loss + self.layout_weight * lay_loss
        first = sel & (sel.long().cumsum(1) == 1)  # (B, T-1): each row's first image target
        if first.any():
            first_loss = ce[first].mean()
            logs["first_ce"] = first_loss.item()
            if self.first_weight > 0:
                loss = loss + self.first_weight * first_loss
        return loss, logs
