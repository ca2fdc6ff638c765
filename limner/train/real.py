"""Real captioned images: a folder of `NAME.{png,jpg,jpeg,webp}` + `NAME.txt`, or webdataset `.tar` shards.

A user with photographs and a GPU trains the same architecture with `limner train ... --data PATH`.
Each image is resized to cover the batch's canvas and centre-cropped; captions are used as prompts
and their quoted strings become the decoder's glyph condition, as for procedural scenes.
"""

from __future__ import annotations

import io
import random
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from limner.data.scene import glyph_image, to_array
from limner.train.batches import SIZE_WEIGHTS, Batch

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".webp")


@dataclass
class CaptionedImage:
    """One training image: its key, a loader for its bytes, and its caption."""

    key: str
    load: Callable[[], bytes]  # () -> bytes of the image
    caption: str


def scan_folder(root: Path) -> list[CaptionedImage]:
    """Every `NAME.<image ext>` under `root` (recursively) with a `NAME.txt` caption beside it."""
    items: list[CaptionedImage] = []
    for img in sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_EXTS):
        cap = img.with_suffix(".txt")
        if cap.is_file():
            items.append(CaptionedImage(str(img), img.read_bytes, cap.read_text(encoding="utf-8").strip()))
    return items


def _bytes_of(data: bytes) -> Callable[[], bytes]:
    """A loader that returns `data`, already read from a shard."""
    return lambda: data


def scan_shards(shards: list[Path]) -> list[CaptionedImage]:
    """webdataset layout: members `KEY.ext` grouped by KEY; needs an image and a `.txt` caption."""
    items: list[CaptionedImage] = []
    for shard in shards:
        with tarfile.open(shard) as tf:
            groups: dict[str, dict[str, bytes]] = {}
            for m in tf.getmembers():
                if not m.isfile():
                    continue
                key, _, ext = m.name.rpartition(".")
                f = tf.extractfile(m)
                if f is not None:
                    groups.setdefault(key, {})["." + ext.lower()] = f.read()
        for key, g in sorted(groups.items()):
            img_ext = next((e for e in IMAGE_EXTS if e in g), None)
            if img_ext and ".txt" in g:
                items.append(CaptionedImage(f"{shard}:{key}", _bytes_of(g[img_ext]), g[".txt"].decode("utf-8").strip()))
    return items


def load_items(path: str | Path) -> list[CaptionedImage]:
    """The captioned images in a folder, a folder of `.tar` shards, or one shard."""
    p = Path(path)
    if p.is_dir():
        shards = sorted(p.glob("*.tar"))
        items = scan_shards(shards) if shards else scan_folder(p)
    elif p.suffix == ".tar" and p.is_file():
        items = scan_shards([p])
    else:
        raise FileNotFoundError(f"data path {str(p)!r} is neither a folder nor a .tar shard")
    if not items:
        raise ValueError(f"no captioned images under {str(p)!r}: expected NAME.png + NAME.txt pairs or .tar shards")
    return items


def cover_crop(im: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Resize to cover (W, H), then centre-crop to it."""
    w, h = size
    s = max(w / im.width, h / im.height)
    im = im.resize((max(w, round(im.width * s)), max(h, round(im.height * s))), Image.Resampling.BICUBIC)
    x0, y0 = (im.width - w) // 2, (im.height - h) // 2
    return im.crop((x0, y0, x0 + w, y0 + h))


class RealImageBatcher:
    """Endless batches of captioned images, cover-cropped to a canvas size drawn per batch."""

    def __init__(self, path: str | Path, batch_size: int, seed: int) -> None:
        self.items = load_items(path)
        self.batch_size = batch_size
        self.rng = random.Random(seed)

    def __iter__(self) -> Iterator[Batch]:
        return self

    def __next__(self) -> Batch:
        from limner.engine.glyphs import requested_text

        size = self.rng.choices(list(SIZE_WEIGHTS), weights=list(SIZE_WEIGHTS.values()))[0]
        imgs: list[np.ndarray] = []
        glyphs: list[np.ndarray] = []
        prompts: list[str] = []
        while len(imgs) < self.batch_size:
            it = self.rng.choice(self.items)
            try:
                im = Image.open(io.BytesIO(it.load())).convert("RGBA")
            except (UnidentifiedImageError, OSError):
                continue  # skip unreadable files rather than stopping a long run
            imgs.append(to_array(cover_crop(im, size)))
            g = glyph_image(requested_text(it.caption), *size)
            glyphs.append(np.asarray(g, dtype=np.float32)[None] / 255.0)
            prompts.append(it.caption)
        return Batch(torch.from_numpy(np.stack(imgs)), torch.from_numpy(np.stack(glyphs)), prompts, size)
