"""The public Python API: `Pipeline`, the one path from a prompt to delivered images.

    pipe = Pipeline.from_pretrained()            # the shipped model, safety stack and provenance
    result = pipe("a red star above a blue ring", n=2, seed=1)
    result.images[0].image.save("star.png")      # or result.images[0].data: the signed, watermarked bytes

Order of one call: prompt safety -> engine -> output-image safety -> provenance (watermark, C2PA,
index). The CLI and the server call this class; nothing else saves or serves an image.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from limner import __version__
from limner.engine.decode import SamplingParams
from limner.engine.generator import GenerateOptions, Generator, Progress, default_checkpoint


class LimnerError(Exception):
    """Base class of limner's user-facing errors."""


class InvalidRequest(LimnerError, ValueError):
    """A request parameter is invalid; the message names it."""


class SafetyBlocked(LimnerError):
    """The safety stack refused the request; `decision` carries every layer's verdict."""

    def __init__(self, decision: Any) -> None:
        self.decision = decision
        super().__init__(
            f"blocked at the {decision.stage} stage ({', '.join(decision.categories) or 'policy'}): {decision.reason}"
        )


@dataclass
class GeneratedImage:
    image: Image.Image  # the delivered pixels (watermarked), decoded from `data`
    data: bytes  # encoded bytes carrying the watermark and the signed C2PA manifest
    format: str
    payload: str  # watermark payload (hex)
    record_id: str  # provenance index record

    def save(self, path: str | Path) -> Path:
        p = Path(path)
        p.write_bytes(self.data)
        return p


@dataclass
class PipelineResult:
    request_id: str
    prompt: str
    images: list[GeneratedImage]
    size: tuple[int, int]
    safety: list[Any] = field(default_factory=list)  # Decisions: prompt, then output
    usage: dict[str, int] = field(default_factory=dict)


class Pipeline:
    def __init__(self, generator: Generator, safety: Any | None, provenance: Any, model_name: str = "limner") -> None:
        self.generator = generator
        self.safety = safety
        self.provenance = provenance
        self.model_name = model_name

    @staticmethod
    def from_pretrained(
        path: str | Path | None = None,
        *,
        safety: bool = True,
        provenance_settings: Any = None,
        policy: str | Path | None = None,
    ) -> Pipeline:
        """Load a checkpoint (default: the shipped model) with the safety stack and the provenance stage."""
        gen = Generator.from_checkpoint(path or default_checkpoint())  # first: a bad checkpoint fails fast
        from limner.provenance.stage import ProvenanceStage

        stack = None
        if safety:
            from limner.safety.stack import SafetyStack

            stack = SafetyStack.from_policy(policy)
        return Pipeline(gen, stack, ProvenanceStage(provenance_settings))

    def __call__(
        self,
        prompt: str,
        *,
        n: int = 1,
        seed: int | None = None,
        size: str | tuple[int, int] = "auto",
        quality: str = "auto",
        background: str = "auto",
        output_format: str = "png",
        output_compression: int | None = None,
        moderation: str = "auto",
        user: str | None = None,
        age: int | None = None,
        sampling: SamplingParams | None = None,
        progress: Progress | None = None,
        preview_every: int = 0,
    ) -> PipelineResult:
        from limner.engine.generator import validate_prompt

        try:
            prompt = validate_prompt(prompt)
            opts = GenerateOptions(
                n=n,
                seed=seed if seed is not None else uuid.uuid4().int % (2**31),
                size=size,
                quality=quality,
                background=background,
                sampling=sampling or SamplingParams(),
                preview_every=preview_every,
            )
            opts.validate()
        except ValueError as e:
            raise InvalidRequest(str(e)) from e
        request_id = "img_" + uuid.uuid4().hex[:24]
        decisions: list[Any] = []
        if self.safety is not None:
            d = self.safety.check_prompt(prompt, age=age, moderation=moderation, user=user)
            decisions.append(d)
            if not d.allowed:
                raise SafetyBlocked(d)
        try:
            images = self.generator.generate(prompt, opts, progress)
        except ValueError as e:
            raise InvalidRequest(str(e)) from e
        if self.safety is not None:
            d = self.safety.check_images(
                images, stage="output", prompt=prompt, age=age, moderation=moderation, user=user
            )
            decisions.append(d)
            if not d.allowed:
                raise SafetyBlocked(d)
        from limner.provenance.stage import GenerationInfo

        out = []
        for im in images:
            info = GenerationInfo(
                request_id=request_id,
                model=f"{self.model_name}-{__version__}",
                checkpoint_sha=self.generator.checkpoint_sha,
                prompt=prompt,
                user=user,
            )
            p = self.provenance.apply(im, info, fmt=output_format, quality=output_compression)
            import io

            out.append(GeneratedImage(Image.open(io.BytesIO(p.data)), p.data, p.fmt, p.payload_hex, p.record_id))
        size_wh = out[0].image.size if out else (0, 0)
        n_text = len(self.generator.model.text.encode(prompt))
        rows, cols = self.generator.model.grid(size_wh)
        usage = {
            "input_tokens": n_text,
            "output_tokens": rows * cols * len(out),
            "total_tokens": n_text + rows * cols * len(out),
        }
        return PipelineResult(request_id, prompt, out, size_wh, decisions, usage)
