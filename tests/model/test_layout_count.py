"""PriorConfig.layout_count: a layout's tokens carry how many objects it has written (prior.layout_counts)."""

import dataclasses
from pathlib import Path

import pytest
import torch

from limner.engine.decode import SamplingParams, prefill, sample_layouts
from limner.model.config import get_config
from limner.model.layout import (
    C0,
    END,
    MAX_OBJECTS,
    R0,
    X0,
    Y0,
    cell_objects,
    decode_layout,
    encode_layout,
    layout_vocab,
)
from limner.model.native import NativeModel, prior_vocab
from limner.model.prior import Prior, layout_counts
from limner.model.sequence import prompt_prefix


def _object(off: int, cls: int = 3) -> list[int]:
    """One colour layout object as prior ids: class, x, y, r, then R G B levels."""
    return [off + x for x in (1 + cls, X0 + 4, Y0 + 5, R0 + 2, C0 + 1, C0 + 2, C0 + 3)]


def _model(count_weights: bool = True) -> NativeModel:
    torch.manual_seed(0)
    m = NativeModel.build(get_config("tiny"))  # fresh sizes have the count
    if count_weights:
        with torch.no_grad():
            m.prior.lay_count.weight[1:].normal_()
    return m


def test_layout_counts_number_objects_and_restart_at_each_image() -> None:
    """<img> gets 1 and each token of the k-th object k, except its last, which has completed it (k + 1);
    text, <lay_end> and codes get 0, and a second image counts from 1 again."""
    m = _model(False)
    img = m.text.id("<img>")
    off = m.prior.vocab_size - layout_vocab(True)
    text = m.text.encode("two stars")
    seq = [m.text.id("<bos>"), *text, img, *_object(off), *_object(off, 5), off + END, 7, 8, img, *_object(off),
           off + END]
    counts = layout_counts(torch.tensor([seq]), img, off + END + 1, m.prior.vocab_size, 7)[0].tolist()
    n = 1 + len(text)
    assert counts[:n] == [0] * n
    assert counts[n : n + 15] == [1] + [1] * 6 + [2] + [2] * 6 + [3]
    assert counts[n + 15 : n + 18] == [0, 0, 0]  # <lay_end>, two codes
    assert counts[n + 18 :] == [1] + [1] * 6 + [2] + [0]


def test_layout_counts_are_capped_at_the_most_objects() -> None:
    m = _model(False)
    img = m.text.id("<img>")
    off = m.prior.vocab_size - layout_vocab(True)
    seq = [img] + _object(off) * (MAX_OBJECTS + 2)
    counts = layout_counts(torch.tensor([seq]), img, off + END + 1, m.prior.vocab_size, 7)
    assert int(counts.max()) == MAX_OBJECTS + 1 < m.prior.lay_count.num_embeddings


def test_layout_count_prior_starts_as_it_was_and_reads_the_count(tmp_path: Path) -> None:
    """A layout_count prior loaded from one without (its table at zero) gives the same logits; with a non-zero
    table only the positions from <img> on change, the padding row gets no gradient, and a prior without the
    <img> id is refused."""
    from limner.model.checkpoint import read_checkpoint, save_checkpoint
    from limner.train.upgrade import load_prior_growing_vocab

    on = get_config("tiny")
    assert on.prior.layout_count
    cfg = dataclasses.replace(on, prior=dataclasses.replace(on.prior, layout_count=False))
    torch.manual_seed(0)
    m = NativeModel.build(cfg)
    p2 = Prior(on.prior, *prior_vocab(on, m.text)).eval()
    save_checkpoint(tmp_path / "p.safetensors", cfg, {"prior": m.prior})
    logs: list[str] = []
    load_prior_growing_vocab(p2, read_checkpoint(tmp_path / "p.safetensors")[1], tmp_path / "p.safetensors",
                             logs.append)
    assert logs == ["prior: added the embeddings ['lay_count.weight'] (at zero)"]
    off = p2.vocab_size - layout_vocab(True)
    prefix = prompt_prefix(m.text, "a red star", (256, 256), 48)
    ids = torch.tensor([prefix + _object(off) + _object(off, 2)])
    grid = torch.zeros(*ids.shape, 2, dtype=torch.long)
    with torch.no_grad():
        assert torch.equal(m.prior(ids, grid), p2(ids, grid))
        p2.lay_count.weight[1:].normal_()
        a, b = m.prior(ids, grid), p2(ids, grid)
    first = len(prefix) - 1  # the <img>
    assert torch.equal(a[:, :first], b[:, :first]) and not torch.allclose(a[:, first:], b[:, first:])
    p2(ids, grid).sum().backward()
    grad = p2.lay_count.weight.grad
    assert grad is not None and float(grad[0].abs().max()) == 0.0 and float(grad[1:3].abs().max()) > 0
    with pytest.raises(ValueError, match="layout_count prior needs"):
        Prior(on.prior, *prior_vocab(on, m.text)[:3])


def test_sampled_layout_sees_the_counts_of_one_full_pass() -> None:
    """The layout sampler feeds one token at a time and gives each its count itself: the logits after its
    <lay_end> are those of one full pass over prompt + layout, with a non-zero count table."""
    m = _model()
    params = SamplingParams(cfg_scale=1.0, layout_temperature=0.0)
    size = (256, 256)
    prefix = prompt_prefix(m.text, "a red star and a blue ring", size, m.config.prior.max_text_tokens)
    with torch.no_grad():
        logits, pos, cache = prefill(m, [prefix], 200)
        lays, final, _ = sample_layouts(m, logits, pos, cache, params, 1, None, m.grid(size))
        off = m.layout_offset
        assert off is not None
        lay_ids = [off + t for t in encode_layout(lays[0], True)]
        assert lay_ids[-1] == off + END and len(lay_ids) > 1  # the tiny model writes at least one object
        ids = torch.tensor([prefix + lay_ids])
        grid = torch.zeros(*ids.shape, 2, dtype=torch.long)
        obj = torch.zeros_like(grid)
        obj[0, -1] = cell_objects(decode_layout([t - off for t in lay_ids], True), *m.grid(size))[0]
        full = m.prior(ids, grid, obj_pos=obj)[:, -1]
        m.prior.lay_count.weight.zero_()
        without = m.prior(ids, grid, obj_pos=obj)[:, -1]
    assert torch.allclose(final, full, atol=1e-4)
    assert not torch.allclose(full, without, atol=1e-4)  # the counts took part
