"""A real alpha channel for `background=transparent`: objects fully opaque, background exactly 0.

The decoder draws RGBA, but its alpha is soft and a little noisy (anti-aliasing, diffusion noise), so a
viewer would see half-transparent specks and holes. The matte makes it binary:

    foreground = (decoder alpha >= 50%) OR (RGB far from the black that transparent pixels carry)
    -> drop specks smaller than `min_area_frac` of the canvas -> fill holes inside objects
    alpha = 255 on the foreground, 0 elsewhere; RGB = black where alpha is 0 (as the model was trained)

Both signals are used because a black object has no RGB contrast and a weak alpha is still an object.
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from scipy import ndimage

RGB_FG = 60.0  # Euclidean sRGB distance from black above which a pixel is an object's
MIN_AREA_FRAC = 0.0006  # the detector's speck size


def foreground(rgba: np.ndarray, min_area_frac: float = MIN_AREA_FRAC) -> np.ndarray:
    """(H, W) bool object mask of an (H, W, 4) uint8 image drawn on a transparent background."""
    alpha = rgba[..., 3].astype(np.float32)
    rgb = rgba[..., :3].astype(np.float32)
    fg = (alpha >= 128) | ((np.linalg.norm(rgb, axis=-1) > RGB_FG) & (alpha >= 32))
    labels, n = ndimage.label(fg)
    if n:
        sizes = ndimage.sum(fg, labels, index=np.arange(1, n + 1))
        small = np.isin(labels, 1 + np.nonzero(sizes < min_area_frac * fg.size)[0])
        fg &= ~small
    return ndimage.binary_fill_holes(fg)


def matte(image: Image.Image) -> Image.Image:
    """A binary-alpha RGBA copy of a transparent-background image."""
    a = np.array(image.convert("RGBA"))
    fg = foreground(a)
    a[..., 3] = np.where(fg, 255, 0)
    a[~fg, :3] = 0
    return Image.fromarray(a, "RGBA")
