"""A Responses API turn that asks to go back ("undo", "go back to the previous one"): read by the same learned
reader as every turn (studio/routing.py), answered with the chain's earlier image, drawn nothing anew.

The answer is a new response whose image_generation_call carries the earlier image's stored bytes (the
signed, watermarked file delivered then), stored as a new row of the same conversation, so the next turn
edits that image and a later "undo" steps back once more (`_context.history`). Streaming gets the events a
finished image has (no partial images: nothing is drawn).
"""

from __future__ import annotations

import base64
import time
from dataclasses import replace
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, StreamingResponse

from limner.server.deps import AppState
from limner.server.errors import invalid
from limner.server.protocol import ResponsesRequest
from limner.server.serving_images import sse
from limner.server.serving_responses import (
    msg_item,
    parse_tool,
    public,
    read_context,
    response_object,
    screen,
    turn_prompt,
)
from limner.server.store import new_id

UNDO_TEXT = "Went back to the previous image."


async def undo_response(state: AppState, request: Request, req: ResponsesRequest, owner: str) -> Any | None:
    """The answer to an undo turn, or None when this turn is not one (the caller draws it as usual)."""
    from limner.studio.reader import read_turn

    tool = parse_tool(req)
    ctx = read_context(state, req, owner)
    prompt = turn_prompt(ctx)
    if ctx.images or tool.input_image_mask is not None:
        return None
    if read_turn(prompt, image=ctx.image is not None).action != "undo":
        return None
    if ctx.image is None:
        raise invalid(f"{prompt[:200]!r} asks to go back, but there is no earlier image: start with a picture",
                      param="input", code="invalid_value")
    if len(ctx.history) < 2:
        raise invalid(f"{prompt[:200]!r} asks to go back, but this conversation has no image before the current "
                      "one", param="input", code="invalid_value")
    screen(state, prompt, req.user, tool.moderation)  # the turn's words pass the prompt layer like any turn's
    row = state.store.get_image(ctx.history[-2], owner)
    if row is None:
        raise invalid("the previous image of this conversation was deleted; there is nothing to go back to",
                      param="previous_response_id", code="invalid_value")
    data = state.store.read_image(row)
    resp_id, item_id, msg_id, created = new_id("resp"), new_id("ig"), new_id("msg"), int(time.time())
    conv_id = ctx.conversation_id or new_id("conv")
    settings = row.settings or {}
    item = {"id": item_id, "type": "image_generation_call", "status": "completed",
            "result": base64.b64encode(data).decode(), "revised_prompt": row.revised_prompt or row.prompt,
            "action": "edit", "background": "transparent" if settings.get("background") == "transparent" else
            "opaque", "output_format": row.format, "quality": settings.get("quality") or tool.quality,
            "size": settings.get("size") or tool.size}
    output = [item, msg_item(msg_id, UNDO_TEXT)]
    usage = {"input_tokens": 0, "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
             "output_tokens": 0, "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 0}
    body = response_object(req, tool, resp_id, created, "completed", output, usage)
    again = replace(row, id=new_id("image"), created_at=time.time(), kind="response", conversation_id=conv_id,
                    response_id=resp_id, item_id=item_id, owner=owner, data=data)
    stored = {**body, "output": [{**item, "result": None}, output[1]],
              "_context": {"prompt": row.revised_prompt or row.prompt, "seed": row.seed, "image_ids": [again.id],
                           "history": ctx.history[:-1]},
              "_conversation_id": conv_id}
    state.store.save([again], response=stored if req.store else None, conversation_title=prompt[:80], owner=owner)
    if not req.stream:
        return JSONResponse(body)
    return StreamingResponse(_events(body), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


async def _events(body: dict[str, Any]) -> Any:
    """The stream of a response that is complete from the start."""
    item, msg = body["output"]
    part = msg["content"][0]
    events: list[tuple[str, dict[str, Any]]] = [
        ("response.created", {"response": {**public(body), "status": "in_progress", "output": []}}),
        ("response.output_item.added", {"output_index": 0, "item": {**item, "status": "in_progress",
                                                                    "result": None}}),
        ("response.output_item.done", {"output_index": 0, "item": item}),
        ("response.output_item.added", {"output_index": 1, "item": {**msg, "status": "in_progress", "content": []}}),
        ("response.output_text.done", {"output_index": 1, "item_id": msg["id"], "content_index": 0,
                                       "text": part["text"], "logprobs": []}),
        ("response.output_item.done", {"output_index": 1, "item": msg}),
        ("response.completed", {"response": body}),
    ]
    for seq, (typ, data) in enumerate(events):
        yield sse(typ, {"type": typ, "sequence_number": seq, **data})
