"""`--device auto|cpu|cuda|mps`: the one place a device is chosen (entry points call it; the library takes the
name it returns). `auto` takes a CUDA GPU when there is one, then Apple's MPS, else the CPU."""

from __future__ import annotations

import argparse

from limner.cli.errors import CliError

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


def add_device_option(p: argparse.ArgumentParser) -> None:
    """Register `--device` on a subcommand."""
    p.add_argument("--device", default="auto", choices=DEVICE_CHOICES,
                   help="where the model runs: auto (a CUDA GPU, else MPS, else the CPU; default), cpu, cuda or mps")


def pick_device(name: str) -> str:
    """The torch device name for a `--device` value; CliError naming it when that device is absent. On CUDA,
    matrix products may use TF32 (limner's models are small and loss-tolerant; the weights stay fp32)."""
    import torch  # here, not at import: registering the option must not load torch

    if name not in DEVICE_CHOICES:
        raise CliError(f"unknown --device {name!r}: expected one of {', '.join(DEVICE_CHOICES)}")
    cuda = torch.cuda.is_available()
    mps = bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available()
    if name == "auto":
        name = "cuda" if cuda else "mps" if mps else "cpu"
    if name == "cuda" and not cuda:
        raise CliError("--device cuda: this torch build sees no CUDA GPU (torch.cuda.is_available() is False)")
    if name == "mps" and not mps:
        raise CliError("--device mps: this torch build has no usable Apple MPS device")
    if name == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    return name
