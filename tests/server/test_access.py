"""API keys: required when asked for, hashed, rate-limited, revocable, and isolating each key's records."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import openai
import pytest

from tests.server.conftest import start_server

TOOL = [{"type": "image_generation", "quality": "low"}]


def keys(data: Path, *args: str) -> str:
    r = subprocess.run([sys.executable, "-m", "limner.cli.main", "keys", "--data-dir", str(data), *args],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_keys_isolate_rate_limit_and_revoke(tiny_checkpoint: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    alice_id, alice = keys(data, "create", "alice").split()
    bob_id, bob = keys(data, "create", "bob", "--rate-per-min", "5").split()
    assert alice not in (data / "limner.sqlite3").read_bytes().decode("latin-1")  # only the hash is stored
    s = start_server(tiny_checkpoint, data, "--require-keys")
    try:
        with pytest.raises(openai.AuthenticationError) as e:
            s.client(max_retries=0, api_key="local").models.list()
        assert e.value.body["code"] == "invalid_api_key"
        a = s.client(max_retries=0, api_key=alice, timeout=120)
        b = s.client(max_retries=0, api_key=bob, timeout=120)
        r = a.responses.create(model="limner", input="a pink heart", tools=TOOL)
        with pytest.raises(openai.NotFoundError):
            b.responses.retrieve(r.id)
        with pytest.raises(openai.NotFoundError) as e:
            b.responses.create(model="limner", input="bigger", previous_response_id=r.id, tools=TOOL)
        assert e.value.body["param"] == "previous_response_id"
        with s.http() as h:
            mine = h.get("/v1/limner/images", headers={"Authorization": f"Bearer {alice}"}).json()["data"]
            theirs = h.get("/v1/limner/images", headers={"Authorization": f"Bearer {bob}"}).json()["data"]
            assert [i["prompt"] for i in mine] == ["a pink heart"] and theirs == []
            assert h.get(mine[0]["url"], headers={"Authorization": f"Bearer {bob}"}).status_code == 404
            # bob has used 4 of his 5 requests this minute
            assert h.get("/v1/models", headers={"Authorization": f"Bearer {bob}"}).status_code == 200
            busy = h.get("/v1/models", headers={"Authorization": f"Bearer {bob}"})
            assert busy.status_code == 429 and busy.json()["error"]["code"] == "rate_limit_exceeded"
            assert int(busy.headers["retry-after"]) >= 1
        assert a.responses.retrieve(r.id).output[0].result  # alice is not limited by bob's use
        keys(data, "revoke", alice_id)
        with pytest.raises(openai.AuthenticationError):
            a.models.list()
        assert f"{alice_id}\talice\t60/min\trevoked" in keys(data, "list") and bob_id in keys(data, "list")
    finally:
        s.stop()
