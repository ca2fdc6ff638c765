"""The conversation eval: edits, 5-turn consistency, masks, references, transparency, best-of-N and bias.

`evaluate_conversation(studio, cases, out_dir)` runs every case (conversation_cases.py has the format)
through the engine's own paths (`limner.studio.studio.Studio`: thinking mode, best-of, edits) and scores
the images with the project's detector and OCR, independently of the engine's own bookkeeping:

- edit_success: the instruction holds afterwards (by detector / OCR, from the case's `expect`);
- edit_locality_ok / edit_locality_psnr: PSNR against the earlier image outside the eval's own edited
  zone (the boxes of objects that differ between the two images, grown by 8 px; the text block for text);
- consistency_5turn: share of the never-touched objects still there (class and colour) at turn 5;
- mask_psnr_outside: PSNR outside the mask (capped at 100 dB = lossless);
- reference_accuracy: the uploaded object's class drawn; alpha_background / alpha_object;
- best_of_gain_text / best_of_gain_overall: verifier-picked best of 4 minus the first candidate, scored
  by the eval scorer against the case's record (text exact match; GenEval-tag correctness);
- bias_entropy: mean normalised Shannon entropy of colour and shape over resampled under-specified
  prompts (the system card's method); bias_heterogeneous: share of multi-object outputs that vary.
Images go to out_dir; report.json carries every figure as a number (and `bias_counts`, the pooled colour,
shape and position distributions of the bias prompts); report.md embeds `bias.png` (those distributions as
bars with their entropy, limner.evals.charts.bias_chart) above the target table.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from limner.data.scene import Scene, SceneObject, layout_text, render
from limner.data.world import COLORS, OBJECTS, POSITIONS
from limner.engine.generator import GenerateOptions
from limner.engine.matte import RGB_FG
from limner.studio.planner import plan_prompt
from limner.studio.reader import Reading, read_turn
from limner.studio.reading import load_image, nearest_position, read_reference
from limner.studio.studio import Studio
from limner.studio.verifier import at_position, pick_best
from limner.vision.detect import Detection, detect
from limner.vision.ocr import score_text
from limner.vision.score import score_image

PSNR_CAP = 100.0  # dB reported for identical pixels (lossless)
LOCALITY_DB = 30.0
GENEVAL = ("single_object", "two_object", "counting", "colors", "position", "color_attr")


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR (dB) of two uint8 pixel arrays of the same shape; PSNR_CAP when identical or empty."""
    if a.size == 0:
        return PSNR_CAP
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return PSNR_CAP if mse == 0 else min(PSNR_CAP, 10 * math.log10(255.0**2 / mse))


def normalised_entropy(labels: list[str], k: int) -> float:
    """Shannon entropy of the label distribution divided by log(k) (k = number of possible classes)."""
    if not labels or k < 2:
        return 0.0
    n = len(labels)
    h = -sum(c / n * math.log(c / n) for c in Counter(labels).values())
    return h / math.log(k)


def _rgb(im: Image.Image) -> np.ndarray:
    return np.asarray(im.convert("RGB"))


def _count(dets: list[Detection], cls: str, color: str | None = None) -> int:
    return sum(1 for d in dets if d.cls == cls and (color is None or d.color == color))


def _largest(dets: list[Detection], cls: str) -> float:
    return max((d.area for d in dets if d.cls == cls), default=0.0)


def edit_holds(before: Image.Image, after: Image.Image, expect: dict[str, Any]) -> bool:
    """Whether the edit a case expects holds in `after` (compared with `before` where needed)."""
    op = expect["op"]
    if op == "text":
        return score_text(after, expect["text"]).exact == 1.0
    da, db = detect(after), detect(before)
    cls = expect["class"]
    if op == "recolour":
        return _count(da, cls, expect["color"]) >= 1
    if op == "add":
        return _count(da, cls, expect["color"]) > _count(db, cls, expect["color"])
    if op == "remove":
        return _count(da, cls) == 0
    if op == "move":
        return any(at_position(d, expect["position"], *after.size) for d in da if d.cls == cls)
    a0, a1 = _largest(db, cls), _largest(da, cls)
    if not a0 or not a1:
        return False
    return a1 > 1.2 * a0 if expect["size"] == "large" else a1 < 0.8 * a0


def changed_zone(before: Image.Image, after: Image.Image, text: bool, pad: int = 8) -> np.ndarray:
    """(H, W) bool: boxes of detections without an identical twin in the other image, plus text blocks."""
    w, h = before.size
    zone = np.zeros((h, w), dtype=bool)
    db, da = detect(before), detect(after)

    def same(x: Detection, y: Detection) -> bool:
        return x.cls == y.cls and x.color == y.color and math.dist(x.centroid, y.centroid) < 4 and \
            abs(x.area - y.area) < 0.1 * max(x.area, 1.0)

    boxes = [d.bbox for d in db if not any(same(d, e) for e in da)] + \
        [d.bbox for d in da if not any(same(d, e) for e in db)]
    if text:
        boxes.append(layout_text(("X",), "center", w, h).box)
        boxes += [(0, int(h * 0.1), w, int(h * 0.9))]
    for x0, y0, x1, y1 in boxes:
        zone[max(0, y0 - pad):y1 + pad, max(0, x0 - pad):x1 + pad] = True
    return zone


def alpha_shares(im: Image.Image) -> tuple[float, float]:
    """(share of background pixels with alpha 0, share of object pixels with alpha 255); the object is
    read from the RGB (transparent pixels carry black), eroded 2 px; the background lies 3+ px away."""
    from scipy import ndimage

    a = np.asarray(im.convert("RGBA"))
    fg = np.linalg.norm(a[..., :3].astype(np.float64), axis=-1) > RGB_FG
    obj = ndimage.binary_erosion(fg, iterations=2)
    bg = ~ndimage.binary_dilation(fg, iterations=3)
    ab = float(np.mean(a[..., 3][bg] == 0)) if bg.any() else 1.0
    ao = float(np.mean(a[..., 3][obj] == 255)) if obj.any() else 0.0
    return ab, ao


def _mean(xs: list[float]) -> float:
    return float(sum(xs) / len(xs)) if xs else 0.0


class _Run:
    def __init__(self, studio: Studio, out: Path, seed: int, resamples: int, best_of: int) -> None:
        self.studio, self.out, self.seed, self.resamples, self.best_of = studio, out, seed, resamples, best_of
        self.m: dict[str, list[float]] = {}
        self.rows: list[dict[str, Any]] = []
        # what the bias prompts drew, pooled over prompts: attribute -> value -> count (for bias.png)
        self.bias_counts: dict[str, Counter[str]] = {"colour": Counter(), "shape": Counter(), "position": Counter()}

    def opts(self, i: int, **kw: Any) -> GenerateOptions:
        return GenerateOptions(seed=self.seed + 7 * i, **kw)

    def add(self, key: str, v: float) -> None:
        self.m.setdefault(key, []).append(float(v))

    def save(self, im: Image.Image, name: str) -> None:
        im.save(self.out / f"{name}.png")

    def understood(self, instruction: str, expect_kind: str | None) -> Reading:
        """The reader's reading of a turn, counted in the "understood" row: what the case expects ("undo",
        "edit" for any op, an op kind for an edit with that op, None for an edit or an undo) without a
        problem."""
        r = read_turn(instruction)
        edit_ok = r.action == "edit" and r.understood
        if expect_kind == "undo":
            ok = r.action == "undo"
        elif expect_kind is None:
            ok = edit_ok or r.action == "undo"
        else:
            ok = edit_ok and (expect_kind == "edit" or any(o.kind == expect_kind for o in r.ops))
        self.add("understood", ok)
        return r

    def edit(self, i: int, c: dict[str, Any]) -> None:
        d0 = self.studio.generate(c["prompt"], self.opts(i), think=True)
        b = d0.images[0]
        reading = self.understood(c["instruction"], c["expect"]["op"])
        try:
            a = self.studio.edit(b, c["instruction"], self.opts(i), plan=d0.plans[0], reading=reading).images[0]
        except ValueError as err:  # not understood, or no such object: a failed edit, counted, not a crash
            self.add("edit_success", False)
            self.save(b, f"edit{i}-0")
            self.rows.append({"case": i, "kind": "edit", "ok": False, "op": c["expect"]["op"], "error": str(err)})
            return
        ok = edit_holds(b, a, c["expect"])
        zone = changed_zone(b, a, c["expect"]["op"] == "text")
        p = psnr(_rgb(b)[~zone], _rgb(a)[~zone])
        self.add("edit_success", ok)
        self.add("edit_psnr", p)
        self.add("edit_locality_ok", p >= LOCALITY_DB)
        self.save(b, f"edit{i}-0")
        self.save(a, f"edit{i}-1")
        self.rows.append({"case": i, "kind": "edit", "ok": ok, "psnr": round(p, 2), "op": c["expect"]["op"]})

    def conversation(self, i: int, c: dict[str, Any]) -> None:
        d = self.studio.generate(c["prompt"], self.opts(i), think=True)
        history = [(d.images[0], d.plans[0])]  # every image of the chat, for "undo"
        self.save(d.images[0], f"conv{i}-1")  # the first picture, so a lost object can be traced to its turn
        actions = c.get("actions") or [None] * len(c["turns"])
        for t, (ins, expected) in enumerate(zip(c["turns"], actions, strict=True)):
            reading = self.understood(ins, expected)
            im, plan = history[-1]
            try:
                if reading.action == "undo":
                    if len(history) > 1:
                        history.pop()
                else:
                    e = self.studio.edit(im, ins, self.opts(i + t), plan=plan, reading=reading)
                    history.append((e.images[0], e.plans[0]))
            except ValueError as err:  # not understood, or the target vanished earlier: the turn is a no-op
                self.rows.append({"case": i, "kind": "conversation", "turn": t + 2, "error": str(err)})
            self.save(history[-1][0], f"conv{i}-{t + 2}")
        im = history[-1][0]
        dets = detect(im)
        keep = [_count(dets, u["class"], u["color"]) >= 1 for u in c["untouched"]]
        keep += [_count(dets, u["class"], u["color"]) == 0 for u in c.get("absent", [])]
        self.add("consistency_5turn", _mean([float(k) for k in keep]))

    def mask(self, i: int, c: dict[str, Any]) -> None:
        d0 = self.studio.generate(c["prompt"], self.opts(i), think=True)
        base = d0.images[0]
        w, h = base.size
        x0, y0, x1, y1 = c["box"]
        m = Image.new("RGBA", base.size, (0, 0, 0, 255))
        m.paste((0, 0, 0, 0), (int(x0 * w), int(y0 * h), int(x1 * w), int(y1 * h)))
        e = self.studio.edit(base, c["instruction"], self.opts(i), mask=m)
        outside = np.asarray(m.getchannel("A")) >= 128
        p = psnr(_rgb(base)[outside], _rgb(e.images[0])[outside])
        self.add("mask_psnr_outside", p)
        self.save(e.images[0], f"mask{i}")

    def reference(self, i: int, c: dict[str, Any]) -> None:
        if "image" in c:
            ref_im = load_image(c["image"], f"case {i} reference image")
        else:
            rng = random.Random(self.seed + i)
            r = c["reference"]
            ref_im = render(Scene(256, 256, "white", [SceneObject(r["class"], r["color"], "large",
                                                                  rng.uniform(0.3, 0.7), rng.uniform(0.3, 0.7))]))
        ref = read_reference(ref_im)
        d = self.studio.generate(c["prompt"], self.opts(i), references=[ref])
        dets = detect(d.images[0])
        exp = c["expect"]
        ok = _count(dets, exp["class"]) >= 1
        self.add("reference_accuracy", ok)
        if "color" in exp:
            self.add("reference_color", _count(dets, exp["class"], exp["color"]) >= 1)
        self.save(d.images[0], f"reference{i}")
        self.rows.append({"case": i, "kind": "reference", "ok": ok, "revised_prompt": d.revised_prompts[0]})

    def transparent(self, i: int, c: dict[str, Any]) -> None:
        d = self.studio.generate(c["prompt"], self.opts(i, background="transparent"), think=True)
        ab, ao = alpha_shares(d.images[0])
        self.add("alpha_background", ab)
        self.add("alpha_object", ao)
        self.save(d.images[0], f"transparent{i}")

    def best_of_case(self, i: int, c: dict[str, Any]) -> None:
        rec = c["record"]
        size = (256, 256)
        cands = self.studio.generator.generate(rec["prompt"], replace(self.opts(i, size=size), n=self.best_of))
        scores = [score_image(im, rec).score for im in cands]
        best, _ = pick_best(cands, plan_prompt(rec["prompt"], 0).plans[0], strict=False)
        key = "text" if rec["tag"] == "text" else "overall" if rec["tag"] in GENEVAL else "other"
        self.add(f"best_of_1_{key}", scores[0])
        self.add(f"best_of_n_{key}", scores[best])

    def bias(self, i: int, c: dict[str, Any], hetero: bool) -> None:
        colors, shapes, places, plan_colors, plan_shapes, varied = [], [], [], [], [], []
        for r in range(self.resamples):
            d = self.studio.generate(c["prompt"], self.opts(1000 * i + r), think=True)
            im, plan = d.images[0], d.plans[0]
            dets = detect(im)
            if hetero:
                varied.append(float(len({(x.cls, x.color) for x in dets}) >= 2))
            elif dets:
                colors.append(dets[0].color)
                shapes.append(dets[0].cls)
                places.append(nearest_position(dets[0].centroid[0] / im.width, dets[0].centroid[1] / im.height))
            if plan is not None and plan.objects:
                plan_colors.append(plan.objects[0].color)
                plan_shapes.append(plan.objects[0].cls)
            if r < 4:
                self.save(im, f"{'hetero' if hetero else 'bias'}{i}-{r}")
        if hetero:
            self.add("bias_heterogeneous", _mean(varied))
            return
        n = self.resamples  # a missing detection counts as its own class: the image showed no world object
        colors += ["(none)"] * (n - len(colors))
        shapes += ["(none)"] * (n - len(shapes))
        self.bias_counts["colour"].update(colors)
        self.bias_counts["shape"].update(shapes)
        self.bias_counts["position"].update(places)
        ec, es = normalised_entropy(colors, len(COLORS)), normalised_entropy(shapes, len(OBJECTS))
        self.add("bias_entropy", (ec + es) / 2)
        self.add("bias_entropy_color", ec)
        self.add("bias_entropy_shape", es)
        self.add("bias_entropy_position", normalised_entropy(places, len(POSITIONS)))
        self.add("plan_entropy", (normalised_entropy(plan_colors, len(COLORS))
                                  + normalised_entropy(plan_shapes, len(OBJECTS))) / 2)


def evaluate_conversation(studio: Studio, cases: list[dict[str, Any]], out_dir: str | Path, *, seed: int = 0,
                          resamples: int = 20, best_of: int = 4, checkpoint_sha: str = "",
                          progress: Callable[[str, int, int], None] | None = None) -> dict[str, Any]:
    """Run every case and write out_dir/report.json and report.md (with bias.png); returns the report."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    run = _Run(studio, out, seed, resamples, best_of)
    t0 = time.time()
    for i, c in enumerate(cases):
        k = c["kind"]
        if k == "best_of":
            run.best_of_case(i, c)
        elif k in ("bias", "heterogeneous"):
            run.bias(i, c, k == "heterogeneous")
        else:
            getattr(run, k)(i, c)
        if progress is not None:
            progress(k, i + 1, len(cases))
    m = {k: _mean(v) for k, v in run.m.items()}
    rep: dict[str, Any] = {
        "understood": m.get("understood", 0.0), "edit_success": m.get("edit_success", 0.0),
        "edit_locality_ok": m.get("edit_locality_ok", 0.0),
        "edit_locality_psnr": float(np.median(run.m["edit_psnr"])) if run.m.get("edit_psnr") else 0.0,
        "consistency_5turn": m.get("consistency_5turn", 0.0), "mask_psnr_outside": m.get("mask_psnr_outside", 0.0),
        "reference_accuracy": m.get("reference_accuracy", 0.0), "reference_color": m.get("reference_color", 0.0),
        "alpha_background": m.get("alpha_background", 0.0), "alpha_object": m.get("alpha_object", 0.0),
        "best_of_gain_text": m.get("best_of_n_text", 0.0) - m.get("best_of_1_text", 0.0),
        "best_of_gain_overall": m.get("best_of_n_overall", 0.0) - m.get("best_of_1_overall", 0.0),
        "best_of_1_text": m.get("best_of_1_text", 0.0), "best_of_n_text": m.get("best_of_n_text", 0.0),
        "best_of_1_overall": m.get("best_of_1_overall", 0.0), "best_of_n_overall": m.get("best_of_n_overall", 0.0),
        "bias_entropy": m.get("bias_entropy", 0.0), "bias_entropy_color": m.get("bias_entropy_color", 0.0),
        "bias_entropy_shape": m.get("bias_entropy_shape", 0.0),
        "bias_entropy_position": m.get("bias_entropy_position", 0.0), "plan_entropy": m.get("plan_entropy", 0.0),
        "bias_heterogeneous": m.get("bias_heterogeneous", 0.0),
        "n": {k: len(v) for k, v in run.m.items()}, "resamples": resamples, "best_of": best_of,
        "checkpoint": checkpoint_sha, "seconds": round(time.time() - t0, 1), "cases": run.rows,
        "bias_counts": {a: dict(c.most_common()) for a, c in run.bias_counts.items() if c},
        "n_bias_prompts": sum(1 for c in cases if c["kind"] == "bias"),
    }
    (out / "report.json").write_text(json.dumps(rep, indent=1), encoding="utf-8")
    write_markdown(rep, out)
    return rep


# every value an attribute can take, so values never drawn show as empty bars; "(none)": nothing detected
BIAS_LABELS: dict[str, list[str]] = {"colour": [*COLORS, "(none)"], "shape": [*OBJECTS, "(none)"],
                                     "position": list(POSITIONS)}
BIAS_ENTROPY_KEYS = {"colour": "bias_entropy_color", "shape": "bias_entropy_shape",
                     "position": "bias_entropy_position"}


def write_markdown(rep: dict[str, Any], out_dir: str | Path) -> Path:
    """`out_dir/report.md`: the target table, then `bias.png` (the bias distributions with their entropy).

    The chart is left out (and the report says so) when the run had no bias case or the chart fails to draw:
    a chart is a view of the report and must never lose it.
    """
    from limner.evals.charts import bias_chart, draw_or_warn, md_image  # matplotlib loads only here

    out = Path(out_dir)
    md = ["# limner conversation eval", "",
          f"- checkpoint: `{rep.get('checkpoint') or '-'}`",
          f"- resamples per bias prompt: {rep.get('resamples')}, best-of: {rep.get('best_of')}, "
          f"seconds: {rep.get('seconds')}", "",
          "```", format_table(rep), "```", "", "## Bias", ""]
    counts = rep.get("bias_counts") or {}
    n_prompts = rep.get("n_bias_prompts", 0)
    # The entropy in each panel is the report's figure: the mean over prompts of each prompt's entropy,
    # normalised by the number of world values (not the entropy of the pooled bars).
    entropy = {a: float(rep[k]) for a, k in BIAS_ENTROPY_KEYS.items() if a in counts and k in rep}
    drawn = None if not counts else draw_or_warn(
        bias_chart, counts, entropy, out / "bias.png", labels={a: BIAS_LABELS[a] for a in counts if a in BIAS_LABELS},
        title=f"Bias: {n_prompts} under-specified prompt(s) x {rep.get('resamples')} resamples "
              "(entropy: mean per prompt)")
    if drawn is not None:
        md += [md_image(out / "bias.png", out, "bias distributions: colour, shape and position with entropy"), "",
               f"Normalised entropy (1 = every value equally often): colour {rep.get('bias_entropy_color', 0):.3f}, "
               f"shape {rep.get('bias_entropy_shape', 0):.3f}, position {rep.get('bias_entropy_position', 0):.3f}"
               + (f"; heterogeneous outputs {rep.get('bias_heterogeneous', 0):.3f}"
                  if (rep.get("n") or {}).get("bias_heterogeneous") else "") + "."]
    else:
        md.append("- no bias chart: " + ("it could not be drawn (the reason went to stderr)" if counts
                                         else "this run had no bias case"))
    path = out / "report.md"
    tmp = path.with_name(path.name + ".tmp")  # a reader never sees half a report
    tmp.write_text("\n".join(md) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


# (figure, report key, must reach, aim, format) of the target table: the conversation issue's ([2 of 8]) where it
# sets one, the earlier conversation issue's otherwise
TARGETS: tuple[tuple[str, str, float, float, str], ...] = (
    ("Understood (edit and chat turns read as asked)", "understood", 0.95, 1.0, ".3f"),
    ("Edit success", "edit_success", 0.90, 0.97, ".3f"),
    ("Edit locality: share of edits >= 30 dB", "edit_locality_ok", 0.90, 1.0, ".3f"),
    ("Edit locality: median PSNR (dB)", "edit_locality_psnr", 30.0, 35.0, ".1f"),
    ("Consistency over 5 turns", "consistency_5turn", 0.85, 0.95, ".3f"),
    ("Mask edits: PSNR outside (dB)", "mask_psnr_outside", 40.0, 100.0, ".1f"),
    ("Reference images: shape correct", "reference_accuracy", 0.90, 0.95, ".3f"),
    ("Reference images: colour correct", "reference_color", 0.90, 0.95, ".3f"),
    ("Transparent: background alpha 0", "alpha_background", 0.99, 1.0, ".3f"),
    ("Transparent: object opaque", "alpha_object", 0.99, 1.0, ".3f"),
    ("Best-of-4 gain: text exact", "best_of_gain_text", 0.05, 0.10, "+.3f"),
    ("Best-of-4 gain: overall", "best_of_gain_overall", 0.05, 0.10, "+.3f"),
    ("Bias: normalised entropy (colour, shape)", "bias_entropy", 0.80, 0.95, ".3f"),
    ("Bias: heterogeneous outputs", "bias_heterogeneous", 0.95, 1.0, ".3f"),
)


def format_table(rep: dict[str, Any]) -> str:
    """The issue's target table with the measured column and whether the must-reach holds."""
    lines = [f"{'figure':<44} {'measured':>9} {'must':>7} {'aim':>7}  ok", "-" * 74]
    for name, key, must, aim, fmt in TARGETS:
        v = float(rep.get(key, 0.0))
        n = rep.get("n", {}).get(key.replace("_gain", "_n").replace("edit_locality_psnr", "edit_psnr"), None)
        lines.append(f"{name:<44} {format(v, fmt):>9} {must:>7g} {aim:>7g}  {'yes' if v >= must else 'NO'}"
                     + (f"  (n={n})" if n is not None else ""))
    return "\n".join(lines)
