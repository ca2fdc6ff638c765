"""Region edits: change only part of an image and keep the rest exactly (lossless outside the region).

    earlier image --image tokenizer--> codes (rows, cols)
    region (H, W) bool --any pixel in a 16x16 cell, dilated by one cell--> token mask (rows, cols)
    prior: sample the masked codes only, the others teacher-forced in raster order (`fixed` codes)
    diffusion decoder --> candidate pixels --> exact composite: earlier pixels outside the region

The region comes from a mask (alpha 0 = edit, as OpenAI's edits define it) or from an edit instruction
(the boxes of the objects it changes). The composite copies the earlier image's bytes outside the region,
so locality there is exact whatever the model draws.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from scipy import ndimage

from limner.data.scene import to_array
from limner.errors import MaskError
from limner.limits import closest_size
from limner.model.native import NativeModel


def region_from_mask(mask: Image.Image, size: tuple[int, int]) -> np.ndarray:
    """(H, W) bool: True where the mask is transparent (alpha < 128): the area to edit."""
    if mask.size != size:
        raise MaskError(f"mask is {mask.width}x{mask.height} but the image is {size[0]}x{size[1]}; "
                        "they must be the same size")
    if "A" not in mask.getbands() and not (mask.mode == "P" and "transparency" in mask.info):
        raise MaskError(f"mask (mode {mask.mode}) has no alpha channel; its transparent (alpha 0) pixels mark "
                        "the area to edit")
    region = np.asarray(mask.convert("RGBA").getchannel("A")) < 128
    if not region.any():
        raise MaskError("mask has no transparent (alpha 0) pixels, so there is nothing to edit")
    return region


def box_region(boxes: list[tuple[float, float, float, float]], size: tuple[int, int], pad: int = 6) -> np.ndarray:
    """(H, W) bool union of pixel boxes (x0, y0, x1, y1), each grown by `pad` pixels."""
    w, h = size
    out = np.zeros((h, w), dtype=bool)
    for x0, y0, x1, y1 in boxes:
        ys = slice(max(0, int(y0) - pad), min(h, int(np.ceil(y1)) + pad))
        out[ys, max(0, int(x0) - pad):min(w, int(np.ceil(x1)) + pad)] = True
    return out


def token_mask(region: np.ndarray, stride: int, dilate: int = 1) -> torch.Tensor:
    """(rows, cols) bool: token cells that hold any region pixel, grown by `dilate` cells (decoder context)."""
    h, w = region.shape
    cells = np.asarray(region.reshape(h // stride, stride, w // stride, stride).any(axis=(1, 3)))
    if dilate:
        cells = ndimage.binary_dilation(cells, structure=np.ones((3, 3), dtype=bool), iterations=dilate)
    return torch.from_numpy(cells)


def encode_image(model: NativeModel, image: Image.Image) -> torch.Tensor:
    """The image's codes (1, rows, cols) under the model's tokenizer; the image must be a supported size."""
    x = torch.from_numpy(to_array(image.convert("RGBA")))[None]  # (1, 4, H, W) in [-1, 1]
    with torch.no_grad():
        _, idx = model.tokenizer.encode(x.to(model.device))
    return idx.cpu()


def composite_exact(base: Image.Image, generated: Image.Image, region: np.ndarray) -> Image.Image:
    """`generated` inside the region, `base`'s exact pixels outside it, in base's size and mode."""
    mode = "RGBA" if "A" in base.getbands() else "RGB"
    b = np.array(base.convert(mode))
    g = np.asarray(generated.convert(mode).resize(base.size, Image.Resampling.LANCZOS))
    b[region] = g[region]
    return Image.fromarray(b, mode)


def native_codes(model: NativeModel, image: Image.Image) -> tuple[torch.Tensor, tuple[int, int]]:
    """(the image's codes (1, rows, cols) at the native size closest to its own, that size (W, H))."""
    size = closest_size(*image.size)
    work = image.convert("RGBA").resize(size, Image.Resampling.LANCZOS) if image.size != size else image
    return encode_image(model, work), size


def fixed_codes(model: NativeModel, image: Image.Image, region: np.ndarray,
                n: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """(fixed codes (n, rows, cols) with -1 on the tokens to resample, working size (W, H))."""
    codes, size = native_codes(model, image)
    reg = region
    if image.size != size:
        reg = np.asarray(Image.fromarray(region.astype(np.uint8) * 255).resize(size, Image.Resampling.NEAREST)) > 0
    tm = token_mask(reg, model.grid_stride)
    fixed = codes.expand(n, -1, -1).clone()
    fixed[:, tm] = -1
    return fixed, size
