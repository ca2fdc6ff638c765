"""Data are a function of (seed, step, row) (batches.Shard), so the world size, gradient accumulation and
resuming change how a global batch is computed, never what it holds: 1 process of batch 4, 2 processes of
batch 2, 1 process of batch 2 x 2 micro-batches, and 2 processes stopped half-way then resumed by 1 process
train the same model. The tokenizer stage with --flow-weight 0 has no randomness of its own, so their losses
agree to float rounding."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from limner.model.checkpoint import read_checkpoint
from limner.train.batches import SceneBatcher, Shard

STEPS = 4


def _train(out: Path, procs: int, batch: int, *extra: str, port: int = 29531) -> None:
    launch = [sys.executable, "-m", "limner.cli.main"] if procs == 1 else [
        sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(procs), "--master-port", str(port),
        "-m", "limner.cli.main"]
    cmd = [*launch, "train", "tokenizer", "--size", "tiny", "--flow-weight", "0", "--steps", str(STEPS),
           "--batch-size", str(batch), "--warmup", "1", "--lr", "3e-3", "--log-every", "1", "--save-every", "1",
           "--seed", "3", "--threads", "1", "--device", "cpu", "--out", str(out), *extra]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]


def _losses(out: Path) -> list[float]:
    return [json.loads(x)["loss"] for x in (out / "log.jsonl").read_text().splitlines()]


def test_world_size_accumulation_and_resume_train_the_same_model(tmp_path: Path) -> None:
    one, two, acc, res = (tmp_path / n for n in ("one", "two", "accum", "resumed"))
    _train(one, 1, 4)
    _train(two, 2, 2)
    _train(acc, 1, 2, "--accum", "2")
    _train(res, 2, 2, "--stop-after", "2", port=29532)  # saved at world size 2 ...
    assert len(_losses(res)) == 2
    _train(res, 1, 4)  # ... resumed at world size 1, same global batch
    ref = _losses(one)
    assert len(ref) == STEPS and ref[-1] < ref[0]  # it trains
    for run in (two, acc, res):
        assert _losses(run) == pytest.approx(ref, abs=1e-4), run.name
    _, w_one, _ = read_checkpoint(one / "model.safetensors")
    _, w_res, _ = read_checkpoint(res / "model.safetensors")
    diff = max(float((w_one[k] - w_res[k]).abs().max()) for k in w_one)
    assert diff < 1e-4


def test_shards_split_the_global_batch_by_rank_micro_batch_and_worker() -> None:



    assert Shard(0, rank=1, world=2).place(3, 2) == (3, range(2, 4))
    assert Shard(0, rank=1, world=2, accum=2).place(3, 2) == (1, range(6, 8))  # step 1, micro 1: rows 6-7 of 8
    w0, w1 = Shard(0, start=4).split(2, 0), Shard(0, start=4).split(2, 1)
    it0, it1 = w0.items(), w1.items()
    assert [next(it0), next(it1), next(it0), next(it1)] == [4, 5, 6, 7]  # round-robin restores the order

    with pytest.raises(ValueError, match="bad shard"):
        Shard(0, rank=2, world=2)


def test_a_batch_is_the_same_rows_whoever_makes_it() -> None:
    whole = next(SceneBatcher(4, 5, mix={"single_object": 1.0}))
    halves = [next(SceneBatcher(2, 5, mix={"single_object": 1.0}, shard=Shard(5, rank=r, world=2))) for r in (0, 1)]
    assert halves[0].prompts + halves[1].prompts == whole.prompts
    assert torch.equal(torch.cat([h.images for h in halves]), whole.images)


def test_a_run_capped_at_small_files_writes_parts_that_resume_and_load(tmp_path: Path) -> None:
    """--max-file-mb (a lent GPU machine returns files of at most 16 MB): the model and the resumable state are
    written in parts, a rerun resumes from them, and every loader reads a checkpoint in parts."""
    from limner.model.checkpoint import file_sha256, part_paths

    out = tmp_path / "capped"
    _train(out, 1, 2, "--max-file-mb", "0.1", "--stop-after", "2")
    assert not (out / "model.safetensors").exists() and len(part_paths(out / "model.safetensors")) > 1
    assert all(p.stat().st_size <= 100_000 for p in out.iterdir() if ".part" in p.name)
    assert len(part_paths(out / "state.pt")) > 1
    _train(out, 1, 2, "--max-file-mb", "0.1")  # resumes from the parts
    assert [json.loads(x)["step"] for x in (out / "log.jsonl").read_text().splitlines()] == [1, 2, 3, 4]
    cfg, tensors, md = read_checkpoint(out / "model.safetensors")
    assert cfg.name == "tiny" and json.loads(md["step"]) == STEPS and tensors
    assert len(file_sha256(out / "model.safetensors")) == 64
    _train(out, 1, 2)  # uncapped again: one file, the stale parts removed
    assert (out / "model.safetensors").is_file() and not part_paths(out / "model.safetensors")


def test_a_sharded_optimizer_trains_the_same_model_and_resumes_at_any_world_size(tmp_path: Path) -> None:
    """ZeRO stage 1 (--shard-optimizer): 2 processes each holding half the AdamW state train the model that
    1 process does, and a sharded run's checkpoint (its state gathered on save) resumes in 1 process."""
    one, zero, resumed = (tmp_path / n for n in ("one", "zero", "zero-resumed"))
    _train(one, 1, 4)
    _train(zero, 2, 2, "--shard-optimizer", port=29533)
    _train(resumed, 2, 2, "--shard-optimizer", "--stop-after", "2", port=29534)
    state = torch.load(resumed / "state.pt", weights_only=False)
    n_params = sum(1 for g in state["opt"]["param_groups"] for _ in g["params"])
    assert len(state["opt"]["state"]) == n_params  # the whole optimizer state, not rank 0's share
    _train(resumed, 1, 4)
    ref = _losses(one)
    for run in (zero, resumed):
        assert _losses(run) == pytest.approx(ref, abs=1e-4), run.name
