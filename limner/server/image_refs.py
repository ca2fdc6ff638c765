"""Input images named in a JSON body, the three ways OpenAI's clients name them: a base64 data URL, an http(s)
URL (fetched with the SSRF guard of `limner.server.fetch`), or the `file_id` of an upload to `/v1/files`.

Used by JSON-body edits (`images[]`, `mask`) and by Responses (`input_image`, `input_image_mask`). Each
function returns the image's bytes or raises a 400 APIError naming the parameter; decoding the bytes as an
image is the caller's (`serving_images.decode_upload`). The http fetch blocks, so callers run these off the
event loop.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from limner.server.deps import AppState
from limner.server.errors import invalid, not_found
from limner.server.fetch import FetchError, fetch_url
from limner.server.files import Files


def data_url_bytes(url: str, param: str) -> bytes:
    """The bytes of a base64 data URL sent for `param`; a 400 naming it for anything else."""
    if not url.startswith("data:") or ";base64," not in url:
        raise invalid(f"'{param}' must be a base64 data URL (data:image/png;base64,...) or an http(s) URL",
                      param=param, code="invalid_image_url")
    try:
        return base64.b64decode(url.split(";base64,", 1)[1], validate=True)
    except (binascii.Error, ValueError) as e:
        raise invalid(f"'{param}' is not valid base64", param=param, code="invalid_image_url") from e


def url_bytes(state: AppState, url: str, param: str) -> bytes:
    """The image at `url` for `param`: a data URL decoded, an http(s) URL fetched within the server's limits."""
    if url.startswith(("http://", "https://")):
        s = state.settings
        try:
            return fetch_url(url, max_bytes=s.fetch_max_bytes, timeout_s=s.fetch_timeout_s,
                             allow_private=s.fetch_allow_private)
        except FetchError as e:
            raise invalid(f"'{param}' could not be fetched: {e}", param=param, code="invalid_image_url") from e
    return data_url_bytes(url, param)


def file_bytes(state: AppState, owner: str, file_id: Any, param: str) -> bytes:
    """The bytes of the caller's upload `file_id`; a 400 when it is not a string, a 404 when the caller has no
    such file (another tenant's file does not exist for them)."""
    if not isinstance(file_id, str) or not file_id:
        raise invalid(f"'{param}' must be a file id (file-...)", param=param, code="invalid_value")
    data = Files(state.store).read(file_id, owner)
    if data is None:
        raise not_found(f"'{param}': no file with id {file_id[:64]!r} (upload it with POST /v1/files)", param=param,
                        code="file_not_found")
    return data


def ref_bytes(state: AppState, owner: str, ref: Any, param: str) -> bytes:
    """The bytes of one `{"image_url": ...}` or `{"file_id": ...}` image reference sent for `param`."""
    if not isinstance(ref, dict) or not ({"image_url", "file_id"} & {k for k, v in ref.items() if v is not None}):
        raise invalid(f"'{param}' must be an object with 'image_url' (a data or http(s) URL) or 'file_id'",
                      param=param, code="invalid_value")
    if ref.get("file_id") is not None:
        return file_bytes(state, owner, ref["file_id"], f"{param}.file_id")
    url = ref.get("image_url")
    if not isinstance(url, str):
        raise invalid(f"'{param}.image_url' must be a string", param=f"{param}.image_url", code="invalid_value")
    return url_bytes(state, url, f"{param}.image_url")
