"""How much does the prior use the prompt? Two teacher-forced probes of a checkpoint, no sampling.

1. Background binding: for "a star on a X background" (12 named colours), the probability the prior gives
   the true first image token (the background's code, from the checkpoint's own tokenizer). A prior that
   reads the colour word puts most of its mass there; one that does not spreads it over every colour.
2. Conditioning gap: the image-token cross-entropy of fresh data-engine batches with the prompt and with
   the prompt dropped (the CFG unconditional prefix). The gap is what the text is worth, in nats per token.

Both are cheap (seconds) and track the model's main failure: it draws shapes, but not the ones asked for.

Run: .venv/bin/python bench/prior_binding.py [CHECKPOINT] [--batches 3]
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

import torch
import torch.nn.functional as F

from limner.data.batches import SceneBatcher
from limner.data.scene import Scene, SceneObject, render, to_array
from limner.engine.generator import default_checkpoint
from limner.model.sequence import build_training_sequences, prompt_prefix
from limner.train.run import build_prior_stage, heldout_exclusions
from limner.train.stages import PriorStage

COLOURS = ("red", "orange", "yellow", "green", "blue", "purple", "pink", "brown", "black", "white", "gray", "cyan")


@torch.no_grad()
def background_binding(stage: PriorStage) -> dict[str, float]:
    """p(true first image token) for each named background colour."""
    tok, text = stage.frozen[0], stage.text
    out: dict[str, float] = {}
    for colour in COLOURS:
        star = "red" if colour == "white" else "white"
        img = torch.from_numpy(to_array(render(Scene(256, 256, colour, [SceneObject("star", star)]))))[None]
        first = int(tok.encode(img)[1][0, 0, 0])  # the top-left token: background only
        pre = prompt_prefix(text, f"a star on a {colour} background", (256, 256), stage.cfg.prior.max_text_tokens)
        logits = stage.prior(torch.tensor([pre]), torch.zeros(1, len(pre), 2, dtype=torch.long))[0, -1]
        out[colour] = float(logits[text.vocab_size :].softmax(-1)[first])
    return out


@torch.no_grad()
def conditioning_gap(stage: PriorStage, batches: int, seed: int = 1) -> tuple[float, float]:
    """Mean image-token CE (nats) with and without the prompt on fresh data-engine batches."""
    data = SceneBatcher(8, seed, exclude=heldout_exclusions())
    sums = [0.0, 0.0]
    for _ in range(batches):
        batch = next(data)
        _, idx = stage.frozen[0].encode(batch.images)
        for k, drop in enumerate((False, True)):
            seq = build_training_sequences(stage.text, batch.prompts, idx, batch.size, [drop] * len(batch.prompts),
                                           stage.cfg.prior.max_text_tokens, unk_prob=0.0, rng=random.Random(0))
            logits = stage.prior(seq.tokens[:, :-1], seq.grid_pos[:, :-1])  # (B, T-1, V)
            target = seq.tokens[:, 1:].clone()
            target[~seq.loss_mask[:, 1:]] = -100
            ce = F.cross_entropy(logits.transpose(1, 2), target, reduction="none")  # (B, T-1)
            sums[k] += float(ce[seq.is_image[:, 1:] & (target != -100)].mean())
    return sums[0] / batches, sums[1] / batches


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("checkpoint", nargs="?", type=Path, default=None, help="default: the shipped model")
    p.add_argument("--batches", type=int, default=3, help="data-engine batches of 8 for the conditioning gap")
    a = p.parse_args()
    if a.batches < 1:
        p.error(f"--batches must be >= 1, got {a.batches}")
    torch.manual_seed(0)
    ckpt = str(a.checkpoint or default_checkpoint())
    _, stage = build_prior_stage(ckpt, ckpt, seed=0)
    stage.eval()
    bind = background_binding(stage)
    chance = 1.0 / len(COLOURS)
    print(f"checkpoint: {ckpt}")
    print(f"background binding, p(true first token) per colour (chance among the 12 colours ~{chance:.2f}):")
    print("  " + "  ".join(f"{c} {v:.2f}" for c, v in bind.items()))
    coloured = [v for c, v in bind.items() if c != "white"]
    print(f"  mean over the 11 non-white colours: {sum(coloured) / len(coloured):.3f}; white: {bind['white']:.3f}")
    cond, uncond = conditioning_gap(stage, a.batches)
    print(f"image-token CE with prompt {cond:.4f}, without {uncond:.4f}: the prompt is worth {uncond - cond:.4f} "
          f"nats/token ({(uncond - cond) / uncond:.1%})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
