"""Training stages. Each stage is an nn.Module whose forward(batch) returns (loss, logs), so one
trainer (trainer.py) drives every stage, on one process or many under DDP.

- `tokenizer`: the FSQ image tokenizer and the diffusion decoder, trained jointly on pixels.
- `prior`: the transformer, on token sequences made by a frozen tokenizer.
"""

from __future__ import annotations

import random

import torch
import torch.nn.functional as F
from torch import nn

from limner.data.batches import Batch
from limner.model.config import ModelConfig
from limner.model.decoder import DiffusionDecoder
from limner.model.image_tokenizer import ImageTokenizer
from limner.model.prior import Prior
from limner.model.sequence import build_training_sequences
from limner.model.text_tokenizer import TextTokenizer


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

    def checkpoint_modules(self) -> dict[str, nn.Module]:
        return {"tokenizer": self.tokenizer, "decoder": self.decoder}

    def checkpoint_meta(self) -> dict[str, str]:
        return {}

    def forward(self, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        codes, _, preview, rec = self.tokenizer(batch.images)
        if self.flow_weight == 0:
            return rec, {"rec": rec.item()}
        flow = self.decoder.loss(codes, batch.images, batch.glyphs, crop=self.crop, preview=preview.detach())
        return rec + self.flow_weight * flow, {"rec": rec.item(), "flow": flow.item()}


class DecoderStage(TokenizerStage):
    """Flow-matching loss only, with the tokenizer frozen: refines the decoder while (or after) the
    prior trains on the same codes, which stay fixed."""

    def __init__(self, cfg: ModelConfig, crop: int = 128) -> None:
        super().__init__(cfg, crop)
        self.tokenizer.requires_grad_(False)

    def checkpoint_modules(self) -> dict[str, nn.Module]:
        return {"tokenizer": self.tokenizer, "decoder": self.decoder}

    def forward(self, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        self.tokenizer.eval()
        with torch.no_grad():
            codes, _ = self.tokenizer.encode(batch.images)
            preview = self.tokenizer.decode_preview(codes) if self.cfg.decoder.preview_cond else None
        flow = self.decoder.loss(codes, batch.images, batch.glyphs, crop=self.crop, preview=preview)
        return flow, {"flow": flow.item()}


class PriorStage(nn.Module):
    """Next-token cross-entropy over interleaved [text, size, image] sequences; tokenizer frozen."""

    def __init__(
        self, cfg: ModelConfig, tokenizer: ImageTokenizer, decoder: DiffusionDecoder, text: TextTokenizer, seed: int = 0
    ) -> None:
        super().__init__()
        self.cfg = cfg
        self.text = text
        self.prior = Prior(cfg.prior, text.vocab_size + cfg.tokenizer.codebook_size)
        # A plain tuple keeps the frozen parts out of this module's state_dict and out of DDP.
        self.frozen: tuple[ImageTokenizer, DiffusionDecoder] = (
            tokenizer.eval().requires_grad_(False),
            decoder.eval().requires_grad_(False),
        )
        self.rng = random.Random(seed)

    def checkpoint_modules(self) -> dict[str, nn.Module]:
        """The whole native model, so the prior stage's checkpoint is a complete, shippable model."""
        return {"tokenizer": self.frozen[0], "decoder": self.frozen[1], "prior": self.prior}

    def checkpoint_meta(self) -> dict[str, str]:
        return {"text_vocab": self.text.to_json()}

    def forward(self, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        with torch.no_grad():
            _, idx = self.frozen[0].encode(batch.images)  # (B, h, w)
        drop = [self.rng.random() < self.cfg.prior.cond_drop for _ in batch.prompts]
        seq = build_training_sequences(
            self.text, batch.prompts, idx, batch.size, drop, self.cfg.prior.max_text_tokens, rng=self.rng
        )
        logits = self.prior(seq.tokens[:, :-1], seq.grid_pos[:, :-1])  # (B, T-1, V)
        target = seq.tokens[:, 1:].clone()
        target[~seq.loss_mask[:, 1:]] = -100
        img = seq.is_image[:, 1:]
        ce = F.cross_entropy(logits.transpose(1, 2), target, reduction="none")  # (B, T-1)
        valid = target != -100
        img_loss = ce[img & valid].mean()
        txt = valid & ~img
        txt_loss = ce[txt].mean() if txt.any() else ce.new_zeros(())
        loss = img_loss + 0.1 * txt_loss
        return loss, {"img_ce": img_loss.item(), "txt_ce": txt_loss.item()}
