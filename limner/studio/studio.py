"""Conversation-native generation on top of the `Generator`: thinking mode, best-of-N, edits, references.

    generate:  prompt --planner (thinking mode)--> plans --revised prompt--> N candidates each
               --verifier (detector + OCR against the plan)--> the best candidate per plan
    edit:      earlier image + instruction --reading/plan--> edited plan + region (or a mask's region)
               --inpaint: resample the region's tokens, copy the rest exactly--> N candidates --> best

Every image is drawn by the one path, `Generator.generate`; the strategies are composed on it, not switched
inside it: how candidates are drawn (`_batch`: plain, or an edit's kept codes and forced layout;
`_compositions`: thinking mode's planned layouts, one each), the edit's exact copy-back
(`inpaint.composite_exact`), and `choose` (best-of-N by the verifier).

No safety or provenance here: `limner.pipeline.Pipeline` wraps these calls with both, so the CLI, the
server and the Python API share them.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
import torch
from PIL import Image

from limner.data.world import color_rgb_or_none
from limner.engine.decode import SamplingParams
from limner.engine.generator import GenerateOptions, Generator, Progress, pixel_path, resolve_size
from limner.engine.inpaint import composite_exact, fixed_codes, native_codes, region_from_mask
from limner.limits import check_best_of
from limner.model.layout import MAX_OBJECTS, Layout, LayoutItem
from limner.studio.edits import (
    EditError,
    EditOp,
    apply_edit,
    edit_layout,
    edit_region,
    make_room,
    observed_layout,
    size_goals,
)
from limner.studio.llm_planner import LLMPlanner, plan_with_fallback
from limner.studio.plan import PlanObject, ScenePlan
from limner.studio.plan_layout import plan_layout
from limner.studio.planner import Plans, plan_prompt
from limner.studio.reader import Reading, read_turn
from limner.studio.reading import Observed, blobs, read_background, read_scene
from limner.studio.verifier import SizeGoal, Verdict, pick_best
from limner.vision.detect import foreground

# candidates an edit draws when the caller names none; the verifier keeps the one that best follows the edited
# plan. An edit redraws a small region, so the candidates are cheap, and a wrong edit costs the user a turn.
# Chosen on dev edits (72, two template sets, none of them held out): success 0.722 -> 0.806 on the set with
# positions at best of 4, against 1
EDIT_BEST_OF = 4
# candidates a planned picture (thinking mode: every chat turn that asks for a new picture, the Responses tool,
# `--think`) draws when the caller names none. Its plan says what must be there, so the verifier can check each
# candidate, and in a conversation the first picture is what every later turn edits: an object drawn wrong
# there is wrong for the rest of the chat. On 36 dev three-object prompts (conversation_cases seeds
# 90210-90215, two sampling seeds each), objects drawn right 87/216 at best of 1, 151/216 at best of 4 (with
# the verifier's partial credit); all three right 4/72 -> 23/72; dev 5-turn consistency (18 chats) 0.472 ->
# 0.611. Drawn as one batch, four cost about twice one on CPU (1.9 s -> 3.4 s at 256x256).
THINK_BEST_OF = 4
VARY_FRACTION = 0.5  # share of an image's tokens a variation redraws (the rest are read as they are)


@dataclass
class Drawn:
    """What `Studio` drew: per image the picture, plan, revised prompt and verdict; `regions` and `op` for
    edits only."""

    images: list[Image.Image]
    plans: list[ScenePlan | None]  # the plan of each image (None: no thinking and no best-of)
    revised_prompts: list[str]
    verdicts: list[Verdict | None] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    planner: str = ""  # builtin | llm | reader (an edit read by the learned reader) | "" (no planning)
    regions: list[np.ndarray] = field(default_factory=list)  # edits: where the image could change
    op: EditOp | None = None  # an edit's first op
    ops: list[EditOp] = field(default_factory=list)  # every op of an edit, in the order applied
    pixel_path: str = "native"  # generator.PIXEL_PATHS: what made the pixels


class Studio:
    """Thinking mode, best-of-N, references and edits on a `Generator`, without safety or provenance.

    It takes options its callers validated at their boundary (`Pipeline`, `load_generator`: limits.py's rules,
    once); the Generator checks them again as the engine's own entry point.

    `llm`: the optional LLM planner (the built-in one otherwise, or when it is down); `warn` hears
    its fallbacks."""

    def __init__(self, generator: Generator, llm: LLMPlanner | None = None,
                 warn: Callable[[str], None] | None = None) -> None:
        self.generator = generator
        self.llm = llm
        self.warn = warn

    def plan(self, prompt: str, seed: int, n: int, references: list[PlanObject] | None = None,
             background: str = "auto") -> Plans:
        """The plans of a prompt: several when it asks; else `n`, each with its own seeded choices."""
        plans = plan_with_fallback(prompt, seed, references, self.llm, self.warn)
        if len(plans.plans) == 1 and n > 1:
            more = [plan_with_fallback(prompt, seed + i, references, self.llm).plans[0] for i in range(1, n)]
            plans.plans += more
        if background == "transparent":
            for p in plans.plans:
                p.background = "transparent"
        return plans

    def _compositions(self, prompt: str, opts: GenerateOptions, layouts: list[Layout | None],
                      backdrop: str | None, progress: Progress | None) -> list[Image.Image]:
        """Thinking mode's candidates: one image per planned composition. Placed compositions are drawn as one
        batch (on CPU, four candidates then cost about twice one); any without a layout on a seed of its own."""
        placed = [lay for lay in layouts if lay is not None]
        if len(layouts) > 1 and len(placed) == len(layouts):
            return self.generator.generate(prompt, replace(opts, n=len(placed)), progress, layouts=placed,
                                           backdrop=backdrop)
        return [im for k, lay in enumerate(layouts)
                for im in self.generator.generate(prompt, replace(opts, n=1, seed=opts.seed + 7919 * k), progress,
                                                  layout=lay, backdrop=backdrop)]

    def _batch(self, prompt: str, opts: GenerateOptions, n: int, progress: Progress | None,
               fixed: torch.Tensor | None = None, layout: Layout | None = None) -> list[Image.Image]:
        """`n` candidates in one batch: the plain path, or an edit's (`fixed` codes kept, its `layout` forced)."""
        return self.generator.generate(prompt, replace(opts, n=n), progress, fixed=fixed, layout=layout)

    def generate(self, prompt: str, opts: GenerateOptions, *, think: bool = False, best_of: int | None = None,
                 references: list[PlanObject] | None = None, progress: Progress | None = None) -> Drawn:
        """Images for a prompt: planned (think), verified best of `best_of` candidates each (default
        THINK_BEST_OF when planned, else 1)."""
        if references:
            think = True  # the uploaded object only reaches the model through the plan's caption
        if best_of is None:
            best_of = THINK_BEST_OF if think else 1
        unknown = unknown_words_note(self.generator.unknown_words(prompt))
        if not think and best_of == 1:
            ims = self.generator.generate(prompt, opts, progress)
            return Drawn(ims, [None] * len(ims), [prompt] * len(ims), notes=unknown,
                         pixel_path=pixel_path(opts.sampling.paint, False))
        if think:
            plans = self.plan(prompt, opts.seed, opts.n, references, opts.background)
        else:
            plans = Plans([plan_prompt(prompt, opts.seed).plans[0]] * opts.n, "")
        out = Drawn([], [], [], notes=unknown + list(plans.notes), planner=plans.planner,
                    pixel_path=pixel_path(opts.sampling.paint, think))
        for i, plan in enumerate(plans.plans):
            text = plan.revised_prompt() if think else prompt
            size = plan.size if think and plan.size and opts.size == "auto" else resolve_size(opts.size, prompt)
            bg = "transparent" if plan.background == "transparent" and think else opts.background
            o = replace(opts, seed=opts.seed + 1009 * i, size=size, background=bg)
            # thinking mode's plan places every object: each candidate gets its own composition of it
            lays = [plan_layout(plan, resolve_size(size, text), o.seed + k) for k in range(best_of)] if think else None
            # ... and its background: a planned colour is painted as planned (a transparent one is the prior's)
            backdrop = plan.background if think and color_rgb_or_none(plan.background) is not None else None
            cands = (self._compositions(text, o, lays, backdrop, progress) if lays is not None
                     else self._batch(text, o, best_of, progress))
            im, verdict = choose(cands, plan, best_of, strict=think)
            out.images.append(im)
            out.plans.append(plan)
            out.revised_prompts.append(text)
            out.verdicts.append(verdict)
            out.notes += [f"image {i + 1}: {n}" for n in plan.notes] if len(plans.plans) > 1 else plan.notes
        return out

    def vary(self, image: Image.Image, opts: GenerateOptions, prompt: str,
             progress: Progress | None = None) -> Drawn:
        """`opts.n` variations of `image` drawn by the model alone: the transformer redraws a seeded random
        VARY_FRACTION of the image's own tokens, reading the rest, and the decoder draws every pixel. No plan,
        no layout, no painting: what comes out is what the tokens carry (at this model size, a loose impression
        of the image). The images are at the native size closest to the upload's."""
        codes, size = native_codes(self.generator.model, image)  # (1, rows, cols)
        g = torch.Generator().manual_seed(int(opts.seed))
        fixed = codes.expand(opts.n, -1, -1).clone()  # (n, rows, cols); -1 marks a token to redraw
        fixed[torch.rand(fixed.shape, generator=g) < VARY_FRACTION] = -1
        ims = self._batch(prompt, replace(opts, size=size), opts.n, progress, fixed=fixed)
        return Drawn(ims, [None] * len(ims), [prompt] * len(ims), pixel_path=pixel_path(False, False),
                     notes=[f"a variation: the model redrew {VARY_FRACTION:.0%} of the image's tokens"])

    def edit(self, image: Image.Image, instruction: str, opts: GenerateOptions, *, plan: ScenePlan | None = None,
             mask: Image.Image | None = None, best_of: int | None = None, progress: Progress | None = None,
             reading: Reading | None = None) -> Drawn:
        """Edit `image` by an instruction or inside a mask; the rest stays exactly as it was; the verifier's
        best of `best_of` candidates (default EDIT_BEST_OF).

        The instruction is read by the learned reader (reader.py; `reading` when the caller already read it):
        each op it finds is applied in turn, every one an exact-outside-its-region edit of the last. A turn
        it cannot read as an edit raises EditError saying so, unless a mask says where: then the instruction
        describes what to draw there."""
        reading = reading or read_turn(instruction, opts.seed)
        best_of = EDIT_BEST_OF if best_of is None else best_of
        ops: list[EditOp | None] = list(reading.ops) if reading.action == "edit" and reading.understood else []
        if not ops:
            if mask is None:
                raise EditError(not_understood(instruction, reading))
            ops = [None]
        note = f"instruction read by the {'learned reader' if reading.source == 'model' else 'grammar fallback'}"
        cur, cur_plan = image, plan
        steps: list[Drawn] = []
        for k, op in enumerate(ops):
            last = k == len(ops) - 1
            d = self._edit_one(cur, instruction, op, opts if last else replace(opts, n=1), cur_plan,
                               mask if k == 0 else None, best_of, progress)
            steps.append(d)
            cur, cur_plan = d.images[0], d.plans[0]
        out = steps[-1]
        for d in steps[:-1]:  # every step's region may have changed: the union is the turn's region
            out.regions = [r | d.regions[0] for r in out.regions]
        out.notes = [note if ops[0] is not None else "a mask edit: the instruction says what to draw inside it",
                     *(n for d in steps for n in d.notes)]
        out.op = ops[0]
        out.ops = [o for o in ops if o is not None]
        # what made the edit's plan: the learned reader's ops, or the grammar's (a mask edit: the planner's)
        out.planner = "reader" if ops[0] is not None and reading.source == "model" else "builtin"
        return out

    def _edit_one(self, image: Image.Image, instruction: str, op: EditOp | None, opts: GenerateOptions,
                  plan: ScenePlan | None, mask: Image.Image | None, best_of: int,
                  progress: Progress | None) -> Drawn:
        """One op (or, with op None, a mask edit drawing what `instruction` describes inside the mask)."""
        region = region_from_mask(mask, image.size) if mask is not None else None
        seen_plan, observed = read_scene(image)
        before = plan or seen_plan
        transparent = read_background(image) == "transparent" or opts.background == "transparent"
        rng = random.Random(opts.seed)
        notes: list[str] = []
        layout: Layout | None = None
        sizes: list[SizeGoal] = []
        if op is not None:
            after, change = apply_edit(before, op, rng, observed)
            unnamed = blobs(image)  # where the detector cannot name the object to change, a blob of its colour
            notes += make_room(change, observed, image.size, unnamed)
            layout = edit_layout(change, observed, image.size, unnamed)
            sizes = size_goals(op, change, observed, unnamed)
            if region is None:
                region = edit_region(change, observed, image.size, blobs=unnamed, fg=foreground(image))
                if region.all():
                    notes.append("could not locate the edited object; redrew the whole image")
        else:
            assert region is not None
            after = plan_prompt(instruction, opts.seed).plans[0]  # a mask edit: the prompt says what to draw there
            after.background = before.background
            for o in after.objects:  # the mask says where; a position the planner chose would contradict it
                if "position" in o.free:
                    o.position = None
            layout = mask_layout(after, region, observed)
        if transparent:
            after.background = "transparent"
        text = after.revised_prompt()
        n = opts.n
        fixed, size = fixed_codes(self.generator.model, image, region, best_of)
        edit_opts = replace(opts, size=size, background="transparent" if transparent else "opaque")
        out = Drawn([], [], [], notes=notes, planner="builtin", op=op,
                    pixel_path=pixel_path(opts.sampling.paint, layout is not None))
        base = image.convert("RGBA") if transparent else image

        for i in range(n):
            o_i = replace(edit_opts, seed=opts.seed + 1009 * i)
            # outside the region the earlier image's pixels are copied back exactly, before the verifier looks
            cands = [composite_exact(base, c, region)
                     for c in self._batch(text, o_i, best_of, progress, fixed=fixed, layout=layout)]
            im, verdict = choose(cands, after, best_of, strict=True, sizes=sizes)
            out.images.append(im)
            out.plans.append(after)
            out.revised_prompts.append(text)
            out.verdicts.append(verdict)
            out.regions.append(region)
        return out


def not_understood(instruction: str, reading: Reading) -> str:
    """The message for a turn the edit path cannot act on: what the reader made of it and what to say instead."""
    what = {"generate": "a request for a new picture", "undo": "a request to undo",
            "none": "not a request to draw or change anything"}.get(reading.action)
    head = f"could not read {instruction[:200]!r} as an edit"
    if what:
        head += f" (it reads as {what})"
    elif reading.problem:
        head += f" ({reading.problem})"
    return head + ": say what to change, e.g. 'make the star blue', 'remove the ring' or 'move it to the left'"


def choose(cands: list[Image.Image], plan: ScenePlan | None, best_of: int,
           strict: bool, sizes: list[SizeGoal] | None = None) -> tuple[Image.Image, Verdict | None]:
    """Best-of-N on top of any way of drawing: the verifier's pick of the candidates against the plan (and a
    resize edit's `sizes`), or the first one (and no verdict) when there is one candidate or no plan to check."""
    if best_of == 1 or plan is None:
        return cands[0], None
    i, verdicts = pick_best(cands, plan, strict, sizes)
    return cands[i], verdicts[i]


def unknown_words_note(words: list[str]) -> list[str]:
    """The notice for prompt words outside the model's vocabulary ([] when there are none): the model reads each
    as one unknown token, so the user must hear that they did not reach the picture."""
    if not words:
        return []
    shown = ", ".join(repr(w) for w in words[:12]) + (f" and {len(words) - 12} more" if len(words) > 12 else "")
    return [f"words outside what the model has learned: {shown}; it reads each as unknown and draws only the "
            "objects, colours, layouts and text of its world (shared/world.md), so these will not appear as asked"]


def mask_layout(after: ScenePlan, region: np.ndarray, observed: list[Observed]) -> Layout | None:
    """The layout of a mask edit: the objects read outside the mask, then the one object the prompt asks for,
    centred in the mask and as large as fits it; None (the prior writes it) for several objects or none."""
    if len(after.objects) != 1 or after.objects[0].count != 1 or after.grid is not None:
        return None
    h, w = region.shape
    ys, xs = np.nonzero(region)
    r = min(xs.max() - xs.min() + 1, ys.max() - ys.min() + 1) / 2 * 0.8 / min(w, h)
    o = after.objects[0]
    items = observed_layout([s for s in observed if not region[int(s.centroid[1]), int(s.centroid[0])]], w, h)
    return [*items, LayoutItem.quantize(o.cls, (xs.min() + xs.max() + 1) / 2 / w, (ys.min() + ys.max() + 1) / 2 / h,
                                        r)][-MAX_OBJECTS:]



def load_generator(
    checkpoint: str | None = None, sampling: SamplingParams | None = None, *, think: bool = False, best_of: int = 1,
    device: str = "cpu",
) -> Callable[..., list[Image.Image]]:
    """A plain function for the eval: generate_fn(prompt, size, background, n, seed) -> images, sampled with
    `sampling` (default: the engine's SamplingParams). `think` / `best_of` draw through thinking mode and the
    verifier (this module), as `limner generate --think --best-of N` does; the default is the model alone, on
    `device` (a torch device name).

    It carries `checkpoint_sha` as an attribute.
    """
    gen = Generator.from_checkpoint(checkpoint, device)
    params = sampling or SamplingParams()
    studio = None
    if think or best_of != 1:
        check_best_of(best_of)
        studio = Studio(gen)

    def generate_fn(prompt: str, size: tuple[int, int], background: str, n: int, seed: int) -> list[Image.Image]:
        bg = "transparent" if background == "transparent" else "auto"
        opts = GenerateOptions(n=n, seed=seed, size=size, background=bg, sampling=params)
        if studio is not None:
            return studio.generate(prompt, opts, think=think, best_of=best_of).images
        return gen.generate(prompt, opts)

    generate_fn.checkpoint_sha = gen.checkpoint_sha  # type: ignore[attr-defined]
    return generate_fn


__all__ = ["Drawn", "Studio", "load_generator"]
