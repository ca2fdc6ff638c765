"""Benchmark of the generation-eval scorer (no model needed).

1. The full oracle eval on every held-out prompt (what `limner eval generation --oracle` does): scores,
   validation and wall time.
2. Robustness: the same oracle scenes degraded the way a learned decoder degrades them (rendered at
   128x128 and upsampled, blurred, JPEG-compressed) and scored as if a model had drawn them. A scorer
   that is robust to decoder blur keeps these scores close to the exact-render scores.

Run: .venv/bin/python bench/eval_scorer.py [--samples K] [--limit N] [--out DIR]
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time
from pathlib import Path

from PIL import Image, ImageFilter

from limner.data.scene import render
from limner.evals.generation import evaluate_generation
from limner.evals.heldout import heldout_records
from limner.vision.records import record_to_scene


def decoderish(im: Image.Image, seed: int) -> Image.Image:
    """Half resolution and back, a light blur and JPEG q=70; transparency is kept."""
    w, h = im.size
    small = im.resize((w // 2, h // 2), Image.Resampling.BILINEAR)
    out = small.resize((w, h), Image.Resampling.BICUBIC).filter(ImageFilter.GaussianBlur(0.6 + 0.1 * (seed % 3)))
    if out.mode == "RGBA" and out.getextrema()[3][0] < 255:
        return out
    buf = io.BytesIO()
    out.convert("RGB").save(buf, "JPEG", quality=70)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--samples", type=int, default=1)
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--out", type=Path, default=None)
    a = p.parse_args()
    recs = heldout_records()[: a.limit] if a.limit else heldout_records()
    out = a.out or Path(tempfile.mkdtemp(prefix="limner-eval-bench-"))

    t0 = time.time()
    rep = evaluate_generation(None, recs, a.samples, out / "oracle", oracle=True)
    dt = time.time() - t0
    v = rep["validation"]
    print(f"oracle eval: {len(recs)} prompts x {a.samples} samples in {dt:.1f}s "
          f"({dt / (len(recs) * a.samples):.3f}s per image incl. validation)")
    print(f"  overall {rep['overall']:.4f}  oracle {v['oracle']:.4f}  control {v['control']:.4f}  valid {v['valid']}")
    for t, r in rep["tags"].items():
        extra = "".join(f" {k}={r[k]:.3f}" for k in ("ned", "median_de2000") if isinstance(r.get(k), float))
        print(f"  {t:<14} {r['score']:.4f} n={r['n']}{extra}")

    by_prompt = {r["prompt"]: r for r in recs}

    def degraded(prompt: str, size: tuple[int, int], background: str, n: int, seed: int) -> list[Image.Image]:
        rec = by_prompt[prompt]
        return [decoderish(render(record_to_scene(rec, size, seed=100 + k)), k) for k in range(n)]

    t0 = time.time()
    rep = evaluate_generation(degraded, recs, a.samples, out / "degraded", checkpoint_sha="decoderish-oracle")
    dt = time.time() - t0
    v = rep["validation"]
    print(f"degraded oracle: {dt:.1f}s; overall {rep['overall']:.4f}  control {v['control']:.4f}  "
          f"control_oracle {v['control_oracle']:.4f}  valid {v['valid']}")
    for t, r in rep["tags"].items():
        extra = "".join(f" {k}={r[k]:.3f}" for k in ("ned", "median_de2000") if isinstance(r.get(k), float))
        print(f"  {t:<14} {r['score']:.4f} n={r['n']}{extra}")
    print(f"reports under {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
