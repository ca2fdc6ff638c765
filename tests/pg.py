"""The local test PostgreSQL, shared by the provenance, server and docs tests.

`throwaway_schema` gives each user a schema of its own inside the one test database and drops it
afterwards, so tests never see each other's tables (and a crashed run leaves at most one schema).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

PG_URL = os.environ.get("LIMNER_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


class PostgresUnavailable(RuntimeError):
    """The driver is missing or the server does not answer; callers skip what needs it."""


@contextmanager
def throwaway_schema(prefix: str) -> Iterator[str]:
    """A database URL whose search_path is a fresh schema `PREFIX_<hex>`, dropped on exit.

    Raises PostgresUnavailable when psycopg is not installed or PostgreSQL is not reachable."""
    try:
        import psycopg
    except ImportError as e:
        raise PostgresUnavailable("psycopg is not installed") from e
    try:
        conn = psycopg.connect(PG_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as e:
        raise PostgresUnavailable(f"PostgreSQL at {PG_URL} is not reachable: {e}") from e
    schema = f"{prefix}_{uuid.uuid4().hex[:10]}"
    conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")
        conn.close()
