"""Real captioned images: a folder of `NAME.{png,jpg,jpeg,webp}` + `NAME.txt`, webdataset `.tar` shards, or parquet
files of an image and a caption column (the layout of common Hugging Face image-caption datasets).

A user with photographs and a GPU trains the same architecture with `limner train ... --data PATH`.
Each image is resized to cover the batch's canvas and centre-cropped; captions are used as prompts
and their quoted strings become the decoder's glyph condition, as for procedural scenes.
"""

from __future__ import annotations

import io
import tarfile
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


def _read_span(path: Path, offset: int, size: int) -> Callable[[], bytes]:
    """A loader that reads `size` bytes at `offset` of `path` when called (a tar member's data)."""
    def read() -> bytes:
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read(size)

    return read


def scan_shards(shards: list[Path]) -> list[CaptionedImage]:
    """webdataset layout: members `KEY.ext` grouped by KEY; needs an image and a `.txt` caption. Only the tar
    headers and the captions are read here: each image's bytes are read from its shard when it is drawn, so
    shards larger than memory stream from disk. A shard that cannot be read is skipped, with a warning."""
    items: list[CaptionedImage] = []
    for shard in shards:
        groups: dict[str, dict[str, tuple[int, int]]] = {}
        captions: dict[str, str] = {}
        try:
            with tarfile.open(shard) as tf:
                for m in tf:
                    if not m.isfile():
                        continue
                    key, _, ext = m.name.rpartition(".")
                    if "." + ext.lower() == ".txt":
                        f = tf.extractfile(m)
                        captions[key] = f.read().decode("utf-8", "replace").strip() if f is not None else ""
                    groups.setdefault(key, {})["." + ext.lower()] = (m.offset_data, m.size)
        except (tarfile.TarError, OSError) as e:
            warnings.warn(f"skipping unreadable shard {str(shard)!r}: {e}", stacklevel=2)
            continue
        for key, g in sorted(groups.items()):
            img_ext = next((e for e in IMAGE_EXTS if e in g), None)
            if img_ext and key in captions:
                items.append(CaptionedImage(f"{shard}:{key}", _read_span(shard, *g[img_ext]), captions[key]))
    return items


CAPTION_COLUMNS = ("caption", "text", "prompt", "sentence")  # the names common image-caption datasets use


def scan_parquet(files: list[Path]) -> list[CaptionedImage]:
    """Parquet files laid out as common Hugging Face image-caption datasets are: an `image` column (a struct with
    `bytes`, or the bytes themselves) and a caption column (the first of CAPTION_COLUMNS). Files are memory-mapped
    and each image is read out when it is drawn. ValueError naming the file when a column is missing."""
    import pyarrow.parquet as pq

    items: list[CaptionedImage] = []
    for f in files:
        table = pq.read_table(f, memory_map=True)
        cap = next((c for c in CAPTION_COLUMNS if c in table.column_names), None)
        if "image" not in table.column_names or cap is None:
            raise ValueError(f"{str(f)!r} has columns {table.column_names}: expected 'image' and one of "
                             f"{list(CAPTION_COLUMNS)}")
        images, texts = table.column("image"), table.column(cap).to_pylist()
        for i, text in enumerate(texts):
            items.append(CaptionedImage(f"{f}:{i}", _parquet_cell(images, i), str(text or "").strip()))
    return items


def _parquet_cell(column: Any, i: int) -> Callable[[], bytes]:
    """A loader of row i's image bytes from a parquet column (struct {bytes, path} or binary)."""
    def read() -> bytes:
        v = column[i].as_py()
        data = v.get("bytes") if isinstance(v, dict) else v
        if not isinstance(data, bytes | bytearray):
            raise ValueError(f"row {i} holds no image bytes")
        return bytes(data)

    return read


def load_items(path: str | Path) -> list[CaptionedImage]:
    """The captioned images in a folder, a folder of `.tar` shards or `.parquet` files, or one of them."""
    p = Path(path)
    if p.is_dir():
        shards, tables = sorted(p.glob("*.tar")), sorted(p.glob("*.parquet"))
        items = scan_shards(shards) if shards else scan_parquet(tables) if tables else scan_folder(p)
    elif p.suffix == ".tar" and p.is_file():
        items = scan_shards([p])
    elif p.suffix == ".parquet" and p.is_file():
        items = scan_parquet([p])
    else:
        raise FileNotFoundError(f"data path {str(p)!r} is neither a folder nor a .tar shard nor a .parquet file")
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
