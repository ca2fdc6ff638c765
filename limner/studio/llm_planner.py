"""An optional LLM planner: any OpenAI-compatible chat endpoint (llama.cpp server, vLLM, Ollama, OpenAI).

The model is asked for one JSON object per image in the `ScenePlan` schema (plan.py); the answer is
validated field by field. When the endpoint is down, slow, or answers something that is not a valid plan,
`plan_with_fallback` uses the built-in planner instead and says so in `Plans.notes` (and to the caller's
`warn`), so thinking mode never fails because of an optional service.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass

from limner.data.world import COLORS, OBJECTS, POSITIONS
from limner.limits import MAX_PLANNED_IMAGES
from limner.studio.plan import PlanError, PlanObject, ScenePlan
from limner.studio.planner import Plans, plan_prompt

SYSTEM_PROMPT = f"""You plan images of a small synthetic world. Reply with JSON only:
{{"images": [{{"objects": [{{"class": C, "color": COLOR, "size": "small|medium|large", "count": 1-6,
"position": P or null, "relation": ["left of|right of|above|below", INDEX] or null}}],
"grid": null or {{"rows": 1-4, "cols": 1-4, "cells": [objects in reading order]}},
"text": null or {{"lines": [up to 3 strings of up to 16 chars], "color": COLOR or null,
"position": "top|center|bottom", "panel": COLOR or null}}, "background": COLOR or "transparent",
"notes": [what you chose]}}]}}
Classes C: {", ".join(OBJECTS)}. Colours: {", ".join(COLORS)} or #RRGGBB. Positions P: {", ".join(POSITIONS)}.
Fill details the user left open with varied choices (not always a red circle). Give several images only
when the user asks for variations or panels (at most {MAX_PLANNED_IMAGES})."""


class PlannerUnavailable(RuntimeError):
    """The LLM planner endpoint could not be used; the message says why (and names the URL)."""


@dataclass
class LLMPlanner:
    """Client of an OpenAI-compatible chat endpoint that answers plans as JSON; `timeout` in seconds."""

    url: str  # base URL of the OpenAI-compatible API, e.g. http://127.0.0.1:8080/v1
    model: str = "default"
    api_key: str | None = None
    timeout: float = 20.0

    def request(self, prompt: str, seed: int) -> dict:
        """One chat completion (SYSTEM_PROMPT, then `prompt`) through the `openai` client, as a dict.
        PlannerUnavailable on an HTTP error, no connection, a timeout or an answer that is not a completion."""
        import openai

        client = openai.OpenAI(base_url=self.url, api_key=self.api_key or "unused", timeout=self.timeout,
                               max_retries=0)  # a local endpoint often wants no key; the client insists on one
        try:
            answer = client.chat.completions.create(
                model=self.model, temperature=0.7, seed=seed,
                messages=[{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": prompt}])
        except openai.APIStatusError as e:
            raise PlannerUnavailable(f"LLM planner at {self.url} answered HTTP {e.status_code}") from None
        except openai.APIConnectionError as e:  # timeouts included
            raise PlannerUnavailable(f"LLM planner at {self.url} is unreachable ({e.__cause__ or e})") from None
        except openai.OpenAIError as e:  # an answer the client cannot read as a completion
            raise PlannerUnavailable(f"LLM planner at {self.url} did not answer a completion ({e})") from None
        finally:
            client.close()
        if not isinstance(answer, openai.types.chat.ChatCompletion):  # a body that was not JSON comes back as text
            raise PlannerUnavailable(f"LLM planner at {self.url} did not answer JSON")
        return answer.model_dump()

    def plan(self, prompt: str, seed: int = 0, references: list[PlanObject] | None = None) -> Plans:
        """Ask the endpoint; PlannerUnavailable when it is down or its answer is not a valid plan."""
        if references:  # the LLM sees no pixels: tell it what the detector read in the uploads
            prompt += "\n(Uploaded images show: " + "; ".join(f"{r.color} {r.cls}" for r in references) + ")"
        answer = self.request(prompt, seed)
        try:
            content = answer["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            raise PlannerUnavailable(f"LLM planner at {self.url} answered without a message") from None
        return parse_answer(content, self.url)


def parse_answer(content: str, url: str = "the LLM") -> Plans:
    """The plans in an LLM's reply (JSON, possibly inside a ``` fence); PlannerUnavailable if invalid."""
    m = re.search(r"\{.*\}", content or "", re.S)
    try:
        data = json.loads(m.group(0) if m else content)
        images = data.get("images", [data]) if isinstance(data, dict) else data
        if not isinstance(images, list) or not images:
            raise PlanError("images: expected a non-empty list")
        plans = [ScenePlan.from_dict(d) for d in images[:MAX_PLANNED_IMAGES]]
    except (json.JSONDecodeError, PlanError, AttributeError) as e:
        raise PlannerUnavailable(f"{url} answered an invalid plan ({e})") from None
    return Plans(plans, "llm", [])


def plan_with_fallback(prompt: str, seed: int = 0, references: list[PlanObject] | None = None,
                       llm: LLMPlanner | None = None, warn: Callable[[str], None] | None = None) -> Plans:
    """Plan with the LLM when one is configured and up, else with the built-in planner (and say so)."""
    if llm is not None:
        try:
            return llm.plan(prompt, seed, references)
        except PlannerUnavailable as e:
            msg = f"{e}; used the built-in planner instead"
            if warn is not None:
                warn(msg)
            plans = plan_prompt(prompt, seed, references)
            plans.notes.insert(0, msg)
            return plans
    return plan_prompt(prompt, seed, references)
