"""How much does the prior use the prompt? Teacher-forced probes of a checkpoint, no sampling.

Every probe compares the prior with the prompt and with the prompt dropped (the CFG unconditional prefix)
on fresh data-engine scenes (never held-out prompts), so the difference is what the text is worth:

1. Background colour: scenes whose prompt names a non-white background. At the first image token, the
   probability mass on codes of the true background colour (RGB digits of the FSQ code within one level:
   the data engine shades a named colour, so the exact code varies while the colour does not).
2. Object colour: white-background scenes of one tag (default `colors`, whose prompts name the colour). At
   the first token that is clearly not background (the object has begun), the share of the non-background
   mass on codes of the true colour. Chance is the share an uninformed prior gives (the unconditional row).
3. Conditioning gap: the mean image-token cross-entropy of whole sequences, in nats per token; for a layout
   prior (limner/model/layout.py) also the layout tokens' (which objects, where, how large).

Probes 1 and 2 read the colour from the code's first three FSQ digits, which the tokenizer's colour path
initialises as the patch's R, G and B (see limner/model/image_tokenizer.py). All run in seconds.

Run: .venv/bin/python bench/prior_binding.py [CHECKPOINT] [--scenes 64] [--tag colors] [--batches 3]
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

import torch
import torch.nn.functional as F

from limner.data.sampler import SAMPLERS, Example, sample, sample_mix
from limner.engine.generator import default_checkpoint
from limner.evals.fresh import heldout_exclusions
from limner.model.layout import scene_layout
from limner.model.sequence import build_training_sequences
from limner.train.batches import SceneBatcher, example_tensors
from limner.train.run import build_prior_stage
from limner.train.stages import PriorStage

SIZE = (256, 256)


def code_rgb(stage: PriorStage) -> torch.Tensor:
    """(K, 3) the first three FSQ digits (R, G, B levels) of every code index (mixed radix, first digit lowest)."""
    levels = stage.cfg.tokenizer.levels
    rem = torch.arange(stage.cfg.tokenizer.codebook_size)
    digits = []
    for lv in levels[:3]:
        digits.append(rem % lv)
        rem = rem // lv
    return torch.stack(digits, 1)


def scenes(pick: str, n: int, seed: int) -> list[Example]:
    """`n` 256x256 data-engine examples: 'background' = any tag with a named non-white background, else one tag
    on white. Held-out prompts are skipped."""
    rng, held, out = random.Random(seed), heldout_exclusions(), []
    while len(out) < n:
        e = sample_mix(rng) if pick == "background" else sample(pick, rng)
        bg = str(e.scene.background)
        if (e.scene.width, e.scene.height) != SIZE or e.prompt in held:
            continue
        if (pick == "background") == (bg in ("white", "transparent") or bg.startswith("#")):
            continue
        out.append(e)
    return out


@torch.no_grad()
def teacher_forced(stage: PriorStage, exs: list[Example], drop: bool) -> tuple[torch.Tensor, torch.Tensor, int]:
    """(image-code probabilities (B, T-1, K) for each next position, codes (B, h*w), index of the first image
    token in the sequence)."""
    imgs = torch.stack([torch.from_numpy(example_tensors(e)[0]) for e in exs])
    _, idx = stage.frozen[0].encode(imgs)  # (B, h, w)
    seq = build_training_sequences(stage.text, [e.prompt for e in exs], idx, SIZE, [drop] * len(exs),
                                   stage.cfg.prior.max_text_tokens, unk_prob=0.0, rng=random.Random(0),
                                   layouts=[scene_layout(e.scene) for e in exs], layout_offset=stage.layout_offset,
                                   layout_colour=True)
    obj = seq.obj_pos[:, :-1] if seq.obj_pos is not None else None
    logits = stage.prior(seq.tokens[:, :-1], seq.grid_pos[:, :-1], obj_pos=obj)  # (B, T-1, V)
    v = stage.text.vocab_size
    probs = logits[..., v : v + stage.cfg.tokenizer.codebook_size].softmax(-1)  # (B, T-1, K): image codes
    return probs, idx.flatten(1), seq.is_image.float().argmax(1)


def near(rgb: torch.Tensor, code: int) -> torch.Tensor:
    """(K,) bool: codes whose R, G and B levels are each within one of `code`'s."""
    return (rgb - rgb[code]).abs().max(1).values <= 1


def background_colour(stage: PriorStage, exs: list[Example]) -> dict[str, float]:
    """Mean probability mass on the true background colour at the first image token."""
    rgb, out = code_rgb(stage), {}
    for name, drop in (("with prompt", False), ("without", True)):
        probs, codes, first = teacher_forced(stage, exs, drop)
        vals = [float(probs[i, int(first[i]) - 1][near(rgb, int(codes[i, 0]))].sum()) for i in range(len(exs))]
        out[name] = sum(vals) / len(vals)
    return out


def object_colour(stage: PriorStage, exs: list[Example]) -> dict[str, float]:
    """Mean share of the non-background mass on the object's true colour, at its first clearly coloured token."""
    rgb, out = code_rgb(stage), {}
    for name, drop in (("with prompt", False), ("without", True)):
        probs, codes, first = teacher_forced(stage, exs, drop)
        vals = []
        for i in range(len(exs)):
            bg = int(codes[i, 0])
            away = ((rgb[codes[i]] - rgb[bg]).abs().max(1).values >= 2).nonzero()  # tokens clearly not background
            if not len(away):
                continue
            j = int(away[0])
            p = probs[i, int(first[i]) + j - 1]  # (K,) the prediction of that token
            not_bg = ~near(rgb, bg)
            vals.append(float(p[near(rgb, int(codes[i, j])) & not_bg].sum() / p[not_bg].sum().clamp_min(1e-9)))
        out[name] = sum(vals) / max(1, len(vals))
    return out


@torch.no_grad()
def conditioning_gap(stage: PriorStage, batches: int, seed: int = 1) -> tuple[float, float, float, float]:
    """Mean image-token CE and layout-token CE (nats) with and without the prompt on fresh data-engine batches:
    (image with, image without, layout with, layout without); the layout ones are 0 for a prior without layouts."""
    data = SceneBatcher(8, seed, exclude=heldout_exclusions())
    sums = [0.0, 0.0, 0.0, 0.0]
    for _ in range(batches):
        batch = next(data)
        _, idx = stage.frozen[0].encode(batch.images)
        for k, drop in enumerate((False, True)):
            seq = build_training_sequences(stage.text, batch.prompts, idx, batch.size, [drop] * len(batch.prompts),
                                           stage.cfg.prior.max_text_tokens, unk_prob=0.0, rng=random.Random(0),
                                           layouts=batch.layouts, layout_offset=stage.layout_offset,
                                           layout_colour=True)
            obj = seq.obj_pos[:, :-1] if seq.obj_pos is not None else None
            logits = stage.prior(seq.tokens[:, :-1], seq.grid_pos[:, :-1], obj_pos=obj)  # (B, T-1, V)
            target = seq.tokens[:, 1:].clone()
            target[~seq.loss_mask[:, 1:]] = -100
            ce = F.cross_entropy(logits.transpose(1, 2), target, reduction="none")  # (B, T-1)
            sums[k] += float(ce[seq.is_image[:, 1:] & (target != -100)].mean())
            if seq.is_layout is not None and seq.is_layout.any():
                sums[2 + k] += float(ce[seq.is_layout[:, 1:] & (target != -100)].mean())
    return sums[0] / batches, sums[1] / batches, sums[2] / batches, sums[3] / batches


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("checkpoint", nargs="?", type=Path, default=None, help="default: the shipped model")
    p.add_argument("--scenes", type=int, default=64, help="scenes per colour probe (default 64)")
    p.add_argument("--tag", default="colors", help="data-engine tag of the object-colour probe (default colors)")
    p.add_argument("--batches", type=int, default=3, help="data-engine batches of 8 for the conditioning gap")
    a = p.parse_args()
    if a.batches < 1 or a.scenes < 1:
        p.error(f"--batches and --scenes must be >= 1, got {a.batches} and {a.scenes}")
    if a.tag not in SAMPLERS:
        p.error(f"unknown --tag {a.tag!r}: expected one of {sorted(SAMPLERS)}")
    torch.manual_seed(0)
    ckpt = str(a.checkpoint or default_checkpoint())
    _, stage = build_prior_stage(ckpt, ckpt, seed=0)
    stage.eval()
    print(f"checkpoint: {ckpt}")
    bg = background_colour(stage, scenes("background", a.scenes, seed=11))
    print(f"1. background colour, mass on the true colour at the first image token ({a.scenes} scenes): "
          f"with prompt {bg['with prompt']:.3f}, without {bg['without']:.3f}")
    ob = object_colour(stage, scenes(a.tag, a.scenes, seed=12))
    print(f"2. object colour ({a.tag}), share of non-background mass on the true colour as the object begins: "
          f"with prompt {ob['with prompt']:.3f}, without {ob['without']:.3f}")
    cond, uncond, lay, lay_un = conditioning_gap(stage, a.batches)
    print(f"3. image-token CE with prompt {cond:.4f}, without {uncond:.4f}: the prompt is worth {uncond - cond:.4f} "
          f"nats/token ({(uncond - cond) / uncond:.1%})")
    if stage.layout_offset is not None:
        print(f"   layout-token CE with prompt {lay:.4f}, without {lay_un:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
