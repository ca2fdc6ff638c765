"""Dense textures for tuning the watermark: the development photos hold none, and texture is where a mark
meets the most host interference (the report's grass and gravel were its hardest photos).

Made here, never from the report's images: fractal (1/f^beta) noise at three roughnesses, tinted; a
pebble mosaic (Voronoi cells of random grey with dark joints and grain); and a hill-shaded elevation model
(matplotlib's `jacksboro_fault_dem` sample, which the report does not use).
"""

from __future__ import annotations

import numpy as np
from PIL import Image

SIDE = 512


def fractal_noise(side: int, beta: float, seed: int) -> np.ndarray:
    """(side, side) float64, zero mean and unit variance, with power falling as 1/f^(2 beta)."""
    rng = np.random.default_rng(seed)
    f = np.fft.fftfreq(side)
    radius = np.sqrt(f[:, None] ** 2 + f[None, :] ** 2)
    radius[0, 0] = 1.0  # the mean is removed below
    spec = (rng.normal(size=(side, side)) + 1j * rng.normal(size=(side, side))) / radius**beta
    x = np.fft.ifft2(spec).real
    return (x - x.mean()) / x.std()


def pebbles(side: int, seed: int, cells: int = 600) -> np.ndarray:
    """(side, side) float64 grey levels: Voronoi cells of random grey, dark joints, fine grain."""
    from scipy.spatial import cKDTree

    rng = np.random.default_rng(seed)
    pts = rng.random((cells, 2)) * side
    yy, xx = np.mgrid[:side, :side]
    d, i = cKDTree(pts).query(np.stack([yy.ravel(), xx.ravel()], 1), k=2)  # (side*side, 2)
    shade = rng.uniform(70, 200, cells)[i[:, 0]]
    joint = np.clip((d[:, 1] - d[:, 0]) / 4.0, 0.0, 1.0)  # 0 on the border between two cells
    return (shade * joint).reshape(side, side) + 12.0 * fractal_noise(side, 0.5, seed + 1)


def hillshade() -> np.ndarray:
    """(344, 403, 3) uint8: matplotlib's Jacksboro fault elevation model, shaded and coloured."""
    import matplotlib.cbook as cbook
    from matplotlib import colormaps
    from matplotlib.colors import LightSource

    with np.load(cbook.get_sample_data("jacksboro_fault_dem.npz", asfileobj=False)) as dem:
        z = dem["elevation"].astype(np.float64)
    rgba = LightSource(azdeg=315, altdeg=45).shade(z, cmap=colormaps["gist_earth"], vert_exag=0.05,
                                                  blend_mode="overlay")
    return (rgba[..., :3] * 255).astype(np.uint8)


def dev_textures() -> list[tuple[str, Image.Image]]:
    """Five named RGB textures (512 px, the hill shade 403x344)."""
    out = []
    for k, (beta, contrast) in enumerate([(0.5, 40.0), (0.9, 45.0), (1.3, 50.0)]):
        grey = 128.0 + contrast * fractal_noise(SIDE, beta, k)
        tint = np.array([1.0, 0.95, 0.8]) if k % 2 else np.array([0.75, 1.0, 0.6])
        out.append((f"texture:fractal{beta}", np.clip(grey[..., None] * tint, 0, 255).astype(np.uint8)))
    out.append(("texture:pebbles", np.clip(pebbles(SIDE, 7)[..., None] * np.array([1.0, 0.97, 0.9]), 0, 255)
                .astype(np.uint8)))
    out.append(("texture:hillshade", hillshade()))
    return [(name, Image.fromarray(a)) for name, a in out]
