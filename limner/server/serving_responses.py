"""`/v1/responses` with the image_generation tool: multi-turn context, the job, JSON or SSE answers.

limner has no text model: every request that offers the image_generation tool calls it once. A turn is
routed as `limner.studio.conversation.Conversation` routes one, through the same library calls:
- an edit instruction ("make the star green", world.md's edits) or a mask edits an image: the uploaded
  one if the turn carries one, else the image in context (the previous turn's, from
  `previous_response_id` or an earlier `image_generation_call` input item); the rest stays exactly;
- any other text is a new image; uploads sent with it are reference images it draws from.
The item's `revised_prompt` is what the model was asked to draw: the planner's scene, or the edited scene.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

from fastapi import Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import ValidationError

from limner.limits import MAX_PROMPT_CHARS
from limner.server.deps import AppState
from limner.server.engine import EditInput, GenOutcome, GenSpec, spec_from_json, spec_to_json
from limner.server.errors import APIError, error_for, invalid, not_found, validation_error
from limner.server.image_refs import Budget, ref_bytes
from limner.server.jobs import Job, job_events, run_until_disconnect
from limner.server.protocol import ImageGenerationTool, ResponsesRequest
from limner.server.serving_images import (
    check_options,
    decode_upload,
    edit_input,
    first_event,
    persist,
    resolved_background,
    resolved_quality,
    sse,
)
from limner.server.store import new_id

MAX_HISTORY = 32  # images of a response chain that "undo" can step back through

if TYPE_CHECKING:
    from limner.studio.routing import Route


def _hex() -> str:
    return uuid.uuid4().hex


def parse_tool(req: ResponsesRequest) -> ImageGenerationTool:
    """The request's image_generation tool, validated; other tools (functions, web search...) may be listed
    beside it and go unused, since limner has no text model to call them; no image tool at all is a 400."""
    tool = None
    if req.background:
        raise invalid("background responses are not supported: limner answers in the request (stream=true streams it)",
                      param="background", code="unsupported_value")
    for i, t in enumerate(req.tools):
        if not isinstance(t.get("type"), str):
            raise invalid(f"tools[{i}] has no type", param=f"tools[{i}].type", code="invalid_value")
        if t["type"] != "image_generation":
            continue
        try:
            tool = ImageGenerationTool(**t)
        except ValidationError as e:
            err = validation_error(e)  # type: ignore[arg-type]
            err.param = f"tools[{i}].{err.param}" if err.param else f"tools[{i}]"
            raise err from e
    if tool is None:
        raise invalid("limner answers through the image_generation tool only: add {\"type\": \"image_generation\"} "
                      "to tools", param="tools", code="missing_required_parameter")
    return tool


class Context:
    """What the turn builds on: the image in context (and its prompt and seed), and this turn's uploads."""

    def __init__(self) -> None:
        self.prompt: str | None = None  # the previous turn's revised prompt
        self.seed: int | None = None
        self.conversation_id: str | None = None
        self.image: tuple[str, bytes] | None = None  # (param, bytes): the latest image in context
        self.plan: dict[str, Any] | None = None  # that image's scene plan, when this service drew it
        self.images: list[tuple[str, bytes]] = []  # (param, bytes): this turn's uploads
        self.texts: list[str] = []  # user texts in order; the last one is this turn's instruction
        self.history: list[str] = []  # ids of the chain's images, oldest first, up to the one in context (undo)


def read_context(state: AppState, req: ResponsesRequest, owner: str) -> Context:
    """What this turn builds on: the image of `previous_response_id` or of an earlier
    image_generation_call item, and this turn's texts and uploads; raises 400/404 APIErrors for bad input."""
    ctx = Context()
    budget = Budget.of(state)  # the input images this turn may name, in number and in bytes
    if req.previous_response_id is not None:
        got = state.store.get_response(req.previous_response_id, owner)
        if got is None:
            raise not_found(f"Previous response with id '{req.previous_response_id}' not found.",
                            param="previous_response_id", code="previous_response_not_found")
        body, ctx.conversation_id = got
        c = body.get("_context") or {}
        ctx.prompt, ctx.seed = c.get("prompt"), c.get("seed")
        ctx.history = [str(h) for h in c.get("history") or (c.get("image_ids") or [])[:1]]
        for image_id in (c.get("image_ids") or [])[:1]:
            row = state.store.get_image(image_id, owner)
            if row is not None:
                ctx.image = ("previous_response_id", state.store.read_image(row))
                ctx.plan = (row.settings or {}).get("plan")
    items: list[dict[str, Any]] = [{"role": "user", "content": req.input}] if isinstance(req.input, str) else req.input
    for i, item in enumerate(items):
        typ = item.get("type", "message")
        if typ == "image_generation_call":
            item_id, result = item.get("id"), item.get("result")
            if not isinstance(item_id, str):
                raise invalid(f"input[{i}].id must be the string id of an earlier image_generation_call, got "
                              f"{item_id!r}"[:200], param=f"input[{i}].id", code="invalid_value")
            if result is not None and not isinstance(result, str):
                raise invalid(f"input[{i}].result must be a base64 string or null, got {type(result).__name__}",
                              param=f"input[{i}].result", code="invalid_value")
            row = state.store.image_for_item(item_id, owner)
            if row is not None:
                ctx.prompt, ctx.seed = row.revised_prompt or row.prompt, row.seed
                ctx.conversation_id = ctx.conversation_id or row.conversation_id
                ctx.image = (f"input[{i}]", state.store.read_image(row))
                ctx.plan = (row.settings or {}).get("plan")
                ctx.history = [row.id]
            elif result:
                try:
                    ctx.image, ctx.plan = (f"input[{i}].result", base64.b64decode(result, validate=True)), None
                    ctx.history = []
                except (binascii.Error, ValueError) as e:
                    raise invalid(f"input[{i}].result is not valid base64", param=f"input[{i}].result") from e
            continue
        if typ != "message":
            raise invalid(f"input item type {typ!r} is not supported"[:200], param=f"input[{i}].type",
                          code="invalid_value")
        role, content = item.get("role"), item.get("content")
        if role not in ("user", "assistant", "system", "developer"):
            raise invalid(f"unknown role {role!r}", param=f"input[{i}].role", code="invalid_value")
        if role != "user":
            continue
        parts = [{"type": "input_text", "text": content}] if isinstance(content, str) else content
        if not isinstance(parts, list):
            raise invalid("content must be a string or a list of parts", param=f"input[{i}].content")
        for j, part in enumerate(parts):
            p = f"input[{i}].content[{j}]"
            if not isinstance(part, dict):
                raise invalid("a content part must be an object", param=p)
            if part.get("type") == "input_text":
                if not isinstance(part.get("text"), str):
                    raise invalid(f"{p}.text must be a string, got {type(part.get('text')).__name__}",
                                  param=f"{p}.text", code="invalid_value")
                ctx.texts.append(part["text"])
            elif part.get("type") == "input_image":
                # image_url (a data or http(s) URL) or file_id, as OpenAI's input_image has them
                ctx.images.append((f"{p}.image_url", ref_bytes(state, owner, part, p, budget)))
            else:
                raise invalid(f"content part type {part.get('type')!r} is not supported", param=f"{p}.type")
    return ctx


def turn_prompt(ctx: Context) -> str:
    """This turn's instruction: the last user text (earlier texts of the same input are context only)."""
    texts = [t.strip() for t in ctx.texts if t.strip()]
    if not texts:
        raise invalid("the input has no user text to draw", param="input", code="invalid_value")
    prompt = texts[-1]
    if len(prompt) > MAX_PROMPT_CHARS:
        raise invalid(f"the prompt has {len(prompt)} characters; the maximum is {MAX_PROMPT_CHARS}",
                      param="input", code="context_length_exceeded")
    return prompt


def turn_edit(ctx: Context, prompt: str, mask: bytes | None,
              screen: Callable[[str], None]) -> tuple[EditInput | None, Route]:
    """The turn's route (studio/routing.py) and its images as the job sees them: the uploads (edited, or used as
    references), else the image in context for an edit; None for a plain new image."""
    from limner.studio.routing import NothingToEdit, NothingToUndo, route_turn

    try:
        route = route_turn(prompt, uploads=len(ctx.images), in_context=ctx.image is not None,
                           mask=mask is not None, chat=True)
    except NothingToEdit as e:
        screen(prompt)  # a harmful prompt is refused as such, never answered "nothing to edit"
        if mask is not None:
            raise invalid("input_image_mask needs an image to apply to: send an input_image or continue a "
                          "conversation that has one", param="tools[0].input_image_mask") from e
        raise invalid(str(e), param="input", code="invalid_value") from e
    except NothingToUndo as e:
        raise invalid(str(e), param="input", code="invalid_value") from e
    if route.action == "undo":
        raise invalid(f"{prompt[:200]!r} asks to go back to the previous image: continue from the earlier "
                      "response instead (its id as previous_response_id); the Responses API keeps every "
                      "earlier image", param="input", code="invalid_value")
    sources, plan = ctx.images, None
    if route.base == "context":
        assert ctx.image is not None
        sources, plan = [ctx.image], ctx.plan
    if not sources:
        return None, route
    edit = EditInput(images=[decode_upload(b, p) for p, b in sources], originals=[b for _, b in sources], plan=plan)
    if mask is not None:
        edit.mask = edit_input([("image", sources[0][1])], mask).mask
    return edit, route


def screen(state: AppState, prompt: str, user: str | None, moderation: str) -> None:
    """The prompt layer of the safety stack on a turn answered without drawing (nothing to edit, nothing
    drawable, undo): a refusal is the API's content-policy error, as for any turn."""
    from limner.errors import SafetyBlocked

    try:
        state.pipe.screen(prompt, user=user, moderation=moderation)
    except SafetyBlocked as e:
        raise error_for(e, responses=True) from e


def response_object(req: ResponsesRequest, tool: ImageGenerationTool, resp_id: str, created: int, status: str,
                     output: list[dict[str, Any]], usage: dict[str, Any] | None, error: dict[str, Any] | None = None,
                     ) -> dict[str, Any]:
    """A Responses API `response` object (in_progress, completed or failed) that echoes the request's
    settings."""
    return {
        "id": resp_id, "object": "response", "created_at": created, "status": status, "error": error,
        "incomplete_details": None, "instructions": req.instructions, "max_output_tokens": req.max_output_tokens,
        "model": req.model, "output": output,
        "parallel_tool_calls": True if req.parallel_tool_calls is None else req.parallel_tool_calls,
        "previous_response_id": req.previous_response_id,
        "reasoning": req.reasoning or {"effort": None, "summary": None},
        "store": req.store, "temperature": 1.0 if req.temperature is None else req.temperature,
        "text": req.text or {"format": {"type": "text"}}, "tool_choice": "auto",
        "tools": [tool.model_dump(exclude_none=True)],
        "top_p": 1.0 if req.top_p is None else req.top_p, "truncation": req.truncation or "disabled",
        "metadata": req.metadata or {}, **({"user": req.user} if req.user is not None else {}),
        **({"usage": usage} if usage is not None else {}),  # the spec's usage is never null: absent until done
    }


def ig_item(item_id: str, status: str, tool: ImageGenerationTool, prompt: str, out: GenOutcome | None,
            action: str) -> dict[str, Any]:
    """An `image_generation_call` output item; with `out`, its base64 result and the resolved size,
    quality and background."""
    item: dict[str, Any] = {"id": item_id, "type": "image_generation_call", "status": status, "result": None,
                            "revised_prompt": prompt, "action": action, "background": tool.background,
                            "output_format": tool.output_format, "quality": tool.quality, "size": tool.size}
    if out is not None:
        item.update(result=base64.b64encode(out.images[0].data).decode(), background=resolved_background(out),
                    quality=resolved_quality(tool.quality), size=f"{out.size[0]}x{out.size[1]}")
    return item


def msg_item(msg_id: str, text: str, status: str = "completed") -> dict[str, Any]:
    """The assistant `message` item that follows the image (no content until completed)."""
    part = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
    return {"id": msg_id, "type": "message", "role": "assistant", "status": status,
            "content": [part] if status == "completed" else []}


def usage_of(out: GenOutcome) -> dict[str, Any]:
    """The Responses API `usage` object of a finished job; input images count as input tokens."""
    inp = out.usage["input_tokens"] + out.image_tokens
    return {"input_tokens": inp, "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": out.usage["output_tokens"],
            "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": inp + out.usage["output_tokens"]}


def public(body: dict[str, Any]) -> dict[str, Any]:
    """A stored response body without its private `_` fields, as the API returns it."""
    return {k: v for k, v in body.items() if not k.startswith("_")}


@dataclass
class Turn:
    """Everything the job of one Responses turn needs to draw and store it; JSON-able, so that a restarted
    server can redo a turn it finds unfinished under the same ids (see `limner.server.recovery`)."""

    req: ResponsesRequest
    tool: ImageGenerationTool
    spec: GenSpec
    resp_id: str
    item_id: str
    msg_id: str
    conv_id: str
    created: int
    prompt: str
    text: str
    action: str
    title: str
    history: list[str] = field(default_factory=list)  # the chain's image ids before this turn (for undo)

    def recipe(self) -> str:
        """The turn as the JSON recipe that `limner.server.recovery` redoes it from."""
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("req", "tool", "spec")}
        return json.dumps({"type": "response", **d, "req": self.req.model_dump(mode="json"),
                           "tool": self.tool.model_dump(mode="json"), "spec": spec_to_json(self.spec)})

    @staticmethod
    def from_recipe(recipe: dict[str, Any]) -> Turn:
        """The Turn of a stored recipe, with partial previews off (a resumed job has nobody watching)."""
        d = {k: v for k, v in recipe.items() if k != "type"}
        spec = spec_from_json(d.pop("spec"))
        spec.partial_images = 0  # nobody is watching a resumed job's previews
        return Turn(req=ResponsesRequest(**d.pop("req")), tool=ImageGenerationTool(**d.pop("tool")), spec=spec, **d)


def response_work(state: AppState, t: Turn, owner: str) -> Callable[[Job], tuple[GenOutcome, dict[str, Any]]]:
    """The job of one turn: draw, then store the images, the response and its conversation in one transaction."""

    def work(j: Job) -> tuple[GenOutcome, dict[str, Any]]:
        out = state.runner.run(t.spec, j)
        revised = out.revised_prompt or t.prompt
        output = [ig_item(t.item_id, "completed", t.tool, revised, out, out.action), msg_item(t.msg_id, t.text)]
        body = response_object(t.req, t.tool, t.resp_id, t.created, "completed", output, usage_of(out))
        rows = persist(state, t.spec, out, "response", conversation_id=t.conv_id, response_id=t.resp_id,
                       item_ids=[t.item_id], revised_prompt=revised)
        j.check()
        history = [*t.history, rows[0].id][-MAX_HISTORY:] if rows else t.history
        stored = {**body, "output": [{**output[0], "result": None}, output[1]],
                  "_context": {"prompt": revised, "seed": out.seed, "image_ids": [r.id for r in rows],
                               "history": history},
                  "_conversation_id": t.conv_id}
        state.store.save(rows, response=stored if t.req.store else None, conversation_title=t.title, owner=owner)
        return out, body

    return work


async def create_response(state: AppState, request: Request, req: ResponsesRequest, owner: str) -> Any:
    """`POST /v1/responses` (OpenAI's Responses API with the image_generation tool): validate, read
    the context, run the turn's job and answer with the response object or an SSE stream."""
    state.resolve_chat_model(req.model)
    tool = parse_tool(req)
    from limner.server.protocol import ImageOptions

    check_options(state, ImageOptions(model=tool.model, size=tool.size, quality=tool.quality,
                                      background=tool.background, output_format=tool.output_format,
                                      output_compression=tool.output_compression, moderation=tool.moderation))
    # off the event loop: the history is read from the database, and images named by http(s) URL are fetched
    ctx = await asyncio.to_thread(read_context, state, req, owner)
    mask = None if tool.input_image_mask is None else await asyncio.to_thread(
        ref_bytes, state, owner, tool.input_image_mask, "tools[0].input_image_mask", Budget.of(state))
    prompt = turn_prompt(ctx)
    edit, route = turn_edit(ctx, prompt, mask, lambda p: screen(state, p, req.user, tool.moderation))
    if route.action == "none":  # nothing drawable: the safety stack sees it first, then the 400 says what to send
        from limner.studio.routing import not_drawable

        screen(state, prompt, req.user, tool.moderation)
        raise invalid(str(not_drawable(prompt)), param="input", code="invalid_value")
    spec = GenSpec(prompt=prompt, n=1, seed=req.seed if req.seed is not None else ctx.seed, size=tool.size,
                   quality=tool.quality, background=tool.background, output_format=tool.output_format,
                   output_compression=tool.output_compression, moderation=tool.moderation, user=req.user,
                   partial_images=tool.partial_images if req.stream else 0, edit=edit, think=True)
    text = "Here is the updated image." if route.action == "edit" else "Here is the image."
    turn = Turn(req=req, tool=tool, spec=spec, resp_id="resp_" + _hex(), item_id="ig_" + _hex(),
                msg_id="msg_" + _hex(), conv_id=ctx.conversation_id or new_id("conv"), created=int(time.time()),
                prompt=prompt, text=text, action="edit" if edit is not None else "generate", title=ctx.texts[-1][:80],
                history=ctx.history if ctx.image is not None and not ctx.images else [])
    resp_id, item_id, msg_id, created, action = turn.resp_id, turn.item_id, turn.msg_id, turn.created, turn.action
    job = state.queue.admit("response", owner=owner, recipe=turn.recipe())
    fut = state.queue.start(job, response_work(state, turn, owner))
    if not req.stream:
        try:
            _, body = await run_until_disconnect(fut, job, request.is_disconnected)
        except BaseException as e:
            if isinstance(e, asyncio.CancelledError):
                job.cancel.set()
                raise
            raise error_for(e, responses=True) from e
        return JSONResponse(body)
    try:
        first = await first_event(job, fut)
    except BaseException as e:
        job.cancel.set()
        if isinstance(e, asyncio.CancelledError):
            raise
        raise error_for(e, responses=True) from e
    return StreamingResponse(_stream(req, tool, job, fut, first, resp_id, item_id, msg_id, created, prompt, text,
                                     action), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


async def _stream(req: ResponsesRequest, tool: ImageGenerationTool, job: Job, fut: asyncio.Future[Any],
                  first: tuple[str, Any], resp_id: str, item_id: str, msg_id: str, created: int, prompt: str,
                  text: str, action: str) -> AsyncIterator[bytes]:
    seq = 0

    def ev(typ: str, **data: Any) -> bytes:
        nonlocal seq
        seq += 1
        return sse(typ, {"type": typ, "sequence_number": seq - 1, **data})

    try:
        in_progress = response_object(req, tool, resp_id, created, "in_progress", [], None)
        yield ev("response.created", response=in_progress)
        yield ev("response.in_progress", response=in_progress)
        yield ev("response.output_item.added", output_index=0,
                 item=ig_item(item_id, "in_progress", tool, prompt, None, action))
        yield ev("response.image_generation_call.in_progress", output_index=0, item_id=item_id)
        yield ev("response.image_generation_call.generating", output_index=0, item_id=item_id)
        source = _with_first(first, job) if first[0] != "end" else _replay([])
        async for k, v in source:
            if k == "partial":
                idx, data = v
                yield ev("response.image_generation_call.partial_image", output_index=0, item_id=item_id,
                         partial_image_index=idx, partial_image_b64=base64.b64encode(data).decode(),
                         background=tool.background, output_format=tool.output_format, quality=tool.quality,
                         size=tool.size)
        try:
            out, body = await fut
        except Exception as e:
            err: APIError = error_for(e, responses=True)
            failed = response_object(req, tool, resp_id, created, "failed",
                                     [{**ig_item(item_id, "failed", tool, prompt, None, action)}], None,
                                     error={"code": err.code or "server_error", "message": err.message})
            yield ev("response.failed", response=failed)
            return
        item = body["output"][0]
        yield ev("response.image_generation_call.completed", output_index=0, item_id=item_id)
        yield ev("response.output_item.done", output_index=0, item=item)
        part = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
        yield ev("response.output_item.added", output_index=1, item=msg_item(msg_id, text, "in_progress"))
        yield ev("response.content_part.added", output_index=1, item_id=msg_id, content_index=0,
                 part={**part, "text": ""})
        yield ev("response.output_text.delta", output_index=1, item_id=msg_id, content_index=0, delta=text,
                 logprobs=[])
        yield ev("response.output_text.done", output_index=1, item_id=msg_id, content_index=0, text=text,
                 logprobs=[])
        yield ev("response.content_part.done", output_index=1, item_id=msg_id, content_index=0, part=part)
        yield ev("response.output_item.done", output_index=1, item=body["output"][1])
        yield ev("response.completed", response=body)
    finally:
        if not fut.done():
            job.cancel.set()


async def _replay(events: list[tuple[str, Any]]) -> AsyncIterator[tuple[str, Any]]:
    for e in events:
        if e[0] != "end":
            yield e


async def _with_first(first: tuple[str, Any], job: Job) -> AsyncIterator[tuple[str, Any]]:
    yield first
    async for e in job_events(job):
        yield e


def get_response(state: AppState, response_id: str, owner: str) -> dict[str, Any]:
    """`GET /v1/responses/{id}`: the stored response with its images' results filled back in; a 404
    for an unknown id or another owner's."""
    got = state.store.get_response(response_id, owner)
    if got is None:
        raise not_found(f"Response with id '{response_id}' not found.", param="response_id", code="not_found")
    body = public(got[0])
    for item in body.get("output", []):
        if item.get("type") == "image_generation_call":
            row = state.store.image_for_item(item["id"], owner)
            if row is not None:
                item["result"] = base64.b64encode(state.store.read_image(row)).decode()
    return body
