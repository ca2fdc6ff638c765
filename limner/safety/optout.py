"""The public-figure opt-out registry: people who asked not to be depicted.

Entries hold a name, aliases, and optional face embeddings computed from reference photos the person
submits (dlib 128-d descriptors; the photos themselves are not kept). Prompts are matched on the
normalised name and aliases, uploaded and generated images on faces. Stored in SQLite.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from limner.safety.normalize import normalize

FACE_MATCH_DISTANCE = 0.55  # dlib descriptors: same person is usually < 0.6; a little stricter for fewer false blocks


class OptOutError(ValueError):
    """Bad registry input (empty name, unknown entry, photo without a face)."""


@dataclass
class OptOutEntry:
    """One registry entry: normalised name, aliases, number of stored face embeddings, time added (Unix)."""

    name: str
    aliases: list[str] = field(default_factory=list)
    n_faces: int = 0
    added: float = 0.0


class OptOutRegistry:
    """SQLite registry of the people who opted out, matched by name in prompts and by face in images. Thread-safe;
    the match index is rebuilt after each change."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=30.0)
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS optout (name TEXT PRIMARY KEY, aliases TEXT NOT NULL, "
            "faces BLOB, n_faces INTEGER NOT NULL, added REAL NOT NULL)"
        )
        self._cache: tuple[int, re.Pattern[str] | None, dict[str, str], np.ndarray, list[str]] | None = None
        self._version = 0

    def close(self) -> None:
        """Close the database connection; the registry cannot be used afterwards."""
        self._conn.close()

    def add(
        self, name: str, *, aliases: list[str] | None = None, photos: list[Image.Image] | None = None
    ) -> OptOutEntry:
        """Add (or extend) an entry. Each photo must show exactly one face."""
        key = normalize(name or "")
        if not key:
            raise OptOutError(f"opt-out name must contain letters, got {name!r}")
        al = sorted({normalize(a) for a in (aliases or []) if normalize(a)} - {key})
        encs: list[np.ndarray] = []
        for i, ph in enumerate(photos or []):
            from limner.safety.faces import detect_faces, face_encodings

            faces = detect_faces(ph)
            if len(faces) != 1:
                raise OptOutError(f"reference photo {i + 1} must show exactly one face, found {len(faces)}")
            encs.extend(face_encodings(ph, faces))
        with self._lock:
            row = self._conn.execute("SELECT aliases, faces, n_faces FROM optout WHERE name=?", (key,)).fetchone()
            if row:
                al = sorted(set(json.loads(row[0])) | set(al))
                if row[1]:
                    encs = list(np.frombuffer(row[1], dtype=np.float32).reshape(-1, 128)) + encs
            blob = np.stack(encs).astype(np.float32).tobytes() if encs else None
            added = time.time()
            self._conn.execute(
                "INSERT OR REPLACE INTO optout VALUES (?,?,?,?,?)", (key, json.dumps(al), blob, len(encs), added)
            )
            self._version += 1
        return OptOutEntry(key, al, len(encs), added)  # the time stored, as list() will report it

    def remove(self, name: str) -> None:
        """Delete the entry with this name (normalised); raises OptOutError when there is none."""
        key = normalize(name or "")
        with self._lock:
            cur = self._conn.execute("DELETE FROM optout WHERE name=?", (key,))
            self._version += 1
        if cur.rowcount == 0:
            raise OptOutError(f"no opt-out entry named {name!r}")

    def entries(self) -> list[OptOutEntry]:
        """Every entry, sorted by name."""
        with self._lock:
            rows = self._conn.execute("SELECT name, aliases, n_faces, added FROM optout ORDER BY name").fetchall()
        return [OptOutEntry(n, json.loads(a), int(k), float(t)) for n, a, k, t in rows]

    def _index(self) -> tuple[re.Pattern[str] | None, dict[str, str], np.ndarray, list[str]]:
        with self._lock:
            if self._cache and self._cache[0] == self._version:
                return self._cache[1:]
            rows = self._conn.execute("SELECT name, aliases, faces FROM optout").fetchall()
            names: dict[str, str] = {}
            encs: list[np.ndarray] = []
            owners: list[str] = []
            for n, a, f in rows:
                names[n] = n
                for x in json.loads(a):
                    names[x] = n
                if f:
                    e = np.frombuffer(f, dtype=np.float32).reshape(-1, 128)
                    encs.append(e)
                    owners.extend([n] * len(e))
            pat = None
            if names:
                alts = sorted(names, key=len, reverse=True)
                pat = re.compile(r"(?<![a-z0-9])(?:" + "|".join(re.escape(x) for x in alts) + r")(?![a-z0-9])")
            mat = np.concatenate(encs) if encs else np.zeros((0, 128), np.float32)
            self._cache = (self._version, pat, names, mat, owners)
            return pat, names, mat, owners

    def match_text(self, normalised: str) -> str | None:
        """The opted-out person named in a normalised prompt, or None (also for an empty registry)."""
        pat, names, _, _ = self._index()
        if pat is None:
            return None
        m = pat.search(normalised)
        return names[m.group(0)] if m else None

    def match_faces(self, encodings: list[np.ndarray]) -> tuple[str | None, float]:
        """The opted-out person whose reference face is nearest, if within FACE_MATCH_DISTANCE."""
        _, _, mat, owners = self._index()
        if not len(mat) or not encodings:
            return None, float("inf")
        d = np.linalg.norm(mat[None, :, :] - np.stack(encodings)[:, None, :], axis=2)
        i, j = np.unravel_index(int(d.argmin()), d.shape)
        dist = float(d[i, j])
        return (owners[j] if dist < FACE_MATCH_DISTANCE else None), dist

    @property
    def has_faces(self) -> bool:
        """Whether any entry holds a reference face (without one, the image layer skips face matching)."""
        return len(self._index()[2]) > 0
