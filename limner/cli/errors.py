"""The CLI's user-facing error, in its own module so every entry point (`limner`, `python -m
limner.cli.main`, torchrun) catches the same class."""


class CliError(Exception):
    """A user-facing error: printed as `limner: error: ...` with exit code 2, never as a traceback."""
