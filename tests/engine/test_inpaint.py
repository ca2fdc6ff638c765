"""Region edits: mask validation, token masks and the exact composite."""

import numpy as np
import pytest
from PIL import Image

from limner.engine.inpaint import box_region, composite_exact, region_from_mask, token_mask
from limner.errors import MaskError
from limner.limits import closest_size


def test_mask_errors_are_named() -> None:
    with pytest.raises(MaskError, match="mask is 100x100 but the image is 256x256"):
        region_from_mask(Image.new("RGBA", (100, 100)), (256, 256))
    with pytest.raises(MaskError, match="no alpha channel"):
        region_from_mask(Image.new("RGB", (256, 256)), (256, 256))
    with pytest.raises(MaskError, match="nothing to edit"):
        region_from_mask(Image.new("RGBA", (256, 256), (0, 0, 0, 255)), (256, 256))


def test_region_tokens_and_composite() -> None:
    m = Image.new("RGBA", (256, 256), (0, 0, 0, 255))
    m.paste((0, 0, 0, 0), (32, 32, 64, 64))
    region = region_from_mask(m, (256, 256))
    assert region.sum() == 32 * 32
    tm = token_mask(region, 16, dilate=1)
    assert tm.shape == (16, 16) and tm[2, 2] and tm[1, 1] and tm[4, 4] and not tm[5, 5]
    base = Image.fromarray(np.random.default_rng(0).integers(0, 255, (256, 256, 3), dtype=np.uint8))
    out = composite_exact(base, Image.new("RGB", (256, 256), (255, 0, 0)), region)
    a, b = np.asarray(out), np.asarray(base)
    assert (a[~region] == b[~region]).all() and (a[region] == (255, 0, 0)).all()


def test_sizes_and_boxes() -> None:
    assert closest_size(512, 512) == (256, 256) and closest_size(600, 400) == (384, 256)
    r = box_region([(10, 10, 20, 20)], (64, 32), pad=2)
    assert r.shape == (32, 64) and r[8, 8] and not r[23, 23]
