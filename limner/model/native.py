"""The native model: text tokenizer + image tokenizer + prior + diffusion decoder, loaded as one.

prompt --text tokenizer--> ids --prior (autoregressive)--> image codes --diffusion decoder--> pixels
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from limner.model.checkpoint import CheckpointError, file_sha256, load_into, read_checkpoint, save_checkpoint
from limner.model.config import ModelConfig
from limner.model.decoder import DiffusionDecoder
from limner.model.image_tokenizer import ImageTokenizer
from limner.model.layout import embedding_rows, layout_offset, prior_vocab_size
from limner.model.prior import Prior
from limner.model.text_tokenizer import TextTokenizer


def prior_vocab(config: ModelConfig, text: TextTokenizer) -> tuple[int, torch.Tensor, torch.Tensor, int | None]:
    """(the prior's vocabulary size, its embedding rows (layout.embedding_rows), the ids of '#' and the hex digits,
    the id of <img> for a layout_count prior, else None) for `config` and text vocabulary `text`: the arguments
    of `Prior` after its config."""
    vocab = prior_vocab_size(text.vocab_size, config.tokenizer.codebook_size, True, True)
    hex_ids = torch.tensor([text.id("#"), *text.hex_digit_ids()])
    img_id = text.id("<img>") if config.prior.layout_count else None
    rows = embedding_rows(vocab, text.vocab_size, config.tokenizer.codebook_size, text.hex_digit_ids())
    return vocab, rows, hex_ids, img_id


@dataclass
class NativeModel:
    """The whole model and its config; `sha256` and `path` name the checkpoint it was loaded from ('' if none)."""

    config: ModelConfig
    text: TextTokenizer
    tokenizer: ImageTokenizer
    decoder: DiffusionDecoder
    prior: Prior
    sha256: str = ""
    path: str = ""

    @staticmethod
    def build(config: ModelConfig, text: TextTokenizer | None = None) -> NativeModel:
        """Randomly initialised model of `config` (tests, and the start of training)."""
        text = text or TextTokenizer.build_default()
        tok = ImageTokenizer(config.tokenizer)
        dec = DiffusionDecoder(config.decoder, tok.fsq.dim, config.tokenizer.output_stride)
        prior = Prior(config.prior, *prior_vocab(config, text))
        return NativeModel(config, text, tok, dec, prior).eval()

    @staticmethod
    def from_checkpoint(path: str | Path) -> NativeModel:
        """Rebuild the whole model from one safetensors file; errors name the file and what is wrong."""
        cfg, tensors, md = read_checkpoint(path)
        if "text_vocab" not in md:
            raise CheckpointError(
                f"checkpoint {str(path)!r} has no text vocabulary: is it a tokenizer-stage "
                "checkpoint? Generation needs a prior-stage (complete) checkpoint"
            )
        try:
            text = TextTokenizer.from_json(md["text_vocab"])
        except (ValueError, KeyError, TypeError) as e:
            raise CheckpointError(f"checkpoint {str(path)!r} has an invalid text vocabulary: {e}") from e
        m = NativeModel.build(cfg, text)
        load_into(m.tokenizer, "tokenizer", tensors, path)
        load_into(m.decoder, "decoder", tensors, path)
        load_into(m.prior, "prior", tensors, path)
        m.sha256 = file_sha256(path)
        m.path = str(path)
        return m.eval()

    def save(self, path: str | Path, meta: dict[str, str] | None = None, dtype: torch.dtype = torch.float32,
             max_bytes: int = 0) -> None:
        """Write a complete checkpoint (config, text vocabulary, the three networks as `dtype`) to `path`, in parts
        of at most `max_bytes` when larger (0 = one file); `meta` adds metadata entries."""
        save_checkpoint(
            path,
            self.config,
            {"tokenizer": self.tokenizer, "decoder": self.decoder, "prior": self.prior},
            {"text_vocab": self.text.to_json(), **(meta or {})},
            dtype=dtype,
            max_bytes=max_bytes,
        )

    def eval(self) -> NativeModel:
        """Eval mode with gradients off for all three networks; returns self, so a loader can chain it."""
        for m in (self.tokenizer, self.decoder, self.prior):
            m.eval().requires_grad_(False)
        return self

    def to(self, device: torch.device | str) -> NativeModel:
        """Move the three networks to `device`; returns self."""
        for m in (self.tokenizer, self.decoder, self.prior):
            m.to(device)
        return self

    @property
    def device(self) -> torch.device:
        """Where the networks are (all three move together, see `to`)."""
        return self.prior.tok_emb.weight.device

    @property
    def grid_stride(self) -> int:
        """Output pixels per image token along each side."""
        return self.config.tokenizer.output_stride

    def grid(self, size: tuple[int, int]) -> tuple[int, int]:
        """(rows, cols) of the token grid for an output (W, H)."""
        w, h = size
        s = self.grid_stride
        if w % s or h % s:
            raise ValueError(f"size {w}x{h} is not a multiple of the token stride {s}")
        return h // s, w // s

    @property
    def layout_offset(self) -> int:
        """First prior id of the layout tokens."""
        return layout_offset(self.text.vocab_size, self.config.tokenizer.codebook_size)

    def n_params(self) -> int:
        """Parameter count of the image tokenizer, decoder and prior together."""
        return sum(p.numel() for m in (self.tokenizer, self.decoder, self.prior) for p in m.parameters())
