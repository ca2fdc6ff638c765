"""Routes of OpenAI's Models resource (`/v1/models`), and limner's own API beside it: conversations, the
gallery of generated images (metadata, bytes in any format, expiring signed links) and the queue's status."""

from __future__ import annotations

import io
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response

from limner.server import errors
from limner.server.deps import AppState, Owner, State
from limner.server.errors import invalid, not_found
from limner.server.signed_urls import check_signed, url_secret

models_router = APIRouter(prefix="/v1/models", tags=["models"])
router = APIRouter(prefix="/v1/limner", tags=["limner"])
MIME = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
MODELS_CREATED = 1767225600  # 2026-01-01: a fixed `created` for every model id


def _model(model_id: str) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": MODELS_CREATED, "owned_by": "limner"}


@models_router.get("")
async def list_models(st: State, _: Owner) -> dict[str, Any]:
    """limner, the checkpoint's id and the alias table, as model objects."""
    return {"object": "list", "data": [_model(m) for m in st.model_ids()]}


@models_router.get("/{model}")
async def retrieve_model(model: str, st: State, _: Owner) -> dict[str, Any]:
    """One model id that the loaded model answers to; others are 404 `model_not_found`."""
    if model not in st.model_ids() and not model.startswith("gpt-image-"):  # as resolve_image_model reads it
        raise errors.model_not_found(model)
    return _model(model)


@router.get("/conversations")
async def conversations(st: State, owner: Owner, limit: Annotated[int, Query(ge=1, le=500)] = 50) -> dict[str, Any]:
    """The caller's conversations, newest first."""
    return {"object": "list", "data": st.store.list_conversations(owner, limit)}


@router.get("/conversations/{conversation_id}")
async def conversation(conversation_id: str, st: State, owner: Owner) -> dict[str, Any]:
    """One conversation: its turns and every image drawn in it."""
    images = st.store.list_images(owner, conversation_id=conversation_id)
    responses = st.store.conversation_responses(conversation_id, owner)
    if not responses and not images:
        raise not_found(f"Conversation '{conversation_id}' not found.", param="conversation_id")
    turns = [{"response_id": r["id"], "created_at": r["created_at"],
              "prompt": (r.get("_context") or {}).get("prompt"), "previous_response_id": r["previous_response_id"]}
             for r in responses]
    return {"id": conversation_id, "turns": turns, "images": [i.public() for i in images]}


@router.get("/images")
async def gallery(st: State, owner: Owner, limit: Annotated[int, Query(ge=1, le=500)] = 50) -> dict[str, Any]:
    """The caller's images, newest first, with their settings, seed and provenance payload."""
    return {"object": "list", "data": [i.public() for i in st.store.list_images(owner, limit)]}


@router.get("/images/{image_id}")
async def image_meta(image_id: str, st: State, owner: Owner) -> dict[str, Any]:
    """One image's record."""
    return _image_row(st, image_id, owner).public()


@router.get("/images/{image_id}/content")
async def image_content(image_id: str, st: State, owner: Owner, format: str | None = None) -> Response:
    """One image's bytes, as stored or converted to `format` (png, webp, jpeg)."""
    row = _image_row(st, image_id, owner)
    data = st.store.read_image(row)
    fmt = (format or row.format).lower().replace("jpg", "jpeg")
    if fmt not in MIME:
        raise invalid(f"unknown format {format!r}: expected png, webp or jpeg", param="format")
    if fmt != row.format:
        data = _convert(st, row, data, fmt)
    name = f"limner-{row.id[6:18]}.{'jpg' if fmt == 'jpeg' else fmt}"
    return Response(data, media_type=MIME[fmt], headers={"Content-Disposition": f'inline; filename="{name}"'})


@router.get("/images/{image_id}/file.{ext}")
async def image_signed(image_id: str, ext: str, st: State, owner: str, expires: int, sig: str) -> Response:
    """An image by the expiring signed URL an Images API answer gave (response_format "url"); no key needed,
    the signature names the tenant."""
    check_signed(url_secret(str(st.settings.data_dir)), image_id, owner, expires, sig)
    row = _image_row(st, image_id, owner)
    if ext.replace("jpg", "jpeg") != row.format:
        raise not_found(f"Image '{image_id}' is {row.format}, not {ext}.", param="ext")
    return Response(st.store.read_image(row), media_type=MIME[row.format])


@router.get("/status")
async def status(st: State, _: Owner) -> dict[str, Any]:
    """The job queue's counts and the loaded model's id."""
    return {"queue": st.queue.stats(), "jobs": st.store.job_counts(st.settings.node), "model": st.checkpoint_id}


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
