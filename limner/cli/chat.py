"""`limner chat`: a terminal conversation that keeps its images in context.

Each line you type is a turn, read by the learned instruction reader: a description draws a new image, an
edit instruction in ordinary words ("make the star green", "could you add a blue ring in the top left?",
"make it bigger and move it left", "change the text to 'SALE'") edits the current one and keeps the rest
exactly, "undo" / "go back" returns to the image before, and a turn about nothing drawable gets a message.
Commands: `/image PATH` attaches an image to the next turn (to edit, or as a reference
"like the object in this image, but ..."), `/mask PATH` a mask (alpha 0 = area to edit), `/plan` shows
the current scene plan, `/quit` ends. Every image is written to --out-dir as turn-N.png (watermarked and
signed like any other) and its path is printed. Reads from a pipe too, one turn per line.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from limner.cli.devices import add_device_option, pick_device
from limner.cli.errors import CliError
from limner.cli.generate import EXIT_BLOCKED, add_conversation_args


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register `limner chat`: --out-dir, --seed, --quality, --checkpoint and the conversation flags."""
    p = sub.add_parser("chat", help="a terminal conversation that keeps images in context (edits, references)",
                       description=__doc__.split("\n\n")[1] if __doc__ else None)
    p.add_argument("--out-dir", type=Path, default=Path("chat"), help="where turn-N.png go (default ./chat)")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--quality", default="auto", choices=("low", "medium", "high", "auto"))
    p.add_argument("--checkpoint", default=None, help="model checkpoint (default: the shipped model)")
    add_device_option(p)
    add_conversation_args(p)
    p.set_defaults(func=run)


def _say(msg: str) -> None:
    print(msg, flush=True)


def run(args: argparse.Namespace) -> int:
    """Run `limner chat`: one turn per input line until /quit or end of input, each image written to --out-dir.

    Returns 0, or EXIT_BLOCKED when piped input is refused by the safety stack (interactively a refusal
    is printed and the chat goes on); CliError on a bad --best-of, --out-dir or checkpoint."""
    from limner.errors import InvalidRequest, SafetyBlocked
    from limner.model.checkpoint import CheckpointError
    from limner.pipeline import Pipeline

    if args.best_of is not None and not 1 <= args.best_of <= 8:
        raise CliError(f"--best-of must be between 1 and 8, got {args.best_of}")
    if args.out_dir.exists() and not args.out_dir.is_dir():
        raise CliError(f"--out-dir {str(args.out_dir)!r} exists and is not a directory")
    args.out_dir.mkdir(parents=True, exist_ok=True)
    try:
        pipe = Pipeline.from_pretrained(args.checkpoint, planner_url=args.planner_url,
                                        planner_model=args.planner_model, device=pick_device(args.device))
    except CheckpointError as e:
        raise CliError(str(e)) from e
    defaults = {"quality": args.quality, "think": True if args.think is None else args.think}
    if args.seed is not None:
        defaults["seed"] = args.seed
    if args.best_of is not None:
        defaults["best_of"] = args.best_of
    conv = pipe.chat(**defaults)
    uploads: list[str] = []
    mask: str | None = None
    turn = 0
    interactive = sys.stdin.isatty()
    if interactive:
        _say("limner chat: describe an image, then refine it. /image PATH, /mask PATH, /plan, /quit")
    while True:
        try:
            line = input("you> " if interactive else "")
        except EOFError:
            break
        line = line.strip()
        if not line:
            continue
        if line in ("/quit", "/exit"):
            break
        if line.startswith(("/image ", "/mask ")):
            cmd, _, path = line.partition(" ")
            if not Path(path).is_file():
                _say(f"limner: error: {path!r} does not exist or is not a file")
                continue
            if cmd == "/image":
                uploads.append(path)
            else:
                mask = path
            _say(f"attached {path}")
            continue
        if line == "/plan":
            _say(json.dumps(conv.plan.to_dict()) if conv.plan is not None else "(no plan yet)")
            continue
        try:
            res = conv.send(line, images=uploads or None, mask=mask)
        except InvalidRequest as e:
            _say(f"limner: error: {e}")
            continue
        except SafetyBlocked as e:
            _say(f"limner: blocked: {e}")
            if not interactive:
                return EXIT_BLOCKED
            continue
        finally:
            uploads, mask = [], None
        for note in res.notes:
            _say(f"note: {note}")
        for i, (im, rp) in enumerate(zip(res.images, res.revised_prompts, strict=False)):
            turn += 1
            path = args.out_dir / f"turn-{turn}.{im.format}"
            im.save(path)
            _say(f"{path}\t{rp}" + ("" if len(res.images) == 1 else f"\t(image {i + 1} of {len(res.images)})"))
    return 0
