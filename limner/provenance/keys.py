"""The secret that keys the watermark pattern: 32 random bytes in the data directory, made on first use.

Whoever holds the key can read (and could forge or target) the watermark, so it is stored owner-only
and never leaves the deployment; verification only needs to run where the key is.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

KEY_BYTES = 32


def load_watermark_key(path: Path, *, create: bool) -> bytes | None:
    """The key at `path`; created when `create` and missing, else None when missing."""
    try:
        key = path.read_bytes()
    except FileNotFoundError:
        if not create:
            return None
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + f".tmp{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(secrets.token_bytes(KEY_BYTES))
        try:
            os.link(tmp, path)  # first writer wins when two processes start at once
        except FileExistsError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
        key = path.read_bytes()
    if len(key) != KEY_BYTES:
        raise ValueError(f"watermark key {path} has {len(key)} bytes, expected {KEY_BYTES}")
    return key
