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
from dataclasses import dataclass
from typing import Any

from limner.limits import MAX_INPUT_IMAGES
from limner.server.deps import AppState
from limner.server.errors import invalid, not_found
from limner.server.fetch import FetchError, fetch_url
from limner.server.files import Files


@dataclass
class Budget:
    """What one request's image references may still take: images (MAX_INPUT_IMAGES and a mask) and bytes
    (the request body limit, counted again over what the references bring in), so that a small body naming
    the same large file or URL many times cannot fill the server's memory."""

    images: int
    size: int  # bytes

    @staticmethod
    def of(state: AppState) -> Budget:
        """A request's budget under the server's settings."""
        return Budget(MAX_INPUT_IMAGES + 1, state.settings.max_body_bytes)

    def take(self, data: bytes, param: str) -> bytes:
        """Count `data` against the budget; a 400 naming `param` once it is spent."""
        self.images -= 1
        self.size -= len(data)
        if self.images < 0:
            raise invalid(f"'{param}': a request may name at most {MAX_INPUT_IMAGES} images and a mask",
                          param=param, code="too_many_images")
        if self.size < 0:
            raise invalid(f"'{param}': the images this request names add up to more than the "
                          "request size limit", param=param, code="request_too_large")
        return data


def data_url_bytes(url: str, param: str) -> bytes:
    """The bytes of a base64 data URL sent for `param`; a 400 naming it for anything else."""
    if not url.startswith("data:") or ";base64," not in url:
        raise invalid(f"'{param}' must be a base64 data URL (data:image/png;base64,...) or an http(s) URL",
                      param=param, code="invalid_image_url")
    try:
        return base64.b64decode(url.split(";base64,", 1)[1], validate=True)
    except (binascii.Error, ValueError) as e:
        raise invalid(f"'{param}' is not valid base64", param=param, code="invalid_image_url") from e


def url_bytes(state: AppState, url: str, param: str, max_bytes: int | None = None) -> bytes:
    """The image at `url` for `param`: a data URL decoded, an http(s) URL fetched within the server's limits
    (and `max_bytes`, what the request's budget has left)."""
    if url.startswith(("http://", "https://")):
        s = state.settings
        cap = s.fetch_max_bytes if max_bytes is None else max(0, min(s.fetch_max_bytes, max_bytes))
        try:
            return fetch_url(url, max_bytes=cap, timeout_s=s.fetch_timeout_s, allow_private=s.fetch_allow_private)
        except FetchError as e:
            raise invalid(f"'{param}' could not be fetched: {e}", param=param, code="invalid_image_url") from e
    return data_url_bytes(url, param)


def file_bytes(state: AppState, owner: str, file_id: Any, param: str) -> bytes:
    """The bytes of the caller's upload `file_id`; a 400 when it is not a string, a 404 when the caller has no
    such file (another tenant's file does not exist for them)."""
    if not isinstance(file_id, str) or not file_id or "\x00" in file_id:
        raise invalid(f"'{param}' must be a file id (file-...)", param=param, code="invalid_value")
    data = Files(state.store).read(file_id, owner)
    if data is None:
        raise not_found(f"'{param}': no file with id {file_id[:64]!r} (upload it with POST /v1/files)", param=param,
                        code="file_not_found")
    return data


def ref_bytes(state: AppState, owner: str, ref: Any, param: str, budget: Budget) -> bytes:
    """The bytes of one `{"image_url": ...}` or `{"file_id": ...}` image reference sent for `param`, counted
    against the request's `budget`."""
    return budget.take(_ref_bytes(state, owner, ref, param, budget.size), param)


def _ref_bytes(state: AppState, owner: str, ref: Any, param: str, max_bytes: int) -> bytes:
    if not isinstance(ref, dict) or not ({"image_url", "file_id"} & {k for k, v in ref.items() if v is not None}):
        raise invalid(f"'{param}' must be an object with 'image_url' (a data or http(s) URL) or 'file_id'",
                      param=param, code="invalid_value")
    if ref.get("file_id") is not None:
        return file_bytes(state, owner, ref["file_id"], f"{param}.file_id")
    url = ref.get("image_url")
    if not isinstance(url, str):
        raise invalid(f"'{param}.image_url' must be a string", param=f"{param}.image_url", code="invalid_value")
    return url_bytes(state, url, f"{param}.image_url", max_bytes)
