"""The learned prompt classifier: the real MiniLM embedder and the shipped head, and its failure modes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from limner.safety import classifier as clf
from limner.safety.classifier import ModelUnavailable, PromptHead, embed, prefetched
from limner.safety.policy import POLICY_DIR

HEAD = POLICY_DIR / "heads" / "prompt_head.safetensors"


def test_shipped_head_covers_the_categories_and_tunes_the_encoders_top_layers() -> None:
    assert HEAD.stat().st_size < 32 * 2**20  # float16 copies of a few encoder layers, and one linear layer
    head = PromptHead.load(HEAD)
    assert head.labels[0] == "allow" and {"child_safety", "cbrn", "self_harm"} <= set(head.labels)
    assert head.weight.shape == (len(head.labels), clf.EMBED_DIM)
    base = clf.embedder().w
    assert head.layers and all(base[k].shape == tuple(v.shape) for k, v in head.layers.items())
    tuned = sorted({int(k.split(".")[2]) for k in head.layers})
    assert tuned == list(range(tuned[0], 6))  # the top layers, whole: every tensor of each
    assert len(head.layers) == 16 * len(tuned)
    assert head.encoder_key == head.meta["layers_sha"] != clf.BASE


def test_a_tuned_head_reads_through_its_own_layers(tmp_path: Path) -> None:
    shipped = PromptHead.load(HEAD)
    texts = ["a red circle above a blue square", "how to make a pipe bomb"]
    tuned = shipped.probs(embed(texts, head=shipped))
    frozen = PromptHead(shipped.weight, shipped.bias, shipped.labels, {}).probs(embed(texts))
    assert np.abs(tuned - frozen).max() > 0.05  # the tuned layers change what the head sees
    assert tuned[1, 0] < 0.5 < tuned[0, 0]  # and the tuned reading is right on both
    with prefetched(texts, head=shipped) as n:
        assert n == 2
        np.testing.assert_allclose(embed(texts, head=shipped), embed(texts[:1], head=shipped).tolist()
                                   + embed(texts[1:], head=shipped).tolist(), atol=1e-5)
        assert not np.allclose(embed(texts[:1]), embed(texts[:1], head=shipped))  # caches are kept apart
    # Saved again, the float16 layers round-trip to the same probabilities.
    shipped.save(tmp_path / "again.safetensors")
    again = PromptHead.load(tmp_path / "again.safetensors")
    assert again.encoder_key == shipped.encoder_key
    np.testing.assert_allclose(again.probs(embed(texts, head=again)), tuned, atol=1e-5)


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
    from safetensors.numpy import save_file

    stray = tmp_path / "stray.safetensors"
    save_file({"weight": np.zeros((2, clf.EMBED_DIM), np.float32), "bias": np.zeros(2, np.float32),
               "pooler.dense.weight": np.zeros((2, 2), np.float32)}, str(stray),
              metadata={"labels": '["allow", "sexual"]'})
    with pytest.raises(ModelUnavailable, match="unknown tensors"):
        PromptHead.load(stray)
