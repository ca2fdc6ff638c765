"""A real `limner serve` on loopback with a tiny random checkpoint, driven by the official openai client."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from openai import OpenAI

from tests.pg import PostgresUnavailable, throwaway_schema

START_TIMEOUT_S = float(os.environ.get("LIMNER_TEST_START_TIMEOUT", "300"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    url: str
    data_dir: Path
    proc: subprocess.Popen[bytes]
    log: Path

    def client(self, **kw: object) -> OpenAI:
        kw.setdefault("api_key", "local")  # the SDK insists on a key; the local mode ignores one that is not lk-...
        return OpenAI(base_url=f"{self.url}/v1", **kw)  # type: ignore[arg-type]

    def http(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_server(checkpoint: Path, data_dir: Path, *extra: str) -> Server:
    port = free_port()
    env = {**os.environ, "LIMNER_CHECKPOINT": str(checkpoint)}
    log = data_dir.parent / f"{data_dir.name}-server-{port}.log"
    data_dir.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "limner.cli.main", "serve", "--port", str(port),
                                 "--threads", "1", "--data-dir", str(data_dir), "--log-level", "warning", *extra],
                                stdout=fh, stderr=subprocess.STDOUT, env=env)
    server = Server(f"http://127.0.0.1:{port}", data_dir, proc, log)
    # generous: on a CPU shared with a training run, importing torch and warming the safety models is slow
    deadline = time.time() + START_TIMEOUT_S
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"limner serve exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{server.url}/health", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.3)
    server.stop()
    raise RuntimeError(f"limner serve did not start in {START_TIMEOUT_S:.0f} s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="session")
def server(tiny_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    s = start_server(tiny_checkpoint, tmp_path_factory.mktemp("serve") / "data", "--max-body-mb", "4")
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture(scope="session")
def client(server: Server) -> OpenAI:
    return server.client(max_retries=0, timeout=120)


@pytest.fixture()
def pg_url() -> Iterator[str]:
    """A fresh schema in the test database, dropped afterwards; skips when PostgreSQL is not running."""
    try:
        with throwaway_schema("limner_serve") as url:
            yield url
    except PostgresUnavailable as e:
        pytest.skip(str(e))
