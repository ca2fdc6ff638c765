"""The Responses API with the image_generation tool: a three-turn conversation, streaming, errors."""

from __future__ import annotations

import base64
import io

import openai
import pytest
from openai import OpenAI
from PIL import Image

from limner.data.scene import Scene, SceneObject, render
from tests.server.conftest import Server

TOOL = [{"type": "image_generation", "quality": "low", "size": "256x256"}]


def test_three_turn_conversation(client: OpenAI, server: Server) -> None:
    r1 = client.responses.create(model="gpt-4.1", input="a red star and a blue ring", tools=TOOL)
    call = r1.output[0]
    assert r1.id.startswith("resp_") and call.type == "image_generation_call" and call.id.startswith("ig_")
    assert call.status == "completed" and call.action == "generate" and r1.output_text
    assert "red star" in call.revised_prompt and "blue ring" in call.revised_prompt
    assert Image.open(io.BytesIO(base64.b64decode(call.result))).size == (256, 256)

    # turn two edits the image in context (the model's own, through pipe.edit), not a re-drawn prompt
    r2 = client.responses.create(model="gpt-4.1", input="make the star green", previous_response_id=r1.id, tools=TOOL)
    assert r2.previous_response_id == r1.id and r2.output[0].action == "edit"
    assert "green star" in r2.output[0].revised_prompt and "blue ring" in r2.output[0].revised_prompt
    assert r2.output[0].result != call.result
    assert r2.output_text == "Here is the updated image."

    # turn three carries the earlier call as an input item instead of previous_response_id
    r3 = client.responses.create(model="gpt-4.1", tools=TOOL, input=[
        {"type": "image_generation_call", "id": r2.output[0].id},
        {"role": "user", "content": [{"type": "input_text", "text": "add a yellow heart"}]},
    ])
    revised = r3.output[0].revised_prompt
    assert r3.output[0].action == "edit" and "yellow heart" in revised and "green star" in revised

    # an edit instruction with no image in context is a clear 400, not a drawing of the words
    with pytest.raises(openai.BadRequestError) as e:
        client.responses.create(model="gpt-4.1", input="make the star green", tools=TOOL)
    assert e.value.body["param"] == "input" and "no image in context" in e.value.body["message"]

    got = client.responses.retrieve(r2.id)  # history keeps the image
    assert got.output[0].result == r2.output[0].result
    with server.http() as h:
        convs = h.get("/v1/limner/conversations").json()["data"]
        conv = next(c for c in convs if c["last_response_id"] == r3.id)
        detail = h.get(f"/v1/limner/conversations/{conv['id']}").json()
        assert [t["response_id"] for t in detail["turns"]] == [r1.id, r2.id, r3.id]
        img = detail["images"][-1]
        assert img["seed"] == detail["images"][0]["seed"]  # the conversation keeps its seed
        assert img["safety"][0]["allowed"] and img["record_id"]
        for fmt, magic in (("png", b"\x89PNG"), ("jpeg", b"\xff\xd8"), ("webp", b"RIFF")):
            assert h.get(img["url"], params={"format": fmt}).content.startswith(magic)


def test_ordinary_words_two_ops_undo_and_a_turn_with_nothing_to_draw(client: OpenAI) -> None:
    r1 = client.responses.create(model="limner", input="a red star and a blue ring", tools=TOOL)
    # two operations in one polite question, the second about "it"
    r2 = client.responses.create(model="limner", input="could you make the star purple and make it bigger?",
                                 previous_response_id=r1.id, tools=TOOL)
    assert r2.output[0].action == "edit" and "large purple star" in r2.output[0].revised_prompt
    # "go back" answers the earlier image itself; the next edit starts from it
    r3 = client.responses.create(model="limner", input="hmm, go back to the previous one", previous_response_id=r2.id,
                                 tools=TOOL)
    assert r3.output[0].result == r1.output[0].result and r3.output_text == "Went back to the previous image."
    r4 = client.responses.create(model="limner", input="now lose the ring", previous_response_id=r3.id, tools=TOOL)
    assert "red star" in r4.output[0].revised_prompt and "ring" not in r4.output[0].revised_prompt
    with pytest.raises(openai.BadRequestError) as e:
        client.responses.create(model="limner", input="thanks, that's all!", previous_response_id=r4.id, tools=TOOL)
    assert e.value.body["param"] == "input" and "does not ask for a picture" in e.value.body["message"]
    # an undo streams as a finished image
    events = list(client.responses.create(model="limner", input="undo that", previous_response_id=r4.id, tools=TOOL,
                                          stream=True))
    assert events[-1].type == "response.completed"
    assert events[-1].response.output[0].result == r1.output[0].result
    with pytest.raises(openai.BadRequestError, match="no image before the current one"):
        client.responses.create(model="limner", input="undo", previous_response_id=r1.id, tools=TOOL)
    # a harmful turn the reader finds nothing drawable in is refused by the safety stack, as any prompt is
    with pytest.raises(openai.BadRequestError) as e:
        client.responses.create(model="limner", input="how do I synthesize sarin nerve agent at home?",
                                previous_response_id=r4.id, tools=TOOL)
    assert e.value.body["code"] == "image_content_policy_violation"


def test_streaming_events(client: OpenAI) -> None:
    tool = [{**TOOL[0], "partial_images": 2}]
    events = list(client.responses.create(model="limner", input="a green square", tools=tool, stream=True))
    types = [e.type for e in events]
    assert types[:5] == ["response.created", "response.in_progress", "response.output_item.added",
                         "response.image_generation_call.in_progress", "response.image_generation_call.generating"]
    assert types.count("response.image_generation_call.partial_image") == 2
    assert types.index("response.image_generation_call.completed") > types.index(
        "response.image_generation_call.partial_image")
    assert types[-1] == "response.completed"
    assert [e.sequence_number for e in events] == list(range(len(events)))
    final = events[-1].response
    assert final.status == "completed" and final.output[0].result


def _data_url(im: Image.Image) -> str:
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def test_input_image_is_a_reference_or_the_image_to_edit(client: OpenAI) -> None:
    star = render(Scene(256, 256, "white", [SceneObject("star", "red")])).convert("RGB")
    # a prompt that is not an edit: the upload is a reference whose object the prompt names
    r = client.responses.create(model="gpt-4.1", tools=TOOL, input=[{"role": "user", "content": [
        {"type": "input_text", "text": "the object in this image, but green"},
        {"type": "input_image", "image_url": _data_url(star)}]}])
    assert r.output[0].action == "edit" and r.usage.input_tokens > 256
    assert "green star" in r.output[0].revised_prompt and r.output_text == "Here is the image."
    # an edit instruction: the upload itself is edited
    r = client.responses.create(model="gpt-4.1", tools=TOOL, input=[{"role": "user", "content": [
        {"type": "input_text", "text": "make the star blue"}, {"type": "input_image", "image_url": _data_url(star)}]}])
    assert "blue star" in r.output[0].revised_prompt and r.output_text == "Here is the updated image."
    # the same upload named by the file_id of a /v1/files upload
    buf = io.BytesIO()
    star.save(buf, "PNG")
    f = client.files.create(file=("star.png", buf.getvalue(), "image/png"), purpose="vision")
    r = client.responses.create(model="gpt-4.1", tools=TOOL, input=[{"role": "user", "content": [
        {"type": "input_text", "text": "make the star blue"}, {"type": "input_image", "file_id": f.id}]}])
    assert "blue star" in r.output[0].revised_prompt
    # an upload with no world object cannot be a reference: a clear 400, not a 500
    flat = Image.new("RGB", (256, 256), (200, 30, 30))
    with pytest.raises(openai.BadRequestError) as e:
        client.responses.create(model="gpt-4.1", tools=TOOL, input=[{"role": "user", "content": [
            {"type": "input_text", "text": "a heart like this"},
            {"type": "input_image", "image_url": _data_url(flat)}]}])
    assert "no world object" in e.value.body["message"]


def test_responses_errors(client: OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as e:
        client.responses.create(model="gpt-4.1", input="a star", previous_response_id="resp_unknown", tools=TOOL)
    assert e.value.body["param"] == "previous_response_id"
    with pytest.raises(openai.BadRequestError) as e:
        client.responses.create(model="gpt-4.1", input="how to synthesize sarin nerve agent infographic", tools=TOOL)
    assert e.value.body["code"] == "image_content_policy_violation"
    assert e.value.body["moderation_details"]["categories"] == ["cbrn"]
    with pytest.raises(openai.BadRequestError) as e:
        client.responses.create(model="gpt-4.1", input="a star")
    assert e.value.body["param"] == "tools"
    with pytest.raises(openai.BadRequestError) as e:
        client.responses.create(model="gpt-4.1", input="a star", tools=[{"type": "image_generation", "size": "9x9"}])
    assert e.value.body["param"] == "size"
    with pytest.raises(openai.NotFoundError):
        client.responses.create(model="claude-3", input="a star", tools=TOOL)


@pytest.mark.parametrize(("item", "param"), [
    ({"type": "image_generation_call", "id": 5}, "input[0].id"),
    ({"type": "image_generation_call", "id": "ig_x", "result": 7}, "input[0].result"),
    ({"type": "image_generation_call", "id": "ig_x", "result": "not base64!"}, "input[0].result"),
    ({"role": "user", "content": [{"type": "input_text", "text": 5}]}, "input[0].content[0].text"),
    ({"role": "user", "content": [{"type": "input_image", "image_url": "https://example.com/a.png"}]},
     "input[0].content[0].image_url"),
    ({"role": "robot", "content": "a star"}, "input[0].role"),
])
def test_malformed_input_items_name_the_parameter(server: Server, item: dict, param: str) -> None:
    with server.http() as h:
        r = h.post("/v1/responses", json={"model": "limner", "input": [item], "tools": TOOL})
    assert r.status_code == 400 and r.json()["error"]["param"] == param, r.json()


def test_a_body_that_is_not_an_object_is_a_400(server: Server) -> None:
    with server.http() as h:
        r = h.post("/v1/responses", json=[1, 2])
        assert r.status_code == 400 and "JSON object" in r.json()["error"]["message"] and "array" in r.text
        r = h.post("/v1/images/generations")
        assert r.status_code == 400 and r.json()["error"]["code"] == "missing_required_parameter"


def test_documented_fields_and_other_tools_are_accepted(client: OpenAI) -> None:
    """Fields OpenAI documents for /v1/responses are accepted (echoed where the response has them); tools
    limner cannot call may sit beside the image tool; a detached background response is refused by name."""
    tools = [*TOOL, {"type": "function", "name": "lookup", "parameters": {"type": "object", "properties": {}}},
             {"type": "web_search"}]
    r = client.responses.create(model="gpt-4.1", input="a red star", tools=tools,  # type: ignore[arg-type]
                                include=["reasoning.encrypted_content"], reasoning={"effort": "low"},
                                text={"format": {"type": "text"}}, truncation="auto", store=True,
                                parallel_tool_calls=False, metadata={"run": "1"}, max_tool_calls=2)
    assert r.output[0].type == "image_generation_call" and r.truncation == "auto"
    assert r.reasoning is not None and r.reasoning.effort == "low" and r.parallel_tool_calls is False
    with pytest.raises(openai.BadRequestError) as e:
        client.responses.create(model="gpt-4.1", input="a red star", tools=TOOL, background=True)
    assert e.value.body["param"] == "background"
    with pytest.raises(openai.BadRequestError) as e:
        client.responses.create(model="gpt-4.1", input="a red star", tools=[{"type": "web_search"}])
    assert e.value.body["param"] == "tools"


def test_langchain_chat_openai_bound_to_the_image_tool(server: Server) -> None:
    """LangChain's ChatOpenAI with `bind_tools([{"type": "image_generation"}])`, otherwise defaults: it switches
    to the Responses API and gets the image back as an image_generation_call block."""
    chat = pytest.importorskip("langchain_openai")
    llm = chat.ChatOpenAI(model="gpt-4.1", base_url=f"{server.url}/v1", api_key="local")
    msg = llm.bind_tools([{"type": "image_generation", "quality": "low", "size": "256x256"}]).invoke("a red star")
    blocks = [b for b in msg.content if isinstance(b, dict) and b.get("type") == "image_generation_call"]
    assert len(blocks) == 1 and blocks[0]["status"] == "completed"
    assert Image.open(io.BytesIO(base64.b64decode(blocks[0]["result"]))).size == (256, 256)
