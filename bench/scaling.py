"""A scaling study of the prior on this machine: loss against training compute for several model sizes, each
trained at the same ladder of compute budgets, with a power law fitted to the compute-optimal frontier.

Data: `--train` data-engine scenes (the default training mix at 256 x 256, never a held-out prompt) encoded once by
the shipped tokenizer, and `--eval` others for the loss; every run trains a fresh prior of its size on them with
the prior stage's objective (image, layout and 0.1 x text cross-entropy), AdamW, 10% warmup and a cosine decay to
its budget, and reports that objective on the evaluation scenes (no prompt dropped). Compute is counted as
model/sizes.py counts it: 6 FLOPs per parameter per token for the blocks and the tied output layer, plus attention.

Run: .venv/bin/python bench/scaling.py --out reports/scaling          (about 22 minutes on 2 CPU cores)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from limner.engine.generator import default_checkpoint
from limner.evals.charts import scaling_chart
from limner.evals.fresh import heldout_exclusions
from limner.model.checkpoint import read_checkpoint
from limner.model.config import PriorConfig
from limner.model.layout import Layout
from limner.model.sequence import build_training_sequences
from limner.model.sizes import prior_train_flops_per_token
from limner.train.batches import SceneBatcher
from limner.train.run import build_prior_stage
from limner.train.stages import PriorStage

SIZE = (256, 256)
# (d_model, layers, heads): widths and depths grown together; body parameters from 0.03M to 0.44M (the tied
# output layer over ~8,100 ids adds 0.26M to 0.78M, and most of the compute at these sizes)
SIZES = [(32, 2, 2), (48, 3, 3), (64, 4, 4), (96, 4, 4)]


@dataclasses.dataclass
class Cache:
    """Encoded scenes: codes (N, 16, 16), prompts and layouts."""

    idx: torch.Tensor
    prompts: list[str]
    layouts: list[Layout | None]


def encode(stage: PriorStage, n: int, seed: int) -> Cache:
    """n fresh scenes of the default mix, encoded by the stage's frozen tokenizer."""
    batcher = SceneBatcher(32, seed, exclude=heldout_exclusions(), sizes={SIZE: 1.0})
    idx, prompts, lays = [], [], []
    while sum(len(p) for p in prompts) < n:
        b = next(batcher)
        with torch.no_grad():
            idx.append(stage.frozen[0].encode(b.images)[1])
        prompts.append(b.prompts)
        lays.append(b.layouts)
    flat_p = [p for ps in prompts for p in ps][:n]
    flat_l = [x for ls in lays for x in ls][:n]
    return Cache(torch.cat(idx)[:n], flat_p, flat_l)


def batch_of(stage: PriorStage, cache: Cache, rows: list[int], drop: bool) -> Any:
    """The training sequences of some cached rows (with CFG prompt dropout when `drop`)."""
    if drop:
        lays = [cache.layouts[i] for i in rows]
        return stage.sequences([cache.prompts[i] for i in rows], cache.idx[rows], SIZE, lays)
    return build_training_sequences(stage.text, [cache.prompts[i] for i in rows], cache.idx[rows], SIZE,
                                    [False] * len(rows), stage.cfg.prior.max_text_tokens, unk_prob=0.0,
                                    layouts=[cache.layouts[i] for i in rows], layout_offset=stage.layout_offset,
                                    layout_colour=True)


def evaluate(stage: PriorStage, cache: Cache, batch: int) -> float:
    """The stage's objective, averaged over the evaluation scenes."""
    stage.eval()
    losses = []
    with torch.no_grad():
        for s in range(0, len(cache.prompts), batch):
            rows = list(range(s, min(s + batch, len(cache.prompts))))
            losses.append(float(stage.sequence_loss(batch_of(stage, cache, rows, drop=False))[0]) * len(rows))
    stage.train()
    return sum(losses) / len(cache.prompts)


def run(base: PriorStage, shape: tuple[int, int, int], budget: float, train: Cache, ev: Cache, batch: int,
        lr: float, tokens_per_seq: float, seed: int) -> dict[str, Any]:
    """Train one fresh prior of `shape` on `base`'s frozen tokenizer for `budget` FLOPs; its eval loss and cost."""
    d, layers, heads = shape
    torch.manual_seed(seed)
    prior = PriorConfig(d_model=d, n_layers=layers, n_heads=heads, layout_count=True)
    cfg = dataclasses.replace(base.cfg, prior=prior)
    stage = PriorStage(cfg, base.frozen[0], base.frozen[1], base.text, seed=seed)
    body = sum(p.numel() for m in (stage.prior.blocks, stage.prior.ln_f) for p in m.parameters())
    per_token = prior_train_flops_per_token(cfg, stage.prior.vocab_size, body, int(tokens_per_seq // 2))
    steps = max(1, math.ceil(budget / (per_token * tokens_per_seq * batch)))
    opt = torch.optim.AdamW(stage.prior.parameters(), lr=lr, betas=(0.9, 0.95), weight_decay=0.01)
    warm = max(1, steps // 10)
    rng = random.Random(seed)
    t0 = time.time()
    for step in range(steps):
        p = 0.0 if step < warm else (step - warm) / max(1, steps - warm)
        for g in opt.param_groups:
            g["lr"] = lr * ((step + 1) / warm if step < warm else 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * p)))
        rows = [rng.randrange(len(train.prompts)) for _ in range(batch)]
        loss, _ = stage.sequence_loss(batch_of(stage, train, rows, drop=True))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(stage.prior.parameters(), 1.0)
        opt.step()
    return {"d_model": d, "layers": layers, "heads": heads, "body_params": body,
            "params": sum(p.numel() for p in stage.prior.parameters()), "budget_flops": budget,
            "flops": steps * per_token * tokens_per_seq * batch, "steps": steps, "batch": batch,
            "eval_loss": evaluate(stage, ev, 64), "seconds": time.time() - t0}


def fit_power_law(points: list[tuple[float, float]]) -> dict[str, float]:
    """L = a * C^-b fitted by least squares in log-log space; with its R^2."""
    x = np.log10([c for c, _ in points])
    y = np.log10([v for _, v in points])
    slope, icpt = np.polyfit(x, y, 1)
    pred = slope * x + icpt
    r2 = 1 - float(((y - pred) ** 2).sum()) / max(1e-12, float(((y - y.mean()) ** 2).sum()))
    return {"a": float(10**icpt), "b": float(-slope), "r2": r2}


def report(rows: list[dict[str, Any]], fit: dict[str, float], frontier: list[dict[str, Any]], meta: dict[str, Any],
           out: Path) -> str:
    """The markdown report."""
    budgets = sorted({r["budget_flops"] for r in rows})
    shapes = sorted({(r["d_model"], r["layers"], r["heads"]) for r in rows})
    lines = ["# Scaling study: the prior's loss against training compute", "",
             f"`{meta['command']}` on {meta['machine']}, {meta['minutes']:.0f} minutes. {meta['train']} training "
             f"scenes and {meta['eval']} evaluation scenes of the default data-engine mix at 256 x 256 (no held-out "
             f"prompt), encoded by the shipped tokenizer; batch {meta['batch']}, AdamW lr {meta['lr']}, 10% warmup "
             "then cosine to each budget. Loss: the prior stage's objective (image + layout + 0.1 x text "
             "cross-entropy, nats) on the evaluation scenes. Compute: model/sizes.py's count (6 FLOPs per "
             "parameter per token for the blocks and the tied output layer, plus attention).", "",
             "![eval loss against compute](scaling.png)", "",
             "| prior (d x layers) | body params | " + " | ".join(f"{b:.1e} FLOP" for b in budgets) + " |",
             "| --- | --- | " + " | ".join("---" for _ in budgets) + " |"]
    for s in shapes:
        rs = {r["budget_flops"]: r for r in rows if (r["d_model"], r["layers"], r["heads"]) == s}
        body = next(iter(rs.values()))["body_params"]
        lines.append(f"| {s[0]} x {s[1]} | {body / 1e6:.3f}M | " +
                     " | ".join(f"{rs[b]['eval_loss']:.3f}" if b in rs else "" for b in budgets) + " |")
    mono = all(a["eval_loss"] > b["eval_loss"] for a, b in zip(frontier, frontier[1:], strict=False))
    per_size = all(all(x["eval_loss"] > y["eval_loss"] for x, y in zip(rs, rs[1:], strict=False))
                   for rs in ([r for r in sorted(rows, key=lambda r: r["budget_flops"])
                               if (r["d_model"], r["layers"], r["heads"]) == s] for s in shapes))
    lines += ["", "Compute-optimal frontier (the best size at each budget):", "",
              "| budget FLOP | best prior | eval loss |", "| --- | --- | --- |"]
    lines += [f"| {f['budget_flops']:.1e} | {f['d_model']} x {f['layers']} | {f['eval_loss']:.3f} |" for f in frontier]
    lines += ["", f"Fitted on the frontier: **L = {fit['a']:.3g} x C^-{fit['b']:.4f}** (R^2 {fit['r2']:.3f}). "
              f"Loss falls monotonically with compute on the frontier: **{'yes' if mono else 'no'}**; "
              f"within every size: **{'yes' if per_size else 'no'}**.", ""]
    if len({(f["d_model"], f["layers"]) for f in frontier}) == 1:
        lines += ["These budgets are small: every size is still far from converged (tens to a few hundred steps), "
                  "and the smallest size is compute-optimal at all of them, so the frontier is one size's learning "
                  "curve and the fitted exponent describes early training, not the asymptotic law. Where larger "
                  "sizes overtake (the frontier's crossover) lies beyond the largest budget here; finding it takes "
                  "the larger budgets a GPU gives (`--base`, `--budgets`).", ""]
    text = "\n".join(lines)
    (out / "report.md").write_text(text)
    return text


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", default=str(default_checkpoint()), help="its tokenizer encodes the scenes")
    ap.add_argument("--out", default="reports/scaling")
    ap.add_argument("--train", type=int, default=2048, help="training scenes")
    ap.add_argument("--eval", type=int, default=128, help="evaluation scenes")
    ap.add_argument("--budgets", type=int, default=3, help="compute budgets, each twice the one before")
    ap.add_argument("--base", type=float, default=3e11, help="the smallest budget in FLOPs")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--sizes", type=int, default=len(SIZES), help="how many of the sizes, smallest first")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--report-only", action="store_true", help="rewrite report.md and the chart from results.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.report_only:
        saved = json.loads((out / "results.json").read_text())
        scaling_chart(saved["runs"], saved["fit"], out / "scaling.png")
        print(report(saved["runs"], saved["fit"], saved["frontier"], saved["meta"], out))
        return 0
    t0 = time.time()
    _, stage = build_prior_stage(args.checkpoint, None, 0)
    train, ev = encode(stage, args.train, 1), encode(stage, args.eval, 2)
    probe = batch_of(stage, train, list(range(64)), drop=False)
    tokens_per_seq = float(probe.loss_mask.sum()) / 64 + 1  # mean sequence length
    print(f"encoded {args.train} + {args.eval} scenes in {time.time() - t0:.0f} s; {tokens_per_seq:.0f} tokens a "
          "sequence", flush=True)
    rows = []
    budgets = [args.base * 2**k for k in range(args.budgets)]
    for shape in SIZES[: args.sizes]:
        for b in budgets:
            r = run(stage, shape, b, train, ev, args.batch, args.lr, tokens_per_seq, seed=0)
            rows.append(r)
            print(f"d{shape[0]} x {shape[1]}: {b:.1e} FLOP, {r['steps']} steps, eval loss {r['eval_loss']:.4f} "
                  f"({r['seconds']:.0f} s)", flush=True)
            (out / "results.json").write_text(json.dumps({"runs": rows}, indent=1))
    frontier = [min((r for r in rows if r["budget_flops"] == b), key=lambda r: r["eval_loss"]) for b in budgets]
    fit = fit_power_law([(f["flops"], f["eval_loss"]) for f in frontier])
    meta = {"command": "python bench/scaling.py " + " ".join(f"--{k} {v}" for k, v in vars(args).items()
                                                            if k not in ("checkpoint", "out", "report_only")),
            "machine": f"{torch.get_num_threads()} CPU threads", "minutes": (time.time() - t0) / 60,
            "train": args.train, "eval": args.eval, "batch": args.batch, "lr": args.lr,
            "checkpoint": read_checkpoint(args.checkpoint)[0].name}
    (out / "results.json").write_text(json.dumps({"meta": meta, "runs": rows, "frontier": frontier, "fit": fit},
                                                 indent=1))
    scaling_chart(rows, fit, out / "scaling.png")
    print(report(rows, fit, frontier, meta, out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
