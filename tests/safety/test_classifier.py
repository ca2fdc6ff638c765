"""The learned prompt classifier: the real MiniLM embedder and the shipped head, and its failure modes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from limner.safety import classifier as clf
from limner.safety.classifier import ModelUnavailable, PromptHead, embed, prefetched
from limner.safety.policy import POLICY_DIR

HEAD = POLICY_DIR / "heads" / "prompt_head.safetensors"


def test_shipped_head_is_small_and_covers_the_categories() -> None:
    assert HEAD.stat().st_size < 64 * 1024  # a tiny file: one linear layer over 384-d embeddings
    head = PromptHead.load(HEAD)
    assert head.labels[0] == "allow" and {"child_safety", "cbrn", "self_harm"} <= set(head.labels)
    assert head.weight.shape == (len(head.labels), clf.EMBED_DIM)


def test_prefetched_embeddings_equal_per_request_ones() -> None:
    texts = ["a red circle above a blue square", "how to make a pipe bomb", "a cat on a sofa"]
    one_by_one = np.stack([embed([t])[0] for t in texts])
    with prefetched(texts + texts[:1]) as n:
        assert n == 3
        batched = embed(texts)
    np.testing.assert_allclose(batched, one_by_one, atol=1e-5)
    assert not clf._PREFETCH  # nothing outlives the block: a server never answers from a stale cache
    p = PromptHead.load(HEAD).probs(batched)
    assert np.allclose(p.sum(axis=1), 1.0)
    assert p[1, 0] < p[0, 0]  # the pipe bomb is less "allow" than the shapes


def test_missing_and_corrupt_heads_are_model_unavailable(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable, match="not found"):
        PromptHead.load(tmp_path / "none.safetensors")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x00" * 40)
    with pytest.raises(ModelUnavailable, match="unreadable"):
        PromptHead.load(bad)
    wrong = PromptHead(np.zeros((2, 8), np.float32), np.zeros(2, np.float32), ["allow", "sexual"], {})
    wrong.save(tmp_path / "wrong.safetensors")
    with pytest.raises(ModelUnavailable, match="unexpected shapes"):
        PromptHead.load(tmp_path / "wrong.safetensors")
