"""`limner train STAGE`: train the tokenizer/decoder or the prior; resumable; DDP under torchrun."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from limner.cli.devices import add_device_option, pick_device
from limner.cli.main import CliError


def _draw_loss(draw_or_warn: Callable[..., Path | None], loss_chart: Callable[..., Path], log_path: Path) -> None:
    """loss.png beside the trainer's log; a chart that fails to draw only says so (the run is kept)."""
    draw_or_warn(loss_chart, log_path, log_path.with_name("loss.png"), warn=lambda m: print(m, flush=True))


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register `limner train STAGE` and its options."""
    p = sub.add_parser(
        "train",
        help="train a model stage (tokenizer, decoder or prior)",
        description="Train one stage of the native model. Re-running with the same --out resumes from "
        "OUT/state.pt. For several processes: torchrun --nproc-per-node N -m limner.cli.main train ...",
    )
    p.add_argument(
        "stage",
        nargs="?",
        choices=("tokenizer", "decoder", "prior"),
        help="tokenizer: FSQ tokenizer + diffusion decoder; decoder: the decoder alone on a frozen "
        "tokenizer (needs --init); prior: the transformer (needs --tokenizer)",
    )
    p.add_argument("--out", help="output directory (model.safetensors, state.pt, log.jsonl); required to train")
    p.add_argument("--list-sizes", action="store_true",
                   help="print the named model sizes with their parameters, training FLOPs per image and memory, "
                   "and exit")
    p.add_argument(
        "--size",
        default=None,
        help="named model size: the whole model of a fresh tokenizer stage (default small); for the prior "
        "stage, the prior's architecture (default: the one in the --tokenizer checkpoint's config)",
    )
    p.add_argument("--tokenizer", help="tokenizer-stage checkpoint the prior stage trains on")
    p.add_argument("--init", help="initialise weights from this checkpoint (e.g. the shipped model)")
    p.add_argument("--data", help="folder or webdataset .tar shards of captioned images instead of procedural scenes")
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--crop", type=int, default=128, help="decoder training crop in pixels (tokenizer stage)")
    p.add_argument(
        "--flow-weight",
        type=float,
        default=1.0,
        help="tokenizer stage: weight of the decoder's flow loss; 0 trains the tokenizer alone (faster), "
        "then train the decoder with the decoder stage",
    )
    p.add_argument(
        "--novel-weight",
        type=float,
        default=0.0,
        help="prior stage: extra loss weight of image codes unlike the code before them (the ones the prompt "
        "decides: first code, edges, colours); 0 = plain mean (default)",
    )
    p.add_argument(
        "--mix",
        default=None,
        help="procedural data: tag weights such as single_object=1,colors=0.5 (default: the data engine's "
        "TRAIN_MIX over every tag)",
    )
    p.add_argument(
        "--layout-weight",
        type=float,
        default=1.0,
        help="prior stage: weight of the layout tokens' mean cross-entropy in the loss (default 1)",
    )
    p.add_argument(
        "--first-code-weight",
        type=float,
        default=0.0,
        help="prior stage: weight of each image's first code (its background, usually) in the loss, added to "
        "the mean over all codes (default 0)",
    )
    p.add_argument(
        "--recolour",
        type=float,
        default=0.0,
        help="procedural data: share of white-background scenes redrawn on a random coloured background, "
        "for the decoder stage (captions are not rewritten; the decoder does not read them; default 0)",
    )
    p.add_argument(
        "--coloured",
        type=float,
        default=0.0,
        help="procedural data: share of examples drawn only from scenes on a coloured background, captions "
        "naming it (the data engine's own share is ~16%%; any stage; default 0)",
    )
    p.add_argument(
        "--paraphrase",
        type=float,
        default=0.0,
        help="procedural data: share of examples whose caption is rewritten from their record by a freer "
        "grammar (data/paraphrase.py: other word orders, colour forms, relation phrasings; default 0)",
    )
    p.add_argument(
        "--layout-count",
        action="store_true",
        help="prior stage: give a continued prior's layout tokens an embedding of how many objects the "
        "layout has written (PriorConfig.layout_count; added at zero)",
    )
    p.add_argument(
        "--glyph-refine",
        type=int,
        default=0,
        metavar="WIDTH",
        help="decoder stage: give the decoder a full-resolution text head of this width (model/glyph_refine.py) "
        "if --init has none, and train that head alone, the rest frozen (use with --mix text=1)",
    )
    p.add_argument(
        "--prior-codes",
        type=float,
        default=0.0,
        metavar="SHARE",
        help="decoder stage: this share of examples is decoded from codes the --init model's frozen prior samples "
        "for their caption and true layout, not from the tokenizer's codes of the true image, so the decoder "
        "learns to read the codes the default native path gives it (train/prior_codes.py; default 0)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = default)")
    add_device_option(p)
    p.add_argument("--workers", type=int, default=0,
                   help="data-loader processes rendering batches beside training (0 = in the training loop; "
                   "a GPU needs several to be kept busy)")
    p.add_argument("--accum", type=int, default=1,
                   help="micro-batches of --batch-size per optimizer step and process (gradient accumulation; the "
                   "global batch is batch-size x processes x accum)")
    p.add_argument("--shard-optimizer", action="store_true",
                   help="ZeRO stage 1 under torchrun: each process keeps only its share of the AdamW state "
                   "(torch's ZeroRedundancyOptimizer), for sizes whose optimizer state does not fit every device; "
                   "checkpoints hold the whole state, so a run resumes at any number of processes")
    p.add_argument("--amp", action=argparse.BooleanOptionalAction, default=True,
                   help="bf16 autocast on CUDA, with fp32 weights and optimizer state (default on; no effect on CPU)")
    p.add_argument("--stop-after", type=int, default=0, metavar="STEPS",
                   help="stop and save once this many steps are done, keeping the learning-rate schedule of --steps "
                   "(continue later by running again; 0 = run to --steps)")
    p.add_argument("--max-file-mb", type=float, default=0.0, metavar="MB",
                   help="write model.safetensors and state.pt in parts of at most this many MB (NAME.part000, ...; "
                   "every loader reads them), for transfers that cap file sizes; 0 = one file each (default)")
    p.add_argument("--minutes", type=float, default=0.0,
                   help="wall-clock budget: stop after this many minutes of training, with the learning-rate "
                   "schedule run over whichever of --steps and the budget ends first (0 = none)")
    p.add_argument("--log-every", type=int, default=10)
    p.add_argument("--save-every", type=int, default=200)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """`limner train`: validate the options, train the stage, print where the checkpoint is; CliError on bad input."""
    from limner.evals.charts import draw_or_warn, loss_chart  # matplotlib loads only here
    from limner.evals.fresh import heldout_exclusions
    from limner.model.checkpoint import CheckpointError
    from limner.train.run import parse_mix, train
    from limner.train.trainer import TrainConfig

    if args.list_sizes:
        from limner.model.sizes import sizes_table

        print(sizes_table())
        return 0
    if args.stage is None or args.out is None:
        raise CliError("give the STAGE to train (tokenizer, decoder or prior) and --out DIR, or --list-sizes")
    for name in ("steps", "batch_size", "log_every", "save_every"):
        if getattr(args, name) < 1:
            raise CliError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if args.flow_weight < 0:
        raise CliError(f"--flow-weight must be >= 0, got {args.flow_weight}")
    try:
        mix = parse_mix(args.mix) if args.mix is not None else None
    except ValueError as e:
        raise CliError(str(e)) from e
    if args.novel_weight < 0:
        raise CliError(f"--novel-weight must be >= 0, got {args.novel_weight}")
    if args.first_code_weight < 0:
        raise CliError(f"--first-code-weight must be >= 0, got {args.first_code_weight}")
    if args.layout_weight < 0:
        raise CliError(f"--layout-weight must be >= 0, got {args.layout_weight}")
    if not 0 <= args.recolour <= 1:
        raise CliError(f"--recolour must be in [0, 1], got {args.recolour}")
    if not 0 <= args.paraphrase <= 1:
        raise CliError(f"--paraphrase must be in [0, 1], got {args.paraphrase}")
    if not 0 <= args.coloured <= 1:
        raise CliError(f"--coloured must be in [0, 1], got {args.coloured}")
    if args.recolour and args.stage == "prior":
        raise CliError("--recolour is for the tokenizer and decoder stages: it leaves captions naming white")
    if args.glyph_refine < 0:
        raise CliError(f"--glyph-refine must be >= 0, got {args.glyph_refine}")
    if not 0 <= args.prior_codes <= 1:
        raise CliError(f"--prior-codes must be in [0, 1], got {args.prior_codes}")
    if args.prior_codes and args.stage != "decoder":
        raise CliError(f"--prior-codes is for the decoder stage, not {args.stage!r}")
    if args.lr <= 0:
        raise CliError(f"--lr must be > 0, got {args.lr}")
    for name in ("workers", "max_file_mb", "stop_after", "minutes"):
        if getattr(args, name) < 0:
            raise CliError(f"--{name.replace('_', '-')} must be >= 0, got {getattr(args, name)}")
    if args.accum < 1:
        raise CliError(f"--accum must be >= 1, got {args.accum}")
    tcfg = TrainConfig(
        stage=args.stage,
        out_dir=args.out,
        steps=args.steps,
        batch_size=args.batch_size,
        lr=args.lr,
        warmup=args.warmup,
        seed=args.seed,
        log_every=args.log_every,
        save_every=args.save_every,
        threads=args.threads,
        device=pick_device(args.device),
        workers=args.workers,
        minutes=args.minutes,
        accum=args.accum,
        shard_optimizer=args.shard_optimizer,
        amp=args.amp,
        stop_after=args.stop_after,
        max_file_mb=args.max_file_mb,
    )
    try:
        last = train(
            args.stage,
            tcfg,
            size=args.size,
            init=args.init,
            tokenizer_ckpt=args.tokenizer,
            crop=args.crop,
            flow_weight=args.flow_weight,
            data=args.data,
            novel_weight=args.novel_weight,
            mix=mix,
            layout_weight=args.layout_weight,
            first_weight=args.first_code_weight,
            recolour=args.recolour,
            paraphrase=args.paraphrase,
            coloured=args.coloured,
            layout_count=args.layout_count,
            glyph_refine=args.glyph_refine,
            prior_codes=args.prior_codes,
            heldout=heldout_exclusions(),
            log=lambda s: print(s, flush=True),
            on_finish=lambda log_path: _draw_loss(draw_or_warn, loss_chart, log_path),
        )
    except (CheckpointError, ValueError, FileNotFoundError) as e:
        raise CliError(str(e)) from e
    print(f"wrote {args.out}/model.safetensors (final: " + ", ".join(f"{k}={v:.4g}" for k, v in last.items()) + ")")
    return 0
