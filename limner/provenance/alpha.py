"""Watermarking images with a transparent background so that the mark survives flattening.

Most edits of a transparent image flatten it first: JPEG has no alpha (viewers and converters put it on
white), screenshots capture it over a page, and premultiplied resizing drops the RGB under alpha 0. A
mark hidden only in the RGB under the transparent pixels is gone after any of those, and what remains
(the visible shapes, often a few % of the pixels) is too little to read.

So we mark the image as it is seen over white, exactly like an opaque image with a white background, and
then express the result in RGBA:

* opaque pixels get the marked colour;
* partly transparent pixels get the colour whose composite over white is the marked composite;
* a fully transparent pixel where the pattern darkens white by d grey levels becomes black at alpha d
  (at most a few % opacity): over white it reads 255 - d, exactly the opaque case; over black it adds
  nothing; over any other background it darkens by d * background / 255, never more than over white.

The distortion is therefore measured on the composite over white, the worst case. The RGB under the
remaining fully transparent pixels is left as generated (black, from limner's decoder), so a program that
drops alpha without compositing (Pillow's convert("RGB")) sees a black background there and at the
darkened pixels alike: nothing of the mark shows.
"""

from __future__ import annotations

import numpy as np

from limner.provenance.watermark import WatermarkConfig, embed_measured, psnr


def composite_over_white(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB and (H, W) uint8 alpha -> the float32 composite over a white background."""
    a = alpha.astype(np.float32)[..., None] * np.float32(1.0 / 255.0)
    return rgb.astype(np.float32) * a + np.float32(255.0) * (1.0 - a)


def embed_rgba(rgba: np.ndarray, key: bytes, payload: int,
               cfg: WatermarkConfig | None = None) -> tuple[np.ndarray, float]:
    """uint8 RGBA (H, W, 4) -> (marked uint8 RGBA, PSNR in dB of its composite over white)."""
    if rgba.ndim != 3 or rgba.shape[2] != 4 or rgba.dtype != np.uint8:
        raise ValueError(f"expected a uint8 (H, W, 4) array, got {rgba.dtype} {rgba.shape}")
    rgb, alpha = rgba[..., :3], rgba[..., 3]
    seen = np.clip(np.rint(composite_over_white(rgb, alpha)), 0, 255).astype(np.uint8)
    marked, _ = embed_measured(seen, key, payload, cfg)
    delta = marked.astype(np.float32) - seen.astype(np.float32)

    out = rgba.copy()
    opaque = alpha == 255
    out[opaque, :3] = marked[opaque]

    partial = (alpha > 0) & ~opaque
    if partial.any():
        # composite = rgb * a + 255 * (1 - a): a change delta of the composite is delta / a of the colour
        a = alpha[partial].astype(np.float32)[:, None] / np.float32(255.0)
        out[partial, :3] = np.clip(np.rint(rgb[partial].astype(np.float32) + delta[partial] / a), 0, 255)

    clear = alpha == 0
    if clear.any():
        dip = np.maximum(-delta[clear], 0.0)  # the composite there is white, so the mark can only darken
        depth = dip.max(axis=1)
        a_new = np.clip(np.rint(depth), 0, 255).astype(np.uint8)
        colour = rgb[clear].astype(np.float32)  # unseen where alpha stays 0: keep what was generated
        on = a_new > 0
        # over white: 255 * (1 - d/255) + colour * d/255 = 255 - dip  <=>  colour = 255 - 255 * dip / d
        colour[on] = 255.0 - 255.0 * dip[on] / a_new[on, None].astype(np.float32)
        out[clear, :3] = np.clip(np.rint(colour), 0, 255).astype(np.uint8)
        out[clear, 3] = a_new
    after = np.clip(np.rint(composite_over_white(out[..., :3], out[..., 3])), 0, 255).astype(np.uint8)
    return out, psnr(seen, after)
