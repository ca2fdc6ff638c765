"""Object detection by segmentation, for the flat-shape world.

Pipeline for one image (H, W):
1. Background: if the image itself has transparency, foreground is its alpha; otherwise the
   background colour is the median of a 2-pixel border frame and a pixel is foreground when its
   CIELAB distance (CIE76) to that colour exceeds `fg_de`.
2. Connected components (8-connected, on the foreground dilated by one pixel so that a shape that a
   blurry decoder broke into touching pieces stays whole); components below `min_area_frac` of the
   canvas are specks and are dropped.
3. A component whose core pixels form two far-apart colour clusters is split (two touching objects).
4. Per component: colour spread (a multicoloured blob is not a flat world object and is dropped),
   soft coverage (the projection of each pixel's Lab colour on the background -> object colour axis,
   which undoes anti-aliasing and blur), area, centroid, bbox, the median colour of its core pixels,
   and a normalised square crop for the shape classifier (shape_net.py); predictions below
   `min_prob` confidence are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy import ndimage

from limner.vision.color import nearest_named, srgb_to_lab

_EIGHT = np.ones((3, 3), dtype=bool)


@dataclass(frozen=True)
class DetectConfig:
    """Thresholds of the segmentation pipeline (steps in the module docstring); the defaults are the scorer's."""

    fg_de: float = 20.0  # CIE76 distance from the background colour that makes a pixel foreground
    min_area_frac: float = 0.0006  # components smaller than this share of the canvas are specks
    alpha_mode_frac: float = 0.02  # share of (partly) transparent pixels above which alpha is the foreground
    split_de: float = 30.0  # CIE76 distance between colour clusters inside one component that splits it
    split_min_share: float = 0.15  # each cluster must hold this share of the core pixels to split
    crop: int = 32  # side of the normalised crop given to the shape classifier
    max_spread: float = 14.0  # world objects are flat: median CIE76 spread of core colours above this is not one
    min_prob: float = 0.5  # shape-classifier confidence below this is not an object


@dataclass
class Component:
    """One foreground component as `segment` measured it, before classification; coordinates in image pixels."""

    bbox: tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive), in pixels
    soft: np.ndarray  # (y1 - y0, x1 - x0) float32 coverage in [0, 1] of this component only
    area: float  # sum of soft coverage, pixels
    centroid: tuple[float, float]  # (x, y), coverage-weighted, pixels
    rgb: tuple[float, float, float]  # median sRGB of the core pixels
    pixels: np.ndarray  # (n <= 1024, 3) sRGB of core pixels (evenly subsampled), for per-pixel colour error
    spread: float = 0.0  # median CIE76 distance of the core pixels to their median colour (flatness)


@dataclass
class Detection:
    """A classified component: shape class and its probability, nearest world colour, geometry in image pixels."""

    cls: str
    prob: float
    color: str  # nearest world colour name
    rgb: tuple[float, float, float]
    centroid: tuple[float, float]
    bbox: tuple[int, int, int, int]
    area: float
    pixels: np.ndarray  # (n, 3) sRGB core pixels


@dataclass
class _Planes:
    rgb: np.ndarray  # (H, W, 3) float64 sRGB 0-255
    lab: np.ndarray | None  # (H, W, 3) Lab, colour mode only
    alpha: np.ndarray | None  # (H, W) float in [0, 1], alpha mode only
    bg_lab: np.ndarray | None  # (3,)
    fg: np.ndarray  # (H, W) bool


def _planes(image: Image.Image, cfg: DetectConfig) -> _Planes:
    a = np.asarray(image.convert("RGBA"), dtype=np.float64)
    alpha = a[..., 3] / 255.0
    rgb = a[..., :3]
    if float(np.mean(alpha < 0.5)) > cfg.alpha_mode_frac:
        return _Planes(rgb, None, alpha, None, alpha >= 0.5)
    if float(alpha.min()) < 1.0:  # a little transparency: composite over white as a viewer would
        rgb = rgb * alpha[..., None] + 255.0 * (1 - alpha[..., None])
    lab = srgb_to_lab(rgb)
    frame = np.concatenate([lab[:2].reshape(-1, 3), lab[-2:].reshape(-1, 3),
                            lab[:, :2].reshape(-1, 3), lab[:, -2:].reshape(-1, 3)])
    bg = np.median(frame, axis=0)
    dist = np.linalg.norm(lab - bg, axis=-1)
    return _Planes(rgb, lab, None, bg, dist > cfg.fg_de)


def foreground(image: Image.Image, fg_de: float = 8.0) -> np.ndarray:
    """(H, W) bool: pixels at least `fg_de` (CIE76) from the background colour, or opaque ones on a transparent
    image. Lower than detection's threshold, so that a soft object's faint rim counts as the object's."""
    return _planes(image, DetectConfig(fg_de=fg_de)).fg


def _core(mask: np.ndarray) -> np.ndarray:
    """Interior pixels (eroded once), or the whole mask when erosion leaves too little (thin shapes)."""
    er = ndimage.binary_erosion(mask, structure=_EIGHT)
    return er if er.sum() >= max(8, 0.2 * mask.sum()) else mask


def _split(pl: _Planes, mask: np.ndarray, cfg: DetectConfig) -> list[np.ndarray]:
    """Split a component mask whose core holds two distinct colours (two touching objects)."""
    if pl.lab is None:
        feats = pl.rgb
    else:
        feats = pl.lab
    core = _core(mask)
    x = feats[core]
    if len(x) < 40:
        return [mask]
    # Two-means from the two mutually farthest-ish points (deterministic).
    c0 = x[np.argmax(np.linalg.norm(x - x.mean(0), axis=1))]
    c1 = x[np.argmax(np.linalg.norm(x - c0, axis=1))]
    for _ in range(8):
        lab_ = np.linalg.norm(x - c0, axis=1) > np.linalg.norm(x - c1, axis=1)
        if lab_.all() or not lab_.any():
            return [mask]
        c0, c1 = x[~lab_].mean(0), x[lab_].mean(0)
    share = min(lab_.mean(), 1 - lab_.mean())
    sep = float(np.linalg.norm(c0 - c1)) * (1.0 if pl.lab is not None else 0.4)  # RGB units ~2.5x Lab
    if share < cfg.split_min_share or sep < cfg.split_de:
        return [mask]
    f = feats[mask]
    side = np.linalg.norm(f - c0, axis=1) > np.linalg.norm(f - c1, axis=1)
    parts = []
    for s in (False, True):
        m = np.zeros_like(mask)
        m[mask] = side == s
        parts.append(m)
    return parts


def _component(pl: _Planes, mask: np.ndarray, region: np.ndarray) -> Component | None:
    """Measure one component given its binary mask and the region (dilated mask) its coverage may use."""
    ys, xs = np.nonzero(region)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    reg = region[y0:y1, x0:x1]
    m = mask[y0:y1, x0:x1]
    core = _core(m)
    core_px = pl.rgb[y0:y1, x0:x1][core]
    rgb = np.median(core_px, axis=0)
    core_px = core_px[:: max(1, len(core_px) // 1024)]
    core_lab = srgb_to_lab(core_px)
    spread = float(np.median(np.linalg.norm(core_lab - np.median(core_lab, axis=0), axis=1)))
    if pl.alpha is not None:
        soft = pl.alpha[y0:y1, x0:x1] * reg
    else:
        assert pl.lab is not None and pl.bg_lab is not None
        lab = pl.lab[y0:y1, x0:x1]
        c = np.median(lab[core], axis=0)
        v = c - pl.bg_lab
        soft = np.clip((lab - pl.bg_lab) @ v / max(float(v @ v), 1e-6), 0.0, 1.0) * reg
    area = float(soft.sum())
    if area <= 0:
        return None
    gy, gx = np.mgrid[y0:y1, x0:x1]
    cx, cy = float((soft * gx).sum() / area), float((soft * gy).sum() / area)
    # Tight bbox of the half-coverage pixels.
    hy, hx = np.nonzero(soft >= 0.5)
    if len(hy) == 0:
        return None
    bbox = (int(x0 + hx.min()), int(y0 + hy.min()), int(x0 + hx.max() + 1), int(y0 + hy.max() + 1))
    return Component(bbox, soft.astype(np.float32)[hy.min():hy.max() + 1, hx.min():hx.max() + 1], area, (cx, cy),
                     (float(rgb[0]), float(rgb[1]), float(rgb[2])), core_px.astype(np.float32), spread)


def segment(image: Image.Image, cfg: DetectConfig | None = None) -> list[Component]:
    """Foreground components of `image`, largest first."""
    cfg = cfg or DetectConfig()
    pl = _planes(image, cfg)
    h, w = pl.fg.shape
    min_area = cfg.min_area_frac * h * w
    labels, n = ndimage.label(ndimage.binary_dilation(pl.fg, structure=_EIGHT), structure=_EIGHT)
    labels = labels * pl.fg
    out: list[Component] = []
    for i, sl in enumerate(ndimage.find_objects(labels), start=1):
        if sl is None:
            continue
        # Work in a padded window around the component for speed.
        ys = slice(max(0, sl[0].start - 3), min(h, sl[0].stop + 3))
        xs = slice(max(0, sl[1].start - 3), min(w, sl[1].stop + 3))
        sub = labels[ys, xs] == i
        if sub.sum() < min_area:
            continue
        sub_pl = _Planes(pl.rgb[ys, xs], None if pl.lab is None else pl.lab[ys, xs],
                         None if pl.alpha is None else pl.alpha[ys, xs], pl.bg_lab, pl.fg[ys, xs])
        for part in _split(sub_pl, sub, cfg):
            plab, k = ndimage.label(part, structure=_EIGHT)
            for j in range(1, k + 1):
                m = plab == j
                if m.sum() < min_area:
                    continue
                region = ndimage.binary_dilation(m, structure=_EIGHT, iterations=2) & ~(sub & ~m)
                comp = _component(sub_pl, m, region)
                if comp is None:
                    continue
                ox, oy = xs.start, ys.start
                comp.bbox = (comp.bbox[0] + ox, comp.bbox[1] + oy, comp.bbox[2] + ox, comp.bbox[3] + oy)
                comp.centroid = (comp.centroid[0] + ox, comp.centroid[1] + oy)
                out.append(comp)
    out.sort(key=lambda c: -c.area)
    return out


def normalised_crop(comp: Component, side: int = 32) -> np.ndarray:
    """(side, side) float32: the component's coverage centred in a square 10% larger than its bbox."""
    s = comp.soft
    h, w = s.shape
    L = int(np.ceil(max(h, w) * 1.1)) + 2
    canvas = np.zeros((L, L), dtype=np.float32)
    oy, ox = (L - h) // 2, (L - w) // 2
    canvas[oy:oy + h, ox:ox + w] = s
    im = Image.fromarray(canvas, mode="F").resize((side, side), Image.Resampling.BILINEAR)
    return np.asarray(im, dtype=np.float32)


def detect(image: Image.Image, cfg: DetectConfig | None = None) -> list[Detection]:
    """Components of `image` with their class (shape classifier), colour name, centroid, bbox and area."""
    from limner.vision.shape_net import load_classifier  # lazy: loads weights on first use

    cfg = cfg or DetectConfig()
    # Multicoloured blobs (decoder noise, textures) are not world objects, whatever shape they have.
    comps = [c for c in segment(image, cfg) if c.spread <= cfg.max_spread]
    if not comps:
        return []
    clf = load_classifier()
    crops = np.stack([normalised_crop(c, clf.config.crop) for c in comps])
    names, probs = clf.predict(crops)
    return [Detection(n, float(p), nearest_named(c.rgb), c.rgb, c.centroid, c.bbox, c.area, c.pixels)
            for c, n, p in zip(comps, names, probs, strict=True) if p >= cfg.min_prob]
