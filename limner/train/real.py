"""Real captioned images: a folder of `NAME.{png,jpg,jpeg,webp}` + `NAME.txt`, or webdataset `.tar` shards.

A user with photographs and a GPU trains the same architecture with `limner train ... --data PATH`.
Each image is resized to cover the batch's canvas and centre-cropped; captions are used as prompts
and their quoted strings become the decoder's glyph condition, as for procedural scenes.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from limner.data.scene import glyph_image, to_array
from limner.train.batches import SIZE_WEIGHTS, Batch, Shard, draw_size, step_rng

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


MAX_TRIES = 100  # unreadable draws in a row for one example before the data is declared unusable


class RealImageBatcher:
    """Endless batches of captioned images, cover-cropped to a canvas size drawn per step, as the `shard` of the
    global batches (batches.Shard: a pure function of seed, step and row). An unreadable image is skipped and
    counted in its batch's `skipped`, never fatal; only data where nothing can be read is an error."""

    def __init__(self, path: str | Path, batch_size: int, seed: int = 0, shard: Shard | None = None) -> None:
        self.items = load_items(path)
        self.batch_size = batch_size
        self.shard = shard or Shard(seed)
        self.stream = self.shard.items()

    def __iter__(self) -> Iterator[Batch]:
        return self

    def __next__(self) -> Batch:
        from limner.engine.glyphs import requested_text

        step, rows = self.shard.place(next(self.stream), self.batch_size)
        size = draw_size(step_rng(self.shard.seed, step), SIZE_WEIGHTS)
        imgs: list[np.ndarray] = []
        glyphs: list[np.ndarray] = []
        prompts: list[str] = []
        skipped = 0
        for j in rows:
            rng = step_rng(self.shard.seed, step, j)
            for _ in range(MAX_TRIES):
                it = rng.choice(self.items)
                try:
                    im = Image.open(io.BytesIO(it.load())).convert("RGBA")
                    break
                except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
                    skipped += 1  # a corrupt or unreadable file: skip it rather than stop a long run
            else:
                raise ValueError(f"{MAX_TRIES} images in a row could not be read from {len(self.items)} items: "
                                 "is the data corrupt?")
            imgs.append(to_array(cover_crop(im, size)))
            g = glyph_image(requested_text(it.caption), *size)
            glyphs.append(np.asarray(g, dtype=np.float32)[None] / 255.0)
            prompts.append(it.caption)
        return Batch(torch.from_numpy(np.stack(imgs)), torch.from_numpy(np.stack(glyphs)), prompts, size,
                     skipped=skipped)
