"""`limner eval ...`: the evaluation commands.

`limner eval generation [--prompts FILE.jsonl] [--samples K] [--oracle] [--checkpoint PATH] [--tags T,..] [--limit N]
[--think] [--best-of N] --out DIR` scores generated (or, with --oracle, exactly rendered) images for world.md
eval records and writes DIR/report.json, DIR/report.md and the images. Exit code 0 when the scorer's validation
passed, 1 when the report is marked invalid, 2 on bad input. `limner eval safety` is added by limner.cli.eval_safety
when that module exists.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path
from typing import Any

from limner.cli.devices import add_device_option, pick_device
from limner.cli.errors import CliError


def add_parser(subparsers: Any) -> None:
    """Register `limner eval` with `generation`, `conversation` and, when its module exists, `safety`.
    Bare `limner eval` prints its help and exits 2."""
    p = subparsers.add_parser("eval", help="evaluate the model (generation, conversation, safety)")
    sub = p.add_subparsers(dest="eval_command", metavar="EVAL")
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])
    g = sub.add_parser("generation", help="GenEval-style generation eval with a validated scorer")
    g.add_argument("--prompts", type=Path, default=None,
                   help="JSON Lines eval records (shared/world.md format); default: the fresh held-out set "
                   "(limner/evals/data/heldout-fresh.jsonl: wording from template families training never sees); "
                   "the older set is limner/evals/data/heldout.jsonl")
    g.add_argument("--samples", type=int, default=4, help="images per prompt (default 4)")
    g.add_argument("--oracle", action="store_true", help="score the data engine's exact renders instead of the model's")
    g.add_argument("--checkpoint", default=None, help="model checkpoint (default: the shipped one)")
    add_device_option(g)
    g.add_argument("--tags", default=None,
                   help="evaluate only the records of these comma-separated tags, e.g. text,dense_grid (default: all)")
    g.add_argument("--limit", type=int, default=None, help="evaluate only N records, spread over the tags")
    g.add_argument("--out", type=Path, required=True, help="output directory")
    g.add_argument("--think", action="store_true",
                   help="draw through thinking mode: the built-in planner's plan and its teacher-forced layout "
                   "(default: the model alone)")
    g.add_argument("--best-of", type=int, default=1,
                   help="candidates per image, the verifier keeps the best (default 1)")
    g.add_argument("--ablation-samples", type=int, default=1,
                   help="images per prompt of the pixel-path ablation (evals/ablation.py: native, no layout "
                   "colours, tokens only, paint mode), run after the report on the same records and added to it; "
                   "0 skips it; model runs without --think or --best-of only (default 1)")
    from limner.cli.generate import add_sampling_args

    add_sampling_args(g)
    g.set_defaults(func=run)
    importlib.import_module("limner.cli.eval_conversation").add_parser(sub)
    importlib.import_module("limner.cli.eval_paraphrase").add_parser(sub)
    importlib.import_module("limner.cli.eval_instructions").add_parser(sub)
    try:
        safety = importlib.import_module("limner.cli.eval_safety")
    except ModuleNotFoundError as e:
        if e.name != "limner.cli.eval_safety":
            raise
    else:
        safety.add_parser(sub)


def _spread(records: list[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    """The first n records taken round-robin over tags, so a small --limit still covers every tag."""
    by_tag: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        by_tag.setdefault(r["tag"], []).append(r)
    out: list[dict[str, Any]] = []
    k = 0
    while len(out) < min(n, len(records)):
        for rs in by_tag.values():
            if k < len(rs) and len(out) < n:
                out.append(rs[k])
        k += 1
    return out


def _progress(stage: str, i: int, n: int) -> None:
    if sys.stderr.isatty():
        print(f"\r{stage}: {i}/{n}", end="\n" if i == n else "", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    """Run `limner eval generation`: score the model's images (or, with --oracle, exact renders) and write
    the report under --out. Returns 0 when the scorer's validation passed, 1 when the report is invalid;
    CliError on bad flags, records or checkpoint."""
    from limner.evals.generation import EvalError, evaluate_generation
    from limner.vision.records import RecordError, load_records, select_tags

    if args.samples < 1 or args.samples > 64:
        raise CliError(f"--samples must be between 1 and 64, got {args.samples}")
    if not 1 <= args.best_of <= 8:
        raise CliError(f"--best-of must be between 1 and 8, got {args.best_of}")
    if args.oracle and (args.think or args.best_of != 1):
        raise CliError("--oracle scores exact renders: it takes neither --think nor --best-of")
    if not 0 <= args.ablation_samples <= 64:
        raise CliError(f"--ablation-samples must be between 0 and 64, got {args.ablation_samples}")
    if args.limit is not None and args.limit < 1:
        raise CliError(f"--limit must be >= 1, got {args.limit}")
    try:
        if args.prompts is not None:
            records = load_records(args.prompts)
        else:
            from limner.evals.fresh import fresh_records

            records = fresh_records()
        if args.tags is not None:
            records = select_tags(records, args.tags)
    except (RecordError, FileNotFoundError) as e:
        raise CliError(str(e)) from None
    if args.limit is not None:
        records = _spread(records, args.limit)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise CliError(f"--out {out} exists and is not a directory")

    generate_fn = None
    sha = ""
    meta: dict[str, Any] = {}
    if not args.oracle:
        try:
            from limner.studio.studio import load_generator
        except ImportError as e:
            raise CliError(f"the model generator is not available ({e}); use --oracle to score exact renders") from None
        import dataclasses

        from limner.cli.generate import sampling_from_args
        from limner.model.checkpoint import CheckpointError

        sampling = sampling_from_args(args)
        device = pick_device(args.device)
        try:
            generate_fn = load_generator(args.checkpoint, sampling, think=args.think, best_of=args.best_of,
                                         device=device)
        except (CheckpointError, FileNotFoundError, ValueError, OSError) as e:
            raise CliError(f"cannot load checkpoint {args.checkpoint or '(shipped)'}: {e}") from None
        sha = str(getattr(generate_fn, "checkpoint_sha", ""))
        meta["sampling"] = dataclasses.asdict(sampling)  # how the images were drawn belongs with the scores
        meta["mode"] = {"think": args.think, "best_of": args.best_of}
        from limner.engine.generator import pixel_path

        meta["pixel_path"] = pixel_path(sampling.paint, args.think)  # what made the pixels scored here
    try:
        rep = evaluate_generation(generate_fn, records, args.samples, out, checkpoint_sha=sha, oracle=args.oracle,
                                  progress=_progress, meta=meta)
    except (EvalError, RecordError) as e:
        raise CliError(str(e)) from None
    if generate_fn is not None and args.ablation_samples and not args.think and args.best_of == 1:
        from limner.evals.ablation import ablation_markdown, run_ablation
        from limner.evals.generation import write_section

        rows = run_ablation(lambda sp: load_generator(args.checkpoint, sp, device=device), sampling, records,
                            args.ablation_samples, out, progress=_progress)
        rep["ablation"] = rows
        write_section(out, rep, ablation_markdown(rows))
        for r in rows:
            print(f"  ablation {r['key']:<12} overall {r['overall'] or 0:.3f}")
    v = rep["validation"]
    overall = "-" if rep["overall"] is None else f"{rep['overall']:.3f}"
    print(f"overall {overall} over {rep['n_records']} prompts x {rep['samples']} samples ({rep['seconds']}s)")
    for t, r in rep["tags"].items():
        extra = "".join(f" {k} {r[k]:.3f}" for k in ("ned", "colour", "position", "median_de2000")
                        if isinstance(r.get(k), float))
        print(f"  {t:<14} {r['score']:.3f} (n={r['n']}){extra}")
    print(f"validation: oracle {v['oracle']:.3f} control {v['control']:.3f} -> {'valid' if v['valid'] else 'INVALID'}")
    print(f"report: {out / 'report.json'}")
    return 0 if v["valid"] else 1
