import dataclasses

import pytest
import torch

from limner.model.config import PriorConfig
from limner.model.prior import Prior


def _model() -> Prior:
    torch.manual_seed(0)
    return Prior(PriorConfig(d_model=32, n_layers=2, n_heads=4, max_seq=128), vocab_size=50)


def test_kv_cache_decode_matches_full_forward() -> None:
    m = _model().eval()
    tokens = torch.randint(0, 50, (2, 20))
    grid = torch.zeros(2, 20, 2, dtype=torch.long)
    grid[:, 10:, 0] = torch.arange(1, 11)
    full = m(tokens, grid)
    cache = m.new_cache(2, 20)
    step = [m(tokens[:, :10], grid[:, :10], cache=cache)]
    for i in range(10, 20):
        step.append(m(tokens[:, i : i + 1], grid[:, i : i + 1], cache=cache))
    assert torch.allclose(torch.cat(step, 1), full, atol=1e-5)
    assert cache.length == 20


def test_left_padding_does_not_change_the_result() -> None:
    m = _model().eval()
    seq = torch.randint(1, 50, (1, 8))
    grid = torch.zeros(1, 8, 2, dtype=torch.long)
    plain = m(seq, grid)[:, -1]
    padded = torch.cat([torch.zeros(1, 3, dtype=torch.long), seq], 1)
    valid = torch.tensor([[False] * 3 + [True] * 8])
    pos = (valid.long().cumsum(1) - 1).clamp(min=0)
    out = m(padded, torch.zeros(1, 11, 2, dtype=torch.long), pos_ids=pos, key_valid=valid)[:, -1]
    assert torch.allclose(plain, out, atol=1e-5)


def test_causality() -> None:
    m = _model().eval()
    a = torch.randint(0, 50, (1, 12))
    b = a.clone()
    b[0, 8:] = (b[0, 8:] + 1) % 50
    grid = torch.zeros(1, 12, 2, dtype=torch.long)
    assert torch.allclose(m(a, grid)[:, :8], m(b, grid)[:, :8], atol=1e-6)


def test_hex_levels_share_rows_with_hex_digits() -> None:
    """A hex_levels prior reads and writes colour level l through hex digit l's embedding row: same logits for
    both ids, and the same hidden state after either; a colourless vocabulary is left alone."""
    import torch

    from limner.model.config import get_config
    from limner.model.layout import C0, layout_offset
    from limner.model.native import NativeModel, prior_vocab

    cfg = get_config("tiny")
    m = NativeModel.build(cfg)
    text = m.text
    lvl = layout_offset(text.vocab_size, cfg.tokenizer.codebook_size) + C0 + 0xE
    digit = text.stoi["#e"]
    assert m.prior.rows is not None and int(m.prior.rows[lvl]) == digit
    grid = torch.zeros(1, 3, 2, dtype=torch.long)
    with torch.no_grad():
        a = m.prior(torch.tensor([[1, 5, lvl]]), grid)
        b = m.prior(torch.tensor([[1, 5, digit]]), grid)
    assert torch.allclose(a, b) and torch.allclose(a[0, -1, lvl], a[0, -1, digit])
    plain = dataclasses.replace(cfg, prior=dataclasses.replace(cfg.prior, layout_colour=False))
    assert prior_vocab(plain, text)[1] is None
    with pytest.raises(ValueError, match="needs its embedding rows"):
        Prior(cfg.prior, 100)
