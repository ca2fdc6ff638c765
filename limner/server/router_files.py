"""Routes of OpenAI's Files resource, minimal: `POST/GET /v1/files`, `GET/DELETE /v1/files/{file_id}` and
`GET /v1/files/{file_id}/content`. Uploads are the caller's own (another tenant's id is a 404), so an edit or
a Responses `input_image` can name one by `file_id` (see `files.py`)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from starlette.datastructures import UploadFile

from limner.limits import MAX_FILE_BYTES, MAX_FILE_EXPIRY_S, MIN_FILE_EXPIRY_S
from limner.server.deps import Owner, State
from limner.server.errors import invalid, not_found
from limner.server.files import PURPOSES, FileRow, Files
from limner.server.protocol import FileDeleted, FileList, FileObject

router = APIRouter(prefix="/v1/files", tags=["files"])

UPLOAD_FORM: dict[str, Any] = {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file", "purpose"],
    "properties": {
        "file": {"type": "string", "format": "binary"}, "purpose": {"enum": list(PURPOSES)},
        "expires_after[anchor]": {"enum": ["created_at"]},
        "expires_after[seconds]": {"type": "integer", "minimum": MIN_FILE_EXPIRY_S, "maximum": MAX_FILE_EXPIRY_S},
    }}}}}
_SNIFF = ((b"\x89PNG", "image/png"), (b"\xff\xd8\xff", "image/jpeg"), (b"GIF8", "image/gif"))


@router.post("", openapi_extra={"requestBody": UPLOAD_FORM}, response_model_exclude_none=True)
async def create_file(request: Request, st: State, owner: Owner) -> FileObject:
    """Upload a file: multipart `file` and `purpose`, optionally `expires_after[anchor]=created_at` and
    `expires_after[seconds]`."""
    ctype = request.headers.get("content-type", "")
    if not ctype.startswith("multipart/form-data"):
        raise invalid(f"/v1/files takes multipart/form-data, not {ctype or 'no content type'!r}",
                      code="invalid_content_type")
    try:
        form = await request.form(max_files=2, max_fields=10)
    except Exception as e:  # malformed multipart
        raise invalid(f"the multipart body could not be parsed ({e})", code="invalid_multipart") from e
    upload, fields = None, {}
    for key, value in form.multi_items():
        if isinstance(value, UploadFile):
            if key != "file" or upload is not None:
                raise invalid(f"Unknown file parameter: '{key}' (send one 'file').", param=key,
                              code="unknown_parameter")
            upload = value
        else:
            fields[key] = value
    if upload is None:
        raise invalid("Missing required parameter: 'file'.", param="file", code="missing_required_parameter")
    purpose = fields.pop("purpose", None)
    if purpose not in PURPOSES:
        raise invalid(f"purpose must be one of {', '.join(PURPOSES)}, got {purpose!r}", param="purpose",
                      code="invalid_value" if purpose else "missing_required_parameter")
    expires = _expiry(fields)
    if fields:
        key = next(iter(fields))
        raise invalid(f"Unknown parameter: '{key}'.", param=key, code="unknown_parameter")
    data = await upload.read()
    if not data:
        raise invalid("'file' is empty", param="file", code="invalid_value")
    if len(data) > MAX_FILE_BYTES:
        raise invalid(f"'file' is {len(data)} bytes; the maximum is {MAX_FILE_BYTES}", param="file",
                      code="file_too_large")
    name = (upload.filename or "upload").replace("\x00", "").replace("\\", "/").rsplit("/", 1)[-1][:255] or "upload"
    return Files(st.store).create(owner, name, purpose, data, expires).public()


def _expiry(fields: dict[str, Any]) -> int | None:
    """`expires_after[seconds]` (with anchor `created_at`) as seconds, removed from `fields`; None if absent."""
    anchor = fields.pop("expires_after[anchor]", None)
    seconds = fields.pop("expires_after[seconds]", None)
    if anchor is None and seconds is None:
        return None
    if anchor != "created_at":
        raise invalid(f"expires_after[anchor] must be 'created_at', got {anchor!r}", param="expires_after[anchor]",
                      code="invalid_value")
    try:
        n = int(str(seconds))
    except ValueError:
        n = -1
    if not MIN_FILE_EXPIRY_S <= n <= MAX_FILE_EXPIRY_S:
        raise invalid(f"expires_after[seconds] must be an integer from {MIN_FILE_EXPIRY_S} to {MAX_FILE_EXPIRY_S}, "
                      f"got {seconds!r}"[:300], param="expires_after[seconds]", code="invalid_value")
    return n


@router.get("", response_model_exclude_none=True)
async def list_files(st: State, owner: Owner, purpose: str | None = None,
                     limit: Annotated[int, Query(ge=1, le=10_000)] = 10_000,
                     order: Literal["asc", "desc"] = "desc", after: str | None = None) -> FileList:
    """The caller's unexpired files, newest first (OpenAI's list shape and cursor)."""
    rows, more = Files(st.store).list(owner, purpose, limit, order, after)
    return FileList(data=[r.public() for r in rows], has_more=more, first_id=rows[0].id if rows else "",
                    last_id=rows[-1].id if rows else "")


def _file(st: Any, file_id: str, owner: str) -> FileRow:
    row = Files(st.store).get(file_id, owner)
    if row is None:
        raise not_found(f"No such File object: {file_id[:64]}", param="id")
    return row


@router.get("/{file_id}", response_model_exclude_none=True)
async def retrieve_file(file_id: str, st: State, owner: Owner) -> FileObject:
    """One file object."""
    return _file(st, file_id, owner).public()


@router.get("/{file_id}/content")
async def file_content(file_id: str, st: State, owner: Owner) -> Response:
    """The file's bytes, with an image type when they are one (else application/octet-stream)."""
    row = _file(st, file_id, owner)
    data = Files(st.store).read(file_id, owner)
    if data is None:  # deleted or expired between the two reads
        raise not_found(f"No such File object: {file_id[:64]}", param="id")
    mime = next((m for magic, m in _SNIFF if data.startswith(magic)), "application/octet-stream")
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        mime = "image/webp"
    safe = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in row.filename)  # header is latin-1
    return Response(data, media_type=mime, headers={"Content-Disposition": f'attachment; filename="{safe}"'})


@router.delete("/{file_id}")
async def delete_file(file_id: str, st: State, owner: Owner) -> FileDeleted:
    """Delete the caller's file."""
    if not Files(st.store).delete(file_id, owner):
        raise not_found(f"No such File object: {file_id[:64]}", param="id")
    return FileDeleted(id=file_id, deleted=True)
