"""API keys: stored hashed, each with a per-key rate limit; and who owns a request.

Every record belongs to an owner: a key's id, or "local" in the single-user mode. A key never sees another
owner's responses, images or conversations (they answer 404, as if they did not exist). The local mode,
which needs no key, is the default only when the server listens on a loopback address.
"""

from __future__ import annotations

import collections
import hashlib
import secrets
import threading
import time
from dataclasses import dataclass

from fastapi import Request

from limner.server.errors import APIError
from limner.server.store import Store, new_id

KEY_PREFIX = "lk-"
LOCAL = "local"


@dataclass
class ApiKey:
    """An API key as stored, without its secret (only the hash is kept); its id owns what the key creates."""

    id: str
    name: str
    created_at: float
    revoked_at: float | None
    rate_per_min: int


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class Keys:
    """The API keys in the store: created with a secret that is shown once, listed, revoked, looked up."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def create(self, name: str, rate_per_min: int = 60) -> tuple[ApiKey, str]:
        """Returns the key record and its secret; the secret is shown once and only its hash is kept."""
        if not name.strip():
            raise ValueError("a key needs a non-empty name")
        if not 1 <= rate_per_min <= 100_000:
            raise ValueError(f"rate_per_min must be within 1..100000, got {rate_per_min}")
        secret = KEY_PREFIX + secrets.token_urlsafe(32)
        key = ApiKey(new_id("key"), name.strip(), time.time(), None, rate_per_min)
        with self.store.transaction() as db:
            db.execute("INSERT INTO api_keys VALUES (?,?,?,?,?,?)",
                       (key.id, key.name, _hash(secret), key.created_at, None, rate_per_min))
        return key, secret

    def list(self) -> list[ApiKey]:
        """Every key, revoked ones included, oldest first."""
        rows = self.store._query("SELECT id, name, created_at, revoked_at, rate_per_min FROM api_keys "
                                 "ORDER BY created_at")
        return [ApiKey(**dict(r)) for r in rows]

    def revoke(self, key_id: str) -> bool:
        """Revoke the key with this id at once; False when it is unknown or already revoked."""
        with self.store.transaction() as db:
            return db.execute("UPDATE api_keys SET revoked_at=? WHERE id=? AND revoked_at IS NULL",
                              (time.time(), key_id)).rowcount > 0

    def lookup(self, secret: str) -> ApiKey | None:
        """The unrevoked key whose secret this is, or None."""
        rows = self.store._query("SELECT id, name, created_at, revoked_at, rate_per_min FROM api_keys "
                                 "WHERE hash=? AND revoked_at IS NULL", (_hash(secret),))
        return ApiKey(**dict(rows[0])) if rows else None


class RateLimiter:
    """A sliding one-minute window per key, in memory (one API process)."""

    def __init__(self) -> None:
        self._hits: dict[str, collections.deque[float]] = collections.defaultdict(collections.deque)
        self._lock = threading.Lock()

    def check(self, key: ApiKey) -> None:
        """Count one request against `key`'s per-minute limit; raises a 429 APIError (with Retry-After)
        instead when the limit is reached, without counting it."""
        now = time.monotonic()
        with self._lock:
            hits = self._hits[key.id]
            while hits and hits[0] <= now - 60:
                hits.popleft()
            if len(hits) >= key.rate_per_min:
                retry = max(1, int(61 - (now - hits[0])))
                raise APIError(f"Rate limit reached for key {key.name!r}: {key.rate_per_min} requests per minute.",
                               status=429, type="requests", code="rate_limit_exceeded",
                               headers={"Retry-After": str(retry)})
            hits.append(now)


def invalid_key(message: str) -> APIError:
    """The 401 `invalid_api_key` error, as OpenAI answers a missing or wrong key."""
    return APIError(message, status=401, code="invalid_api_key")


def owner_of(request: Request, keys: Keys, limiter: RateLimiter, local_mode: bool) -> str:
    """The owner of this request: a valid key's id, else "local" when the local mode is on; else 401."""
    auth = request.headers.get("authorization", "")
    token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
    if token.startswith(KEY_PREFIX):
        key = keys.lookup(token)
        if key is None:
            raise invalid_key("Incorrect API key provided: the key is unknown or revoked.")
        limiter.check(key)
        return key.id
    if local_mode:
        return LOCAL  # single-user mode: any other bearer (the SDK insists on one) means the local user
    raise invalid_key("You didn't provide an API key. Create one with `limner keys create NAME` and send it as "
                      "'Authorization: Bearer lk-...'.")
