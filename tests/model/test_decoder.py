"""The diffusion decoder: shapes, the preview-conditioning contract, and that its loss trains."""

from __future__ import annotations

import json

import pytest
import torch

from limner.model.config import get_config
from limner.model.decoder import DiffusionDecoder
from limner.model.image_tokenizer import ImageTokenizer


def _parts() -> tuple[ImageTokenizer, DiffusionDecoder]:
    cfg = get_config("tiny")
    tok = ImageTokenizer(cfg.tokenizer)
    return tok, DiffusionDecoder(cfg.decoder, tok.fsq.dim, cfg.tokenizer.output_stride)


def test_sample_shape_with_preview_at_tokenizer_resolution() -> None:
    torch.manual_seed(0)
    tok, dec = _parts()
    x = torch.rand(2, 4, 256, 384) * 2 - 1
    codes, _ = tok.encode(x)
    preview = tok.decode_preview(codes)  # (2, 4, 128, 192): half the output size
    glyph = torch.zeros(2, 1, 256, 384)
    y = dec.sample(codes, glyph, steps=2, generator=torch.Generator().manual_seed(0), preview=preview)
    assert y.shape == (2, 4, 256, 384)
    assert float(y.abs().max()) <= 1.0


def test_decoder_refuses_a_missing_preview() -> None:
    tok, dec = _parts()
    codes = tok.fsq.indices_to_codes(torch.zeros(1, 16, 16, dtype=torch.long))
    with pytest.raises(ValueError, match="preview"):
        dec.sample(codes, torch.zeros(1, 1, 256, 256), steps=1)


def test_preview_changes_the_output() -> None:
    """The preview really reaches the network: two different previews give two different images."""
    torch.manual_seed(0)
    tok, dec = _parts()
    torch.nn.init.normal_(dec.x_in.weight, std=0.5)
    for blk in dec.blocks:  # the zero-initialised residual convs would otherwise hide the input
        torch.nn.init.normal_(blk.c2.weight, std=0.1)
    torch.nn.init.normal_(dec.out[-1].weight, std=0.1)
    codes = tok.fsq.indices_to_codes(torch.zeros(1, 16, 16, dtype=torch.long))
    glyph = torch.zeros(1, 1, 256, 256)
    dark, light = -torch.ones(1, 4, 128, 128), torch.ones(1, 4, 128, 128)
    a = dec.sample(codes, glyph, steps=1, generator=torch.Generator().manual_seed(1), preview=dark)
    b = dec.sample(codes, glyph, steps=1, generator=torch.Generator().manual_seed(1), preview=light)
    assert (a - b).abs().mean() > 1e-3


def test_flow_loss_on_crops_decreases() -> None:
    torch.manual_seed(0)
    tok, dec = _parts()
    x = torch.zeros(2, 4, 128, 128)
    x[:, :, 32:96, 32:96] = 1.0  # a white square on black
    codes, _ = tok.encode(x)
    preview = tok.decode_preview(codes).detach()
    glyph = torch.zeros(2, 1, 128, 128)
    opt = torch.optim.Adam(dec.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(30):
        loss = dec.loss(codes.detach(), x, glyph, crop=64, generator=g, preview=preview)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss))
    assert sum(losses[-5:]) / 5 < 0.7 * sum(losses[:5]) / 5


def test_retired_flags_are_read_once_and_a_false_one_names_the_converter() -> None:
    """Configs of older releases carry RETIRED_FLAGS: true is today's architecture and reads as it; false is a
    model built without that part, refused with the command that converts it."""
    from limner.model.config import RETIRED_FLAGS, ModelConfig, RetiredFlagError

    old = json.loads(get_config("tiny").to_json())
    for part, flags in RETIRED_FLAGS.items():
        old[part].update({f: True for f in flags})
    assert ModelConfig.from_dict(old) == get_config("tiny")
    assert "layout" not in get_config("tiny").to_json().replace("layout_count", "")  # no longer written
    for part, flags in RETIRED_FLAGS.items():
        for flag in flags:
            off = json.loads(json.dumps(old))
            off[part][flag] = False
            with pytest.raises(RetiredFlagError, match=f"built without '{flag}'.*python -m limner.train.upgrade"):
                ModelConfig.from_dict(off)


def test_template_features_sample_the_object_class_field_inside_its_box_only() -> None:
    from limner.data.world import OBJECTS
    from limner.model.config import get_config
    from limner.model.layout import LayoutItem, layout_map

    dec = DiffusionDecoder(get_config("tiny").decoder, 3, 16)
    lay = [LayoutItem.quantize("heart", 0.5, 0.5, 0.2)]
    f = dec.template_features(layout_map([lay], (64, 64)))  # (1, C, 64, 64)
    assert f[0, :, 2, 2].abs().sum() == 0 and f[0, :, 32, 32].abs().sum() > 0  # a corner is outside the box
    with torch.no_grad():  # the heart's field, and no other class's, decides the features
        dec.layout_tpl[OBJECTS.index("heart")] = 0
    assert dec.template_features(layout_map([lay], (64, 64))).abs().sum() == 0
