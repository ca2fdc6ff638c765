"""Fine-tuning the prompt classifier: the encoder's top layers and the head learn together, on a tiny set."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from limner.evals.train_safety_head import CATEGORIES, tune
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
