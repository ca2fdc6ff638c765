"""Cut the Images, Files and Responses parts out of OpenAI's OpenAPI file (github.com/openai/openai-openapi, MIT).

The cut keeps those paths and every component they reference, nothing else, so the protocol tests and the
schemathesis bench check limner against OpenAI's own contract without carrying the whole 3 MB file.

One rewrite, of form and not of content: OpenAI's spec (OpenAPI 3.1) gives a `text/event-stream` response a
`schema` that describes the JSON in each event's `data` line, while OpenAPI 3.1 tooling (schemathesis among
it) reads that `schema` as the event object itself (`data`, `event`, `id`), so every conforming stream
would fail. The cut states OpenAI's meaning in OpenAPI 3.2's words: an `itemSchema` whose `data` is JSON
(`contentMediaType`) matching the original schema (`contentSchema`).

Rerun it when OpenAI's spec moves:

    python scripts/vendor_openai_spec.py path/to/openapi.json --commit <sha>
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

PATHS = ("/images/generations", "/images/edits", "/images/variations",
         "/files", "/files/{file_id}", "/files/{file_id}/content", "/responses")
OUT = Path(__file__).resolve().parent.parent / "tests" / "server" / "data" / "openai-openapi.json"


def referenced(node: Any, spec: dict[str, Any], seen: set[tuple[str, str]]) -> None:
    """Add every (section, name) component that `node` references, transitively, to `seen`."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/"):
            _, _, section, name = ref.split("/", 3)
            if (section, name) not in seen:
                seen.add((section, name))
                referenced(spec["components"][section][name], spec, seen)
        for key, value in node.items():
            if key != "x-oaiMeta":  # documentation examples reference nothing the contract needs
                referenced(value, spec, seen)
    elif isinstance(node, list):
        for value in node:
            referenced(value, spec, seen)


def sse_as_item_schema(node: Any) -> None:
    """Rewrite, in place, every `text/event-stream` media type's `schema` as an `itemSchema` whose `data` is
    JSON matching it (see the module docstring)."""
    if isinstance(node, dict):
        for media, obj in node.items():
            if media == "text/event-stream" and isinstance(obj, dict) and "schema" in obj:
                data = {"type": "string", "contentMediaType": "application/json", "contentSchema": obj.pop("schema")}
                obj["itemSchema"] = {"type": "object", "required": ["data"], "properties": {"data": data}}
            else:
                sse_as_item_schema(obj)
    elif isinstance(node, list):
        for value in node:
            sse_as_item_schema(value)


def cut(spec: dict[str, Any], paths: tuple[str, ...], commit: str) -> dict[str, Any]:
    """The sub-spec with `paths` and their components; `x-oaiMeta` examples dropped to keep it small."""
    missing = [p for p in paths if p not in spec["paths"]]
    if missing:
        raise KeyError(f"OpenAI's spec has no path(s) {missing}")
    kept = {p: {m: {k: v for k, v in op.items() if k != "x-oaiMeta"} for m, op in spec["paths"][p].items()}
            for p in paths}
    sse_as_item_schema(kept)
    seen: set[tuple[str, str]] = set()
    referenced(kept, spec, seen)
    components: dict[str, dict[str, Any]] = {}
    for section, name in sorted(seen):
        components.setdefault(section, {})[name] = spec["components"][section][name]
    info = {**spec["info"], "x-limner-source": f"github.com/openai/openai-openapi@{commit} (MIT licence)",
            "x-limner-paths": list(paths)}
    return {"openapi": spec["openapi"], "info": info, "servers": spec.get("servers", []),
            "security": spec.get("security", []), "paths": kept, "components": components}


def main(argv: list[str] | None = None) -> None:
    """Write the cut to tests/server/data/openai-openapi.json (or --out)."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("spec", type=Path, help="OpenAI's openapi.json")
    ap.add_argument("--commit", default="unknown", help="the openai-openapi commit it came from (recorded)")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    sub = cut(json.loads(args.spec.read_text()), PATHS, args.commit)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(sub, indent=1, sort_keys=False) + "\n")
    print(f"{args.out}: {len(sub['paths'])} paths, {sum(map(len, sub['components'].values()))} components")


if __name__ == "__main__":
    main()
