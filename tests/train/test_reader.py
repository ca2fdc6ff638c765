"""Training the instruction reader: member heads, their ensemble, and the file the reader loads."""

from pathlib import Path

import pytest
import torch

from limner.studio.reader import InstructionReader, ReaderConfig, ReaderEnsemble, ReaderHead
from limner.train.reader import assemble, main, train


def _states(seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(3, 5, 384, generator=g)  # (B, W, D)
    mask = torch.tensor([[True] * 5, [True] * 3 + [False] * 2, [True] + [False] * 4])
    return x, mask, torch.tensor([True, False, True])


def test_an_ensemble_of_one_reads_as_its_head_and_of_copies_reads_the_same() -> None:
    torch.manual_seed(0)
    head = ReaderHead(ReaderConfig()).eval()
    x, mask, image = _states(1)
    tl, al = head(x, mask, image)
    for k in (1, 3):
        ens = assemble([head] * k)
        etl, eal = ens(x, mask, image)  # log mean probabilities: the head's own log-probabilities
        assert torch.allclose(etl, tl.log_softmax(-1), atol=1e-5)
        assert torch.allclose(eal, al.log_softmax(-1), atol=1e-5)


def test_an_ensemble_averages_its_members_probabilities() -> None:
    torch.manual_seed(0)
    a, b = ReaderHead(ReaderConfig()).eval(), ReaderHead(ReaderConfig()).eval()
    x, mask, image = _states(2)
    _, aa = a(x, mask, image)
    _, ba = b(x, mask, image)
    _, ea = assemble([a, b])(x, mask, image)
    assert torch.allclose(ea.exp(), (aa.softmax(-1) + ba.softmax(-1)) / 2, atol=1e-5)
    assert torch.allclose(ea.exp().sum(-1), torch.ones(3), atol=1e-5)


def test_a_reader_needs_a_member() -> None:
    with pytest.raises(ValueError, match="members=0"):
        ReaderEnsemble(ReaderConfig(members=0))


def test_trained_members_save_as_one_reader_that_loads(tmp_path: Path) -> None:
    out = tmp_path / "reader.safetensors"
    res = train(48, 16, 1, seeds=[3, 4], out=out, log=False)
    assert 0.0 <= res["dev_exact"] <= res["dev_action"] <= 1.0
    reader = InstructionReader.load(out)
    assert reader.head.cfg.members == 2 and len(reader.head.members) == 2
    assert reader.read("undo").action in ("edit", "generate", "undo", "none")
    # the members are different heads (seeds 3 and 4), not one copied
    p0, p1 = (next(m.parameters()) for m in reader.head.members)
    assert not torch.equal(p0, p1)


def test_the_trainer_s_flags_are_checked(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["--seeds", "0,x"])
    assert e.value.code == 2 and "--seeds must be comma-separated integers, got '0,x'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["--seeds", "3,3"])
    assert e.value.code == 2 and "must not repeat a seed" in capsys.readouterr().err
