"""The FastAPI app: its lifespan (the model loads once), the body limit, the resource routers (`router_*.py`:
Images, Responses, Files, Models and limner's own history API), health and the web UI."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from limner.server import errors, router_files, router_images, router_limner, router_responses
from limner.server.deps import AppState
from limner.server.errors import APIError, invalid
from limner.server.recovery import resume_unfinished
from limner.server.settings import ServerSettings

log = logging.getLogger("limner.server")
STATIC = Path(__file__).resolve().parent / "static"


def create_app(settings: ServerSettings | None = None, state: AppState | None = None) -> FastAPI:
    """Build the app; the model loads at start-up unless a ready `state` is given."""
    settings = settings or ServerSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        st = state or AppState.load(settings)
        app.state.limner = st
        resume_unfinished(st)  # before serving: jobs a crash or restart cut short go first
        try:
            yield
        finally:
            st.close()

    app = FastAPI(title="limner", version="1", lifespan=lifespan,
                  description="OpenAI-compatible Images and Responses APIs for limner's native image model.")
    errors.install(app)

    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)

    for router in (router_images.router, router_responses.router, router_files.router, router_limner.models_router,
                   router_limner.router):  # one router per resource, in the style of vLLM's OpenAI entrypoint
        app.include_router(router)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    # -- the web UI -----------------------------------------------------------------------------------
    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


class BodyLimit:
    """Refuse bodies over `max_bytes` with 413: up front by Content-Length, else while a chunked body streams in."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _too_large(self, n: int | str) -> JSONResponse:
        return APIError(f"The request body is {n} bytes; the maximum is {self.max_bytes}.", status=413,
                        code="request_too_large").response()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None:
            if not length.isdigit():
                return await invalid(f"bad Content-Length {length.decode(errors='replace')!r}").response()(
                    scope, receive, send)
            if int(length) > self.max_bytes:
                return await self._too_large(int(length))(scope, receive, send)
            return await self.app(scope, receive, send)
        # chunked: read it here (bounded), so that an oversized body is a 413 and not a parser's 400
        chunks: list[bytes] = []
        seen = 0
        while True:
            msg = await receive()
            if msg["type"] != "http.request":
                return  # the client went away
            chunks.append(msg.get("body", b""))
            seen += len(chunks[-1])
            if seen > self.max_bytes:
                return await self._too_large(f"over {self.max_bytes}")(scope, receive, send)
            if not msg.get("more_body"):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
