"""The layout verifier: plausible layouts pass, overlapping or cut ones are counted, and the engine keeps the
first plausible draw of the model's own layouts."""

from __future__ import annotations

import pytest
import torch

from limner.engine.decode import SamplingParams, sample_tokens
from limner.engine.layout_check import layout_violations, pick_layout
from limner.model.layout import LayoutItem
from limner.model.native import NativeModel


def test_violations_count_overlaps_and_objects_off_the_canvas() -> None:
    apart = [LayoutItem.quantize("star", 0.25, 0.5, 0.15), LayoutItem.quantize("heart", 0.75, 0.5, 0.15)]
    assert layout_violations(apart, (256, 256)) == 0
    on_top = [LayoutItem.quantize("star", 0.5, 0.5, 0.15), LayoutItem.quantize("heart", 0.55, 0.5, 0.15)]
    assert layout_violations(on_top, (256, 256)) == 1
    cut = [LayoutItem.quantize("star", 0.02, 0.5, 0.2)]
    assert layout_violations(cut, (256, 256)) == 1
    assert pick_layout([on_top, cut + on_top, apart], (256, 256)) == apart
    assert pick_layout([cut + on_top, on_top], (256, 256)) == on_top  # fewest violations when none passes
    with pytest.raises(ValueError, match="at least one"):
        pick_layout([], (256, 256))


def test_layout_tries_keep_one_of_the_models_own_layouts(tiny_model: NativeModel) -> None:
    """With tries the engine keeps the least implausible of the layouts the prior drew (none moved), and the codes
    follow that layout; bad values are named."""
    from limner.engine.decode import draw_layouts
    from limner.engine.layout_check import layout_violations

    sp = SamplingParams(layout_tries=6)
    picked = draw_layouts(tiny_model, ["a red star", "two rings"], (256, 256), sp, torch.Generator().manual_seed(3), 6)
    one = [draw_layouts(tiny_model, ["a red star", "two rings"], (256, 256), sp, torch.Generator().manual_seed(s), 1)
           for s in range(4)]
    for i in range(2):  # a kept layout is never worse than a plain draw's typical one
        assert layout_violations(picked[i], (256, 256)) <= max(layout_violations(o[i], (256, 256)) for o in one)
    out = sample_tokens(tiny_model, ["a red star"], (256, 256), sp, torch.Generator().manual_seed(3))
    assert out.layouts is not None and out.codes.shape == (1, 16, 16)
    with pytest.raises(ValueError, match="layout_tries must be between 1 and 16, got 0"):
        SamplingParams(layout_tries=0).validate()
