"""`limner eval paraphrase --out DIR`: the same records in five phrasings, and the spread of their scores.

Writes DIR/paraphrase.json, DIR/paraphrase.md and the generation eval's images and results. Exit code 0 when the
scorer's validation passed, 1 when it did not, 2 on bad input.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from limner.cli.errors import CliError


def add_parser(sub: Any) -> None:
    """Register `paraphrase` under `limner eval` (`sub` is the eval command's subparsers)."""
    c = sub.add_parser("paraphrase", help="one record in five phrasings: terse, polite, list, filler, reordered",
                       description="Score the default pixel path on N records, each asked for five ways, and report "
                       "each phrasing's score and the spread (max - min). Writes OUT/paraphrase.json, "
                       "OUT/paraphrase.md and the images.")
    c.add_argument("--records", type=int, default=30, help="base records, spread over the GenEval tags (default 30)")
    c.add_argument("--samples", type=int, default=1, help="images per prompt (default 1)")
    c.add_argument("--checkpoint", default=None, help="model checkpoint (default: the shipped one)")
    c.add_argument("--out", type=Path, required=True, help="output directory")
    c.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the paraphrase check; CliError on bad flags or checkpoint."""
    from limner.evals.generation import EvalError
    from limner.evals.paraphrase_check import evaluate_paraphrase, paraphrase_records
    from limner.model.checkpoint import CheckpointError
    from limner.studio.studio import load_generator

    if not 1 <= args.records <= 300:
        raise CliError(f"--records must be between 1 and 300, got {args.records}")
    if not 1 <= args.samples <= 16:
        raise CliError(f"--samples must be between 1 and 16, got {args.samples}")
    if args.out.exists() and not args.out.is_dir():
        raise CliError(f"--out {args.out} exists and is not a directory")
    try:
        fn = load_generator(args.checkpoint)
    except (CheckpointError, FileNotFoundError, ValueError, OSError) as e:
        raise CliError(f"cannot load checkpoint {args.checkpoint or '(shipped)'}: {e}") from None
    try:
        rep = evaluate_paraphrase(fn, paraphrase_records(args.records), args.samples, args.out,
                                  checkpoint_sha=str(getattr(fn, "checkpoint_sha", "")))
    except EvalError as e:
        raise CliError(str(e)) from None
    for how, v in rep["phrasings"].items():
        print(f"  {how:<10} {v:.3f}")
    print(f"spread {rep['spread']:.3f} (mean range within a record {rep['mean_record_range']:.3f}) over "
          f"{rep['n_records']} records x 5 phrasings x {args.samples}")
    print(f"report: {args.out / 'paraphrase.md'}")
    return 0 if rep["validation"]["valid"] else 1
