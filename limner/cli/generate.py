"""`limner generate "PROMPT" -o image.png`: prompt -> images through the full pipeline."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from limner.cli.devices import add_device_option, pick_device
from limner.cli.main import CliError
from limner.limits import MAX_N, MAX_OUTPUT_SIDE, MIN_N, MIN_OUTPUT_SIDE

if TYPE_CHECKING:
    from limner.engine.decode import SamplingParams
    from limner.studio.routing import Route

FORMATS = {"png": "png", "webp": "webp", "jpeg": "jpeg", "jpg": "jpeg"}
EXIT_BLOCKED = 3


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register `limner generate`: the prompt, output, size/quality/format, sampling and safety flags, the
    conversation flags, and --image / --mask for edits and references."""
    p = sub.add_parser(
        "generate",
        help="generate images from a prompt",
        description="Generate images from a prompt with the native model. Every image passes the safety "
        "stack and is watermarked, C2PA-signed and indexed before it is written. Exit codes: 0 ok, "
        "2 bad input, 3 blocked by the safety stack.",
    )
    p.add_argument("prompt", help="what to draw (1..32000 characters)")
    # not "out": `make demo` writes into an out/ directory, which a default of out would then collide with
    p.add_argument("-o", "--out", default="image",
                   help="output path (default image.png, or image.webp / image.jpg with --format); with --n > 1, "
                   "files get -1, -2, ... suffixes")
    p.add_argument("--n", type=int, default=1, help=f"number of images, {MIN_N}-{MAX_N} (default 1)")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: random)")
    p.add_argument("--size", default="auto",
                   help="WxH or auto (default). The model draws 256x256, 384x256 and 256x384; any other size "
                   f"({MIN_OUTPUT_SIDE}-{MAX_OUTPUT_SIDE} px a side, e.g. 1024x1024) is drawn at the nearest "
                   "aspect and resized, and the output says so")
    p.add_argument("--quality", default="auto", choices=("low", "medium", "high", "auto"))
    p.add_argument("--background", default="auto", choices=("auto", "opaque", "transparent"))
    p.add_argument("--format", default=None, help="png, webp or jpeg (default: from the --out suffix, else png)")
    p.add_argument("--compression", type=int, default=None, help="0-100 quality for jpeg/webp")
    p.add_argument("--checkpoint", default=None, help="model checkpoint (default: the shipped model)")
    add_device_option(p)
    add_sampling_args(p)
    p.add_argument("--moderation", default="auto", choices=("auto", "low"))
    p.add_argument("--age", type=int, default=None, help="the user's age, for the safety stack's age tiers")
    p.add_argument("--user", default=None, help="user id recorded in the audit log and provenance index")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of plain lines")
    add_conversation_args(p)
    p.add_argument("--image", action="append", default=None, metavar="IN.png",
                   help="an image in context: the prompt is then an edit instruction for it (or, when the prompt "
                   "names 'the object in this image', a reference); repeat for several references")
    p.add_argument("--mask", default=None, metavar="MASK.png",
                   help="with --image: an RGBA mask of the same size; alpha 0 marks the area to edit")
    p.set_defaults(func=run)


def novel_temperature_arg(value: str) -> float:
    """argparse type of --novel-temperature: a temperature >= 0, or 'off' (-1: one temperature for every code)."""
    if value.strip().lower() == "off":
        return -1.0
    try:
        t = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number >= 0 or 'off', got {value!r}") from None
    if t < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0 or 'off', got {value!r}")
    return t


def add_sampling_args(p: argparse.ArgumentParser) -> None:
    """The prior's sampling options; each defaults to the engine's (limner.engine.decode.SamplingParams, not
    imported here: building the parser must not load torch)."""
    p.add_argument("--temperature", type=float, default=None,
                   help="temperature of the prior's continue-or-change decision, or of every code with "
                   "--novel-temperature off (default: the engine's)")
    p.add_argument("--novel-temperature", type=novel_temperature_arg, default=None,
                   help="temperature of the code drawn where the image changes (an edge, an object), or 'off' for "
                   "one temperature everywhere (default: the engine's)")
    p.add_argument("--layout-temperature", type=float, default=None,
                   help="temperature of a layout prior's layout tokens (which objects, where); default: the "
                   "engine's (--temperature)")
    p.add_argument("--layout-tries", type=int, default=None,
                   help="layouts the prior draws per image, keeping the first with its objects apart and on the "
                   "canvas (a verifier; nothing is moved); 1 = plain sampling (default: the engine's, 4)")
    p.add_argument("--top-k", type=int, default=None,
                   help="keep the k likeliest codes, 0 = off (default: the engine's)")
    p.add_argument("--top-p", type=float, default=None, help="nucleus sampling mass, 1 = off (default: the engine's)")
    p.add_argument("--cfg", "--cfg-scale", dest="cfg", type=float, default=None,
                   help="classifier-free guidance scale (default: the engine's)")
    p.add_argument("--paint", action="store_true", default=None,
                   help="opt-in assisted mode (paint mode, model/paint.py): code replaces a text-free image's codes "
                   "by one background code, keeps its objects on the canvas and apart, and composites layers; the "
                   "output says 'pixel path: paint' (default off: the decoder draws the transformer's own codes)")


def sampling_from_args(args: argparse.Namespace) -> SamplingParams:
    """The engine's SamplingParams with the options given on the command line; CliError names a bad one."""
    import dataclasses

    from limner.engine.decode import SamplingParams

    sp = SamplingParams()
    given = {"temperature": args.temperature, "top_k": args.top_k, "top_p": args.top_p, "cfg_scale": args.cfg,
             "layout_temperature": args.layout_temperature, "paint": args.paint, "layout_tries": args.layout_tries}
    sp = dataclasses.replace(sp, **{k: v for k, v in given.items() if v is not None})
    if args.novel_temperature is not None:
        sp.novel_temperature = None if args.novel_temperature < 0 else args.novel_temperature
    try:
        sp.validate()
    except ValueError as e:
        raise CliError(str(e)) from None
    return sp


def add_conversation_args(p: argparse.ArgumentParser) -> None:
    """Thinking mode, best-of-N and the planner: shared by `generate` and `chat`."""
    p.add_argument("--think", action="store_true", default=None,
                   help="plan the prompt first (thinking mode): prints the revised prompt; several images when "
                   "the prompt asks ('three variations'). Default: on for --quality high")
    p.add_argument("--no-think", dest="think", action="store_false", help="never plan (even with --quality high)")
    p.add_argument("--best-of", type=int, default=None, metavar="N",
                   help="sample N candidates per image and keep the one the verifier scores best "
                   "(1-8; default 4 for a planned picture (--think, --quality high) and for an edit, 1 with --quality "
                   "low or without planning)")
    p.add_argument("--planner-url", default=None, metavar="URL",
                   help="an OpenAI-compatible chat endpoint for thinking mode (default $LIMNER_PLANNER_URL); "
                   "the built-in planner is used when it is unset or down")
    p.add_argument("--planner-model", default="default", help="model name sent to --planner-url")


def output_paths(out: str, n: int, fmt: str) -> list[Path]:
    """The files `n` images go to: `out` (its suffix set to the format's unless it already is an image
    suffix), with -1, -2, ... before the suffix when n > 1. CliError when `out` is a directory."""
    base = Path(out)
    if base.is_dir():
        raise CliError(f"output path {out!r} is a directory; give a file name such as {out.rstrip('/')}/image.png")
    if base.suffix.lower().lstrip(".") not in FORMATS:
        base = base.with_suffix("." + ("jpg" if fmt == "jpeg" else fmt))
    if n == 1:
        return [base]
    return [base.with_name(f"{base.stem}-{i + 1}{base.suffix}") for i in range(n)]


def check_writable(paths: list[Path]) -> None:
    """Fail before the model loads: CliError when a path's directory is missing, the path is a directory,
    or the file or its directory is not writable."""
    for p in paths:
        parent = p.parent if str(p.parent) else Path(".")
        if not parent.is_dir():
            raise CliError(f"output directory {str(parent)!r} does not exist")
        if p.is_dir():
            raise CliError(f"output path {str(p)!r} is a directory")
        if (p.exists() and not os.access(p, os.W_OK)) or not os.access(parent, os.W_OK):
            raise CliError(f"output path {str(p)!r} is not writable")


def resolve_format(args: argparse.Namespace) -> str:
    """The output format: --format (CliError if unknown), else the --out suffix's, else png; 'jpg' -> 'jpeg'."""
    if args.format is not None:
        f = args.format.lower()
        if f not in FORMATS:
            raise CliError(f"unknown format {args.format!r}: expected png, webp or jpeg")
        suffix = Path(args.out).suffix.lower().lstrip(".")
        if suffix in FORMATS and FORMATS[suffix] != FORMATS[f]:  # WebP bytes in x.png would mislead every viewer
            raise CliError(f"--format {args.format} does not match the output file {args.out!r}: "
                           f"name it *.{'jpg' if FORMATS[f] == 'jpeg' else FORMATS[f]} or drop --format")
        return FORMATS[f]
    suffix = Path(args.out).suffix.lower().lstrip(".")
    return FORMATS.get(suffix, "png")


def validate(args: argparse.Namespace) -> Route:
    """Check `limner generate`'s arguments before any model loads and return the turn's route (studio/routing.py);
    CliError names the first bad one (prompt, --n, --size, --compression, --best-of, an edit or --mask without
    --image, a missing input file)."""
    from limner.limits import check_best_of, check_n, check_prompt, parse_output_size

    # the rules of limits.py, each named by its flag
    checks: list[tuple[str, Callable[[Any], object], object]] = [("", check_prompt, args.prompt),
                                                                 ("--", check_n, args.n)]
    checks += [("", parse_output_size, args.size)] if args.size != "auto" else []
    checks += [("--", check_best_of, args.best_of)] if args.best_of is not None else []
    for dashes, check, value in checks:
        try:
            check(value)
        except ValueError as e:
            raise CliError(f"{dashes}{str(e).replace('best_of', 'best-of')}") from e
    if args.compression is not None and not 0 <= args.compression <= 100:
        raise CliError(f"--compression must be within 0..100, got {args.compression}")
    if args.mask is not None and not args.image:
        raise CliError("--mask needs --image: the image the mask applies to")
    from limner.studio.routing import NothingToEdit, route_turn

    try:
        route = route_turn(args.prompt, uploads=len(args.image or []), mask=args.mask is not None)
    except NothingToEdit as e:
        raise CliError(f"{e} (pass the image to edit with --image IN.png, or use `limner chat`)") from e
    for path in [*(args.image or []), *([args.mask] if args.mask else [])]:
        if not Path(path).is_file():
            raise CliError(f"input image {path!r} does not exist or is not a file")
    return route


def progress_bar() -> object | None:
    """A tqdm callback for the pipeline's `progress` (tokens sampled, then decoding) when stderr is a
    terminal; None otherwise."""
    if not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    bar = tqdm(total=1, unit="tok", desc="sampling", leave=False)

    def cb(stage: str, done: int, total: int, _images: object) -> None:
        if stage == "tokens":
            bar.total = total
            bar.n = done
            bar.refresh()
        else:
            bar.set_description("decoding")
            bar.close()

    return cb


def run(args: argparse.Namespace) -> int:
    """Run `limner generate`: draw (or, with --image, edit or use references), write the files and print
    their paths, or one JSON object with --json. Returns 0, or EXIT_BLOCKED when the safety stack
    refuses; CliError on bad input or an unwritable output."""
    route = validate(args)
    fmt = resolve_format(args)
    count = args.n
    if not args.image and args.think is not False and (args.think or args.quality == "high"):
        from limner.limits import MAX_PLANNED_IMAGES
        from limner.studio.planner import multi_image_request

        k = multi_image_request(args.prompt)[0]
        count = max(count, min(k, MAX_PLANNED_IMAGES))  # "three variations": one file per planned image
    paths = output_paths(args.out, count, fmt)
    check_writable(paths)

    from limner.errors import InvalidRequest, SafetyBlocked
    from limner.model.checkpoint import CheckpointError
    from limner.pipeline import Pipeline

    try:
        pipe = Pipeline.from_pretrained(args.checkpoint, planner_url=args.planner_url,
                                        planner_model=args.planner_model, device=pick_device(args.device))
    except CheckpointError as e:
        raise CliError(str(e)) from e
    sampling = sampling_from_args(args)
    common = dict(n=args.n, seed=args.seed, quality=args.quality, background=args.background, output_format=fmt,
                  output_compression=args.compression, moderation=args.moderation, user=args.user, age=args.age,
                  sampling=sampling, progress=progress_bar(), best_of=args.best_of)
    try:
        if route.action == "edit":
            if len(args.image) > 1:
                raise CliError("an edit takes one --image; several images are references named by the prompt")
            result = pipe.edit(args.image[0], args.prompt, mask=args.mask, **common)
        else:
            result = pipe(args.prompt, size=args.size, think=args.think, references=args.image,
                          **common)
    except InvalidRequest as e:
        raise CliError(str(e)) from e
    except SafetyBlocked as e:
        d = e.decision
        body = {
            "error": {"code": "moderation_blocked", "message": str(e), "moderation_details": d.moderation_details()}
        }
        print(
            json.dumps(body) if args.json else f"limner: blocked ({', '.join(d.categories)}): {d.reason}",
            file=sys.stdout if args.json else sys.stderr,
        )
        return EXIT_BLOCKED
    written = []
    for img, path in zip(result.images, paths, strict=False):
        try:
            img.save(path)
        except OSError as e:
            raise CliError(f"cannot write {str(path)!r}: {e.strerror or e}") from e
        written.append(str(path))
    if args.json:
        print(
            json.dumps(
                {
                    "request_id": result.request_id,
                    "paths": written,
                    "size": list(result.size),
                    "native_size": list(result.native_size) if result.native_size else None,
                    "payloads": [i.payload for i in result.images],
                    "revised_prompts": result.revised_prompts,
                    "notes": result.notes,
                    "pixel_path": result.pixel_path,
                }
            )
        )
    else:
        for note in result.notes:
            print(f"limner: note: {note}", file=sys.stderr)
        if result.pixel_path != "native":
            print(f"limner: pixel path: {result.pixel_path} (not the model alone; see docs/ARCHITECTURE.md)",
                  file=sys.stderr)
        planned = result.planner or result.revised_prompts != [args.prompt] * len(written)
        for p, rp in zip(written, result.revised_prompts or [""] * len(written), strict=False):
            print(f"{p}\t{rp}" if planned and rp else p)
    return 0
