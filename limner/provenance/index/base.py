"""The reverse-search index interface, shared by the SQLite and PostgreSQL stores.

Every generation gets one row: its watermark payload (exact lookup), its PDQ perceptual hash split into
16 16-bit substrings (multi-index hashing: by the pigeonhole principle two hashes within Hamming
distance d < 16 * (r + 1) share at least one substring within distance r, so a query probes 16 indexed
columns for 1 or 17 values each instead of scanning the table), and the generation's metadata.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from limner.provenance.errors import ProvenanceError
from limner.provenance.phash import CHUNKS, chunks, hamming, probes

COLUMNS = ("record_id", "payload", "pdq", "pdq_quality", "request_id", "created_at", "model", "checkpoint_sha",
           "prompt_sha256", "prompt", "user_id", "format", "width", "height")
CHUNK_COLUMNS = tuple(f"h{i}" for i in range(CHUNKS))


class IndexStoreError(ProvenanceError):
    """The index cannot be opened or written; the message names the store."""


@dataclass
class IndexRecord:
    """One generation's row in the index: its watermark payload and PDQ hash (the two ways to find it),
    and the metadata `verify` reports."""

    record_id: str
    payload: int  # 48-bit watermark payload
    pdq: bytes  # 32-byte PDQ hash
    pdq_quality: int
    request_id: str
    created_at: str  # ISO 8601, UTC
    model: str
    checkpoint_sha: str
    prompt_sha256: str | None  # None when prompt retention is "none"
    prompt: str | None  # only with prompt retention "full"
    user_id: str | None
    format: str
    width: int
    height: int

    def row(self) -> tuple[Any, ...]:
        """The values to insert: the fields in `COLUMNS` order, then the 16 PDQ substrings (`CHUNK_COLUMNS`)."""
        return (*(getattr(self, c) for c in COLUMNS), *chunks(self.pdq))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields, with the PDQ hash in hex and the payload as 12 hex digits."""
        d = asdict(self)
        d["pdq"] = self.pdq.hex()
        d["payload"] = f"{self.payload:012x}"
        return d


def chunk_probes(pdq: bytes, max_distance: int, probe_radius: int) -> list[list[int]]:
    """Per substring, the 16-bit values to look up.

    probe_radius 0 (1 lookup per substring) guarantees every hash within 15 bits is found, and finds one at
    distance d with probability ~1 - (1 - e^(-d/16))^16 beyond that if its flips are spread (99.6% at 20,
    ~97% at 24); probe_radius 1 (17 lookups per substring, ~17x the candidates) guarantees up to 31 bits.
    """
    if probe_radius not in (0, 1):
        raise ValueError(f"probe_radius {probe_radius} must be 0 or 1")
    if not 0 <= max_distance <= 256:
        raise ValueError(f"max_distance {max_distance} must be within 0..256")
    return [probes(v, probe_radius) for v in chunks(pdq)]


def rank(query: bytes, candidates: Iterable[tuple[Any, bytes]], max_distance: int, limit: int) -> list[tuple[Any, int]]:
    """(key, hash) candidates -> the `limit` nearest within max_distance, as (key, distance)."""
    scored = [(k, hamming(query, bytes(h))) for k, h in candidates]
    scored = [(k, d) for k, d in scored if d <= max_distance]
    scored.sort(key=lambda kd: kd[1])
    return scored[:limit]


class ProvenanceIndex(abc.ABC):
    """Storage for generation records; implementations must make `add` atomic."""

    url: str

    @abc.abstractmethod
    def add(self, record: IndexRecord) -> None:
        """Insert one record; raises IndexStoreError on a duplicate payload or record id."""

    @abc.abstractmethod
    def add_many(self, records: Iterable[IndexRecord], rebuild_indexes: bool = False) -> int:
        """Bulk insert (benchmarks, migrations); returns the number inserted. With rebuild_indexes the 16
        substring indexes are dropped for the load and rebuilt after (several times faster for 1M rows)."""

    @abc.abstractmethod
    def by_payload(self, payload: int) -> IndexRecord | None:
        """The record whose watermark carries `payload` (an exact match), or None."""

    @abc.abstractmethod
    def by_id(self, record_id: str) -> IndexRecord | None:
        """The record with this `record_id` (which a limner C2PA manifest names), or None."""

    @abc.abstractmethod
    def nearest(self, pdq: bytes, max_distance: int = 24, limit: int = 5,
                probe_radius: int = 0) -> list[tuple[IndexRecord, int]]:
        """Records whose PDQ hash is within `max_distance` bits, nearest first (see chunk_probes for recall)."""

    @abc.abstractmethod
    def payload_exists(self, payload: int) -> bool:
        """Whether a record already carries `payload`; the stage draws payloads until one is free."""

    @abc.abstractmethod
    def count(self) -> int:
        """The number of records."""

    @abc.abstractmethod
    def close(self) -> None:
        """Close the connection; the index cannot be used afterwards."""

    def __enter__(self) -> ProvenanceIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def record_from_row(row: tuple[Any, ...]) -> IndexRecord:
    """An IndexRecord from a row selected in `COLUMNS` order (the hash made `bytes`, whatever type the
    driver returned; columns beyond `COLUMNS` are ignored)."""
    vals = list(row[: len(COLUMNS)])
    vals[2] = bytes(vals[2])
    return IndexRecord(*vals)
