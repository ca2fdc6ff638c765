"""Both index stores behind one interface, against the real SQLite and the real PostgreSQL."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from limner.provenance.index import IndexRecord, IndexStoreError, ProvenanceIndex, open_index
from limner.provenance.index.postgres import PostgresIndex
from tests.provenance.conftest import PG_URL


def _record(rng: random.Random, i: int, pdq: bytes | None = None) -> IndexRecord:
    return IndexRecord(
        record_id=f"rec-{i:06d}", payload=rng.getrandbits(48) | 1, pdq=pdq or rng.randbytes(32), pdq_quality=90,
        request_id=f"req-{i}", created_at="2026-01-01T00:00:00+00:00", model="m", checkpoint_sha="ab" * 32,
        prompt_sha256="cd" * 32, prompt=None, user_id=None, format="png", width=256, height=256,
    )


def _flip(h: bytes, bits: list[int]) -> bytes:
    v = int.from_bytes(h, "big")
    for b in bits:
        v ^= 1 << b
    return v.to_bytes(32, "big")


@pytest.fixture(params=["sqlite", "postgres"])
def index(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ProvenanceIndex]:
    if request.param == "sqlite":
        idx: ProvenanceIndex = open_index(f"sqlite:///{tmp_path / 'idx.db'}")
    else:
        table = request.getfixturevalue("pg_table")
        idx = PostgresIndex(PG_URL, table=table)
    yield idx
    idx.close()


def test_add_and_exact_lookups(index: ProvenanceIndex) -> None:
    rng = random.Random(0)
    recs = [_record(rng, i) for i in range(50)]
    for r in recs[:10]:
        index.add(r)
    assert index.add_many(recs[10:]) == 40
    assert index.count() == 50
    got = index.by_payload(recs[7].payload)
    assert got == recs[7]
    assert index.by_id("rec-000033") == recs[33]
    assert index.by_payload(recs[7].payload ^ 2) is None
    assert index.payload_exists(recs[3].payload)


def test_duplicate_payload_is_refused_and_nothing_is_half_written(index: ProvenanceIndex) -> None:
    rng = random.Random(1)
    r = _record(rng, 1)
    index.add(r)
    dup = _record(rng, 2)
    dup.payload = r.payload
    with pytest.raises(IndexStoreError, match="already indexed"):
        index.add(dup)
    assert index.count() == 1 and index.by_id("rec-000002") is None


def test_a_bad_record_in_a_bulk_load_lands_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'idx.db'}"
    index = open_index(url)
    rng = random.Random(3)
    good = [_record(rng, i) for i in range(5)]
    bad = _record(rng, 5, pdq=b"short")  # a PDQ hash of the wrong length: row() raises mid-load
    with pytest.raises(ValueError):
        index.add_many([*good, bad])
    # the shared connection is not left inside the load's transaction: the next add is committed, and
    # another connection sees it
    index.add(good[0])
    other = open_index(url)
    assert other.count() == 1 and other.by_id("rec-000000") == good[0]
    other.close()
    index.close()


def test_nearest_finds_near_duplicates_up_to_the_guaranteed_radius(index: ProvenanceIndex) -> None:
    rng = random.Random(2)
    recs = [_record(rng, i) for i in range(300)]
    index.add_many(recs[:100])
    index.add_many(recs[100:], rebuild_indexes=True)  # the indexes come back after a bulk load
    target = recs[123]
    # 15 flipped bits spread over 15 different 16-bit substrings: only one substring still matches exactly
    q15 = _flip(target.pdq, [16 * k + 3 for k in range(15)])
    assert [(r.record_id, d) for r, d in index.nearest(q15, max_distance=15)] == [(target.record_id, 15)]
    # 31 bits, two per substring except one: needs the radius-1 probes
    q31 = _flip(target.pdq, [16 * k + j for k in range(16) for j in (1, 9)][:31])
    assert index.nearest(q31, max_distance=31) == []  # no substring survives intact: exact probes miss it
    hits = index.nearest(q31, max_distance=31, probe_radius=1)
    assert hits and hits[0][0].record_id == target.record_id and hits[0][1] == 31
    assert index.nearest(q31, max_distance=20, probe_radius=1) == []  # farther than asked: not returned
    assert index.nearest(rng.randbytes(32), max_distance=24) == []  # random hashes are ~128 bits apart


def test_sqlite_query_uses_the_substring_indexes(tmp_path: Path) -> None:
    idx = open_index(f"sqlite:///{tmp_path / 'plan.db'}")
    try:
        plan = idx._db.execute(  # type: ignore[attr-defined]
            "EXPLAIN QUERY PLAN SELECT rowid, pdq FROM generations WHERE h0 IN (1, 2) "
            "UNION SELECT rowid, pdq FROM generations WHERE h1 IN (3)").fetchall()
        text = " ".join(str(r[-1]) for r in plan)
        # index-only: the covering (chunk, pdq) index answers without reading table rows
        assert "USING COVERING INDEX ix_generations_h0_pdq" in text and "SCAN generations" not in text
    finally:
        idx.close()


def test_postgres_query_reads_only_the_covering_indexes(pg_table: str) -> None:
    """Each substring lookup must be an index-only scan: heap visits are what made p99 miss 20 ms at 1M rows."""
    import psycopg

    rng = random.Random(4)
    with psycopg.connect(PG_URL, autocommit=True) as db:  # an index made by an earlier version, to migrate
        PostgresIndex(PG_URL, table=pg_table).close()
        db.execute(f"CREATE INDEX ix_{pg_table}_h0 ON {pg_table} (h0)")
    idx = PostgresIndex(PG_URL, table=pg_table)
    try:
        idx.add_many([_record(rng, i) for i in range(3000)], rebuild_indexes=True)
        with psycopg.connect(PG_URL, autocommit=True) as db:
            names = {r[0] for r in db.execute("SELECT indexname FROM pg_indexes WHERE tablename = %s", (pg_table,))}
            assert f"ix_{pg_table}_h0" not in names and f"ix_{pg_table}_h0_cov" in names
            db.execute("SET enable_seqscan = off")  # 3000 rows: the planner would otherwise just scan them
            args = [[rng.getrandbits(16)] for _ in range(16)]
            plan = "\n".join(r[0] for r in db.execute(
                "EXPLAIN (ANALYZE, COSTS OFF) " + idx.candidates_sql(), args))
        assert plan.count("Index Only Scan") == 16, plan
        assert "Heap Fetches: 0" in plan and "Bitmap Heap Scan" not in plan, plan
    finally:
        idx.close()


def test_bad_urls_are_named() -> None:
    with pytest.raises(IndexStoreError, match="mysql://x"):
        open_index("mysql://x")
    with pytest.raises(IndexStoreError, match="cannot open PostgreSQL"):
        open_index("postgresql://postgres@127.0.0.1:1/nope")
