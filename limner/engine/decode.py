"""Autoregressive sampling of image tokens with a KV cache: prefill once, then one token a step.

Batched: B prompts (left-padded to one length) are sampled together; with classifier-free
guidance the batch is doubled with the unconditional prefixes. A progress callback sees the
partial token grid after every token, which is what streaming previews decode.

The prior (model/layout.py) first writes each image's layout, constrained to the layout
grammar; samples whose layout ends early feed padding (invisible keys, no position advance) until
every layout has ended, then all draw the code grid together.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from limner.engine.layout_check import pick_layout
from limner.engine.sampling import cfg_logits, near_codes, sample_from_logits, sample_with_repeat
from limner.model.layout import (
    C0,
    END,
    MAX_OBJECTS,
    Layout,
    allowed,
    cell_objects,
    decode_layout,
    encode_layout,
    max_layout_tokens,
    tokens_per_object,
)
from limner.model.native import NativeModel
from limner.model.paint import first_free_cell, planned_colours
from limner.model.sequence import image_grid_pos, prompt_prefix

# progress(done_tokens, total_tokens, codes (B, h*w) with -1 where not yet sampled)
TokenProgress = Callable[[int, int, torch.Tensor], None]


DECODER_LAYOUTS = ("full", "geometry", "none")


@dataclass
class SamplingParams:
    """How codes and pixels are sampled: the prior's temperature (0: greedy), top-k (0: off), top-p
    (1: off) and CFG scale (1: off), and the decoder's steps and starting noise."""

    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    # CFG 3 with novel_temperature 0.5 measured best for the layout model on the tuning prompts
    # (bench/sampling_sweep.py, 27-36 prompts x 2, three runs): overall 0.23-0.29 against 0.14-0.19 at CFG 2 and
    # 0.17-0.23 at CFG 4-5, though text exact fell 0.50 -> 0.25-0.33.
    cfg_scale: float = 3.0
    decoder_steps: int | None = None  # None: the checkpoint's default
    # Starting-noise scale of the diffusion decoder. 0 (deterministic) measured cleanest on the shipped
    # decoder: at 1.0 its 4 Euler steps left coloured specks on flat backgrounds (bench/sampling_sweep.py).
    decoder_noise: float = 0.0
    # When set, a code that differs from the one before it is drawn at this temperature, while the decision
    # to change at all stays at `temperature` (sampling.sample_with_repeat); None: one temperature for all.
    novel_temperature: float | None = 0.5
    # Temperature of the layout tokens (0: greedy); None: `temperature`. None (1.0) measured at least
    # as well as 0.5: layouts matching their prompts' objects 0.982 against 0.964 (bench/layout_accuracy.py), and
    # overall 0.292 against 0.229 on the tuning prompts (noise-level).
    layout_temperature: float | None = None
    # Temperature of the layout's colour tokens (R, G, B of each object); None: the layout temperature.
    colour_temperature: float | None = None
    # Paint mode, opt-in and assisted (model/paint.py): a fresh image with a layout
    # and no text is decoded from its layout over one background code, its objects moved, shrunk and separated by
    # code and its layers composited. Off by default: the default pixel path is the decoder reading the codes and
    # layout the transformer wrote, and no figure of record comes from paint mode (outputs say 'pixel path: paint').
    paint: bool = False
    # What of the prior's layout the decoder reads (the ablation of limner eval generation): "full" (classes,
    # geometry and the colours the prior wrote), "geometry" (no colours) or "none" (an empty map: the decoder
    # reads the image codes alone). Paint mode always reads it whole.
    decoder_layout: str = "full"
    # Layouts drawn per fresh image, the first plausible one kept (engine/layout_check.py: objects apart and on
    # the canvas); 1 is plain sampling.
    layout_tries: int = 4

    def validate(self) -> None:
        """ValueError naming the first field out of range (temperature, top_k, top_p, cfg_scale or decoder_noise)."""
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if self.top_k < 0:
            raise ValueError(f"top_k must be >= 0 (0: off), got {self.top_k}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.cfg_scale < 0:
            raise ValueError(f"cfg_scale must be >= 0, got {self.cfg_scale}")
        if self.layout_temperature is not None and self.layout_temperature < 0:
            raise ValueError(f"layout_temperature must be >= 0, got {self.layout_temperature}")
        if self.colour_temperature is not None and self.colour_temperature < 0:
            raise ValueError(f"colour_temperature must be >= 0, got {self.colour_temperature}")
        if self.novel_temperature is not None and self.novel_temperature < 0:
            raise ValueError(f"novel_temperature must be >= 0, got {self.novel_temperature}")
        if not 0 <= self.decoder_noise <= 2:
            raise ValueError(f"decoder_noise must be in [0, 2], got {self.decoder_noise}")
        if not 1 <= self.layout_tries <= 16:
            raise ValueError(f"layout_tries must be between 1 and 16, got {self.layout_tries}")
        if self.decoder_layout not in DECODER_LAYOUTS:
            raise ValueError(f"decoder_layout must be one of {DECODER_LAYOUTS}, got {self.decoder_layout!r}")


def left_pad(seqs: list[list[int]], pad: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Left-pad to one length: (tokens (B, T), key_valid (B, T), rotary positions (B, T))."""
    t = max(len(s) for s in seqs)
    tokens = torch.full((len(seqs), t), pad, dtype=torch.long)
    valid = torch.zeros((len(seqs), t), dtype=torch.bool)
    for i, s in enumerate(seqs):
        tokens[i, t - len(s) :] = torch.tensor(s)
        valid[i, t - len(s) :] = True
    pos = (valid.long().cumsum(1) - 1).clamp(min=0)
    return tokens, valid, pos


def prior_logits(model: NativeModel, tokens: torch.Tensor, grid: torch.Tensor, **kw: object) -> torch.Tensor:
    """The prior's last-position logits (B, V), float32 on the CPU, for inputs given on the CPU.

    The prior and its KV cache sit on the model's device; the sampler's bookkeeping (codes, layouts, which rows
    are done) and its random draws stay on the CPU, so a seed draws the same tokens whatever runs the prior; only
    the step's inputs and its last logits cross."""
    dev = model.device
    moved = {k: v.to(dev) if isinstance(v, torch.Tensor) else v for k, v in kw.items()}
    return model.prior(tokens.to(dev), grid.to(dev), **moved)[:, -1].float().cpu()


def prefill(
    model: NativeModel, seqs: list[list[int]], extra: int, last_obj: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor, object]:
    """Run the text prefixes (grid position (0, 0)) through the prior, with room for `extra` more tokens in the
    cache; returns (last logits (B, V), next positions (B,), cache). `last_obj` (B, 2): the object of the
    first code cell, on the last token (a given layout's <lay_end>)."""
    tokens, valid, pos = left_pad(seqs, model.text.id("<pad>"))
    cache = model.prior.new_cache(len(seqs), tokens.shape[1] + extra)
    grid = torch.zeros((*tokens.shape, 2), dtype=torch.long)
    obj = None
    if last_obj is not None:
        obj = torch.zeros_like(grid)
        obj[:, -1] = last_obj
    logits = prior_logits(model, tokens, grid, pos_ids=pos, key_valid=valid, cache=cache, obj_pos=obj)
    return logits, pos[:, -1] + 1, cache


@dataclass
class Sampled:
    """What the prior drew: codes (B, rows, cols) and each image's layout."""

    codes: torch.Tensor
    layouts: list[Layout] | None = None


def sample_layouts(
    model: NativeModel,
    logits: torch.Tensor,
    next_pos: torch.Tensor,
    cache: object,
    params: SamplingParams,
    b: int,
    generator: torch.Generator | None,
    grid: tuple[int, int],
) -> tuple[list[Layout], torch.Tensor, torch.Tensor]:
    """Draw a layout for each of `b` images after the prefill; logits (B or 2B, V) and next_pos (B or 2B,) are
    the prefill's, `grid` the (rows, cols) of the code grid that follows. Returns (layouts, the logits that
    follow each layout's <lay_end>, the next positions).

    Every sample is at the same grammar step (they start together), so one allowed range serves them all.
    A finished sample feeds <pad> as an invisible key at an unchanged position, and keeps the logits of
    its own <lay_end>, which is fed with the object of the first code cell (layout.cell_objects)."""
    off = model.layout_offset
    rows = logits.shape[0]
    reps = rows // b  # 2 with CFG: the unconditional rows follow the same layout
    pad = model.text.id("<pad>")
    ids: list[list[int]] = [[] for _ in range(b)]
    done = torch.zeros(b, dtype=torch.bool)
    final = logits.clone()
    temp = params.temperature if params.layout_temperature is None else params.layout_temperature
    colour_temp = temp if params.colour_temperature is None else params.colour_temperature
    colour = True  # every prior writes its objects' colours
    for step in range(max_layout_tokens(colour)):
        lo, hi = allowed(step, colour)
        lg = logits[:, off + lo : off + hi]
        if reps == 2:
            lg = cfg_logits(lg[:b], lg[b:], params.cfg_scale)
        t = colour_temp if lo == C0 else temp
        tok = lo + sample_from_logits(lg, t, 0, 1.0, generator)  # (B,) local ids
        active = ~done
        obj = torch.zeros(b, 2, dtype=torch.long)  # (B, 2): the first cell's object, on a <lay_end>
        for i in active.nonzero().flatten().tolist():
            ids[i].append(int(tok[i]))
            if int(tok[i]) == END:
                obj[i] = cell_objects(decode_layout(ids[i], colour), *grid)[0]
        done = done | (active & (tok == END))
        row_active = active.repeat(reps)  # (rows,)
        inp = torch.where(row_active, (tok + off).repeat(reps), torch.full_like(row_active, pad, dtype=torch.long))
        gpos = torch.zeros(rows, 1, 2, dtype=torch.long)
        # the object count on the token just drawn (prior.layout_counts; ignored by a prior without it): every
        # row is at this grammar step, and <lay_end> or <pad> carries none
        count = torch.where(inp - off > END, 1 + min((step + 1) // tokens_per_object(colour), MAX_OBJECTS), 0)
        logits = prior_logits(model, inp[:, None], gpos, pos_ids=next_pos[:, None], key_valid=row_active[:, None],
                              cache=cache, obj_pos=obj.repeat(reps, 1)[:, None], lay_count=count[:, None])
        final[row_active] = logits[row_active]
        next_pos = next_pos + row_active.long()
        if bool(done.all()):
            break
    return [decode_layout(x, colour) for x in ids], final, next_pos


def draw_layouts(
    model: NativeModel, prompts: list[str], size: tuple[int, int], params: SamplingParams,
    generator: torch.Generator | None, tries: int,
) -> list[Layout]:
    """`tries` layouts for each prompt, drawn in one batch (B * tries rows, doubled for CFG), and for each prompt
    the first that layout_check passes (else the least implausible): the layouts the codes then follow."""
    rows, cols = model.grid(size)
    text, max_text = model.text, model.config.prior.max_text_tokens
    seqs = [prompt_prefix(text, p, size, max_text) for p in prompts for _ in range(tries)]
    if params.cfg_scale != 1.0:
        seqs += [prompt_prefix(text, "", size, max_text, drop_text=True) for _ in range(len(seqs))]
    logits, next_pos, cache = prefill(model, seqs, max_layout_tokens(True))
    drawn, _, _ = sample_layouts(model, logits, next_pos, cache, params, len(prompts) * tries, generator,
                                 (rows, cols))
    return [pick_layout(drawn[i * tries : (i + 1) * tries], size) for i in range(len(prompts))]


def free_span(keep: torch.Tensor) -> tuple[int, int]:
    """[start, stop) of the code positions any row samples (keep < 0); (0, 0) when none does.

    Codes before `start` are all kept, so they go into the prefill in one pass; codes from `stop` on are
    kept too and need no prior pass at all: an edit costs the span of its region, not the whole grid."""
    free = (keep < 0).any(0).nonzero()
    if not len(free):
        return 0, 0
    return int(free[0]), int(free[-1]) + 1


def prefixes(model: NativeModel, prompts: list[str], size: tuple[int, int], use_cfg: bool,
             layouts: list[Layout] | None) -> list[list[int]]:
    """Token prefixes of the batch: one per prompt, then (with CFG) as many unconditional ones; a given
    layout per prompt is appended to its prefixes, the unconditional rows' too (they follow the same plan)."""
    text, max_text = model.text, model.config.prior.max_text_tokens
    seqs = [prompt_prefix(text, p, size, max_text) for p in prompts]
    if use_cfg:
        seqs += [prompt_prefix(text, "", size, max_text, drop_text=True) for _ in prompts]
    if layouts is not None:
        off = model.layout_offset
        if len(layouts) != len(prompts):
            raise ValueError(f"{len(layouts)} layouts for {len(prompts)} prompts")
        forced = [[t + off for t in encode_layout(lay, True)] for lay in layouts]
        seqs = [s + forced[j % len(prompts)] for j, s in enumerate(seqs)]
    return seqs


def kept_codes(fixed: torch.Tensor | None, b: int, rows: int, cols: int
               ) -> tuple[torch.Tensor, torch.Tensor | None, int, int]:
    """(codes (B, n) with the kept ones filled and -1 elsewhere, keep (B, n) or None, start, stop): the codes
    in [start, stop) are sampled, the rest copied from `fixed` (see `free_span`)."""
    n = rows * cols
    codes = torch.full((b, n), -1, dtype=torch.long)
    if fixed is None:
        return codes, None, 0, n
    if fixed.shape != (b, rows, cols):
        raise ValueError(f"fixed codes have shape {tuple(fixed.shape)}, expected {(b, rows, cols)}")
    keep = fixed.reshape(b, n)
    start, stop = free_span(keep)
    codes[:, :start] = keep[:, :start]
    codes[:, stop:] = keep[:, stop:]
    return codes, keep, start, stop


def planned_cells(layouts: list[Layout] | None, rows: int, cols: int, reps: int, b: int) -> torch.Tensor:
    """(B * reps, n + 1, 2): [:, j] the object of code cell j, read by the token before code j; a zero row past
    the end, and zeros everywhere without layouts."""
    n = rows * cols
    cells = torch.zeros(b * reps, n + 1, 2, dtype=torch.long)
    if layouts is not None:
        cells[:, :n] = torch.stack([cell_objects(lay, rows, cols) for lay in layouts]).repeat(reps, 1, 1)
    return cells


def paint_stops(paint_rows: list[bool] | None, layouts: list[Layout] | None, b: int, rows: int,
                cols: int) -> torch.Tensor:
    """(B,) for each image the cell whose code is its background when it is painted from planned colours
    (model/paint.py), and n when it needs its whole grid."""
    first_free = torch.full((b,), rows * cols, dtype=torch.long)
    if paint_rows is not None and layouts is not None:
        for r, (p, lay) in enumerate(zip(paint_rows, layouts, strict=True)):
            if p and planned_colours(lay):
                first_free[r] = first_free_cell(lay, rows, cols)
    return first_free


def fill_painted(codes: torch.Tensor, first_free: torch.Tensor) -> torch.Tensor:
    """codes (B, n) with every code after a painted image's background cell set to that cell's code."""
    painted = first_free < codes.shape[1]
    if not bool(painted.any()):
        return codes
    out = codes.clone()
    bgc = out[painted, first_free[painted]]  # (P,)
    after = torch.arange(codes.shape[1])[None, :] > first_free[painted][:, None]  # (P, n)
    out[painted] = torch.where(after, bgc[:, None], out[painted])
    return out


def next_code(logits: torch.Tensor, prev: torch.Tensor | None, keep: torch.Tensor | None, params: SamplingParams,
              digits: torch.Tensor | None, b: int, generator: torch.Generator | None) -> torch.Tensor:
    """(B,) the next image code from the image-code logits (B or 2B, K): guided with CFG when the batch is
    doubled, drawn continue-or-change against `prev` (B,) when `digits` (K, D) is given, and the kept code
    wherever `keep` (B,) is >= 0."""
    if logits.shape[0] == 2 * b:
        logits = cfg_logits(logits[:b], logits[b:], params.cfg_scale)
    if digits is not None and prev is not None:
        near = near_codes(digits, prev.clamp(min=0))  # (B, K)
        tok = sample_with_repeat(logits, near, params.temperature, params.novel_temperature or 0.0,
                                 params.top_k, params.top_p, generator)
    else:
        tok = sample_from_logits(logits, params.temperature, params.top_k, params.top_p, generator)  # (B,)
    if keep is not None:
        tok = torch.where(keep >= 0, keep, tok)
    return tok


def feed_codes(model: NativeModel, codes: torch.Tensor, first: int, next_pos: torch.Tensor, cache: object,
               cells: torch.Tensor, gp: torch.Tensor, reps: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Feed codes (B, m) of grid cells first .. first + m - 1 (their grid positions `gp` (n, 2)) to the prior
    in one pass; returns (the logits after the last (B * reps, V), the next positions)."""
    m = codes.shape[1]
    inp = (codes + model.text.vocab_size).repeat(reps, 1)  # (B or 2B, m)
    grid = gp[first : first + m].unsqueeze(0).expand(inp.shape[0], -1, -1)  # (B or 2B, m, 2)
    pos = next_pos[:, None] + torch.arange(m)[None]
    logits = prior_logits(model, inp, grid, pos_ids=pos, cache=cache, obj_pos=cells[:, first + 1 : first + m + 1])
    return logits, next_pos + m


@torch.no_grad()
def sample_tokens(
    model: NativeModel,
    prompts: list[str],
    size: tuple[int, int],
    params: SamplingParams,
    generator: torch.Generator | None = None,
    progress: TokenProgress | None = None,
    fixed: torch.Tensor | None = None,
    layouts: list[Layout] | None = None,
    paint_rows: list[bool] | None = None,
) -> Sampled:
    """Sample image codes (B, rows, cols) for `prompts` at output `size` (W, H), after their layouts.

    `fixed` (B, rows, cols), optional: codes >= 0 are kept (teacher-forced into the sequence, as if the
    model had drawn them), -1 marks the codes to sample. This is how an edit resamples only the tokens
    of the region it changes while the rest of the earlier image stays in context. `layouts`, optional
    (one per prompt): teacher-forced the same way instead of sampled, for an edit
    whose objects are already known.

    `paint_rows` (one per prompt): the images the caller will paint (model/paint.py) if their layout has
    objects with planned colours (a colour prior's). Of such an image only the background code is used, so its
    codes stop at its first cell no object covers, and the rest are filled with that code; when every image
    is such, the grid is not sampled further (a paint image costs its layout and one or a few codes)."""
    params.validate()
    rows, cols = model.grid(size)
    n, b = rows * cols, len(prompts)
    use_cfg = params.cfg_scale != 1.0
    reps = 2 if use_cfg else 1
    gp = image_grid_pos(rows, cols)  # (n, 2)
    codes, keep, start, stop = kept_codes(fixed, b, rows, cols)
    if layouts is None and keep is None and params.layout_tries > 1:
        layouts = draw_layouts(model, prompts, size, params, generator, params.layout_tries)
    seqs = prefixes(model, prompts, size, use_cfg, layouts)
    sample_layout = layouts is None
    if keep is not None and stop == 0 and not sample_layout:  # nothing to sample
        return Sampled(keep.clone().view(b, rows, cols), layouts)
    cells = planned_cells(layouts, rows, cols, reps, b)  # a given layout's <lay_end> carries cell 0's object
    extra = max_layout_tokens(True) if sample_layout else 0
    logits, next_pos, cache = prefill(model, seqs, n + extra, cells[:, 0] if layouts is not None else None)
    if sample_layout:
        layouts, logits, next_pos = sample_layouts(model, logits, next_pos, cache, params, b, generator,
                                                   (rows, cols))
        if keep is not None and stop == 0:
            return Sampled(keep.clone().view(b, rows, cols), layouts)
        cells = planned_cells(layouts, rows, cols, reps, b)
    if start:  # the kept codes before the first resampled one, in one pass
        assert keep is not None
        logits, next_pos = feed_codes(model, keep[:, :start], 0, next_pos, cache, cells, gp, reps)
    offset, k = model.text.vocab_size, model.config.tokenizer.codebook_size
    digits = None  # (K, D): every code's FSQ levels, for continue-or-change sampling
    if params.novel_temperature is not None:
        digits = model.tokenizer.fsq.digits(torch.arange(k, device=model.device)).cpu()
    first_free = paint_stops(paint_rows, layouts if keep is None else None, b, rows, cols)
    for i in range(start, stop):
        # only image codes may follow <img> (or <lay_end>)
        tok = next_code(logits[:, offset : offset + k], codes[:, i - 1] if i > 0 else None,
                        keep[:, i] if keep is not None else None, params, digits, b, generator)
        codes[:, i] = tok
        if progress is not None:
            progress(i + 1, n, codes)
        if i == stop - 1 or bool((first_free <= i).all()):
            break
        logits, next_pos = feed_codes(model, tok[:, None], i, next_pos, cache, cells, gp, reps)
    if bool((first_free < n).any()):  # the rest of a painted image's grid is its background code
        codes = fill_painted(codes, first_free)
        if progress is not None:
            progress(n, n, codes)
    return Sampled(codes.view(b, rows, cols), layouts)


def fill_partial(codes: torch.Tensor) -> torch.Tensor:
    """Replace not-yet-sampled codes (-1) by the first code of their row-major image (usually background)."""
    out = codes.clone()
    first = out[:, :1].clamp(min=0).expand_as(out)
    return torch.where(out < 0, first, out)
