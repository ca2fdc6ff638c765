"""The prior stage's loss weighting: codes unlike their predecessor count more."""

from pathlib import Path

import pytest
import torch

from limner.train.run import train
from limner.train.stages import novel_token_weights
from limner.train.trainer import TrainConfig


def test_novel_token_weights_mark_changes_only() -> None:
    inputs = torch.tensor([[5, 7, 7, 7, 9]])
    targets = torch.tensor([[7, 7, 7, 9, 9]])  # targets[t] follows inputs[t]
    w = novel_token_weights(inputs, targets, 3.0)
    assert w.tolist() == [[4.0, 1.0, 1.0, 4.0, 1.0]]
    assert torch.equal(novel_token_weights(inputs, targets, 0.0), torch.ones(1, 5))


def test_negative_novel_weight_is_refused() -> None:
    with pytest.raises(ValueError, match="novel_weight must be >= 0, got -1"):
        novel_token_weights(torch.zeros(1, 2, dtype=torch.long), torch.zeros(1, 2, dtype=torch.long), -1.0)


def test_weighted_prior_stage_logs_plain_and_novel_ce(tmp_path: Path) -> None:
    tok = TrainConfig(stage="tokenizer", out_dir=str(tmp_path / "tok"), steps=1, batch_size=2, warmup=1, log_every=1)
    train("tokenizer", tok, size="tiny", crop=64, log=lambda s: None)
    pri = TrainConfig(stage="prior", out_dir=str(tmp_path / "prior"), steps=2, batch_size=2, warmup=1, log_every=1)
    last = train("prior", pri, tokenizer_ckpt=str(tmp_path / "tok" / "model.safetensors"), novel_weight=3.0,
                 log=lambda s: None)
    # the novel codes (first code, edges) are the hard ones: their CE is above the plain mean's floor
    assert last["img_ce"] > 0 and last["novel_ce"] > 0


def test_parse_mix_reads_weights_and_names_bad_parts() -> None:
    from limner.train.run import parse_mix

    assert parse_mix("single_object=1, colors=0.5,text") == {"single_object": 1.0, "colors": 0.5, "text": 1.0}
    with pytest.raises(ValueError, match="unknown tag 'shapes'"):
        parse_mix("shapes=1")
    with pytest.raises(ValueError, match="bad weight 'lots'"):
        parse_mix("colors=lots")
    with pytest.raises(ValueError, match="no tag a positive weight"):
        parse_mix("colors=0")
