"""On a CUDA GPU (skipped without one): training with bf16 autocast and data-loader workers, and a checkpoint
saved there that loads and generates on the CPU."""

from pathlib import Path

import pytest
import torch

from limner.model.native import NativeModel
from limner.train.run import train
from limner.train.trainer import TrainConfig

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def test_prior_trains_on_the_gpu_in_bf16_and_loads_on_the_cpu(tmp_path: Path) -> None:
    tok = TrainConfig(stage="tokenizer", out_dir=str(tmp_path / "tok"), steps=2, batch_size=4, warmup=1,
                      device="cuda", workers=1)
    train("tokenizer", tok, size="tiny", crop=64, log=lambda s: None)
    pri = TrainConfig(stage="prior", out_dir=str(tmp_path / "prior"), steps=3, batch_size=4, warmup=1, log_every=1,
                      device="cuda", workers=2, amp=True)
    last = train("prior", pri, tokenizer_ckpt=str(tmp_path / "tok" / "model.safetensors"), log=lambda s: None)
    assert torch.isfinite(torch.tensor(last["loss"]))
    m = NativeModel.from_checkpoint(tmp_path / "prior" / "model.safetensors")  # saved from the GPU, read on the CPU
    assert m.device.type == "cpu"
