"""The `limner` command: builds the parser from the command modules listed in COMMANDS.

Each command module exposes `add_parser(subparsers) -> None`, which registers its sub-command and
sets `func=run` on it, where `run(args) -> int` returns the process exit code. Modules are imported
lazily by name so that `limner --help` stays fast and a broken optional dependency of one command
cannot break the others.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from limner.cli.errors import CliError
from limner.version import __version__

__all__ = ["CliError", "build_parser", "main"]

# Sub-command modules, in the order `limner --help` lists them.
COMMANDS: tuple[str, ...] = (
    "limner.cli.generate",
    "limner.cli.chat",
    "limner.cli.train",
    "limner.cli.export",
    "limner.cli.eval",
    "limner.cli.verify",
    "limner.cli.safety",
    "limner.cli.optout",
    "limner.cli.serve",
)


def build_parser() -> argparse.ArgumentParser:
    """The `limner` parser with every command module in COMMANDS; a module that does not exist is skipped,
    any other import error propagates."""
    p = argparse.ArgumentParser(prog="limner", description="limner: open native multimodal image generation")
    p.add_argument("--version", action="version", version=f"limner {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            mod = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name == name:  # command not built yet
                continue
            raise
        mod.add_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of `limner`: parse `argv` (default sys.argv[1:]) and run the command; returns its exit
    code, 2 on a CliError (printed as `limner: error: ...`) or no command, 130 on Ctrl-C."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except CliError as e:
        print(f"limner: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("limner: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
