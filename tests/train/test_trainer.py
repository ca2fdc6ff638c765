import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from limner.model.checkpoint import read_checkpoint
from limner.model.native import NativeModel
from limner.train.run import train
from limner.train.trainer import TrainConfig, lr_at


def test_lr_schedule_warms_up_and_decays() -> None:
    cfg = TrainConfig(stage="x", out_dir="x", steps=100, lr=1.0, warmup=10, min_lr_frac=0.1)
    assert lr_at(0, cfg) == pytest.approx(0.1)
    assert lr_at(9, cfg) == pytest.approx(1.0)
    assert lr_at(99, cfg) == pytest.approx(0.1, abs=0.01)
    assert lr_at(50, cfg) < lr_at(20, cfg)


def test_tokenizer_stage_trains_resumes_and_saves_config(tmp_path: Path) -> None:
    out = tmp_path / "tok"
    cfg = TrainConfig(
        stage="tokenizer", out_dir=str(out), steps=3, batch_size=2, lr=1e-3, warmup=1, log_every=1, save_every=3, seed=1
    )
    train("tokenizer", cfg, size="tiny", crop=64, log=lambda s: None)
    logs = [json.loads(x) for x in (out / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in logs] == [1, 2, 3] and all(r["loss"] > 0 for r in logs)
    mcfg, tensors, md = read_checkpoint(out / "model.safetensors")
    assert mcfg.name == "tiny" and json.loads(md["step"]) == 3
    assert any(k.startswith("decoder.") for k in tensors)
    cfg.steps = 5
    train("tokenizer", cfg, size="tiny", crop=64, log=lambda s: None)
    steps = [json.loads(x)["step"] for x in (out / "log.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4, 5]  # resumed at 3, not restarted


def test_prior_stage_writes_a_complete_model(tmp_path: Path) -> None:
    tok = TrainConfig(stage="tokenizer", out_dir=str(tmp_path / "tok"), steps=1, batch_size=2, warmup=1, log_every=1)
    train("tokenizer", tok, size="tiny", crop=64, log=lambda s: None)
    pri = TrainConfig(stage="prior", out_dir=str(tmp_path / "prior"), steps=2, batch_size=2, warmup=1, log_every=1)
    last = train("prior", pri, tokenizer_ckpt=str(tmp_path / "tok" / "model.safetensors"), log=lambda s: None)
    assert last["img_ce"] > 0
    m = NativeModel.from_checkpoint(tmp_path / "prior" / "model.safetensors")
    assert m.config.name == "tiny"
    # the tokenizer is frozen in the prior stage: its weights are carried over unchanged
    _, t0, _ = read_checkpoint(tmp_path / "tok" / "model.safetensors")
    assert torch.equal(m.tokenizer.state_dict()["encoder.0.weight"], t0["tokenizer.encoder.0.weight"])


def test_two_process_ddp_on_cpu(tmp_path: Path) -> None:
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc-per-node",
        "2",
        "--master-port",
        "29517",
        "-m",
        "limner.cli.main",
        "train",
        "tokenizer",
        "--size",
        "tiny",
        "--steps",
        "2",
        "--batch-size",
        "2",
        "--crop",
        "64",
        "--warmup",
        "1",
        "--log-every",
        "1",
        "--out",
        str(out),
    ]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert (out / "model.safetensors").is_file()
    assert len((out / "log.jsonl").read_text().splitlines()) == 2  # rank 0 alone logs


def test_tokenizer_alone_then_decoder_then_prior_of_another_size(tmp_path: Path) -> None:
    """The shipped recipe's order: tokenizer with --flow-weight 0 (decoder untouched), the decoder on
    the frozen codes, and a prior whose architecture comes from a named size, not the tokenizer's."""
    tok_out = tmp_path / "tok"
    tok = TrainConfig(stage="tokenizer", out_dir=str(tok_out), steps=2, batch_size=2, warmup=1, log_every=1)
    last = train("tokenizer", tok, size="tiny", crop=64, flow_weight=0.0, log=lambda s: None)
    assert "flow" not in last and last["rec"] > 0
    _, t_tok, _ = read_checkpoint(tok_out / "model.safetensors")
    dec = TrainConfig(stage="decoder", out_dir=str(tmp_path / "dec"), steps=2, batch_size=2, warmup=1, log_every=1)
    assert train("decoder", dec, init=str(tok_out / "model.safetensors"), crop=64, log=lambda s: None)["flow"] > 0
    _, t_dec, _ = read_checkpoint(tmp_path / "dec" / "model.safetensors")
    assert torch.equal(t_dec["tokenizer.encoder.0.weight"], t_tok["tokenizer.encoder.0.weight"])  # frozen
    assert not torch.equal(t_dec["decoder.x_in.weight"], t_tok["decoder.x_in.weight"])  # trained
    pri = TrainConfig(stage="prior", out_dir=str(tmp_path / "prior"), steps=1, batch_size=2, warmup=1, log_every=1)
    train("prior", pri, tokenizer_ckpt=str(tok_out / "model.safetensors"), size="tiny", log=lambda s: None)
    m = NativeModel.from_checkpoint(tmp_path / "prior" / "model.safetensors")
    assert m.config.prior.d_model == 32 and m.config.tokenizer.levels == (4, 4, 4)


def test_negative_flow_weight_is_refused(tmp_path: Path) -> None:
    cfg = TrainConfig(stage="tokenizer", out_dir=str(tmp_path / "t"), steps=1, batch_size=2, warmup=1)
    with pytest.raises(ValueError, match="flow_weight"):
        train("tokenizer", cfg, size="tiny", crop=64, flow_weight=-1.0, log=lambda s: None)


def test_param_groups_scale_the_named_parts_and_keep_decayed_groups_first() -> None:
    from torch import nn

    from limner.train.trainer import param_groups

    class Stage(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Linear(3, 3)
            self.layout_in = nn.Linear(3, 2)
            self.frozen = nn.Linear(2, 2).requires_grad_(False)
            self.lr_scales = {"layout_": 4.0}

    groups = param_groups(Stage(), 0.1)
    got = [(g["weight_decay"], g["lr_scale"], sum(p.numel() for p in g["params"])) for g in groups]
    assert got == [(0.1, 1.0, 9), (0.1, 4.0, 6), (0.0, 1.0, 3), (0.0, 4.0, 2)]  # frozen parts left out


@pytest.mark.parametrize(("args", "message"), [
    (["prior", "--tokenizer", "x.safetensors", "--glyph-refine", "8"], "for the decoder stage, not 'prior'"),
    (["decoder", "--init", "x.safetensors", "--glyph-refine", "-1"], "--glyph-refine must be >= 0, got -1"),
])
def test_cli_glyph_refine_is_checked(tmp_path: Path, args: list[str], message: str) -> None:
    r = subprocess.run([sys.executable, "-m", "limner.cli.main", "train", *args, "--out", str(tmp_path / "o")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and message in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "o").exists()  # nothing half-written
