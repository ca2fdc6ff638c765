"""Imperceptibility of the watermark beside its robustness (issue [7 of 8]), over three kinds of image.

* `deviation`: PSNR, SSIM and the deviation on flat areas (pixels whose 5x5 neighbourhood is one colour
  in the original: the 99th percentile and the maximum absolute change of any channel there);
* `direct`: those figures plus bit accuracy per attack for images marked with `watermark.embed` directly
  (photos, the shipped model's own outputs), where the stage's self-check does not redraw payloads;
* `timing`: CPU ms of embed + the stage's self-check (as is, JPEG q75, brightened) at 256^2, and of embed +
  one read-back at 1024^2 (the stage checks only images up to 512^2);
* `crops`: side-by-side crops at 4x (original | marked | difference x 32 around grey) for the report.
"""

from __future__ import annotations

import io
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from bench.provenance.attacks import ATTACKS
from limner.provenance.ecc import PAYLOAD_BITS, int_to_bits
from limner.provenance.watermark import WatermarkConfig, detect, embed, local_range, psnr

KEY = bytes(range(32))  # a bench key; the stage's own key is used where images go through the stage


def bit_accuracy(guess: int | None, truth: int) -> float:
    """Share of the 48 payload bits the decoder's best guess got right; 0.5 when nothing was decoded."""
    if guess is None:
        return 0.5
    return float((int_to_bits(guess, PAYLOAD_BITS) == int_to_bits(truth, PAYLOAD_BITS)).mean())


def deviation(src: np.ndarray, out: np.ndarray) -> dict[str, float]:
    """Figures of one uint8 RGB (H, W, 3) pair: PSNR, SSIM, flat share, flat-area q99 and max deviation."""
    from skimage.metrics import structural_similarity

    flat = local_range(src) == 0  # (H, W), judged on the original
    d = np.abs(out.astype(np.int16) - src.astype(np.int16))[flat]  # (n_flat, 3)
    return {"psnr": psnr(src, out),
            "ssim": float(structural_similarity(src, out, channel_axis=2, data_range=255)),
            "flat_share": float(flat.mean()),
            "flat_q99": float(np.percentile(d, 99)) if d.size else 0.0,
            "flat_max": float(d.max()) if d.size else 0.0}


def summarise(rows: list[dict[str, float]]) -> dict[str, float]:
    """Per-corpus figures: PSNR / SSIM min and mean, the worst image's flat q99 and the largest flat change."""
    if not rows:
        return {"images": 0}
    col = {k: np.array([r[k] for r in rows]) for k in rows[0]}
    return {"images": len(rows), "psnr_db_min": round(float(col["psnr"].min()), 2),
            "psnr_db_mean": round(float(col["psnr"].mean()), 2), "ssim_min": round(float(col["ssim"].min()), 4),
            "ssim_mean": round(float(col["ssim"].mean()), 4),
            "flat_share_mean": round(float(col["flat_share"].mean()), 3),
            "flat_q99_worst": float(col["flat_q99"].max()),
            "flat_q99_mean": round(float(col["flat_q99"].mean()), 2),
            "flat_max": float(col["flat_max"].max())}


def direct(images: list[tuple[str, Image.Image]], seed: int, cfg: WatermarkConfig | None = None) -> dict[str, Any]:
    """Mark each image with `embed` (no stage, no payload redraws), then measure deviation and robustness."""
    cfg = cfg or WatermarkConfig()
    rng = random.Random(seed)
    dev: list[dict[str, float]] = []
    acc: dict[str, list[float]] = {a: [] for a in ATTACKS}
    for _, im in images:
        rgb = np.ascontiguousarray(np.asarray(im.convert("RGB")))
        payload = rng.getrandbits(PAYLOAD_BITS)
        marked = embed(rgb, KEY, payload, cfg)
        dev.append(deviation(rgb, marked))
        for attack, fn in ATTACKS.items():
            a = np.asarray(Image.open(io.BytesIO(fn(Image.fromarray(marked), rng))).convert("RGB"))
            acc[attack].append(bit_accuracy(detect(np.ascontiguousarray(a), KEY, cfg).guess, payload))
    return {**summarise(dev), "bit_accuracy": {a: round(float(np.mean(v)), 4) for a, v in acc.items()}}


def model_outputs(n: int, seed: int) -> list[tuple[str, Image.Image]]:
    """n images from the shipped model's default path at 256x256, prompts from the data engine (dev seed)."""
    from limner.data.sampler import TRAIN_MIX, sample
    from limner.engine.generator import GenerateOptions, Generator, default_checkpoint

    gen = Generator.from_checkpoint(default_checkpoint())
    rng = random.Random(seed)
    tags = sorted(TRAIN_MIX)
    out = []
    for i in range(n):
        caption = sample(tags[i % len(tags)], rng).prompt
        im = gen.generate(caption, GenerateOptions(n=1, seed=seed + i, size="256x256"))[0]
        out.append((caption, im.convert("RGB")))
    return out


def timing(renders_256: list[Image.Image], renders_1024: list[Image.Image], stage: Any,
           repeats: int = 3) -> dict[str, float]:
    """CPU ms: embed + the stage's self-check at 256^2; embed + one read-back at 1024^2 (mean over images).

    One untimed warm-up first (imports, key patterns and caches, as in a running server); then each image
    is timed `repeats` times and its fastest run kept, since on a shared machine a slower run measures the
    neighbours (timeit's rule), not the code."""
    key = stage.watermark_key()
    payload = 0x5A5A5A5A5A5A

    def small_run(rgb: np.ndarray) -> None:
        stage._reads_back(embed(rgb, key, payload, stage.wm_config), key, payload)  # noqa: SLF001 - timed

    def large_run(rgb: np.ndarray) -> None:
        detect(embed(rgb, key, payload, stage.wm_config), key, stage.wm_config)

    def best_ms(fn: Any, rgb: np.ndarray) -> float:
        runs = []
        for _ in range(repeats):
            c = time.process_time()
            fn(rgb)
            runs.append((time.process_time() - c) * 1000)
        return min(runs)

    small_imgs = [np.ascontiguousarray(np.asarray(im.convert("RGB"))) for im in renders_256]
    large_imgs = [np.ascontiguousarray(np.asarray(im.convert("RGB"))) for im in renders_1024]
    if small_imgs:
        small_run(small_imgs[0])  # warm-up, untimed
    if large_imgs:
        large_run(large_imgs[0])
    small = [best_ms(small_run, x) for x in small_imgs]
    large = [best_ms(large_run, x) for x in large_imgs]
    return {"embed_selfcheck_256_cpu_ms": round(float(np.mean(small)), 1),
            "embed_read_1024_cpu_ms": round(float(np.mean(large)), 1)}


def _strip(parts: list[np.ndarray], zoom: int) -> Image.Image:
    gap = np.full((parts[0].shape[0], 4, 3), 128, np.uint8)
    row = np.concatenate([p for q in parts for p in (q, gap)][:-1], axis=1)
    im = Image.fromarray(row)
    return im.resize((im.width * zoom, im.height * zoom), Image.Resampling.NEAREST)


def crops(out_dir: Path, render: Image.Image, photo: Image.Image, cfg: WatermarkConfig | None = None) -> list[Path]:
    """Write 64x64 crops at 4x, original | marked | (marked - original) x 32 + 128: a white 256^2 field, a
    render (edge of a shape on white) and a photo. Returns the paths."""
    cfg = cfg or WatermarkConfig()
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, im, pos in (("white", Image.new("RGB", (256, 256), "white"), (96, 96)),
                          ("render", render, None), ("photo", photo, (64, 64))):
        rgb = np.ascontiguousarray(np.asarray(im.convert("RGB")))
        marked = embed(rgb, KEY, 0x0123456789AB, cfg)
        if pos is None:  # the 64x64 window with the most pixels that are not flat (an object and its edges)
            busy = np.pad((local_range(rgb) > 0).cumsum(0).cumsum(1), ((1, 0), (1, 0)))  # integral image
            win = busy[64:, 64:] - busy[:-64, 64:] - busy[64:, :-64] + busy[:-64, :-64]  # (H-63, W-63)
            y0, x0 = np.unravel_index(int(np.argmax(win)), win.shape)
            pos = (int(y0), int(x0))
        y, x = pos
        a, b = rgb[y:y + 64, x:x + 64], marked[y:y + 64, x:x + 64]
        diff = np.clip(128 + 32 * (b.astype(np.int16) - a.astype(np.int16)), 0, 255).astype(np.uint8)
        path = out_dir / f"{name}_4x.png"
        _strip([a, b, diff], 4).save(path)
        paths.append(path)
    return paths
