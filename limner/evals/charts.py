"""PNG charts for limner's reports: scores per tag, sample grids, safety tables, bias, robustness, loss curves.

Every chart function takes plain data (dicts, lists, paths) and an output path, draws with matplotlib
and returns the path it wrote. Nothing here uses pyplot: each figure is built with the object-oriented
API on its own Agg canvas, so drawing a chart from a server thread or a notebook never switches the
process's backend or leaves figures open, and importing this module does not import matplotlib at all.

Where the reports put their charts (relative to the report directory):

- `limner eval generation`: `tags.png` (score per tag), `samples.png` (images, prompts, pass/fail);
- `limner eval safety`: `categories.png` (per category), `layers.png` (per layer configuration);
- `limner eval conversation`: `bias.png` (bias distributions with their entropy);
- `python -m bench.provenance`: `robustness.png` and `results.md` beside its `--out` results.json
  (default bench/provenance/); re-draw with `python -m limner.evals.charts robustness RESULTS.json`;
- training: `OUT/loss.png` beside `OUT/log.jsonl`; re-plot with `python -m limner.evals.charts loss OUT/log.jsonl`.

`generation_charts` and `safety_charts` draw a whole report's charts and return its Markdown image lines.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

# Okabe-Ito colours: distinguishable with the common colour-vision deficiencies.
BLUE, ORANGE, GREEN, RED, GREY, SKY = "#0072B2", "#E69F00", "#009E73", "#D55E00", "#999999", "#56B4E9"
SERIES_COLOURS = (BLUE, ORANGE, GREEN, SKY, RED, GREY)
DPI = 100
LOG_NOT_LOSSES = frozenset({"step", "lr", "grad_norm", "s_per_step", "time"})  # log.jsonl keys that are not losses


class ChartError(ValueError):
    """The data cannot be charted (empty or malformed); the message names what is wrong."""


@dataclass(frozen=True)
class Sample:
    """One cell of a sample grid: an image (file or PIL image), its caption and its verdict (None: no mark)."""

    image: str | Path | Image.Image
    caption: str
    passed: bool | None = None


def _figure(width: float, height: float) -> Figure:
    """A figure on its own Agg canvas (no pyplot: no global backend, nothing left open)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: str | Path) -> Path:
    """Write the PNG through a temporary file, so a reader never sees half a chart."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    fig.savefig(tmp, format="png", dpi=DPI)
    tmp.replace(out)
    return out


def _plain(s: str) -> str:
    """Text drawn as written: '$' would otherwise start matplotlib's math mode (prompts may contain it)."""
    return s.replace("$", r"\$")


def _bars(ax: Axes, names: Sequence[str], series: Mapping[str, Sequence[float | None]], xmax: float = 1.0) -> None:
    """Horizontal grouped bars, one group per name, one bar per series, values written at the bar ends.

    A None value draws no bar and says "n/a", so a missing figure is never read as a zero.
    """
    k = len(series)
    height = 0.8 / k
    for j, (label, vals) in enumerate(series.items()):
        ys = [i - 0.4 + height * (j + 0.5) for i in range(len(names))]
        colour = SERIES_COLOURS[j % len(SERIES_COLOURS)]
        ax.barh(ys, [0.0 if v is None else float(v) for v in vals], height=height, color=colour,
                label=_plain(label) if k > 1 else None)
        for y, v in zip(ys, vals, strict=True):
            text = "n/a" if v is None else f"{float(v):.3f}"
            ax.text((0.0 if v is None else float(v)) + 0.01 * xmax, y, text, va="center", fontsize=7)
    ax.set_yticks(range(len(names)), [_plain(n) for n in names])
    ax.invert_yaxis()  # first name on top, as in the tables
    ax.set_xlim(0, xmax * 1.12)  # room for the value labels
    ax.grid(axis="x", alpha=0.3)
    if k > 1:  # below the plot, where it can never cover a bar
        ax.figure.legend(loc="outside lower center", ncols=k, fontsize=8)


def tag_scores_chart(scores: Mapping[str, float | None], path: str | Path, *, title: str = "Score per tag",
                     reference: Mapping[str, float] | None = None, reference_label: str = "oracle") -> Path:
    """Bars of a score in [0, 1] per tag; `reference` (e.g. the oracle's scores) is drawn as a second bar."""
    if not scores:
        raise ChartError("no tag scores to chart")
    names = list(scores)
    series: dict[str, list[float | None]] = {"score": [scores[n] for n in names]}
    if reference:
        series[reference_label] = [reference.get(n) for n in names]
    fig = _figure(7.5, 1.2 + 0.32 * len(names) * len(series))
    ax = fig.add_subplot()
    _bars(ax, names, series)
    ax.set_xlabel("score")
    ax.set_title(_plain(title))
    return _save(fig, path)


def _open_rgba(image: str | Path | Image.Image) -> Image.Image:
    if isinstance(image, Image.Image):
        return image.convert("RGBA")
    try:
        with Image.open(image) as im:
            return im.convert("RGBA")
    except OSError as e:
        raise ChartError(f"cannot open sample image {image}: {e}") from None


def _on_checkerboard(im: Image.Image) -> np.ndarray:
    """RGB pixels of `im` over a grey checkerboard, so transparent backgrounds read as transparent."""
    h, w = im.height, im.width
    yy, xx = np.mgrid[0:h, 0:w]
    grey = np.where((yy // 8 + xx // 8) % 2 == 0, 235, 200).astype(np.uint8)
    board = Image.fromarray(np.stack([grey, grey, grey, np.full_like(grey, 255)], axis=-1), "RGBA")
    return np.asarray(Image.alpha_composite(board, im).convert("RGB"))


def sample_grid(samples: Sequence[Sample], path: str | Path, *, cols: int = 6, title: str = "Samples",
                thumb: int = 192) -> Path:
    """A grid of images, each with its (wrapped) caption and a PASS / FAIL badge and frame."""
    if not samples:
        raise ChartError("no samples to draw")
    if cols < 1:
        raise ChartError(f"cols must be >= 1, got {cols}")
    cols = min(cols, len(samples))
    rows = math.ceil(len(samples) / cols)
    fig = _figure(2.2 * cols, 2.7 * rows + 0.5)
    fig.suptitle(_plain(title))
    for i, s in enumerate(samples):
        ax = fig.add_subplot(rows, cols, i + 1)
        im = _open_rgba(s.image)
        im.thumbnail((thumb, thumb))  # keeps the aspect ratio; the PNG stays small for large grids
        ax.imshow(_on_checkerboard(im))
        ax.set_xticks([])
        ax.set_yticks([])
        colour = GREY if s.passed is None else GREEN if s.passed else RED
        for spine in ax.spines.values():
            spine.set_edgecolor(colour)
            spine.set_linewidth(3)
        if s.passed is not None:
            ax.text(0.03, 0.97, "PASS" if s.passed else "FAIL", transform=ax.transAxes, va="top", fontsize=8,
                    color="white", weight="bold", bbox={"facecolor": colour, "edgecolor": "none", "pad": 2})
        lines = textwrap.wrap(s.caption, 30) or [""]
        caption = "\n".join(lines[:3]) + ("…" if len(lines) > 3 else "")
        ax.set_title(_plain(caption), fontsize=7)
    return _save(fig, path)


def safety_category_chart(by_category: Mapping[str, Mapping[str, Any]], path: str | Path, *,
                          title: str = "Safety results per category") -> Path:
    """not_unsafe and not_overrefuse per category (the safety eval's `by_category`), with the counts."""
    if not by_category:
        raise ChartError("no categories to chart")
    names = list(by_category)
    labels = [f"{n} (block {by_category[n].get('n_block', 0)}, allow {by_category[n].get('n_allow', 0)})"
              for n in names]
    series = {m: [by_category[n].get(m) for n in names] for m in ("not_unsafe", "not_overrefuse")}
    fig = _figure(8.5, 1.2 + 0.5 * len(names))
    ax = fig.add_subplot()
    _bars(ax, labels, series)
    ax.set_xlabel("share (not_unsafe: block prompts refused; not_overrefuse: allow prompts allowed)")
    ax.set_title(_plain(title))
    return _save(fig, path)


def safety_layers_chart(configs: Mapping[str, Mapping[str, Any]], path: str | Path, *,
                        title: str = "Safety results per layer configuration") -> Path:
    """The per-layer table as bars: not_unsafe / not_overrefuse per configuration; a config not run says why."""
    if not configs:
        raise ChartError("no layer configurations to chart")
    names = list(configs)
    series = {m: [None if "not_run" in configs[n] else configs[n].get(m) for n in names]
              for m in ("not_unsafe", "not_overrefuse")}
    labels = [f"{n} (not run)" if "not_run" in configs[n] else n for n in names]
    fig = _figure(8.0, 1.2 + 0.55 * len(names))
    ax = fig.add_subplot()
    _bars(ax, labels, series)
    ax.set_xlabel("share")
    ax.set_title(_plain(title))
    return _save(fig, path)


def bias_chart(counts: Mapping[str, Mapping[str, int]], entropy: Mapping[str, float], path: str | Path, *,
               labels: Mapping[str, Sequence[str]] | None = None, title: str = "Bias distributions") -> Path:
    """One panel per attribute: how often each value was drawn, with the attribute's entropy in the title.

    counts: attribute -> value -> times drawn (e.g. {"colour": {"red": 5, "blue": 3}}); entropy: attribute ->
    normalised entropy in [0, 1] (missing attributes say "n/a"); labels: attribute -> every possible value,
    so values never drawn show as empty bars (the entropy is normalised over all of them). A dashed line
    marks the uniform count. Bars named after a colour are drawn in that colour (other bars of such a panel,
    e.g. "(none)", hatched white).
    """
    if not counts:
        raise ChartError("no bias distributions to chart")
    from matplotlib.colors import is_color_like

    attrs = list(counts)
    width = max(6.0, 0.4 * max(len(labels.get(a, counts[a]) if labels else counts[a]) for a in attrs) + 2)
    fig = _figure(width, 2.8 * len(attrs) + 0.6)
    fig.suptitle(_plain(textwrap.fill(title, int(width * 11))))  # ~11 characters an inch at the default size
    for i, a in enumerate(attrs):
        ax = fig.add_subplot(len(attrs), 1, i + 1)
        c = counts[a]
        names = list(labels[a]) if labels and a in labels else sorted(c, key=lambda v: (-c[v], v))
        vals = [int(c.get(n, 0)) for n in names]
        colour_panel = any(is_color_like(n) for n in names)
        colours = [n if is_color_like(n) else BLUE for n in names]
        bars = ax.bar(range(len(names)), vals, color=colours, edgecolor="black", linewidth=0.6)
        if colour_panel:  # a non-colour value (e.g. "(none)") in a colour panel must not read as blue
            for bar, n in zip(bars, names, strict=True):
                if not is_color_like(n):
                    bar.set_facecolor("white")
                    bar.set_hatch("//")
        if names:
            ax.axhline(sum(vals) / len(names), color=GREY, linestyle="--", linewidth=1, label="uniform")
            ax.legend(loc="upper right", fontsize=7)
        ax.set_xticks(range(len(names)), [_plain(n) for n in names], rotation=45, ha="right", fontsize=8)
        e = entropy.get(a)
        ax.set_title(_plain(f"{a}: normalised entropy {'n/a' if e is None else f'{e:.3f}'} (n={sum(vals)})"),
                     fontsize=10)
        ax.set_ylabel("count")
    return _save(fig, path)


def robustness_chart(rows: Mapping[str, Mapping[str, float | None]] | Sequence[Mapping[str, Any]], path: str | Path,
                     *, metrics: Sequence[str] = ("bit", "found", "recall"),
                     targets: Mapping[str, float | Mapping[str, float]] | None = None,
                     title: str = "Provenance robustness per attack") -> Path:
    """Provenance figures per attack as grouped bars, with the targets they must reach marked.

    rows: either bench/provenance's `results["robustness"]["attacks"]` (attack -> metric -> value) or a list
    of dicts with an "attack" key and one key per metric. Metrics a row lacks say "n/a". targets: metric ->
    minimum, drawn as a dashed line across the chart, or metric -> attack -> minimum (a must-reach that differs
    per attack), drawn as a black tick across that attack's bar.
    """
    if isinstance(rows, Mapping):
        table = {str(k): dict(v) for k, v in rows.items()}
    else:
        try:
            table = {str(r["attack"]): dict(r) for r in rows}
        except KeyError:
            raise ChartError("every robustness row needs an 'attack' key") from None
    if not table:
        raise ChartError("no attacks to chart")
    if not metrics:
        raise ChartError("no metrics to chart")
    names = list(table)
    series = {m: [table[n].get(m) for n in names] for m in metrics}
    fig = _figure(8.0, 1.2 + 0.3 * len(names) * len(metrics))
    ax = fig.add_subplot()
    _bars(ax, names, series)
    height = 0.8 / len(metrics)  # as _bars lays the groups out
    for j, m in enumerate(metrics):
        t = (targets or {}).get(m)
        if isinstance(t, Mapping):
            for i, n in enumerate(names):
                if n in t:
                    y = i - 0.4 + height * (j + 0.5)
                    ax.plot([t[n], t[n]], [y - height / 2, y + height / 2], color="black", linewidth=2)
        elif t is not None:
            ax.axvline(float(t), color=SERIES_COLOURS[j % len(SERIES_COLOURS)], linestyle="--", linewidth=1)
    ax.set_xlabel("share" + (" (targets: dashed line / black tick)" if targets else ""))
    ax.set_title(_plain(title))
    return _save(fig, path)


def scaling_chart(runs: Sequence[Mapping[str, Any]], fit: Mapping[str, float], path: str | Path) -> Path:
    """Eval loss against training compute (log-log), one line per model size, with the power law fitted to the
    compute-optimal frontier (bench/scaling.py)."""
    fig = _figure(7.0, 4.6)
    ax = fig.add_subplot()
    shapes = sorted({(r["d_model"], r["layers"]) for r in runs})
    for d, n in shapes:
        pts = sorted((r["flops"], r["eval_loss"]) for r in runs if (r["d_model"], r["layers"]) == (d, n))
        ax.plot([c for c, _ in pts], [v for _, v in pts], "o-", label=f"d{d} x {n} layers")
    cs = [r["flops"] for r in runs]
    xs = np.geomspace(min(cs), max(cs), 50)
    ax.plot(xs, fit["a"] * xs ** -fit["b"], "k--", label=f"frontier fit L = {fit['a']:.3g} C^-{fit['b']:.3f}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("training compute (FLOPs)")
    ax.set_ylabel("eval loss (nats)")
    ax.set_title("The prior's eval loss against compute")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def read_log(log_path: str | Path) -> list[dict[str, Any]]:
    """The records of a trainer's log.jsonl, one per step, in step order.

    A resumed run logs again the steps after its last checkpoint; the later record of a step wins, as it
    belongs to the run that continued. An unparseable line (a run killed mid-write) is skipped.
    """
    p = Path(log_path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise ChartError(f"cannot read training log {p}: {e.strerror or e}") from None
    by_step: dict[int, dict[str, Any]] = {}
    for line in text.splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(rec, dict) and isinstance(rec.get("step"), int | float):
            by_step[int(rec["step"])] = rec
    if not by_step:
        raise ChartError(f"no logged steps in {p}")
    return [by_step[s] for s in sorted(by_step)]


def loss_chart(log_path: str | Path, path: str | Path | None = None, *, title: str | None = None) -> Path:
    """Loss curves from a trainer's log.jsonl: every loss key against step (top) and the learning rate (bottom).

    Writes `path`, by default `loss.png` beside the log. Losses are drawn on a log scale when all positive.
    """
    recs = read_log(log_path)
    out = Path(path) if path is not None else Path(log_path).with_name("loss.png")
    keys = [k for k in dict.fromkeys(k for r in recs for k in r) if k not in LOG_NOT_LOSSES
            and all(isinstance(r.get(k), int | float) or r.get(k) is None for r in recs)]
    if "loss" in keys:  # the total first, drawn thicker, then the per-stage parts
        keys.remove("loss")
        keys.insert(0, "loss")
    if not keys:
        raise ChartError(f"no loss values in {log_path}")
    has_lr = any(isinstance(r.get("lr"), int | float) for r in recs)
    fig = _figure(8.0, 5.5 if has_lr else 4.0)
    grid = fig.add_gridspec(2 if has_lr else 1, 1, height_ratios=[3, 1] if has_lr else [1])
    ax = fig.add_subplot(grid[0])
    positive = True
    for j, k in enumerate(keys):
        pts = [(r["step"], float(r[k])) for r in recs if isinstance(r.get(k), int | float)]
        positive = positive and all(v > 0 for _, v in pts)
        ax.plot([s for s, _ in pts], [v for _, v in pts], marker="o" if len(pts) < 20 else None, markersize=3,
                linewidth=2.0 if k == "loss" else 1.2, color=SERIES_COLOURS[j % len(SERIES_COLOURS)], label=_plain(k))
    if positive:
        ax.set_yscale("log")
    ax.set_ylabel("loss")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    last = recs[-1]
    ax.set_title(_plain(title or f"{Path(log_path).parent.name or 'training'}: step {last['step']}, "
                        f"loss {last.get('loss', float('nan')):.4g}"))
    if has_lr:
        lx = fig.add_subplot(grid[1], sharex=ax)
        ax.tick_params(labelbottom=False)  # the shared step axis is labelled once, under the lr panel
        pts = [(r["step"], float(r["lr"])) for r in recs if isinstance(r.get("lr"), int | float)]
        lx.plot([s for s, _ in pts], [v for _, v in pts], color=GREY)
        lx.set_ylabel("lr")
        lx.grid(alpha=0.3)
        lx.set_xlabel("step")
    else:
        ax.set_xlabel("step")
    return _save(fig, out)


def md_image(path: str | Path, report_dir: str | Path, alt: str) -> str:
    """A Markdown image line linking `path` relative to the report, so the report folder can move as a whole."""
    rel = Path(os.path.relpath(Path(path), Path(report_dir))).as_posix()
    alt = alt.replace("[", r"\[").replace("]", r"\]")  # a bracket in the text would end the link early
    return f"![{alt}]({rel})"


def draw_or_warn(draw: Callable[..., Path], *args: Any, warn: Callable[[str], None] | None = None,
                 **kwargs: Any) -> Path | None:
    """Call a chart function; on failure say why and return None.

    A chart is a view of a report: a plotting failure must not lose the report or a finished training run.
    """
    try:
        return draw(*args, **kwargs)
    except Exception as e:  # any plotting failure is reported, never raised
        (warn or (lambda m: print(m, file=sys.stderr)))(f"chart {getattr(draw, '__name__', draw)} not drawn: {e}")
        return None


def generation_charts(report: Mapping[str, Any], images: Sequence[Mapping[str, Any]], out_dir: str | Path, *,
                      per_tag: int = 4, warn: Callable[[str], None] | None = None) -> dict[str, str]:
    """Draw the generation eval's `tags.png` and `samples.png` in out_dir; returns chart name -> Markdown line.

    images: one dict per scored image with "image" (path relative to out_dir), "prompt", "tag" and "correct".
    The grid shows up to `per_tag` images per tag, so every tag appears however many records were scored:
    up to half of them failures, first (they are what a reader looks for), then passes. A chart that fails
    to draw is left out of the returned lines.
    """
    out = Path(out_dir)
    md: dict[str, str] = {}
    scores = {t: r.get("score") for t, r in report.get("tags", {}).items()}
    # Model runs carry the oracle's score per tag: the scorer's ceiling, drawn beside the model's bars.
    ref = None if report.get("oracle_mode") else report.get("validation", {}).get("oracle_by_tag")
    if draw_or_warn(tag_scores_chart, scores, out / "tags.png", reference=ref, warn=warn,
                    title=f"Score per tag (overall {_score(report.get('overall'))})"):
        md["tags"] = md_image(out / "tags.png", out, "score per tag")
    chosen: list[Mapping[str, Any]] = []
    for tag in dict.fromkeys(str(x["tag"]) for x in images):
        fails = [x for x in images if x["tag"] == tag and not x["correct"]]
        passes = [x for x in images if x["tag"] == tag and x["correct"]]
        half = max(1, per_tag // 2)
        pick = fails[:half] + passes[: per_tag - min(half, len(fails))]
        chosen += pick + fails[half:][: per_tag - len(pick)]  # more failures when the passes run out
    samples = [Sample(out / str(x["image"]), f"[{x['tag']}] {x['prompt']}", bool(x["correct"])) for x in chosen]
    if samples and draw_or_warn(sample_grid, samples, out / "samples.png", warn=warn,
                                title=f"Samples: up to {per_tag} per tag, failures first"):
        md["samples"] = md_image(out / "samples.png", out, "sample images with prompts and pass/fail")
    return md


def _score(x: Any) -> str:
    return "-" if not isinstance(x, int | float) else f"{x:.3f}"


def safety_charts(report: Mapping[str, Any], out_dir: str | Path, *,
                  warn: Callable[[str], None] | None = None) -> dict[str, str]:
    """Draw the safety eval's `layers.png` and `categories.png` in out_dir; returns chart name -> Markdown line."""
    out = Path(out_dir)
    md: dict[str, str] = {}  # in the order of the printed tables: configurations, then categories
    if report.get("configs") and draw_or_warn(safety_layers_chart, report["configs"], out / "layers.png", warn=warn):
        md["layers"] = md_image(out / "layers.png", out, "safety results per layer configuration")
    if report.get("by_category") and draw_or_warn(safety_category_chart, report["by_category"],
                                                  out / "categories.png", warn=warn):
        md["categories"] = md_image(out / "categories.png", out, "safety results per category")
    return md


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m limner.evals.charts loss LOG.jsonl [-o PNG]` or `... robustness RESULTS.json [-o PNG]`."""
    p = argparse.ArgumentParser(prog="python -m limner.evals.charts", description="re-draw a chart from its data")
    sub = p.add_subparsers(dest="chart", required=True)
    lo = sub.add_parser("loss", help="loss curves from a trainer's log.jsonl (default output: loss.png beside it)")
    lo.add_argument("log", type=Path)
    lo.add_argument("-o", "--out", type=Path, default=None)
    ro = sub.add_parser("robustness", help="robustness per attack from bench/provenance's results.json")
    ro.add_argument("results", type=Path)
    ro.add_argument("-o", "--out", type=Path, default=Path("robustness.png"))
    args = p.parse_args(argv)
    try:
        if args.chart == "loss":
            out = loss_chart(args.log, args.out)
        else:
            try:
                rob = json.loads(args.results.read_text(encoding="utf-8"))["robustness"]["attacks"]
            except (OSError, ValueError, KeyError, TypeError) as e:
                raise ChartError(f"{args.results}: no robustness.attacks table ({e})") from None
            out = robustness_chart(rob, args.out)
    except ChartError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
