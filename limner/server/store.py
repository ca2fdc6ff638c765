"""Persistent history: conversations, responses, images (with their bytes), API keys and jobs.

The database is SQLite (WAL) in the data directory by default, or PostgreSQL when a `postgresql://` URL is
given (several API processes can then share it). Both speak the same SQL here; `?` placeholders are
rewritten for psycopg.

One request's records, image bytes included, are written in one transaction, so a crash leaves either the
whole record or nothing. Schema changes are numbered migrations applied at open.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MIGRATIONS: list[str] = [
    # 1: the first schema
    """
    CREATE TABLE conversations (
        id TEXT PRIMARY KEY, created_at DOUBLE PRECISION NOT NULL, updated_at DOUBLE PRECISION NOT NULL,
        title TEXT NOT NULL
    );
    CREATE TABLE responses (
        id TEXT PRIMARY KEY, conversation_id TEXT NOT NULL REFERENCES conversations(id),
        previous_response_id TEXT, created_at DOUBLE PRECISION NOT NULL, model TEXT NOT NULL, status TEXT NOT NULL,
        body TEXT NOT NULL
    );
    CREATE TABLE images (
        id TEXT PRIMARY KEY, created_at DOUBLE PRECISION NOT NULL, kind TEXT NOT NULL, request_id TEXT NOT NULL,
        conversation_id TEXT, response_id TEXT, item_id TEXT, prompt TEXT NOT NULL, revised_prompt TEXT,
        seed INTEGER, settings TEXT NOT NULL, format TEXT NOT NULL, record_id TEXT,
        payload TEXT, safety TEXT NOT NULL
    );
    CREATE TABLE image_data (id TEXT PRIMARY KEY REFERENCES images(id) ON DELETE CASCADE, data BLOB NOT NULL);
    CREATE INDEX images_conversation ON images(conversation_id, created_at);
    CREATE INDEX images_created ON images(created_at);
    CREATE TABLE jobs (
        id TEXT PRIMARY KEY, kind TEXT NOT NULL, status TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL,
        started_at DOUBLE PRECISION, finished_at DOUBLE PRECISION, error TEXT, node TEXT
    );
    """,
    # 2: API keys, and the owner (a key id, or "local") of every record
    """
    CREATE TABLE api_keys (
        id TEXT PRIMARY KEY, name TEXT NOT NULL, hash TEXT NOT NULL UNIQUE, created_at DOUBLE PRECISION NOT NULL,
        revoked_at DOUBLE PRECISION, rate_per_min INTEGER NOT NULL
    );
    ALTER TABLE conversations ADD COLUMN owner TEXT NOT NULL DEFAULT 'local';
    ALTER TABLE responses ADD COLUMN owner TEXT NOT NULL DEFAULT 'local';
    ALTER TABLE images ADD COLUMN owner TEXT NOT NULL DEFAULT 'local';
    CREATE INDEX images_owner ON images(owner, created_at);
    """,
    # 3: the queue that `limner worker` processes share (PostgreSQL only: they claim with SKIP LOCKED)
    """
    CREATE TABLE remote_jobs (
        id TEXT PRIMARY KEY, created_at DOUBLE PRECISION NOT NULL, status TEXT NOT NULL, spec TEXT NOT NULL,
        cancel INTEGER NOT NULL DEFAULT 0, worker TEXT, result TEXT, error TEXT
    );
    CREATE INDEX remote_jobs_queued ON remote_jobs(status, created_at);
    CREATE TABLE remote_events (
        job_id TEXT NOT NULL, seq INTEGER NOT NULL, kind TEXT NOT NULL, data TEXT NOT NULL,
        PRIMARY KEY (job_id, seq)
    );
    """,
    # 4: what a restart needs to redo an unfinished job: its owner and recipe (cleared once the job ends)
    """
    ALTER TABLE jobs ADD COLUMN owner TEXT;
    ALTER TABLE jobs ADD COLUMN recipe TEXT;
    ALTER TABLE jobs ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX jobs_unfinished ON jobs(node, status);
    """,
]

IMAGE_COLUMNS = ("id", "created_at", "kind", "request_id", "conversation_id", "response_id", "item_id", "prompt",
                 "revised_prompt", "seed", "settings", "format", "record_id", "payload", "safety", "owner")


@dataclass
class ImageRow:
    id: str
    created_at: float
    kind: str  # generation | edit | response
    request_id: str
    prompt: str
    settings: dict[str, Any]
    format: str
    safety: list[dict[str, Any]]
    conversation_id: str | None = None
    response_id: str | None = None
    item_id: str | None = None
    revised_prompt: str | None = None
    seed: int | None = None
    record_id: str | None = None
    payload: str | None = None
    owner: str = "local"
    data: bytes | None = field(default=None, repr=False)  # the encoded image, when it is about to be saved

    def public(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in IMAGE_COLUMNS if k != "owner"}
        d["created_at"] = int(self.created_at)
        d["url"] = f"/v1/limner/images/{self.id}/content"
        return d


class _Tx:
    """The handle a transaction hands out: `execute(sql with ?, args)` on either database."""

    def __init__(self, db: Any, postgres: bool) -> None:
        self._db = db
        self._pg = postgres

    def execute(self, sql: str, args: tuple[Any, ...] = ()) -> Any:
        return self._db.execute(sql.replace("?", "%s") if self._pg else sql, args)


def is_database_url(target: str | Path) -> bool:
    return str(target).startswith(("postgresql://", "postgres://"))


class Store:
    """`Store(SQLite path or postgresql:// URL)`; one connection, serialised by a lock."""

    def __init__(self, database: str | Path) -> None:
        self.database = str(database)
        self._lock = threading.Lock()
        self.postgres = is_database_url(database)
        if self.postgres:
            import psycopg
            from psycopg.rows import dict_row

            self._db: Any = psycopg.connect(self.database, autocommit=True, row_factory=dict_row, connect_timeout=10)
        else:
            Path(database).parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(database, check_same_thread=False, isolation_level=None)
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA foreign_keys=ON")
        self._tx = _Tx(self._db, self.postgres)
        self._migrate()

    def _migrate(self) -> None:
        with self.transaction() as db:
            if self.postgres:  # one migrator at a time when several processes start together
                db.execute("SELECT pg_advisory_xact_lock(736150)")
            db.execute("CREATE TABLE IF NOT EXISTS limner_schema (version INTEGER NOT NULL)")
            row = db.execute("SELECT version FROM limner_schema").fetchone()
            version = row["version"] if row else 0
            if row is None:
                db.execute("INSERT INTO limner_schema VALUES (0)")
            if version > len(MIGRATIONS):
                raise RuntimeError(f"database {self.database} has schema version {version}, newer than this limner "
                                   f"({len(MIGRATIONS)}); upgrade limner")
            for i in range(version, len(MIGRATIONS)):
                for stmt in filter(str.strip, MIGRATIONS[i].split(";")):
                    db.execute(stmt.replace(" BLOB ", " BYTEA ") if self.postgres else stmt)
                db.execute("UPDATE limner_schema SET version=?", (i + 1,))

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[_Tx]:
        with self._lock:
            if self.postgres:
                with self._db.transaction():
                    yield self._tx
                return
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._tx
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def _query(self, sql: str, args: tuple[Any, ...] = ()) -> list[Any]:
        with self._lock:
            return self._tx.execute(sql, args).fetchall()

    # image bytes live in the database, so that the rows and the bytes commit (or vanish) together and every
    # process sharing a PostgreSQL database can serve every image
    def read_image(self, row: ImageRow) -> bytes:
        rows = self._query("SELECT data FROM image_data WHERE id=?", (row.id,))
        if not rows:
            raise LookupError(f"image {row.id} has no stored bytes")
        return bytes(rows[0]["data"])

    # records ----------------------------------------------------------------------------------------
    def save(self, images: list[ImageRow], response: dict[str, Any] | None = None,
             conversation_title: str | None = None, *, owner: str) -> None:
        """Insert the images (and the response with its conversation) in one transaction."""
        now = time.time()
        with self.transaction() as db:
            if response is not None:
                conv = response["_conversation_id"]
                row = db.execute("SELECT owner FROM conversations WHERE id=?", (conv,)).fetchone()
                if row is not None and row["owner"] != owner:
                    raise PermissionError(f"conversation {conv} belongs to another key")
                if row is not None:
                    db.execute("UPDATE conversations SET updated_at=? WHERE id=?", (now, conv))
                else:
                    db.execute("INSERT INTO conversations (id, created_at, updated_at, title, owner) "
                               "VALUES (?,?,?,?,?)",
                               (conv, now, now, (conversation_title or "")[:200], owner))
                body = {k: v for k, v in response.items() if k != "_conversation_id"}
                db.execute("INSERT INTO responses (id, conversation_id, previous_response_id, created_at, model, "
                           "status, body, owner) VALUES (?,?,?,?,?,?,?,?)",
                           (response["id"], conv, response.get("previous_response_id"), now, response["model"],
                            response["status"], json.dumps(body), owner))
            for im in images:
                db.execute(f"INSERT INTO images ({','.join(IMAGE_COLUMNS)}) "
                           f"VALUES ({','.join('?' * len(IMAGE_COLUMNS))})",
                           (im.id, im.created_at, im.kind, im.request_id, im.conversation_id, im.response_id,
                            im.item_id, im.prompt, im.revised_prompt, im.seed, json.dumps(im.settings), im.format,
                            im.record_id, im.payload, json.dumps(im.safety), owner))
                if im.data is None:
                    raise ValueError(f"image {im.id} has no bytes to save")
                db.execute("INSERT INTO image_data VALUES (?,?)", (im.id, im.data))

    def get_response(self, response_id: str, owner: str) -> tuple[dict[str, Any], str] | None:
        rows = self._query("SELECT body, conversation_id FROM responses WHERE id=? AND owner=?", (response_id, owner))
        return (json.loads(rows[0]["body"]), rows[0]["conversation_id"]) if rows else None

    def delete_response(self, response_id: str, owner: str) -> bool:
        with self.transaction() as db:
            if db.execute("DELETE FROM responses WHERE id=? AND owner=?", (response_id, owner)).rowcount == 0:
                return False
            db.execute("UPDATE images SET response_id=NULL WHERE response_id=?", (response_id,))
            return True

    @staticmethod
    def _image(r: Any) -> ImageRow:
        d = {k: r[k] for k in IMAGE_COLUMNS}
        d["settings"] = json.loads(d["settings"])
        d["safety"] = json.loads(d["safety"])
        return ImageRow(**d)

    def get_image(self, image_id: str, owner: str) -> ImageRow | None:
        rows = self._query("SELECT * FROM images WHERE id=? AND owner=?", (image_id, owner))
        return self._image(rows[0]) if rows else None

    def image_for_item(self, item_id: str, owner: str) -> ImageRow | None:
        rows = self._query("SELECT * FROM images WHERE item_id=? AND owner=? ORDER BY created_at LIMIT 1",
                           (item_id, owner))
        return self._image(rows[0]) if rows else None

    def list_images(self, owner: str, limit: int = 50, conversation_id: str | None = None) -> list[ImageRow]:
        if conversation_id:
            rows = self._query("SELECT * FROM images WHERE conversation_id=? AND owner=? ORDER BY created_at",
                               (conversation_id, owner))
        else:
            rows = self._query("SELECT * FROM images WHERE owner=? ORDER BY created_at DESC LIMIT ?", (owner, limit))
        return [self._image(r) for r in rows]

    def list_conversations(self, owner: str, limit: int = 50) -> list[dict[str, Any]]:
        rows = self._query(
            "SELECT c.id, c.created_at, c.updated_at, c.title, "
            "(SELECT id FROM responses r WHERE r.conversation_id=c.id ORDER BY r.created_at DESC LIMIT 1) "
            "AS last_response_id, "
            "(SELECT id FROM images i WHERE i.conversation_id=c.id ORDER BY i.created_at DESC LIMIT 1) "
            "AS last_image_id "
            "FROM conversations c WHERE c.owner=? ORDER BY c.updated_at DESC LIMIT ?", (owner, limit))
        return [{**dict(r), "created_at": int(r["created_at"]), "updated_at": int(r["updated_at"])} for r in rows]

    def conversation_responses(self, conversation_id: str, owner: str) -> list[dict[str, Any]]:
        rows = self._query("SELECT body FROM responses WHERE conversation_id=? AND owner=? ORDER BY created_at",
                           (conversation_id, owner))
        return [json.loads(r["body"]) for r in rows]

    # jobs -------------------------------------------------------------------------------------------
    def job_event(self, job_id: str, kind: str, status: str, error: str | None = None, node: str = "",
                  owner: str | None = None, recipe: str | None = None) -> None:
        now = time.time()
        with self.transaction() as db:
            if status == "queued":
                db.execute("INSERT INTO jobs (id, kind, status, created_at, node, owner, recipe) "
                           "VALUES (?,?,?,?,?,?,?)", (job_id, kind, status, now, node, owner, recipe))
            elif status == "running":
                db.execute("UPDATE jobs SET status=?, started_at=? WHERE id=?", (status, now, job_id))
            else:  # an ended job is never redone: its recipe (uploads included) goes
                db.execute("UPDATE jobs SET status=?, finished_at=?, error=?, recipe=NULL WHERE id=?",
                           (status, now, error, job_id))

    def reclaim_unfinished_jobs(self, node: str, max_attempts: int) -> list[dict[str, Any]]:
        """At start-up: the jobs this node's previous process left queued or running (a crash, a restart).

        Those with a recipe and fewer than `max_attempts` earlier tries go back to `queued` and are returned
        for the caller to run again (a job that crashed the server each time stops being retried); the rest
        are marked `interrupted`. One transaction: a second process starting on the same node cannot take
        them too.
        """
        with self.transaction() as db:
            if self.postgres:
                db.execute("SELECT pg_advisory_xact_lock(736151)")
            rows = db.execute("SELECT id, kind, owner, recipe, attempts FROM jobs "
                              "WHERE status IN ('queued','running') AND node=? ORDER BY created_at",
                              (node,)).fetchall()
            again = [dict(r) for r in rows if r["recipe"] is not None and r["attempts"] < max_attempts]
            for r in again:
                db.execute("UPDATE jobs SET status='queued', started_at=NULL, attempts=attempts+1 WHERE id=?",
                           (r["id"],))
            gone = {r["id"] for r in rows} - {r["id"] for r in again}
            for job_id in gone:
                db.execute("UPDATE jobs SET status='interrupted', finished_at=?, recipe=NULL WHERE id=?",
                           (time.time(), job_id))
            return again

    def job_counts(self, node: str) -> dict[str, int]:
        rows = self._query("SELECT status, COUNT(*) AS n FROM jobs WHERE node=? GROUP BY status", (node,))
        return {r["status"]: r["n"] for r in rows}


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"
