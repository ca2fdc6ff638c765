"""The public Python API: `Pipeline`, the one path from a prompt to delivered images.

    pipe = Pipeline.from_pretrained()            # the shipped model, safety stack and provenance
    result = pipe("a red star above a blue ring", n=2, seed=1)
    result.images[0].image.save("star.png")      # or result.images[0].data: the signed, watermarked bytes

Order of one call: prompt safety -> engine -> output-image safety -> provenance (watermark, C2PA,
index). The CLI and the server call this class; nothing else saves or serves an image.
"""

from __future__ import annotations

import io
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from limner.engine.decode import SamplingParams
from limner.engine.generator import GenerateOptions, Generator, Progress, default_checkpoint
from limner.errors import InvalidRequest, SafetyBlocked
from limner.limits import closest_size, native_size, parse_output_size
from limner.version import __version__


@dataclass
class GeneratedImage:
    """One delivered image, as the user gets it; `data` is what to store or send."""

    image: Image.Image  # the delivered pixels (watermarked), decoded from `data`
    data: bytes  # encoded bytes carrying the watermark and the signed C2PA manifest
    format: str
    payload: str  # watermark payload (hex)
    record_id: str  # provenance index record

    def save(self, path: str | Path) -> Path:
        """Write `data` to `path` byte for byte (watermark and signed manifest intact) and return the path.
        The file is in `format` whatever the path's suffix."""
        p = Path(path)
        p.write_bytes(self.data)
        return p


# a variation's prompt: the planner reads it with the upload as a reference (an image with a world object);
# the safety layers, the records and the answer see it for every variation
VARIATION_PROMPT = "the object in this image"


def output_sizes(size: str | tuple[int, int]) -> tuple[str | tuple[int, int], tuple[int, int] | None]:
    """(the size to draw, the size to deliver or None): a non-native WxH is drawn at the native size of its
    aspect and resized to it (limits.parse_output_size); ValueError naming a size outside the limits."""
    if size == "auto":
        return "auto", None
    wh = parse_output_size(size if isinstance(size, str) else f"{size[0]}x{size[1]}")
    drawn = native_size(wh)
    return drawn, (wh if wh != drawn else None)


def resized(drawn: Any, out: tuple[int, int]) -> tuple[int, int] | None:
    """Resize `drawn`'s images to `out` in place (Lanczos) and say so in its notes; returns the size they were
    drawn at (None when there are none)."""
    if not drawn.images:
        return None
    w, h = drawn.images[0].size
    drawn.images = [im.resize(out, Image.Resampling.LANCZOS) for im in drawn.images]
    drawn.notes.append(f"drawn at {w}x{h}, the model's native size for this aspect, and resized to {out[0]}x{out[1]}")
    return w, h


def new_request_id() -> str:
    """A fresh request id, `img_` and 24 hex digits; a caller that streams previews makes one first and passes
    it as `request_id=`, so that previews and final images carry the same id."""
    return "img_" + uuid.uuid4().hex[:24]


def default_best_of(quality: str) -> int | None:
    """Candidates per image when the caller names none: one for quality="low", else None (the studio's default:
    a planned picture, as quality="high" and every chat turn draw, keeps the verifier's best of THINK_BEST_OF;
    an unplanned one is drawn once)."""
    return 1 if quality == "low" else None


def default_edit_best_of(quality: str) -> int | None:
    """Candidates per edited image when the caller names none: one for quality="low", else None (the studio's
    EDIT_BEST_OF: edits keep the verifier's best by default)."""
    return 1 if quality == "low" else None


@dataclass
class PipelineResult:
    """Everything one pipeline call returns; `revised_prompts` and `plans` run in the order of `images`."""

    request_id: str
    prompt: str
    images: list[GeneratedImage]
    size: tuple[int, int]
    safety: list[Any] = field(default_factory=list)  # Decisions: prompt, (input,) then output
    usage: dict[str, int] = field(default_factory=dict)
    revised_prompts: list[str] = field(default_factory=list)  # what the model was asked to draw, per image
    plans: list[Any] = field(default_factory=list)  # ScenePlan (or None) per image
    notes: list[str] = field(default_factory=list)  # the planner's choices and fallbacks, for the user
    planner: str = ""  # builtin | llm | reader (an edit read by the learned reader) | "" (no thinking)
    pixel_path: str = "native"  # engine.generator.PIXEL_PATHS: what made the pixels (also in the C2PA assertion)
    native_size: tuple[int, int] | None = None  # the size the model drew, when the images were resized from it

    @property
    def revised_prompt(self) -> str:
        """The first image's revised prompt, or the prompt itself when there is none."""
        return self.revised_prompts[0] if self.revised_prompts else self.prompt


def _image_bytes(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


PRETRAINED_FORMAT = "limner-pipeline/1"
PRETRAINED_META = "limner.json"
PRETRAINED_MODEL = "model.safetensors"


def read_pretrained_dir(directory: Path) -> tuple[Path, Path | None]:
    """(checkpoint path, policy path or None) of a `save_pretrained` directory; errors name what is missing."""
    import json

    meta_path = directory / PRETRAINED_META
    if not meta_path.is_file():
        raise InvalidRequest(f"{directory} is not a limner pipeline directory: {PRETRAINED_META} is missing "
                             "(write one with Pipeline.save_pretrained, or pass a .safetensors checkpoint)")
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError) as e:
        raise InvalidRequest(f"{meta_path}: not valid JSON ({e})") from e
    if not isinstance(meta, dict) or meta.get("format") != PRETRAINED_FORMAT:
        got = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise InvalidRequest(f"{meta_path}: format {got!r} is not {PRETRAINED_FORMAT!r}")
    model = directory / str(meta.get("model") or PRETRAINED_MODEL)
    if not model.is_file():
        raise InvalidRequest(f"{directory}: the checkpoint {model.name!r} named in {PRETRAINED_META} is missing")
    policy = None
    if meta.get("policy"):
        policy = directory / str(meta["policy"])
        if not policy.is_file():
            raise InvalidRequest(f"{directory}: the policy {policy.name!r} named in {PRETRAINED_META} is missing")
    return model, policy


def _save_policy(policy: Any, out: Path) -> str:
    """The merged policy as `policy.yaml`, with its classifier head copied beside it; returns the file name."""
    import shutil

    import yaml

    from limner.safety.policy import POLICY_DIR

    raw = dict(policy.raw)
    raw.pop("extends", None)  # already merged into raw
    clf = dict(raw.get("classifier") or {})
    head = Path(clf.get("head", "heads/prompt_head.safetensors"))
    if not head.is_absolute():
        near = Path(policy.source).parent / head
        head = near if near.exists() else POLICY_DIR / head
    if head.is_file():
        (out / "heads").mkdir(exist_ok=True)
        shutil.copyfile(head, out / "heads" / head.name)
        clf["head"] = f"heads/{head.name}"
        raw["classifier"] = clf
    (out / "policy.yaml").write_text(yaml.safe_dump(raw, sort_keys=False, allow_unicode=True))
    return "policy.yaml"


class Pipeline:
    """Prompt -> delivered images: prompt safety, the engine (planning, best-of-N, edits), output-image
    safety, provenance. Build one with `from_pretrained`."""

    def __init__(self, generator: Generator, safety: Any | None, provenance: Any, model_name: str = "limner",
                 planner: Any | None = None) -> None:
        from limner.studio.studio import Studio

        self.generator = generator
        self.safety = safety
        self.provenance = provenance
        self.model_name = model_name
        self.studio = Studio(generator, planner)

    @staticmethod
    def from_pretrained(
        path: str | Path | None = None,
        *,
        safety: bool = True,
        provenance_settings: Any = None,
        policy: str | Path | None = None,
        planner_url: str | None = None,
        planner_model: str = "default",
        device: str = "cpu",
    ) -> Pipeline:
        """Load a checkpoint file (default: the shipped model) or a directory written by `save_pretrained`,
        with the safety stack and the provenance stage.

        A directory holds everything: `limner.json` names the checkpoint and the policy saved beside it
        (an explicit `policy=` still wins). `planner_url`: an OpenAI-compatible chat endpoint for thinking
        mode (default $LIMNER_PLANNER_URL); without one, or while it is down, the built-in planner plans.
        `device`: where the model runs, cpu (default), cuda[:N], mps or auto (the best this torch build has);
        ValueError naming a device it cannot use. A seed draws the same tokens on any device."""
        if path is not None and Path(path).is_dir():
            path, saved_policy = read_pretrained_dir(Path(path))
            policy = policy if policy is not None else saved_policy
        from limner.model.device import resolve_device

        # first: a bad checkpoint or device fails fast
        gen = Generator.from_checkpoint(path or default_checkpoint(), resolve_device(device))
        from limner.provenance.stage import ProvenanceStage

        stack = None
        if safety:
            from limner.safety.stack import SafetyStack

            stack = SafetyStack.from_policy(policy)
        llm = None
        url = planner_url or os.environ.get("LIMNER_PLANNER_URL")
        if url:
            from limner.studio.llm_planner import LLMPlanner

            llm = LLMPlanner(url, planner_model, os.environ.get("LIMNER_PLANNER_KEY"))
        return Pipeline(gen, stack, ProvenanceStage(provenance_settings), planner=llm)

    def save_pretrained(self, directory: str | Path) -> Path:
        """Write this pipeline to `directory` so that `Pipeline.from_pretrained(directory)` alone rebuilds it:
        the checkpoint (config, tokenizers, prior and decoder; byte for byte, so its sha256 is unchanged),
        the safety policy in force (merged, with its classifier head) and `limner.json` naming them."""
        import json
        import shutil

        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        src = self.generator.model.path
        if not src or not Path(src).is_file():
            raise InvalidRequest(f"the loaded model has no checkpoint file to save (path {src!r})")
        shutil.copyfile(src, out / PRETRAINED_MODEL)
        meta: dict[str, Any] = {"format": PRETRAINED_FORMAT, "limner_version": __version__,
                                "model": PRETRAINED_MODEL, "model_name": self.model_name,
                                "checkpoint_sha256": self.generator.checkpoint_sha, "policy": None}
        if self.safety is not None:
            meta["policy"] = _save_policy(self.safety.policy, out)
        (out / PRETRAINED_META).write_text(json.dumps(meta, indent=2) + "\n")
        return out

    def _options(self, n: int, seed: int | None, size: str | tuple[int, int], quality: str, background: str,
                 sampling: SamplingParams | None, preview_every: int) -> GenerateOptions:
        opts = GenerateOptions(n=n, seed=seed if seed is not None else uuid.uuid4().int % (2**31), size=size,
                               quality=quality, background=background, sampling=sampling or SamplingParams(),
                               preview_every=preview_every)
        opts.validate()
        return opts

    def screen(self, prompt: str, *, user: str | None = None, moderation: str = "auto", age: int | None = None) -> None:
        """Run the prompt layer of the safety stack on a turn that draws nothing (a chat turn about nothing
        drawable), so it is refused and audited like any prompt; SafetyBlocked when it is refused."""
        self._check_prompt(prompt, [], user=user, moderation=moderation, age=age)

    def _check_prompt(self, prompt: str, decisions: list[Any], **who: Any) -> None:
        if self.safety is not None:
            d = self.safety.check_prompt(prompt, **who)
            decisions.append(d)
            if not d.allowed:
                raise SafetyBlocked(d)

    def _check_images(self, images: list[Image.Image], stage: str, prompt: str, decisions: list[Any],
                      **who: Any) -> None:
        if self.safety is not None and images:
            d = self.safety.check_images(images, stage=stage, prompt=prompt, **who)
            decisions.append(d)
            if not d.allowed:
                raise SafetyBlocked(d)

    def generation_info(self, request_id: str, prompt: str, user: str | None = None,
                        edited_from: list[bytes] | None = None, pixel_path: str = "native") -> Any:
        """The provenance stage's GenerationInfo for an image of this pipeline: the one place its model name,
        version and checkpoint are written (final images, streamed previews and converted downloads)."""
        from limner.provenance.stage import GenerationInfo

        return GenerationInfo(request_id=request_id, model=f"{self.model_name}-{__version__}",
                              checkpoint_sha=self.generator.checkpoint_sha, prompt=prompt, user=user,
                              edited_from=edited_from, pixel_path=pixel_path)

    def _deliver(self, prompt: str, drawn: Any, decisions: list[Any], output_format: str,
                 output_compression: int | None, user: str | None, edited_from: list[bytes] | None = None,
                 request_id: str | None = None, **who: Any) -> PipelineResult:
        """Output safety, then provenance on every image, then the result with usage."""
        self._check_images(drawn.images, "output", prompt, decisions, user=user, **who)
        request_id = request_id or new_request_id()
        out = []
        for im in drawn.images:
            info = self.generation_info(request_id, prompt, user, edited_from, drawn.pixel_path)
            p = self.provenance.apply(im, info, fmt=output_format, quality=output_compression)
            out.append(GeneratedImage(Image.open(io.BytesIO(p.data)), p.data, p.fmt, p.payload_hex, p.record_id))
        size_wh = out[0].image.size if out else (0, 0)
        n_text = len(self.generator.model.text.encode(prompt))
        rows, cols = self.generator.model.grid(closest_size(*size_wh)) if out else (0, 0)
        usage = {"input_tokens": n_text, "output_tokens": rows * cols * len(out),
                 "total_tokens": n_text + rows * cols * len(out)}
        return PipelineResult(request_id, prompt, out, size_wh, decisions, usage, list(drawn.revised_prompts),
                              list(drawn.plans), list(drawn.notes), drawn.planner, drawn.pixel_path)

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
        think: bool | None = None,
        best_of: int | None = None,
        references: list[Any] | None = None,
        request_id: str | None = None,
    ) -> PipelineResult:
        """Generate. `think` plans the prompt first (revised_prompt; several images when asked);
        `best_of` keeps the verifier's best of N candidates per image (default: 4 for a planned picture, as
        quality="high" and every chat turn draw, unless quality="low"; 1 otherwise). `references`: uploaded
        images (paths, bytes or PIL) whose object the prompt names."""
        from limner.errors import ImageInputError
        from limner.limits import check_prompt
        from limner.studio.reading import load_image, read_reference
        from limner.studio.routing import route_turn

        try:
            prompt = check_prompt(prompt)
            size, out_size = output_sizes(size)
            opts = self._options(n, seed, size, quality, background, sampling, preview_every)
            think = quality == "high" if think is None else think
            best_of = default_best_of(quality) if best_of is None else best_of
            from limner.limits import check_best_of

            if best_of is not None:
                check_best_of(best_of)
            ref_images = [load_image(r, f"reference image {i + 1}") for i, r in enumerate(references or [])]
        except (ValueError, ImageInputError) as e:
            raise InvalidRequest(str(e)) from e
        who = {"moderation": moderation, "age": age}
        decisions: list[Any] = []
        self._check_prompt(prompt, decisions, user=user, **who)  # safety first, before any routing answer
        if not references:
            route_turn(prompt)  # an edit instruction with no image in context is refused, not drawn anew
        self._check_images(ref_images, "input", prompt, decisions, user=user, **who)
        try:
            refs = [read_reference(im, f"reference image {i + 1}") for i, im in enumerate(ref_images)]
            drawn = self.studio.generate(prompt, opts, think=think, best_of=best_of, references=refs,
                                         progress=progress)
        except (ValueError, ImageInputError) as e:
            raise InvalidRequest(str(e)) from e
        native = resized(drawn, out_size) if out_size else None
        edited_from = [r if isinstance(r, bytes) else _image_bytes(im)
                       for r, im in zip(references or [], ref_images, strict=True)] or None
        result = self._deliver(prompt, drawn, decisions, output_format, output_compression, user, edited_from,
                               request_id, **who)
        result.native_size = native
        return result

    def edit(
        self,
        image: Any,
        instruction: str,
        *,
        mask: Any | None = None,
        plan: Any | None = None,
        n: int = 1,
        seed: int | None = None,
        quality: str = "auto",
        background: str = "auto",
        best_of: int | None = None,
        output_format: str = "png",
        output_compression: int | None = None,
        moderation: str = "auto",
        user: str | None = None,
        age: int | None = None,
        sampling: SamplingParams | None = None,
        progress: Progress | None = None,
        preview_every: int = 0,
        references: list[Any] | None = None,
        request_id: str | None = None,
    ) -> PipelineResult:
        """Edit `image` (path, bytes or PIL): a world.md edit instruction, or what to draw inside `mask`
        (alpha 0 = the area to edit). Outside the edited region the image is kept exactly.

        `preview_every`: tokens between partial previews sent to `progress`. `references`: further
        uploads sent with the image (the Images API takes several); they pass the input-image safety
        check and are recorded as C2PA ingredients, but only `image` is edited. Uploads given as bytes
        are recorded byte for byte, so the manifest's ingredient hashes match the files sent."""
        from limner.errors import ImageInputError
        from limner.limits import check_best_of, check_prompt
        from limner.studio.reading import load_image

        try:
            if image is None:
                raise ValueError(f"edit instruction {instruction!r} has no image in context: give an image to edit")
            instruction = check_prompt(instruction)
            base = load_image(image, "image to edit")
            mask_im = None if mask is None else load_image(mask, "mask")
            extra = [load_image(r, f"image {i + 2}") for i, r in enumerate(references or [])]
            opts = self._options(n, seed, "auto", quality, background, sampling, preview_every)
            best_of = default_edit_best_of(quality) if best_of is None else best_of
            if best_of is not None:
                check_best_of(best_of)
        except (ValueError, ImageInputError) as e:
            raise InvalidRequest(str(e)) from e
        who = {"moderation": moderation, "age": age}
        decisions: list[Any] = []
        self._check_prompt(instruction, decisions, user=user, **who)
        self._check_images([base, *extra], "input", instruction, decisions, user=user, **who)
        try:
            drawn = self.studio.edit(base, instruction, opts, plan=plan, mask=mask_im, best_of=best_of,
                                     progress=progress)
        except (ValueError, ImageInputError) as e:
            raise InvalidRequest(str(e)) from e
        sent = [image, *(references or [])]
        ingredients = [u if isinstance(u, bytes) else _image_bytes(im)
                       for u, im in zip(sent, [base, *extra], strict=True)]
        return self._deliver(instruction, drawn, decisions, output_format, output_compression, user,
                             ingredients, request_id, **who)

    def vary(
        self,
        image: Any,
        *,
        n: int = 1,
        seed: int | None = None,
        size: str | tuple[int, int] = "auto",
        quality: str = "auto",
        output_format: str = "png",
        output_compression: int | None = None,
        moderation: str = "auto",
        user: str | None = None,
        age: int | None = None,
        sampling: SamplingParams | None = None,
        progress: Progress | None = None,
        request_id: str | None = None,
    ) -> PipelineResult:
        """Variations of `image` (path, bytes or PIL), as DALL-E 2's `/v1/images/variations` makes them. An image
        showing a world object gets that object drawn anew on a new seed (the reference path of `__call__`);
        any other image gets the model's own redraw of half its tokens (`Studio.vary`). `size` "auto" keeps the
        native size closest to the upload's; any other size is delivered resized."""
        from limner.errors import ImageInputError
        from limner.studio.reading import load_image, observe

        try:
            base = load_image(image, "image")
            out_size = None if size == "auto" else parse_output_size(size if isinstance(size, str) else
                                                                     f"{size[0]}x{size[1]}")
            opts = self._options(n, seed, "auto", quality, "auto", sampling, 0)
        except (ValueError, ImageInputError) as e:
            raise InvalidRequest(str(e)) from e
        common: dict[str, Any] = dict(n=n, seed=opts.seed, quality=quality, output_format=output_format,
                                      output_compression=output_compression, moderation=moderation, user=user,
                                      age=age, sampling=sampling, progress=progress, request_id=request_id)
        if observe(base):
            return self(VARIATION_PROMPT, size=size if out_size else closest_size(*base.size), references=[image],
                        **common)
        who = {"moderation": moderation, "age": age}
        decisions: list[Any] = []
        self._check_images([base], "input", VARIATION_PROMPT, decisions, user=user, **who)
        drawn = self.studio.vary(base, opts, VARIATION_PROMPT, progress)
        native = resized(drawn, out_size) if out_size and out_size != drawn.images[0].size else None
        sent = image if isinstance(image, bytes) else _image_bytes(base)
        result = self._deliver(VARIATION_PROMPT, drawn, decisions, output_format, output_compression, user, [sent],
                               request_id, **who)
        result.native_size = native
        return result

    def chat(self, **defaults: Any) -> Any:
        """A conversation that keeps its images in context: `conv.send("a red star")`, then
        `conv.send("make it blue")`. `defaults` (seed, quality, think, best_of, ...) apply to every turn."""
        from limner.studio.conversation import Conversation

        return Conversation(self, **defaults)
