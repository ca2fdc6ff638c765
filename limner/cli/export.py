"""`limner export`: assemble a shippable checkpoint from training outputs."""

from __future__ import annotations

import argparse

from limner.cli.main import CliError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="assemble a shippable checkpoint from training stages",
        description="Write one self-contained checkpoint (config, text vocabulary, tokenizer, "
        "decoder, prior) from a prior-stage checkpoint and, optionally, a refined decoder.",
    )
    p.add_argument("--prior", required=True, help="prior-stage model.safetensors (a complete model)")
    p.add_argument("--decoder", help="decoder-stage model.safetensors to take the decoder from")
    p.add_argument("--out", required=True, help="output .safetensors path")
    p.add_argument("--fp32", action="store_true", help="store float32 (default float16: half the size)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from limner.model.checkpoint import CheckpointError, file_sha256
    from limner.train.export import export

    try:
        path = export(args.prior, args.out, args.decoder, half=not args.fp32)
    except CheckpointError as e:
        raise CliError(str(e)) from e
    print(f"{path} sha256={file_sha256(path)} size={path.stat().st_size / 1e6:.1f} MB")
    return 0
