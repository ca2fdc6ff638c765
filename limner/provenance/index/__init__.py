"""Reverse-search index stores; `open_index(url)` picks SQLite or PostgreSQL from the URL."""

from __future__ import annotations

from limner.provenance.index.base import IndexRecord, IndexStoreError, ProvenanceIndex


def open_index(url: str) -> ProvenanceIndex:
    """`sqlite:///path` (path may be absolute: sqlite:////abs/path.db) or `postgresql://...`."""
    if url.startswith("sqlite:///"):
        from limner.provenance.index.sqlite import SqliteIndex

        return SqliteIndex(url)
    if url.startswith(("postgresql://", "postgres://")):
        from limner.provenance.index.postgres import PostgresIndex

        return PostgresIndex(url)
    raise IndexStoreError(f"index url {url!r} must start with sqlite:/// or postgresql://")


__all__ = ["IndexStoreError", "IndexRecord", "ProvenanceIndex", "open_index"]
