"""limner against OpenAI's own OpenAPI spec (the vendored cut of its Images paths), through schemathesis with
OpenAI's schemas as the judge: no server error, no answer or SSE event off the schema, no refusal of a
documented value. The full run of record (>= 2,000 cases) is `bench/openai_spec.py`; this is its quick form."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bench.openai_spec import parse, run_schemathesis, summarise
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
    assert not report["violations"], report["violations"]
    with server.http() as h:
        assert h.get("/health").status_code == 200
