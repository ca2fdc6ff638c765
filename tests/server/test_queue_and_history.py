"""The queue's backpressure and cancellation, and history that survives a restart."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
import pytest

from tests.server.conftest import start_server


def test_queue_full_answers_429_and_restart_keeps_history(tiny_checkpoint: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    s = start_server(tiny_checkpoint, data, "--max-queue", "0")  # capacity: one job at a time
    try:
        client = s.client(max_retries=0, timeout=120)
        r1 = client.responses.create(model="limner", input="a purple circle",
                                     tools=[{"type": "image_generation", "quality": "low"}])
        statuses: list[int] = []
        headers: list[httpx.Headers] = []

        def call() -> None:
            r = httpx.post(f"{s.url}/v1/images/generations", timeout=120,
                           json={"prompt": "a red star", "n": 4, "quality": "high"})
            statuses.append(r.status_code)
            headers.append(r.headers)

        threads = [threading.Thread(target=call) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert 200 in statuses and 429 in statuses, statuses
        busy = headers[statuses.index(429)]
        assert int(busy["retry-after"]) >= 1

        # a client that goes away mid-stream cancels its job
        with httpx.stream("POST", f"{s.url}/v1/images/generations", timeout=120,
                          json={"prompt": "a star", "n": 1, "quality": "high", "stream": True,
                                "partial_images": 3}) as r:
            assert r.status_code == 200
            next(r.iter_lines())
        for _ in range(100):
            jobs = httpx.get(f"{s.url}/v1/limner/status").json()["jobs"]
            if jobs.get("cancelled"):
                break
            threading.Event().wait(0.1)
        assert jobs.get("cancelled") == 1, jobs

        # a crash mid-request (SIGKILL while a job runs) leaves no half-written record
        n_images = len(httpx.get(f"{s.url}/v1/limner/images", params={"limit": 500}).json()["data"])
        def doomed() -> None:
            with pytest.raises(httpx.HTTPError):  # the server dies under it
                httpx.post(f"{s.url}/v1/images/generations", timeout=120,
                           json={"prompt": "a star", "n": 8, "quality": "high"})

        victim = threading.Thread(target=doomed)
        victim.start()
        for _ in range(200):
            if httpx.get(f"{s.url}/v1/limner/status").json()["jobs"].get("running"):
                break
            threading.Event().wait(0.05)
        s.proc.kill()
        s.proc.wait()
        victim.join()
    finally:
        s.stop()
    s = start_server(tiny_checkpoint, data)
    try:
        status = httpx.get(f"{s.url}/v1/limner/status").json()
        assert status["jobs"].get("interrupted") == 1, status  # the restart marks the lost job
        assert len(httpx.get(f"{s.url}/v1/limner/images", params={"limit": 500}).json()["data"]) == n_images
        got = s.client(max_retries=0).responses.retrieve(r1.id)
        assert got.output[0].revised_prompt == "a purple circle" and got.output[0].result
        r2 = s.client(max_retries=0).responses.create(model="limner", input="smaller", previous_response_id=r1.id,
                                                      tools=[{"type": "image_generation", "quality": "low"}])
        assert r2.output[0].revised_prompt == "a purple circle. smaller"
    finally:
        s.stop()
