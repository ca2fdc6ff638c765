"""C2PA manifests: build and sign limner's, read and judge anyone's (with c2pa-python).

limner's manifest has a `c2pa.actions.v2` assertion (`c2pa.created` with digitalSourceType
trainedAlgorithmicMedia, or `c2pa.edited` with the input images as ingredients) whose softwareAgent
is limner and its version, and an `org.limner.generation` assertion naming the model, checkpoint hash,
request id and watermark payload, which ties the manifest to the index record.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from typing import Any

from limner.provenance.certs import SigningCredentials, SigningError
from limner.version import __version__

TRAINED_ALGORITHMIC = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
GENERATION_LABEL = "org.limner.generation"
MIME = {"png": "image/png", "jpeg": "image/jpeg", "jpg": "image/jpeg", "webp": "image/webp"}


def _context(anchors_pem: str | None, *, signing: bool) -> Any:
    import c2pa

    settings: dict[str, Any] = {"builder": {"thumbnail": {"enabled": False}}} if signing else {}
    if anchors_pem:
        settings["trust"] = {"trust_anchors": anchors_pem}
        settings["verify"] = {"verify_trust": True}
    return c2pa.Context.from_dict(settings)


def build_manifest(*, title: str, fmt: str, model: str, checkpoint_sha: str, request_id: str, payload_hex: str,
                   record_id: str, created_at: str, edited: bool, pixel_path: str = "native") -> dict[str, Any]:
    """The manifest definition; for an edit, `sign` adds the inputs as ingredients labelled input-0, input-1...
    `pixel_path` names what made the pixels (native, or an opt-in assisted or planned path) in the limner
    assertion, so a verifier can tell the model's own output from an assisted one."""
    agent = {"name": "limner", "version": __version__}
    action: dict[str, Any] = {
        "action": "c2pa.edited" if edited else "c2pa.created",
        "digitalSourceType": TRAINED_ALGORITHMIC,
        "softwareAgent": agent,
        "parameters": {"model": model, "checkpoint_sha256": checkpoint_sha},
    }
    # C2PA requires an edit's first action to open the parent ingredient
    actions = [{"action": "c2pa.opened", "parameters": {"ingredientIds": ["input-0"]}}, action] if edited else [action]
    return {
        "claim_generator_info": [agent],
        "title": title,
        "format": MIME[fmt],
        "assertions": [
            {"label": "c2pa.actions.v2", "data": {"actions": actions}},
            {"label": GENERATION_LABEL, "data": {
                "model": model, "checkpoint_sha256": checkpoint_sha, "request_id": request_id,
                "watermark_payload": payload_hex, "record_id": record_id, "created_at": created_at,
                "pixel_path": pixel_path,
            }},
        ],
    }


def _sniff_mime(data: bytes) -> str | None:
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "image/png"
    if data[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def sign(data: bytes, fmt: str, manifest: dict[str, Any], creds: SigningCredentials,
         ingredients: list[bytes] | None = None) -> bytes:
    """Embed a signed manifest in the encoded image `data`; raises SigningError, never returns unsigned bytes."""
    import c2pa

    mime = MIME[fmt]
    try:
        signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, creds.chain_pem,
                                                           creds.key_pem, None))
        with signer, c2pa.Builder(manifest, context=_context(None, signing=True)) as builder:
            for i, ing in enumerate(ingredients or []):
                ing_mime = _sniff_mime(ing)
                if ing_mime is None:
                    raise SigningError(f"ingredient {i} is not a PNG, JPEG or WebP image")
                ing_def = {"title": f"input-{i}", "label": f"input-{i}",
                           "relationship": "parentOf" if i == 0 else "componentOf"}
                builder.add_ingredient(ing_def, ing_mime, io.BytesIO(ing))
            out = io.BytesIO()
            builder.sign(signer, mime, io.BytesIO(data), out)
    except c2pa.C2paError as e:
        raise SigningError(f"C2PA signing failed ({type(e).__name__}): {e}") from None
    signed = out.getvalue()
    if not signed:
        raise SigningError("C2PA signing produced no output")
    return signed


@dataclass
class ManifestReport:
    """What `read` found in an image's C2PA manifest store: its state (trusted | valid | invalid |
    absent), the validation failures that count, and who made it (limner's generation assertion, if any)."""

    state: str  # trusted | valid | invalid | absent
    failures: list[dict[str, str]] = field(default_factory=list)  # [{code, explanation}]
    generator: str | None = None  # claim generator name, e.g. "limner"
    generator_version: str | None = None
    is_limner: bool = False
    actions: list[str] = field(default_factory=list)
    digital_source_type: str | None = None
    signer: str | None = None
    generation: dict[str, Any] = field(default_factory=dict)  # the org.limner.generation assertion
    ingredients: int = 0
    error: str | None = None  # when the manifest store could not be parsed at all

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: only the state when the manifest is absent; `error` only when there is one."""
        d: dict[str, Any] = {"state": self.state}
        if self.state == "absent":
            return d
        d.update({
            "failures": self.failures, "generator": self.generator, "generator_version": self.generator_version,
            "is_limner": self.is_limner, "actions": self.actions, "digital_source_type": self.digital_source_type,
            "signer": self.signer, "generation": self.generation, "ingredients": self.ingredients,
        })
        if self.error:
            d["error"] = self.error
        return d


def _summarise(store: dict[str, Any], report: ManifestReport) -> None:
    active = store.get("manifests", {}).get(store.get("active_manifest", ""), {})
    gens = active.get("claim_generator_info") or [{}]
    report.generator = gens[0].get("name")
    report.generator_version = gens[0].get("version")
    sig = active.get("signature_info") or {}
    report.signer = ", ".join(x for x in (sig.get("common_name"), sig.get("issuer")) if x) or None
    report.ingredients = len(active.get("ingredients") or [])
    for a in active.get("assertions") or []:
        label = str(a.get("label", ""))
        if label.startswith("c2pa.actions"):
            for act in (a.get("data") or {}).get("actions") or []:
                report.actions.append(str(act.get("action")))
                report.digital_source_type = report.digital_source_type or act.get("digitalSourceType")
        elif label == GENERATION_LABEL:
            report.generation = dict(a.get("data") or {})
    report.is_limner = report.generator == "limner" and bool(report.generation)


def read(data: bytes, anchors_pem: str | None) -> ManifestReport:
    """Validate the C2PA manifest store in `data` (if any) against `anchors_pem`."""
    import c2pa

    mime = _sniff_mime(data)
    if mime is None:
        return ManifestReport("absent")
    try:
        reader = c2pa.Reader(mime, io.BytesIO(data), context=_context(anchors_pem, signing=False))
    except c2pa.C2paError as e:
        msg = str(e)
        if "ManifestNotFound" in type(e).__name__ or "no JUMBF" in msg or "not found" in msg.lower():
            return ManifestReport("absent")
        # a manifest is there but cannot even be parsed: that is a broken (tampered or truncated) one
        return ManifestReport("invalid", failures=[{"code": type(e).__name__.lstrip("_"), "explanation": msg}],
                              error=msg)
    with reader:
        try:
            store = json.loads(reader.json())
        except (c2pa.C2paError, ValueError) as e:
            return ManifestReport("invalid", failures=[{"code": "manifest.unreadable", "explanation": str(e)}],
                                  error=str(e))
    state = str(store.get("validation_state") or "").lower()
    results = (store.get("validation_results") or {}).get("activeManifest") or {}
    failures = [{"code": str(f.get("code")), "explanation": str(f.get("explanation", ""))}
                for f in results.get("failure") or []]
    report = ManifestReport("invalid", failures=failures)
    if state == "trusted":
        report.state = "trusted"
    elif state == "valid" or (state and not [f for f in failures if f["code"] != "signingCredential.untrusted"]):
        report.state = "valid"
    _summarise(store, report)
    # an untrusted signer is "valid", not a failure of the file
    report.failures = [f for f in failures if report.state == "invalid" or f["code"] != "signingCredential.untrusted"]
    return report
