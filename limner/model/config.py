"""Typed configs of the native model and the registry of named sizes.

A `ModelConfig` fully describes a checkpoint's architecture; it is stored as JSON in the
safetensors metadata of every checkpoint (see checkpoint.py), so a checkpoint alone rebuilds its
model.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import Any


@dataclass
class TokenizerConfig:
    """FSQ image tokenizer. It sees the image at 1/`input_downsample` of the output size and
    compresses each `patch` x `patch` block of that into one token, so the token grid is
    output / (input_downsample * patch) on each side (16 x 16 for 256 x 256)."""

    channels: int = 4  # RGBA
    input_downsample: int = 2
    patch: int = 8  # encoder stride: three stride-2 stages
    widths: tuple[int, ...] = (32, 64, 128)
    levels: tuple[int, ...] = (8, 8, 8, 8)  # FSQ levels per latent dim; codebook = prod(levels)

    @property
    def codebook_size(self) -> int:
        """Number of distinct image codes: the product of the FSQ levels."""
        return math.prod(self.levels)

    @property
    def output_stride(self) -> int:
        """Output pixels per token along each side."""
        return self.input_downsample * self.patch


@dataclass
class DecoderConfig:
    """Flow-matching diffusion decoder: tokens (+ glyph image) -> RGBA pixels at output size."""

    channels: int = 4
    unshuffle: int = 4  # works at output / unshuffle resolution
    width: int = 64
    blocks: int = 8
    cond_width: int = 128  # width of the token-context network at the token grid
    cond_blocks: int = 3
    steps: int = 4  # default Euler steps at sampling
    # A full-resolution head that sharpens the prediction near the requested text's ink (model/glyph_refine.py):
    # the quarter-resolution body blurs what tells small letters apart. Its width; 0 = none (the registered
    # sizes start without it, `limner train decoder --glyph-refine W` adds it). Every decoder also reads the
    # tokenizer's preview of its codes and the prior's layout as a map with the objects' colours
    # (RETIRED_FLAGS: once options, now the architecture).
    glyph_refine: int = 0


@dataclass
class PriorConfig:
    """Decoder-only transformer over one interleaved text + image token sequence."""

    d_model: int = 256
    n_layers: int = 6
    n_heads: int = 8
    mlp_ratio: int = 4
    max_text_tokens: int = 96
    max_grid: int = 24  # largest token-grid side (384 / 16)
    max_seq: int = 2048  # upper bound for RoPE tables / KV cache
    dropout: float = 0.0
    cond_drop: float = 0.1  # probability of dropping the text at training (classifier-free guidance)
    # Every prior writes each image's layout (model/layout.py) with its objects' colours before the code grid,
    # ties colour level l's embedding row to hex digit l's, and gives each hex digit of the prompt its slot in
    # #RRGGBB (RETIRED_FLAGS: once options, now the architecture; see the design notes of docs/ARCHITECTURE.md).
    # Each token of a layout (its <img> and its object tokens) also carries an embedding of how many objects the
    # layout has written, 1 + n (prior.layout_counts). A grid prompt's k-th cell is its k-th object, and the layout
    # must end after R x C of them; with only relative positions the prior lost count on 2 x 3 grids (it wrote
    # a third row over the second, or copied a neighbour's class): held-out layouts matched 0.74 of cells.
    # An architecture option: the shipped prior was trained without it (False), the larger sizes have it.
    layout_count: bool = False


# Options of older releases that every model now has. `ModelConfig.from_dict` drops them when true and refuses
# a checkpoint where one is false, naming the converter (train/upgrade.py); no other code reads them.
RETIRED_FLAGS: dict[str, tuple[str, ...]] = {
    "decoder": ("preview_cond", "layout_cond", "layout_colour"),
    "prior": ("layout", "layout_colour", "hex_levels", "hex_slots"),
}


class RetiredFlagError(ValueError):
    """A checkpoint was built before a part every model now has; the message names the converter."""


@dataclass
class ModelConfig:
    """A checkpoint's whole architecture; stored as JSON in every checkpoint (see checkpoint.py)."""

    name: str = "small"
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    decoder: DecoderConfig = field(default_factory=DecoderConfig)
    prior: PriorConfig = field(default_factory=PriorConfig)

    def to_json(self) -> str:
        """JSON with sorted keys, as stored in checkpoint metadata."""
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @staticmethod
    def from_json(s: str) -> ModelConfig:
        """Parse `to_json` output (see `from_dict`)."""
        d = json.loads(s)
        return ModelConfig.from_dict(d)

    @staticmethod
    def from_dict(d: dict[str, Any]) -> ModelConfig:
        """Rebuild a config; unknown fields raise ValueError naming them, and missing fields take the defaults.

        RETIRED_FLAGS, written by older releases, are read once here: true is what every model now is, so the
        field is dropped; false is a checkpoint built before that part existed, refused with the command that
        converts it (train/upgrade.py). (Configs from before `preview_cond` existed, the first releases', fail
        at loading instead: their decoder's input layer has the wrong shape, and the CheckpointError says so.)"""
        def build(cls: type, sub: dict[str, Any]) -> Any:
            names = {f.name for f in dataclasses.fields(cls)}
            unknown = set(sub) - names
            if unknown:
                raise ValueError(f"unknown {cls.__name__} field(s) {sorted(unknown)}")
            kw = {k: tuple(v) if isinstance(v, list) else v for k, v in sub.items()}
            return cls(**kw)

        dec = dict(d.get("decoder", {}))
        pri = dict(d.get("prior", {}))
        for part, sub in (("decoder", dec), ("prior", pri)):
            for flag in RETIRED_FLAGS[part]:
                if flag in sub and sub.pop(flag) is not True:
                    raise RetiredFlagError(f"this checkpoint's {part} was built without {flag!r}, which every limner "
                                           f"model now has: convert it once with `python -m limner.train.upgrade "
                                           "IN.safetensors OUT.safetensors` (its new parts start at zero), then "
                                           "train them")
        return ModelConfig(
            name=d.get("name", "custom"),
            tokenizer=build(TokenizerConfig, d.get("tokenizer", {})),
            decoder=build(DecoderConfig, dec),
            prior=build(PriorConfig, pri),
        )


def _tiny() -> ModelConfig:
    """For tests: builds and runs in well under a second."""
    return ModelConfig(
        name="tiny",
        tokenizer=TokenizerConfig(widths=(8, 16, 16), levels=(4, 4, 4)),
        decoder=DecoderConfig(width=16, blocks=2, cond_width=16, cond_blocks=1, steps=2),
        prior=PriorConfig(d_model=32, n_layers=2, n_heads=2, max_text_tokens=48, max_seq=640, layout_count=True),
    )


MODEL_SIZES: dict[str, Any] = {
    "tiny": _tiny,
    # The shipped size. Its prior is sized for the compute a 2-core CPU gives in a few hours: at
    # ~2e14 FLOP of training, a ~2M-parameter body is near compute-optimal, and it steps about twice
    # as fast as d256 x 6 layers, so it sees twice the images in the same time.
    # Tokenizer levels 8·8·8·5·3 (7,680 codes): three 8-level dims start as the patch colour, the
    # 3-level one as its alpha, and the 5-level one is free for shape from the start.
    "small": lambda: ModelConfig(
        name="small",
        tokenizer=TokenizerConfig(levels=(8, 8, 8, 5, 3)),
        decoder=DecoderConfig(),
        prior=PriorConfig(d_model=192, n_layers=5, n_heads=6, layout_count=True),
    ),
    "base": lambda: ModelConfig(
        name="base",
        decoder=DecoderConfig(width=96, blocks=10, cond_width=192),
        prior=PriorConfig(d_model=384, n_layers=8, n_heads=8, layout_count=True),
    ),
    "large": lambda: ModelConfig(
        name="large",
        tokenizer=TokenizerConfig(widths=(64, 128, 256), levels=(8, 8, 8, 5, 5, 5)),
        decoder=DecoderConfig(width=192, blocks=16, cond_width=384, steps=8),
        prior=PriorConfig(d_model=1024, n_layers=24, n_heads=16, max_text_tokens=256, layout_count=True),
    ),
    # About 1B parameters in the prior (12 x 2048^2 x 20 layers). Its fp32 weights, gradients and AdamW state take
    # ~19 GB before activations (`limner train --list-sizes`): one large GPU per process, as FSDP is not built.
    "xl": lambda: ModelConfig(
        name="xl",
        tokenizer=TokenizerConfig(widths=(64, 128, 256), levels=(8, 8, 8, 5, 5, 5)),
        decoder=DecoderConfig(width=256, blocks=20, cond_width=512, steps=8),
        prior=PriorConfig(d_model=2048, n_layers=20, n_heads=16, max_text_tokens=256, layout_count=True),
    ),
}


def get_config(name: str) -> ModelConfig:
    """A fresh config of the named size; raises naming the unknown size and the known ones."""
    if name not in MODEL_SIZES:
        raise ValueError(f"unknown model size {name!r}: expected one of {sorted(MODEL_SIZES)}")
    return MODEL_SIZES[name]()
