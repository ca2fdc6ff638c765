"""The optional LLM planner: an OpenAI-compatible endpoint, validated answers, and the fallback."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from limner.studio.llm_planner import LLMPlanner, PlannerUnavailable, parse_answer, plan_with_fallback
from tests.local_http import chat_endpoint, serving

ANSWER = {"images": [{"objects": [{"class": "star", "color": "cyan", "size": "large", "position": "top left"}],
                      "background": "black", "notes": ["chose cyan"]}]}


@pytest.fixture()
def endpoint() -> Iterator[str]:
    def content(body: dict) -> str:
        assert body["messages"][0]["role"] == "system"
        return "```json\n" + json.dumps(ANSWER) + "\n```"

    with serving(chat_endpoint(content)) as url:
        yield f"{url}/v1"


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
