"""The FastAPI app: routes of the OpenAI-compatible API, limner's history/gallery API and the web UI."""

from __future__ import annotations

import io
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import ValidationError
from starlette.datastructures import UploadFile
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from limner.limits import MAX_INPUT_IMAGES, MAX_N, MAX_PROMPT_CHARS, MIN_N
from limner.server import errors
from limner.server.deps import AppState, get_owner, get_state
from limner.server.errors import APIError, invalid, not_found
from limner.server.protocol import ImageGenerationRequest, ResponsesRequest
from limner.server.recovery import resume_unfinished
from limner.server.serving_images import answer_format, check_options, data_url_bytes, edit_input, run_images, spec_from
from limner.server.serving_responses import create_response, get_response
from limner.server.serving_undo import undo_response
from limner.server.settings import ServerSettings
from limner.server.signed_urls import check_signed, url_secret

log = logging.getLogger("limner.server")
STATIC = Path(__file__).resolve().parent / "static"
State = Annotated[AppState, Depends(get_state)]
Owner = Annotated[str, Depends(get_owner)]
MIME = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
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


def create_app(settings: ServerSettings | None = None, state: AppState | None = None) -> FastAPI:
    """Build the app; the model loads at start-up unless a ready `state` is given."""
    settings = settings or ServerSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        st = state or AppState.load(settings)
        app.state.limner = st
        resume_unfinished(st)  # before serving: jobs a crash or restart cut short go first
        try:
            yield
        finally:
            st.close()

    app = FastAPI(title="limner", version="1", lifespan=lifespan,
                  description="OpenAI-compatible Images and Responses APIs for limner's native image model.")
    errors.install(app)

    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)

    # -- OpenAI-compatible API ------------------------------------------------------------------------
    @app.get("/v1/models")
    async def list_models(st: State, _: Owner) -> dict[str, Any]:
        return {"object": "list", "data": [_model(m) for m in st.model_ids()]}

    @app.get("/v1/models/{model}")
    async def retrieve_model(model: str, st: State, _: Owner) -> dict[str, Any]:
        if model not in st.model_ids() and not model.startswith("gpt-image-"):  # as resolve_image_model reads it
            raise errors.model_not_found(model)
        return _model(model)

    @app.post("/v1/images/generations")
    async def images_generations(body: ImageGenerationRequest, request: Request, st: State, owner: Owner) -> Any:
        check_options(st, body)
        return await run_images(st, request, spec_from(body, body.prompt), "generation", body.stream, owner,
                                answer_format(body))

    @app.post("/v1/images/edits", openapi_extra={"requestBody": EDIT_FORM})
    async def images_edits(request: Request, st: State, owner: Owner) -> Any:
        ctype = request.headers.get("content-type", "")
        if ctype.startswith("application/json"):
            uploads, mask, fields = await _json_edit(request)
        elif ctype.startswith("multipart/form-data"):
            uploads, mask, fields = await _multipart_images(request, ("image", "image[]"), allow_mask=True)
        else:
            raise invalid("/v1/images/edits takes multipart/form-data or application/json, not "
                          f"{ctype or 'no content type'!r}", code="invalid_content_type")
        prompt = fields.pop("prompt", None)
        if not prompt:
            raise invalid("Missing required parameter: 'prompt'.", param="prompt", code="missing_required_parameter")
        fidelity = fields.pop("input_fidelity", "low")  # the model does not condition on the input yet (issue 5)
        if fidelity not in ("low", "high"):
            raise invalid(f"input_fidelity must be 'low' or 'high', got {fidelity!r}", param="input_fidelity",
                          code="invalid_value")
        opts = _request_options(st, prompt, fields)
        edit = edit_input(uploads, mask)
        return await run_images(st, request, spec_from(opts, opts.prompt, edit), "edit", opts.stream, owner,
                                answer_format(opts))

    @app.post("/v1/images/variations", openapi_extra={"requestBody": VARIATION_FORM})
    async def images_variations(request: Request, st: State, owner: Owner) -> Any:
        """DALL-E 2's variations: the model draws the uploaded image's main object anew (read from the image as a
        reference, as an edit's references are), on a new seed; an upload with no world object in it is a 400."""
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
        return await run_images(st, request, spec, "variation", False, owner, answer_format(opts))

    @app.post("/v1/responses")
    async def responses_create(body: ResponsesRequest, request: Request, st: State, owner: Owner) -> Any:
        undone = await undo_response(st, request, body, owner)  # "undo" / "go back": the earlier image again
        return undone if undone is not None else await create_response(st, request, body, owner)

    @app.get("/v1/responses/{response_id}")
    async def responses_get(response_id: str, st: State, owner: Owner) -> dict[str, Any]:
        return get_response(st, response_id, owner)

    @app.delete("/v1/responses/{response_id}")
    async def responses_delete(response_id: str, st: State, owner: Owner) -> dict[str, Any]:
        if not st.store.delete_response(response_id, owner):
            raise not_found(f"Response with id '{response_id}' not found.", param="response_id")
        return {"id": response_id, "object": "response", "deleted": True}

    # -- history and gallery (limner's own API) -------------------------------------------------------
    @app.get("/v1/limner/conversations")
    async def conversations(st: State, owner: Owner, limit: Annotated[int, Query(ge=1, le=500)] = 50) -> dict[str, Any]:
        return {"object": "list", "data": st.store.list_conversations(owner, limit)}

    @app.get("/v1/limner/conversations/{conversation_id}")
    async def conversation(conversation_id: str, st: State, owner: Owner) -> dict[str, Any]:
        images = st.store.list_images(owner, conversation_id=conversation_id)
        responses = st.store.conversation_responses(conversation_id, owner)
        if not responses and not images:
            raise not_found(f"Conversation '{conversation_id}' not found.", param="conversation_id")
        turns = [{"response_id": r["id"], "created_at": r["created_at"],
                  "prompt": (r.get("_context") or {}).get("prompt"), "previous_response_id": r["previous_response_id"]}
                 for r in responses]
        return {"id": conversation_id, "turns": turns, "images": [i.public() for i in images]}

    @app.get("/v1/limner/images")
    async def gallery(st: State, owner: Owner, limit: Annotated[int, Query(ge=1, le=500)] = 50) -> dict[str, Any]:
        return {"object": "list", "data": [i.public() for i in st.store.list_images(owner, limit)]}

    @app.get("/v1/limner/images/{image_id}")
    async def image_meta(image_id: str, st: State, owner: Owner) -> dict[str, Any]:
        return _image_row(st, image_id, owner).public()

    @app.get("/v1/limner/images/{image_id}/content")
    async def image_content(image_id: str, st: State, owner: Owner, format: str | None = None) -> Response:
        row = _image_row(st, image_id, owner)
        data = st.store.read_image(row)
        fmt = (format or row.format).lower().replace("jpg", "jpeg")
        if fmt not in MIME:
            raise invalid(f"unknown format {format!r}: expected png, webp or jpeg", param="format")
        if fmt != row.format:
            data = _convert(st, row, data, fmt)
        name = f"limner-{row.id[6:18]}.{'jpg' if fmt == 'jpeg' else fmt}"
        return Response(data, media_type=MIME[fmt], headers={"Content-Disposition": f'inline; filename="{name}"'})

    @app.get("/v1/limner/images/{image_id}/file.{ext}")
    async def image_signed(image_id: str, ext: str, st: State, owner: str, expires: int, sig: str) -> Response:
        """An image by the expiring signed URL an Images API answer gave (response_format "url"); no key needed,
        the signature names the tenant."""
        check_signed(url_secret(str(st.settings.data_dir)), image_id, owner, expires, sig)
        row = _image_row(st, image_id, owner)
        if ext.replace("jpg", "jpeg") != row.format:
            raise not_found(f"Image '{image_id}' is {row.format}, not {ext}.", param="ext")
        return Response(st.store.read_image(row), media_type=MIME[row.format])

    @app.get("/v1/limner/status")
    async def status(st: State, _: Owner) -> dict[str, Any]:
        return {"queue": st.queue.stats(), "jobs": st.store.job_counts(st.settings.node), "model": st.checkpoint_id}

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    # -- the web UI -----------------------------------------------------------------------------------
    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


class BodyLimit:
    """Refuse bodies over `max_bytes` with 413: up front by Content-Length, else while a chunked body streams in."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _too_large(self, n: int | str) -> JSONResponse:
        return APIError(f"The request body is {n} bytes; the maximum is {self.max_bytes}.", status=413,
                        code="request_too_large").response()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None:
            if not length.isdigit():
                return await invalid(f"bad Content-Length {length.decode(errors='replace')!r}").response()(
                    scope, receive, send)
            if int(length) > self.max_bytes:
                return await self._too_large(int(length))(scope, receive, send)
            return await self.app(scope, receive, send)
        # chunked: read it here (bounded), so that an oversized body is a 413 and not a parser's 400
        chunks: list[bytes] = []
        seen = 0
        while True:
            msg = await receive()
            if msg["type"] != "http.request":
                return  # the client went away
            chunks.append(msg.get("body", b""))
            seen += len(chunks[-1])
            if seen > self.max_bytes:
                return await self._too_large(f"over {self.max_bytes}")(scope, receive, send)
            if not msg.get("more_body"):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def _model(model_id: str) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": 1767225600, "owned_by": "limner"}


VARIATION_PROMPT = "the object in this image"  # read from the upload as a reference (studio/reading.py)


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
        else:
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


def _image_ref(ref: Any, param: str) -> bytes:
    """The bytes of one JSON `{"image_url": ...}` or `{"file_id": ...}` image reference; a 400 naming `param`."""
    if not isinstance(ref, dict) or not ({"image_url", "file_id"} & set(ref)):
        raise invalid(f"'{param}' must be an object with 'image_url' (a data URL) or 'file_id'", param=param,
                      code="invalid_value")
    if ref.get("file_id") is not None:
        raise invalid(f"'{param}.file_id': limner has no Files API yet; send the image as a data URL in "
                      "'image_url'", param=f"{param}.file_id", code="unsupported_value")
    url = ref.get("image_url")
    if not isinstance(url, str):
        raise invalid(f"'{param}.image_url' must be a string", param=f"{param}.image_url", code="invalid_value")
    return data_url_bytes(url, f"{param}.image_url")


async def _json_edit(request: Request) -> tuple[list[tuple[str, bytes]], bytes | None, dict[str, Any]]:
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
        raise invalid("Missing required parameter: 'images' (a list of {'image_url': ...} objects).",
                      param="images", code="missing_required_parameter")
    uploads = [(f"images[{i}]", _image_ref(ref, f"images[{i}]")) for i, ref in enumerate(images)]
    mask = _image_ref(body.pop("mask"), "mask") if "mask" in body else None
    return uploads, mask, body


def _image_row(st: AppState, image_id: str, owner: str) -> Any:
    row = st.store.get_image(image_id, owner)
    if row is None:
        raise not_found(f"Image '{image_id}' not found.", param="image_id")
    return row


def _convert(st: AppState, row: Any, data: bytes, fmt: str) -> bytes:
    """A download in another format is a derived image: it leaves through the provenance stage too,
    with the stored original as its C2PA ingredient."""
    from PIL import Image

    im: Image.Image = Image.open(io.BytesIO(data))
    im.load()
    if fmt == "jpeg" and im.mode != "RGB":
        im = im.convert("RGB")
    info = st.pipe.generation_info(row.request_id, row.prompt, edited_from=[data])
    return st.pipe.provenance.apply(im, info, fmt=fmt).data
