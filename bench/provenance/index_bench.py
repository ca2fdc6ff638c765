"""Reverse-search index latency at scale: N synthetic records, then timed queries, for SQLite and PostgreSQL."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from limner.provenance.index import IndexRecord, ProvenanceIndex, open_index
from limner.provenance.index.postgres import PostgresIndex


def _records(n: int, seed: int) -> Iterator[IndexRecord]:
    rng = random.Random(seed)
    for i in range(n):
        yield IndexRecord(record_id=f"{i:012x}", payload=(i << 24) | rng.getrandbits(24), pdq=rng.randbytes(32),
                          pdq_quality=90, request_id=f"bench-{i}", created_at="2026-01-01T00:00:00+00:00",
                          model="bench", checkpoint_sha="00" * 32, prompt_sha256=None, prompt=None, user_id=None,
                          format="png", width=256, height=256)


def _flip(h: bytes, k: int, rng: random.Random) -> bytes:
    v = int.from_bytes(h, "big")
    for b in rng.sample(range(256), k):
        v ^= 1 << b
    return v.to_bytes(32, "big")


def _pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.array(xs) * 1000.0, q))


def bench_index(idx: ProvenanceIndex, n: int, queries: int, seed: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    idx.add_many(_records(n, seed), rebuild_indexes=True)
    load_s = time.perf_counter() - t0
    # re-draw some stored hashes to query near-duplicates of real rows
    rng = random.Random(seed + 7)
    wanted = set(rng.sample(range(n), min(queries // 2, n)))
    stored = [(r.record_id, r.pdq, r.payload) for i, r in enumerate(_records(n, seed)) if i in wanted]
    out: dict[str, Any] = {"records": n, "load_s": round(load_s, 1),
                           "measured_at": time.strftime("%Y-%m-%d %H:%M", time.gmtime())}
    # d15: guaranteed recall; d24: what verify uses (exact substring probes); d31r1: radius-1 probes
    for label, max_d, radius in (("nearest_d15", 15, 0), ("nearest_d24", 24, 0), ("nearest_d31_r1", 31, 1)):
        lat: list[float] = []
        cpu: list[float] = []  # this thread's CPU time: the query's own cost, without waiting for a core
        hits = 0
        nq = queries if radius == 0 else max(20, queries // 10)
        for j in range(nq):
            if j % 2 == 0 and stored:
                rid, h, _ = stored[j // 2 % len(stored)]
                q = _flip(h, rng.randint(0, max_d), rng)
            else:
                rid, q = "", rng.randbytes(32)
            t, c = time.perf_counter(), time.thread_time()
            res = idx.nearest(q, max_distance=max_d, limit=3, probe_radius=radius)
            lat.append(time.perf_counter() - t)
            cpu.append(time.thread_time() - c)
            hits += bool(rid) and bool(res) and res[0][0].record_id == rid
        out[label] = {"queries": nq, "p50_ms": round(_pct(lat, 50), 2), "p99_ms": round(_pct(lat, 99), 2),
                      "client_cpu_p99_ms": round(_pct(cpu, 99), 2),
                      "near_duplicate_recall": round(hits / max(1, (nq + 1) // 2), 4)}
    lat = []
    for _, _, p in stored[:queries]:
        t = time.perf_counter()
        assert idx.by_payload(p) is not None
        lat.append(time.perf_counter() - t)
    out["payload_lookup"] = {"p50_ms": round(_pct(lat, 50), 3), "p99_ms": round(_pct(lat, 99), 3)}
    return out


def run(n: int, queries: int, seed: int, workdir: Path, pg_url: str | None,
        stores: tuple[str, ...] = ("sqlite", "postgresql")) -> dict[str, Any]:
    """Bench each of `stores`; a PostgreSQL store is skipped when `pg_url` is empty."""
    results: dict[str, Any] = {}
    if "sqlite" in stores:
        db = workdir / "index-bench.db"
        db.unlink(missing_ok=True)
        idx = open_index(f"sqlite:///{db}")
        try:
            results["sqlite"] = bench_index(idx, n, queries, seed)
        finally:
            idx.close()
            for suffix in ("", "-wal", "-shm"):
                Path(str(db) + suffix).unlink(missing_ok=True)
    if pg_url and "postgresql" in stores:
        try:
            pg = PostgresIndex(pg_url, table=f"bench_prov_{random.randrange(1 << 30)}")
        except Exception as e:  # noqa: BLE001 - report, do not abort the bench
            results["postgresql"] = {"error": str(e)}
            return results
        try:
            results["postgresql"] = bench_index(pg, n, queries, seed)
        finally:
            pg.drop()
            pg.close()
    return results
