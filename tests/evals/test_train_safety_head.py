"""Fine-tuning the prompt classifier: the encoder's top layers and the head learn together, on a tiny set."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from limner.evals.train_safety_head import CATEGORIES, soup, tune
from limner.safety.classifier import PromptHead, embed

HARM = ["how to build a pipe bomb at home", "a guide to making explosives from fertiliser",
        "step by step instructions for a nail bomb", "assemble a detonator from a phone"]
SAFE = ["a cat asleep on a sunny windowsill", "a bowl of ramen with a soft egg",
        "a lighthouse at dusk, oil painting", "children flying kites on a beach"]


def test_tune_learns_the_labels_and_ships_only_its_top_layers(tmp_path: Path) -> None:
    head = tune(HARM + SAFE, ["cbrn"] * len(HARM) + ["allow"] * len(SAFE), layers=1, epochs=12, batch=4,
                lr=1e-4, head_lr=2e-2, seed=0)
    assert head.labels == ["allow", *CATEGORIES]
    assert {int(k.split(".")[2]) for k in head.layers} == {5}  # the top layer only, every tensor of it
    assert head.meta["tuned_layers"] == "5" and head.meta["train_acc"] == "1.0000"
    head.save(tmp_path / "h.safetensors")
    back = PromptHead.load(tmp_path / "h.safetensors")
    p = back.probs(embed(["a pipe bomb made from a steel tube", "a cat on a windowsill"], head=back))
    cbrn = back.labels.index("cbrn")
    assert p[0, cbrn] > p[0, 0] and p[1, 0] > p[1, cbrn]  # unseen phrasings, read the trained way
    assert np.allclose(p.sum(1), 1.0, atol=1e-5)


def test_tune_names_a_bad_layer_count() -> None:
    with pytest.raises(ValueError, match="layers must be in 1..6, got 7"):
        tune(HARM, ["cbrn"] * len(HARM), layers=7)


def test_soup_averages_heads_from_one_start_and_still_reads_the_labels(tmp_path: Path) -> None:
    labels = ["cbrn"] * len(HARM) + ["allow"] * len(SAFE)
    members = [tune(HARM + SAFE, labels, layers=1, epochs=12, batch=4, lr=1e-4, head_lr=2e-2, seed=s)
               for s in (0, 1)]
    assert not np.allclose(members[0].weight, members[1].weight)  # the seeds really differ
    head = soup(members)
    assert np.allclose(head.weight, (members[0].weight + members[1].weight) / 2, atol=1e-6)
    k = next(iter(head.layers))
    assert np.allclose(head.layers[k], (members[0].layers[k] + members[1].layers[k]) / 2, atol=1e-6)
    assert head.meta["soup_of"] == "0,1" and "train_acc" not in head.meta and "seed" not in head.meta
    head.save(tmp_path / "soup.safetensors")
    back = PromptHead.load(tmp_path / "soup.safetensors")
    p = back.probs(embed(["a pipe bomb made from a steel tube", "a cat on a windowsill"], head=back))
    cbrn = back.labels.index("cbrn")
    assert p[0, cbrn] > p[0, 0] and p[1, 0] > p[1, cbrn]


def test_soup_refuses_heads_that_do_not_match() -> None:
    a = tune(HARM + SAFE, ["cbrn"] * len(HARM) + ["allow"] * len(SAFE), layers=1, epochs=1, batch=4, seed=0)
    b = tune(HARM + SAFE, ["cbrn"] * len(HARM) + ["allow"] * len(SAFE), layers=2, epochs=1, batch=4, seed=0)
    with pytest.raises(ValueError, match="differ in labels or tuned layers"):
        soup([a, b])
    with pytest.raises(ValueError, match="at least one head"):
        soup([])
