"""Transparent backgrounds: the matte gives a binary alpha (opaque object, background exactly 0)."""

import numpy as np
from PIL import Image

from limner.data.scene import Scene, SceneObject, render
from limner.engine.matte import matte


def test_matte_is_binary_and_fills_holes_and_drops_specks() -> None:
    im = np.array(render(Scene(256, 256, "transparent", [SceneObject("heart", "green", "large")])))
    im[..., 3][im[..., 3] > 0] = 200  # a soft, half-opaque decoder alpha
    im[128, 128, 3] = 10  # a hole inside the object
    im[5, 5] = (200, 200, 200, 90)  # a speck in the background
    out = np.asarray(matte(Image.fromarray(im, "RGBA")))
    assert set(np.unique(out[..., 3])) <= {0, 255}
    assert out[128, 128, 3] == 255 and out[5, 5, 3] == 0 and (out[..., :3][out[..., 3] == 0] == 0).all()
