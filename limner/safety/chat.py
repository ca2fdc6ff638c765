"""Optional chat/intent layer: an LLM judge behind any OpenAI-compatible /chat/completions endpoint.

Off by default (`chat.enabled: false`). When enabled it fails closed: an unreachable judge or an answer
that cannot be parsed refuses the request with category `system`.
"""

from __future__ import annotations

import json
import os
from typing import Any

from limner.safety.layers import Request, ok, refuse
from limner.safety.policy import Policy
from limner.safety.verdict import Verdict

SYSTEM_PROMPT = (
    "You are a content-policy judge for an image generator. Categories: {cats}. "
    'Reply with one JSON object only: {{"allowed": true|false, "category": <category or null>, '
    '"reason": <short reason>}}. Refuse only real harm as the policy describes; allow art, fiction, '
    "education, news, satire and homonyms."
)


def openai_errors() -> type[Exception]:
    """The `openai` client's base error (imported only when the judge is used)."""
    import openai

    return openai.OpenAIError


class ChatJudgeLayer:
    """Asks an LLM judge whether the raw prompt is allowed. Does nothing unless the policy's `chat.enabled` is set."""

    name = "chat"

    def __init__(self, policy: Policy) -> None:
        cfg = policy.chat
        self.policy = policy
        self.enabled = bool(cfg.get("enabled", False))
        self.base_url = str(cfg.get("base_url", "")).rstrip("/")
        self.model = str(cfg.get("model", ""))
        self.key_env = str(cfg.get("api_key_env", ""))
        self.timeout = float(cfg.get("timeout_s", 20))

    def _ask(self, prompt: str) -> dict[str, Any]:
        cats = ", ".join(
            f"{k} ({v})" for k, v in self.policy.categories.items() if k not in ("age_gate", "misuse", "system")
        )
        import openai

        key = os.environ.get(self.key_env) if self.key_env else None
        client = openai.OpenAI(base_url=self.base_url, api_key=key or "unused", timeout=self.timeout, max_retries=0)
        try:
            answer = client.chat.completions.create(model=self.model, temperature=0, messages=[
                {"role": "system", "content": SYSTEM_PROMPT.format(cats=cats)},
                {"role": "user", "content": f"Image request: {prompt}"}])
        finally:
            client.close()
        if not isinstance(answer, openai.types.chat.ChatCompletion):
            raise ValueError("the judge did not answer a chat completion")
        data = answer.model_dump()
        text = data["choices"][0]["message"]["content"]
        start, end = text.find("{"), text.rfind("}")
        return json.loads(text[start : end + 1])

    def check(self, req: Request) -> Verdict:
        """Allowed when disabled or when the judge allows; refused in the judge's category (`system` if the policy does
        not know it), and refused as `system` when the judge cannot be reached or its answer parsed."""
        if not self.enabled:
            return ok(self.name, "chat judge disabled by policy")
        try:
            ans = self._ask(req.prompt)
        except (OSError, ValueError, KeyError, IndexError, TypeError, TimeoutError, openai_errors()) as e:
            return refuse(
                self.name, "system", "chat.unavailable", f"chat judge unavailable, refusing (fail closed): {e}"
            )
        if ans.get("allowed") is True:
            return ok(self.name, str(ans.get("reason", "judge allowed")))
        cat = ans.get("category")
        cat = cat if cat in self.policy.categories else "system"
        return refuse(self.name, cat, "chat.judge", str(ans.get("reason", "judge refused")))
