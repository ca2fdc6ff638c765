import pytest
import torch

from limner.engine.sampling import (
    cfg_logits,
    near_codes,
    sample_from_logits,
    sample_with_repeat,
    top_k_filter,
    top_p_filter,
)
from limner.model.image_tokenizer import FSQ


def test_cfg_interpolates_and_extrapolates() -> None:
    c, u = torch.tensor([[2.0, 0.0]]), torch.tensor([[1.0, 1.0]])
    assert torch.equal(cfg_logits(c, u, 1.0), c)
    assert torch.equal(cfg_logits(c, u, 0.0), u)
    assert torch.allclose(cfg_logits(c, u, 3.0), torch.tensor([[4.0, -2.0]]))


def test_top_k_keeps_k() -> None:
    x = torch.tensor([[1.0, 5.0, 3.0, 4.0]])
    out = top_k_filter(x, 2)
    assert torch.isfinite(out).sum() == 2 and torch.isfinite(out[0, 1]) and torch.isfinite(out[0, 3])


def test_top_p_keeps_the_nucleus() -> None:
    x = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    kept = torch.isfinite(top_p_filter(x, 0.7))[0].tolist()
    assert kept == [True, True, False, False]
    with pytest.raises(ValueError, match="top_p"):
        top_p_filter(x, 0.0)


def test_seeded_sampling_is_reproducible_and_greedy_is_argmax() -> None:
    x = torch.randn(4, 30)
    a = sample_from_logits(x, 1.0, generator=torch.Generator().manual_seed(3))
    b = sample_from_logits(x, 1.0, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    assert torch.equal(sample_from_logits(x, 0.0), x.argmax(-1))


def test_fsq_digits_and_near_codes() -> None:
    d = FSQ((8, 5, 3)).digits(torch.arange(120))  # (120, 3), first level least significant
    assert d.shape == (120, 3) and d[1].tolist() == [1, 0, 0] and d[8].tolist() == [0, 1, 0]
    assert d[119].tolist() == [7, 4, 2]
    interior = 1 + 8 * 2 + 40 * 1  # digits (1, 2, 1): 3 x 3 x 3 neighbours, itself included
    near = near_codes(d, torch.tensor([interior, 0]))
    assert near[0].sum() == 27 and near[0, interior] and near[1].sum() == 8  # a corner has 2 x 2 x 2
    assert not near[0, interior + 2]  # two levels away on the first digit


def test_sample_with_repeat_keeps_the_change_rate_and_sharpens_the_choice() -> None:
    # 70% of the mass on the continuing set {0, 1}, 30% spread over the changes {2, 3, 4}
    p = torch.tensor([0.5, 0.2, 0.12, 0.1, 0.08])
    logits = p.log().expand(4000, 5)
    near = torch.tensor([True, True, False, False, False]).expand(4000, 5)
    g = torch.Generator().manual_seed(0)
    out = sample_with_repeat(logits, near, 1.0, 0.0, generator=g)
    # the continue-or-change decision keeps the model's odds, each draw is the mode of its set
    assert set(out.tolist()) == {0, 2}
    assert abs((out == 2).float().mean().item() - 0.30) < 0.03
    # temperature 0: plain greedy
    assert sample_with_repeat(logits[:2], near[:2], 0.0, 1.0, generator=g).tolist() == [0, 0]
    # nowhere to change to: drawn from all codes, never an error
    everything = torch.ones(3, 5, dtype=torch.bool)
    assert sample_with_repeat(logits[:3], everything, 1.0, 0.0).tolist() == [0, 0, 0]
    with pytest.raises(ValueError, match="-1"):
        sample_with_repeat(logits[:1], near[:1], 1.0, -1.0)
