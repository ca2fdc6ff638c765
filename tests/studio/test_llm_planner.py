"""The optional LLM planner: an OpenAI-compatible endpoint, validated answers, and the fallback."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from limner.studio.llm_planner import LLMPlanner, PlannerUnavailable, parse_answer, plan_with_fallback

ANSWER = {"images": [{"objects": [{"class": "star", "color": "cyan", "size": "large", "position": "top left"}],
                      "background": "black", "notes": ["chose cyan"]}]}


@pytest.fixture()
def endpoint() -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            assert body["messages"][0]["role"] == "system" and self.path == "/v1/chat/completions"
            content = "```json\n" + json.dumps(ANSWER) + "\n```"
            data = json.dumps({"choices": [{"message": {"role": "assistant", "content": content}}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    srv = HTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{srv.server_port}/v1"
    finally:
        srv.shutdown()


def test_llm_plan_is_used_when_up(endpoint: str) -> None:
    r = plan_with_fallback("a star", 1, llm=LLMPlanner(endpoint))
    assert r.planner == "llm" and r.revised_prompts == ["a large cyan star in the top left on a black background"]


def test_down_endpoint_falls_back_and_says_so() -> None:
    said: list[str] = []
    r = plan_with_fallback("a red star", 1, llm=LLMPlanner("http://127.0.0.1:9/v1", timeout=1), warn=said.append)
    assert r.planner == "builtin" and r.plans[0].objects[0].cls == "star"
    assert "http://127.0.0.1:9/v1 is unreachable" in r.notes[0] and "used the built-in planner" in said[0]


def test_invalid_answers_are_named() -> None:
    with pytest.raises(PlannerUnavailable, match="invalid plan .*unknown object 'dragon'"):
        parse_answer('{"objects": [{"class": "dragon", "color": "red"}]}')
    with pytest.raises(PlannerUnavailable, match="invalid plan"):
        parse_answer("I cannot help with that")
