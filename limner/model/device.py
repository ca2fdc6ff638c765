"""Device names: `auto` resolved to the best device this torch build can use. Entry points (the CLI's `--device`,
`Pipeline.from_pretrained(device=...)`, the server's settings) call it once; everything below takes the name
they chose and puts its tensors beside the model's weights."""

from __future__ import annotations

import torch

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


def resolve_device(name: str) -> str:
    """The torch device name for `name` (auto | cpu | cuda | mps, or an indexed one such as cuda:1): auto takes a
    CUDA GPU when there is one, then Apple's MPS, else the CPU. ValueError naming the device when it is unknown
    or this torch build cannot use it. On CUDA, matrix products may use TF32 (the weights stay fp32)."""
    kind = name.split(":", 1)[0]
    if kind not in DEVICE_CHOICES or (kind != name and kind != "cuda"):
        raise ValueError(f"unknown device {name!r}: expected one of {', '.join(DEVICE_CHOICES)} (or cuda:N)")
    cuda = torch.cuda.is_available()
    mps = bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available()
    if kind == "auto":
        name = kind = "cuda" if cuda else "mps" if mps else "cpu"
    if kind == "cuda" and not cuda:
        raise ValueError(f"device {name!r}: this torch build sees no CUDA GPU (torch.cuda.is_available() is False)")
    if kind == "mps" and not mps:
        raise ValueError(f"device {name!r}: this torch build has no usable Apple MPS device")
    if kind == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    return name
