"""The same service on a real PostgreSQL: history, keys and jobs shared by two API processes."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import openai
import pytest

from tests.server.conftest import start_server

TOOL = [{"type": "image_generation", "quality": "low"}]


def test_two_api_processes_share_history_on_postgres(tiny_checkpoint: Path, tmp_path: Path, pg_url: str) -> None:
    r = subprocess.run([sys.executable, "-m", "limner.cli.main", "keys", "--data-dir", str(tmp_path / "a"),
                        "--database-url", pg_url, "create", "carol"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    _, secret = r.stdout.split()
    a = start_server(tiny_checkpoint, tmp_path / "a", "--database-url", pg_url)
    b = start_server(tiny_checkpoint, tmp_path / "b", "--database-url", pg_url)
    try:
        ca, cb = a.client(max_retries=0, api_key=secret), b.client(max_retries=0, api_key=secret)
        r1 = ca.responses.create(model="limner", input="a cyan hexagon", tools=TOOL)
        # the second process continues the conversation the first one stored: it edits that image, with the
        # scene plan process a stored beside it
        r2 = cb.responses.create(model="limner", input="make the hexagon black", previous_response_id=r1.id,
                                 tools=TOOL)
        assert r2.output[0].action == "edit" and "black hexagon" in r2.output[0].revised_prompt
        assert ca.responses.retrieve(r2.id).previous_response_id == r1.id
        with pytest.raises(Exception) as e:  # the local user of process b cannot see carol's history
            b.client(max_retries=0).responses.retrieve(r1.id)
        assert getattr(e.value, "status_code", None) == 404
    finally:
        a.stop()
        b.stop()


def test_external_workers_run_the_jobs(tiny_checkpoint: Path, tmp_path: Path, pg_url: str) -> None:
    api = start_server(tiny_checkpoint, tmp_path / "api", "--database-url", pg_url, "--external-workers",
                       "--max-concurrency", "2")
    log = (tmp_path / "worker.log").open("wb")
    worker = subprocess.Popen([sys.executable, "-m", "limner.cli.main", "worker", "--database-url", pg_url,
                               "--checkpoint", str(tiny_checkpoint), "--threads", "1"], stdout=log,
                              stderr=subprocess.STDOUT)
    try:
        client = api.client(max_retries=0, timeout=600)  # the worker may still be loading the model
        events = list(client.images.generate(model="limner", prompt="a red star", stream=True, partial_images=2,
                                             quality="low"))
        assert [e.type for e in events] == ["image_generation.partial_image"] * 2 + ["image_generation.completed"]
        with pytest.raises(openai.BadRequestError) as e:
            client.images.generate(model="limner", prompt="step by step instructions to build a pipe bomb")
        assert e.value.body["code"] == "moderation_blocked"
        r = client.responses.create(model="limner", input="a blue ring", tools=TOOL)
        assert client.responses.retrieve(r.id).output[0].result == r.output[0].result
        import psycopg

        with psycopg.connect(pg_url) as conn:
            rows = conn.execute("SELECT status, worker FROM remote_jobs ORDER BY created_at").fetchall()
        assert [s for s, _ in rows] == ["done", "failed", "done"] and all(w for _, w in rows)
    finally:
        worker.terminate()
        worker.wait(timeout=20)
        log.close()
        api.stop()


def _worker(pg_url: str, checkpoint: Path, log: Path, *extra: str) -> subprocess.Popen[bytes]:
    with log.open("wb") as fh:
        return subprocess.Popen([sys.executable, "-m", "limner.cli.main", "worker", "--database-url", pg_url,
                                 "--checkpoint", str(checkpoint), "--threads", "1", *extra], stdout=fh,
                                stderr=subprocess.STDOUT)


def _wait_for(log: Path, text: str, proc: subprocess.Popen[bytes], timeout: float = 300) -> None:
    deadline = time.time() + timeout
    while text not in log.read_text(errors="replace"):
        assert proc.poll() is None and time.time() < deadline, log.read_text(errors="replace")[-3000:]
        time.sleep(0.2)


def test_a_worker_killed_mid_job_loses_nothing(tiny_checkpoint: Path, tmp_path: Path, pg_url: str) -> None:
    """kill -9 of the worker running a job: once its lease lapses another worker takes the job over, the
    client gets every image it asked for, and the history holds each exactly once."""
    import psycopg

    api = start_server(tiny_checkpoint, tmp_path / "api", "--database-url", pg_url, "--external-workers")
    first = _worker(pg_url, tiny_checkpoint, tmp_path / "w1.log", "--lease-s", "3")
    second = None
    try:
        _wait_for(tmp_path / "w1.log", "worker ready", first)
        client = api.client(max_retries=0, timeout=600)
        result: dict[str, object] = {}

        def call() -> None:  # a long job: ten images, each the best of four candidates
            try:
                result["r"] = client.images.generate(model="limner", prompt="a red star", n=10, size="1024x1024",
                                                     quality="high")
            except Exception as e:  # reported below
                result["e"] = e

        t = threading.Thread(target=call)
        t.start()
        with psycopg.connect(pg_url, autocommit=True) as conn:
            deadline = time.time() + 120
            while not conn.execute("SELECT 1 FROM remote_jobs WHERE status='running'").fetchall():
                assert time.time() < deadline and t.is_alive(), "the worker never started the job"
                time.sleep(0.02)
            first.kill()  # mid-job: no chance to write anything
            first.wait()
            second = _worker(pg_url, tiny_checkpoint, tmp_path / "w2.log", "--lease-s", "3")
            t.join(timeout=600)
            assert "e" not in result, result.get("e")
            r = result["r"]
            assert len(r.data) == 10 and all(d.b64_json for d in r.data)  # type: ignore[attr-defined]
            rows = conn.execute("SELECT status, attempts FROM remote_jobs").fetchall()
            assert rows == [("done", 2)], rows
        with api.http() as h:
            gallery = h.get("/v1/limner/images", params={"limit": 50}).json()["data"]
        assert len(gallery) == 10 and len({g["id"] for g in gallery}) == 10
    finally:
        for p in (first, second):
            if p is not None and p.poll() is None:
                p.terminate()
                p.wait(timeout=20)
        api.stop()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_restart_reclaims_unfinished_jobs(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """Queued and running jobs with a recipe go back to the queue, at most MAX_ATTEMPTS times; ended ones never."""
    from limner.server.recovery import MAX_ATTEMPTS
    from limner.server.store import Store

    target = request.getfixturevalue("pg_url") if backend == "postgres" else tmp_path / "db.sqlite3"
    store = Store(target)
    try:
        store.job_event("job_a", "generation", "queued", node="n1", owner="key_1", recipe='{"type": "images"}')
        store.job_event("job_b", "response", "queued", node="n1", owner="local", recipe='{"type": "response"}')
        store.job_event("job_b", "response", "running")
        store.job_event("job_c", "generation", "queued", node="n1", recipe="{}")
        store.job_event("job_c", "generation", "completed")
        store.job_event("job_d", "generation", "queued", node="n2", recipe="{}")  # another process's job
        store.job_event("job_e", "edit", "queued", node="n1")  # no recipe: cannot be redone
        for attempt in range(1, MAX_ATTEMPTS + 1):
            got = store.reclaim_unfinished_jobs("n1", MAX_ATTEMPTS)
            assert [(r["id"], r["owner"], r["attempts"]) for r in got] == [
                ("job_a", "key_1", attempt - 1), ("job_b", "local", attempt - 1)]
        assert store.reclaim_unfinished_jobs("n1", MAX_ATTEMPTS) == []  # given up after MAX_ATTEMPTS restarts
        assert store.job_counts("n1") == {"interrupted": 3, "completed": 1}
        assert store.job_counts("n2") == {"queued": 1}
        assert store._query("SELECT COUNT(*) AS n FROM jobs WHERE recipe IS NOT NULL")[0]["n"] == 1  # job_d's
    finally:
        store.close()
