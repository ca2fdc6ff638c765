"""The Files API's store: uploads kept per owner, so an edit or a Responses `input_image` can name one by
`file_id` as OpenAI's clients do.

A minimal version of OpenAI's `/v1/files`: any of its purposes is accepted and kept byte for byte (limner
itself reads only images, from purpose `vision` or `user_data` alike); an upload may expire
(`expires_after`), and an expired file is gone for every read. Bytes live in the history database beside
the images, so every API process sharing it can read them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert, select

from limner.server.protocol import FileObject
from limner.server.schema import files_table
from limner.server.store import Store, new_id

# CreateFileRequest.purpose in OpenAI's spec; OpenAIFile.purpose lists the same plus its own outputs
PURPOSES = ("assistants", "batch", "fine-tune", "vision", "user_data", "evals")
BATCH_EXPIRY_S = 30 * 24 * 3600  # OpenAI: batch files expire after 30 days unless told otherwise


@dataclass
class FileRow:
    """One stored upload, without its bytes."""

    id: str
    owner: str
    created_at: float
    expires_at: float | None
    filename: str
    purpose: str
    bytes: int

    def public(self) -> FileObject:
        """The OpenAI `file` object."""
        return FileObject(id=self.id, bytes=self.bytes, created_at=int(self.created_at), filename=self.filename,
                          purpose=self.purpose, expires_at=None if self.expires_at is None else int(self.expires_at))


_COLUMNS = (files_table.c.id, files_table.c.owner, files_table.c.created_at, files_table.c.expires_at,
            files_table.c.filename, files_table.c.purpose, files_table.c.bytes)


class Files:
    """Create, list, read and delete one owner's uploads in the history database."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def create(self, owner: str, filename: str, purpose: str, data: bytes,
               expires_after_s: int | None = None) -> FileRow:
        """Store `data`; `expires_after_s` counts from now (batch files default to 30 days)."""
        now = time.time()
        if expires_after_s is None and purpose == "batch":
            expires_after_s = BATCH_EXPIRY_S
        row = FileRow(new_id("file"), owner, now, now + expires_after_s if expires_after_s else None,
                      filename, purpose, len(data))
        with self.store.transaction() as tx:
            # expired uploads of every owner go here, so their bytes do not outlive them for long
            tx.conn.execute(delete(files_table).where(~_unexpired(now)))
            tx.conn.execute(insert(files_table).values(**row.__dict__, data=data))
        return row

    def get(self, file_id: str, owner: str) -> FileRow | None:
        """`owner`'s unexpired file with this id, else None (another owner's file is None too)."""
        if not _valid(file_id):
            return None
        with self.store._read() as conn:
            r = conn.execute(select(*_COLUMNS).where(*_owned(file_id, owner))).mappings().first()
        return FileRow(**dict(r)) if r else None

    def read(self, file_id: str, owner: str) -> bytes | None:
        """The bytes of `owner`'s unexpired file, else None."""
        if not _valid(file_id):
            return None
        with self.store._read() as conn:
            data = conn.execute(select(files_table.c.data).where(*_owned(file_id, owner))).scalar_one_or_none()
        return bytes(data) if data is not None else None

    def list(self, owner: str, purpose: str | None = None, limit: int = 10_000, order: str = "desc",
             after: str | None = None) -> tuple[list[FileRow], bool]:
        """(a page of `owner`'s files, whether more follow), newest first unless `order` is "asc"; `after`
        is the id the previous page ended with."""
        stmt = select(*_COLUMNS).where(files_table.c.owner == owner, _unexpired(time.time()))
        if purpose:
            stmt = stmt.where(files_table.c.purpose == purpose)
        asc = order == "asc"
        created = files_table.c.created_at
        mark = self.get(after, owner) if after else None
        if mark is not None:  # ids are random, so the page boundary is the mark's time (ties: by id)
            later = (created > mark.created_at) | ((created == mark.created_at) & (files_table.c.id > mark.id))
            earlier = (created < mark.created_at) | ((created == mark.created_at) & (files_table.c.id < mark.id))
            stmt = stmt.where(later if asc else earlier)
        keys = (created, files_table.c.id)
        stmt = stmt.order_by(*(k.asc() if asc else k.desc() for k in keys)).limit(limit + 1)
        with self.store._read() as conn:
            rows = [FileRow(**dict(r)) for r in conn.execute(stmt).mappings()]
        return rows[:limit], len(rows) > limit

    def delete(self, file_id: str, owner: str) -> bool:
        """Delete `owner`'s unexpired file; False when there is none with this id."""
        if not _valid(file_id):
            return False
        with self.store.transaction() as tx:
            return tx.conn.execute(delete(files_table).where(*_owned(file_id, owner))).rowcount > 0


def _unexpired(now: float) -> Any:
    """The SQL condition of a file that has not expired at `now`."""
    return files_table.c.expires_at.is_(None) | (files_table.c.expires_at > now)


def _owned(file_id: str, owner: str) -> tuple[Any, ...]:
    """The SQL conditions of `owner`'s unexpired file `file_id`."""
    return files_table.c.id == file_id, files_table.c.owner == owner, _unexpired(time.time())


def _valid(file_id: str) -> bool:
    """Whether `file_id` can be looked up at all (PostgreSQL text cannot hold NUL, and no id has one)."""
    return "\x00" not in file_id
