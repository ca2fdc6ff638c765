"""`limner export`: assemble a shippable checkpoint from training outputs."""

from __future__ import annotations

import argparse

from limner.cli.main import CliError


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register `limner export`: --prior, optional --decoder, --out and --fp32."""
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
    p.add_argument("--max-file-mb", type=float, default=0.0, metavar="MB",
                   help="write the checkpoint in parts of at most this many MB (OUT.part000, ...; every loader "
                   "reads them) when it is larger; 0 = one file (default)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run `limner export`: write the shippable checkpoint (float16 unless --fp32) and print its path, sha256
    and size. Returns 0; CliError when an input checkpoint is unusable."""
    from limner.model.checkpoint import CheckpointError, file_sha256, part_paths
    from limner.train.export import export

    if args.max_file_mb < 0:
        raise CliError(f"--max-file-mb must be >= 0, got {args.max_file_mb}")
    try:
        path = export(args.prior, args.out, args.decoder, half=not args.fp32, max_bytes=int(args.max_file_mb * 1e6))
    except CheckpointError as e:
        raise CliError(str(e)) from e
    files = [path] if path.is_file() else part_paths(path)
    size = sum(f.stat().st_size for f in files) / 1e6
    parts = f" in {len(files)} parts" if len(files) > 1 else ""
    print(f"{path} sha256={file_sha256(path)} size={size:.1f} MB{parts}")
    return 0
