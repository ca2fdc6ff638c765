"""Safetensors checkpoints that carry their own config.

Layout: tensors are prefixed by component (`tokenizer.`, `decoder.`, `prior.`); the metadata holds
`format`, `config` (ModelConfig JSON), `text_vocab` (when a prior is present) and free-form
training info. Loading is strict: a missing or unexpected tensor is an error that names the file
and the keys, never silently ignored.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from limner.model.config import ModelConfig

FORMAT = "limner-1"


class CheckpointError(Exception):
    """A checkpoint file is missing, corrupt or does not match its config."""


def save_checkpoint(
    path: str | Path,
    config: ModelConfig,
    modules: dict[str, nn.Module],
    meta: dict[str, Any] | None = None,
    dtype: torch.dtype = torch.float32,
) -> None:
    """Write `modules` (name -> module) and the config to `path` atomically."""
    tensors: dict[str, torch.Tensor] = {}
    for prefix, mod in modules.items():
        for k, v in mod.state_dict().items():
            t = v.detach().cpu().contiguous()
            tensors[f"{prefix}.{k}"] = t.to(dtype) if t.is_floating_point() else t
    md = {"format": FORMAT, "config": config.to_json(), "components": json.dumps(sorted(modules))}
    for k, v in (meta or {}).items():
        md[k] = v if isinstance(v, str) else json.dumps(v)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    save_file(tensors, str(tmp), metadata=md)
    os.replace(tmp, path)  # never leave a half-written checkpoint under the real name


def read_checkpoint(path: str | Path) -> tuple[ModelConfig, dict[str, torch.Tensor], dict[str, str]]:
    """(config, tensors, metadata) of a checkpoint; raises CheckpointError naming the file and the problem."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist")
    try:
        tensors = load_file(str(path))
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            md = dict(f.metadata() or {})
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"checkpoint {str(path)!r} is not a readable safetensors file: {e}") from e
    if md.get("format") != FORMAT:
        raise CheckpointError(f"checkpoint {str(path)!r} has format {md.get('format')!r}, expected {FORMAT!r}")
    try:
        cfg = ModelConfig.from_json(md["config"])
    except (KeyError, ValueError, TypeError) as e:
        raise CheckpointError(f"checkpoint {str(path)!r} has a missing or invalid config: {e}") from e
    return cfg, tensors, md


def component(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """The `prefix.*` tensors of a checkpoint, keyed without the prefix."""
    return {k[len(prefix) + 1 :]: v for k, v in tensors.items() if k.startswith(prefix + ".")}


def load_into(module: nn.Module, prefix: str, tensors: dict[str, torch.Tensor], path: str | Path) -> None:
    """Strictly load `prefix.*` tensors into `module`, converting to the module's dtype."""
    sub = component(tensors, prefix)
    if not sub:
        raise CheckpointError(f"checkpoint {str(path)!r} has no {prefix!r} weights")
    own = module.state_dict()
    missing = sorted(set(own) - set(sub))
    unexpected = sorted(set(sub) - set(own))
    if missing or unexpected:
        raise CheckpointError(
            f"checkpoint {str(path)!r} does not match its config for {prefix!r}: "
            f"missing {missing[:5]}{'...' if len(missing) > 5 else ''}, "
            f"unexpected {unexpected[:5]}{'...' if len(unexpected) > 5 else ''}"
        )
    for k, v in sub.items():
        if own[k].shape != v.shape:
            raise CheckpointError(
                f"checkpoint {str(path)!r}: {prefix}.{k} has shape {tuple(v.shape)}, expected {tuple(own[k].shape)}"
            )
        sub[k] = v.to(own[k].dtype)
    module.load_state_dict(sub, strict=True)


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks: a checkpoint's identity in reports and provenance."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
