"""Batches of procedurally generated training examples.

Each batch has one canvas size (so images stack into one tensor); sizes are drawn per batch with
`SIZE_WEIGHTS`. Held-out eval prompts are excluded by exact string.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import torch

from limner.data.paraphrase import paraphrase
from limner.data.sampler import TRAIN_MIX, Example, recoloured, sample_mix
from limner.data.scene import glyph_image, render, to_array
from limner.model.layout import Layout, scene_layout

SIZE_WEIGHTS: dict[tuple[int, int], float] = {(256, 256): 0.8, (384, 256): 0.1, (256, 384): 0.1}


@dataclass
class Batch:
    """One training batch; every image has the same canvas size (W, H), so they stack."""

    images: torch.Tensor  # (B, 4, H, W) in [-1, 1], RGBA
    glyphs: torch.Tensor  # (B, 1, H, W) in [0, 1]
    prompts: list[str]
    size: tuple[int, int]  # (W, H)
    # The objects of each image as layout items (model/layout.py); None where unknown (real images).
    layouts: list[Layout | None] = field(default_factory=list)

    def to(self, device: torch.device | str) -> Batch:
        """The batch with its images and glyphs on `device` (prompts and layouts are Python objects)."""
        if self.images.device == torch.device(device):
            return self
        return dataclasses.replace(self, images=self.images.to(device, non_blocking=True),
                                   glyphs=self.glyphs.to(device, non_blocking=True))


def example_tensors(ex: Example) -> tuple[np.ndarray, np.ndarray]:
    """(4, H, W) image in [-1, 1] and (1, H, W) glyph in [0, 1] of one example."""
    img = to_array(render(ex.scene))
    g = np.asarray(glyph_image(ex.scene.text, ex.scene.width, ex.scene.height), dtype=np.float32)[None] / 255.0
    return img, g


class SceneBatcher:
    """Infinite iterator of `Batch`es drawn from the data engine."""

    def __init__(
        self,
        batch_size: int,
        seed: int,
        mix: dict[str, float] | None = None,
        exclude: frozenset[str] = frozenset(),
        sizes: dict[tuple[int, int], float] | None = None,
        recolour: float = 0.0,
        paraphrase: float = 0.0,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if not 0 <= recolour <= 1:
            raise ValueError(f"recolour must be in [0, 1], got {recolour}")
        if not 0 <= paraphrase <= 1:
            raise ValueError(f"paraphrase must be in [0, 1], got {paraphrase}")
        self.recolour = recolour  # share of white scenes redrawn on a coloured background (decoder training)
        self.paraphrase = paraphrase  # share of examples re-captioned by data/paraphrase.py
        self.batch_size = batch_size
        self.rng = random.Random(seed)
        self.mix = mix or TRAIN_MIX
        self.exclude = exclude
        self.sizes = sizes or SIZE_WEIGHTS

    def examples(self, size: tuple[int, int]) -> list[Example]:
        """`batch_size` examples of canvas `size` (W, H) from the mix, by rejection: other sizes and held-out
        prompts are skipped, so `size` must be one the samplers draw."""
        out: list[Example] = []
        while len(out) < self.batch_size:
            ex = sample_mix(self.rng, self.mix)
            if self.paraphrase and self.rng.random() < self.paraphrase:
                new = paraphrase(ex.record, ex.scene, self.rng)
                if new is not None:
                    ex = dataclasses.replace(ex, prompt=new, record={**ex.record, "prompt": new})
            if (ex.scene.width, ex.scene.height) != size or ex.prompt in self.exclude:
                continue
            if self.recolour and self.rng.random() < self.recolour:
                ex = recoloured(ex, self.rng)
            out.append(ex)
        return out

    def __iter__(self) -> Iterator[Batch]:
        return self

    def __next__(self) -> Batch:
        size = self.rng.choices(list(self.sizes), weights=list(self.sizes.values()))[0]
        exs = self.examples(size)
        arrs = [example_tensors(ex) for ex in exs]
        return Batch(
            images=torch.from_numpy(np.stack([a for a, _ in arrs])),
            glyphs=torch.from_numpy(np.stack([g for _, g in arrs])),
            prompts=[ex.prompt for ex in exs],
            size=size,
            layouts=[scene_layout(ex.scene) for ex in exs],
        )
