"""SQLite index store (the default): one file, WAL mode, one connection guarded by a lock."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path

from limner.provenance.index.base import (
    CHUNK_COLUMNS,
    COLUMNS,
    IndexRecord,
    IndexStoreError,
    ProvenanceIndex,
    chunk_probes,
    rank,
    record_from_row,
)

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS generations (record_id TEXT PRIMARY KEY, payload INTEGER NOT NULL UNIQUE, "
    "pdq BLOB NOT NULL, pdq_quality INTEGER NOT NULL, request_id TEXT NOT NULL, created_at TEXT NOT NULL, "
    "model TEXT NOT NULL, checkpoint_sha TEXT NOT NULL, prompt_sha256 TEXT, prompt TEXT, user_id TEXT, "
    "format TEXT NOT NULL, width INTEGER NOT NULL, height INTEGER NOT NULL, "
    + ", ".join(f"{c} INTEGER NOT NULL" for c in CHUNK_COLUMNS) + ")"
)
_SELECT = ", ".join(COLUMNS)


class SqliteIndex(ProvenanceIndex):
    """`SqliteIndex("sqlite:///path.db")`: creates the file, its directory and the schema when missing;
    raises IndexStoreError when it cannot open them."""

    def __init__(self, url: str) -> None:
        self.url = url
        path = url[len("sqlite:///"):]
        if not path:
            raise IndexStoreError(f"index url {url!r} names no file")
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=30.0, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(_SCHEMA)
            self._ensure_indexes()
        except (sqlite3.Error, OSError) as e:
            raise IndexStoreError(f"cannot open SQLite index {self.path}: {e}") from None
        self._lock = threading.Lock()

    def _ensure_indexes(self) -> None:
        # Covering indexes (chunk, pdq): the candidate query reads only the index, never the table rows,
        # which cut its tail latency at 1M records. Single-column indexes of earlier versions are dropped.
        for c in CHUNK_COLUMNS:
            self._db.execute(f"DROP INDEX IF EXISTS ix_generations_{c}")
            self._db.execute(f"CREATE INDEX IF NOT EXISTS ix_generations_{c}_pdq ON generations({c}, pdq)")

    def _insert_sql(self) -> str:
        cols = (*COLUMNS, *CHUNK_COLUMNS)
        return f"INSERT INTO generations ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"

    def add(self, record: IndexRecord) -> None:
        """Insert one record in one autocommitted statement; raises IndexStoreError on a duplicate payload or
        record id, or when the database fails."""
        with self._lock:
            try:
                self._db.execute(self._insert_sql(), record.row())
            except sqlite3.IntegrityError as e:
                raise IndexStoreError(f"record {record.record_id} / payload {record.payload:012x} "
                                      f"already indexed: {e}") from None
            except sqlite3.Error as e:
                raise IndexStoreError(f"cannot write to SQLite index {self.path}: {e}") from None

    def add_many(self, records: Iterable[IndexRecord], rebuild_indexes: bool = False) -> int:
        """Bulk insert in one transaction, 10,000 rows per statement; returns the number inserted. With
        rebuild_indexes the covering indexes are dropped for the load and rebuilt after it, even when it fails."""
        n = 0
        with self._lock:
            if rebuild_indexes:
                for c in CHUNK_COLUMNS:
                    self._db.execute(f"DROP INDEX IF EXISTS ix_generations_{c}_pdq")
            self._db.execute("PRAGMA cache_size=-131072")  # 128 MiB while loading: B-tree pages stay cached
            self._db.execute("BEGIN")
            try:
                batch: list[tuple[object, ...]] = []
                for r in records:
                    batch.append(r.row())
                    if len(batch) >= 10000:
                        self._db.executemany(self._insert_sql(), batch)
                        n += len(batch)
                        batch.clear()
                if batch:
                    self._db.executemany(self._insert_sql(), batch)
                    n += len(batch)
                self._db.execute("COMMIT")
            except sqlite3.Error as e:
                self._db.execute("ROLLBACK")
                raise IndexStoreError(f"bulk insert into {self.path} failed: {e}") from None
            except BaseException:
                # a bad record (ValueError from its row()) or an interrupt: nothing of the batch lands, and the
                # shared connection is not left inside an open transaction for the next caller
                self._db.execute("ROLLBACK")
                raise
            finally:
                if rebuild_indexes:
                    self._ensure_indexes()
                self._db.execute("PRAGMA cache_size=-2000")
        return n

    def _one(self, where: str, arg: object) -> IndexRecord | None:
        with self._lock:
            row = self._db.execute(f"SELECT {_SELECT} FROM generations WHERE {where} = ?", (arg,)).fetchone()
        return record_from_row(row) if row else None

    def by_payload(self, payload: int) -> IndexRecord | None:
        """The record whose watermark carries `payload`, or None."""
        return self._one("payload", payload)

    def by_id(self, record_id: str) -> IndexRecord | None:
        """The record with this `record_id`, or None."""
        return self._one("record_id", record_id)

    def payload_exists(self, payload: int) -> bool:
        """Whether a record already carries `payload`."""
        with self._lock:
            return self._db.execute("SELECT 1 FROM generations WHERE payload = ?", (payload,)).fetchone() is not None

    def nearest(self, pdq: bytes, max_distance: int = 24, limit: int = 5,
                probe_radius: int = 0) -> list[tuple[IndexRecord, int]]:
        """Records within `max_distance` bits of `pdq`, nearest first: one covering-index lookup per
        substring, merged by UNION, then each of the (at most `limit`) best read by rowid."""
        probe = chunk_probes(pdq, max_distance, probe_radius)
        # one indexed lookup per substring column, merged by UNION: never a table scan
        parts, args = [], []
        for c, vals in zip(CHUNK_COLUMNS, probe, strict=True):
            parts.append(f"SELECT rowid, pdq FROM generations WHERE {c} IN ({', '.join('?' * len(vals))})")
            args.extend(vals)
        with self._lock:
            cands = self._db.execute(" UNION ".join(parts), args).fetchall()
            best = rank(pdq, cands, max_distance, limit)
            out = []
            for rowid, dist in best:
                row = self._db.execute(f"SELECT {_SELECT} FROM generations WHERE rowid = ?", (rowid,)).fetchone()
                if row is not None:  # deleted since the candidate query
                    out.append((record_from_row(row), dist))
        return out

    def count(self) -> int:
        """The number of records."""
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM generations").fetchone()[0])

    def close(self) -> None:
        """Close the connection."""
        self._db.close()
