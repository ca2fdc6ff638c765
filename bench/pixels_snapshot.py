"""Pixel fingerprints of a fixed set of 20 requests, taken before provenance, to show that a refactor
changes no image.

    python bench/pixels_snapshot.py --out before.json            # on the old tree
    python bench/pixels_snapshot.py --out after.json --compare before.json

Each case runs through `Pipeline` (safety off, so only the drawing is compared) with a fixed seed; the
provenance stage is replaced by a recorder that keeps the engine's pixels before any watermark. A case's
fingerprint is the sha256 of its images' RGBA bytes, with the size. The cases cover the default native
path, quality="high" (thinking and best-of-4), paint mode, several images per call and edits.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

# (kind, prompt or instruction, keyword arguments); an edit's image is the first case's output.
CASES: list[tuple[str, str, dict[str, Any]]] = [
    ("generate", "a red star above a blue ring", {}),
    ("generate", "three green triangles on a white background", {}),
    ("generate", "a yellow heart to the left of a purple square", {}),
    ("generate", 'a sign that says "OPEN" in red', {}),
    ("generate", "a large orange circle and a small blue cross", {}),
    ("generate", "a 2x2 grid: a red star, a blue heart, a green moon, a yellow cloud", {}),
    ("generate", "picture this: a cloud, tinted green", {}),
    ("generate", "two pink arrows on a black background", {}),
    ("generate", "a lightning bolt in #1e90ff", {}),
    ("generate", "a red star above a blue ring", {"size": "384x256"}),
    ("generate", "a blue diamond", {"background": "transparent"}),
    ("generate", "a green moon and a red sun", {"n": 2}),
    ("generate", "a red star above a blue ring", {"quality": "high"}),
    ("generate", 'a poster with the word "HELLO" above a yellow star', {"quality": "high"}),
    ("generate", "four purple hexagons", {"quality": "high"}),
    ("generate", "a red star above a blue ring", {"paint": True}),
    ("generate", "a yellow heart to the left of a purple square", {"paint": True}),
    ("edit", "make the ring green", {}),
    ("edit", "remove the ring", {}),
    ("edit", "add a yellow moon in the top left", {}),
]


@dataclass
class _Kept:
    data: bytes
    fmt: str
    payload_hex: str
    record_id: str


class _Recorder:
    """Stands in for the provenance stage: keeps each image's pixels and passes them on unmarked."""

    def __init__(self) -> None:
        self.images: list[Image.Image] = []

    def apply(self, im: Image.Image, info: Any, fmt: str = "png", quality: int | None = None) -> _Kept:
        self.images.append(im.copy())
        buf = io.BytesIO()
        im.save(buf, format="PNG")
        return _Kept(buf.getvalue(), "png", "", "")


def fingerprint(images: list[Image.Image]) -> str:
    h = hashlib.sha256()
    for im in images:
        h.update(f"{im.mode}{im.size}".encode())
        h.update(im.tobytes())
    return h.hexdigest()


def run(seed: int) -> list[dict[str, Any]]:
    from limner.engine.decode import SamplingParams
    from limner.errors import InvalidRequest
    from limner.pipeline import Pipeline

    pipe = Pipeline.from_pretrained(safety=False)
    rec = _Recorder()
    pipe.provenance = rec
    rows: list[dict[str, Any]] = []
    first: Image.Image | None = None
    for i, (kind, text, kw) in enumerate(CASES):
        rec.images.clear()
        kw = dict(kw)
        sampling = SamplingParams(paint=True) if kw.pop("paint", False) else None
        error = ""
        try:
            if kind == "generate":
                pipe(text, seed=seed + i, sampling=sampling, **kw)
            else:
                assert first is not None
                pipe.edit(first, text, seed=seed + i, **kw)
        except InvalidRequest as e:  # a refusal is behaviour too: its message is compared
            error = str(e)
        if first is None:
            first = rec.images[0]
        rows.append({"case": i, "kind": kind, "text": text, "options": kw | ({"paint": True} if sampling else {}),
                     "sizes": [list(im.size) for im in rec.images], "error": error,
                     "sha256": fingerprint(rec.images) if not error else "error: " + error})
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True, help="where to write the fingerprints (JSON)")
    ap.add_argument("--compare", type=Path, help="an earlier --out file: exit 1 unless every case matches it")
    ap.add_argument("--seed", type=int, default=1, help="seed of the first case; case i uses seed + i")
    args = ap.parse_args(argv)
    rows = run(args.seed)
    args.out.write_text(json.dumps(rows, indent=1) + "\n")
    if args.compare is None:
        print(f"wrote {len(rows)} fingerprints to {args.out}")
        return 0
    before = {r["case"]: r for r in json.loads(args.compare.read_text())}
    same = sum(before.get(r["case"], {}).get("sha256") == r["sha256"] for r in rows)
    for r in rows:
        ok = before.get(r["case"], {}).get("sha256") == r["sha256"]
        print(f"{'same' if ok else 'DIFF'}  {r['kind']:8s} {r['text']!r} {r['options'] or ''}")
    print(f"{same}/{len(rows)} cases give the same pixels as {args.compare}")
    return 0 if same == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
