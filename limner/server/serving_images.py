"""`/v1/images/generations` and `/v1/images/edits`: validation, the job, persistence, JSON or SSE answers."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, StreamingResponse
from PIL import Image

from limner.engine.generator import resolve_size
from limner.limits import MAX_INPUT_IMAGES, MAX_INPUT_PIXELS, parse_output_size
from limner.server.deps import AppState
from limner.server.engine import EditInput, GenOutcome, GenSpec, spec_from_json, spec_to_json
from limner.server.errors import APIError, error_for, invalid
from limner.server.jobs import Job, job_events, run_until_disconnect
from limner.server.protocol import ImageData, ImageOptions, ImagesResponse, ImagesUsage
from limner.server.signed_urls import signed_path, url_secret
from limner.server.store import ImageRow, new_id

log = logging.getLogger("limner.server")

UPLOAD_FORMATS = ("PNG", "JPEG", "WEBP")


# -- validation -----------------------------------------------------------------------------------------


def check_options(state: AppState, o: ImageOptions) -> None:
    """Validate what the schema cannot: the model, the size, and the format, background and streaming
    combinations; raises a 400 or 404 APIError."""
    state.resolve_image_model(o.model)
    if o.size != "auto":
        try:
            parse_output_size(o.size)
        except ValueError as e:
            raise invalid(str(e), param="size", code="invalid_value") from e
    if o.background == "transparent" and o.output_format == "jpeg":
        raise invalid("background 'transparent' needs output_format 'png' or 'webp'; jpeg has no alpha channel",
                      param="background", code="invalid_value")
    if o.stream and o.partial_images and o.n > 1:
        raise invalid("streaming partial images supports n=1 only", param="n", code="invalid_value")


def answer_format(o: ImageOptions) -> str:
    """How images come back: the request's `response_format`, else OpenAI's default for the model named, which
    is `url` for the DALL-E models (their clients read `data[i].url`) and `b64_json` for everything else."""
    if o.response_format is not None:
        return o.response_format
    return "url" if (o.model or "").startswith("dall-e") and not o.stream else "b64_json"


def decode_upload(data: bytes, param: str) -> Image.Image:
    """Decode an uploaded image; any problem is a 400 naming `param`, never a crash."""
    if not data:
        raise invalid(f"'{param}' is empty", param=param, code="invalid_image")
    try:
        im = Image.open(io.BytesIO(data))
        if im.format not in UPLOAD_FORMATS:
            raise invalid(f"'{param}' is a {im.format} image; upload png, jpeg or webp", param=param,
                          code="invalid_image_format")
        if im.width * im.height > MAX_INPUT_PIXELS:
            raise invalid(f"'{param}' is {im.width}x{im.height}; the maximum is {MAX_INPUT_PIXELS} pixels",
                          param=param, code="image_too_large")
        im.load()
    except APIError:
        raise
    except Image.DecompressionBombError as e:
        raise invalid(f"'{param}' is too large to decode ({e})", param=param, code="image_too_large") from e
    except Image.UnidentifiedImageError as e:  # its message names an internal buffer object: say it plainly
        raise invalid(f"'{param}' is not a png, jpeg or webp image ({len(data)} bytes that no image decoder "
                      "recognises)", param=param, code="invalid_image") from e
    except Exception as e:  # truncated files, corrupt chunks
        raise invalid(f"'{param}' could not be decoded as an image ({type(e).__name__}: {e})"[:500], param=param,
                      code="invalid_image") from e
    return im


# -- the job --------------------------------------------------------------------------------------------


def persist(state: AppState, spec: GenSpec, out: GenOutcome, kind: str, *, conversation_id: str | None = None,
            response_id: str | None = None, item_ids: list[str] | None = None,
            revised_prompt: str | None = None) -> list[ImageRow]:
    """The rows (with their bytes) of one request's images; `Store.save` writes them in one transaction."""
    rows = []
    settings = {"size": f"{out.size[0]}x{out.size[1]}", "quality": spec.quality, "background": spec.background,
                "output_format": spec.output_format, "output_compression": spec.output_compression,
                "moderation": spec.moderation, "n": spec.n, "plan": out.plan, "style": spec.style}
    for i, im in enumerate(out.images):
        image_id = new_id("image")
        rows.append(ImageRow(id=image_id, created_at=time.time(), kind=kind, request_id=out.request_id,
                             prompt=spec.prompt, settings=settings, format=im.format, data=im.data, safety=out.safety,
                             conversation_id=conversation_id, response_id=response_id,
                             item_id=item_ids[i] if item_ids else None, revised_prompt=revised_prompt,
                             seed=out.seed, record_id=im.record_id, payload=im.payload))
    return rows


def resolved_background(out: GenOutcome) -> str:
    """The background the images came out with: transparent when the first one has alpha."""
    return "transparent" if out.images and out.images[0].image.mode in ("RGBA", "LA") else "opaque"


def resolved_quality(q: str) -> str:
    """The quality to report: `auto` draws as medium, so it is reported as medium."""
    return "medium" if q == "auto" else q


REPORTED_SIZES = ("1024x1024", "1024x1536", "1536x1024")  # ImagesResponse.size's enum in OpenAI's spec


def reported_size(size: tuple[int, int]) -> str | None:
    """The `size` field of an answer: the delivered size when OpenAI's spec lists it, else None (left out)."""
    wh = f"{size[0]}x{size[1]}"
    return wh if wh in REPORTED_SIZES else None


def images_response(spec: GenSpec, out: GenOutcome, urls: list[str] | None = None) -> ImagesResponse:
    """The JSON answer of a finished, non-streaming Images API request; with `urls` (response_format "url"),
    each image as its signed URL instead of its bytes."""
    return ImagesResponse(
        data=[ImageData(url=urls[i], revised_prompt=out.revised_prompt) if urls is not None else
              ImageData(b64_json=base64.b64encode(im.data).decode(), revised_prompt=out.revised_prompt)
              for i, im in enumerate(out.images)],
        background=resolved_background(out),  # type: ignore[arg-type]
        output_format=spec.output_format,  # type: ignore[arg-type]
        quality=resolved_quality(spec.quality),  # type: ignore[arg-type]
        size=reported_size(out.size),  # type: ignore[arg-type]
        usage=ImagesUsage.of(out.usage, out.image_tokens),
    )


def sse(event: str, data: dict[str, Any]) -> bytes:
    """One server-sent event: an `event:` line and compact JSON `data:`."""
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


async def first_event(job: Job, fut: asyncio.Future[Any]) -> tuple[str, Any]:
    """Wait for the job to start drawing (its checks passed) or to end; errors before that become HTTP errors."""
    kind, value = await job.events.get()
    if kind == "end":
        fut.result()  # raises the job's error, if any
    return kind, value


def image_work(state: AppState, spec: GenSpec, kind: str, owner: str) -> Callable[[Job], tuple[GenOutcome,
                                                                                              list[ImageRow]]]:
    """The job of one Images API request: draw, then store every image in one transaction."""

    def work(j: Job) -> tuple[GenOutcome, list[ImageRow]]:
        out = state.runner.run(spec, j)
        rows = persist(state, spec, out, kind, revised_prompt=out.revised_prompt)
        j.check()  # the client left while we were encoding: keep nothing
        state.store.save(rows, owner=owner)
        return out, rows

    return work


def image_recipe(spec: GenSpec, kind: str) -> str:
    """What a restarted server needs to redo this request (see `limner.server.recovery`)."""
    return json.dumps({"type": "images", "kind": kind, "spec": spec_to_json(spec)})


def image_work_from_recipe(state: AppState, recipe: dict[str, Any], owner: str) -> Callable[[Job], Any]:
    """The job of an Images API request that a restarted server resumes from its recipe (no
    partial previews: nobody is watching)."""
    spec = spec_from_json(recipe["spec"])
    spec.partial_images = 0  # nobody is watching a resumed job's previews
    return image_work(state, spec, recipe["kind"], owner)


async def run_images(state: AppState, request: Request, spec: GenSpec, kind: str, stream: bool, owner: str,
                     response_format: str | None = None) -> Any:
    """Admit, run, persist and answer one Images API request (`response_format` "url": signed URLs)."""
    prefix = "image_generation" if kind == "generation" else "image_edit"
    job = state.queue.admit(kind, owner=owner, recipe=image_recipe(spec, kind))
    fut = state.queue.start(job, image_work(state, spec, kind, owner))
    if not stream:
        try:
            out, rows = await run_until_disconnect(fut, job, request.is_disconnected)
        except BaseException as e:
            if isinstance(e, asyncio.CancelledError):
                job.cancel.set()
                raise
            raise error_for(e) from e
        urls = None
        if response_format == "url":
            secret = url_secret(str(state.settings.data_dir))
            base = str(request.base_url).rstrip("/")
            urls = [base + signed_path(secret, row.id, owner, row.format) for row in rows]
        return JSONResponse(images_response(spec, out, urls).model_dump(exclude_none=True))

    try:
        first = await first_event(job, fut)
    except BaseException as e:
        job.cancel.set()
        if isinstance(e, asyncio.CancelledError):
            raise
        raise error_for(e) from e
    size = spec.size
    if spec.edit is None and size == "auto":  # partial events name the size the image will have
        w, h = resolve_size(size, spec.prompt)
        size = f"{w}x{h}"
    # the stream events' `size` enum is OpenAI's three sizes and "auto": any other size is reported as "auto"
    common = {"background": spec.background, "output_format": spec.output_format,
              "quality": spec.quality, "size": size if size in REPORTED_SIZES else "auto"}

    async def events() -> AsyncIterator[bytes]:
        try:
            pending: list[tuple[str, Any]] = [first]
            async for ev in _chain(pending, job_events(job)):
                k, v = ev
                if k == "partial":
                    idx, data = v
                    yield sse(f"{prefix}.partial_image", {
                        "type": f"{prefix}.partial_image", "b64_json": base64.b64encode(data).decode(),
                        "created_at": int(time.time()), "partial_image_index": idx, **common})
            try:
                out, _ = await fut
            except Exception as e:
                err = error_for(e)
                yield sse("error", {"type": "error", **err.body()})
                return
            usage = ImagesUsage.of(out.usage, out.image_tokens).model_dump()
            for im in out.images:
                yield sse(f"{prefix}.completed", {
                    "type": f"{prefix}.completed", "b64_json": base64.b64encode(im.data).decode(),
                    "created_at": int(time.time()), **common, "background": resolved_background(out),
                    "quality": resolved_quality(spec.quality), "size": reported_size(out.size) or "auto",
                    "usage": usage})
        finally:
            if not fut.done():
                job.cancel.set()  # the client went away mid-stream

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


async def _chain(first: list[tuple[str, Any]], rest: AsyncIterator[tuple[str, Any]]) -> AsyncIterator[tuple[str, Any]]:
    for ev in first:
        if ev[0] == "end":
            return
        yield ev
    async for ev in rest:
        yield ev


def spec_from(o: ImageOptions, prompt: str, edit: EditInput | None = None) -> GenSpec:
    """The GenSpec of an Images API request; partial previews only when it streams."""
    return GenSpec(prompt=prompt, n=o.n, seed=o.seed, size=o.size, quality=o.quality, background=o.background,
                   output_format=o.output_format, output_compression=o.output_compression, moderation=o.moderation,
                   user=o.user, partial_images=o.partial_images if o.stream else 0, edit=edit, style=o.style)


def edit_input(uploads: list[tuple[str, bytes]], mask: bytes | None) -> EditInput:
    """The uploads and mask of `/v1/images/edits`, decoded and checked (count, mask size and alpha);
    raises a 400 APIError."""
    if not uploads:
        raise invalid("Missing required parameter: 'image'.", param="image", code="missing_required_parameter")
    if len(uploads) > MAX_INPUT_IMAGES:
        raise invalid(f"at most {MAX_INPUT_IMAGES} images can be edited at once, got {len(uploads)}", param="image",
                      code="too_many_images")
    images = [decode_upload(data, param) for param, data in uploads]
    m = None
    if mask is not None:
        m = decode_upload(mask, "mask")
        if m.size != images[0].size:
            raise invalid(f"mask is {m.width}x{m.height} but the image is {images[0].width}x{images[0].height}; "
                          "they must be the same size", param="mask", code="invalid_value")
        if "A" not in m.getbands():
            raise invalid("mask has no alpha channel; its fully transparent (alpha 0) pixels mark the area to edit",
                          param="mask", code="invalid_value")
        m = m.convert("RGBA")
    return EditInput(images=images, originals=[data for _, data in uploads], mask=m)
