"""What a job does in its worker thread: prompt -> safety -> engine -> (mask composite) -> safety -> provenance.

Generations go through `Pipeline.__call__`. Edits cannot: the pipeline has no image-conditioned path yet
(issue 5), so an edit here runs the same stages itself: the uploads pass the input-image safety check,
the model draws the prompt, a mask composites that drawing into the masked area only (alpha 0 = edit, as
OpenAI defines it; the rest of the first image is kept exactly), the output safety check runs, and the
provenance stage signs it with the uploads as C2PA ingredients. Every image handed out, partial previews
included, leaves through the provenance stage.
"""

from __future__ import annotations

import base64
import io
import json
import uuid
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
from PIL import Image

from limner import __version__
from limner.data.world import SUPPORTED_SIZES
from limner.engine.generator import GenerateOptions, resolve_size
from limner.pipeline import GeneratedImage, InvalidRequest, Pipeline, SafetyBlocked
from limner.server.jobs import Job


@dataclass
class EditInput:
    images: list[Image.Image]  # decoded uploads (first one is the base a mask applies to)
    originals: list[bytes]  # the uploads' bytes, recorded as C2PA ingredients
    mask: Image.Image | None = None  # RGBA, same size as images[0]


@dataclass
class GenSpec:
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


@dataclass
class GenOutcome:
    request_id: str
    prompt: str
    seed: int
    images: list[GeneratedImage]
    size: tuple[int, int]
    usage: dict[str, int]
    image_tokens: int = 0  # tokens of the input images (edits), for the usage object
    safety: list[dict[str, Any]] = field(default_factory=list)


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
                     "mask": base64.b64encode(_png(spec.edit.mask)).decode() if spec.edit.mask is not None else None}
    return json.dumps(d)


def spec_from_json(text: str) -> GenSpec:
    d = json.loads(text)
    edit = d.pop("edit")
    spec = GenSpec(**d)
    if edit is not None:
        originals = [base64.b64decode(b) for b in edit["originals"]]
        images = [Image.open(io.BytesIO(b)) for b in originals]
        mask = Image.open(io.BytesIO(base64.b64decode(edit["mask"]))).convert("RGBA") if edit["mask"] else None
        spec.edit = EditInput(images=images, originals=originals, mask=mask)
    return spec


def closest_size(w: int, h: int) -> tuple[int, int]:
    """The supported generation size whose aspect ratio is closest to w:h."""
    return min(SUPPORTED_SIZES, key=lambda s: abs(np.log((s[0] / s[1]) / (w / h))))


def composite(base: Image.Image, generated: Image.Image, mask: Image.Image) -> Image.Image:
    """Put `generated` where the mask is transparent; keep `base` exactly where the mask is opaque."""
    mode = "RGBA" if "A" in base.getbands() or "A" in generated.getbands() else "RGB"
    b = np.asarray(base.convert(mode), dtype=np.float32)
    g = np.asarray(generated.convert(mode).resize(base.size, Image.Resampling.LANCZOS), dtype=np.float32)
    keep = np.asarray(mask.getchannel("A"), dtype=np.float32)[..., None] / 255.0
    out = np.where(keep >= 1.0, b, b * keep + g * (1.0 - keep))  # exact copy where alpha is 255
    return Image.fromarray(np.clip(out.round(), 0, 255).astype(np.uint8), mode)


class Runner:
    """Runs GenSpecs against one loaded Pipeline."""

    def __init__(self, pipe: Pipeline) -> None:
        self.pipe = pipe

    def grid_tokens(self, size: tuple[int, int]) -> int:
        rows, cols = self.pipe.generator.model.grid(size)
        return rows * cols

    def _info(self, request_id: str, prompt: str, user: str | None, edited_from: list[bytes] | None = None) -> Any:
        from limner.provenance.stage import GenerationInfo

        return GenerationInfo(request_id=request_id, model=f"{self.pipe.model_name}-{__version__}",
                              checkpoint_sha=self.pipe.generator.checkpoint_sha, prompt=prompt, user=user,
                              edited_from=edited_from)

    def _progress(self, job: Job, spec: GenSpec, request_id: str, prompt: str) -> Any:
        sent = {"started": False, "partials": 0}

        def cb(stage: str, done: int, total: int, images: list[Image.Image] | None) -> None:
            job.check()
            if not sent["started"]:
                sent["started"] = True
                job.emit("started")
            if stage == "tokens" and images and sent["partials"] < spec.partial_images:
                # a preview is an image handed out: it is watermarked and signed like any other
                p = self.pipe.provenance.apply(images[0], self._info(request_id, prompt, spec.user),
                                               fmt=spec.output_format, quality=_quality(spec))
                job.emit("partial", (sent["partials"], p.data))
                sent["partials"] += 1

        return cb

    def preview_every(self, spec: GenSpec, size: tuple[int, int]) -> int:
        if not spec.partial_images:
            return 0
        return max(1, self.grid_tokens(size) // (spec.partial_images + 1))

    def run(self, spec: GenSpec, job: Job) -> GenOutcome:
        seed = spec.seed if spec.seed is not None else uuid.uuid4().int % (2**31)
        if spec.edit is not None:
            return self._edit(spec, job, seed)
        size = resolve_size(spec.size, spec.prompt)
        r = self.pipe(spec.prompt, n=spec.n, seed=seed, size=size, quality=spec.quality, background=spec.background,
                      output_format=spec.output_format, output_compression=_quality(spec),
                      moderation=spec.moderation, user=spec.user,
                      progress=self._progress(job, spec, "img_" + job.id[4:28], spec.prompt),
                      preview_every=self.preview_every(spec, size))
        return GenOutcome(r.request_id, r.prompt, seed, r.images, r.size, r.usage,
                          safety=[d.to_dict() for d in r.safety])

    def _edit(self, spec: GenSpec, job: Job, seed: int) -> GenOutcome:
        from limner.engine.generator import validate_prompt

        edit = spec.edit
        assert edit is not None
        base = edit.images[0]
        if spec.size == "auto":
            size = closest_size(*base.size)
        else:
            size = resolve_size(spec.size, spec.prompt)
        try:
            prompt = validate_prompt(spec.prompt)
            opts = GenerateOptions(n=spec.n, seed=seed, size=size, quality=spec.quality, background=spec.background,
                                   preview_every=self.preview_every(spec, size))
            opts.validate()
        except ValueError as e:
            raise InvalidRequest(str(e)) from e
        request_id = "img_" + uuid.uuid4().hex[:24]
        decisions = []
        safety = self.pipe.safety
        if safety is not None:
            d = safety.check_prompt(prompt, moderation=spec.moderation, user=spec.user)
            decisions.append(d)
            if not d.allowed:
                raise SafetyBlocked(d)
            d = safety.check_images(edit.images, stage="input", prompt=prompt, moderation=spec.moderation,
                                    user=spec.user)
            decisions.append(d)
            if not d.allowed:
                raise SafetyBlocked(d)
        job.check()
        drawn = self.pipe.generator.generate(prompt, opts, self._progress(job, spec, request_id, prompt))
        outs = [composite(base, im, edit.mask) for im in drawn] if edit.mask is not None else drawn
        if safety is not None:
            d = safety.check_images(outs, stage="output", prompt=prompt, moderation=spec.moderation, user=spec.user)
            decisions.append(d)
            if not d.allowed:
                raise SafetyBlocked(d)
        images = []
        for im in outs:
            p = self.pipe.provenance.apply(im, self._info(request_id, prompt, spec.user, list(edit.originals)),
                                           fmt=spec.output_format, quality=_quality(spec))
            images.append(GeneratedImage(Image.open(io.BytesIO(p.data)), p.data, p.fmt, p.payload_hex, p.record_id))
        n_text = len(self.pipe.generator.model.text.encode(prompt))
        out_tokens = self.grid_tokens(size) * len(images)
        usage = {"input_tokens": n_text, "output_tokens": out_tokens, "total_tokens": n_text + out_tokens}
        image_tokens = sum(self.grid_tokens(closest_size(*im.size)) for im in edit.images)
        return GenOutcome(request_id, prompt, seed, images, images[0].image.size, usage, image_tokens,
                          [d.to_dict() for d in decisions])


def _quality(spec: GenSpec) -> int | None:
    """OpenAI's output_compression (0-100, jpeg/webp only) as the encoder's quality (1-100)."""
    if spec.output_format == "png" or spec.output_compression is None:
        return None
    return max(1, spec.output_compression)
