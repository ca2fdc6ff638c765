"""Perceptual-hash matching against an operator's list of known-bad images (PDQ and pHash).

The list is a text file, one entry a line: `pdq:<64 hex>` or `phash:<16 hex>`, optionally followed by a
label; `#` starts a comment. Operators load a real list (e.g. from an industry hash-sharing programme);
the tests use a synthetic one.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image


class HashListError(ValueError):
    """The hash list file is malformed; the message names the line."""


@dataclass(frozen=True)
class HashEntry:
    """One line of a hash list: the hash kind, its bits, and the label a match reports."""

    kind: str  # "pdq" | "phash"
    bits: np.ndarray  # bool [256] or [64]
    label: str


def pdq_bits(im: Image.Image) -> tuple[np.ndarray, int]:
    """PDQ hash of an RGB image: (bool[256], quality 0..100)."""
    import pdqhash

    arr = np.ascontiguousarray(np.asarray(im.convert("RGB"), dtype=np.uint8))
    h, q = pdqhash.compute(arr)
    return np.asarray(h, dtype=bool).reshape(256), int(q)


def phash_bits(im: Image.Image) -> np.ndarray:
    """64-bit perceptual hash (imagehash's pHash) of an image, as bool[64]."""
    import imagehash

    return np.asarray(imagehash.phash(im.convert("RGB")).hash, dtype=bool).reshape(64)


def to_hex(bits: np.ndarray) -> str:
    """Pack a bool bit array into hex, the format of hash-list lines (PDQ: 64 digits, pHash: 16)."""
    return np.packbits(bits.astype(np.uint8)).tobytes().hex()


def from_hex(h: str, n_bits: int) -> np.ndarray:
    """Unpack a hex hash into `n_bits` bools; raises ValueError when the hex is invalid or of the wrong length."""
    raw = bytes.fromhex(h)
    if len(raw) * 8 != n_bits:
        raise ValueError(f"expected {n_bits // 4} hex digits, got {len(h)}")
    return np.unpackbits(np.frombuffer(raw, dtype=np.uint8)).astype(bool)


def sha256_pixels(im: Image.Image) -> str:
    """SHA-256 of the decoded RGB pixels and size: a picture hashes alike whatever its file format or metadata."""
    return hashlib.sha256(im.convert("RGB").tobytes() + f"{im.width}x{im.height}".encode()).hexdigest()


def image_fingerprint(im: Image.Image) -> dict[str, str]:
    """What the audit log keeps of an image instead of its bytes."""
    bits, _ = pdq_bits(im)
    return {"sha256": sha256_pixels(im), "pdq": to_hex(bits), "size": f"{im.width}x{im.height}"}


class HashList:
    """An operator's list of known-bad image hashes, matched by Hamming distance within per-kind limits."""

    def __init__(self, entries: list[HashEntry], *, pdq_max: int = 31, phash_max: int = 8) -> None:
        self.entries = entries
        self.pdq_max, self.phash_max = pdq_max, phash_max
        self._pdq = (
            np.stack([e.bits for e in entries if e.kind == "pdq"]) if any(e.kind == "pdq" for e in entries) else None
        )
        self._ph = (
            np.stack([e.bits for e in entries if e.kind == "phash"])
            if any(e.kind == "phash" for e in entries)
            else None
        )
        self._pdq_labels = [e.label for e in entries if e.kind == "pdq"]
        self._ph_labels = [e.label for e in entries if e.kind == "phash"]

    @classmethod
    def load(cls, path: str | Path, **kw: int) -> HashList:
        """Parse a hash-list file (format in the module docstring); `kw` sets `pdq_max`/`phash_max`. Raises
        HashListError for an unreadable file or a bad entry (naming the line)."""
        p = Path(path)
        try:
            lines = p.read_text(encoding="utf-8").splitlines()
        except OSError as e:
            raise HashListError(f"cannot read hash list {p}: {e.strerror or e}") from None
        entries: list[HashEntry] = []
        for i, line in enumerate(lines, 1):
            s = line.split("#", 1)[0].strip()
            if not s:
                continue
            head, _, label = s.partition(" ")
            kind, sep, hx = head.partition(":")
            if not sep or kind not in ("pdq", "phash"):
                raise HashListError(f"{p}:{i}: expected 'pdq:HEX' or 'phash:HEX', got {head!r}")
            try:
                bits = from_hex(hx, 256 if kind == "pdq" else 64)
            except ValueError as e:
                raise HashListError(f"{p}:{i}: bad {kind} hash {hx!r}: {e}") from None
            entries.append(HashEntry(kind, bits, label.strip() or f"line {i}"))
        return cls(entries, **kw)

    def match(self, im: Image.Image) -> tuple[str | None, int]:
        """(label of the closest entry within the distance limit or None, its distance)."""
        best: tuple[str | None, int] = (None, 10**6)
        if self._pdq is not None:
            bits, _ = pdq_bits(im)
            d = (self._pdq != bits).sum(axis=1)
            j = int(d.argmin())
            if d[j] <= self.pdq_max:
                best = (self._pdq_labels[j], int(d[j]))
        if self._ph is not None and best[0] is None:
            d = (self._ph != phash_bits(im)).sum(axis=1)
            j = int(d.argmin())
            if d[j] <= self.phash_max:
                best = (self._ph_labels[j], int(d[j]))
        return best

    def __len__(self) -> int:
        return len(self.entries)
