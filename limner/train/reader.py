"""Train the instruction reader's head (studio/reader.py) on the data engine's chat turns (data/instructions.py).

    python -m limner.train.reader --out limner/weights/reader.safetensors

MiniLM stays frozen, so each turn's word states are computed once and the small head trains on them for a few
epochs. Training turns come from TRAIN's phrasing families, dev turns (for choosing the epoch) from DEV's, which
training never sees; the held-out families of evals/instruction_cases.py are never read here. Deterministic for a
seed on one machine; about 9 minutes per member head on 2 CPU cores (2 members by default, SHIPPED_SEEDS).
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from limner.data.instructions import (
    ACTIONS,
    ENGINE_PROMPT_SHARE,
    TAGS,
    UNTAGGED,
    Example,
    dev_examples,
    training_examples,
)
from limner.studio.reader import WEIGHTS, ReaderConfig, ReaderEnsemble, ReaderHead, pad_states, save_head


def featurise(encoder: object, examples: list[Example], batch: int = 64) -> list[torch.Tensor]:
    """Each example's word states (n_words, D) from the frozen encoder, in order."""
    out: list[torch.Tensor] = []
    for s in range(0, len(examples), batch):
        out += encoder.word_states([list(e.words) for e in examples[s : s + batch]])  # type: ignore[attr-defined]
    return out


def targets(examples: list[Example]) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, W) tag ids (-100 on padding and on UNTAGGED words) and (B,) action ids."""
    w = max(len(e.words) for e in examples)
    tags = torch.full((len(examples), w), -100, dtype=torch.long)
    for i, e in enumerate(examples):
        tags[i, : len(e.tags)] = torch.tensor([-100 if t == UNTAGGED else TAGS.index(t) for t in e.tags])
    return tags, torch.tensor([ACTIONS.index(e.action) for e in examples])


def images(examples: list[Example]) -> torch.Tensor:
    """(B,) bool: whether each turn is read with a picture in view."""
    return torch.tensor([e.image for e in examples], dtype=torch.bool)


def accuracy(head: ReaderHead | ReaderEnsemble, states: list[torch.Tensor],
             examples: list[Example]) -> tuple[float, float]:
    """(share of turns with every tag and the action right, share with the action right)."""
    head.eval()
    exact = act_ok = 0
    with torch.no_grad():
        for s in range(0, len(examples), 256):
            x, mask = pad_states(states[s : s + 256])
            tl, al = head(x, mask, images(examples[s : s + 256]))
            tags, acts = targets(examples[s : s + 256])
            ok_tags = ((tl.argmax(-1) == tags) | (tags == -100)).all(-1)
            ok_act = al.argmax(-1) == acts
            exact += int((ok_tags & ok_act).sum())
            act_ok += int(ok_act.sum())
    head.train()
    return exact / len(examples), act_ok / len(examples)


def train_member(enc: object, n: int, dev: int, epochs: int, seed: int, log: bool = True,
                 engine_share: float = ENGINE_PROMPT_SHARE) -> ReaderHead:
    """One head trained on `n` turns of `seed`, at the epoch best on `dev` DEV turns."""
    torch.manual_seed(seed)
    t0 = time.time()
    train_ex = training_examples(n, seed, engine_share)
    dev_ex = dev_examples(dev, seed + 1)
    tr_states, dev_states = featurise(enc, train_ex), featurise(enc, dev_ex)
    if log:
        print(f"seed {seed}: features of {n} + {dev} turns in {time.time() - t0:.0f}s", flush=True)
    head = ReaderHead(ReaderConfig())
    opt = torch.optim.AdamW(head.parameters(), lr=1e-3, weight_decay=0.01)
    steps = epochs * ((n + 63) // 64)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=1e-3, total_steps=steps, pct_start=0.1)
    rng = random.Random(seed)
    best = (-1.0, 0.0)
    best_state = None
    for ep in range(epochs):
        order = list(range(n))
        rng.shuffle(order)
        for s in range(0, n, 64):
            idx = order[s : s + 64]
            x, mask = pad_states([tr_states[i] for i in idx])
            tags, acts = targets([train_ex[i] for i in idx])
            tl, al = head(x, mask, images([train_ex[i] for i in idx]))
            loss = F.cross_entropy(tl.reshape(-1, len(TAGS)), tags.reshape(-1), ignore_index=-100) + \
                F.cross_entropy(al, acts)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        acc = accuracy(head, dev_states, dev_ex)
        if log:
            print(f"seed {seed} epoch {ep + 1}: loss {loss.item():.4f} dev exact {acc[0]:.4f} action {acc[1]:.4f} "
                  f"({time.time() - t0:.0f}s)", flush=True)
        if acc > best:
            best, best_state = acc, {k: v.clone() for k, v in head.state_dict().items()}
    assert best_state is not None
    head.load_state_dict(best_state)
    return head.eval()


def assemble(heads: list[ReaderHead]) -> ReaderEnsemble:
    """The ensemble of trained member heads (their order kept)."""
    ens = ReaderEnsemble(ReaderConfig(members=len(heads)))
    for slot, head in zip(ens.members, heads, strict=True):
        slot.load_state_dict(head.state_dict())
    return ens.eval()


# The shipped reader's members, chosen on dev among the heads of seeds 0-3 (all trained alike, before edits
# without a picture fell from 10% to 3% of edits): seeds 0 and 1 together read "could you make the star green
# and move it ..." with "green" in the target (seed 0's member's reading won); 0 and 3 read dev's edits best
# (exact 0.928; 0 and 1: 0.922), dev's chat turns about nothing drawable as well (0.94), and that turn right.
# Retrained once edits without a picture were 3% (IMAGE_IN_CONTEXT), 0 and 3 read dev's edits at 0.939.
# Retrained on the composed resize, move, negation and new-picture frames (and edits without a picture at 5%),
# chosen again among seeds 0-3 on the larger DEV: 0 and 2 read it best (0.985 per turn, with 0 and 1; 0 and 3:
# 0.979) and refuse fewest of dev's one-off prompts (1 of 300).
SHIPPED_SEEDS = (0, 2)


def train(n: int, dev: int, epochs: int, seeds: list[int], out: Path, log: bool = True,
          engine_share: float = ENGINE_PROMPT_SHARE) -> dict[str, float]:
    """Train one head per seed in `seeds` (each its own sample of turns and initialisation), save them as one
    reader to `out`; the ensemble's figures on the first member's dev turns."""
    from limner.safety.classifier import embedder

    t0 = time.time()
    enc = embedder()
    heads = [train_member(enc, n, dev, epochs, s, log, engine_share) for s in seeds]
    ens = assemble(heads)
    dev_ex = dev_examples(dev, seeds[0] + 1)
    exact, action = accuracy(ens, featurise(enc, dev_ex), dev_ex)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_head(ens, out)
    return {"dev_exact": exact, "dev_action": action, "seconds": time.time() - t0}


def main(argv: list[str] | None = None) -> int:
    """`python -m limner.train.reader`: train and write the head; 0 on success, 2 on bad flags."""
    ap = argparse.ArgumentParser(prog="python -m limner.train.reader", description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=WEIGHTS, help="where to write the head (default: the shipped one)")
    ap.add_argument("--turns", type=int, default=16000, help="training turns per member (default 16000)")
    ap.add_argument("--dev", type=int, default=1000, help="dev turns for choosing the epoch (default 1000)")
    ap.add_argument("--epochs", type=int, default=12, help="epochs (default 12)")
    ap.add_argument("--seeds", default=",".join(map(str, SHIPPED_SEEDS)),
                    help="member heads' data and initialisation seeds, comma-separated; their probabilities are "
                         f"averaged when reading (default {','.join(map(str, SHIPPED_SEEDS))}, the shipped reader)")
    ap.add_argument("--engine-share", type=float, default=ENGINE_PROMPT_SHARE,
                    help="share of new-picture turns that are whole prompts in the generation engine's words "
                         f"(default {ENGINE_PROMPT_SHARE})")
    a = ap.parse_args(argv)
    try:
        seeds = [int(x) for x in a.seeds.split(",")]
    except ValueError:
        ap.error(f"--seeds must be comma-separated integers, got {a.seeds!r}")
    if len(set(seeds)) != len(seeds):
        ap.error(f"--seeds must not repeat a seed (a repeated member is the same head twice), got {a.seeds!r}")
    for name in ("turns", "dev", "epochs"):
        if getattr(a, name) < 1:
            ap.error(f"--{name} must be >= 1, got {getattr(a, name)}")
    if not 0.0 <= a.engine_share <= 1.0:
        ap.error(f"--engine-share must be in [0, 1], got {a.engine_share}")
    res = train(a.turns, a.dev, a.epochs, seeds, a.out, engine_share=a.engine_share)
    print(f"wrote {a.out}: dev exact {res['dev_exact']:.4f}, action {res['dev_action']:.4f}, {res['seconds']:.0f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
