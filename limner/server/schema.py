"""The history database's schema: the ordered, versioned migrations that build it (`MIGRATIONS`) and the
SQLAlchemy Core `Table`s that describe it after the last one (a test compares the two).

Past migrations are never edited; a schema change appends one and updates the tables. `store.py` applies
the migrations at open and queries these tables; see its docstring for why the migrations are not Alembic's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import Column, Connection, Double, ForeignKey, Index, Integer, LargeBinary, MetaData, Table, Text

# -- migrations -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Migration:
    """One schema version: portable SQL statements or a function of (connection, is_postgres), applied
    once, in order."""

    version: int
    name: str
    sql: str = ""  # `;`-separated portable statements
    apply: Callable[[Connection, bool], None] | None = None  # or code: (connection, is_postgres)


MIGRATIONS: list[Migration] = [
    Migration(1, "the first schema", """
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
    """),
    Migration(2, "API keys, and the owner (a key id, or 'local') of every record", """
    CREATE TABLE api_keys (
        id TEXT PRIMARY KEY, name TEXT NOT NULL, hash TEXT NOT NULL UNIQUE, created_at DOUBLE PRECISION NOT NULL,
        revoked_at DOUBLE PRECISION, rate_per_min INTEGER NOT NULL
    );
    ALTER TABLE conversations ADD COLUMN owner TEXT NOT NULL DEFAULT 'local';
    ALTER TABLE responses ADD COLUMN owner TEXT NOT NULL DEFAULT 'local';
    ALTER TABLE images ADD COLUMN owner TEXT NOT NULL DEFAULT 'local';
    CREATE INDEX images_owner ON images(owner, created_at);
    """),
    Migration(3, "the queue that `limner worker` processes share", """
    CREATE TABLE remote_jobs (
        id TEXT PRIMARY KEY, created_at DOUBLE PRECISION NOT NULL, status TEXT NOT NULL, spec TEXT NOT NULL,
        cancel INTEGER NOT NULL DEFAULT 0, worker TEXT, result TEXT, error TEXT
    );
    CREATE INDEX remote_jobs_queued ON remote_jobs(status, created_at);
    CREATE TABLE remote_events (
        job_id TEXT NOT NULL, seq INTEGER NOT NULL, kind TEXT NOT NULL, data TEXT NOT NULL,
        PRIMARY KEY (job_id, seq)
    );
    """),
    Migration(4, "what a restart needs to redo an unfinished job: its owner and recipe", """
    ALTER TABLE jobs ADD COLUMN owner TEXT;
    ALTER TABLE jobs ADD COLUMN recipe TEXT;
    ALTER TABLE jobs ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX jobs_unfinished ON jobs(node, status);
    """),
    Migration(5, "the Files API's uploads (referenced by file_id in edits and input_image)", """
    CREATE TABLE files (
        id TEXT PRIMARY KEY, owner TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL,
        expires_at DOUBLE PRECISION, filename TEXT NOT NULL, purpose TEXT NOT NULL, bytes INTEGER NOT NULL,
        data BLOB NOT NULL
    );
    CREATE INDEX files_owner ON files(owner, created_at);
    """),
    Migration(6, "worker leases: a job whose worker stops beating is taken over (at most a few times)", """
    ALTER TABLE remote_jobs ADD COLUMN heartbeat_at DOUBLE PRECISION;
    ALTER TABLE remote_jobs ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
    """),
]

SCHEMA_VERSION = len(MIGRATIONS)


def check_migrations(migrations: Sequence[Migration]) -> None:
    """AssertionError unless the migrations are numbered 1..N in order, each with SQL or a function."""
    for i, m in enumerate(migrations, 1):
        if m.version != i or (not m.sql.strip()) == (m.apply is None):
            raise AssertionError(f"migration {i} ({m.name!r}): versions must be 1..N in order, each with "
                                 "either SQL or a function")


check_migrations(MIGRATIONS)

# -- the schema after the last migration, for queries -----------------------------------------------------------

metadata = MetaData()
conversations = Table(
    "conversations", metadata,
    Column("id", Text, primary_key=True), Column("created_at", Double, nullable=False),
    Column("updated_at", Double, nullable=False), Column("title", Text, nullable=False),
    Column("owner", Text, nullable=False, server_default="local"),
)
responses = Table(
    "responses", metadata,
    Column("id", Text, primary_key=True),
    Column("conversation_id", Text, ForeignKey("conversations.id"), nullable=False),
    Column("previous_response_id", Text), Column("created_at", Double, nullable=False),
    Column("model", Text, nullable=False), Column("status", Text, nullable=False),
    Column("body", Text, nullable=False), Column("owner", Text, nullable=False, server_default="local"),
)
images_table = Table(
    "images", metadata,
    Column("id", Text, primary_key=True), Column("created_at", Double, nullable=False),
    Column("kind", Text, nullable=False), Column("request_id", Text, nullable=False),
    Column("conversation_id", Text), Column("response_id", Text), Column("item_id", Text),
    Column("prompt", Text, nullable=False), Column("revised_prompt", Text), Column("seed", Integer),
    Column("settings", Text, nullable=False), Column("format", Text, nullable=False), Column("record_id", Text),
    Column("payload", Text), Column("safety", Text, nullable=False),
    Column("owner", Text, nullable=False, server_default="local"),
    Index("images_conversation", "conversation_id", "created_at"), Index("images_created", "created_at"),
    Index("images_owner", "owner", "created_at"),
)
image_data = Table(
    "image_data", metadata,
    Column("id", Text, ForeignKey("images.id", ondelete="CASCADE"), primary_key=True),
    Column("data", LargeBinary, nullable=False),
)
jobs = Table(
    "jobs", metadata,
    Column("id", Text, primary_key=True), Column("kind", Text, nullable=False), Column("status", Text, nullable=False),
    Column("created_at", Double, nullable=False), Column("started_at", Double), Column("finished_at", Double),
    Column("error", Text), Column("node", Text), Column("owner", Text), Column("recipe", Text),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Index("jobs_unfinished", "node", "status"),
)
api_keys = Table(
    "api_keys", metadata,
    Column("id", Text, primary_key=True), Column("name", Text, nullable=False),
    Column("hash", Text, nullable=False, unique=True), Column("created_at", Double, nullable=False),
    Column("revoked_at", Double), Column("rate_per_min", Integer, nullable=False),
)
remote_jobs = Table(
    "remote_jobs", metadata,
    Column("id", Text, primary_key=True), Column("created_at", Double, nullable=False),
    Column("status", Text, nullable=False), Column("spec", Text, nullable=False),
    Column("cancel", Integer, nullable=False, server_default="0"), Column("worker", Text), Column("result", Text),
    Column("error", Text), Column("heartbeat_at", Double),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Index("remote_jobs_queued", "status", "created_at"),
)
remote_events = Table(
    "remote_events", metadata,
    Column("job_id", Text, primary_key=True), Column("seq", Integer, primary_key=True),
    Column("kind", Text, nullable=False), Column("data", Text, nullable=False),
)
files_table = Table(
    "files", metadata,
    Column("id", Text, primary_key=True), Column("owner", Text, nullable=False),
    Column("created_at", Double, nullable=False), Column("expires_at", Double),
    Column("filename", Text, nullable=False), Column("purpose", Text, nullable=False),
    Column("bytes", Integer, nullable=False), Column("data", LargeBinary, nullable=False),
    Index("files_owner", "owner", "created_at"),
)
schema_table = Table("limner_schema", metadata, Column("version", Integer, nullable=False))

IMAGE_COLUMNS = ("id", "created_at", "kind", "request_id", "conversation_id", "response_id", "item_id", "prompt",
                 "revised_prompt", "seed", "settings", "format", "record_id", "payload", "safety", "owner")
