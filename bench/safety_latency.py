"""Safety stack latency on this CPU: prompt layer p50/p95 and image layers per 512x512 image.

    .venv/bin/python bench/safety_latency.py [--n 200]

Targets (issue 3): prompt layer p50 <= 30 ms; image layers per 512x512 image p50 <= 200 ms.
Prints figures measured in this run.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * (len(s) - 1)))]


def main() -> None:
    import numpy as np
    import skimage.data
    from PIL import Image

    from limner.data.sampler import sample_mix
    from limner.data.scene import render
    from limner.evals.safety_data import HELDOUT_FILE, read_jsonl
    from limner.safety.stack import SafetySettings, SafetyStack

    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--images", type=int, default=20)
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    t0 = time.perf_counter()
    stack = SafetyStack.from_policy(settings=SafetySettings(audit_path=tmp / "a.sqlite", optout_path=tmp / "o.sqlite"))
    stack.warm()
    print(f"stack build + model load: {time.perf_counter() - t0:.2f} s")
    prompts = [r["prompt"] for r in read_jsonl(HELDOUT_FILE)]
    random.Random(0).shuffle(prompts)
    prompts = (prompts * (a.n // max(1, len(prompts)) + 1))[: a.n]
    for p in prompts[:5]:
        stack.check_prompt(p)
    lat_full, lat_early = [], []
    for p in prompts:
        t = time.perf_counter()
        stack.check_prompt(p, full=True)
        lat_full.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        stack.check_prompt(p)
        lat_early.append((time.perf_counter() - t) * 1000)
    print(
        f"prompt layer (all layers, audited), n={len(prompts)}: p50 {statistics.median(lat_full):.1f} ms, "
        f"p95 {pct(lat_full, 0.95):.1f} ms"
    )
    print(
        f"prompt layer (stop at first refusal, audited):  p50 {statistics.median(lat_early):.1f} ms, "
        f"p95 {pct(lat_early, 0.95):.1f} ms"
    )
    rng = random.Random(1)
    ims = [render(sample_mix(rng).scene).convert("RGB").resize((512, 512)) for _ in range(a.images // 2)]
    photo = Image.fromarray(np.asarray(skimage.data.astronaut())).convert("RGB").resize((512, 512))
    ims += [photo] * (a.images - len(ims))
    stack.check_images([ims[0]], stage="output")
    per: dict[str, list[float]] = {"world": [], "photo": []}
    for i, im in enumerate(ims):
        t = time.perf_counter()
        stack.check_images([im], stage="output", prompt="a red circle", full=True)
        per["world" if i < a.images // 2 else "photo"].append((time.perf_counter() - t) * 1000)
    allv = per["world"] + per["photo"]
    print(
        f"image layers per 512x512 image, n={len(allv)}: p50 {statistics.median(allv):.1f} ms, "
        f"p95 {pct(allv, 0.95):.1f} ms "
        f"(flat world images p50 {statistics.median(per['world']):.1f} ms; photo with faces p50 "
        f"{statistics.median(per['photo']):.1f} ms)"
    )
    stack.close()


if __name__ == "__main__":
    main()
