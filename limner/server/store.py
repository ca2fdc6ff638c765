"""Persistent history: conversations, responses, images (with their bytes), API keys and jobs.

SQLAlchemy Core (2.x) over one engine per `Store`:

- **SQLite** (`pysqlite`) in the data directory is the embedded default: WAL journal (readers never wait
  for the writer), a busy timeout (writers of several processes queue instead of failing; those of one
  process queue on a lock), foreign keys on. Writes open `BEGIN IMMEDIATE`, so a write transaction holds
  the database's write lock from its first statement and two writers never interleave.
- **PostgreSQL** through psycopg 3 (`postgresql+psycopg://`; the plain `postgresql://` and `postgres://`
  URLs users already pass mean the same). Several API processes and `limner worker`s share it.

One request's records, image bytes included, are written in one transaction, so a crash leaves either the
whole record or nothing. Work on the shared queue (`remote_jobs`) is claimed with
`SELECT ... FOR UPDATE SKIP LOCKED` on PostgreSQL, so two workers never take the same job; on SQLite the
same claim is atomic because its write transaction holds the database lock.

Schema changes are an ordered list of versioned migrations (`MIGRATIONS`), applied at open inside one
transaction (on PostgreSQL under an advisory lock, so processes starting together migrate once). The
version lives in the one-row table `limner_schema`, the schema-version table the first releases created:
keeping it means databases made by those releases upgrade with no bootstrap step, and those releases
refuse a database newer than they know instead of corrupting it. Each migration is portable SQL (`BLOB`
becomes `BYTEA` on PostgreSQL) or a function of the connection. Past migrations are never edited; a schema
change appends one, and the Core `Table`s below must describe the schema after the last one (a test
compares them with the migrated database).

Why not Alembic: migrations run at every start of every process (API, worker, `limner keys`) against a
database that may be SQLite in a user's data directory, so they must ship inside the package and need no
`alembic.ini`/`env.py` or command-line step; existing databases record their version in `limner_schema`,
not `alembic_version`; and the whole upgrade has to run in the one transaction that holds the PostgreSQL
advisory lock. Twenty lines here do that; Alembic would add a dependency and a bootstrap for the same.

Callers that need SQL of their own (`limner.server.auth`, `limner.server.remote`) use `transaction()` and
`_query()` with `?` placeholders, which are rewritten to psycopg's `%s` on PostgreSQL; rows come back as
mappings (`row["id"]`, `dict(row)`).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Connection,
    CursorResult,
    Engine,
    RowMapping,
    and_,
    create_engine,
    delete,
    event,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url

from limner.server.schema import (
    IMAGE_COLUMNS,
    MIGRATIONS,
    Migration,
    check_migrations,
    conversations,
    image_data,
    images_table,
    jobs,
    remote_jobs,
    responses,
    schema_table,
)
from limner.server.settings import is_database_url

__all__ = ["ImageRow", "Store", "engine_url", "is_database_url", "new_id"]

SQLITE_BUSY_TIMEOUT_S = 30.0  # how long a writer waits for another's transaction before failing
PG_CONNECT_TIMEOUT_S = 10
MIGRATION_LOCK = 736150  # PostgreSQL advisory lock keys
RECLAIM_LOCK = 736151

# A worker renews its lease on a running job every LEASE_S / 4 seconds (`limner worker`); a job whose lease
# lapsed is taken over by the next worker to claim, at most MAX_ATTEMPTS claims in all.
LEASE_S = 60.0
MAX_ATTEMPTS = 3


@dataclass
class ImageRow:
    """One stored image's metadata (a row of `images`), with its bytes while it is being saved."""

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
        """The image as the gallery API shows it: the metadata without the owner, and its content URL."""
        d = {k: getattr(self, k) for k in IMAGE_COLUMNS if k != "owner"}
        d["created_at"] = int(self.created_at)
        d["url"] = f"/v1/limner/images/{self.id}/content"
        return d


class _Result:
    """What `_Tx.execute` returns: `fetchone()`/`fetchall()` as mappings, and `rowcount`."""

    def __init__(self, result: CursorResult[Any]) -> None:
        self._result = result

    @property
    def rowcount(self) -> int:
        return int(self._result.rowcount)

    def fetchone(self) -> RowMapping | None:
        return self._result.mappings().fetchone()

    def fetchall(self) -> Sequence[RowMapping]:
        return self._result.mappings().fetchall()


class _Tx:
    """The handle a transaction hands out: Core statements, or `execute(sql with ?, args)` on either database."""

    def __init__(self, conn: Connection, postgres: bool) -> None:
        self.conn = conn
        self._pg = postgres

    def execute(self, sql: str, args: tuple[Any, ...] = ()) -> _Result:
        return _Result(self.conn.exec_driver_sql(sql.replace("?", "%s") if self._pg else sql, args))


def engine_url(database: str | Path) -> URL:
    """The SQLAlchemy URL of a SQLite path or a PostgreSQL URL (always the psycopg 3 driver)."""
    if is_database_url(database):
        return make_url(str(database)).set(drivername="postgresql+psycopg")
    return URL.create("sqlite+pysqlite", database=str(Path(database)))


def _sqlite_engine(url: URL) -> Engine:
    Path(url.database or "").parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # pysqlite's own implicit BEGIN off: transactions are begun below
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")  # in WAL mode a process crash loses no committed transaction
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # a write takes the database's write lock at once, so that it never has to upgrade a read lock (which
        # fails at once with SQLITE_BUSY instead of waiting) and two writers never interleave; a read of one
        # statement (`Store._read`) needs no transaction: it runs in SQLite's autocommit mode
        if not conn.get_execution_options().get("limner_read_only", False):
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def _postgres_engine(url: URL) -> Engine:
    connect_args: dict[str, Any] = {}
    if "connect_timeout" not in url.query:
        connect_args["connect_timeout"] = PG_CONNECT_TIMEOUT_S
    # pre-ping: a restarted PostgreSQL costs one retry, not a failed request per pooled connection
    return create_engine(url, connect_args=connect_args, pool_pre_ping=True)


class Store:
    """`Store(SQLite path or PostgreSQL URL)`: one SQLAlchemy engine, migrated to `SCHEMA_VERSION` at open."""

    def __init__(self, database: str | Path, migrations: Sequence[Migration] | None = None) -> None:
        self.database = str(database)
        self.postgres = is_database_url(database)
        url = engine_url(database)
        self.engine: Engine = _postgres_engine(url) if self.postgres else _sqlite_engine(url)
        self._where = url.render_as_string(hide_password=True)
        # SQLite has one writer at a time: this process's writers queue on a lock (in order, woken at once)
        # rather than on SQLite's busy handler, which polls with sleeps; other processes still wait on the
        # busy timeout. PostgreSQL locks rows, so its writers go in parallel. (Reentrant: a transaction opened
        # inside another one in the same thread fails on SQLite's busy timeout instead of hanging for ever.)
        self._write_lock: AbstractContextManager[Any] = nullcontext() if self.postgres else threading.RLock()
        try:
            self._migrate(MIGRATIONS if migrations is None else migrations)
        except BaseException:
            self.engine.dispose()
            raise

    def __repr__(self) -> str:
        return f"Store({self._where!r})"

    def _migrate(self, migrations: Sequence[Migration]) -> None:
        check_migrations(migrations)
        with self.transaction() as tx:
            conn = tx.conn
            if self.postgres:  # one migrator at a time when several processes start together
                conn.execute(select(func.pg_advisory_xact_lock(MIGRATION_LOCK)))
            schema_table.create(conn, checkfirst=True)
            version = conn.execute(select(schema_table.c.version)).scalar_one_or_none()
            if version is None:
                conn.execute(insert(schema_table).values(version=0))
                version = 0
            if version > len(migrations):
                raise RuntimeError(f"database {self._where} has schema version {version}, newer than this limner "
                                   f"({len(migrations)}); upgrade limner")
            for m in migrations[version:]:
                if m.apply is not None:
                    m.apply(conn, self.postgres)
                else:
                    for stmt in filter(str.strip, m.sql.split(";")):
                        conn.exec_driver_sql(stmt.replace(" BLOB ", " BYTEA ") if self.postgres else stmt)
                conn.execute(update(schema_table).values(version=m.version))

    def schema_version(self) -> int:
        """The schema version the database is at (from `limner_schema`)."""
        with self._read() as conn:
            return int(conn.execute(select(schema_table.c.version)).scalar_one())

    def close(self) -> None:
        """Dispose of the engine and its pooled connections."""
        self.engine.dispose()

    @contextmanager
    def transaction(self) -> Iterator[_Tx]:
        """A write transaction: committed when the block ends, rolled back (entirely) if it raises."""
        with self._write_lock, self.engine.connect() as conn, conn.begin():
            yield _Tx(conn, self.postgres)

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        """A connection for one reading statement, outside any transaction: on SQLite no BEGIN at all (see
        `_sqlite_engine`), on PostgreSQL autocommit. Either way one statement reads one consistent snapshot,
        and the queue's polls (`limner.server.remote`) cost one round trip each, not three."""
        with self.engine.connect() as conn:
            conn.execution_options(**({"isolation_level": "AUTOCOMMIT"} if self.postgres else
                                      {"limner_read_only": True}))
            yield conn

    def _query(self, sql: str, args: tuple[Any, ...] = ()) -> list[RowMapping]:
        """Rows of one raw `?`-placeholder query, as mappings."""
        with self._read() as conn:
            return list(_Tx(conn, self.postgres).execute(sql, args).fetchall())

    # image bytes live in the database, so that the rows and the bytes commit (or vanish) together and every
    # process sharing a PostgreSQL database can serve every image
    def read_image(self, row: ImageRow) -> bytes:
        """The stored bytes of `row`'s image; raises LookupError when there are none."""
        with self._read() as conn:
            data = conn.execute(select(image_data.c.data).where(image_data.c.id == row.id)).scalar_one_or_none()
        if data is None:
            raise LookupError(f"image {row.id} has no stored bytes")
        return bytes(data)

    # records ----------------------------------------------------------------------------------------
    def save(self, images: list[ImageRow], response: dict[str, Any] | None = None,
             conversation_title: str | None = None, *, owner: str) -> None:
        """Insert the images (and the response with its conversation) in one transaction."""
        for im in images:  # before anything is written
            if im.data is None:
                raise ValueError(f"image {im.id} has no bytes to save")
        now = time.time()
        with self.transaction() as tx:
            conn = tx.conn
            if response is not None:
                conv = response["_conversation_id"]
                found = conn.execute(select(conversations.c.owner).where(conversations.c.id == conv)
                                     ).scalar_one_or_none()
                if found is not None and found != owner:
                    raise PermissionError(f"conversation {conv} belongs to another key")
                if found is not None:
                    conn.execute(update(conversations).where(conversations.c.id == conv).values(updated_at=now))
                else:
                    conn.execute(insert(conversations).values(id=conv, created_at=now, updated_at=now,
                                                              title=(conversation_title or "")[:200], owner=owner))
                body = {k: v for k, v in response.items() if k != "_conversation_id"}
                conn.execute(insert(responses).values(
                    id=response["id"], conversation_id=conv, previous_response_id=response.get("previous_response_id"),
                    created_at=now, model=response["model"], status=response["status"], body=json.dumps(body),
                    owner=owner))
            if images:
                conn.execute(insert(images_table), [_image_values(im, owner) for im in images])
                conn.execute(insert(image_data), [{"id": im.id, "data": im.data} for im in images])

    def get_response(self, response_id: str, owner: str) -> tuple[dict[str, Any], str] | None:
        """(stored body, conversation id) of `owner`'s response `response_id`, or None."""
        with self._read() as conn:
            row = conn.execute(select(responses.c.body, responses.c.conversation_id)
                               .where(responses.c.id == response_id, responses.c.owner == owner)).first()
        return (json.loads(row.body), row.conversation_id) if row is not None else None

    def delete_response(self, response_id: str, owner: str) -> bool:
        """Delete `owner`'s response; its images stay in the gallery, unlinked from it. False when there
        is no such response."""
        with self.transaction() as tx:
            gone = tx.conn.execute(delete(responses).where(responses.c.id == response_id, responses.c.owner == owner))
            if gone.rowcount == 0:
                return False
            tx.conn.execute(update(images_table).where(images_table.c.response_id == response_id)
                            .values(response_id=None))
            return True

    @staticmethod
    def _image(r: RowMapping) -> ImageRow:
        d = {k: r[k] for k in IMAGE_COLUMNS}
        d["settings"] = json.loads(d["settings"])
        d["safety"] = json.loads(d["safety"])
        return ImageRow(**d)

    def _images(self, stmt: Any) -> list[ImageRow]:
        with self._read() as conn:
            return [self._image(r) for r in conn.execute(stmt).mappings()]

    def get_image(self, image_id: str, owner: str) -> ImageRow | None:
        """`owner`'s image with this id, or None."""
        got = self._images(select(images_table).where(images_table.c.id == image_id, images_table.c.owner == owner))
        return got[0] if got else None

    def image_for_item(self, item_id: str, owner: str) -> ImageRow | None:
        """The image of `owner`'s image_generation_call item `item_id`, or None."""
        got = self._images(select(images_table)
                           .where(images_table.c.item_id == item_id, images_table.c.owner == owner)
                           .order_by(images_table.c.created_at).limit(1))
        return got[0] if got else None

    def list_images(self, owner: str, limit: int = 50, conversation_id: str | None = None) -> list[ImageRow]:
        """`owner`'s images: the newest `limit`, newest first; with `conversation_id`, all of that one, oldest first."""
        t = images_table
        if conversation_id:
            return self._images(select(t).where(t.c.conversation_id == conversation_id, t.c.owner == owner)
                                .order_by(t.c.created_at))
        return self._images(select(t).where(t.c.owner == owner).order_by(t.c.created_at.desc()).limit(limit))

    def list_conversations(self, owner: str, limit: int = 50) -> list[dict[str, Any]]:
        """`owner`'s conversations, most recently updated first, with the ids of their last
        response and image."""
        c, r, i = conversations, responses.alias("r"), images_table.alias("i")
        last_response = (select(r.c.id).where(r.c.conversation_id == c.c.id).order_by(r.c.created_at.desc())
                         .limit(1).scalar_subquery())
        last_image = (select(i.c.id).where(i.c.conversation_id == c.c.id).order_by(i.c.created_at.desc())
                      .limit(1).scalar_subquery())
        stmt = (select(c.c.id, c.c.created_at, c.c.updated_at, c.c.title,
                       last_response.label("last_response_id"), last_image.label("last_image_id"))
                .where(c.c.owner == owner).order_by(c.c.updated_at.desc()).limit(limit))
        with self._read() as conn:
            rows = conn.execute(stmt).mappings().all()
        return [{**dict(row), "created_at": int(row["created_at"]), "updated_at": int(row["updated_at"])}
                for row in rows]

    def conversation_responses(self, conversation_id: str, owner: str) -> list[dict[str, Any]]:
        """The stored bodies of `owner`'s responses in a conversation, oldest first."""
        with self._read() as conn:
            bodies = conn.execute(select(responses.c.body)
                                  .where(responses.c.conversation_id == conversation_id, responses.c.owner == owner)
                                  .order_by(responses.c.created_at)).scalars().all()
        return [json.loads(b) for b in bodies]

    # jobs of this API process ------------------------------------------------------------------------
    def job_event(self, job_id: str, kind: str, status: str, error: str | None = None, node: str = "",
                  owner: str | None = None, recipe: str | None = None) -> None:
        """Record a job's state: `queued` inserts its row (with owner and recipe), `running` stamps the
        start, any other status ends it and drops the recipe."""
        now = time.time()
        with self.transaction() as tx:
            if status == "queued":
                tx.conn.execute(insert(jobs).values(id=job_id, kind=kind, status=status, created_at=now, node=node,
                                                    owner=owner, recipe=recipe))
            elif status == "running":
                tx.conn.execute(update(jobs).where(jobs.c.id == job_id).values(status=status, started_at=now))
            else:  # an ended job is never redone: its recipe (uploads included) goes
                tx.conn.execute(update(jobs).where(jobs.c.id == job_id)
                                .values(status=status, finished_at=now, error=error, recipe=None))

    def reclaim_unfinished_jobs(self, node: str, max_attempts: int) -> list[dict[str, Any]]:
        """At start-up: the jobs this node's previous process left queued or running (a crash, a restart).

        Those with a recipe and fewer than `max_attempts` earlier tries go back to `queued` and are returned
        for the caller to run again (a job that crashed the server each time stops being retried); the rest
        are marked `interrupted`. One transaction: a second process starting on the same node cannot take
        them too.
        """
        with self.transaction() as tx:
            conn = tx.conn
            if self.postgres:
                conn.execute(select(func.pg_advisory_xact_lock(RECLAIM_LOCK)))
            rows = conn.execute(select(jobs.c.id, jobs.c.kind, jobs.c.owner, jobs.c.recipe, jobs.c.attempts)
                                .where(jobs.c.status.in_(("queued", "running")), jobs.c.node == node)
                                .order_by(jobs.c.created_at)).mappings().all()
            again = [dict(r) for r in rows if r["recipe"] is not None and r["attempts"] < max_attempts]
            if again:
                conn.execute(update(jobs).where(jobs.c.id.in_([r["id"] for r in again]))
                             .values(status="queued", started_at=None, attempts=jobs.c.attempts + 1))
            gone = [r["id"] for r in rows if r["id"] not in {a["id"] for a in again}]
            if gone:
                conn.execute(update(jobs).where(jobs.c.id.in_(gone))
                             .values(status="interrupted", finished_at=time.time(), recipe=None))
            return again

    def job_counts(self, node: str) -> dict[str, int]:
        """The number of `node`'s jobs per status, for `/v1/limner/status`."""
        with self._read() as conn:
            rows = conn.execute(select(jobs.c.status, func.count()).where(jobs.c.node == node)
                                .group_by(jobs.c.status)).all()
        return {status: int(n) for status, n in rows}

    # the queue shared with `limner worker` processes --------------------------------------------------
    def enqueue_remote_job(self, job_id: str, spec_json: str) -> bool:
        """Queue a job for the workers; False if that id is already queued (or done), as for a resumed job."""
        dialect: Any = postgresql if self.postgres else sqlite
        stmt = (dialect.insert(remote_jobs)
                .values(id=job_id, created_at=time.time(), status="queued", spec=spec_json, cancel=0)
                .on_conflict_do_nothing(index_elements=["id"])
                .returning(remote_jobs.c.id))  # not rowcount: SQLAlchemy does not promise it for an INSERT
        with self.transaction() as tx:
            return tx.conn.execute(stmt).first() is not None

    def claim_remote_job(self, worker: str, lease_s: float = LEASE_S,
                         now: float | None = None) -> tuple[str, str] | None:
        """The oldest job waiting for a worker, now `running` under `worker`: (id, spec JSON), or None.

        Waiting means queued, or running under a worker that has not beaten (`heartbeat_remote_job`) for
        `lease_s` seconds: a worker killed mid-job loses its lease and the job is taken over, up to
        MAX_ATTEMPTS claims in all; a job that outlives that many workers is failed, not retried forever.
        PostgreSQL: `SELECT ... FOR UPDATE SKIP LOCKED`, so concurrent workers each lock a different row
        and never wait on one another. SQLite has no row locks (SQLAlchemy leaves the FOR UPDATE out): the
        write transaction's `BEGIN IMMEDIATE` holds the database lock from the SELECT to the UPDATE. The
        UPDATE checks the row again either way.
        """
        t = remote_jobs
        now = time.time() if now is None else now
        waiting = or_(t.c.status == "queued",
                      and_(t.c.status == "running", or_(t.c.heartbeat_at.is_(None), t.c.heartbeat_at < now - lease_s)))
        with self.transaction() as tx:
            while True:
                row = tx.conn.execute(select(t.c.id, t.c.spec, t.c.attempts).where(waiting).order_by(t.c.created_at)
                                      .limit(1).with_for_update(skip_locked=True)).first()
                if row is None:
                    return None
                if row.attempts >= MAX_ATTEMPTS:  # it outlived MAX_ATTEMPTS workers: the API answers 500
                    error = {"kind": "error", "message": f"the job lost {row.attempts} workers mid-run; not retried"}
                    tx.conn.execute(update(t).where(t.c.id == row.id).values(status="failed", error=json.dumps(error)))
                    continue
                took = tx.conn.execute(update(t).where(t.c.id == row.id, waiting)
                                       .values(status="running", worker=worker, heartbeat_at=now,
                                               attempts=row.attempts + 1))
                # an earlier attempt's previews stay: the new attempt numbers on from them (remote._WorkerJob)
                return (row.id, row.spec) if took.rowcount == 1 else None

    def heartbeat_remote_job(self, job_id: str, worker: str) -> bool:
        """Renew `worker`'s lease on its running job; False when the job is no longer its (taken over, ended)."""
        t = remote_jobs
        with self.transaction() as tx:
            res = tx.conn.execute(update(t).where(t.c.id == job_id, t.c.worker == worker, t.c.status == "running")
                                  .values(heartbeat_at=time.time()))
            return res.rowcount == 1


def _image_values(im: ImageRow, owner: str) -> dict[str, Any]:
    return {"id": im.id, "created_at": im.created_at, "kind": im.kind, "request_id": im.request_id,
            "conversation_id": im.conversation_id, "response_id": im.response_id, "item_id": im.item_id,
            "prompt": im.prompt, "revised_prompt": im.revised_prompt, "seed": im.seed,
            "settings": json.dumps(im.settings), "format": im.format, "record_id": im.record_id,
            "payload": im.payload, "safety": json.dumps(im.safety), "owner": owner}


def new_id(prefix: str) -> str:
    """A new random id with this prefix (`image_<hex>`, `job_<hex>`), shaped like OpenAI's."""
    return f"{prefix}_{uuid.uuid4().hex}"
