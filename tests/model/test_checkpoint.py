from pathlib import Path

import pytest
import torch

from limner.model.checkpoint import CheckpointError, read_checkpoint, save_checkpoint
from limner.model.config import MODEL_SIZES, ModelConfig, get_config
from limner.model.native import NativeModel


def test_config_round_trips_through_json() -> None:
    for name in MODEL_SIZES:
        cfg = get_config(name)
        assert ModelConfig.from_json(cfg.to_json()) == cfg
    with pytest.raises(ValueError, match="'huge'"):
        get_config("huge")
    with pytest.raises(ValueError, match="bogus"):
        ModelConfig.from_dict({"prior": {"bogus": 1}})


def test_checkpoint_alone_rebuilds_the_model(tiny_model: NativeModel, tiny_checkpoint: Path) -> None:
    m = NativeModel.from_checkpoint(tiny_checkpoint)
    assert m.config == tiny_model.config
    assert m.text.itos == tiny_model.text.itos
    for a, b in zip(m.prior.parameters(), tiny_model.prior.parameters(), strict=True):
        assert torch.equal(a, b)
    assert len(m.sha256) == 64


def test_missing_corrupt_and_partial_checkpoints_are_named(tmp_path: Path, tiny_model: NativeModel) -> None:
    with pytest.raises(CheckpointError, match="does not exist"):
        NativeModel.from_checkpoint(tmp_path / "missing.safetensors")
    bad = tmp_path / "corrupt.safetensors"
    bad.write_bytes(b"\x00garbage" * 10)
    with pytest.raises(CheckpointError, match="corrupt.safetensors.*not a readable"):
        NativeModel.from_checkpoint(bad)
    partial = tmp_path / "partial.safetensors"
    save_checkpoint(
        partial, tiny_model.config, {"tokenizer": tiny_model.tokenizer}, {"text_vocab": tiny_model.text.to_json()}
    )
    with pytest.raises(CheckpointError, match="no 'decoder' weights"):
        NativeModel.from_checkpoint(partial)
    cfg, _, md = read_checkpoint(partial)
    assert cfg == tiny_model.config and md["format"] == "limner-1"


def test_shape_mismatch_is_strict(tmp_path: Path, tiny_model: NativeModel) -> None:
    other = get_config("tiny")
    other.prior.d_model = 64
    m2 = NativeModel.build(other, tiny_model.text)
    path = tmp_path / "mismatch.safetensors"
    save_checkpoint(
        path,
        tiny_model.config,
        {"tokenizer": m2.tokenizer, "decoder": m2.decoder, "prior": m2.prior},
        {"text_vocab": tiny_model.text.to_json()},
    )
    with pytest.raises(CheckpointError, match="prior"):
        NativeModel.from_checkpoint(path)


def test_files_in_parts_round_trip_and_replace_each_other(tmp_path: Path) -> None:
    from limner.model.checkpoint import part_paths, read_file, write_file

    p = tmp_path / "blob.bin"
    data = bytes(range(256)) * 40  # 10,240 bytes
    write_file(p, data, max_bytes=4000)
    assert not p.exists() and [q.name for q in part_paths(p)] == ["blob.bin.part000", "blob.bin.part001",
                                                                  "blob.bin.part002"]
    assert read_file(p) == data
    write_file(p, data[:100], max_bytes=4000)  # small enough for one file: the parts go
    assert p.read_bytes() == data[:100] and not part_paths(p)
    write_file(p, data, max_bytes=6000)  # and back: the whole file goes
    assert not p.exists() and len(part_paths(p)) == 2 and read_file(p) == data
    with pytest.raises(FileNotFoundError, match="nope"):
        read_file(tmp_path / "nope")
