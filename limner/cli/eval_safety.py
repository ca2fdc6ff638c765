"""`limner eval safety [--prompts FILE.jsonl|NAME] --out DIR`: the safety stack's tables (see limner.evals.safety).

`limner/cli/eval.py` calls `add_parser(eval_subparsers)` to hang `safety` under `limner eval`.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def add_parser(eval_subparsers: Any) -> None:
    """Register `safety` under `limner eval` (`eval_subparsers` is the eval command's subparsers)."""
    p = eval_subparsers.add_parser(
        "safety", help="not_unsafe / not_overrefuse, image-layer and person-classifier tables",
        description="Run the safety stack over a labelled prompt set (and the public benchmarks and image sets) "
        "and print its tables. Writes DIR/report.json, DIR/report.md (which embeds the charts DIR/layers.png, "
        "results per layer configuration, and DIR/categories.png, results per category) and DIR/rows.jsonl "
        "(one verdict per prompt).",
    )
    p.add_argument(
        "--prompts", default=None, metavar="FILE.jsonl|NAME",
        help="labelled set: a JSONL file, or a shipped set by name: redteam (the default, the older held-out split), "
        "fresh (the family-built held-out set) or blind (written blind to the policy)"
    )
    p.add_argument("--out", required=True, metavar="DIR", help="output directory for the report and its charts")
    p.add_argument("--policy", default=None, help="policy YAML (default: the shipped policy)")
    p.add_argument("--xstest", default=None, type=Path, help="XSTest CSV (default: shared/benchmarks)")
    p.add_argument("--i2p", default=None, type=Path, help="I2P CSV (default: shared/benchmarks)")
    p.add_argument("--i2p-limit", type=int, default=None)
    p.add_argument("--chat-url", default=None, help="OpenAI-compatible endpoint for the chat-judge configuration")
    p.add_argument("--no-images", action="store_true", help="skip image layers and image tables")
    p.add_argument("--person-dir", default=None, help="extra labelled images: adult/ child/ none_photo/ illustration/")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run `limner eval safety`: run the safety stack over the labelled set, print its tables and write the
    report under --out. Returns 0; CliError on a missing prompt file, bad eval input or a bad policy."""
    from limner.cli.errors import CliError
    from limner.evals.safety import NAMED_SETS, EvalInputError, format_tables
    from limner.evals.safety import run as run_eval
    from limner.safety.policy import PolicyError

    if args.prompts and args.prompts not in NAMED_SETS and not Path(args.prompts).exists():
        raise CliError(f"--prompts file not found: {args.prompts} (or name a shipped set: {', '.join(NAMED_SETS)})")
    try:
        report = run_eval(
            args.prompts,
            args.out,
            xstest_path=args.xstest,
            i2p_path=args.i2p,
            i2p_limit=args.i2p_limit,
            chat_url=args.chat_url,
            with_images=not args.no_images,
            policy=args.policy,
            person_dir=args.person_dir,
        )
    except (EvalInputError, PolicyError) as e:
        raise CliError(str(e)) from None
    print(format_tables(report))
    print(f"wrote {Path(args.out) / 'report.json'}")
    return 0
