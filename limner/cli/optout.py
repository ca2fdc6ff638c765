"""`limner optout add|remove|list`: the public-figure opt-out registry.

limner optout add "NAME" [--alias A]... [--photo FILE]...
limner optout remove "NAME"
limner optout list [--json]
"""

from __future__ import annotations

import argparse
import json
from typing import Any


def add_parser(subparsers: Any) -> None:
    """Register `limner optout` with `add`, `remove` and `list`; bare `limner optout` prints help and exits 2."""
    p = subparsers.add_parser("optout", help="manage the opt-out registry of people who must not be depicted")
    sub = p.add_subparsers(dest="optout_command", metavar="SUBCOMMAND")
    a = sub.add_parser("add", help="add a person (name, aliases, reference photos)")
    a.add_argument("name")
    a.add_argument("--alias", action="append", default=[])
    a.add_argument("--photo", action="append", default=[], metavar="FILE", help="a reference photo with one face")
    a.set_defaults(func=run_add)
    r = sub.add_parser("remove", help="remove a person")
    r.add_argument("name")
    r.set_defaults(func=run_remove)
    li = sub.add_parser("list", help="list registered people")
    li.add_argument("--json", action="store_true")
    li.set_defaults(func=run_list)
    p.set_defaults(func=lambda a: (p.print_help(), 2)[1])


def _registry() -> Any:
    """The opt-out registry at the configured (or default) path."""
    from limner.safety.optout import OptOutRegistry
    from limner.safety.stack import SafetySettings

    path = SafetySettings().resolved().optout_path
    assert path is not None  # resolved() fills in the default
    return OptOutRegistry(path)


def run_add(args: argparse.Namespace) -> int:
    """Run `limner optout add`: register a person with aliases and reference photos and print the entry.
    Returns 0; CliError on an unreadable photo or when the registry refuses the entry."""
    from limner.cli.errors import CliError
    from limner.errors import ImageInputError
    from limner.safety.image_io import load_image
    from limner.safety.optout import OptOutError

    try:
        photos = [load_image(f) for f in args.photo]
        e = _registry().add(args.name, aliases=args.alias, photos=photos)
    except (ImageInputError, OptOutError) as err:
        raise CliError(str(err)) from None
    print(f"opted out: {e.name} (aliases: {', '.join(e.aliases) or '-'}; reference faces: {e.n_faces})")
    return 0


def run_remove(args: argparse.Namespace) -> int:
    """Run `limner optout remove`: delete a person from the registry. Returns 0; CliError for an unknown name."""
    from limner.cli.errors import CliError
    from limner.safety.optout import OptOutError

    try:
        _registry().remove(args.name)
    except OptOutError as err:
        raise CliError(str(err)) from None
    print(f"removed: {args.name}")
    return 0


def run_list(args: argparse.Namespace) -> int:
    """Run `limner optout list`: print each person with aliases and reference-face count (a JSON array with
    --json). Returns 0."""
    entries = _registry().entries()
    if args.json:
        print(json.dumps([{"name": e.name, "aliases": e.aliases, "faces": e.n_faces} for e in entries]))
    elif not entries:
        print("the opt-out registry is empty")
    else:
        for e in entries:
            print(f"{e.name}\taliases: {', '.join(e.aliases) or '-'}\tfaces: {e.n_faces}")
    return 0
