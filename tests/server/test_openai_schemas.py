"""The objects limner answers with, validated against OpenAI's own schemas (the vendored cut of its spec):
Responses (JSON and every SSE event), Files, and the Images answer. schemathesis covers the Images paths
with generated requests (test_openai_spec.py); these are the shapes it cannot reach, from real requests."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
from openai import OpenAI

from limner.data.scene import Scene, SceneObject, render
from tests.server.conftest import Server

SPEC = json.loads((Path(__file__).parent / "data" / "openai-openapi.json").read_text())
TOOL = [{"type": "image_generation", "quality": "low"}]


def as_json_schema(node: Any) -> Any:
    """OpenAPI's `nullable: true` (which OpenAI's 3.1 spec still uses) as JSON Schema's `null` alternative."""
    if isinstance(node, dict):
        out = {k: as_json_schema(v) for k, v in node.items() if k != "nullable"}
        return {"anyOf": [out, {"type": "null"}]} if node.get("nullable") is True else out
    if isinstance(node, list):
        return [as_json_schema(v) for v in node]
    return node


COMPONENTS = as_json_schema(SPEC["components"])


def violations(obj: Any, schema_name: str) -> list[str]:
    """What in `obj` breaks OpenAI's `schema_name`, one line per error ([] when it conforms)."""
    v = jsonschema_rs.Draft202012Validator({"$ref": f"#/components/schemas/{schema_name}", "components": COMPONENTS})
    return [f"{'/'.join(map(str, e.instance_path))}: {e.message[:300]}" for e in v.iter_errors(obj)]


def event_schema(event_type: str) -> str:
    """The ResponseStreamEvent member whose `type` is `event_type` (its errors say more than the union's)."""
    union = SPEC["components"]["schemas"]["ResponseStreamEvent"]
    for ref in union.get("anyOf", union.get("oneOf", [])):
        name = ref["$ref"].rsplit("/", 1)[-1]
        if SPEC["components"]["schemas"][name]["properties"]["type"].get("enum") == [event_type]:
            return name
    raise AssertionError(f"OpenAI's spec has no Responses event {event_type!r}")


def sse_data(text: str) -> list[dict[str, Any]]:
    return [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: ")]


def test_the_validator_catches_a_wrong_shape() -> None:
    assert violations({"id": "f", "object": "file"}, "OpenAIFile")  # bytes, created_at... missing
    assert violations({"created": 1, "size": "256x256"}, "ImagesResponse")  # outside the enum


def test_responses_json_and_events_match_openais_schemas(server: Server) -> None:
    with server.http() as h:
        r = h.post("/v1/responses", json={"model": "gpt-4.1", "input": "a red star", "tools": TOOL, "seed": 1,
                                          "metadata": {"k": "v"}, "store": True})
        assert r.status_code == 200, r.text
        assert violations(r.json(), "Response") == [], "\n".join(violations(r.json(), "Response"))
        got = h.get(f"/v1/responses/{r.json()['id']}")
        assert violations(got.json(), "Response") == []
        streamed = h.post("/v1/responses", json={"model": "gpt-4.1", "input": "make the star blue", "tools": [
            {"type": "image_generation", "quality": "low", "partial_images": 1}], "stream": True,
            "previous_response_id": r.json()["id"]})
        events = sse_data(streamed.text)
    assert events and events[-1]["type"] == "response.completed"
    bad = {e["type"]: violations(e, event_schema(e["type"])) for e in events}
    assert not any(bad.values()), bad


def test_files_and_images_answers_match_openais_schemas(client: OpenAI, server: Server) -> None:
    buf = io.BytesIO()
    render(Scene(256, 256, "white", [SceneObject("star", "red")])).convert("RGB").save(buf, "PNG")
    with server.http() as h:
        made = h.post("/v1/files", files={"file": ("star.png", buf.getvalue(), "image/png")},
                      data={"purpose": "vision"})
        assert made.status_code == 200 and violations(made.json(), "OpenAIFile") == [], made.text
        assert violations(h.get("/v1/files").json(), "ListFilesResponse") == []
        assert violations(h.get(f"/v1/files/{made.json()['id']}").json(), "OpenAIFile") == []
        assert violations(h.delete(f"/v1/files/{made.json()['id']}").json(), "DeleteFileResponse") == []
        for body in ({"prompt": "a red star", "size": "1024x1024", "response_format": "url"},
                     {"prompt": "a red star", "n": 2, "output_format": "webp", "quality": "hd"}):
            res = h.post("/v1/images/generations", json=body)
            assert res.status_code == 200 and violations(res.json(), "ImagesResponse") == [], res.text


@pytest.mark.parametrize("path", ["/v1/images/generations", "/v1/files/file-none"])
def test_errors_match_openais_error_schema(server: Server, path: str) -> None:
    with server.http() as h:
        r = h.post(path, json={"prompt": 5}) if "images" in path else h.get(path)
    assert r.status_code in (400, 404) and violations(r.json(), "ErrorResponse") == [], r.text
