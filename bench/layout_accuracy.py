"""Does the prior write the layout the prompt asks for? Layout tokens only: no code grid, no pixels.

For fresh data-engine prompts of each GenEval tag plus dense_grid (tuning seed, never held-out prompts),
the prior samples a layout (model/layout.py) with the engine's sampling settings, and the layout is
compared with the scene the prompt was made from:

- classes: the multiset of object classes is the scene's (right shapes, right counts);
- relation: for `position` prompts, the two objects stand in the named relation (centres, "left of" etc.);
- count: the number of objects is the scene's;
- colours (a colour layout prior only): every object whose colour the prompt names (named or hex) has a
  layout object of its class whose planned colour is within CIEDE2000 15 of it; prompts that name no
  colour count as held.

The layout is where counting, position and shape are decided, so this is the prior's ceiling on those
tags, measured in seconds rather than minutes of decoding.

Run: .venv/bin/python bench/layout_accuracy.py [CHECKPOINT] [--per-tag 16] [--layout-temperature T]
                                                            [--colour-temperature T] [--cfg S] [--heldout]
"""

from __future__ import annotations

import argparse
import random
import time
from collections import Counter
from pathlib import Path

import torch

from limner.data.sampler import Example, sample
from limner.engine.decode import SamplingParams, prefill, sample_layouts
from limner.engine.generator import Generator, default_checkpoint
from limner.evals.heldout import heldout_prompts, heldout_records
from limner.model.layout import Layout, max_layout_tokens, scene_layout
from limner.model.sequence import prompt_prefix
from limner.vision.color import de2000_rgb
from limner.vision.records import RecordError, record_to_scene

TAGS = ("single_object", "two_object", "counting", "colors", "position", "color_attr", "hex_color", "dense_grid")
SEED = 7_100_003  # a tuning seed, not the held-out one
SIZE = (256, 256)


def examples(tag: str, n: int, held: frozenset[str]) -> list[Example]:
    """`n` fresh 256x256 examples of `tag`, none a held-out prompt."""
    rng = random.Random(SEED + TAGS.index(tag))
    out: list[Example] = []
    while len(out) < n:
        ex = sample(tag, rng)
        if (ex.scene.width, ex.scene.height) == SIZE and ex.prompt not in held:
            out.append(ex)
    return out


def heldout_examples(tag: str, n: int) -> list[Example]:
    """The first `n` held-out records of `tag` that have a 256x256 scene, as examples (record_to_scene): what
    the generation eval scores, phrased as the training captions never were."""
    out: list[Example] = []
    for rec in heldout_records():
        if rec["tag"] == tag and len(out) < n:
            try:
                out.append(Example(record_to_scene(rec, SIZE), rec["prompt"], rec))
            except RecordError:
                continue
    return out


def relation_holds(rec: dict, lay: Layout) -> bool:
    """The `position` record's relation between the layout's objects of the two classes."""
    inc = rec["include"]
    for e in inc:
        if "position" not in e:
            continue
        rel, j = e["position"]
        a = [it.center() for it in lay if it.name == e["class"]]
        b = [it.center() for it in lay if it.name == inc[j]["class"]]
        if not a or not b:
            return False
        (ax, ay), (bx, by) = a[0], b[0]
        ok = {"left of": ax < bx, "right of": ax > bx, "above": ay < by, "below": ay > by}[rel]
        if not ok:
            return False
    return True


COLOUR_DE = 15.0


def colours_hold(e: Example, lay: Layout) -> bool:
    """Every object of the record that names a colour (`color` or `hex`, `count` of them) has its own layout
    object of the same class planned within COLOUR_DE of that colour."""
    free = [it for it in lay if it.rgb is not None]
    for inc in e.record.get("include", []):
        want = inc.get("hex") or inc.get("color")
        if want is None:
            continue
        for _ in range(inc.get("count", 1)):
            match = next((it for it in free if it.name == inc["class"] and de2000_rgb(it.rgb, want) <= COLOUR_DE),
                         None)
            if match is None:
                return False
            free.remove(match)
    return True


@torch.no_grad()
def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("checkpoint", nargs="?", type=Path, default=None, help="default: the shipped model")
    p.add_argument("--per-tag", type=int, default=16)
    p.add_argument("--layout-temperature", type=float, default=None, help="default: the engine's")
    p.add_argument("--colour-temperature", type=float, default=None, help="default: the engine's")
    p.add_argument("--heldout", action="store_true", help="the held-out eval prompts instead of fresh tuning ones")
    p.add_argument("--cfg", type=float, default=None, help="default: the engine's")
    a = p.parse_args()
    torch.manual_seed(0)
    gen = Generator.from_checkpoint(a.checkpoint or default_checkpoint())
    m = gen.model
    if m.layout_offset is None:
        raise SystemExit(f"{a.checkpoint or default_checkpoint()}: this prior writes no layout tokens")
    sp = SamplingParams()
    if a.layout_temperature is not None:
        sp.layout_temperature = a.layout_temperature
    if a.colour_temperature is not None:
        sp.colour_temperature = a.colour_temperature
    if a.cfg is not None:
        sp.cfg_scale = a.cfg
    held = heldout_prompts()
    t0 = time.time()
    print(f"checkpoint {gen.checkpoint_sha[:12]}, cfg {sp.cfg_scale}, layout temperature "
          f"{sp.layout_temperature if sp.layout_temperature is not None else sp.temperature}, colour temperature "
          f"{sp.colour_temperature}")
    colour = True  # every prior writes its objects' colours
    print(f"{'tag':<14} {'classes':>8} {'count':>6} {'relation':>8} {'colours':>8}")
    totals = Counter()
    for tag in TAGS:
        exs = heldout_examples(tag, a.per_tag) if a.heldout else examples(tag, a.per_tag, held)
        seqs = [prompt_prefix(m.text, e.prompt, SIZE, m.config.prior.max_text_tokens) for e in exs]
        if sp.cfg_scale != 1.0:
            seqs += [prompt_prefix(m.text, "", SIZE, m.config.prior.max_text_tokens, drop_text=True) for _ in exs]
        logits, pos, cache = prefill(m, seqs, max_layout_tokens(colour))
        lays, _, _ = sample_layouts(m, logits, pos, cache, sp, len(exs), torch.Generator().manual_seed(1),
                                    m.grid(SIZE))
        cls = cnt = rel = col = 0
        for e, lay in zip(exs, lays, strict=True):
            want = scene_layout(e.scene)
            cls += Counter(it.name for it in lay) == Counter(it.name for it in want)
            cnt += len(lay) == len(want)
            rel += tag == "position" and relation_holds(e.record, lay)
            col += colour and colours_hold(e, lay)
        n = len(exs)
        totals.update(classes=cls, count=cnt, colours=col, n=n)
        r = f"{rel / n:8.3f}" if tag == "position" else f"{'-':>8}"
        c = f"{col / n:8.3f}" if colour else f"{'-':>8}"
        print(f"{tag:<14} {cls / n:8.3f} {cnt / n:6.3f} {r} {c}")
    c = f"{totals['colours'] / totals['n']:8.3f}" if colour else f"{'-':>8}"
    print(f"{'all':<14} {totals['classes'] / totals['n']:8.3f} {totals['count'] / totals['n']:6.3f} {'':>8} {c}   "
          f"({time.time() - t0:.0f}s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
