"""Region resampling in the token loop: fixed codes are kept, only the span of free codes is sampled."""

import pytest
import torch

from limner.engine.decode import SamplingParams, free_span, sample_tokens
from limner.model.native import NativeModel


def test_free_span() -> None:
    keep = torch.full((2, 6), 7)
    keep[0, 2] = keep[1, 4] = -1
    assert free_span(keep) == (2, 5) and free_span(torch.zeros(1, 3)) == (0, 0)


def test_fixed_codes_are_kept(tiny_model: NativeModel) -> None:
    fixed = torch.full((1, 16, 16), 5)
    fixed[0, 3, 4:6] = -1
    out = sample_tokens(tiny_model, ["a red star"], (256, 256), SamplingParams(), torch.Generator().manual_seed(0),
                        fixed=fixed).codes
    assert out.shape == (1, 16, 16) and (out[fixed >= 0] == 5).all() and (out >= 0).all()
    ones = torch.ones(1, 16, 16, dtype=torch.long)
    assert torch.equal(sample_tokens(tiny_model, ["x"], (256, 256), SamplingParams(), fixed=ones).codes, ones)


def test_novel_temperature_sampling_is_seeded_and_keeps_fixed_codes(tiny_model: NativeModel) -> None:
    sp = SamplingParams(novel_temperature=0.3)
    a = sample_tokens(tiny_model, ["a red star", "two rings"], (256, 256), sp, torch.Generator().manual_seed(1)).codes
    b = sample_tokens(tiny_model, ["a red star", "two rings"], (256, 256), sp, torch.Generator().manual_seed(1)).codes
    k = tiny_model.config.tokenizer.codebook_size
    assert torch.equal(a, b) and a.min() >= 0 and a.max() < k
    fixed = torch.full((1, 16, 16), 9)
    fixed[0, 5:7] = -1
    out = sample_tokens(tiny_model, ["a red star"], (256, 256), sp, torch.Generator().manual_seed(0),
                        fixed=fixed).codes
    assert (out[fixed >= 0] == 9).all() and (out >= 0).all()


def test_layouts_are_drawn_first_and_padding_is_invisible(tiny_model: NativeModel) -> None:
    """Layouts of different lengths in one batch: each sample's first code logits equal a plain forward pass over
    its own unpadded sequence, so samples that ended their layout early are not disturbed by the padding."""
    import copy

    from limner.engine.decode import prefill, sample_layouts
    from limner.model.layout import END, cell_objects, encode_layout
    from limner.model.sequence import prompt_prefix

    m = copy.deepcopy(tiny_model)
    with torch.no_grad():  # make the planned-object embeddings matter (they start at zero)
        m.prior.obj_slot.weight[1:].normal_(std=0.5)  # row 0 (no object) is zero by construction
        m.prior.obj_cls.weight[1:].normal_(std=0.5)
    prompts = ["a red star", "two rings", "a blue cloud on the left", "three hearts"]
    seqs = [prompt_prefix(m.text, p, (256, 256), 48) for p in prompts]
    logits, pos, cache = prefill(m, seqs, 80)
    lays, first, _ = sample_layouts(m, logits, pos, cache, SamplingParams(cfg_scale=1.0),
                                    len(prompts), torch.Generator().manual_seed(3), (16, 16))
    assert len({len(x) for x in lays}) > 1  # the batch really holds layouts of different lengths
    off = m.layout_offset
    assert off is not None
    for i, lay in enumerate(lays):
        ids = seqs[i] + [t + off for t in encode_layout(lay, colour=True)]
        assert ids[-1] == END + off
        obj = torch.zeros(1, len(ids), 2, dtype=torch.long)
        obj[0, -1] = cell_objects(lay, 16, 16)[0]  # <lay_end> carries the first cell's object
        full = m.prior(torch.tensor([ids]), torch.zeros(1, len(ids), 2, dtype=torch.long), obj_pos=obj)[0, -1]
        assert torch.allclose(first[i], full, atol=1e-4)


def test_sample_tokens_returns_layouts_with_cfg(tiny_model: NativeModel) -> None:
    from limner.engine.decode import sample_tokens

    out = sample_tokens(tiny_model, ["a red star", "two rings"], (256, 256), SamplingParams(layout_temperature=0.7),
                        torch.Generator().manual_seed(0))
    assert out.codes.shape == (2, 16, 16) and out.layouts is not None and len(out.layouts) == 2
    assert all(len(x) <= 16 for x in out.layouts)


def test_colour_temperature_zero_draws_the_likeliest_colours(tiny_model: NativeModel) -> None:
    """Greedy colour tokens: the same layout classes and places (same seed) get the same colours on every run,
    whatever the seed of the colour draws; a negative colour temperature is named."""
    from limner.engine.decode import sample_tokens

    runs = [sample_tokens(tiny_model, ["a red star"] * 3, (256, 256),
                          SamplingParams(layout_temperature=0.0, colour_temperature=0.0),
                          torch.Generator().manual_seed(s)).layouts for s in (0, 1)]
    assert runs[0] == runs[1] and all(it.rgb is not None for lay in runs[0] or [] for it in lay)
    hot = sample_tokens(tiny_model, ["a red star"] * 8, (256, 256),
                        SamplingParams(layout_temperature=0.0, colour_temperature=5.0),
                        torch.Generator().manual_seed(0))
    colours = {it.rgb for lay in hot.layouts or [] for it in lay}
    assert len(colours) > 1  # a hot colour draw varies while greedy classes and places do not
    with pytest.raises(ValueError, match="colour_temperature must be >= 0, got -1"):
        SamplingParams(colour_temperature=-1).validate()


def test_given_layouts_are_teacher_forced(tiny_model: NativeModel) -> None:
    from limner.engine.decode import sample_tokens
    from limner.model.layout import LayoutItem

    lay = [LayoutItem.quantize("heart", 0.25, 0.75, 0.13)]
    out = sample_tokens(tiny_model, ["a heart", "a heart"], (256, 256), SamplingParams(), torch.Generator(),
                        layouts=[lay, []])
    assert out.layouts == [lay, []] and out.codes.shape == (2, 16, 16) and (out.codes >= 0).all()
    with pytest.raises(ValueError, match="1 layouts for 2 prompts"):
        sample_tokens(tiny_model, ["a", "b"], (256, 256), SamplingParams(), layouts=[lay])


def test_cached_decoding_reads_planned_objects_as_training_does(tiny_model: NativeModel) -> None:
    """Greedy codes under a given layout equal the argmax of one full forward over the training-format sequence
    (model/sequence.py), planned-object embeddings included: sampling and training align them alike."""
    import copy
    import random

    from limner.engine.decode import sample_tokens
    from limner.model.layout import LayoutItem
    from limner.model.sequence import build_training_sequences

    m = copy.deepcopy(tiny_model)
    with torch.no_grad():
        m.prior.obj_slot.weight[1:].normal_(std=1.0)
        m.prior.obj_cls.weight[1:].normal_(std=1.0)
    lay = [LayoutItem.quantize("star", 0.3, 0.3, 0.2), LayoutItem.quantize("ring", 0.7, 0.6, 0.15)]
    out = sample_tokens(m, ["a star and a ring"], (256, 256), SamplingParams(temperature=0.0, cfg_scale=1.0),
                        layouts=[lay])
    seq = build_training_sequences(m.text, ["a star and a ring"], out.codes, (256, 256), [False], 48, unk_prob=0.0,
                                   rng=random.Random(0), layouts=[lay], layout_offset=m.layout_offset,
                                   layout_colour=True)
    assert seq.obj_pos is not None and (seq.obj_pos[..., 0] > 0).sum() > 10
    logits = m.prior(seq.tokens[:, :-1], seq.grid_pos[:, :-1], obj_pos=seq.obj_pos[:, :-1])
    k = m.config.tokenizer.codebook_size
    img = seq.is_image[0, 1:]
    pred = logits[0][img][:-1, m.text.vocab_size : m.text.vocab_size + k].argmax(-1)  # the codes, not </img>
    assert torch.equal(pred, out.codes.flatten())


def test_paint_rows_stop_at_their_background_code(tiny_model: NativeModel) -> None:
    from limner.model.layout import LayoutItem
    from limner.model.paint import first_free_cell

    lay = [LayoutItem.quantize("heart", 0.1, 0.1, 0.13, rgb=(200, 0, 0))]  # covers the first cells
    first = first_free_cell(lay, 16, 16)
    assert first > 0
    sp = SamplingParams(temperature=1.5)
    seen: list[int] = []
    out = sample_tokens(tiny_model, ["a heart"] * 2, (256, 256), sp, torch.Generator().manual_seed(0),
                        progress=lambda done, total, codes: seen.append(done), layouts=[lay, lay],
                        paint_rows=[True, False])
    codes = out.codes.view(2, 256)
    assert (codes[0, first:] == codes[0, first]).all() and len(set(codes[1].tolist())) > 1
    assert seen[-1] == 256
    seen.clear()
    both = sample_tokens(tiny_model, ["a heart"] * 2, (256, 256), sp, torch.Generator().manual_seed(0),
                         progress=lambda done, total, codes: seen.append(done), layouts=[lay, lay],
                         paint_rows=[True, True]).codes.view(2, 256)
    assert len(seen) == first + 2 and (both[:, first:] == both[:, first : first + 1]).all()  # then stopped
    # colours not planned (a colourless prior's layouts): the grid is sampled whole
    plain = [LayoutItem.quantize("heart", 0.1, 0.1, 0.13)]
    seen.clear()
    sample_tokens(tiny_model, ["a heart"], (256, 256), sp, torch.Generator().manual_seed(0),
                  progress=lambda done, total, codes: seen.append(done), layouts=[plain], paint_rows=[True])
    assert len(seen) == 256


def test_kept_codes_fill_outside_the_free_span_and_check_the_shape() -> None:
    from limner.engine.decode import kept_codes

    codes, keep, start, stop = kept_codes(None, 2, 3, 4)
    assert keep is None and (start, stop) == (0, 12) and bool((codes == -1).all())
    fixed = torch.arange(24).view(2, 3, 4)
    fixed[0, 1, 1] = fixed[1, 2, 0] = -1  # cells 5 and 8 are free
    codes, keep, start, stop = kept_codes(fixed, 2, 3, 4)
    assert (start, stop) == (5, 9) and keep is not None
    assert torch.equal(codes[:, :5], fixed.view(2, 12)[:, :5]) and torch.equal(codes[:, 9:], fixed.view(2, 12)[:, 9:])
    assert bool((codes[:, 5:9] == -1).all())  # the span is sampled, even its kept codes (next_code keeps them)
    with pytest.raises(ValueError, match=r"fixed codes have shape \(2, 3, 4\), expected \(1, 3, 4\)"):
        kept_codes(fixed, 1, 3, 4)


def test_next_code_guides_keeps_and_is_greedy_at_temperature_zero() -> None:
    from limner.engine.decode import next_code

    cond = torch.tensor([[0.0, 2.0, 1.0], [3.0, 0.0, 0.0]])
    uncond = torch.tensor([[0.0, 0.0, 3.0], [0.0, 0.0, 0.0]])
    greedy = SamplingParams(temperature=0.0, cfg_scale=1.0, novel_temperature=None)
    assert next_code(cond, None, None, greedy, None, 2, None).tolist() == [1, 0]
    # CFG 3: uncond + 3 (cond - uncond) = [0, 6, -3] for the first row, so code 1 however uncond leans
    guided = SamplingParams(temperature=0.0, cfg_scale=3.0, novel_temperature=None)
    assert next_code(torch.cat([cond, uncond]), None, None, guided, None, 2, None).tolist() == [1, 0]
    keep = torch.tensor([-1, 2])
    assert next_code(cond, None, keep, greedy, None, 2, None).tolist() == [1, 2]


def test_fill_painted_repeats_the_background_code_after_its_cell() -> None:
    from limner.engine.decode import fill_painted

    codes = torch.tensor([[4, 5, 6, 7], [1, 2, 3, 4]])
    out = fill_painted(codes, torch.tensor([1, 4]))  # image 0 painted from cell 1, image 1 not painted
    assert out.tolist() == [[4, 5, 5, 5], [1, 2, 3, 4]] and codes.tolist() == [[4, 5, 6, 7], [1, 2, 3, 4]]
    assert fill_painted(codes, torch.tensor([4, 4])) is codes


def test_planned_cells_are_zero_without_layouts_and_doubled_for_cfg() -> None:
    from limner.engine.decode import planned_cells
    from limner.model.layout import LayoutItem

    assert bool((planned_cells(None, 2, 2, 2, 3) == 0).all()) and planned_cells(None, 2, 2, 2, 3).shape == (6, 5, 2)
    lay = [LayoutItem.quantize("star", 0.25, 0.25, 0.2)]
    cells = planned_cells([lay], 4, 4, 2, 1)
    assert cells.shape == (2, 17, 2) and torch.equal(cells[0], cells[1]) and bool(cells[0, 0].any())
    assert bool((cells[:, 16] == 0).all())  # the row past the end
