"""Labelled images for the image-layer evals, assembled from images that installed packages ship
(scikit-image, matplotlib) plus synthetic illustrations drawn here (the shipped model's flat shapes,
cartoon faces). Nothing is downloaded. The sets are small and the counts are reported as they are:
no package we can install ships photographs of children, so the "child" row has n = 0 unless the
caller passes a folder of their own labelled images.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageOps


@dataclass
class LabelledImage:
    """One image of the person-classifier set with its ground truth: photorealistic or not, and the person label."""

    name: str
    image: Image.Image
    photo: bool  # photorealistic?
    person: str  # none | adult | child (ground truth)
    source: str


def _skimage(name: str) -> Image.Image | None:
    try:
        import skimage.data as d

        arr = getattr(d, name)()
    except Exception:  # a missing optional package or data file just shrinks the set
        return None
    return Image.fromarray(np.asarray(arr)).convert("RGB")


def _mpl(name: str) -> Image.Image | None:
    try:
        import matplotlib.cbook as cb

        return Image.open(cb.get_sample_data(name, asfileobj=False)).convert("RGB")
    except Exception:
        return None


def cartoon_face(rng: random.Random, size: int = 384) -> Image.Image:
    """A flat-colour cartoon face: a person, but not photorealistic."""
    bg = tuple(rng.randint(150, 255) for _ in range(3))
    im = Image.new("RGB", (size, size), bg)
    d = ImageDraw.Draw(im)
    skin = rng.choice([(255, 220, 180), (230, 180, 140), (160, 110, 80), (110, 70, 50)])
    r = size * rng.uniform(0.28, 0.36)
    cx, cy = size / 2, size / 2
    d.ellipse((cx - r, cy - r * 1.1, cx + r, cy + r * 1.1), fill=skin, outline=(0, 0, 0), width=3)
    for sx in (-1, 1):
        ex = cx + sx * r * 0.4
        d.ellipse(
            (ex - r * 0.12, cy - r * 0.3, ex + r * 0.12, cy - r * 0.05),
            fill=(255, 255, 255),
            outline=(0, 0, 0),
            width=2,
        )
        d.ellipse((ex - r * 0.05, cy - r * 0.22, ex + r * 0.05, cy - r * 0.12), fill=(0, 0, 0))
    d.arc((cx - r * 0.4, cy, cx + r * 0.4, cy + r * 0.55), 20, 160, fill=(120, 0, 0), width=4)
    d.pieslice(
        (cx - r, cy - r * 1.25, cx + r, cy - r * 0.2),
        180,
        360,
        fill=rng.choice([(60, 40, 20), (200, 160, 60), (20, 20, 20)]),
    )
    return im


def world_image(rng: random.Random) -> Image.Image:
    """A random render of the shipped model's world (flat shapes, text) in RGB: neither a photo nor a person."""
    from limner.data.sampler import sample_mix
    from limner.data.scene import render

    return render(sample_mix(rng).scene).convert("RGB")


def labelled_images(extra_dir: str | Path | None = None, seed: int = 0) -> list[LabelledImage]:
    """The person-classifier set. `extra_dir` may hold `adult/`, `child/`, `none_photo/`, `illustration/`."""
    rng = random.Random(seed)
    out: list[LabelledImage] = []
    photos = {
        "astronaut": ("adult", _skimage("astronaut")),
        "camera": ("adult", _skimage("camera")),
        "grace_hopper": ("adult", _mpl("grace_hopper.jpg")),
        "coffee": ("none", _skimage("coffee")),
        "chelsea": ("none", _skimage("chelsea")),
        "rocket": ("none", _skimage("rocket")),
        "immunohistochemistry": ("none", _skimage("immunohistochemistry")),
        "hubble": ("none", _skimage("hubble_deep_field")),
        "coins": ("none", _skimage("coins")),
        "moon": ("none", _skimage("moon")),
        "page": ("none", _skimage("page")),
    }
    for name, (person, im) in photos.items():
        if im is None:
            continue
        out.append(LabelledImage(name, im, True, person, "package"))
        if person == "adult":
            # Re-framings of the same photographs (mirror, crop, downscale): not independent samples.
            out.append(LabelledImage(name + "_mirror", ImageOps.mirror(im), True, person, "package-augmented"))
            w, h = im.size
            out.append(
                LabelledImage(
                    name + "_crop", im.crop((w // 8, 0, w - w // 8, h - h // 8)), True, person, "package-augmented"
                )
            )
            out.append(
                LabelledImage(name + "_small", im.resize((w * 2 // 3, h * 2 // 3)), True, person, "package-augmented")
            )
    for i in range(12):
        out.append(LabelledImage(f"cartoon_face_{i}", cartoon_face(rng), False, "none", "synthetic"))
    for i in range(12):
        out.append(LabelledImage(f"world_{i}", world_image(rng), False, "none", "synthetic"))
    if extra_dir:
        root = Path(extra_dir)
        for sub, (photo, person) in {
            "adult": (True, "adult"),
            "child": (True, "child"),
            "none_photo": (True, "none"),
            "illustration": (False, "none"),
        }.items():
            for p in sorted((root / sub).glob("*")) if (root / sub).is_dir() else []:
                try:
                    out.append(LabelledImage(p.name, Image.open(p).convert("RGB"), photo, person, str(root)))
                except OSError:
                    continue
    return out
