"""The scorer on real learned-decoder pixels: oracle renders passed through a tokenizer-stage checkpoint.

Each held-out record's exact render is encoded by the image tokenizer and decoded by the diffusion
decoder (no prior involved), then scored as if a model had drawn it. This is the ceiling the prior can
reach with that tokenizer/decoder, and a check that the scorer copes with decoder blur and noise. A decoder
that reads layouts gets each render's true layout (--no-layout: the empty one, as for uploaded images).
--paint decodes as paint mode does (model/paint.py): the code grid made its background code, the layout with the
true colours; text-free records only, the same rule the engine follows. It is the ceiling of paint mode.

Run: .venv/bin/python bench/eval_tokenizer_roundtrip.py CHECKPOINT [--limit N] [--samples K] [--out DIR] [--preview]
                                                           [--noise S] [--no-layout] [--paint] [--tags T,..]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from limner.data.scene import render, to_array
from limner.engine.generator import to_pil
from limner.engine.glyphs import glyph_tensor
from limner.evals.generation import evaluate_generation
from limner.evals.heldout import heldout_records
from limner.model.checkpoint import load_into, read_checkpoint
from limner.model.decoder import DiffusionDecoder
from limner.model.image_tokenizer import ImageTokenizer
from limner.model.layout import layout_map, scene_layout
from limner.model.paint import plain_grid
from limner.vision.records import RecordError, record_to_scene, select_tags


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("checkpoint", type=Path)
    p.add_argument("--limit", type=int, default=36)
    p.add_argument("--samples", type=int, default=1)
    p.add_argument("--steps", type=int, default=4)
    p.add_argument("--noise", type=float, default=None,
                   help="decoder start-noise scale (default: the engine's, SamplingParams.decoder_noise)")
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--preview", action="store_true", help="score the tokenizer's preview head (upsampled), no decoder")
    p.add_argument("--no-layout", action="store_true", help="decode without the renders' layouts")
    p.add_argument("--paint", action="store_true", help="paint mode: background code grid + layout with true colours")
    p.add_argument("--tags", default=None, help="comma-separated tags to keep (default: all nine)")
    a = p.parse_args()
    if a.noise is None:
        from limner.engine.decode import SamplingParams

        a.noise = SamplingParams().decoder_noise  # the ceiling of what the engine itself would draw
    cfg, tensors, _ = read_checkpoint(a.checkpoint)
    tok = ImageTokenizer(cfg.tokenizer)
    dec = DiffusionDecoder(cfg.decoder, tok.fsq.dim, cfg.tokenizer.output_stride)
    load_into(tok, "tokenizer", tensors, a.checkpoint)
    load_into(dec, "decoder", tensors, a.checkpoint)
    tok.eval().requires_grad_(False)
    dec.eval().requires_grad_(False)

    recs = heldout_records()
    if a.tags:
        try:
            recs = select_tags(recs, a.tags)
        except RecordError as e:
            raise SystemExit(str(e)) from None
    by_tag: dict[str, list[dict]] = {}
    for r in recs:
        by_tag.setdefault(r["tag"], []).append(r)
    picked = [r for k in range(a.limit) for rs in by_tag.values() if k < len(rs) for r in [rs[k]]][: a.limit]
    by_prompt = {r["prompt"]: r for r in picked}

    @torch.no_grad()
    def roundtrip(prompt: str, size: tuple[int, int], background: str, n: int, seed: int) -> list[Image.Image]:
        rec = by_prompt[prompt]
        scenes = [record_to_scene(rec, size, seed=100 + k) for k in range(n)]
        x = torch.from_numpy(np.stack([to_array(render(s)) for s in scenes]))
        lmap = layout_map([None if a.no_layout else scene_layout(s) for s in scenes], size)
        codes, idx = tok.encode(x)
        glyph = glyph_tensor(prompt, size).unsqueeze(0).expand(n, -1, -1, -1)
        if a.paint and not bool(glyph.any()):
            lays = [scene_layout(s) for s in scenes]
            idx = torch.stack([plain_grid(idx[i], lay) if lay else idx[i] for i, lay in enumerate(lays)])
            codes = tok.fsq.indices_to_codes(idx)
            lmap = layout_map(lays, size)
        preview = tok.decode_preview(codes)
        if a.preview:
            up = torch.nn.functional.interpolate(preview, size=(size[1], size[0]), mode="bilinear")
            return to_pil(up, background == "transparent")
        y = dec.sample(codes, glyph, steps=a.steps, generator=torch.Generator().manual_seed(seed), preview=preview,
                       noise_scale=a.noise, layout=lmap)
        return to_pil(y, background == "transparent")

    out = a.out or Path(tempfile.mkdtemp(prefix="limner-tok-roundtrip-"))
    t0 = time.time()
    rep = evaluate_generation(roundtrip, picked, a.samples, out, checkpoint_sha=f"tokenizer-roundtrip:{a.checkpoint}")
    v = rep["validation"]
    overall = "-" if rep["overall"] is None else f"{rep['overall']:.3f}"  # None without GenEval tags
    print(f"tokenizer round trip of {len(picked)} held-out renders x {a.samples} ({time.time() - t0:.0f}s): "
          f"overall {overall}; control {v['control']:.3f}, oracle {v['oracle']:.3f}, valid {v['valid']}")
    for t, r in rep["tags"].items():
        extra = "".join(f" {k}={r[k]:.3f}" for k in ("ned", "median_de2000") if isinstance(r.get(k), float))
        print(f"  {t:<14} {r['score']:.3f} n={r['n']}{extra}")
    print(f"report: {out / 'report.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
