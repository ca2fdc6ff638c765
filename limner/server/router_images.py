"""Routes of OpenAI's Images resource: `POST /v1/images/generations`, `/edits` and `/variations`.

The routes read the request (JSON or multipart), resolve named input images (data or http(s) URLs, file ids:
`image_refs.py`) off the event loop, and hand a GenSpec to `serving_images.run_images`.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from limner.limits import MAX_INPUT_IMAGES, MAX_N, MAX_PROMPT_CHARS, MIN_N
from limner.pipeline import VARIATION_PROMPT
from limner.server import errors
from limner.server.deps import AppState, Owner, State
from limner.server.errors import invalid
from limner.server.image_refs import Budget, ref_bytes
from limner.server.protocol import ImageGenerationRequest
from limner.server.serving_images import answer_format, check_options, edit_input, run_images, spec_from

router = APIRouter(prefix="/v1/images", tags=["images"])

_BINARY = {"type": "string", "format": "binary"}
# variations take one image and the options that make sense without a prompt
VARIATION_FORM: dict[str, Any] = {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["image"],
    "properties": {
        "image": _BINARY, "model": {"type": "string"}, "n": {"type": "integer", "minimum": MIN_N, "maximum": MAX_N},
        "size": {"type": "string"}, "response_format": {"enum": ["url", "b64_json"]}, "user": {"type": "string"},
    }}}}}
# the edit form is parsed by hand (image and image[] both name uploads), so its schema is written out here
EDIT_FORM: dict[str, Any] = {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["image", "prompt"],
    "properties": {
        "image": {"type": "array", "items": _BINARY, "maxItems": MAX_INPUT_IMAGES}, "mask": _BINARY,
        "prompt": {"type": "string", "maxLength": MAX_PROMPT_CHARS}, "model": {"type": "string"},
        "n": {"type": "integer", "minimum": MIN_N, "maximum": MAX_N}, "size": {"type": "string"},
        "quality": {"enum": ["low", "medium", "high", "auto", "standard", "hd"]},
        "background": {"enum": ["transparent", "opaque", "auto"]},
        "output_format": {"enum": ["png", "jpeg", "webp"]},
        "output_compression": {"type": "integer", "minimum": 0, "maximum": 100},
        "input_fidelity": {"enum": ["low", "high"]}, "moderation": {"enum": ["low", "auto"]},
        "user": {"type": "string"}, "stream": {"type": "boolean"},
        "partial_images": {"type": "integer", "minimum": 0, "maximum": 3},
    }}}}}


@router.post("/generations")
async def images_generations(body: ImageGenerationRequest, request: Request, st: State, owner: Owner) -> Any:
    """A new image from a prompt."""
    check_options(st, body)
    return await run_images(st, request, spec_from(body, body.prompt), "generation", body.stream, owner,
                            answer_format(body))


@router.post("/edits", openapi_extra={"requestBody": EDIT_FORM})
async def images_edits(request: Request, st: State, owner: Owner) -> Any:
    """An edit of uploaded image(s): multipart (`image`/`image[]`, `mask`) or JSON (`images`, `mask` as
    `{image_url | file_id}` references)."""
    ctype = request.headers.get("content-type", "")
    if ctype.startswith("application/json"):
        uploads, mask, fields = await _json_edit(request, st, owner)
    elif ctype.startswith("multipart/form-data"):
        uploads, mask, fields = await _multipart_images(request, ("image", "image[]"), allow_mask=True)
    else:
        raise invalid("/v1/images/edits takes multipart/form-data or application/json, not "
                      f"{ctype or 'no content type'!r}", code="invalid_content_type")
    prompt = fields.pop("prompt", None)
    if not prompt:
        raise invalid("Missing required parameter: 'prompt'.", param="prompt", code="missing_required_parameter")
    fidelity = fields.pop("input_fidelity", "low")  # recorded by OpenAI's clients; limner keeps unedited pixels
    if fidelity not in ("low", "high"):
        raise invalid(f"input_fidelity must be 'low' or 'high', got {fidelity!r}", param="input_fidelity",
                      code="invalid_value")
    opts = _request_options(st, prompt, fields)
    edit = edit_input(uploads, mask)
    return await run_images(st, request, spec_from(opts, opts.prompt, edit), "edit", opts.stream, owner,
                            answer_format(opts))


@router.post("/variations", openapi_extra={"requestBody": VARIATION_FORM})
async def images_variations(request: Request, st: State, owner: Owner) -> Any:
    """DALL-E 2's variations: the model draws the uploaded image anew on a new seed (see `Pipeline.vary`)."""
    ctype = request.headers.get("content-type", "")
    if not ctype.startswith("multipart/form-data"):
        raise invalid(f"/v1/images/variations takes multipart/form-data, not {ctype or 'no content type'!r}",
                      code="invalid_content_type")
    uploads, _, fields = await _multipart_images(request, ("image",), allow_mask=False)
    if "prompt" in fields:
        raise invalid("Unknown parameter: 'prompt' (a variation takes no prompt).", param="prompt",
                      code="unknown_parameter")
    if len(uploads) != 1:
        raise invalid("/v1/images/variations takes exactly one 'image'", param="image", code="invalid_value")
    opts = _request_options(st, VARIATION_PROMPT, fields)
    spec = spec_from(opts, opts.prompt, edit_input(uploads, None))
    spec.variation = True
    return await run_images(st, request, spec, "variation", False, owner, answer_format(opts))


async def _multipart_images(request: Request, image_keys: tuple[str, ...], allow_mask: bool
                            ) -> tuple[list[tuple[str, bytes]], bytes | None, dict[str, Any]]:
    """(uploads as (param, bytes), mask bytes or None, the other fields) of a multipart images request; a file
    under any other name (or a mask where none is allowed) is a 400."""
    try:
        form = await request.form(max_files=64, max_fields=200)
    except Exception as e:  # malformed multipart
        raise invalid(f"the multipart body could not be parsed ({e})", code="invalid_multipart") from e
    uploads: list[tuple[str, bytes]] = []
    mask: bytes | None = None
    fields: dict[str, Any] = {}
    for key, value in form.multi_items():
        if isinstance(value, UploadFile):
            data = await value.read()
            if key in image_keys:
                uploads.append((f"image[{len(uploads)}]" if key == "image[]" else "image", data))
            elif key == "mask" and allow_mask:
                mask = data
            else:
                raise invalid(f"Unknown file parameter: '{key}'.", param=key, code="unknown_parameter")
        elif key in (*image_keys, "mask"):
            raise invalid(f"'{key}' must be a file upload", param=key, code="invalid_value")
        elif value != "null":  # a form cannot send JSON's null; OpenAI's generated clients send the word
            fields[key] = value
    return uploads, mask, fields


def _request_options(st: AppState, prompt: Any, fields: dict[str, Any]) -> ImageGenerationRequest:
    """A form's or JSON body's fields as the validated request (schema, then what the schema cannot check)."""
    try:
        opts = ImageGenerationRequest(prompt=prompt, **fields)
    except ValidationError as e:
        raise errors.validation_error(e) from e  # type: ignore[arg-type]
    check_options(st, opts)
    return opts


async def _json_edit(request: Request, st: AppState, owner: str
                     ) -> tuple[list[tuple[str, bytes]], bytes | None, dict[str, Any]]:
    """(uploads, mask, other fields) of a JSON-body edit: `images` a list of image references, `mask` one."""
    try:
        body = await request.json()
    except ValueError as e:
        raise invalid(f"the JSON body could not be parsed ({e})", code="invalid_json") from e
    if not isinstance(body, dict):
        raise invalid(f"the body must be a JSON object, not {type(body).__name__}", code="invalid_json")
    body = {k: v for k, v in body.items() if v is not None}  # null means the default, as elsewhere
    images = body.pop("images", None)
    if not isinstance(images, list) or not images:
        raise invalid("Missing required parameter: 'images' (a list of {'image_url': ...} or {'file_id': ...} "
                      "objects).", param="images", code="missing_required_parameter")
    if len(images) > MAX_INPUT_IMAGES:
        raise invalid(f"at most {MAX_INPUT_IMAGES} images can be edited at once, got {len(images)}",
                      param="images", code="too_many_images")
    mask_ref = body.pop("mask", None)

    budget = Budget.of(st)

    def resolve() -> tuple[list[tuple[str, bytes]], bytes | None]:  # fetches block: run off the event loop
        uploads = [(f"images[{i}]", ref_bytes(st, owner, ref, f"images[{i}]", budget))
                   for i, ref in enumerate(images)]
        return uploads, ref_bytes(st, owner, mask_ref, "mask", budget) if mask_ref is not None else None

    uploads, mask = await asyncio.to_thread(resolve)
    return uploads, mask, body
