"""The Files API's store on real SQLite and PostgreSQL: owners apart, expiry, pages, deletion."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from limner.server.files import BATCH_EXPIRY_S, Files
from limner.server.store import Store


@pytest.fixture(params=["sqlite", "postgres"])
def files(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Files]:
    target = str(request.getfixturevalue("pg_url")) if request.param == "postgres" else tmp_path / "db.sqlite3"
    s = Store(target)
    try:
        yield Files(s)
    finally:
        s.close()


def test_owners_expiry_pages_and_deletion(files: Files) -> None:
    a = files.create("alice", "a.png", "vision", b"\x89PNG alice")
    b = files.create("bob", "b.png", "vision", b"\x89PNG bob")
    gone = files.create("alice", "old.txt", "user_data", b"old", expires_after_s=-1)  # already expired
    batch = files.create("alice", "jobs.jsonl", "batch", b"{}")
    assert batch.expires_at is not None and round(batch.expires_at - batch.created_at) == BATCH_EXPIRY_S
    assert files.read(a.id, "alice") == b"\x89PNG alice" and files.get(a.id, "bob") is None  # tenants apart
    assert files.read(b.id, "alice") is None and files.get(gone.id, "alice") is None  # expired: gone for reads
    rows, more = files.list("alice")
    assert [r.id for r in rows] == [batch.id, a.id] and not more  # newest first, expired left out
    first, more = files.list("alice", limit=1, order="asc")
    second, _ = files.list("alice", limit=1, order="asc", after=first[0].id)
    assert more and [first[0].id, second[0].id] == [a.id, batch.id]
    assert [r.id for r in files.list("alice", purpose="vision")[0]] == [a.id]
    assert not files.delete(a.id, "bob") and files.delete(a.id, "alice") and files.read(a.id, "alice") is None
    assert a.public().object == "file" and a.public().status == "processed" and a.public().expires_at is None
