"""What a job does in its worker thread: one call into the library API (`limner.pipeline.Pipeline`).

Generations go through `Pipeline.__call__`; edits through `Pipeline.edit`, so the service, the CLI and
the library share one path: prompt safety -> input-image safety -> the model -> output safety ->
provenance. An upload with a mask, or with an edit instruction ("make the star green"), is edited
(alpha 0 = the area to edit, as OpenAI defines it; outside it the image is kept exactly); uploads with
any other prompt are reference images the prompt draws from. Every image handed out, partial previews
included, leaves through the provenance stage, with the uploads recorded as C2PA ingredients.
"""

from __future__ import annotations

import base64
import io
import json
import uuid
from dataclasses import dataclass, field, fields
from typing import Any

from PIL import Image

from limner.engine.generator import resolve_size
from limner.limits import closest_size, native_size, parse_output_size
from limner.pipeline import GeneratedImage, Pipeline
from limner.server.jobs import Job


@dataclass
class EditInput:
    """The input images of a request (edited, or references a new image draws from), with the optional
    mask and the scene plan of the first image when this service drew it."""

    images: list[Image.Image]  # decoded uploads (first one is the base a mask applies to)
    originals: list[bytes]  # the uploads' bytes, recorded as C2PA ingredients
    mask: Image.Image | None = None  # RGBA, same size as images[0]
    # The scene plan of images[0] when the service drew it (a conversation's image in context): edits then
    # phrase the whole scene from it instead of re-reading it from pixels, as `Conversation` does.
    plan: dict[str, Any] | None = None


@dataclass
class GenSpec:
    """One request's work as a job runs it, whichever API it came from; `spec_to_json` stores it so that a
    worker or a restarted server can redo it."""

    prompt: str
    n: int = 1
    seed: int | None = None
    size: str = "auto"
    quality: str = "auto"
    background: str = "auto"
    output_format: str = "png"
    output_compression: int | None = None
    moderation: str = "auto"
    user: str | None = None
    partial_images: int = 0
    edit: EditInput | None = None
    # Plan the prompt first (thinking mode; None: the pipeline's default for the quality). The Responses
    # API plans every turn, as a `Conversation` does, so each image carries the scene plan later edits use.
    think: bool | None = None
    style: str | None = None  # DALL-E 3's `style`, recorded in the history (the model has no styles to pick)
    variation: bool = False  # `/v1/images/variations`: `Pipeline.vary` of the one upload


@dataclass
class GenOutcome:
    """What a job produced: the provenanced images, and what the answer and the history need with them
    (seed, size, token usage, safety decisions, revised prompt, scene plan)."""

    request_id: str
    prompt: str
    seed: int
    images: list[GeneratedImage]
    size: tuple[int, int]
    usage: dict[str, int]
    image_tokens: int = 0  # tokens of the input images (edits), for the usage object
    safety: list[dict[str, Any]] = field(default_factory=list)
    revised_prompt: str | None = None  # what the model was asked to draw (the planner's or the edit's)
    action: str = "generate"  # generate | edit
    plan: dict[str, Any] | None = None  # the first image's scene plan (ScenePlan.to_dict), kept for later edits


def _png(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


def spec_to_json(spec: GenSpec) -> str:
    """A GenSpec as JSON, uploads included: what a `limner worker` or a restarted server needs to redo it."""
    d: dict[str, Any] = {f.name: getattr(spec, f.name) for f in fields(spec) if f.name != "edit"}
    d["edit"] = None
    if spec.edit is not None:
        d["edit"] = {"originals": [base64.b64encode(b).decode() for b in spec.edit.originals],
                     "mask": base64.b64encode(_png(spec.edit.mask)).decode() if spec.edit.mask is not None else None,
                     "plan": spec.edit.plan}
    return json.dumps(d)


def spec_from_json(text: str) -> GenSpec:
    """The GenSpec that `spec_to_json` wrote, uploads decoded back to images."""
    d = json.loads(text)
    edit = d.pop("edit")
    spec = GenSpec(**d)
    if edit is not None:
        originals = [base64.b64decode(b) for b in edit["originals"]]
        images: list[Image.Image] = [Image.open(io.BytesIO(b)) for b in originals]
        mask = Image.open(io.BytesIO(base64.b64decode(edit["mask"]))).convert("RGBA") if edit["mask"] else None
        spec.edit = EditInput(images=images, originals=originals, mask=mask, plan=edit.get("plan"))
    return spec


class Runner:
    """Runs GenSpecs against one loaded Pipeline."""

    def __init__(self, pipe: Pipeline) -> None:
        self.pipe = pipe

    def grid_tokens(self, size: tuple[int, int]) -> int:
        """The image tokens the model draws at `size` (its token grid's rows x columns); input images
        count as this many tokens in the usage too."""
        rows, cols = self.pipe.generator.model.grid(size)
        return rows * cols

    def _progress(self, job: Job, spec: GenSpec, request_id: str, prompt: str,
                  out: tuple[int, int] | None = None) -> Any:
        """The pipeline's progress callback: job events, and up to `spec.partial_images` signed previews, resized
        to `out` (the size the images will be delivered at) when that is not the size the model draws."""
        sent = {"started": False, "partials": 0}

        def cb(stage: str, done: int, total: int, images: list[Image.Image] | None) -> None:
            job.check()
            if not sent["started"]:
                sent["started"] = True
                job.emit("started")
            if stage == "tokens" and images and sent["partials"] < spec.partial_images:
                im = images[0]
                if out is not None and im.size != out:
                    im = im.resize(out, Image.Resampling.LANCZOS)
                # a preview is an image handed out: it is watermarked and signed like any other
                p = self.pipe.provenance.apply(im, self.pipe.generation_info(request_id, prompt, spec.user),
                                               fmt=spec.output_format, quality=_quality(spec))
                job.emit("partial", (sent["partials"], p.data))
                sent["partials"] += 1

        return cb

    def preview_every(self, spec: GenSpec, size: tuple[int, int]) -> int:
        """Tokens between partial previews, so that `spec.partial_images` arrive before the image is done;
        0 for none. A non-native output size counts the tokens of the native size it is drawn at."""
        if not spec.partial_images:
            return 0
        return max(1, self.grid_tokens(native_size(size)) // (spec.partial_images + 1))

    def run(self, spec: GenSpec, job: Job) -> GenOutcome:
        """Run `spec` on the pipeline in the calling (job) thread: a new image, an edit (a mask or an edit
        instruction) or a new image drawn from uploaded references. Raises JobCancelled once the job is cancelled."""
        seed = spec.seed if spec.seed is not None else uuid.uuid4().int % (2**31)
        request_id = "img_" + job.id[4:28]  # previews and final images carry the same id
        common: dict[str, Any] = dict(n=spec.n, seed=seed, quality=spec.quality, background=spec.background,
                                      output_format=spec.output_format, output_compression=_quality(spec),
                                      moderation=spec.moderation, user=spec.user, request_id=request_id)
        from limner.studio.routing import route_turn  # loads the planner and detector: not at import

        # OpenAI's `action`: "edit" whenever the turn draws from input images (edited or referenced).
        edit, image_tokens = spec.edit, 0
        action = "generate" if edit is None else "edit"
        editing = edit is not None and route_turn(spec.prompt, uploads=len(edit.images),
                                                  mask=edit.mask is not None).action == "edit"
        # an edit keeps its base's canvas; anything else is delivered at the size asked for
        progress = self._progress(job, spec, request_id, spec.prompt,
                                  None if editing or spec.size == "auto" else parse_output_size(spec.size))
        if spec.variation and edit is not None:
            image_tokens = self.grid_tokens(closest_size(*edit.images[0].size))
            vary = {k: v for k, v in common.items() if k != "background"}
            r = self.pipe.vary(edit.originals[0], size=spec.size, progress=progress, **vary)
        elif edit is None:
            size = requested_size(spec)
            r = self.pipe(spec.prompt, size=size, progress=progress, preview_every=self.preview_every(spec, size),
                          think=spec.think, **common)
        else:
            image_tokens = sum(self.grid_tokens(closest_size(*im.size)) for im in edit.images)
            if editing:
                # The base keeps its own (closest supported) size: an edit changes content, not the canvas.
                size = closest_size(*edit.images[0].size)
                from limner.studio.plan import ScenePlan

                plan = ScenePlan.from_dict(edit.plan) if edit.plan is not None else None
                r = self.pipe.edit(edit.originals[0], spec.prompt, mask=edit.mask, references=edit.originals[1:],
                                   plan=plan, progress=progress, preview_every=self.preview_every(spec, size), **common)
            else:  # uploads with a prompt that is not an edit: references the prompt draws from
                size = closest_size(*edit.images[0].size) if spec.size == "auto" else requested_size(spec)
                r = self.pipe(spec.prompt, size=size, references=edit.originals, progress=progress,
                              preview_every=self.preview_every(spec, size), think=spec.think, **common)
        return GenOutcome(r.request_id, r.prompt, seed, r.images, r.size, r.usage, image_tokens,
                          safety=[d.to_dict() for d in r.safety],
                          revised_prompt=r.revised_prompts[0] if r.revised_prompts else None, action=action,
                          plan=r.plans[0].to_dict() if r.plans and r.plans[0] is not None else None)


def requested_size(spec: GenSpec) -> tuple[int, int]:
    """The size a request's images are delivered at: what it asked for (any WxH within the limits; the pipeline
    draws a non-native one at its aspect's native size and resizes), or for "auto" the size the prompt implies."""
    return resolve_size(spec.size, spec.prompt) if spec.size == "auto" else parse_output_size(spec.size)


def _quality(spec: GenSpec) -> int | None:
    """OpenAI's output_compression (0-100, jpeg/webp only) as the encoder's quality (1-100)."""
    if spec.output_format == "png" or spec.output_compression is None:
        return None
    return max(1, spec.output_compression)
