"""A real HTTP server on loopback for tests that need one: URLs to fetch, and a fake OpenAI-compatible chat
endpoint standing in for an upstream LLM."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class QuietHandler(BaseHTTPRequestHandler):
    """A request handler that keeps the test output clean, with a helper to answer."""

    def log_message(self, *args: object) -> None:
        pass

    def send(self, status: int, body: bytes, content_type: str = "application/octet-stream") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@contextmanager
def serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """Serve `handler` on a free loopback port while the block runs; yields the base URL."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def chat_endpoint(content: Callable[[dict[str, Any]], str]) -> type[BaseHTTPRequestHandler]:
    """A handler for `POST /v1/chat/completions` whose one choice's message is `content(request body)`; any
    other path is a 404."""

    class Chat(QuietHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            if self.path != "/v1/chat/completions":
                self.send(404, b"{}", "application/json")
                return
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            answer = {"id": "chatcmpl-test", "object": "chat.completion", "created": 0, "model": body["model"],
                      "choices": [{"index": 0, "finish_reason": "stop",
                                   "message": {"role": "assistant", "content": content(body)}}]}
            self.send(200, json.dumps(answer).encode(), "application/json")

    return Chat
