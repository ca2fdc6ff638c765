"""`--device auto|cpu|cuda|mps` on the commands that run the model (generate, eval, chat, serve, train):
registered here, resolved once by model/device.py."""

from __future__ import annotations

import argparse

from limner.cli.errors import CliError


def add_device_option(p: argparse.ArgumentParser) -> None:
    """Register `--device` on a subcommand."""
    p.add_argument("--device", default="auto", metavar="{auto,cpu,cuda,mps}",
                   help="where the model runs: auto (a CUDA GPU, else MPS, else the CPU; default), cpu, cuda[:N] or "
                   "mps")


def pick_device(name: str) -> str:
    """The torch device name for a `--device` value; CliError naming it when unknown or absent."""
    from limner.model.device import resolve_device  # torch loads here, not when the option is registered

    try:
        return resolve_device(name)
    except ValueError as e:
        raise CliError(f"--device: {e}") from e
