"""Expiring, signed image URLs for `response_format: "url"`: the link a DALL-E client (LangChain's
DallEAPIWrapper, for one) downloads without an API key.

A URL names the image, the owner (the API key's tenant) it belongs to and when it expires, with an HMAC-SHA256
of the three under a server secret. The download route checks the signature and the expiry, then reads the
image as that owner, so a URL can neither be forged, nor outlive its hour, nor reach another tenant's image.
The secret is $LIMNER_URL_SECRET (give every API process of one deployment the same one), else a random
32-byte file `url_secret` in the data directory, created on first use.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlencode

from limner.server.errors import APIError

URL_TTL_S = 3600  # OpenAI's image URLs last an hour as well
SECRET_FILE = "url_secret"


@lru_cache(maxsize=8)
def url_secret(data_dir: str) -> bytes:
    """The signing secret: $LIMNER_URL_SECRET, else `data_dir`/url_secret (created, owner-only, when missing)."""
    env = os.environ.get("LIMNER_URL_SECRET")
    if env:
        return env.encode()
    path = Path(data_dir) / SECRET_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(secrets.token_bytes(32))
    return path.read_bytes()


def signature(secret: bytes, image_id: str, owner: str, expires: int) -> str:
    """Hex HMAC-SHA256 of (image id, owner, expiry) under `secret`."""
    return hmac.new(secret, f"{image_id}\n{owner}\n{expires}".encode(), hashlib.sha256).hexdigest()


def signed_path(secret: bytes, image_id: str, owner: str, fmt: str = "png", now: float | None = None,
                ttl_s: int = URL_TTL_S) -> str:
    """The path (with its query) of a URL to `image_id` that `owner` may hand out until now + ttl_s. The path ends
    in the file's extension, as clients that name the download after the URL (LibreChat) expect."""
    expires = int(now if now is not None else time.time()) + ttl_s
    query = urlencode({"owner": owner, "expires": expires, "sig": signature(secret, image_id, owner, expires)})
    return f"/v1/limner/images/{image_id}/file.{'jpg' if fmt == 'jpeg' else fmt}?{query}"


def check_signed(secret: bytes, image_id: str, owner: str, expires: int, sig: str, now: float | None = None) -> None:
    """APIError 403 for a signature that does not match, 410 for an expired URL; None when it may be served."""
    # bytes, not str: compare_digest refuses non-ASCII strings, and a URL may carry anything
    if not hmac.compare_digest(signature(secret, image_id, owner, expires).encode(), sig.encode("utf-8", "replace")):
        raise APIError("This image URL's signature does not match.", status=403, code="invalid_signature")
    if (now if now is not None else time.time()) > expires:
        raise APIError("This image URL has expired; generate the image again or use b64_json.", status=410,
                       code="url_expired")
