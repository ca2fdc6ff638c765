"""bench/provenance: the watermark's imperceptibility and robustness, verify recall and the costs, in one run.

    .venv/bin/python -m bench.provenance                       # full run (>= 200 generated, 1000 others, 1M index)
    .venv/bin/python -m bench.provenance --quick               # a small smoke run
    .venv/bin/python -m bench.provenance --images DIR          # real generations instead of data-engine renders
    .venv/bin/python -m bench.provenance --report-only         # re-write results.md + robustness.png only

Beside --out (results.json) it writes results.md, which embeds robustness.png (per-attack robustness) and
the 4x side-by-side crops in crops/ (invisibility.py).

Every "generated" image goes through the real ProvenanceStage (PNG, temporary data dir, SQLite index);
each attack re-encodes pixels only (metadata stripped) and then runs the real `verify`.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from bench.provenance import corpus, index_bench, invisibility
from bench.provenance.attacks import ATTACKS
from limner.provenance.ecc import PAYLOAD_BITS, int_to_bits
from limner.provenance.phash import flatten
from limner.provenance.settings import ProvenanceSettings
from limner.provenance.stage import BRIGHT_LEVEL, GenerationInfo, ProvenanceStage
from limner.provenance.verify import Verifier
from limner.provenance.watermark import WatermarkConfig, detect, embed, psnr

TARGETS = {  # attack: (must, aim) for the watermark's bit accuracy (issue [7 of 8])
    "none": (1.00, 1.00), "jpeg_q75": (0.99, 1.00), "resize_0.5x": (0.99, 1.00), "crop_10%": (0.99, 1.00),
    "brightness_+10%": (0.99, 1.00), "brightness_-10%": (0.99, 1.00),
}


def robustness(gen: list[tuple[str, Image.Image]], settings: ProvenanceSettings, seed: int) -> dict[str, Any]:
    stage = ProvenanceStage(settings)
    outs = []
    for i, (name, im) in enumerate(gen):
        info = GenerationInfo(request_id=f"bench-{i}", model="bench", checkpoint_sha="00" * 32, prompt=name)
        outs.append((name, im, stage.apply(im, info, "png")))
    stage.close()
    v = Verifier(settings)
    rng = random.Random(seed)
    per: dict[str, dict[str, list[float]]] = {a: {"bit": [], "found": [], "recall": [], "wrong": []} for a in ATTACKS}
    content: list[float] = []  # share of pixels that brightening by 10% does not clip to white
    transparent: list[bool] = []
    dev: list[dict[str, float]] = []
    for _, src, out in outs:
        a = np.asarray(flatten(src))
        content.append(float((a < BRIGHT_LEVEL).any(axis=2).mean()))
        transparent.append(src.mode == "RGBA" and int(np.asarray(src.getchannel("A")).min()) < 255)
        decoded = Image.open(io.BytesIO(out.data))
        decoded.load()
        dev.append(invisibility.deviation(a, np.asarray(flatten(decoded))))  # as seen: over white
        for attack, fn in ATTACKS.items():
            data = fn(decoded, rng)
            res = v.verify(data)
            det = res.watermark
            assert det is not None
            per[attack]["bit"].append(invisibility.bit_accuracy(det.guess, out.payload))
            per[attack]["found"].append(float(det.found and det.payload == out.payload))
            per[attack]["recall"].append(float(res.record is not None and res.record.record_id == out.record_id))
            per[attack]["wrong"].append(float(res.record is not None and res.record.record_id != out.record_id))
    v.close()
    table: dict[str, Any] = {}
    rich = np.array(content) >= 0.10
    opaque = ~np.array(transparent)
    for attack, d in per.items():
        table[attack] = {k: round(float(np.mean(x)), 4) for k, x in d.items()}
        bits = np.array(d["bit"])
        table[attack]["bit_content_ge_10pct"] = round(float(bits[rich].mean()), 4) if rich.any() else None
        table[attack]["bit_opaque"] = round(float(bits[opaque].mean()), 4) if opaque.any() else None
        table[attack]["bit_transparent"] = round(float(bits[~opaque].mean()), 4) if (~opaque).any() else None
    return {"images": len(outs), "images_content_ge_10pct": int(rich.sum()), "images_transparent": int((~opaque).sum()),
            "psnr_db_min": round(min(o.psnr_db for _, _, o in outs), 2),
            "psnr_db_mean": round(statistics.mean(o.psnr_db for _, _, o in outs), 2), "attacks": table,
            "invisibility": invisibility.summarise(dev)}


def false_positives(others: list[tuple[str, Image.Image]], settings: ProvenanceSettings) -> dict[str, Any]:
    v = Verifier(settings)
    wm_fp, match_fp, evidence = 0, 0, 0
    examples: list[dict[str, Any]] = []
    by_kind: dict[str, int] = {}
    for name, im in others:
        buf = io.BytesIO()
        im.save(buf, "PNG", compress_level=1)
        res = v.verify(buf.getvalue())
        kind = name.split(":")[0]
        by_kind[kind] = by_kind.get(kind, 0) + 1
        wm_fp += bool(res.watermark and res.watermark.found)
        match_fp += res.record is not None
        evidence += res.verdict != "no_evidence"
        if (res.record is not None or res.verdict != "no_evidence") and len(examples) < 5:
            examples.append({"image": name, "verdict": res.verdict, "method": res.match_method,
                             "pdq_distance": res.pdq_distance})
    v.close()
    return {"images": len(others), "by_kind": by_kind, "watermark_false_positives": wm_fp,
            "index_false_matches": match_fp, "verdict_not_no_evidence": evidence, "examples": examples}


def _on_white(gen: list[tuple[str, Image.Image]]) -> Image.Image:
    """The first render that is an object on a white field (5-50% of the pixels not white), flattened."""
    for _, im in gen:
        a = np.asarray(flatten(im))
        if 0.05 <= float((a < 250).any(axis=2).mean()) <= 0.5:
            return flatten(im)
    return flatten(gen[0][1])


def invisible(n_photos: int, n_model: int, n_timing: int, settings: ProvenanceSettings, seed: int,
              gen: list[tuple[str, Image.Image]], out_dir: Path) -> dict[str, Any]:
    """Imperceptibility and robustness on photos and the shipped model's outputs (marked directly), the
    embed + self-check cost, and the side-by-side crops."""
    photos = [(n, im) for n, im in corpus.photo_crops(n_photos, seed + 5) if min(im.size) >= 128]
    stage = ProvenanceStage(settings)
    out = {"photos": invisibility.direct(photos, seed),
           "model": invisibility.direct(invisibility.model_outputs(n_model, seed + 101), seed) if n_model else None,
           "timing": invisibility.timing([im for _, im in gen[:n_timing]], corpus.render_at(1024, n_timing, seed),
                                         stage),
           "crops": [str(p) for p in invisibility.crops(out_dir / "crops", _on_white(gen), photos[0][1])]}
    stage.close()
    return out


def alternatives(gen: list[tuple[str, Image.Image]], seed: int) -> dict[str, Any]:
    """invisible-watermark's dwtDct / dwtDctSvd against ours on the same flat-colour renders (48 bits)."""
    from imwatermark import WatermarkDecoder, WatermarkEncoder

    rng = random.Random(seed)
    key, cfg = bytes(range(32)), WatermarkConfig()
    rows: dict[str, dict[str, list[float]]] = {m: {"psnr": [], "none": [], "jpeg_q75": [], "resize_0.5x": [],
                                                   "crop_10%": []}
                                               for m in ("dwtDct", "dwtDctSvd", "limner")}
    for _, im in gen:
        rgb = np.ascontiguousarray(np.asarray(flatten(im)))
        payload = rng.getrandbits(PAYLOAD_BITS)
        bits = [int(b) for b in int_to_bits(payload, PAYLOAD_BITS)]
        for method in rows:
            if method == "limner":
                marked = embed(rgb, key, payload, cfg)
            else:
                enc = WatermarkEncoder()
                enc.set_watermark("bits", bits)
                marked = enc.encode(rgb[..., ::-1].copy(), method)[..., ::-1]
            rows[method]["psnr"].append(psnr(rgb, marked))
            for attack in ("none", "jpeg_q75", "resize_0.5x", "crop_10%"):
                a = np.asarray(Image.open(io.BytesIO(ATTACKS[attack](Image.fromarray(marked), rng))).convert("RGB"))
                if method == "limner":
                    acc = invisibility.bit_accuracy(detect(np.ascontiguousarray(a), key, cfg).guess, payload)
                else:
                    try:
                        got = WatermarkDecoder("bits", PAYLOAD_BITS).decode(np.ascontiguousarray(a[..., ::-1]), method)
                        acc = float(np.mean(np.array(got, dtype=int) == np.array(bits)))
                    except Exception:  # noqa: BLE001 - the library fails on some sizes; count as a miss
                        acc = 0.5
                rows[method][attack].append(acc)
    return {m: {k: round(float(np.mean(v)), 4) for k, v in d.items()} for m, d in rows.items()}


def stage_cost(n: int, settings: ProvenanceSettings, seed: int) -> dict[str, Any]:
    ims = corpus.render_at(1024, n, seed)
    stage = ProvenanceStage(settings)
    out: dict[str, Any] = {}
    for fmt in ("png", "jpeg", "webp"):
        ts, cpu, steps = [], [], []
        for i, im in enumerate(ims):
            info = GenerationInfo(request_id=f"cost-{fmt}-{i}", model="bench", checkpoint_sha="00" * 32, prompt="x")
            t, c = time.perf_counter(), time.process_time()
            res = stage.apply(im, info, fmt)
            ts.append((time.perf_counter() - t) * 1000)
            cpu.append((time.process_time() - c) * 1000)
            steps.append(res.timings)
        if len(ts) > 2:  # the first call opens the index and loads the key
            ts, cpu, steps = ts[1:], cpu[1:], steps[1:]
        # CPU time is the figure to compare on a shared machine; wall time includes waiting for a core
        out[fmt] = {"cpu_mean_ms": round(statistics.mean(cpu), 1), "wall_mean_ms": round(statistics.mean(ts), 1),
                    "wall_p50_ms": round(float(np.percentile(ts, 50)), 1),
                    "cpu_ms_by_step": {k: round(statistics.mean(st[k] for st in steps), 1) for k in steps[0]}}
    stage.close()
    return out


ALL_PHASES = ("robustness", "fp", "invisibility", "alternatives", "cost", "index")


def _cost_and_trust(n: int, settings: ProvenanceSettings, gen: list[tuple[str, Image.Image]],
                    seed: int) -> tuple[dict[str, Any], str]:
    cost = stage_cost(n, settings, seed)
    st = ProvenanceStage(settings)
    out = st.apply(gen[0][1], GenerationInfo("c2pa-check", "bench", "00" * 32), "png")
    st.close()
    return cost, Verifier(settings).verify(out.data).c2pa.state


Row = tuple[str, "float | None", str, str, "bool | None"]  # label, measured, must reach, aim, holds


def _fmt_row(name: str, value: float | None, must: str, aim: str, ok: bool | None) -> str:
    v = "n/a" if value is None else f"{value:.4g}"
    mark = "" if ok is None else ("PASS" if ok else "FAIL")
    return f"| {name:<66} | {v:>9} | {must:>9} | {aim:>8} | {mark:<4} |"


def _robustness_rows(rob: dict[str, Any], fp: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    for attack, (must, aim) in TARGETS.items():
        v = rob["attacks"][attack]["bit"]
        rows.append((f"watermark bit accuracy, {attack} ({rob['images']} generated)", v, f">= {must}", f">= {aim}",
                     v >= must))
    for key, label in (("bit_content_ge_10pct", f">= 10% non-white pixels ({rob['images_content_ge_10pct']} img)"),
                       ("bit_transparent", f"transparent background ({rob['images_transparent']} img)")):
        for attack in TARGETS:
            rows.append((f"  same, {label}, {attack}", rob["attacks"][attack][key], "", "", None))
    for attack in TARGETS:
        rows.append((f"watermark payload recovered (CRC ok), {attack}", rob["attacks"][attack]["found"], "", "", None))
    n_fp, n_other = fp["watermark_false_positives"], fp["images"]
    rows.append((f"watermark false positives ({n_other} non-generated)", n_fp, "0 of 1000", "0",
                 n_fp == 0 and n_other >= 1000))
    for attack in TARGETS:
        v = rob["attacks"][attack]["recall"]
        rows.append((f"verify recall, metadata stripped, {attack}", v, ">= 0.95", ">= 0.99", v >= 0.95))
    worst = min(rob["attacks"][a]["recall"] for a in TARGETS)
    rows.append(("verify recall, worst single attack", worst, ">= 0.95", ">= 0.99", worst >= 0.95))
    wrong = sum(rob["attacks"][a]["wrong"] for a in TARGETS)
    rows.append(("verify matched the wrong record (any attack, share)", wrong, "0", "0", wrong == 0))
    rows.append((f"verify false matches ({n_other} non-generated)", fp["index_false_matches"], "0 of 1000", "0",
                 fp["index_false_matches"] == 0 and n_other >= 1000))
    rows.append(("  verdict other than no_evidence on non-generated", fp["verdict_not_no_evidence"], "", "0", None))
    return rows


def _invisibility_rows(rob: dict[str, Any] | None, inv: dict[str, Any] | None) -> list[Row]:
    """PSNR, SSIM and flat-area deviation per corpus (must-reach judged on every corpus), then cost."""
    rows: list[Row] = []
    corpora = [("renders, through the stage", (rob or {}).get("invisibility"))]
    corpora += [("photos", (inv or {}).get("photos")), ("model outputs", (inv or {}).get("model"))]
    for name, d in corpora:
        if not d or not d.get("images"):
            continue
        label = f"{name} ({d['images']} img, flat share {d['flat_share_mean']:.2f})"
        rows += [(f"PSNR dB min, {label}", d["psnr_db_min"], ">= 42", ">= 45", d["psnr_db_min"] >= 42),
                 (f"PSNR dB mean, {label}", d["psnr_db_mean"], ">= 45", ">= 48", d["psnr_db_mean"] >= 45),
                 (f"  SSIM mean (min {d['ssim_min']:.4f}), {name}", d["ssim_mean"], "", "", None),
                 (f"flat areas: worst image's q99 |change|, {name}", d["flat_q99_worst"], "<= 2", "<= 2",
                  d["flat_q99_worst"] <= 2),
                 (f"flat areas: max |change|, {name}", d["flat_max"], "<= 6", "<= 6", d["flat_max"] <= 6)]
        for attack in TARGETS:  # the issue asks for 0.99 after every attack "on the same images": every corpus
            if "bit_accuracy" in d:
                v = d["bit_accuracy"][attack]
                rows.append((f"bit accuracy, {attack}, {name} (marked directly)", v, ">= 0.99", ">= 1.0", v >= 0.99))
    t = (inv or {}).get("timing")
    if t:
        rows += [("embed + self-check CPU ms, 256x256", t["embed_selfcheck_256_cpu_ms"], "<= 30", "<= 30",
                  t["embed_selfcheck_256_cpu_ms"] <= 30),
                 ("embed + read-back CPU ms, 1024x1024", t["embed_read_1024_cpu_ms"], "<= 150", "<= 150",
                  t["embed_read_1024_cpu_ms"] <= 150)]
    return rows


def _index_rows(idx: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    for store, d in idx.items():
        if "error" in d:
            rows.append((f"index {store}: {d['error']}", None, "<= 20", "<= 5", False))
            continue
        when = d.get("measured_at", "an earlier run")
        for key in ("nearest_d15", "nearest_d24"):  # probe radius 0: the query verify makes
            v = d[key]["p99_ms"]
            label = f"index {store} {key} p99 ms, {d['records']:,} rec (recall {d[key]['near_duplicate_recall']})"
            rows.append((label, v, "<= 20", "<= 5", v <= 20))
            if "client_cpu_p99_ms" in d[key]:
                rows.append((f"  same, p50 wall ms / p99 CPU ms of the calling thread ({d[key]['p50_ms']:.2f} wall)",
                             d[key]["client_cpu_p99_ms"], "", "", None))
        v = d["nearest_d31_r1"]["p99_ms"]
        rows.append((f"  {store} d31 radius-1 probes p99 ms (wider; not used by verify)", v, "",
                     "", None))
        rows.append((f"  {store} payload lookup p99 ms (measured {when})", d["payload_lookup"]["p99_ms"], "", "",
                     None))
    return rows


def table_lines(r: dict[str, Any]) -> list[str]:
    """The issue's target table: measured value, must reach, aim, and whether the must-reach holds."""
    lines: list[str] = []
    rows: list[Row] = []
    if "robustness" in r and "false_positives" in r:
        rows += _robustness_rows(r["robustness"], r["false_positives"])
        rows += _invisibility_rows(r["robustness"], r.get("invisibility"))
    else:
        lines.append("(robustness / false-positive phases not measured yet)")
    rows += _index_rows(r.get("index") or {})
    for fmt, d in (r.get("stage_cost") or {}).items():
        v = d["cpu_mean_ms"]
        rows.append((f"stage cost per 1024x1024 image, {fmt}, CPU ms (wall {d['wall_mean_ms']:.0f})", v, "<= 250",
                     "<= 100", v <= 250))
    if r.get("c2pa_state"):
        rows.append((f"C2PA validation of own output with its anchor: {r['c2pa_state']}", None, "Trusted",
                     "Trusted", r["c2pa_state"] == "trusted"))
    lines += ["", "| figure" + " " * 60 + "|  measured | must      | aim      | must |",
              "|" + "-" * 68 + "|-----------|-----------|----------|------|"]
    lines += [_fmt_row(*row) for row in rows]
    for fmt, d in (r.get("stage_cost") or {}).items():
        lines.append(f"  stage CPU ms by step, {fmt}: "
                     + ", ".join(f"{k} {v:.0f}" for k, v in d["cpu_ms_by_step"].items()))
    for section, note in (r.get("stale") or {}).items():
        lines.append(f"  NOTE {section}: {note}")
    judged = [row for row in rows if row[4] is not None]
    failed = [row[0].strip() for row in judged if not row[4]]
    lines += ["", f"must-reach rows holding: {len(judged) - len(failed)} of {len(judged)}"
              + ("" if not failed else "; FAIL: " + "; ".join(failed))]
    return lines


def print_table(r: dict[str, Any]) -> None:
    print("\n".join(table_lines(r)))


def write_report(r: dict[str, Any], results_path: Path) -> Path:
    """`results.md` beside results.json: `robustness.png` (bit accuracy, payload recovered and verify recall per
    attack, with the must-reach targets marked), then the target table. Returns the Markdown's path."""
    from limner.evals.charts import draw_or_warn, md_image, robustness_chart

    out = results_path.parent
    md = ["# limner provenance bench", "", f"Figures: `{results_path.name}` (`python -m bench.provenance`).", ""]
    rob = (r.get("robustness") or {}).get("attacks")
    # the bit-accuracy must-reach differs per attack (TARGETS); verify recall must reach 0.95 under every attack
    png = None if not rob else draw_or_warn(
        robustness_chart, rob, out / "robustness.png", targets={"bit": {a: m for a, (m, _) in TARGETS.items()},
                                                                "recall": 0.95},
        title=f"Provenance robustness per attack ({r['robustness'].get('images', '?')} generated images; "
              "metadata stripped)")
    if png is not None:
        md += [md_image(png, out, "watermark bit accuracy, payload recovered and verify recall per attack"), "",
               "bit: watermark bit accuracy (0.5 = chance); found: payload recovered with its CRC; recall: `verify` "
               "found the image's index record. Black ticks: the bit-accuracy must-reach of each attack; dashed "
               "line: verify recall's.", ""]
    else:
        md += ["(no robustness chart: the robustness phase has not been measured)" if not rob
               else "(the robustness chart could not be drawn; the reason went to stderr)", ""]
    md += ["```", *table_lines(r), "```", ""]
    crops = (r.get("invisibility") or {}).get("crops") or []
    if crops:
        md += ["## Side-by-side crops at 4x", "",
               "Each strip: original | marked | (marked - original) x 32 around mid-grey, 64x64 pixels shown at 4x "
               "(nearest neighbour). The white field and the render are marked at the default strength.", ""]
        md += [md_image(Path(c), out, Path(c).stem) + "\n" for c in crops]
    path = out / "results.md"
    path.write_text("\n".join(md), encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench.provenance", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--generated", type=int, default=220)
    p.add_argument("--non-generated", type=int, default=1000)
    p.add_argument("--index-records", type=int, default=1_000_000)
    p.add_argument("--queries", type=int, default=1000)
    p.add_argument("--cost-images", type=int, default=12)
    p.add_argument("--alternatives", type=int, default=60, help="images for the dwtDct/dwtDctSvd comparison (0: skip)")
    p.add_argument("--photos", type=int, default=60, help="photos marked for the invisibility rows")
    p.add_argument("--model-images", type=int, default=24,
                   help="images drawn by the shipped model for the invisibility rows (0: skip)")
    p.add_argument("--images", type=Path, default=None, help="folder of real generations to use as 'generated'")
    p.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/test", help="'' to skip PostgreSQL")
    p.add_argument("--index-stores", default="sqlite,postgresql",
                   help="stores for the index phase; a store left out keeps its figures from --out")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    p.add_argument("--out", type=Path, default=Path("bench/provenance/results.json"))
    p.add_argument("--phases", default=",".join(ALL_PHASES),
                   help="comma-separated subset; results of other phases already in --out are kept")
    p.add_argument("--report-only", action="store_true",
                   help="measure nothing: re-write results.md and robustness.png beside --out from its figures")
    a = p.parse_args(argv)
    if a.report_only:
        if not a.out.is_file():
            p.error(f"--report-only needs an existing --out results file; {a.out} does not exist")
        r0 = json.loads(a.out.read_text())
        print_table(r0)
        print(f"\nwrote {write_report(r0, a.out)}")
        return 0
    phases = set(a.phases.split(","))
    if a.quick:
        a.generated, a.non_generated, a.index_records, a.queries = 24, 60, 20_000, 200
        a.cost_images, a.alternatives, a.photos, a.model_images = 3, 8, 8, 2
    if "invisibility" in phases and a.photos < 1:
        p.error("--photos must be at least 1 for the invisibility phase (a photo crop goes into the report)")
    work = Path(tempfile.mkdtemp(prefix="limner-prov-bench-"))
    partial = phases != set(ALL_PHASES) or set(a.index_stores.split(",")) != {"sqlite", "postgresql"}
    r: dict[str, Any] = json.loads(a.out.read_text()) if a.out.exists() and partial else {}
    r["config"] = {k: str(v) for k, v in vars(a).items()}
    r["watermark_config"] = WatermarkConfig().__dict__
    r.pop("photos", None)  # measured by the invisibility phase since the perceptual mark

    def save() -> None:  # after every phase, so a long run that is stopped keeps what it measured
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(json.dumps(r, indent=2, default=str))

    try:
        settings = ProvenanceSettings(data_dir=work / "home")
        gen = corpus.generated(a.generated, a.seed, a.images)
        steps: list[tuple[str, Any]] = [
            ("robustness", lambda: robustness(gen, settings, a.seed)),
            ("fp", lambda: false_positives(corpus.non_generated(a.non_generated, a.seed + 1000), settings)),
            ("invisibility", lambda: invisible(a.photos, a.model_images, a.cost_images, settings, a.seed, gen,
                                               a.out.parent)),
            ("alternatives", lambda: alternatives(gen[: a.alternatives], a.seed) if a.alternatives else None),
            ("cost", lambda: _cost_and_trust(a.cost_images, settings, gen, a.seed) if a.cost_images else None),
            ("index", lambda: {**r.get("index", {}),
                               **index_bench.run(a.index_records, a.queries, a.seed, work, a.pg_url or None,
                                                 tuple(a.index_stores.split(",")))}
             if a.index_records else None),
        ]
        for name, fn in steps:
            if name not in phases:
                continue
            t0 = time.time()
            value = fn()
            if value is not None:
                # a phase measured now is no longer carried over from an earlier run
                for key in {"fp": ("false_positives",), "cost": ("stage_cost", "c2pa_state")}.get(name, (name,)):
                    (r.get("stale") or {}).pop(key, None)
                if name == "cost":
                    r["stage_cost"], r["c2pa_state"] = value
                else:
                    r[{"fp": "false_positives"}.get(name, name)] = value
            save()
            print(f"{name}: {time.time() - t0:.0f}s", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print_table(r)
    if "alternatives" in r:
        print("\nalternatives on the same flat-colour renders (bit accuracy, 0.5 = chance):")
        for m, d in r["alternatives"].items():
            print(f"  {m:<10} " + ", ".join(f"{k} {v}" for k, v in d.items()))
    print(f"\nwrote {a.out} and {write_report(r, a.out)} (with {a.out.with_name('robustness.png')})")
    return 0
