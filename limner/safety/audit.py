"""Durable audit of every safety decision, and the per-user misuse score built from it (SQLite).

A row per decision: stage, verdicts (layer, rule, scores), the prompt and, for images, only hashes
(SHA-256 of the pixels and a perceptual hash) — a blocked image's bytes are never stored. Each refusal
adds the policy's weight for its category to the user's misuse score over a sliding window; past
`misuse.flag_at` the user is flagged for review, past `misuse.suspend_at` suspended.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from limner.safety.verdict import Decision

SCHEMA = """
CREATE TABLE IF NOT EXISTS decisions (
    id TEXT PRIMARY KEY,
    ts REAL NOT NULL,
    user TEXT,
    stage TEXT NOT NULL,
    allowed INTEGER NOT NULL,
    categories TEXT NOT NULL,
    verdicts TEXT NOT NULL,
    prompt TEXT,
    image_hashes TEXT NOT NULL,
    policy_version TEXT,
    age INTEGER,
    moderation TEXT
);
CREATE INDEX IF NOT EXISTS decisions_user_ts ON decisions(user, ts);
CREATE TABLE IF NOT EXISTS users (
    user TEXT PRIMARY KEY,
    score REAL NOT NULL,
    status TEXT NOT NULL,
    updated REAL NOT NULL,
    reviewed REAL NOT NULL DEFAULT 0  -- refusals up to this time were cleared by a reviewer (reset_user)
);
"""
STATUSES: tuple[str, ...] = ("ok", "flagged", "suspended")


class AuditError(RuntimeError):
    """The audit store cannot be opened or written."""


@dataclass
class MisuseState:
    """A user's misuse score over the sliding window and their status: ok, flagged or suspended."""

    user: str
    score: float
    status: str  # ok | flagged | suspended


class AuditStore:
    """SQLite audit log. Thread-safe; each write is one transaction (a decision is stored whole or not at all)."""

    def __init__(
        self,
        path: str | Path,
        *,
        weights: dict[str, float] | None = None,
        window_days: float = 30.0,
        flag_at: float = 5.0,
        suspend_at: float = 15.0,
    ) -> None:
        self.path = Path(path)
        self.weights = dict(weights or {"default": 1.0})
        self.window_s = float(window_days) * 86400.0
        self.flag_at, self.suspend_at = float(flag_at), float(suspend_at)
        self._lock = threading.Lock()
        try:
            if str(path) != ":memory:":
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=30.0)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")  # durable: survives a power cut after commit
            self._conn.executescript(SCHEMA)
            cols = {r[1] for r in self._conn.execute("PRAGMA table_info(users)")}
            if "reviewed" not in cols:  # a store written before reviews kept the decisions' users intact
                self._conn.execute("ALTER TABLE users ADD COLUMN reviewed REAL NOT NULL DEFAULT 0")
        except (sqlite3.Error, OSError) as e:
            raise AuditError(f"cannot open audit store {path}: {e}") from None

    def close(self) -> None:
        """Close the database connection; the store cannot be used afterwards."""
        with self._lock:
            self._conn.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                yield self._conn
                self._conn.execute("COMMIT")
            except BaseException:
                try:
                    self._conn.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
                raise

    def weight(self, category: str | None) -> float:
        """Misuse weight of a refusal in `category`: the policy's weight for it, else its `default`, else 1.0."""
        return float(self.weights.get(category or "", self.weights.get("default", 1.0)))

    def record(
        self,
        decision: Decision,
        *,
        prompt: str | None,
        user: str | None,
        image_hashes: list[dict[str, str]],
        policy_version: str,
        age: int | None,
        moderation: str,
    ) -> str:
        """Store one decision (and update the user's misuse score when refused). Returns the record id."""
        rid = uuid.uuid4().hex
        now = time.time()
        try:
            with self._tx() as c:
                c.execute(
                    "INSERT INTO decisions VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                    (
                        rid,
                        now,
                        user,
                        decision.stage,
                        int(decision.allowed),
                        json.dumps(decision.categories),
                        json.dumps([v.to_dict() for v in decision.verdicts]),
                        prompt,
                        json.dumps(image_hashes),
                        policy_version,
                        age,
                        moderation,
                    ),
                )
                if user and not decision.allowed:
                    self._update_user(c, user, now)
        except sqlite3.Error as e:
            raise AuditError(f"cannot write audit record to {self.path}: {e}") from None
        return rid

    def _update_user(self, c: sqlite3.Connection, user: str, now: float) -> None:
        prev = c.execute("SELECT status, reviewed FROM users WHERE user=?", (user,)).fetchone()
        rows = c.execute(  # refusals in the window, after the last review (a review clears what came before it)
            "SELECT categories FROM decisions WHERE user=? AND allowed=0 AND ts>=? AND ts>?",
            (user, now - self.window_s, prev[1] if prev else 0.0),
        ).fetchall()
        score = 0.0
        for (cats,) in rows:
            cl = [x for x in json.loads(cats) if x not in ("misuse", "system")]
            score += max((self.weight(x) for x in cl), default=0.0)
        status = "ok"
        if score >= self.suspend_at:
            status = "suspended"
        elif score >= self.flag_at:
            status = "flagged"
        if prev and prev[0] == "suspended":
            status = "suspended"  # only a reviewer lifts a suspension (reset_user)
        c.execute(
            "INSERT INTO users (user, score, status, updated) VALUES (?,?,?,?) "
            "ON CONFLICT(user) DO UPDATE SET score=excluded.score, status=excluded.status, updated=excluded.updated",
            (user, score, status, now),
        )

    def misuse(self, user: str) -> MisuseState:
        """The user's current score and status; a user with no refusal on record is `ok` with score 0."""
        with self._lock:
            row = self._conn.execute("SELECT score, status FROM users WHERE user=?", (user,)).fetchone()
        return MisuseState(user, float(row[0]), str(row[1])) if row else MisuseState(user, 0.0, "ok")

    def reset_user(self, user: str) -> None:
        """A reviewer clears a user's status. Their past decisions stay in the log unchanged (still under their
        user); refusals before the review no longer count towards the misuse score."""
        now = time.time()
        with self._tx() as c:
            c.execute(
                "INSERT INTO users (user, score, status, updated, reviewed) VALUES (?, 0, 'ok', ?, ?) "
                "ON CONFLICT(user) DO UPDATE SET score=0, status='ok', updated=excluded.updated, "
                "reviewed=excluded.reviewed",
                (user, now, now),
            )

    def decisions(
        self, *, limit: int = 50, user: str | None = None, blocked_only: bool = False, since: float | None = None
    ) -> list[dict[str, Any]]:
        """Stored decisions, newest first, as dicts with their JSON fields decoded. Filters: `user`, refusals only, and
        `since` (Unix time); `limit <= 0` returns them all."""
        q = (
            "SELECT id, ts, user, stage, allowed, categories, verdicts, prompt, image_hashes, policy_version, age, "
            "moderation FROM decisions"
        )
        cond: list[str] = []
        args: list[Any] = []
        if user is not None:
            cond.append("user=?")
            args.append(user)
        if blocked_only:
            cond.append("allowed=0")
        if since is not None:
            cond.append("ts>=?")
            args.append(since)
        if cond:
            q += " WHERE " + " AND ".join(cond)
        q += " ORDER BY ts DESC"
        if limit > 0:
            q += f" LIMIT {int(limit)}"
        with self._lock:
            rows = self._conn.execute(q, args).fetchall()
        keys = (
            "id",
            "ts",
            "user",
            "stage",
            "allowed",
            "categories",
            "verdicts",
            "prompt",
            "image_hashes",
            "policy_version",
            "age",
            "moderation",
        )
        out = []
        for r in rows:
            d = dict(zip(keys, r, strict=True))
            d["allowed"] = bool(d["allowed"])
            for k in ("categories", "verdicts", "image_hashes"):
                d[k] = json.loads(d[k])
            out.append(d)
        return out

    def users(self) -> list[MisuseState]:
        """Every user with a misuse record, highest score first."""
        with self._lock:
            rows = self._conn.execute("SELECT user, score, status FROM users ORDER BY score DESC").fetchall()
        return [MisuseState(u, float(s), str(st)) for u, s, st in rows]
