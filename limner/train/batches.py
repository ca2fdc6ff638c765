"""Batches of procedurally generated training examples.

Each batch has one canvas size (so images stack into one tensor); sizes are drawn per batch with
`SIZE_WEIGHTS`. Held-out eval prompts are excluded by exact string.
"""

from __future__ import annotations

import dataclasses
import itertools
import random
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import torch

from limner.data.paraphrase import paraphrase
from limner.data.sampler import TRAIN_MIX, Example, on_colour, recoloured, sample_mix
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
    skipped: int = 0  # unreadable files skipped while making this batch (real data; counted in the trainer's log)

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


@dataclass(frozen=True)
class Shard:
    """Which micro-batches a stream makes, so that data is a pure function of (seed, step, example row).

    The global batch of step s has batch x world x accum rows, row j drawn from its own generator seeded by
    (seed, s, j); micro-batch m of rank r holds rows [(m * world + r) * batch, + batch). Streams count items
    (micro-batches) i = s * accum + m from `start`; a data-loader worker makes every `stride`-th item from
    `start + offset`, and the loader's round-robin puts them back in order. So a run resumed at another
    world size or accumulation, or with other workers, sees the same global batches as an uninterrupted one,
    and two processes of batch b train exactly as one of batch 2b."""

    seed: int = 0
    rank: int = 0
    world: int = 1
    accum: int = 1
    start: int = 0
    stride: int = 1
    offset: int = 0

    def __post_init__(self) -> None:
        if not (0 <= self.rank < self.world and self.accum >= 1 and self.stride >= 1 and self.start >= 0):
            raise ValueError(f"bad shard {self}")

    def items(self) -> Iterator[int]:
        """The item indices this stream makes, in order."""
        return itertools.count(self.start + self.offset, self.stride)

    def place(self, item: int, batch: int) -> tuple[int, range]:
        """(step, the global rows) of micro-batch `item` of `batch` rows."""
        step, micro = divmod(item, self.accum)
        first = (micro * self.world + self.rank) * batch
        return step, range(first, first + batch)

    def split(self, workers: int, worker: int) -> Shard:
        """This stream's share for data-loader worker `worker` of `workers`."""
        return dataclasses.replace(self, stride=self.stride * workers, offset=self.offset + worker * self.stride)


def step_rng(seed: int, step: int, row: int | None = None) -> random.Random:
    """The generator of one step's canvas size (row None) or of one example row of that step."""
    return random.Random(f"{seed}:{step}" if row is None else f"{seed}:{step}:{row}")


def draw_size(rng: random.Random, sizes: dict[tuple[int, int], float]) -> tuple[int, int]:
    """A canvas size (W, H) drawn with `sizes`' weights."""
    return rng.choices(list(sizes), weights=list(sizes.values()))[0]


class SceneBatcher:
    """Infinite iterator of `Batch`es drawn from the data engine: the `shard`'s micro-batches (default: one
    process, every step from 0, seeded by `seed`)."""

    def __init__(
        self,
        batch_size: int,
        seed: int,
        mix: dict[str, float] | None = None,
        exclude: frozenset[str] = frozenset(),
        sizes: dict[tuple[int, int], float] | None = None,
        recolour: float = 0.0,
        paraphrase: float = 0.0,
        shard: Shard | None = None,
        coloured: float = 0.0,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if not 0 <= recolour <= 1:
            raise ValueError(f"recolour must be in [0, 1], got {recolour}")
        if not 0 <= paraphrase <= 1:
            raise ValueError(f"paraphrase must be in [0, 1], got {paraphrase}")
        if not 0 <= coloured <= 1:
            raise ValueError(f"coloured must be in [0, 1], got {coloured}")
        self.recolour = recolour  # share of white scenes redrawn on a coloured background (decoder training)
        self.paraphrase = paraphrase  # share of examples re-captioned by data/paraphrase.py
        # share of examples drawn (by rejection) from scenes on a coloured background, captions and all: the data
        # engine puts ~16% of its scenes there, and the held-out failures are mostly such scenes
        self.coloured = coloured
        self.batch_size = batch_size
        self.shard = shard or Shard(seed)
        self.rng = random.Random(seed)  # `examples` only; batches draw from step_rng
        self.mix = mix or TRAIN_MIX
        self.exclude = exclude
        self.sizes = sizes or SIZE_WEIGHTS
        self.stream = self.shard.items()

    def example(self, size: tuple[int, int], rng: random.Random) -> Example:
        """One example of canvas `size` (W, H) from the mix, by rejection: other sizes and held-out prompts are
        skipped, so `size` must be one the samplers draw. With `coloured`, that share of the examples is drawn
        only from scenes whose background is a colour (not white or transparent)."""
        # drawn only when asked, so that coloured=0 leaves every existing stream as it was
        want_coloured = bool(self.coloured) and rng.random() < self.coloured
        while True:
            ex = sample_mix(rng, self.mix)
            if self.paraphrase and rng.random() < self.paraphrase:
                new = paraphrase(ex.record, ex.scene, rng)
                if new is not None:
                    ex = dataclasses.replace(ex, prompt=new, record={**ex.record, "prompt": new})
            if (ex.scene.width, ex.scene.height) != size or ex.prompt in self.exclude:
                continue
            if want_coloured and not on_colour(ex.scene.background):
                continue
            if self.recolour and rng.random() < self.recolour:
                ex = recoloured(ex, rng)
            return ex

    def examples(self, size: tuple[int, int]) -> list[Example]:
        """`batch_size` examples of canvas `size` (W, H) from this batcher's own generator."""
        return [self.example(size, self.rng) for _ in range(self.batch_size)]

    def __iter__(self) -> Iterator[Batch]:
        return self

    def __next__(self) -> Batch:
        step, rows = self.shard.place(next(self.stream), self.batch_size)
        size = draw_size(step_rng(self.shard.seed, step), self.sizes)
        exs = [self.example(size, step_rng(self.shard.seed, step, j)) for j in rows]
        arrs = [example_tensors(ex) for ex in exs]
        return Batch(
            images=torch.from_numpy(np.stack([a for a, _ in arrs])),
            glyphs=torch.from_numpy(np.stack([g for _, g in arrs])),
            prompts=[ex.prompt for ex in exs],
            size=size,
            layouts=[scene_layout(ex.scene) for ex in exs],
        )
