"""`limner eval conversation [--cases FILE.jsonl] --out DIR`: the conversation eval and its target table.

Runs edits, 5-turn conversations, mask edits, reference images, transparency, best-of-N and the bias
eval (limner/evals/conversation.py) on the held-out cases (or FILE, in the format of
limner/evals/conversation_cases.py), prints the issue's target table and writes DIR/report.json, DIR/report.md
(the table and DIR/bias.png: the bias distributions as bars with their entropy) and the images.
Exit code 0 when every must-reach figure holds, 1 when one does not, 2 on bad input.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from limner.cli.errors import CliError


def add_parser(sub: Any) -> None:
    """Register `conversation` under `limner eval` (`sub` is the eval command's subparsers)."""
    c = sub.add_parser("conversation", help="edits, masks, references, transparency, best-of-N and bias",
                       description="Run the conversation eval and print its target table. Writes OUT/report.json, "
                       "OUT/report.md (the table and OUT/bias.png: the bias distributions as bars with their "
                       "entropy) and the images. Exit code 0 when every must-reach figure holds, 1 when one does "
                       "not, 2 on bad input.")
    c.add_argument("--cases", type=Path, default=None,
                   help="JSON Lines cases (default: the held-out set of every kind); "
                   "limner/evals/data/conversation-fresh.jsonl holds edits and five-turn chats (with an undo) worded "
                   "in phrasing families the instruction reader never trained on")
    c.add_argument("--per-kind", type=int, default=6, help="held-out cases of each kind (default 6)")
    c.add_argument("--resamples", type=int, default=20, help="resamples per bias prompt (default 20)")
    c.add_argument("--best-of", type=int, default=4, help="candidates of the best-of-N comparison (default 4)")
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--checkpoint", default=None, help="model checkpoint (default: the shipped one)")
    c.add_argument("--out", type=Path, required=True, help="output directory")
    c.set_defaults(func=run)


def _progress(kind: str, i: int, n: int) -> None:
    print(f"\r{kind}: {i}/{n}   ", end="\n" if i == n else "", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    """Run `limner eval conversation`: evaluate the checkpoint on the cases, print the target table and
    write the report under --out. Returns 0 when every must-reach figure holds, else 1; CliError on bad input."""
    from limner.engine.generator import Generator
    from limner.evals.conversation import PSNR_CAP, TARGETS, evaluate_conversation, format_table
    from limner.evals.conversation_cases import CaseError, conversation_cases, load_cases
    from limner.model.checkpoint import CheckpointError
    from limner.studio.studio import Studio

    if not 1 <= args.resamples <= 200:
        raise CliError(f"--resamples must be between 1 and 200, got {args.resamples}")
    if not 2 <= args.best_of <= 8:
        raise CliError(f"--best-of must be between 2 and 8, got {args.best_of}")
    if args.per_kind < 1:
        raise CliError(f"--per-kind must be >= 1, got {args.per_kind}")
    try:
        cases = load_cases(args.cases) if args.cases else conversation_cases(per_kind=args.per_kind)
    except CaseError as e:
        raise CliError(str(e)) from None
    if args.out.exists() and not args.out.is_dir():
        raise CliError(f"--out {args.out} exists and is not a directory")
    try:
        gen = Generator.from_checkpoint(args.checkpoint)
    except (CheckpointError, FileNotFoundError, OSError, ValueError) as e:
        raise CliError(f"cannot load checkpoint {args.checkpoint or '(shipped)'}: {e}") from None
    rep = evaluate_conversation(Studio(gen), cases, args.out, seed=args.seed, resamples=args.resamples,
                                best_of=args.best_of, checkpoint_sha=gen.checkpoint_sha,
                                progress=_progress if sys.stderr.isatty() else None)
    print(format_table(rep))
    print(f"({len(cases)} cases, {args.resamples} resamples per bias prompt, {rep['seconds']}s; PSNR {PSNR_CAP:g} dB "
          "= lossless)")
    print(f"report: {args.out / 'report.md'} (charts beside it; figures in {args.out / 'report.json'})")
    return 0 if all(float(rep[k]) >= must for _, k, must, _, _ in TARGETS) else 1
