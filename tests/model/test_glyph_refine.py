"""The decoder's full-resolution text head: neutral when added, silent without text, local to the ink."""

import dataclasses

import pytest
import torch

from limner.model.config import get_config
from limner.model.decoder import DiffusionDecoder, crop_origin
from limner.model.glyph_refine import MARGIN, REACH, GlyphRefiner, ink_box, ink_mask


def _glyph(h: int = 64, w: int = 96) -> torch.Tensor:
    g = torch.zeros(2, 1, h, w)
    g[1, 0, 30:34, 40:50] = 1.0  # one stroke, in the second image only
    return g


def test_ink_box_grows_by_the_margin_and_clips() -> None:
    g = _glyph()
    assert ink_box(g) == (30 - MARGIN, 34 + MARGIN, 40 - MARGIN, 50 + MARGIN)
    g[0, 0, 0, 0] = 1.0  # ink in the corner of the other image: the box holds both, clipped at 0
    assert ink_box(g) == (0, 34 + MARGIN, 0, 50 + MARGIN)
    assert ink_box(torch.zeros(1, 1, 8, 8)) is None


def test_ink_mask_reaches_reach_pixels() -> None:
    m = ink_mask(_glyph())[1, 0]
    assert m[30 - REACH, 45] == 1 and m[30 - REACH - 1, 45] == 0
    assert m[32, 50 - 1 + REACH] == 1 and m[32, 50 + REACH] == 0


def test_fresh_head_changes_nothing_and_a_trained_one_only_near_ink() -> None:
    torch.manual_seed(0)
    head = GlyphRefiner(4, 8)
    pred, g, t = torch.randn(2, 4, 64, 96), _glyph(), torch.tensor([0.2, 0.7])
    assert torch.equal(head(pred, g, t), pred)  # output layer at zero
    torch.nn.init.normal_(head.out.weight)
    out = head(pred, g, t)
    changed = (out - pred).abs().sum(1) > 0  # (B, H, W)
    assert not changed[0].any()  # no ink in image 0
    assert changed[1].any() and not (changed[1] & (ink_mask(g)[1, 0] == 0)).any()
    assert torch.equal(head(pred, torch.zeros_like(g), t), pred)  # no text anywhere: untouched


def test_head_is_cropped_without_changing_the_result() -> None:
    """Running the head on the ink's box (plus margin) gives what the whole image would give near the ink."""
    torch.manual_seed(1)
    head = GlyphRefiner(4, 8)
    torch.nn.init.normal_(head.out.weight)
    pred, g, t = torch.randn(2, 4, 64, 96), _glyph(), torch.tensor([0.5, 0.5])
    full = pred + ink_mask(g) * head.out(head.body(torch.cat([pred, g, t.view(-1, 1, 1, 1).expand(-1, 1, 64, 96)], 1)))
    assert torch.allclose(head(pred, g, t), full, atol=1e-5)


def test_decoder_with_head_decodes_text_free_images_as_without() -> None:
    cfg = get_config("tiny")
    torch.manual_seed(2)
    plain = DiffusionDecoder(cfg.decoder, 3, 16)
    headed = DiffusionDecoder(dataclasses.replace(cfg.decoder, glyph_refine=8), 3, 16)
    headed.load_state_dict({**headed.state_dict(), **plain.state_dict()})
    torch.nn.init.normal_(headed.glyph_refine.out.weight)  # type: ignore[union-attr]
    codes, pv = torch.randn(1, 3, 4, 4), torch.zeros(1, 4, 32, 32)
    for glyph, same in ((torch.zeros(1, 1, 64, 64), True), (_glyph(64, 64)[1:], False)):
        a = plain.sample(codes, glyph, generator=torch.Generator().manual_seed(3), preview=pv)
        b = headed.sample(codes, glyph, generator=torch.Generator().manual_seed(3), preview=pv)
        assert torch.equal(a, b) is same


@pytest.mark.parametrize("seed", range(5))
def test_crop_on_ink_holds_ink_and_stays_on_the_token_grid(seed: int) -> None:
    ink = torch.zeros(256, 384, dtype=torch.bool)
    ink[200:204, 300:310] = True
    g = torch.Generator().manual_seed(seed)
    y0, x0 = crop_origin((256, 384), (128, 128), 16, ink, g)
    assert y0 % 16 == 0 and x0 % 16 == 0 and y0 + 128 <= 256 and x0 + 128 <= 384
    assert ink[y0 : y0 + 128, x0 : x0 + 128].any()
    y0, x0 = crop_origin((256, 384), (128, 128), 16, None, g)  # no ink: any aligned crop
    assert y0 % 16 == 0 and x0 % 16 == 0 and y0 + 128 <= 256 and x0 + 128 <= 384
