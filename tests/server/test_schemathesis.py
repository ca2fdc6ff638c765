"""Requests generated from the app's own OpenAPI schema by schemathesis: whatever is sent, never a 5xx.

The full run (>= 1,000 cases) is `schemathesis run http://HOST:PORT/openapi.json --checks not_a_server_error
-n 60`; this test runs a smaller sample (LIMNER_SCHEMATHESIS_EXAMPLES per operation) to stay fast in CI.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.server.conftest import Server

EXAMPLES = os.environ.get("LIMNER_SCHEMATHESIS_EXAMPLES", "8")


def test_no_server_errors(server: Server, tmp_path: Path) -> None:
    exe = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.skip("schemathesis is not installed")
    r = subprocess.run([exe, "run", f"{server.url}/openapi.json", "--checks", "not_a_server_error", "-n", EXAMPLES,
                        "-w", "1", "--request-timeout", "60", "--no-color"],
                       capture_output=True, text=True, timeout=240, cwd=tmp_path)  # its cache stays out of the repo
    assert r.returncode == 0, r.stdout[-4000:]
    assert "passed" in r.stdout
    with server.http() as h:
        assert h.get("/health").status_code == 200
