"""Region resampling in the token loop: fixed codes are kept, only the span of free codes is sampled."""

import torch

from limner.engine.decode import SamplingParams, free_span, sample_codes
from limner.model.native import NativeModel


def test_free_span() -> None:
    keep = torch.full((2, 6), 7)
    keep[0, 2] = keep[1, 4] = -1
    assert free_span(keep) == (2, 5) and free_span(torch.zeros(1, 3)) == (0, 0)


def test_fixed_codes_are_kept(tiny_model: NativeModel) -> None:
    fixed = torch.full((1, 16, 16), 5)
    fixed[0, 3, 4:6] = -1
    out = sample_codes(tiny_model, ["a red star"], (256, 256), SamplingParams(), torch.Generator().manual_seed(0),
                       fixed=fixed)
    assert out.shape == (1, 16, 16) and (out[fixed >= 0] == 5).all() and (out >= 0).all()
    assert torch.equal(sample_codes(tiny_model, ["x"], (256, 256), SamplingParams(), fixed=torch.ones(1, 16, 16,
                                                                                                      dtype=torch.long)),
                       torch.ones(1, 16, 16, dtype=torch.long))


def test_novel_temperature_sampling_is_seeded_and_keeps_fixed_codes(tiny_model: NativeModel) -> None:
    sp = SamplingParams(novel_temperature=0.3)
    a = sample_codes(tiny_model, ["a red star", "two rings"], (256, 256), sp, torch.Generator().manual_seed(1))
    b = sample_codes(tiny_model, ["a red star", "two rings"], (256, 256), sp, torch.Generator().manual_seed(1))
    k = tiny_model.config.tokenizer.codebook_size
    assert torch.equal(a, b) and a.min() >= 0 and a.max() < k
    fixed = torch.full((1, 16, 16), 9)
    fixed[0, 5:7] = -1
    out = sample_codes(tiny_model, ["a red star"], (256, 256), sp, torch.Generator().manual_seed(0), fixed=fixed)
    assert (out[fixed >= 0] == 9).all() and (out >= 0).all()
