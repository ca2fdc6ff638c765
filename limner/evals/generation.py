"""The generation eval: generate (or oracle-render) images for eval records, score them, validate the scorer.

`evaluate_generation` writes into `out_dir`:
- `images/NNNN_<tag>_<k>.png`: the scored images (record NNNN, sample k);
- `results.jsonl`: one line per image (score, reasons, OCR read, detections);
- `report.json`: the fields of shared/world.md "The report" (plus details);
- `report.md`: a Markdown summary that embeds `tags.png` (score per tag) and `samples.png` (a grid of
  images with their prompts and pass/fail), drawn by limner.evals.charts.

Validation runs every time: the oracle renders (record_to_scene + render) must score >= ORACLE_MIN and a
control, each record's image scored against a different record of the same tag (a derangement; another
tag when a tag has one record; a held-out record of the same tag when there is only one record), must
score <= CONTROL_MAX. The control runs on the scored images and,
for model runs, on the oracle renders too; any failed check makes the report `valid: false`.
"""

from __future__ import annotations

import json
import math
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image

from limner.data.scene import render
from limner.data.world import GENEVAL_TAGS, TAGS
from limner.vision.records import record_to_scene, validate_record
from limner.vision.score import ImageScore, score_image

ORACLE_MIN = 0.98
CONTROL_MAX = 0.30
CONTROL_SEED = 1234

GenerateFn = Callable[[str, tuple[int, int], str, int, int], list[Image.Image]]
Progress = Callable[[str, int, int], None]


class EvalError(ValueError):
    """Bad eval input or output location; the message names it."""


def _check_out(out_dir: Path) -> None:
    try:
        (out_dir / "images").mkdir(parents=True, exist_ok=True)
        probe = out_dir / ".write_test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as e:
        raise EvalError(f"output directory {out_dir} is not writable ({e.strerror or e})") from None


def _derangement(recs: list[dict[str, Any]], seed: int) -> list[int]:
    """For each record, the index of a different record, of the same tag when the tag has two or more."""
    rng = random.Random(seed)
    by_tag: dict[str, list[int]] = {}
    for i, r in enumerate(recs):
        by_tag.setdefault(r["tag"], []).append(i)
    out = [-1] * len(recs)
    for idx in by_tag.values():
        if len(idx) >= 2:
            perm = idx[:]
            rng.shuffle(perm)
            # A cyclic shift of a random order has no fixed points.
            for a, b in zip(perm, perm[1:] + perm[:1], strict=True):
                out[a] = b
    for i in range(len(recs)):
        if out[i] < 0:
            others = [j for j in range(len(recs)) if j != i]
            out[i] = rng.choice(others) if others else -1  # -1: no partner; the caller uses a foil
    return out


def _foil(rec: dict[str, Any], size: tuple[int, int]) -> Image.Image:
    """Oracle render of a held-out record of the same tag with a different prompt (control for a lone record)."""
    from limner.evals.heldout import heldout_records

    pool = [r for r in heldout_records() if r["prompt"] != rec["prompt"]]
    same = [r for r in pool if r["tag"] == rec["tag"]] or pool
    return render(record_to_scene(same[0], size, seed=0))


def _mean(xs: list[float]) -> float:
    return float(sum(xs) / len(xs)) if xs else 0.0


def _tag_report(tag: str, scores: list[ImageScore]) -> dict[str, Any]:
    rep: dict[str, Any] = {"score": _mean([s.score for s in scores]), "n": len(scores)}
    if tag == "text":
        rep["exact"] = rep["score"]
        rep["ned"] = _mean([float(s.extra.get("ned", 0.0)) for s in scores])
        rep["exact_strict"] = _mean([float(s.extra.get("exact_strict", 0.0)) for s in scores])
        for key, name in (("colour_ok", "colour"), ("position_ok", "position")):
            asked = [float(s.extra[key]) for s in scores if key in s.extra]
            rep[name] = _mean(asked) if asked else None  # share right among the images whose record asks
            rep[f"n_{name}"] = len(asked)
    if tag == "hex_color":
        des = [float(s.extra["de2000"]) for s in scores if "de2000" in s.extra]
        rep["median_de2000"] = float(statistics.median(des)) if des else None
    if tag == "dense_grid":
        rep["all_cells_correct"] = _mean([float(s.correct) for s in scores])
    return rep


def _as_rgba(im: Any, where: str) -> Image.Image:
    if not isinstance(im, Image.Image):
        raise EvalError(f"{where}: generate_fn returned {type(im).__name__}, expected a PIL image")
    return im if im.mode in ("RGB", "RGBA") else im.convert("RGBA")


def evaluate_generation(generate_fn: GenerateFn | None, records: list[dict[str, Any]], samples: int,
                        out_dir: str | Path, checkpoint_sha: str = "", oracle: bool = False,
                        size: tuple[int, int] = (256, 256), progress: Progress | None = None,
                        meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """Score `samples` images per record and write the report; returns the report dict.

    `meta`: extra fields stored in report.json as given (e.g. `sampling`, the settings the images were drawn with).

    generate_fn(prompt, size, background, n, seed) -> n PIL images, where background is "transparent" when
    the record asks for a transparent background and "opaque" otherwise (a colour is named in the prompt).
    With oracle=True the data engine's exact renders (one layout per sample seed) are scored instead.
    """
    t0 = time.time()
    if samples < 1:
        raise EvalError(f"samples must be >= 1, got {samples}")
    if not records:
        raise EvalError("no records to evaluate")
    if not oracle and generate_fn is None:
        raise EvalError("generate_fn is required unless oracle=True")
    recs = []
    for i, r in enumerate(records):
        try:
            recs.append(validate_record(r))
        except ValueError as e:
            raise EvalError(f"record {i}: {e}") from None
    out = Path(out_dir)
    _check_out(out)
    tick = progress or (lambda stage, i, n: None)

    # Oracle renders: layout seed 0 for validation; in oracle mode, seeds 0..K-1 are the scored samples.
    oracle_imgs = []
    for i, r in enumerate(recs):
        oracle_imgs.append(render(record_to_scene(r, size, seed=0)))
        tick("render", i + 1, len(recs))

    images: list[list[Image.Image]] = []
    for i, r in enumerate(recs):
        if oracle:
            ims = [oracle_imgs[i]] + [render(record_to_scene(r, size, seed=k)) for k in range(1, samples)]
        else:
            assert generate_fn is not None
            bg = "transparent" if r["background"] == "transparent" else "opaque"
            ims = list(generate_fn(r["prompt"], size, bg, samples, i))
            if len(ims) != samples:
                raise EvalError(f"record {i}: generate_fn returned {len(ims)} images, expected {samples}")
        images.append([_as_rgba(im, f"record {i}") for im in ims])
        tick("generate", i + 1, len(recs))

    results: list[list[ImageScore]] = []
    lines = []
    for i, (r, ims) in enumerate(zip(recs, images, strict=True)):
        row = []
        for k, im in enumerate(ims):
            name = f"{i:04d}_{r['tag']}_{k}.png"
            im.save(out / "images" / name)
            s = score_image(im, r)
            row.append(s)
            lines.append(json.dumps({"record": i, "sample": k, "tag": r["tag"], "prompt": r["prompt"], "image": name,
                                     "score": s.score, "correct": s.correct, "reasons": s.reasons,
                                     **{k2: v for k2, v in s.extra.items()}}))
        results.append(row)
        tick("score", i + 1, len(recs))

    # Validation.
    oracle_scores = [results[i][0] if oracle else score_image(oracle_imgs[i], r) for i, r in enumerate(recs)]
    perm = _derangement(recs, CONTROL_SEED)
    foils = {i: _foil(r, size) for i, r in enumerate(recs) if perm[i] < 0}
    control_scores = [score_image(images[perm[i]][0] if perm[i] >= 0 else foils[i], r) for i, r in enumerate(recs)]
    validation: dict[str, Any] = {
        "oracle": _mean([s.score for s in oracle_scores]),
        "control": _mean([s.score for s in control_scores]),
    }
    if not oracle:
        validation["control_oracle"] = _mean([score_image(oracle_imgs[perm[i]] if perm[i] >= 0 else foils[i], r).score
                                              for i, r in enumerate(recs)])
    validation["valid"] = (validation["oracle"] >= ORACLE_MIN and validation["control"] <= CONTROL_MAX
                           and validation.get("control_oracle", 0.0) <= CONTROL_MAX)
    validation["oracle_min"], validation["control_max"] = ORACLE_MIN, CONTROL_MAX
    pairs = list(zip(oracle_scores, recs, strict=True))
    validation["oracle_by_tag"] = {t: _mean([s.score for s, r in pairs if r["tag"] == t])
                                   for t in TAGS if any(r["tag"] == t for r in recs)}
    validation["oracle_failures"] = [{"record": i, "prompt": r["prompt"], "reasons": s.reasons}
                                     for i, (s, r) in enumerate(pairs) if not s.correct][:20]

    tags: dict[str, Any] = {}
    for t in TAGS:
        flat = [s for row, r in zip(results, recs, strict=True) if r["tag"] == t for s in row]
        if flat:
            tags[t] = _tag_report(t, flat)
    present = [t for t in GENEVAL_TAGS if t in tags]
    overall = _mean([tags[t]["score"] for t in present]) if present else None
    report: dict[str, Any] = {
        "overall": overall,
        "overall_tags": present,
        "tags": tags,
        **({"by_phrasing": _by_phrasing(recs, results)} if any("phrasing" in r for r in recs) else {}),
        "validation": validation,
        "samples": samples,
        "checkpoint": checkpoint_sha,
        "oracle_mode": oracle,
        "n_records": len(recs),
        "size": list(size),
        "seconds": round(time.time() - t0, 1),
        **(meta or {}),
    }
    _write_atomic(out / "results.jsonl", "".join(ln + "\n" for ln in lines))
    _write_atomic(out / "report.md", _markdown(report, recs, results, out))
    _write_atomic(out / "report.json", json.dumps(report, indent=2) + "\n")
    return report


def write_section(out: Path, report: dict[str, Any], section: str) -> None:
    """Rewrite out/report.json from `report` (which gained fields after `evaluate_generation`) and append a
    Markdown `section` to out/report.md."""
    md = (out / "report.md").read_text(encoding="utf-8")
    _write_atomic(out / "report.md", md.rstrip("\n") + "\n\n" + section)
    _write_atomic(out / "report.json", json.dumps(report, indent=2) + "\n")


def _by_phrasing(recs: list[dict[str, Any]], results: list[list[ImageScore]]) -> dict[str, Any]:
    """The overall score (mean of the GenEval tags present) and each tag's score, per value of the records'
    optional `phrasing` field ("sampler": the training captions' style, "heldout": re-phrased; see
    evals/heldout.py): how much of the score survives wording the sampler does not write."""
    out: dict[str, Any] = {}
    for ph in sorted({str(r.get("phrasing", "-")) for r in recs}):
        tags = {}
        for t in TAGS:
            flat = [s for row, r in zip(results, recs, strict=True)
                    if r["tag"] == t and str(r.get("phrasing", "-")) == ph for s in row]
            if flat:
                tags[t] = _tag_report(t, flat)["score"]
        geneval = [tags[t] for t in GENEVAL_TAGS if t in tags]
        out[ph] = {"overall": _mean(geneval) if geneval else None, "n_records":
                   sum(str(r.get("phrasing", "-")) == ph for r in recs), "tags": tags}
    return out


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def _fmt(x: Any) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return "nan" if math.isnan(x) else f"{x:.3f}"
    return str(x)


def _markdown(rep: dict[str, Any], recs: list[dict[str, Any]], results: list[list[ImageScore]], out: Path) -> str:
    from limner.evals.charts import generation_charts  # matplotlib loads only when a report is written

    v = rep["validation"]
    scored = [{"image": f"images/{i:04d}_{r['tag']}_{k}.png", "prompt": r["prompt"], "tag": r["tag"],
               "correct": s.correct} for i, (r, row) in enumerate(zip(recs, results, strict=True))
              for k, s in enumerate(row)]
    charts = generation_charts(rep, scored, out)
    md = ["# limner generation eval", "",
          f"- checkpoint: `{rep['checkpoint'] or '-'}`{' (oracle renders)' if rep['oracle_mode'] else ''}",
          f"- records: {rep['n_records']}, samples per record: {rep['samples']}, "
          f"size: {rep['size'][0]}x{rep['size'][1]}",
          f"- **overall (mean of {len(rep['overall_tags'])} GenEval tags): {_fmt(rep['overall'])}**",
          f"- validation: oracle {_fmt(v['oracle'])} (>= {v['oracle_min']}), control {_fmt(v['control'])} "
          f"(<= {v['control_max']})"
          + (f", control on oracle renders {_fmt(v['control_oracle'])}" if "control_oracle" in v else "")
          + f" -> **{'valid' if v['valid'] else 'INVALID'}**",
          "", *([charts["tags"], ""] if "tags" in charts else []),
          "| tag | n | score | details |", "| --- | --- | --- | --- |"]
    for t, r in rep["tags"].items():
        det = ", ".join(f"{k} {_fmt(val)}" for k, val in r.items() if k not in ("score", "n"))
        md.append(f"| {t} | {r['n']} | {_fmt(r['score'])} | {det} |")
    if "by_phrasing" in rep:
        md += ["", "By phrasing (`sampler`: worded as the training captions are; `heldout`: re-phrased):", "",
               "| phrasing | records | overall | tags |", "| --- | --- | --- | --- |"]
        for ph, r in rep["by_phrasing"].items():
            det = ", ".join(f"{t} {_fmt(v)}" for t, v in r["tags"].items())
            md.append(f"| {ph} | {r['n_records']} | {_fmt(r['overall'])} | {det} |")
    if "samples" in charts:
        md += ["", "## Samples", "", charts["samples"]]
    md += ["", "## Some failures", ""]
    shown = 0
    for i, (r, row) in enumerate(zip(recs, results, strict=True)):
        for k, s in enumerate(row):
            if not s.correct and shown < 25:
                md.append(f"- `{i:04d}_{r['tag']}_{k}.png` {r['prompt']!r}: {'; '.join(s.reasons[:3])}")
                shown += 1
    if shown == 0:
        md.append("- none")
    return "\n".join(md) + "\n"
