"""One trainer for every stage: resumable, logged, safetensors out, single process or DDP.

Run under `torchrun --nproc-per-node N -m limner.cli.main train ...` for several processes: the
trainer reads RANK / WORLD_SIZE from the environment, uses gloo on CPU and NCCL on GPUs, and gives
each rank its own data seed. Only rank 0 writes checkpoints and logs.

Files in `out_dir`:
  model.safetensors   the stage's weights + config (rebuilds the model alone)
  state.pt            optimizer, step and RNG states, for resuming
  log.jsonl           one JSON object per logged step
  loss.png            loss curves, drawn by `limner train` through `on_finish` after the final save
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from limner.model.checkpoint import save_checkpoint
from limner.model.config import ModelConfig


@dataclass
class TrainConfig:
    """One training run's settings: stage, output folder, schedule and logging. Saved in every checkpoint's
    metadata (`train`), so a checkpoint says how it was made."""

    stage: str
    out_dir: str
    steps: int = 1000
    batch_size: int = 16
    lr: float = 1e-3
    warmup: int = 100
    min_lr_frac: float = 0.1
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    seed: int = 0
    log_every: int = 10
    save_every: int = 200
    threads: int = 0  # 0 = leave torch's default


def param_groups(stage: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """AdamW groups of the trainable parameters: weight decay on matrices only, and each parameter's learning-rate
    scale from the stage's `lr_scales` ({name prefix: factor}, default none: 1 everywhere). Decayed groups come
    first, as before scales existed, so older optimizer states still resume."""
    scales: dict[str, float] = getattr(stage, "lr_scales", {})
    groups: dict[tuple[bool, float], list[nn.Parameter]] = {}
    for name, p in stage.named_parameters():
        if not p.requires_grad:
            continue
        scale = next((f for pre, f in scales.items() if name.startswith(pre)), 1.0)
        groups.setdefault((p.dim() >= 2, scale), []).append(p)
    return [{"params": ps, "weight_decay": weight_decay if decay else 0.0, "lr_scale": scale}
            for (decay, scale), ps in sorted(groups.items(), key=lambda kv: (not kv[0][0], kv[0][1]))]


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Linear warmup then cosine decay to min_lr_frac * lr."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    p = min(1.0, (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup))
    return cfg.lr * (cfg.min_lr_frac + (1 - cfg.min_lr_frac) * 0.5 * (1 + math.cos(math.pi * p)))


def dist_info() -> tuple[int, int]:
    """(rank, world_size), initialising the process group when launched by torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
    return (dist.get_rank(), world) if world > 1 else (0, 1)


class Trainer:
    """Drives any stage (a module whose forward(batch) returns (loss, logs)) on one process or under DDP:
    AdamW with warmup + cosine decay, gradient clipping, JSONL logs, and resumable saves every
    `save_every` steps (model.safetensors for use, state.pt for resuming)."""

    def __init__(
        self,
        cfg: TrainConfig,
        model_cfg: ModelConfig,
        stage: nn.Module,
        batches: Callable[[int], Iterator[Any]],
        meta: dict[str, Any] | None = None,
        log: Callable[[str], None] = print,
        on_finish: Callable[[Path], None] | None = None,
    ) -> None:
        self.cfg = cfg
        self.on_finish = on_finish  # called on rank 0 with log.jsonl's path after the final save (a loss chart)
        self.model_cfg = model_cfg
        self.stage = stage
        self.meta = meta or {}
        self.log = log
        self.rank, self.world = dist_info()
        self.out = Path(cfg.out_dir)
        if self.rank == 0:
            self.out.mkdir(parents=True, exist_ok=True)
        self.opt = torch.optim.AdamW(param_groups(stage, cfg.weight_decay), lr=cfg.lr, betas=(0.9, 0.95))
        self.step = 0
        self._resume()
        self.model: nn.Module = stage
        if self.world > 1:
            self.model = nn.parallel.DistributedDataParallel(stage)
        self.batches = batches(cfg.seed * 1000 + self.rank + self.step * 7919)

    def _resume(self) -> None:
        st = self.out / "state.pt"
        if not st.exists():
            return
        state = torch.load(st, map_location="cpu", weights_only=False)
        self.stage.load_state_dict(state["model"], strict=True)
        self.opt.load_state_dict(state["opt"])
        self.step = int(state["step"])
        torch.set_rng_state(state["torch_rng"])
        self.log(f"resumed {self.cfg.stage} from {st} at step {self.step}")

    def save(self) -> None:
        """Write OUT/model.safetensors (config + weights + metadata) and OUT/state.pt (optimizer, step, RNG),
        the latter atomically; rank 0 only."""
        if self.rank != 0:
            return
        comps = self.stage.checkpoint_modules()  # type: ignore[operator]
        meta = {
            **self.meta,
            **self.stage.checkpoint_meta(),  # type: ignore[operator]
            "stage": self.cfg.stage,
            "step": self.step,
            "train": asdict(self.cfg),
        }
        save_checkpoint(self.out / "model.safetensors", self.model_cfg, comps, meta)
        tmp = self.out / "state.pt.tmp"
        torch.save(
            {
                "model": self.stage.state_dict(),
                "opt": self.opt.state_dict(),
                "step": self.step,
                "torch_rng": torch.get_rng_state(),
            },
            tmp,
        )
        os.replace(tmp, self.out / "state.pt")

    def run(self) -> dict[str, float]:
        """Train from the current step to cfg.steps; returns the last logged losses."""
        cfg = self.cfg
        self.model.train()
        logf = open(self.out / "log.jsonl", "a") if self.rank == 0 else None  # noqa: SIM115
        last: dict[str, float] = {}
        t0 = time.time()
        try:
            while self.step < cfg.steps:
                for g in self.opt.param_groups:
                    g["lr"] = lr_at(self.step, cfg) * g.get("lr_scale", 1.0)
                batch = next(self.batches)
                loss, logs = self.model(batch)
                if not torch.isfinite(loss):
                    raise FloatingPointError(f"non-finite loss {float(loss)} at step {self.step}")
                self.opt.zero_grad(set_to_none=True)
                loss.backward()
                gn = torch.nn.utils.clip_grad_norm_(self.stage.parameters(), cfg.grad_clip)
                self.opt.step()
                self.step += 1
                last = {"loss": loss.item(), **logs, "grad_norm": float(gn)}
                if logf and (self.step % cfg.log_every == 0 or self.step == cfg.steps):
                    rec = {
                        "step": self.step,
                        "lr": lr_at(self.step - 1, cfg),
                        **last,
                        "s_per_step": (time.time() - t0) / cfg.log_every,
                        "time": time.time(),
                    }
                    logf.write(json.dumps(rec) + "\n")
                    logf.flush()
                    self.log(
                        " ".join(
                            f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                            for k, v in rec.items()
                            if k != "time"
                        )
                    )
                    t0 = time.time()
                if self.step % cfg.save_every == 0:
                    self.save()
            self.save()
        finally:
            if logf:
                logf.close()
        if self.rank == 0 and self.on_finish is not None:
            self.on_finish(self.out / "log.jsonl")
        return last
