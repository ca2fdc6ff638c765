"""`limner eval instructions [--weights PATH] [--per-family N] --out DIR`: the instruction reader on held-out
phrasings.

Reads `--per-family` held-out turns of each phrasing family (limner/evals/instruction_cases.py: families training
never sees) with the reader every chat path uses, prints the per-family table (understood, exact) and the warm
latency per turn, and writes DIR/report.json and DIR/report.md. Exit code 0 when understood >= 0.95 and
exact >= 0.90, 1 when not, 2 on bad input.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from limner.cli.errors import CliError


def add_parser(sub: Any) -> None:
    """Register `instructions` under `limner eval` (`sub` is the eval command's subparsers)."""
    c = sub.add_parser("instructions", help="the learned instruction reader on held-out phrasing families",
                       description="Score the instruction reader (what a chat turn asks for: edit ops, a new "
                       "picture, undo, nothing drawable) on held-out phrasing families, per family, with its "
                       "latency. Writes OUT/report.json and OUT/report.md. Exit code 0 when understood >= 0.95 "
                       "and exact >= 0.90, 1 when not, 2 on bad input.")
    c.add_argument("--weights", type=Path, default=None,
                   help="reader head weights (default: the shipped limner/weights/reader.safetensors)")
    c.add_argument("--per-family", type=int, default=40, help="held-out turns per family (default 40)")
    c.add_argument("--out", type=Path, required=True, help="output directory")
    c.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the reader eval; CliError on bad flags or weights."""
    from limner.evals.instructions import TARGETS, evaluate_instructions, format_table, write_report
    from limner.studio.reader import WEIGHTS, InstructionReader

    if not 1 <= args.per_family <= 1000:
        raise CliError(f"--per-family must be between 1 and 1000, got {args.per_family}")
    if args.out.exists() and not args.out.is_dir():
        raise CliError(f"--out {args.out} exists and is not a directory")
    try:
        reader = InstructionReader.load(args.weights or WEIGHTS)
    except (FileNotFoundError, OSError, ValueError, RuntimeError) as e:
        raise CliError(f"cannot load reader weights {args.weights or WEIGHTS}: {e}") from None
    rep = evaluate_instructions(reader, args.per_family)
    write_report(rep, args.out)
    print(format_table(rep))
    print(f"report: {args.out / 'report.md'}")
    return 0 if all(rep[k] >= must for k, must in TARGETS) else 1
