"""Sweep the engine's sampling settings (CFG scale, temperature, top-k) on tuning prompts.

The tuning prompts come from the data engine with their own seed, never from the held-out eval set,
so choosing defaults here does not tune on the eval. Every setting is scored by the same scorer as
`limner eval generation`, in one run, so the printed scores compare like with like.

Run: .venv/bin/python bench/sampling_sweep.py [--checkpoint CKPT] [--per-tag 3] [--samples 2] [--seed S]
     [--coloured-only] [--grid "cfg=2,3,5 temp=1.0,0.8 topk=0 novel=-1,0.5 layout=-1,0.7 paint=0,1 tries=1,4"]
"""

from __future__ import annotations

import argparse
import itertools
import random
import tempfile
import time
from pathlib import Path
from typing import Any

from PIL import Image

from limner.data.sampler import on_colour, sample
from limner.data.world import TAGS
from limner.engine.decode import SamplingParams
from limner.engine.generator import GenerateOptions, Generator
from limner.evals.generation import evaluate_generation
from limner.evals.heldout import heldout_prompts

TUNING_SEED = 7_000_001  # not the held-out seed


def tuning_records(per_tag: int, seed: int = TUNING_SEED) -> list[dict[str, Any]]:
    """`per_tag` fresh 256x256 records per world tag, none of them a held-out prompt."""
    held = heldout_prompts()
    out: list[dict[str, Any]] = []
    for t, tag in enumerate(TAGS):
        rng = random.Random(seed + t)
        while sum(r["tag"] == tag for r in out) < per_tag:
            ex = sample(tag, rng)
            if (ex.scene.width, ex.scene.height) == (256, 256) and ex.prompt not in held:
                out.append(dict(ex.record))
    return out


def parse_grid(spec: str) -> list[SamplingParams]:
    """'cfg=2,3 temp=1.0,0.8 topk=0,50 novel=-1,0.5 layout=-1,0.7' -> the product of the listed values (novel:
    the novel_temperature, -1 = off, one temperature for every code; layout: the layout_temperature, -1 = the
    temperature; paint: 1 = paint mode on, 0 = off (the default, native); tries: layouts drawn per image). An axis
    not named keeps the engine's default (SamplingParams())."""
    d = SamplingParams()  # an axis not named keeps the engine's default
    axes: dict[str, list[float]] = {"cfg": [d.cfg_scale], "temp": [d.temperature], "topk": [float(d.top_k)],
                                     "novel": [-1.0 if d.novel_temperature is None else d.novel_temperature],
                                     "layout": [-1.0 if d.layout_temperature is None else d.layout_temperature],
                                     "paint": [float(d.paint)], "tries": [float(d.layout_tries)]}
    for part in spec.split():
        key, _, vals = part.partition("=")
        if key not in axes or not vals:
            raise SystemExit(f"bad --grid part {part!r}: expected cfg, temp, topk, novel, layout, paint or tries=..")
        axes[key] = [float(v) for v in vals.split(",")]
    return [
        SamplingParams(temperature=t, top_k=int(k), cfg_scale=c, novel_temperature=None if nv < 0 else nv,
                       layout_temperature=None if lt < 0 else lt, paint=bool(pt), layout_tries=int(tr))
        for c, t, k, nv, lt, pt, tr in itertools.product(axes["cfg"], axes["temp"], axes["topk"], axes["novel"],
                                                         axes["layout"], axes["paint"], axes["tries"])
    ]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", default=None)
    p.add_argument("--per-tag", type=int, default=3)
    p.add_argument("--samples", type=int, default=2)
    p.add_argument("--grid", default="cfg=2,3,5 temp=1.0,0.8")
    p.add_argument("--seed", type=int, default=TUNING_SEED,
                   help=f"tuning-prompt seed (default {TUNING_SEED}); another seed draws a second, independent dev set")
    p.add_argument("--coloured-only", action="store_true",
                   help="keep only the records on a coloured background (~16%% of them: raise --per-tag)")
    a = p.parse_args()
    gen = Generator.from_checkpoint(a.checkpoint)
    recs = tuning_records(a.per_tag, a.seed)
    if a.coloured_only:
        recs = [r for r in recs if on_colour(r.get("background"))]
        if not recs:
            p.error(f"--coloured-only: none of the {a.per_tag} records per tag is on a coloured background")
    print(f"{len(recs)} tuning prompts x {a.samples} samples, checkpoint {gen.checkpoint_sha[:12]}")
    head = {"cfg": 5, "temp": 5, "topk": 5, "novel": 5, "lay": 5, "paint": 5, "tries": 5, "overall": 8, "text": 6,
            "grid": 6, "hexdE": 6, "s": 5}
    print(" ".join(f"{h:>{w}}" for h, w in head.items()))
    for sp in parse_grid(a.grid):

        def fn(prompt: str, size: tuple[int, int], background: str, n: int, seed: int,
               sp: SamplingParams = sp) -> list[Image.Image]:
            bg = "transparent" if background == "transparent" else "auto"
            return gen.generate(prompt, GenerateOptions(n=n, seed=seed, size=size, background=bg, sampling=sp))

        t0 = time.time()
        with tempfile.TemporaryDirectory() as d:
            rep = evaluate_generation(fn, recs, a.samples, Path(d))
        tags = rep["tags"]
        print(
            f"{sp.cfg_scale:5.1f} {sp.temperature:5.2f} {sp.top_k:5d} "
            f"{'-' if sp.novel_temperature is None else f'{sp.novel_temperature:.2f}':>5} "
            f"{'-' if sp.layout_temperature is None else f'{sp.layout_temperature:.2f}':>5} "
            f"{int(sp.paint):5d} {sp.layout_tries:5d} "
            f"{rep['overall'] or 0:8.3f} "
            f"{tags.get('text', {}).get('exact', 0):6.3f} {tags.get('dense_grid', {}).get('score', 0):6.3f} "
            f"{tags.get('hex_color', {}).get('median_de2000', 0):6.1f} {time.time() - t0:5.0f}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
