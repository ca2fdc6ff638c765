"""Images for the provenance bench: "generated" renders (or a folder of real generations) and a
non-generated set of package-shipped photos, synthetic renders that never went through the stage, and noise.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from bench.provenance.dev_textures import dev_textures
from limner.data.sampler import TRAIN_MIX, sample
from limner.data.scene import render

TAGS = sorted(TRAIN_MIX)


def generated(n: int, seed: int, images_dir: Path | None = None) -> list[tuple[str, Image.Image]]:
    """n images standing in for the model's output: data-engine renders (RGBA, flat colours, text)."""
    if images_dir is not None:
        files = sorted(p for p in images_dir.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".webp"))
        if not files:
            raise SystemExit(f"--images {images_dir}: no .png/.jpg/.webp files")
        out = []
        for p in files[:n]:
            with Image.open(p) as im:
                out.append((p.name, im.copy()))
        return out
    rng = random.Random(seed)
    return [(f"{TAGS[i % len(TAGS)]}-{i}", render(sample(TAGS[i % len(TAGS)], rng).scene)) for i in range(n)]


def render_at(side: int, n: int, seed: int) -> list[Image.Image]:
    """Renders drawn at side x side (for the 1024x1024 stage-cost figure)."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        sc = sample(TAGS[i % len(TAGS)], rng).scene
        sc.width = sc.height = side
        out.append(render(sc))
    return out


def _photos() -> list[tuple[str, Image.Image]]:
    import matplotlib.cbook as cbook
    import skimage.data as skd

    names = ["astronaut", "camera", "coffee", "chelsea", "rocket", "moon", "page", "text", "clock", "coins", "horse",
             "hubble_deep_field", "immunohistochemistry", "logo", "retina", "shepp_logan_phantom", "colorwheel",
             "grass", "gravel", "brick", "cell", "cat", "binary_blobs", "microaneurysms", "checkerboard"]
    out = []
    for name in names:
        try:
            a = getattr(skd, name)()
        except Exception:  # noqa: BLE001 - some sample images need a download; skip those
            continue
        if a.dtype != np.uint8:
            a = (a.astype(float) / max(1.0, float(a.max())) * 255).astype(np.uint8)
        out.append((f"skimage:{name}", Image.fromarray(a).convert("RGB")))
    sample_dir = Path(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)).parent
    for f in ("grace_hopper.jpg", "Minduka_Present_Blue_Pack.png", "logo2.png"):
        if (sample_dir / f).exists():
            with Image.open(sample_dir / f) as im:
                out.append((f"matplotlib:{f}", im.convert("RGB")))
    return out


def _dev_photos() -> list[tuple[str, Image.Image]]:
    """Package-shipped photos the report never uses (scikit-learn's two samples, scikit-image's stereo pair,
    colour chart and motion-blurred clock) and dense textures made for tuning (dev_textures.py): watermark
    settings are tuned on these (tune.py --photos)."""
    import skimage.data as skd
    from sklearn.datasets import load_sample_images

    out = [(f"sklearn:{i}", Image.fromarray(a)) for i, a in enumerate(load_sample_images().images)]
    folder = Path(skd.__file__).parent
    for f in ("motorcycle_left.png", "motorcycle_right.png", "color.png", "clock_motion.png"):
        with Image.open(folder / f) as im:
            out.append((f"skimage:{f}", im.convert("RGB")))
    return out + dev_textures()


def photo_crops(n: int, seed: int, dev: bool = False) -> list[tuple[str, Image.Image]]:
    """n random crops / rescales / flips of the shipped photos, 128..512 px (`dev`: of the tuning photos)."""
    rng = random.Random(seed)
    photos = _dev_photos() if dev else _photos()
    out = []
    for i in range(n):
        name, im = photos[i % len(photos)]
        s = rng.uniform(0.4, 1.0)
        w, h = max(96, int(im.width * s)), max(96, int(im.height * s))
        x, y = rng.randint(0, im.width - min(w, im.width)), rng.randint(0, im.height - min(h, im.height))
        c = im.crop((x, y, x + min(w, im.width), y + min(h, im.height)))
        side = rng.choice([128, 192, 256, 320, 384, 512])
        c = c.resize((side, max(64, int(side * c.height / c.width))), Image.Resampling.BICUBIC)
        if rng.random() < 0.5:
            c = c.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        out.append((f"{name}#{i}", c))
    return out


def noise_images(n: int, seed: int) -> list[tuple[str, Image.Image]]:
    """Uniform, Gaussian, smooth and gradient noise of assorted sizes."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        h, w = int(rng.integers(96, 513)), int(rng.integers(96, 513))
        kind = ("uniform", "gaussian", "smooth", "gradient")[i % 4]
        if kind == "uniform":
            a = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        elif kind == "gaussian":
            a = np.clip(rng.normal(128, rng.uniform(5, 60), (h, w, 3)), 0, 255).astype(np.uint8)
        elif kind == "smooth":
            a0 = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
            a = np.asarray(Image.fromarray(a0).filter(ImageFilter.GaussianBlur(float(rng.uniform(1, 6)))))
        else:
            yy, xx = np.mgrid[0:h, 0:w]
            c = rng.uniform(0, 1, (3, 3))
            a = np.stack([np.clip(255 * (c[k, 0] * xx / w + c[k, 1] * yy / h) / max(1e-6, c[k, 0] + c[k, 1])
                                  + rng.normal(0, 2, (h, w)), 0, 255) for k in range(3)], -1).astype(np.uint8)
        out.append((f"noise:{kind}#{i}", Image.fromarray(a)))
    return out


def non_generated(n: int, seed: int) -> list[tuple[str, Image.Image]]:
    """n images limner never made: 40% photo crops, 40% renders not passed through the stage, 20% noise."""
    n_photo, n_render = int(n * 0.4), int(n * 0.4)
    rng = random.Random(seed + 1)
    renders = [(f"render:{TAGS[i % len(TAGS)]}#{i}", render(sample(TAGS[i % len(TAGS)], rng).scene))
               for i in range(n_render)]
    return photo_crops(n_photo, seed) + renders + noise_images(n - n_photo - n_render, seed)
