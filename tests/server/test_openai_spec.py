"""limner against OpenAI's own OpenAPI spec (the vendored cut of its Images paths), through schemathesis with
OpenAI's schemas as the judge: no server error, no answer or SSE event off the schema, no refusal of a
documented value. The full run of record (>= 2,000 cases) is `bench/openai_spec.py`; this is its quick form."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bench.openai_spec import Failure, parse, run_schemathesis, summarise
from tests.server.conftest import Server

MIN_CASES = 250  # at 15 examples per operation: the coverage phase's documented values, and fuzzing


def test_images_paths_conform_to_openais_spec(server: Server, tmp_path: Path) -> None:
    try:
        out = run_schemathesis(f"{server.url}/v1", examples=15, workdir=tmp_path, timeout_s=600)
    except RuntimeError as e:
        pytest.skip(str(e))
    generated, failures = parse(out)
    unique = re.search(r"found (\d+) unique failures", out)
    assert len(failures) == (int(unique[1]) if unique else 0), out[-3000:]  # the parser saw every failure
    report = summarise(generated, failures)
    print(f"OpenAI spec: {generated} cases, accepted refusals {report['accepted']}")
    assert generated >= MIN_CASES, out[-3000:]
    # each violation in full (its body names the refused parameter), not pytest's shortened repr
    assert not report["violations"], "\n".join(json.dumps(v) for v in report["violations"])
    with server.http() as h:
        assert h.get("/health").status_code == 200


# bytes of the kind schemathesis sends as a binary upload that Pillow reads as a TGA header (TGA has no magic
# number): one a small TGA, one declaring over 4e9 pixels. Found by decoding 200,000 random strings.
TGA_LIKE = bytes.fromhex("ff0001023e010102ffffb202ff0202020101018101c702f000ff020202cbff01ffff67ff020101")
TGA_HUGE = bytes.fromhex("ff0001e901ffff0001021701ffff02ff01ff0002ff000102ff01c670fa120001000201"
                         "aebe0002cf0000c60100021c0002ff82020201ff")


@pytest.mark.parametrize(("upload", "code"), [(TGA_LIKE, "invalid_image_format"), (TGA_HUGE, "image_too_large")])
def test_random_bytes_read_as_another_format_are_an_accepted_refusal(server: Server, upload: bytes,
                                                                     code: str) -> None:
    with server.http() as h:
        r = h.post("/v1/images/variations", files={"image": ("image", upload, "application/octet-stream")})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == code, r.text
    report = summarise(1, [Failure("POST /images/variations", ["ST202"], ["Schema-valid request rejected"], 400,
                                   r.text)])
    assert report["violations"] == [] and sum(report["accepted"].values()) == 1, report
    # a refusal of a documented value stays a violation
    wrong = '{"error": {"code": "invalid_value", "param": "size", "message": "no"}}'
    assert summarise(1, [Failure("POST /images/variations", ["ST202"], [], 400, wrong)])["violations"]


def test_an_end_user_id_of_any_length_the_spec_allows_is_accepted() -> None:
    # schemathesis once sent a 257-character `user` to /images/variations and the old 256-character cap refused
    # it; OpenAI's spec gives `user` no maximum, so only the request-size bound (the prompt's) applies
    from pydantic import ValidationError

    from limner.limits import MAX_USER_CHARS
    from limner.server.protocol import ImageGenerationRequest, ResponsesRequest

    assert ImageGenerationRequest(prompt="p", user="u" * 5000).user == "u" * 5000
    assert ResponsesRequest(model="gpt-4.1", input="hi", user="u" * 5000).user == "u" * 5000
    with pytest.raises(ValidationError, match="user"):
        ImageGenerationRequest(prompt="p", user="u" * (MAX_USER_CHARS + 1))


def test_an_unknown_key_spelled_like_a_type_tag_is_named(server: Server) -> None:
    # pydantic puts type tags ("str", "none", "list[...]") in an error's location, and those are dropped when
    # naming a parameter; a form key spelled like one was once dropped too, so that schemathesis' key "none"
    # was refused as "a body that is not a JSON object" (not an accepted refusal) instead of an unknown key
    from pydantic import ValidationError

    from limner.server.errors import validation_error
    from limner.server.protocol import ImageGenerationRequest

    for key in ("none", "str", "list[int]", "function-after"):
        with pytest.raises(ValidationError) as e:
            ImageGenerationRequest(prompt="p", **{key: "v"})
        err = validation_error(e.value)  # type: ignore[arg-type]
        assert (err.code, err.param) == ("unknown_parameter", key), err.message
        with server.http() as h:
            r = h.post("/v1/images/variations", files={"image": ("a.png", b"\x89PNG", "image/png")},
                       data={key: "v"})
        assert r.status_code == 400 and r.json()["error"]["param"] == key, r.text
        assert r.json()["error"]["code"] == "unknown_parameter", r.text


def test_a_refused_unknown_key_with_line_separators_is_read_whole(server: Server) -> None:
    # schemathesis once sent a form key holding U+0085; str.splitlines() cut the printed body there, so the
    # refusal's code went unread and an accepted refusal counted as a violation
    key = "k\x85\u2028\x0f" + "é" * 600  # long enough that schemathesis shortens the printed body too
    with server.http() as h:
        r = h.post("/v1/images/variations", files={"image": ("a.png", b"\x89PNG", "image/png")},
                   data={key: "v"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "unknown_parameter", r.text
    for body in (r.text, r.text[:512] + " ..."):  # whole, and cut as schemathesis cuts a long payload
        out = ("_____ POST /images/variations _____\n1. Test Case ID: abc\n- ST202 Schema-valid request rejected\n"
               f"[400] Bad Request:\n\n    `{body}`\n\n14 generated\n")
        generated, failures = parse(out)
        assert generated == 14 and len(failures) == 1 and failures[0].status == 400
        assert failures[0].error()["code"] == "unknown_parameter", failures[0].body
        report = summarise(generated, failures)
        assert report["violations"] == [] and sum(report["accepted"].values()) == 1, report
    # a cut body that names no code and is not an unknown-key refusal is still not accepted
    cut = Failure("POST /images/variations", ["ST202"], [], 400, '{"error":{"message":"Invalid value for \'size')
    assert summarise(1, [cut])["violations"]
