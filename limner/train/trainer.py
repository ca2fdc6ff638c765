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

import contextlib
import io
import json
import math
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, cast

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from limner.model.checkpoint import part_paths, read_file, save_checkpoint, write_file
from limner.model.config import ModelConfig
from limner.train.batches import Shard


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
    device: str = "cpu"  # chosen by the entry point (cli/devices.py); the stage and every batch move there
    workers: int = 0  # data-loader processes making batches beside the training loop; 0 = in the loop
    # A wall-clock budget in minutes (0 = none): the cosine schedule then runs over whichever of `steps` and
    # the budget ends first, so a run sized in time (a lent GPU, a compute-matched study) still decays its rate.
    minutes: float = 0.0
    accum: int = 1  # micro-batches of batch_size per optimizer step and process (gradient accumulation)
    # ZeRO stage 1 under DDP: each process holds 1/world of the AdamW state (ZeroRedundancyOptimizer); saves
    # consolidate it, so state.pt is the whole optimizer state and resumes at any world size
    shard_optimizer: bool = False
    amp: bool = True  # bf16 autocast on CUDA (weights, optimizer state and the frozen tokenizer's codes stay fp32)
    stop_after: int = 0  # stop (and save) once this many steps are done, keeping the schedule of `steps`; 0 = none
    max_file_mb: float = 0.0  # model and state in parts of at most this many MB (checkpoint.write_file); 0 = no cap

    def __post_init__(self) -> None:
        if self.accum < 1:
            raise ValueError(f"accum must be >= 1, got {self.accum}")
        if self.workers < 0 or self.minutes < 0 or self.stop_after < 0 or self.max_file_mb < 0:
            raise ValueError(f"workers, minutes, stop_after and max_file_mb must be >= 0, got {self.workers}, "
                             f"{self.minutes}, {self.stop_after}, {self.max_file_mb}")


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


def make_optimizer(stage: nn.Module, cfg: TrainConfig, world: int) -> torch.optim.Optimizer:
    """AdamW over `param_groups`; with `cfg.shard_optimizer` and several processes, sharded across them
    (ZeRO stage 1): the step updates this rank's share of the parameters and broadcasts them to the others."""
    groups = param_groups(stage, cfg.weight_decay)
    if cfg.shard_optimizer and world > 1:
        # imported here: torch.distributed.optim scripts its functional optimizers at import (slow, noisy)
        from torch.distributed.optim import ZeroRedundancyOptimizer

        return ZeroRedundancyOptimizer(groups, optimizer_class=torch.optim.AdamW, lr=cfg.lr, betas=(0.9, 0.95))
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(0.9, 0.95))


def lr_at(step: int, cfg: TrainConfig, elapsed_s: float = 0.0) -> float:
    """Linear warmup then cosine decay to min_lr_frac * lr, over the steps or, with a time budget
    (cfg.minutes), over whichever is further along: `elapsed_s` of the budget or the steps."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    p = min(1.0, (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup))
    if cfg.minutes > 0:
        p = max(p, min(1.0, elapsed_s / (60.0 * cfg.minutes)))
    return cfg.lr * (cfg.min_lr_frac + (1 - cfg.min_lr_frac) * 0.5 * (1 + math.cos(math.pi * p)))


class _Stream(IterableDataset):
    """The batch stream of one data-loader worker: its share of the shard's items (Shard.split)."""

    def __init__(self, batches: Callable[[Shard], Iterator[Any]], shard: Shard) -> None:
        self.batches = batches
        self.shard = shard

    def __iter__(self) -> Iterator[Any]:
        info = get_worker_info()
        torch.set_num_threads(1)  # a worker renders scenes; its share of cores is its own process
        shard = self.shard if info is None else self.shard.split(info.num_workers, info.id)
        return iter(self.batches(shard))


def _as_is(batch: Any) -> Any:
    """The data loader's collate: a worker's item is already a whole batch."""
    return batch


def batch_stream(batches: Callable[[Shard], Iterator[Any]], shard: Shard, workers: int) -> Iterator[Any]:
    """`batches(shard)`, or with workers > 0 the same stream made by that many processes: each makes every
    workers-th micro-batch and the loader's round-robin restores the order, so the data do not depend on the
    number of workers, and rendering scenes keeps up with a fast device."""
    if workers <= 0:
        return batches(shard)
    loader = DataLoader(_Stream(batches, shard), batch_size=None, num_workers=workers, collate_fn=_as_is,
                        prefetch_factor=4, persistent_workers=True)
    return iter(loader)


def dist_info() -> tuple[int, int]:
    """(rank, world_size), initialising the process group when launched by torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
    return (dist.get_rank(), world) if world > 1 else (0, 1)


def leave_process_group() -> None:
    """Wait for every rank, then tear the process group down. Without it a rank that finishes first (rank 1
    returns from a sharded save while rank 0 still writes) exits with gloo's threads still running, and the
    C++ runtime aborts it ("terminate called without an active exception"), failing the whole torchrun."""
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


class Trainer:
    """Drives any stage (a module whose forward(batch) returns (loss, logs)) on one process or under DDP:
    AdamW with warmup + cosine decay, gradient clipping, JSONL logs, and resumable saves every
    `save_every` steps (model.safetensors for use, state.pt for resuming)."""

    def __init__(
        self,
        cfg: TrainConfig,
        model_cfg: ModelConfig,
        stage: nn.Module,
        batches: Callable[[Shard], Iterator[Any]],
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
        self.device = torch.device(cfg.device)
        if self.device.type == "cuda" and self.world > 1:  # one GPU per process, by torchrun's LOCAL_RANK
            self.device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
            torch.cuda.set_device(self.device)
        stage.to(self.device)  # before the optimizer, whose state then lives beside the parameters
        self.opt = make_optimizer(stage, cfg, self.world)
        self.step = 0
        self.elapsed = 0.0  # training seconds before this process (resumed runs), for the time budget
        self.started = time.time()  # when this process's training began (reset by run)
        self._resume()
        self.model: nn.Module = stage
        if self.world > 1:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.model = nn.parallel.DistributedDataParallel(stage, device_ids=ids)
        # data are a function of (seed, step, row), not of the world size: see batches.Shard
        shard = Shard(cfg.seed, self.rank, self.world, cfg.accum, start=self.step * cfg.accum)
        self.batches = batch_stream(batches, shard, cfg.workers)
        self.skipped = 0  # unreadable files the data skipped so far (logged when any)

    def _resume(self) -> None:
        st = self.out / "state.pt"
        if not st.exists() and not part_paths(st):
            return
        state = torch.load(io.BytesIO(read_file(st)), map_location=self.device, weights_only=False)
        self.stage.load_state_dict(state["model"], strict=True)
        self.opt.load_state_dict(state["opt"])
        self.step = int(state["step"])
        self.elapsed = float(state.get("elapsed_s", 0.0))
        torch.set_rng_state(state["torch_rng"].cpu())
        self.log(f"resumed {self.cfg.stage} from {st} at step {self.step}")

    def save(self) -> None:
        """Write OUT/model.safetensors (config + weights + metadata) and OUT/state.pt (optimizer, step, RNG),
        the latter atomically; rank 0 writes (every rank calls it: a sharded optimizer gathers its state first)."""
        if hasattr(self.opt, "consolidate_state_dict"):  # ZeroRedundancyOptimizer (cfg.shard_optimizer)
            self.opt.consolidate_state_dict(to=0)  # collective: every rank sends its shard to rank 0
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
        cap = int(self.cfg.max_file_mb * 1e6)
        save_checkpoint(self.out / "model.safetensors", self.model_cfg, comps, meta, max_bytes=cap)
        buf = io.BytesIO()
        torch.save(
            {
                "model": self.stage.state_dict(),
                "opt": self.opt.state_dict(),
                "step": self.step,
                "elapsed_s": self.elapsed + time.time() - self.started,
                "torch_rng": torch.get_rng_state(),
            },
            buf,
        )
        write_file(self.out / "state.pt", buf.getvalue(), cap)  # atomic, as model.safetensors

    def accumulate(self) -> tuple[float, dict[str, float]]:
        """Forward and backward `accum` micro-batches into the gradients (DDP all-reduces on the last only);
        returns (the mean loss, the last micro-batch's logs)."""
        cfg = self.cfg
        total = 0.0
        logs: dict[str, float] = {}
        amp = cfg.amp and self.device.type == "cuda"
        for m in range(cfg.accum):
            batch = next(self.batches)
            self.skipped += int(getattr(batch, "skipped", 0))
            if hasattr(batch, "to"):
                batch = batch.to(self.device)
            sync = self.world == 1 or m == cfg.accum - 1
            with contextlib.nullcontext() if sync else cast(Any, self.model).no_sync():
                with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=amp):
                    loss, logs = self.model(batch)
                if not torch.isfinite(loss):
                    raise FloatingPointError(f"non-finite loss {float(loss)} at step {self.step}")
                (loss / cfg.accum).backward()
            total += loss.item() / cfg.accum
        if self.world > 1:  # the logged loss is the global batch's, as one process with the whole batch logs it
            t = torch.tensor(total / self.world, device=self.device if self.device.type == "cuda" else "cpu")
            dist.all_reduce(t)
            total = float(t)
        return total, logs

    def elapsed_s(self) -> float:
        """Training seconds so far, across resumes."""
        return self.elapsed + time.time() - self.started

    def out_of_time(self) -> bool:
        """Whether the run's time budget (cfg.minutes; 0 = none) is spent. Under DDP rank 0 decides for all,
        so every rank stops after the same step."""
        if self.cfg.minutes <= 0:
            return False
        done = torch.tensor(float(self.elapsed_s() >= 60.0 * self.cfg.minutes))
        if self.world > 1:
            done = done.to(self.device)
            dist.broadcast(done, 0)
        return bool(done.item())

    def run(self) -> dict[str, float]:
        """Train from the current step to cfg.steps; returns the last logged losses."""
        cfg = self.cfg
        self.model.train()
        self.started = time.time()
        logf = open(self.out / "log.jsonl", "a") if self.rank == 0 else None  # noqa: SIM115
        last: dict[str, float] = {}
        t0 = time.time()
        try:
            end = min(cfg.steps, cfg.stop_after) if cfg.stop_after else cfg.steps
            while self.step < end and not self.out_of_time():
                for g in self.opt.param_groups:
                    g["lr"] = lr_at(self.step, cfg, self.elapsed_s()) * g.get("lr_scale", 1.0)
                self.opt.zero_grad(set_to_none=True)
                loss_sum, logs = self.accumulate()
                gn = torch.nn.utils.clip_grad_norm_(self.stage.parameters(), cfg.grad_clip)
                self.opt.step()
                self.step += 1
                last = {"loss": loss_sum, **logs, "grad_norm": float(gn)}
                if self.skipped:
                    last["skipped"] = float(self.skipped)
                if logf and (self.step % cfg.log_every == 0 or self.step == cfg.steps):
                    rec = {
                        "step": self.step,
                        "lr": lr_at(self.step - 1, cfg, self.elapsed_s()),
                        **last,
                        "s_per_step": (time.time() - t0) / cfg.log_every,
                        "time": time.time(),
                    }
                    rec["images_per_s"] = cfg.batch_size * cfg.accum * self.world / max(rec["s_per_step"], 1e-9)
                    if self.device.type == "cuda":  # peak memory of this process's GPU since the last log
                        rec["gpu_peak_gb"] = torch.cuda.max_memory_allocated(self.device) / 1e9
                        torch.cuda.reset_peak_memory_stats(self.device)
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
