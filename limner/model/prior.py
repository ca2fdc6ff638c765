"""The autoregressive prior: a decoder-only transformer over one interleaved text + image sequence.

Token ids: [0, text_vocab) are text and special tokens, [text_vocab, text_vocab + codebook) are
image codes. Positions: rotary embeddings over the sequence index, plus learned row and column
embeddings added to image tokens (grid_pos = (row+1, col+1); 0 for text), so one model handles
several aspect ratios and several images in one context.

Every image starts with its layout tokens (model/layout.py). The prior adds, to each token that is followed by an
image code, embeddings of the planned object that code's cell belongs to (its slot in the layout and its class;
`obj_pos`, see layout.cell_objects): the geometry of the layout tokens, given rather than learned. Colour level
tokens read and write through the embedding rows of the hex digits of their value (`rows`,
layout.embedding_rows), and each hex digit of the prompt carries its slot in #RRGGBB (`hex_slots`). With
cfg.layout_count the layout's own tokens carry how many objects it has written (`layout_counts`).

`forward` serves training (full sequence) and, with a `KVCache`, prefill and one-token decode.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from limner.data.world import OBJECTS
from limner.model.config import PriorConfig
from limner.model.layout import END, MAX_OBJECTS, layout_vocab, tokens_per_object


def rope_tables(max_seq: int, head_dim: int, base: float = 10000.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Rotary cos and sin tables, (max_seq, head_dim / 2) each, for positions 0 .. max_seq - 1."""
    inv = 1.0 / base ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)
    ang = torch.arange(max_seq, dtype=torch.float32)[:, None] * inv[None]  # (S, Dh/2)
    return ang.cos(), ang.sin()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """x (B, H, T, Dh); cos/sin (B, 1, T, Dh/2) -> rotated x."""
    x1, x2 = x[..., 0::2], x[..., 1::2]
    out = torch.stack([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)
    return out.flatten(-2)


@dataclass
class KVCache:
    """Per-layer keys/values (L, B, H, S, Dh), the filled length, and which keys are real (B, S)."""

    k: torch.Tensor
    v: torch.Tensor
    key_valid: torch.Tensor
    length: int = 0

    @staticmethod
    def empty(n_layers: int, batch: int, n_heads: int, max_len: int, head_dim: int,
              device: torch.device | str = "cpu") -> KVCache:
        """A zeroed cache on `device` for `batch` sequences of up to `max_len` tokens, no key valid yet."""
        shape = (n_layers, batch, n_heads, max_len, head_dim)
        return KVCache(torch.zeros(shape, device=device), torch.zeros(shape, device=device),
                       torch.zeros(batch, max_len, dtype=torch.bool, device=device))


class Attention(nn.Module):
    """Multi-head self-attention with rotary positions; reads and extends a `KVCache` when given one."""

    def __init__(self, d: int, n_heads: int) -> None:
        super().__init__()
        self.h = n_heads
        self.qkv = nn.Linear(d, 3 * d, bias=False)
        self.proj = nn.Linear(d, d, bias=False)

    def forward(
        self,
        x: torch.Tensor,
        cos: torch.Tensor,
        sin: torch.Tensor,
        mask: torch.Tensor | None,
        cache: KVCache | None,
        layer: int,
    ) -> torch.Tensor:
        """x (B, T, D) -> (B, T, D). `mask` (B, 1, T, S) bool, or None for plain causal attention. With `cache`,
        this call's keys and values are stored at `cache.length` in `layer` and attention covers the cache."""
        b, t, d = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.h, d // self.h).permute(2, 0, 3, 1, 4)  # each (B, H, T, Dh)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        if cache is not None:
            s0 = cache.length
            cache.k[layer, :, :, s0 : s0 + t] = k
            cache.v[layer, :, :, s0 : s0 + t] = v
            k, v = cache.k[layer, :, :, : s0 + t], cache.v[layer, :, :, : s0 + t]
        if mask is None:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return self.proj(y.transpose(1, 2).reshape(b, t, d))


class Block(nn.Module):
    """Pre-norm transformer block: residual attention, then a residual GELU MLP."""

    def __init__(self, cfg: PriorConfig) -> None:
        super().__init__()
        d = cfg.d_model
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.attn = Attention(d, cfg.n_heads)
        self.mlp = nn.Sequential(nn.Linear(d, cfg.mlp_ratio * d), nn.GELU(), nn.Linear(cfg.mlp_ratio * d, d))

    def forward(
        self,
        x: torch.Tensor,
        cos: torch.Tensor,
        sin: torch.Tensor,
        mask: torch.Tensor | None,
        cache: KVCache | None,
        layer: int,
    ) -> torch.Tensor:
        """x (B, T, D) -> (B, T, D); the other arguments go to `Attention.forward`."""
        x = x + self.attn(self.ln1(x), cos, sin, mask, cache, layer)
        return x + self.mlp(self.ln2(x))


def hex_slots(tokens: torch.Tensor, hex_ids: torch.Tensor) -> torch.Tensor:
    """tokens (B, T) -> (B, T) long: 1-6 for the n-th hex digit after a '#' (a colour #RRGGBB), 0 elsewhere.

    hex_ids (17,): the id of '#' then the ids of the digits 0-f. Slots are counted within `tokens`, so a colour
    must not be split between two forward calls (prefill sends the whole prompt at once).
    """
    t = tokens.shape[1]
    idx = torch.arange(t, device=tokens.device).expand_as(tokens)  # (B, T)
    last_hash = torch.where(tokens == hex_ids[0], idx, torch.full_like(idx, -1)).cummax(dim=1).values
    slot = idx - last_hash  # distance from the last '#'
    is_digit = torch.isin(tokens, hex_ids[1:])
    ok = is_digit & (last_hash >= 0) & (slot <= 6)
    return torch.where(ok, slot, torch.zeros_like(slot))


def layout_counts(tokens: torch.Tensor, img_id: int, lay_lo: int, lay_hi: int, per_object: int) -> torch.Tensor:
    """tokens (B, T) -> (B, T) long: on an <img> and on each layout object token after it, 1 + the number of
    objects its layout has completed up to and including that token (1 on <img>, 2 on the last token of the
    first object, ..., capped at MAX_OBJECTS + 1); 0 elsewhere (text, <lay_end>, codes).

    Layout object tokens are the prior ids [lay_lo, lay_hi) (the layout ids without <lay_end>); each object is
    `per_object` of them. Counts restart at every <img>, and are counted within `tokens`: a layout must not be
    split between two forward calls unless the caller passes the counts (decode.sample_layouts does).
    """
    is_img = tokens == img_id
    is_lay = (tokens >= lay_lo) & (tokens < lay_hi)
    written = is_lay.long().cumsum(dim=1)  # (B, T) layout tokens so far, never decreasing
    # layout tokens written before the last <img> (the cummax of a never-decreasing count taken at each <img>)
    before = torch.where(is_img, written, torch.zeros_like(written)).cummax(dim=1).values
    seen = is_img.long().cummax(dim=1).values.bool()
    n = ((written - before) // per_object).clamp(max=MAX_OBJECTS)
    return torch.where((is_img | is_lay) & seen, 1 + n, torch.zeros_like(n))


class Prior(nn.Module):
    """The decoder-only transformer over interleaved text, size and image tokens, with rotary positions."""

    rope_cos: torch.Tensor  # (max_seq, Dh/2) buffer
    rope_sin: torch.Tensor

    def __init__(self, cfg: PriorConfig, vocab_size: int, rows: torch.Tensor, hex_ids: torch.Tensor,
                 img_id: int | None = None) -> None:
        super().__init__()
        if cfg.d_model % cfg.n_heads:
            raise ValueError(f"d_model {cfg.d_model} is not divisible by n_heads {cfg.n_heads}")
        if hex_ids.shape != (17,):
            raise ValueError(f"hex_ids must be the ids of '#' and the 16 hex digits, got shape {tuple(hex_ids.shape)}")
        if cfg.layout_count and img_id is None:
            raise ValueError("a layout_count prior needs the id of <img>, got None")
        if rows.shape != (vocab_size,):
            raise ValueError(f"embedding rows have shape {tuple(rows.shape)}, expected ({vocab_size},)")
        # rows[id]: the embedding row id reads and writes through (the rows a colour level shares with a hex digit
        # stay in the table, unused, so checkpoints keep one shape). `shared` lists the ids whose row is not their
        # own: their output logits are those of the id whose row they share.
        self.rows: torch.Tensor
        self.shared: torch.Tensor
        self.register_buffer("rows", rows, persistent=False)
        shared = (rows != torch.arange(vocab_size, device=rows.device)).nonzero().flatten()
        self.register_buffer("shared", shared, persistent=False)
        self.hex_ids: torch.Tensor
        self.register_buffer("hex_ids", hex_ids, persistent=False)
        self.cfg = cfg
        self.vocab_size = vocab_size
        # layout_counts' arguments: the <img> id and the prior ids of the layout object tokens (after <lay_end>)
        self.count_ids: tuple[int, int, int, int] | None = None
        if cfg.layout_count and img_id is not None:
            lay_lo = vocab_size - layout_vocab(colour=True)  # layout ids are the vocabulary's last
            self.count_ids = (img_id, lay_lo + END + 1, vocab_size, tokens_per_object(colour=True))
        d = cfg.d_model
        self.tok_emb = nn.Embedding(vocab_size, d)
        self.row_emb = nn.Embedding(cfg.max_grid + 1, d)
        self.col_emb = nn.Embedding(cfg.max_grid + 1, d)
        self.blocks = nn.ModuleList([Block(cfg) for _ in range(cfg.n_layers)])
        self.ln_f = nn.LayerNorm(d)
        cos, sin = rope_tables(cfg.max_seq, d // cfg.n_heads)
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)
        self.apply(self._init)
        # Index 0 (no object) stays exactly zero (padding_idx): obj_pos=None then means the same as zeros.
        self.obj_slot = nn.Embedding(MAX_OBJECTS + 1, d, padding_idx=0)
        self.obj_cls = nn.Embedding(len(OBJECTS) + 1, d, padding_idx=0)
        # At zero a prior converted from one without them (train/upgrade.py) starts exactly as it was.
        nn.init.zeros_(self.obj_slot.weight)
        nn.init.zeros_(self.obj_cls.weight)
        # slot 0 (not a hex digit) stays zero; at zero a converted prior starts exactly as it was
        self.hex_slot = nn.Embedding(7, d, padding_idx=0)
        nn.init.zeros_(self.hex_slot.weight)
        if self.count_ids is not None:
            # count 0 (not a layout token) stays zero; at zero a continued prior starts exactly as it was
            self.lay_count = nn.Embedding(MAX_OBJECTS + 2, d, padding_idx=0)
            nn.init.zeros_(self.lay_count.weight)

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, std=0.02)

    @property
    def head_dim(self) -> int:
        """Width of one attention head: d_model / n_heads."""
        return self.cfg.d_model // self.cfg.n_heads

    def new_cache(self, batch: int, max_len: int) -> KVCache:
        """An empty KVCache for `batch` sequences of up to `max_len` tokens; ValueError beyond max_seq."""
        if max_len > self.cfg.max_seq:
            raise ValueError(f"sequence length {max_len} exceeds max_seq {self.cfg.max_seq}")
        return KVCache.empty(self.cfg.n_layers, batch, self.cfg.n_heads, max_len, self.head_dim,
                             device=self.tok_emb.weight.device)

    def forward(
        self,
        tokens: torch.Tensor,
        grid_pos: torch.Tensor,
        pos_ids: torch.Tensor | None = None,
        key_valid: torch.Tensor | None = None,
        cache: KVCache | None = None,
        obj_pos: torch.Tensor | None = None,
        lay_count: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """tokens (B, T), grid_pos (B, T, 2) -> logits (B, T, V).

        obj_pos (B, T, 2), layout prior only: (slot + 1, class + 1) of the planned object covering the cell of
        the code that follows each token, 0 for none (default: none anywhere).

        lay_count (B, T), layout_count prior only: layout_counts of each token (default: counted within `tokens`
        when T > 1; none on a one-token call, which the layout sampler gives explicitly).

        pos_ids (B, T): rotary positions (default: cache.length + arange(T)).
        key_valid (B, T): False for left-padding keys (batched prompts of different lengths).
        With a cache, keys/values are appended to it and `cache.length` advances by T.
        """
        b, t = tokens.shape
        start = cache.length if cache is not None else 0
        if pos_ids is None:
            pos_ids = (start + torch.arange(t, device=tokens.device)).unsqueeze(0).expand(b, t)
        if int(pos_ids.max()) >= self.cfg.max_seq:
            raise ValueError(f"position {int(pos_ids.max())} exceeds max_seq {self.cfg.max_seq}")
        ids = self.rows[tokens]
        x = self.tok_emb(ids) + self.row_emb(grid_pos[..., 0]) + self.col_emb(grid_pos[..., 1])  # (B, T, D)
        if obj_pos is not None:
            x = x + self.obj_slot(obj_pos[..., 0]) + self.obj_cls(obj_pos[..., 1])
        if t > 1:
            # a lone token is never a slotted digit (its '#' went in an earlier call): the one-token decode steps
            # of the token loop skip this
            x = x + self.hex_slot(hex_slots(tokens, self.hex_ids))
        if self.count_ids is not None and (lay_count is not None or t > 1):
            x = x + self.lay_count(layout_counts(tokens, *self.count_ids) if lay_count is None else lay_count)
        cos = self.rope_cos[pos_ids].unsqueeze(1)  # (B, 1, T, Dh/2)
        sin = self.rope_sin[pos_ids].unsqueeze(1)
        mask = None
        if cache is not None or key_valid is not None:
            total = start + t
            if cache is not None:
                if key_valid is not None:
                    cache.key_valid[:, start:total] = key_valid
                else:
                    cache.key_valid[:, start:total] = True
                kv = cache.key_valid[:, :total]  # (B, S)
            else:
                assert key_valid is not None
                kv = key_valid
            dev = tokens.device
            causal = torch.ones(t, total, dtype=torch.bool, device=dev).tril(diagonal=start)  # (T, S)
            mask = causal[None, None] & kv[:, None, None, :]  # (B, 1, T, S)
            # A fully masked row (a padding query) would give NaN; let it see itself.
            eye = torch.zeros(t, total, dtype=torch.bool, device=dev)
            eye[torch.arange(t, device=dev), start + torch.arange(t, device=dev)] = True
            mask = mask | eye[None, None]
        for i, blk in enumerate(self.blocks):
            x = blk(x, cos, sin, mask, cache, i)
        if cache is not None:
            cache.length += t
        # Output layer tied to the input embedding: at small d it would dominate the parameter count.
        logits = F.linear(self.ln_f(x), self.tok_emb.weight)  # (B, T, V)
        # an id that shares a row scores as that row does: a copy of a few columns, not of the (V, D) table
        return logits.index_copy(-1, self.shared, logits.index_select(-1, self.rows[self.shared]))
