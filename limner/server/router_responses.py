"""Routes of OpenAI's Responses resource with the `image_generation` tool: create (JSON or SSE), retrieve and
delete. The work is `serving_responses.py`'s; "undo" turns are `serving_undo.py`'s."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from limner.server.deps import Owner, State
from limner.server.errors import not_found
from limner.server.protocol import ResponsesRequest
from limner.server.serving_responses import create_response, get_response
from limner.server.serving_undo import undo_response

router = APIRouter(prefix="/v1/responses", tags=["responses"])


@router.post("")
async def responses_create(body: ResponsesRequest, request: Request, st: State, owner: Owner) -> Any:
    """One turn: draw or edit with the image_generation tool, or go back to an earlier image."""
    undone = await undo_response(st, request, body, owner)  # "undo" / "go back": the earlier image again
    return undone if undone is not None else await create_response(st, request, body, owner)


@router.get("/{response_id}")
async def responses_get(response_id: str, st: State, owner: Owner) -> dict[str, Any]:
    """A stored response object."""
    return get_response(st, response_id, owner)


@router.delete("/{response_id}")
async def responses_delete(response_id: str, st: State, owner: Owner) -> dict[str, Any]:
    """Delete a stored response (its images stay in the gallery)."""
    if not st.store.delete_response(response_id, owner):
        raise not_found(f"Response with id '{response_id}' not found.", param="response_id")
    return {"id": response_id, "object": "response", "deleted": True}
