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
from safetensors.torch import load, load_file, save
from torch import nn

from limner.model.config import ModelConfig

FORMAT = "limner-1"


class CheckpointError(Exception):
    """A checkpoint file is missing, corrupt or does not match its config."""


def part_paths(path: str | Path) -> list[Path]:
    """The parts of a file written in pieces (`NAME.part000`, `NAME.part001`, ...), in order; [] if none."""
    p = Path(path)
    return sorted(p.parent.glob(p.name + ".part[0-9][0-9][0-9]"))


def checkpoint_exists(path: str | Path) -> bool:
    """Whether a checkpoint is at `path`, as one file or in parts (`write_file`)."""
    return Path(path).is_file() or bool(part_paths(path))


def write_file(path: str | Path, data: bytes, max_bytes: int = 0) -> None:
    """Write `data` to `path` atomically, or, when `max_bytes` > 0 and it is larger, as parts of at most
    `max_bytes` each (`NAME.part000`...; where a transfer limits file sizes, e.g. a lent GPU machine's 16 MB).
    Whichever form is written, the other form's stale files are removed. `read_file` reads both."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    old = part_paths(p)
    chunks = [data] if max_bytes <= 0 or len(data) <= max_bytes else [
        data[i : i + max_bytes] for i in range(0, len(data), max_bytes)]
    if len(chunks) > 1000:
        raise ValueError(f"{len(data)} bytes in parts of {max_bytes} would make more than 1000 parts")
    targets = [p] if len(chunks) == 1 else [p.with_name(f"{p.name}.part{i:03d}") for i in range(len(chunks))]
    for t, c in zip(targets, chunks, strict=True):
        tmp = t.with_name(t.name + ".tmp")
        tmp.write_bytes(c)
        os.replace(tmp, t)  # never leave a half-written file under the real name
    for stale in ([p] if len(chunks) > 1 and p.exists() else []) + [q for q in old if q not in targets]:
        stale.unlink()


def read_file(path: str | Path) -> bytes:
    """The bytes of `path`, or of its parts joined (see `write_file`); FileNotFoundError naming it if neither."""
    p = Path(path)
    if p.is_file():
        return p.read_bytes()
    parts = part_paths(p)
    if not parts:
        raise FileNotFoundError(f"{str(p)!r} does not exist (nor its parts {p.name}.part000...)")
    return b"".join(q.read_bytes() for q in parts)


def save_checkpoint(
    path: str | Path,
    config: ModelConfig,
    modules: dict[str, nn.Module],
    meta: dict[str, Any] | None = None,
    dtype: torch.dtype = torch.float32,
    max_bytes: int = 0,
) -> None:
    """Write `modules` (name -> module) and the config to `path` atomically, in parts of at most `max_bytes`
    when it is larger (0 = one file; see `write_file`)."""
    tensors: dict[str, torch.Tensor] = {}
    for prefix, mod in modules.items():
        for k, v in mod.state_dict().items():
            t = v.detach().cpu().contiguous()
            tensors[f"{prefix}.{k}"] = t.to(dtype) if t.is_floating_point() else t
    md = {"format": FORMAT, "config": config.to_json(), "components": json.dumps(sorted(modules))}
    for k, v in (meta or {}).items():
        md[k] = v if isinstance(v, str) else json.dumps(v)
    write_file(path, save(tensors, metadata=md), max_bytes)


def read_checkpoint(path: str | Path) -> tuple[ModelConfig, dict[str, torch.Tensor], dict[str, str]]:
    """(config, tensors, metadata) of a checkpoint; raises CheckpointError naming the file and the problem."""
    path = Path(path)
    if not checkpoint_exists(path):
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist")
    try:
        if path.is_file():  # memory-mapped
            tensors = load_file(str(path))
            from safetensors import safe_open

            with safe_open(str(path), framework="pt") as f:
                md = dict(f.metadata() or {})
        else:  # written in parts (write_file): joined in memory
            data = read_file(path)
            tensors = load(data)
            n = int.from_bytes(data[:8], "little")  # safetensors: u64 header length, then the JSON header
            md = dict(json.loads(data[8 : 8 + n]).get("__metadata__") or {})
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
    """Hex sha256 of a file (of its parts joined, for one written in parts), read in 1 MiB chunks: a checkpoint's
    identity in reports and provenance."""
    h = hashlib.sha256()
    for p in [Path(path)] if Path(path).is_file() else part_paths(path) or [Path(path)]:
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()
