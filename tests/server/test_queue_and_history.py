"""The queue's backpressure and cancellation, and history that survives a restart."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.server.conftest import Server, start_server


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
        wait_for(s, lambda jobs: jobs.get("cancelled") == 1, timeout=10)
        # and so does one that stops waiting for a plain (non-streamed) answer
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(f"{s.url}/v1/images/generations", timeout=httpx.Timeout(60, read=0.5),
                       json={"prompt": "a star", "n": 8, "quality": "high"})
        wait_for(s, lambda jobs: jobs.get("cancelled") == 2, timeout=10)
    finally:
        s.stop()

    # a crash (SIGKILL) while one job runs and another waits: no half-written record, and the restart runs both
    s = start_server(tiny_checkpoint, data)
    try:
        n_images = len(gallery(s))

        def doomed(prompt: str, n: int) -> None:
            with pytest.raises(httpx.HTTPError):  # the server dies under it
                httpx.post(f"{s.url}/v1/images/generations", timeout=120,
                           json={"prompt": prompt, "n": n, "quality": "high"})

        victims = [threading.Thread(target=doomed, args=("a running star", 8))]
        victims[0].start()
        wait_for(s, lambda jobs: jobs.get("running") == 1)
        victims.append(threading.Thread(target=doomed, args=("a queued star", 1)))
        victims[1].start()
        wait_for(s, lambda jobs: jobs.get("queued") == 1)
        s.proc.kill()
        s.proc.wait()
        for v in victims:
            v.join()
    finally:
        s.stop()
    s = start_server(tiny_checkpoint, data)
    try:
        jobs = wait_for(s, lambda jobs: not jobs.get("queued") and not jobs.get("running"))
        assert not jobs.get("interrupted"), jobs
        prompts = [g["prompt"] for g in gallery(s)]
        assert len(prompts) == n_images + 9, prompts  # each resumed job's images, whole, exactly once
        assert prompts.count("a running star") == 8 and prompts.count("a queued star") == 1
        got = s.client(max_retries=0).responses.retrieve(r1.id)  # and the history survived both restarts
        assert got.output[0].revised_prompt == r1.output[0].revised_prompt and got.output[0].result
        assert "purple circle" in got.output[0].revised_prompt
        r2 = s.client(max_retries=0).responses.create(model="limner", input="make the circle smaller",
                                                      previous_response_id=r1.id,
                                                      tools=[{"type": "image_generation", "quality": "low"}])
        assert r2.output[0].action == "edit" and "small purple circle" in r2.output[0].revised_prompt
    finally:
        s.stop()


def gallery(s: Server) -> list[dict[str, Any]]:
    return httpx.get(f"{s.url}/v1/limner/images", params={"limit": 500}).json()["data"]


def wait_for(s: Server, ok: Callable[[dict[str, int]], bool], timeout: float = 120) -> dict[str, int]:
    """Poll the server's job counts until `ok` holds; returns them."""
    deadline = time.monotonic() + timeout
    while True:
        jobs = httpx.get(f"{s.url}/v1/limner/status").json()["jobs"]
        if ok(jobs) or time.monotonic() > deadline:
            assert ok(jobs), jobs
            return jobs
        time.sleep(0.05)


def test_a_responses_turn_survives_as_its_recipe() -> None:
    """What a restart reads back to redo a turn: the same request, tool, ids and uploads (no previews)."""
    import io
    import json

    from PIL import Image

    from limner.server.engine import EditInput, GenSpec
    from limner.server.protocol import ImageGenerationTool, ResponsesRequest
    from limner.server.serving_responses import Turn

    buf = io.BytesIO()
    Image.new("RGB", (64, 48), "red").save(buf, "PNG")
    upload = buf.getvalue()
    mask = Image.new("RGBA", (64, 48), (0, 0, 0, 0))
    req = ResponsesRequest(model="gpt-4.1", input=[{"role": "user", "content": "a star"}], stream=True, seed=4,
                           tools=[{"type": "image_generation", "partial_images": 2}], previous_response_id="resp_1")
    tool = ImageGenerationTool(type="image_generation", partial_images=2, size="256x256")
    spec = GenSpec(prompt="a star", seed=4, size="256x256", partial_images=2,
                   edit=EditInput(images=[Image.open(io.BytesIO(upload))], originals=[upload], mask=mask))
    turn = Turn(req=req, tool=tool, spec=spec, resp_id="resp_2", item_id="ig_2", msg_id="msg_2", conv_id="conv_1",
                created=1700000000, prompt="a star", text="Here is the image.", action="edit", title="a star")
    back = Turn.from_recipe(json.loads(turn.recipe()))
    assert back.req == req and back.tool == tool
    assert (back.resp_id, back.item_id, back.msg_id, back.conv_id, back.created) == (
        "resp_2", "ig_2", "msg_2", "conv_1", 1700000000)
    assert back.spec.prompt == "a star" and back.spec.seed == 4 and back.spec.partial_images == 0
    assert back.spec.edit is not None and back.spec.edit.originals == [upload]
    assert back.spec.edit.mask is not None and back.spec.edit.mask.size == (64, 48)
