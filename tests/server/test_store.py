"""The SQLAlchemy store on SQLite and on a real PostgreSQL: upgrades of databases made by earlier releases,
migrations, atomic writes, and the claim of the shared queue under concurrency."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect, select
from sqlalchemy.exc import IntegrityError

from limner.server.auth import Keys, _hash
from limner.server.schema import MIGRATIONS, SCHEMA_VERSION, Migration, metadata, remote_jobs
from limner.server.store import ImageRow, Store, engine_url, is_database_url

# -- databases as the first releases (sqlite3/psycopg, before SQLAlchemy) created them ----------------------
# Frozen copies: these strings are what commit 7351fc7 ran, and must not follow later edits of MIGRATIONS.

LEGACY_MIGRATIONS = [
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
    """
    ALTER TABLE jobs ADD COLUMN owner TEXT;
    ALTER TABLE jobs ADD COLUMN recipe TEXT;
    ALTER TABLE jobs ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX jobs_unfinished ON jobs(node, status);
    """,
]
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4  # bytes of every value survive the round trip


class LegacyDb:
    """A raw DB-API connection doing what the old store did: `?` SQL, autocommit, explicit transactions."""

    def __init__(self, target: str | Path) -> None:
        self.pg = is_database_url(target)
        if self.pg:
            import psycopg

            self.db: Any = psycopg.connect(str(target), autocommit=True)
        else:
            self.db = sqlite3.connect(target, isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")

    def run(self, sql: str, args: tuple[Any, ...] = ()) -> Any:
        if self.pg:
            sql = sql.replace("?", "%s").replace(" BLOB ", " BYTEA ")
        return self.db.execute(sql, args)

    def create(self, version: int) -> None:
        self.run("BEGIN")
        self.run("CREATE TABLE IF NOT EXISTS limner_schema (version INTEGER NOT NULL)")
        self.run("INSERT INTO limner_schema VALUES (0)")
        for i in range(version):
            for stmt in filter(str.strip, LEGACY_MIGRATIONS[i].split(";")):
                self.run(stmt)
            self.run("UPDATE limner_schema SET version=?", (i + 1,))
        self.run("COMMIT")

    def close(self) -> None:
        self.db.close()


def fill_legacy(db: LegacyDb, version: int) -> None:
    """History as the old store wrote it: a conversation with a response and an image, and queued jobs."""
    cols = ", owner" if version >= 2 else ""
    ph = ",?" if version >= 2 else ""
    o = ("key_old",) if version >= 2 else ()
    db.run(f"INSERT INTO conversations (id, created_at, updated_at, title{cols}) VALUES (?,?,?,?{ph})",
           ("conv_1", 100.0, 101.5, "a teal hexagon", *o))
    body = {"id": "resp_1", "object": "response", "model": "limner", "status": "completed", "output": []}
    db.run(f"INSERT INTO responses (id, conversation_id, previous_response_id, created_at, model, status, body{cols}) "
           f"VALUES (?,?,?,?,?,?,?{ph})",
           ("resp_1", "conv_1", None, 101.0, "limner", "completed", json.dumps(body), *o))
    db.run(f"INSERT INTO images (id, created_at, kind, request_id, conversation_id, response_id, item_id, prompt, "
           f"revised_prompt, seed, settings, format, record_id, payload, safety{cols}) "
           f"VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?{ph})",
           ("img_1", 101.25, "response", "req_1", "conv_1", "resp_1", "ig_1", "a teal hexagon", "a teal hexagon",
            2**31 - 1, json.dumps({"size": "256x256"}), "png", "rec_1", "ab12", json.dumps([{"stage": "output"}]),
            *o))
    db.run("INSERT INTO image_data VALUES (?,?)", ("img_1", PNG))
    db.run("INSERT INTO jobs (id, kind, status, created_at, node) VALUES (?,?,?,?,?)",
           ("job_done", "generation", "completed", 99.0, "n1"))
    if version >= 2:
        db.run("INSERT INTO api_keys VALUES (?,?,?,?,?,?)", ("key_old", "carol", _hash("lk-secret"), 1.0, None, 7))
    if version >= 3:
        db.run("INSERT INTO remote_jobs (id, created_at, status, spec, cancel) VALUES (?,?,?,?,0)",
               ("job_remote", 102.0, "queued", '{"prompt": "x"}'))
    if version >= 4:
        db.run("INSERT INTO jobs (id, kind, status, created_at, node, owner, recipe) VALUES (?,?,?,?,?,?,?)",
               ("job_cut", "response", "running", 103.0, "n1", "key_old", '{"type": "response"}'))


@pytest.fixture(params=["sqlite", "postgres"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> str | Path:
    if request.param == "postgres":
        return str(request.getfixturevalue("pg_url"))
    return tmp_path / "data" / "limner.sqlite3"


@pytest.fixture()
def store(target: str | Path) -> Iterator[Store]:
    s = Store(target)
    try:
        yield s
    finally:
        s.close()


def image_row(image_id: str, **kw: Any) -> ImageRow:
    d: dict[str, Any] = dict(created_at=time.time(), kind="generation", request_id="req", prompt="a red star",
                             settings={"n": 1}, format="png", safety=[], data=PNG)
    d.update(kw)
    return ImageRow(id=image_id, **d)


# -- upgrades -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("old_version", [4, 1])
def test_a_database_of_the_previous_release_upgrades_and_keeps_its_data(target: str | Path, old_version: int
                                                                         ) -> None:
    if not is_database_url(target):
        Path(target).parent.mkdir(parents=True)
    legacy = LegacyDb(target)
    try:
        legacy.create(old_version)
        fill_legacy(legacy, old_version)
    finally:
        legacy.close()

    store = Store(target)
    try:
        assert store.schema_version() == SCHEMA_VERSION
        owner = "key_old" if old_version >= 2 else "local"  # migration 2 gave earlier records to "local"
        got = store.get_response("resp_1", owner)
        assert got is not None and got[0]["id"] == "resp_1" and got[1] == "conv_1"
        assert store.get_response("resp_1", "someone_else") is None
        [conv] = store.list_conversations(owner)
        assert conv == {"id": "conv_1", "created_at": 100, "updated_at": 101, "title": "a teal hexagon",
                        "last_response_id": "resp_1", "last_image_id": "img_1"}
        [im] = store.list_images(owner, conversation_id="conv_1")
        assert (im.seed, im.settings, im.safety, im.owner, im.payload) == (
            2**31 - 1, {"size": "256x256"}, [{"stage": "output"}], owner, "ab12")
        assert store.read_image(im) == PNG
        assert store.image_for_item("ig_1", owner) == im
        assert store.job_counts("n1") == ({"completed": 1, "running": 1} if old_version >= 4 else {"completed": 1})
        if old_version >= 4:  # an unfinished job of the old process is resumed by the new one
            [again] = store.reclaim_unfinished_jobs("n1", max_attempts=2)
            assert (again["id"], again["owner"], again["attempts"]) == ("job_cut", "key_old", 0)
        if old_version >= 2:
            key = Keys(store).lookup("lk-secret")
            assert key is not None and (key.id, key.rate_per_min) == ("key_old", 7)
        # and the upgraded database takes new records
        store.save([image_row("img_2", conversation_id="conv_1")], owner=owner)
        assert [i.id for i in store.list_images(owner, conversation_id="conv_1")][-1] == "img_2"
        assert store.enqueue_remote_job("job_new", "{}")
        claimed = {store.claim_remote_job("w"), store.claim_remote_job("w")}
        assert {c[0] for c in claimed if c} == ({"job_remote", "job_new"} if old_version >= 3 else {"job_new"})
    finally:
        store.close()
    Store(target).close()  # opening it again changes nothing


def test_the_tables_describe_the_migrated_schema(store: Store) -> None:
    """The Core tables the queries use must match what the migrations built, column for column."""
    insp = inspect(store.engine)
    for table in metadata.sorted_tables:
        cols = {c["name"]: c for c in insp.get_columns(table.name)}
        assert set(cols) == {c.name for c in table.columns}, table.name
        for c in table.columns:  # (SQLite lets a TEXT primary key be NULL: only other columns are compared)
            if not c.primary_key:
                assert cols[c.name]["nullable"] == c.nullable, (table.name, c.name)
        assert set(insp.get_pk_constraint(table.name)["constrained_columns"]) == {c.name for c in table.primary_key}
        indexes = {i["name"]: i["column_names"] for i in insp.get_indexes(table.name) if i["name"]}
        for ix in table.indexes:
            assert indexes.get(ix.name) == [c.name for c in ix.columns], (table.name, ix.name)


def test_pending_migrations_run_once_in_order_and_a_failed_one_changes_nothing(target: str | Path) -> None:
    Store(target).close()
    ran: list[int] = []
    N = SCHEMA_VERSION  # noqa: N806 (the released schema's version; the test appends N + 1 and N + 2)

    def fill(conn: Any, postgres: bool) -> None:
        ran.append(N + 2)
        conn.exec_driver_sql("INSERT INTO extra (id) VALUES ('from migration 6')")

    later = [*MIGRATIONS, Migration(N + 1, "a table", "CREATE TABLE extra (id TEXT PRIMARY KEY)"),
             Migration(N + 2, "a data migration", apply=fill)]
    broken = [*MIGRATIONS, Migration(N + 1, "fine", "CREATE TABLE extra2 (id TEXT PRIMARY KEY)"),
              Migration(N + 2, "fails", "INSERT INTO no_such_table VALUES (1)")]
    with pytest.raises(Exception, match="no_such_table"):
        Store(target, migrations=broken)
    s = Store(target)
    try:  # the failed upgrade left the database as it was, with no table from its first migration
        assert s.schema_version() == SCHEMA_VERSION
        assert "extra2" not in inspect(s.engine).get_table_names()
    finally:
        s.close()
    for _ in range(2):
        s = Store(target, migrations=later)
        try:
            assert s.schema_version() == N + 2
            assert [r["id"] for r in s._query("SELECT id FROM extra")] == ["from migration 6"]
        finally:
            s.close()
    assert ran == [N + 2]
    with pytest.raises(RuntimeError, match="newer than this limner"):  # an older limner refuses a newer database
        Store(target)
    with pytest.raises(AssertionError, match="in order"):
        Store(target, migrations=[*MIGRATIONS, Migration(N + 2, "a gap", "SELECT 1")])


# -- atomic writes --------------------------------------------------------------------------------------------


def test_a_failed_save_writes_nothing(store: Store) -> None:
    store.save([image_row("img_dup")], owner="local")
    response = {"id": "resp_x", "_conversation_id": "conv_x", "model": "limner", "status": "completed"}
    with pytest.raises(IntegrityError):  # the second image's id is taken
        store.save([image_row("img_new"), image_row("img_dup")], response=response, owner="local")
    assert store.get_response("resp_x", "local") is None
    assert store.list_conversations("local") == []
    assert [i.id for i in store.list_images("local")] == ["img_dup"]
    with pytest.raises(ValueError, match="no bytes"):
        store.save([image_row("img_nobytes", data=None)], response=response, owner="local")
    assert store.get_response("resp_x", "local") is None


CRASH = """
import os, sys, time
from limner.server.store import Store, ImageRow
s = Store(sys.argv[1])
resp = {"id": "resp_crash", "_conversation_id": "conv_crash", "model": "limner", "status": "completed"}
with s.transaction() as tx:  # what save() does, killed between its statements
    tx.execute("INSERT INTO conversations (id, created_at, updated_at, title, owner) VALUES (?,?,?,?,?)",
               ("conv_crash", 1.0, 1.0, "t", "local"))
    tx.execute("INSERT INTO images (id, created_at, kind, request_id, prompt, settings, format, safety, owner) "
               "VALUES (?,?,?,?,?,?,?,?,?)", ("img_crash", 1.0, "generation", "r", "p", "{}", "png", "[]", "local"))
    print("written", flush=True)
    os._exit(9)  # the process dies mid-transaction: no commit, no rollback, no clean-up
"""


def test_a_crash_mid_transaction_leaves_no_record(target: str | Path, store: Store) -> None:
    r = subprocess.run([sys.executable, "-c", CRASH, str(target)], capture_output=True, text=True, timeout=120,
                       cwd=Path(__file__).resolve().parents[2])
    assert r.returncode == 9 and "written" in r.stdout, r.stderr
    assert store.list_conversations("local") == []
    assert store.get_image("img_crash", "local") is None
    store.save([image_row("img_after")], owner="local")  # and the database is not left locked
    assert store.get_image("img_after", "local") is not None


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(tmp_path: Path) -> None:
    s = Store(tmp_path / "x.sqlite3")
    try:
        assert s._query("PRAGMA journal_mode")[0]["journal_mode"] == "wal"
        assert s._query("PRAGMA busy_timeout")[0]["timeout"] >= 5000
        assert s._query("PRAGMA foreign_keys")[0]["foreign_keys"] == 1
    finally:
        s.close()


def test_database_urls() -> None:
    for url in ("postgresql://u:p@h:5/db", "postgres://u:p@h:5/db", "postgresql+psycopg://u:p@h:5/db"):
        assert is_database_url(url)
        u = engine_url(url)
        assert (u.drivername, u.host, u.port, u.database, u.username) == ("postgresql+psycopg", "h", 5, "db", "u")
    assert engine_url("postgresql://h/db?options=-csearch_path%3Dx").query["options"] == "-csearch_path=x"
    assert not is_database_url("/var/lib/limner.sqlite3")
    assert engine_url("/var/lib/limner.sqlite3").drivername == "sqlite+pysqlite"
    from limner.server.settings import ServerSettings

    assert ServerSettings(database_url="postgresql+psycopg://h/db").database == "postgresql+psycopg://h/db"
    with pytest.raises(ValueError, match="not a postgresql"):
        ServerSettings(database_url="mysql://h/db")


# -- the shared queue: concurrent claims ----------------------------------------------------------------------


def claim_all(stores: list[Store], threads_per_store: int) -> list[str]:
    """Every store's threads claim until the queue is empty; returns the ids each claim got, in any order."""
    got: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(len(stores) * threads_per_store)

    def worker(s: Store, name: str) -> None:
        try:
            start.wait()
            while True:
                c = s.claim_remote_job(name)
                if c is None:
                    return
                with lock:
                    got.append(c[0])
                time.sleep(0.01)  # the job's work: lets other workers in, as real work would
        except BaseException as e:  # reported by the main thread
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(s, f"w{i}-{j}")) for i, s in enumerate(stores)
               for j in range(threads_per_store)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    return got


def test_two_workers_never_claim_the_same_job(target: str | Path) -> None:
    """The claim every `limner worker` makes (`Store.claim_remote_job`), on SQLite and on PostgreSQL."""
    stores = [Store(target) for _ in range(3)]  # three engines: as three worker processes would have
    try:
        ids = [f"job_{i:03d}" for i in range(40)]
        for i in ids:
            assert stores[0].enqueue_remote_job(i, json.dumps({"n": i}))
        assert not stores[1].enqueue_remote_job(ids[0], "{}")  # a resumed job is not queued twice
        got = claim_all(stores, threads_per_store=3)
        assert sorted(got) == ids  # each job exactly once
        with stores[0].engine.connect() as conn:
            rows = conn.execute(select(remote_jobs.c.status, remote_jobs.c.worker)).all()
        assert {s for s, _ in rows} == {"running"} and all(w for _, w in rows)
        assert len({w for _, w in rows}) > 1  # the work was shared, not taken by one thread
    finally:
        for s in stores:
            s.close()


def test_postgres_claim_skips_a_locked_job_instead_of_waiting(pg_url: str) -> None:
    a, b = Store(pg_url), Store(pg_url)
    try:
        a.enqueue_remote_job("job_1", "{}")
        time.sleep(0.01)
        a.enqueue_remote_job("job_2", "{}")
        held, release = threading.Event(), threading.Event()
        out: list[Any] = []

        def slow_claim() -> None:  # a worker that has locked job_1 and not yet committed
            with a.transaction() as tx:
                tx.conn.execute(select(remote_jobs.c.id).where(remote_jobs.c.id == "job_1").with_for_update())
                held.set()
                release.wait(30)

        t = threading.Thread(target=slow_claim)
        t.start()
        assert held.wait(30)
        t0 = time.monotonic()
        out.append(b.claim_remote_job("w2"))
        waited = time.monotonic() - t0
        release.set()
        t.join()
        assert out == [("job_2", "{}")] and waited < 5
        assert b.claim_remote_job("w2") == ("job_1", "{}")
        assert b.claim_remote_job("w2") is None
    finally:
        a.close()
        b.close()


def test_sqlite_writers_from_many_threads_wait_for_each_other(tmp_path: Path) -> None:
    """Jobs events from concurrent request threads: none fails with `database is locked`."""
    s = Store(tmp_path / "x.sqlite3")
    errors: list[BaseException] = []

    def events(i: int) -> None:
        try:
            for k in range(15):
                job = f"job_{i}_{k}"
                s.job_event(job, "generation", "queued", node="n", recipe="{}")
                s.job_event(job, "generation", "running")
                s.job_event(job, "generation", "completed")
        except BaseException as e:
            errors.append(e)

    try:
        threads = [threading.Thread(target=events, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert not errors, errors
        assert s.job_counts("n") == {"completed": 90}
    finally:
        s.close()



def test_a_remote_job_nobody_takes_is_withdrawn_at_the_timeout(pg_url: str) -> None:
    import asyncio

    from limner.server import remote
    from limner.server.engine import GenSpec
    from limner.server.jobs import Job

    s = Store(pg_url)
    loop = asyncio.new_event_loop()
    try:
        job = Job(kind="images", loop=loop)
        with pytest.raises(TimeoutError, match="no worker finished"):
            remote.RemoteRunner(s, timeout_s=0.2).run(GenSpec(prompt="a red star"), job)
        row = s._query("SELECT status, error FROM remote_jobs WHERE id=?", (job.id,))[0]
        assert row["status"] == "cancelled" and "timed out" in row["error"]
        assert s.claim_remote_job("late-worker") is None  # a worker that starts later finds nothing to do
    finally:
        loop.close()
        s.close()


def test_a_lapsed_lease_hands_the_job_over_a_few_times_at_most(target: str | Path) -> None:
    """A running job whose worker stopped beating is claimed again once `lease_s` passes (a live lease holds);
    the old worker's heartbeat then fails; after MAX_ATTEMPTS claims the job is failed instead of retried."""
    from limner.server.store import MAX_ATTEMPTS

    s = Store(target)
    try:
        assert s.enqueue_remote_job("job_lease", '{"n": 1}')
        t0 = time.time()
        assert s.claim_remote_job("w1", lease_s=10, now=t0) == ("job_lease", '{"n": 1}')
        assert s.heartbeat_remote_job("job_lease", "w1")
        assert s.claim_remote_job("w2", lease_s=10, now=t0 + 5) is None  # w1 still holds it
        assert s.claim_remote_job("w2", lease_s=10, now=t0 + 60) == ("job_lease", '{"n": 1}')
        assert not s.heartbeat_remote_job("job_lease", "w1") and s.heartbeat_remote_job("job_lease", "w2")
        from limner.server.errors import JobCancelled
        from limner.server.remote import _WorkerJob

        old, new = _WorkerJob(s, "job_lease", "w1"), _WorkerJob(s, "job_lease", "w2")
        with pytest.raises(JobCancelled):  # w1, still running, learns at its next check that it lost the job
            old.check()
        old.emit("partial", (0, b"stale"))  # ... and its previews no longer land
        new.emit("partial", (0, b"fresh"))
        rows = s._query("SELECT seq, data FROM remote_events WHERE job_id='job_lease'")
        assert len(rows) == 1 and "ZnJlc2g=" in rows[0]["data"]  # base64 of b"fresh"
        for k in range(2, MAX_ATTEMPTS):
            assert s.claim_remote_job(f"w{k + 1}", lease_s=10, now=t0 + 100 * k) is not None
        assert s.claim_remote_job("w9", lease_s=10, now=t0 + 10_000) is None
        row = s._query("SELECT status, error, attempts FROM remote_jobs WHERE id='job_lease'")[0]
        assert row["status"] == "failed" and row["attempts"] == MAX_ATTEMPTS and "not retried" in row["error"]
    finally:
        s.close()
