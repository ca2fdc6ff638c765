"""`limner safety`: check a prompt (and images) against the safety stack; list and export audit decisions.

    limner safety check "PROMPT" [--image FILE]... [--age N] [--moderation auto|low] [--json]
    limner safety decisions [--limit N] [--user U] [--blocked] [--export FILE.jsonl|.csv]

Exit codes of `check`: 0 allowed, 3 refused (the code `limner generate` uses for a safety block), 2 bad input.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path
from typing import Any

BLOCKED_EXIT = 3


def add_parser(subparsers: Any) -> None:
    """Register `limner safety` with `check` and `decisions`; bare `limner safety` prints help and exits 2."""
    p = subparsers.add_parser("safety", help="check prompts and images against the safety stack; audit log")
    sub = p.add_subparsers(dest="safety_command", metavar="SUBCOMMAND")
    c = sub.add_parser("check", help="print every layer's verdict for a prompt (and images)")
    c.add_argument("prompt")
    c.add_argument("--image", action="append", default=[], metavar="FILE", help="an input image (repeatable)")
    c.add_argument("--output", action="store_true", help="treat --image files as generated outputs, not uploads")
    c.add_argument("--age", type=int, default=None)
    c.add_argument("--moderation", default="auto", choices=["auto", "low"])
    c.add_argument("--user", default=None, help="user or API key id, for the misuse score")
    c.add_argument("--policy", default=None, help="policy YAML (default: the shipped policy)")
    c.add_argument("--json", action="store_true", help="print one JSON object")
    c.set_defaults(func=run_check)
    d = sub.add_parser("decisions", help="list or export recorded decisions")
    d.add_argument("--limit", type=int, default=20)
    d.add_argument("--user", default=None)
    d.add_argument("--blocked", action="store_true", help="only refused decisions")
    d.add_argument("--export", default=None, metavar="FILE", help="write all matching decisions to .jsonl or .csv")
    d.add_argument("--json", action="store_true")
    d.set_defaults(func=run_decisions)
    p.set_defaults(func=lambda a: (p.print_help(), 2)[1])


def _stack(policy: str | None) -> Any:
    from limner.cli.errors import CliError
    from limner.safety.policy import PolicyError
    from limner.safety.stack import SafetyStack

    try:
        return SafetyStack.from_policy(policy)
    except PolicyError as e:
        raise CliError(f"bad policy: {e}") from None


def run_check(args: argparse.Namespace) -> int:
    """Run `limner safety check`: print every layer's verdict on the prompt and images (one JSON object with
    --json). Returns 0 when allowed, BLOCKED_EXIT when refused; CliError on bad input or a bad policy."""
    from limner.cli.errors import CliError
    from limner.errors import ImageInputError
    from limner.safety.image_io import load_image

    if args.age is not None and not 0 <= args.age <= 150:
        raise CliError(f"--age must be between 0 and 150, got {args.age}")
    stack = _stack(args.policy)
    try:
        images = []
        for f in args.image:
            try:
                images.append(load_image(f, max_pixels=int(stack.policy.image.get("max_pixels", 40_000_000))))
            except ImageInputError as e:
                raise CliError(str(e)) from None
        d = stack.check(
            args.prompt,
            images or None,
            age=args.age,
            moderation=args.moderation,
            user=args.user,
            stage="output" if args.output else "input",
            full=True,
        )
        if args.json:
            print(json.dumps(d.to_dict()))
        else:
            print(
                f"{'ALLOWED' if d.allowed else 'BLOCKED'} at stage {d.stage}"
                + (f": {', '.join(d.categories)}" if d.categories else "")
            )
            for v in d.verdicts:
                mark = "ok " if v.allowed else "BLOCK"
                extra = f" [{v.category}/{v.rule}]" if not v.allowed else ""
                print(f"  {mark:<5} {v.layer:<18}{extra} {v.reason}")
            if not d.allowed:
                print(f"reason: {d.reason}", file=sys.stderr)
    finally:
        stack.close()
    return 0 if d.allowed else BLOCKED_EXIT


def run_decisions(args: argparse.Namespace) -> int:
    """Run `limner safety decisions`: list the newest --limit audit decisions and users with a raised misuse
    status, or with --export write every matching decision to .jsonl or .csv (atomically). Returns 0;
    CliError on an unreadable audit store or a bad export name."""
    from limner.cli.errors import CliError
    from limner.safety.audit import AuditError, AuditStore
    from limner.safety.stack import SafetySettings

    path = SafetySettings().resolved().audit_path
    assert path is not None  # resolved() fills in the default
    if not Path(path).exists():
        print(f"no decisions recorded yet ({path})")
        return 0
    try:
        store = AuditStore(path)
    except AuditError as e:
        raise CliError(str(e)) from None
    rows = store.decisions(limit=0 if args.export else args.limit, user=args.user, blocked_only=args.blocked)
    if args.export:
        out = Path(args.export)
        if out.suffix not in (".jsonl", ".csv"):
            raise CliError(f"--export must end in .jsonl or .csv, got {out.name!r}")
        tmp = out.with_suffix(out.suffix + ".tmp")
        with tmp.open("w", newline="") as f:
            if out.suffix == ".jsonl":
                for r in rows:
                    f.write(json.dumps(r) + "\n")
            else:
                w = csv.writer(f)
                w.writerow(["id", "ts", "user", "stage", "allowed", "categories", "rules", "prompt", "image_hashes"])
                for r in rows:
                    w.writerow(
                        [
                            r["id"],
                            r["ts"],
                            r["user"],
                            r["stage"],
                            r["allowed"],
                            ";".join(r["categories"]),
                            ";".join(v["rule"] or "" for v in r["verdicts"] if not v["allowed"]),
                            r["prompt"],
                            json.dumps(r["image_hashes"]),
                        ]
                    )
        tmp.replace(out)  # never a half-written export
        print(f"exported {len(rows)} decisions to {out}")
    elif args.json:
        print(json.dumps(rows))
    else:
        for r in rows:
            cats = ",".join(r["categories"]) or "-"
            print(
                f"{r['id'][:12]}  {r['stage']:<6} {'allowed' if r['allowed'] else 'BLOCKED':<8} {cats:<20} "
                f"{r['user'] or '-':<12} {(r['prompt'] or '')[:60]!r}"
            )
        for u in store.users():
            if u.status != "ok":
                print(f"user {u.user}: misuse score {u.score:g}, {u.status}")
    store.close()
    return 0
