from pathlib import Path

import pytest
import torch

from limner.model.config import PriorConfig
from limner.model.prior import Prior


def _model() -> Prior:
    torch.manual_seed(0)
    # every id its own embedding row, and ids 30-46 standing for '#' and the hex digits
    return Prior(PriorConfig(d_model=32, n_layers=2, n_heads=4, max_seq=128), vocab_size=50, rows=torch.arange(50),
                 hex_ids=torch.arange(30, 47))


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
    """The prior reads and writes colour level l through hex digit l's embedding row: same logits for both ids,
    and the same hidden state after either; rows of the wrong length are refused."""
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
    vocab, rows, hex_ids, img_id = prior_vocab(cfg, text)
    with pytest.raises(ValueError, match=r"embedding rows have shape \(\d+,\), expected \(100,\)"):
        Prior(cfg.prior, 100, rows, hex_ids, img_id)


def test_hex_slots_number_the_digits_of_each_colour() -> None:
    """Each digit of a #RRGGBB gets its slot 1-6 (a second colour starts again at 1); other tokens, a quoted
    character and a lone '#' get 0."""
    from limner.model.prior import hex_slots
    from limner.model.text_tokenizer import TextTokenizer

    text = TextTokenizer.build_default()
    hex_ids = torch.tensor([text.id("#"), *text.hex_digit_ids()])
    ids = text.encode('a circle in #C5302F on a #a3b0b0 background, the word "#7"')
    slots = hex_slots(torch.tensor([ids, ids]), hex_ids)
    assert slots.shape == (2, len(ids))
    digits = [i for i, s in enumerate(slots[0].tolist()) if s]
    assert slots[0, digits].tolist() == [1, 2, 3, 4, 5, 6] * 2
    assert all(ids[i - k] == text.id("#") for i, k in zip(digits, slots[0, digits].tolist(), strict=True))
    assert torch.equal(slots[0], slots[1])


def test_hex_slots_prior_starts_as_it_was_and_reads_the_slot(tmp_path: Path) -> None:
    """A prior converted from one written before hex slots (its slot table added at zero) gives the same logits;
    once the table is not zero, only positions at and after a hex digit change, and bad hex ids are refused."""
    from limner.model.checkpoint import read_checkpoint, save_checkpoint
    from limner.model.config import get_config
    from limner.model.native import NativeModel, prior_vocab
    from limner.train.upgrade import load_prior_growing_vocab

    on = get_config("tiny")
    torch.manual_seed(0)
    m = NativeModel.build(on)
    save_checkpoint(tmp_path / "p.safetensors", on, {"prior": m.prior})
    old = {k: v for k, v in read_checkpoint(tmp_path / "p.safetensors")[1].items() if "hex_slot" not in k}
    p2 = Prior(on.prior, *prior_vocab(on, m.text)).eval()
    logs: list[str] = []
    load_prior_growing_vocab(p2, old, tmp_path / "p.safetensors", logs.append)
    assert logs == ["prior: added the embeddings ['hex_slot.weight'] (at zero)"]
    ids = torch.tensor([m.text.encode("a circle in #C5302F")])
    grid = torch.zeros(*ids.shape, 2, dtype=torch.long)
    with torch.no_grad():
        assert torch.equal(m.prior(ids, grid), p2(ids, grid))
        p2.hex_slot.weight[1:].normal_()
        first = ids[0].tolist().index(m.text.id("#")) + 1
        a, b = m.prior(ids, grid), p2(ids, grid)
    assert torch.equal(a[:, :first], b[:, :first]) and not torch.allclose(a[:, first:], b[:, first:])
    p2(ids, grid).sum().backward()
    grad = p2.hex_slot.weight.grad
    assert grad is not None and float(grad[0].abs().max()) == 0.0 and float(grad[1:].abs().max()) > 0
    vocab, rows, hex_ids, img_id = prior_vocab(on, m.text)
    with pytest.raises(ValueError, match=r"hex_ids must be the ids of '#' and the 16 hex digits, got shape \(5,\)"):
        Prior(on.prior, vocab, rows, hex_ids[:5], img_id)


def test_hex_slots_prior_decodes_with_a_cache_as_in_one_pass() -> None:
    """The prompt prefilled at once and the tokens after it one at a time (the slot lookup skipped for them)
    give the logits of one full pass, with a non-zero slot table."""
    from limner.model.config import get_config
    from limner.model.native import NativeModel

    torch.manual_seed(0)
    m = NativeModel.build(get_config("tiny"))
    with torch.no_grad():
        m.prior.hex_slot.weight[1:].normal_()
    prompt = m.text.encode("a circle in #C5302F on a #a3b0b0 background")
    ids = torch.tensor([prompt + [5, 7, 9]])
    grid = torch.zeros(*ids.shape, 2, dtype=torch.long)
    n = len(prompt)
    with torch.no_grad():
        full = m.prior(ids, grid)
        cache = m.prior.new_cache(1, ids.shape[1])
        steps = [m.prior(ids[:, :n], grid[:, :n], cache=cache)]
        steps += [m.prior(ids[:, i : i + 1], grid[:, i : i + 1], cache=cache) for i in range(n, ids.shape[1])]
    assert torch.allclose(torch.cat(steps, 1), full, atol=1e-5)
