import pytest
import torch

from limner.engine.sampling import cfg_logits, sample_from_logits, top_k_filter, top_p_filter


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
