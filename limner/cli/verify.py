"""`limner verify IMAGE [--json]`: the provenance evidence for one image (see limner.provenance.verify)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from limner.cli.main import CliError

VERDICT_TEXT = {
    "made_by_limner": "made by this limner",
    "likely_made_by_limner": "likely made by this limner",
    "no_evidence": "no evidence that this limner made it",
}


def add_parser(subparsers: Any) -> None:
    """Register `limner verify`: IMAGE, --json, and where the index, data directory and trust anchors are."""
    p = subparsers.add_parser("verify", help="check an image's C2PA manifest, watermark and index record",
                              description="Report whether this limner made IMAGE, with the evidence.")
    p.add_argument("image", metavar="IMAGE", help="PNG, JPEG or WebP file (or any image Pillow reads)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.add_argument("--data-dir", type=Path, default=None,
                   help="limner data directory (default $LIMNER_HOME or ~/.limner)")
    p.add_argument("--index-url", default=None, help="sqlite:///path or postgresql://... (default: sqlite in data dir)")
    p.add_argument("--trust-anchors", type=Path, default=None, help="PEM file of C2PA trust anchors")
    p.set_defaults(func=run)


def _text(d: dict[str, Any], image: str) -> str:
    c, w, i = d["c2pa"], d["watermark"], d["index"]
    lines = [f"{image}: {VERDICT_TEXT[d['verdict']]}"]
    c2pa = f"  C2PA:      {c['state']}"
    if c["state"] != "absent":
        c2pa += f" (generator {c.get('generator')}, actions {', '.join(c.get('actions') or []) or '-'}"
        c2pa += f", signer {c.get('signer')})"
        for f in c.get("failures") or []:
            c2pa += f"\n             failure {f['code']}: {f['explanation']}"
    lines.append(c2pa)
    if w["found"]:
        lines.append(f"  watermark: found, payload {w['payload']}, confidence {w['confidence']:.3f}")
    else:
        lines.append("  watermark: not found")
    if i["match"]:
        r = i["record"]
        how = i.get("method")
        extra = f", PDQ distance {i['pdq_distance']}" if "pdq_distance" in i else ""
        lines.append(f"  index:     record {r['record_id']} (by {how}{extra}): request {r['request_id']}, "
                     f"model {r['model']}, created {r['created_at']}")
    else:
        lines.append("  index:     no matching record")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Run `limner verify`: print the verdict and its evidence (C2PA, watermark, index record) as text or
    JSON, notes on stderr. Returns 0 whatever the verdict; CliError on bad settings or an unreadable image."""
    from limner.provenance.errors import ProvenanceError
    from limner.provenance.settings import ProvenanceSettings
    from limner.provenance.verify import Verifier

    try:
        kw: dict[str, Any] = {"index_url": args.index_url, "trust_anchors_path": args.trust_anchors}
        if args.data_dir is not None:
            kw["data_dir"] = args.data_dir
        settings = ProvenanceSettings(**kw)
    except ValueError as e:
        raise CliError(str(e)) from None
    try:
        verifier = Verifier(settings)
    except ProvenanceError as e:
        raise CliError(str(e)) from None
    try:
        result = verifier.verify(args.image)
    except ProvenanceError as e:
        raise CliError(f"{args.image}: {e}" if not str(e).startswith(args.image) else str(e)) from None
    finally:
        verifier.close()
    d = result.to_dict()
    print(json.dumps(d) if args.json else _text(d, args.image))
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    return 0
