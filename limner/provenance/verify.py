"""`verify`: did this limner make this image? Evidence from C2PA, the watermark and the index.

Verdicts:
* made_by_limner: the watermark payload or a valid limner manifest leads to a record in this index;
* likely_made_by_limner: weaker evidence only: our watermark without an index record, a valid limner
  manifest whose record is not here, or a close perceptual-hash match to an indexed image;
* no_evidence: none of the above (an invalid manifest is reported, and is not evidence).

Verification never writes: no key, CA or database is created when missing.
"""

from __future__ import annotations

import io
import os
import struct
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from limner.limits import MAX_VERIFY_PIXELS
from limner.provenance import manifest
from limner.provenance.certs import trust_anchors
from limner.provenance.errors import DamagedImageError, InputImageError
from limner.provenance.index import IndexRecord, ProvenanceIndex, open_index
from limner.provenance.keys import load_watermark_key
from limner.provenance.phash import flatten, pdq
from limner.provenance.settings import ProvenanceSettings
from limner.provenance.watermark import Detection, WatermarkConfig, detect

MAX_FILE_BYTES = 256 * 1024 * 1024
# PDQ match rule, from bench/provenance on the flat-colour world: the same image after JPEG q75, 0.5x resize
# or brightness +10% is within 24 bits for ~95% of images (brightness: all), while unrelated renders are
# >= 68 bits from every indexed one. PDQ's usual quality gate (50) would drop most flat images, so only
# featureless ones (quality 0: their hash is arbitrary and all blank images share it) are excluded.
PDQ_MAX_DISTANCE = 24
PDQ_MIN_QUALITY = 1


@dataclass
class VerifyResult:
    """The outcome of `verify`: the verdict, and the evidence behind it (manifest report, watermark
    detection, and the index record with how it was found)."""

    verdict: str  # made_by_limner | likely_made_by_limner | no_evidence
    c2pa: manifest.ManifestReport
    watermark: Detection | None
    record: IndexRecord | None
    match_method: str | None = None  # payload | manifest | pdq
    pdq_distance: int | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (`limner verify --json`): verdict, c2pa, watermark (payload in hex) and index."""
        wm = self.watermark
        index: dict[str, Any] = {"match": self.record is not None,
                                 "record": self.record.to_dict() if self.record else None}
        if self.record is not None:
            index["method"] = self.match_method
            if self.pdq_distance is not None:
                index["pdq_distance"] = self.pdq_distance
        return {
            "verdict": self.verdict,
            "c2pa": self.c2pa.to_dict(),
            "watermark": {
                "found": bool(wm and wm.found),
                "payload": f"{wm.payload:012x}" if wm and wm.found and wm.payload is not None else None,
                "confidence": round(float(wm.confidence), 4) if wm and wm.found else 0.0,
            },
            "index": index,
        }


def _load_bytes(path_or_bytes: str | os.PathLike[str] | bytes | Image.Image) -> bytes:
    if isinstance(path_or_bytes, Image.Image):
        # A PIL image has pixels but no file: its C2PA manifest (file metadata) is gone, while the
        # watermark and the index still answer. Pass the file's bytes to have the manifest checked too.
        buf = io.BytesIO()
        path_or_bytes.save(buf, format="PNG")
        data = buf.getvalue()
    elif isinstance(path_or_bytes, bytes | bytearray):
        data = bytes(path_or_bytes)
    elif isinstance(path_or_bytes, str | os.PathLike):
        p = Path(path_or_bytes)
        try:
            size = p.stat().st_size
        except FileNotFoundError:
            raise InputImageError(f"{p}: no such file") from None
        if not p.is_file():
            raise InputImageError(f"{p}: not a regular file")
        if size > MAX_FILE_BYTES:
            raise InputImageError(f"{p}: {size} bytes is above the {MAX_FILE_BYTES}-byte limit")
        data = p.read_bytes()
    else:
        raise InputImageError(f"expected an image path, bytes or a PIL image, got {type(path_or_bytes).__name__}")
    if not data:
        raise InputImageError("empty file")
    if len(data) > MAX_FILE_BYTES:
        raise InputImageError(f"{len(data)} bytes is above the {MAX_FILE_BYTES}-byte limit")
    return data


def _png_critical_chunks(data: bytes) -> bytes | None:
    """A PNG rebuilt from its critical chunks only (IHDR, PLTE, IDAT, IEND...), or None if not a PNG.

    A tampered C2PA chunk (caBX) with a bad CRC makes Pillow refuse the whole file; the pixels are
    still there and may still carry the watermark.
    """
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    out, pos = [data[:8]], 8
    while pos + 12 <= len(data):
        (length,) = struct.unpack(">I", data[pos: pos + 4])
        kind = data[pos + 4: pos + 8]
        end = pos + 12 + length
        if end > len(data):
            return None
        if kind[:1].isupper():  # critical chunk
            out.append(data[pos:end])
        pos = end
    return b"".join(out)


def decode_image(data: bytes, max_pixels: int = MAX_VERIFY_PIXELS) -> Image.Image:
    """Decode with the size checked from the header first, so a decompression bomb is refused unread."""
    try:
        try:
            im = Image.open(io.BytesIO(data))
        except (OSError, SyntaxError):
            stripped = _png_critical_chunks(data)
            if stripped is None:
                raise
            im = Image.open(io.BytesIO(stripped))
    except Image.DecompressionBombError as e:
        raise InputImageError(f"image refused as a decompression bomb: {e}") from None
    except UnidentifiedImageError:
        head = data[:8].hex(" ")
        raise InputImageError(f"not a readable image: no image format recognised (first bytes {head})") from None
    except (OSError, ValueError, SyntaxError) as e:
        raise InputImageError(f"not a readable image ({e})") from None
    w, h = im.size
    if w * h > max_pixels:
        raise InputImageError(f"image is {w}x{h} = {w * h / 1e6:.0f} Mpx, above the {max_pixels / 1e6:.0f} Mpx limit")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im.load()
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombWarning, Image.DecompressionBombError) as e:
        raise DamagedImageError(f"image data is truncated or corrupt ({im.format} {w}x{h}): {e}") from None
    return im


class Verifier:
    """Holds the key, anchors and index between calls (the server verifies many images)."""

    def __init__(self, settings: ProvenanceSettings | None = None, wm_config: WatermarkConfig | None = None) -> None:
        self.settings = settings or ProvenanceSettings()
        self.wm_config = wm_config or WatermarkConfig()
        self._key = load_watermark_key(self.settings.resolved_watermark_key_path, create=False)
        self._anchors = trust_anchors(self.settings)
        self._index: ProvenanceIndex | None = None
        url = self.settings.resolved_index_url
        if not url.startswith("sqlite:///") or Path(url[len("sqlite:///"):]).exists():
            self._index = open_index(url)

    def close(self) -> None:
        """Close the index, if one was opened."""
        if self._index is not None:
            self._index.close()
            self._index = None

    def read_watermark(self, im: Image.Image) -> Detection | None:
        """The watermark in a decoded image (None when this deployment has no key yet)."""
        if self._key is None:
            return None
        has_alpha = im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info)
        # images with transparency are marked as seen over white (alpha.py); with
        # mark_transparent_background off, the mark is in the RGB under the alpha: read that second
        det = detect(np.ascontiguousarray(np.asarray(flatten(im))), self._key, self.wm_config)
        if not det.found and has_alpha:
            rgb = np.asarray(im.convert("RGBA"))[..., :3]
            det2 = detect(np.ascontiguousarray(rgb), self._key, self.wm_config)
            det = det2 if det2.found else det
        return det

    def verify(self, path_or_bytes: str | os.PathLike[str] | bytes | Image.Image) -> VerifyResult:
        """The verdict on one image (a path, its bytes or a PIL image): manifest, watermark, then the index
        by payload, by the manifest's record id, or by perceptual hash; raises InputImageError for unusable input."""
        data = _load_bytes(path_or_bytes)
        notes: list[str] = []
        im: Image.Image | None
        damage: DamagedImageError | None = None
        try:
            im = decode_image(data)
        except DamagedImageError as e:
            im, damage = None, e
        report = manifest.read(data, self._anchors)
        if damage is not None:
            if report.state == "absent":
                raise damage  # no pixels and no manifest: nothing to give a verdict on
            # a tampered file is what a verifier is asked about most: its manifest still answers
            # (naming the hash mismatch); only the watermark and perceptual search need pixels
            notes.append(f"{damage}: watermark and perceptual search skipped")
        det = self.read_watermark(im) if im is not None else None
        if self._key is None and im is not None:
            notes.append(f"no watermark key at {self.settings.resolved_watermark_key_path}: watermark not checked")
        if self._index is None:
            notes.append(f"no index at {self.settings.resolved_index_url}: index not searched")

        record: IndexRecord | None = None
        method: str | None = None
        distance: int | None = None
        idx = self._index
        if idx is not None and det is not None and det.found and det.payload is not None:
            record, method = idx.by_payload(det.payload), "payload"
        manifest_ok = report.state in ("trusted", "valid") and report.is_limner
        if idx is not None and record is None and manifest_ok:
            rid = str(report.generation.get("record_id", ""))
            record, method = (idx.by_id(rid), "manifest") if rid else (None, None)
        if idx is not None and record is None and im is not None:
            h, q = pdq(im)
            if q >= PDQ_MIN_QUALITY:
                for cand, d in idx.nearest(h, PDQ_MAX_DISTANCE, limit=3):
                    if cand.pdq_quality >= PDQ_MIN_QUALITY:
                        record, method, distance = cand, "pdq", d
                        break
        if record is None:
            method = None

        if method in ("payload", "manifest"):
            verdict = "made_by_limner"
        elif method == "pdq" or manifest_ok or (det is not None and det.found):
            verdict = "likely_made_by_limner"
        else:
            verdict = "no_evidence"
        return VerifyResult(verdict, report, det, record, method, distance, notes)


def verify(path_or_bytes: str | os.PathLike[str] | bytes | Image.Image,
           settings: ProvenanceSettings | None = None) -> VerifyResult:
    """One-shot verification of a file path, its bytes or a PIL image (pixels only: no manifest to read);
    raises InputImageError (a clear, typed message) for unusable input."""
    v = Verifier(settings)
    try:
        return v.verify(path_or_bytes)
    finally:
        v.close()
