"""After its final save the trainer calls `on_finish`, where `limner train` draws loss.png beside log.jsonl."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch import nn

from limner.evals.charts import draw_or_warn, loss_chart
from limner.model.config import get_config
from limner.train.batches import Shard
from limner.train.trainer import TrainConfig, Trainer


class LineStage(nn.Module):
    """A one-weight regression stage: the trainer's loop and saves run in milliseconds, not the real nets."""

    def __init__(self) -> None:
        super().__init__()
        self.line = nn.Linear(1, 1)

    def forward(self, batch: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        mse = (self.line(batch) - 2 * batch).pow(2).mean()
        return mse, {"mse": mse.item()}

    def checkpoint_modules(self) -> dict[str, nn.Module]:
        return {"line": self.line}

    def checkpoint_meta(self) -> dict[str, Any]:
        return {}


def batches(shard: Shard) -> Iterator[torch.Tensor]:
    g = torch.Generator().manual_seed(shard.seed)
    while True:
        yield torch.randn(8, 1, generator=g)


def test_final_save_draws_the_loss_curve(tmp_path: Path) -> None:
    out = tmp_path / "line"
    cfg = TrainConfig(stage="line", out_dir=str(out), steps=6, warmup=1, log_every=2, save_every=6, lr=0.1)
    said: list[str] = []
    finish = lambda log: draw_or_warn(loss_chart, log, log.with_name("loss.png"), warn=said.append)  # noqa: E731
    Trainer(cfg, get_config("tiny"), LineStage(), batches, log=said.append, on_finish=finish).run()
    assert not [s for s in said if "not drawn" in s], said
    assert (out / "model.safetensors").exists() and len((out / "log.jsonl").read_text().splitlines()) == 3
    with Image.open(out / "loss.png") as im:
        assert im.format == "PNG" and 400 <= im.width <= 2000 and 300 <= im.height <= 1500
