"""Train the shape classifier of the scorer: `python -m limner.evals.train_detector [--out PATH]`.

Data: one world object per small canvas, drawn with the data engine's own shape masks, then degraded
the way a learned decoder degrades pixels (downscale to ~0.5x and back, blur, noise, JPEG, slight
dilation/erosion, rotation/stretch, colour jitter) and passed through the SAME segmentation as the
scorer (detect.segment + detect.normalised_crop), so training and scoring inputs match. 15% of the
training crops are left clean (exact renders) because the oracle check scores exact renders.
Runs in a few minutes on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import io
import math
import random
import time
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageFilter
from torch import nn

from limner.data.shapes import shape_mask
from limner.data.world import COLORS, OBJECTS
from limner.vision.detect import DetectConfig, normalised_crop, segment
from limner.vision.shape_net import WEIGHTS, ShapeNet, ShapeNetConfig, save_shape_net


@dataclass(frozen=True)
class TrainConfig:
    """Data sizes, optimiser settings and CPU parallelism of one training run of the shape classifier."""

    per_class: int = 800  # training crops per class
    val_per_class: int = 120
    epochs: int = 6
    batch: int = 128
    lr: float = 3e-3
    seed: int = 0
    workers: int = 2
    threads: int = 1  # torch threads; one is faster than two for this tiny net on a busy 2-core machine


def _rand_rgb(rng: random.Random, far_from: tuple[int, int, int] | None) -> tuple[int, int, int]:
    while True:
        if rng.random() < 0.5:
            c = COLORS[rng.choice(list(COLORS))]
        else:
            c = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        if far_from is None or math.dist(c, far_from) >= 100:
            return c


def _degrade(im: Image.Image, rng: random.Random, transparent: bool) -> Image.Image:
    """Mimic a learned decoder: resolution loss, blur, noise, compression, colour drift."""
    w, h = im.size
    if rng.random() < 0.75:
        f = rng.uniform(0.35, 0.7)
        down = rng.choice((Image.Resampling.BILINEAR, Image.Resampling.BICUBIC, Image.Resampling.BOX))
        im = im.resize((max(4, round(w * f)), max(4, round(h * f))), down)
        im = im.resize((w, h), rng.choice((Image.Resampling.BILINEAR, Image.Resampling.BICUBIC)))
    if rng.random() < 0.5:
        im = im.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.3)))
    a = np.asarray(im, dtype=np.float32).copy()
    if rng.random() < 0.7:  # colour jitter: per-channel gain/offset and a gentle gradient
        gain = np.array([rng.uniform(0.9, 1.1) for _ in range(3)], dtype=np.float32)
        off = np.array([rng.uniform(-12, 12) for _ in range(3)], dtype=np.float32)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        grad = (rng.uniform(-10, 10) * xx / w + rng.uniform(-10, 10) * yy / h)[..., None]
        a[..., :3] = a[..., :3] * gain + off + grad
    if rng.random() < 0.6:
        a[..., :3] += np.random.default_rng(rng.randrange(2**31)).normal(0, rng.uniform(1, 9), a[..., :3].shape)
    if transparent and rng.random() < 0.5:
        a[..., 3] += np.random.default_rng(rng.randrange(2**31)).normal(0, rng.uniform(1, 12), a[..., 3].shape)
    im = Image.fromarray(np.clip(a, 0, 255).round().astype(np.uint8), "RGBA" if a.shape[-1] == 4 else "RGB")
    if not transparent and rng.random() < 0.3:
        buf = io.BytesIO()
        im.convert("RGB").save(buf, "JPEG", quality=rng.randint(35, 90))
        im = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    return im


def synth_crop(rng: random.Random, cls: str, degrade: bool, cfg: DetectConfig) -> np.ndarray | None:
    """One normalised crop of `cls`, or None if segmentation found nothing."""
    r = rng.uniform(10.0, 56.0)
    m = shape_mask(cls, r)
    if degrade:
        if rng.random() < 0.5:
            m = m.rotate(rng.uniform(-7, 7), resample=Image.Resampling.BILINEAR, expand=True)
        if rng.random() < 0.5:
            sx, sy = rng.uniform(0.9, 1.1), rng.uniform(0.9, 1.1)
            m = m.resize((max(4, round(m.width * sx)), max(4, round(m.height * sy))), Image.Resampling.BILINEAR)
        if rng.random() < 0.25:
            m = m.filter(ImageFilter.MaxFilter(3) if rng.random() < 0.5 else ImageFilter.MinFilter(3))
    pad = int(rng.uniform(0.3, 0.8) * r) + 6
    w, h = m.width + 2 * pad, m.height + 2 * pad
    u = rng.random()
    transparent = u < 0.12
    if transparent:
        im = Image.new("RGBA", (w, h), (0, 0, 0, 0))
        col = _rand_rgb(rng, None)
    else:
        bg = (255, 255, 255) if u < 0.55 else _rand_rgb(rng, None)
        im = Image.new("RGB", (w, h), bg)
        col = _rand_rgb(rng, bg)
    ox, oy = pad + rng.randint(-pad // 3, pad // 3), pad + rng.randint(-pad // 3, pad // 3)
    im.paste(Image.new(im.mode, m.size, (*col, 255) if transparent else col), (ox, oy), m)
    if degrade:
        im = _degrade(im, rng, transparent)
    comps = segment(im, cfg)
    if not comps:
        return None
    return normalised_crop(comps[0], 32)


def _make(args: tuple[int, int, bool]) -> tuple[np.ndarray, np.ndarray]:
    seed, n_per_class, degrade_all = args
    rng = random.Random(seed)
    cfg = DetectConfig()
    xs, ys = [], []
    for k, cls in enumerate(OBJECTS):
        made = 0
        while made < n_per_class:
            crop = synth_crop(rng, cls, degrade_all or rng.random() < 0.85, cfg)
            if crop is not None:
                xs.append(crop)
                ys.append(k)
                made += 1
    return np.stack(xs).astype(np.float32), np.array(ys, dtype=np.int64)


def make_dataset(n_per_class: int, seed: int, workers: int, degrade_all: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """`n_per_class` crops of each class (85% degraded, all if `degrade_all`), made in `workers` forked processes:
    (crops (N, 32, 32) float32, class indices (N,) int64)."""
    chunks = [(seed * 1000 + i, n_per_class // workers + (i < n_per_class % workers), degrade_all)
              for i in range(workers)]
    if workers <= 1:
        parts = [_make(c) for c in chunks]
    else:
        with get_context("fork").Pool(workers) as pool:
            parts = pool.map(_make, chunks)
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def _accuracy(model: ShapeNet, x: np.ndarray, y: np.ndarray) -> float:
    model.eval()
    with torch.no_grad():
        pred = torch.cat([model(torch.from_numpy(x[i:i + 512])[:, None]).argmax(-1) for i in range(0, len(x), 512)])
    return float((pred.numpy() == y).mean())


def train(cfg: TrainConfig, out: Path, cache: Path | None = None) -> dict[str, float]:
    """Make the crops (or load them from `cache`, an .npz it writes on first use), train, save to `out`."""
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    t0 = time.time()
    if cache is not None and cache.is_file():
        z = np.load(cache)
        x, y, xv, yv = z["x"], z["y"], z["xv"], z["yv"]
    else:
        x, y = make_dataset(cfg.per_class, cfg.seed, cfg.workers)
        xv, yv = make_dataset(cfg.val_per_class, cfg.seed + 1, cfg.workers, degrade_all=True)
        if cache is not None:
            np.savez_compressed(cache, x=x, y=y, xv=xv, yv=yv)
    print(f"data: {len(x)} train / {len(xv)} val crops in {time.time() - t0:.0f}s", flush=True)
    model = ShapeNet(ShapeNetConfig())
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=1e-4)
    steps = cfg.epochs * math.ceil(len(x) / cfg.batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=steps)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.05)
    gen = torch.Generator().manual_seed(cfg.seed)
    xt, yt = torch.from_numpy(x)[:, None], torch.from_numpy(y)
    for ep in range(cfg.epochs):
        model.train()
        perm = torch.randperm(len(xt), generator=gen)
        tot = 0.0
        for i in range(0, len(perm), cfg.batch):
            idx = perm[i:i + cfg.batch]
            xb = xt[idx]
            # Small random shifts (one pixel) so the classifier does not rely on exact centring.
            sh = torch.randint(-1, 2, (2,), generator=gen).tolist()
            xb = torch.roll(xb, shifts=(sh[0], sh[1]), dims=(2, 3))
            loss = loss_fn(model(xb), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            tot += float(loss.detach()) * len(idx)
        print(f"epoch {ep + 1}/{cfg.epochs} loss {tot / len(xt):.4f} val_acc {_accuracy(model, xv, yv):.4f} "
              f"({time.time() - t0:.0f}s)", flush=True)
    metrics = {"val_acc_degraded": _accuracy(model, xv, yv), "seconds": time.time() - t0}
    save_shape_net(model, out, {"val_acc_degraded": f"{metrics['val_acc_degraded']:.4f}",
                                "train_config": str(cfg)})
    print(f"saved {out}: {metrics}", flush=True)
    return metrics


def main(argv: list[str] | None = None) -> int:
    """CLI: train with the given sizes, epochs and seed and write the weights to `--out`; returns 0."""
    p = argparse.ArgumentParser(description="train the scorer's shape classifier")
    p.add_argument("--out", type=Path, default=WEIGHTS)
    p.add_argument("--per-class", type=int, default=TrainConfig.per_class)
    p.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    p.add_argument("--seed", type=int, default=TrainConfig.seed)
    p.add_argument("--cache", type=Path, default=None, help="an .npz to keep the generated crops in (re-runs)")
    a = p.parse_args(argv)
    train(TrainConfig(per_class=a.per_class, epochs=a.epochs, seed=a.seed), a.out, a.cache)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
