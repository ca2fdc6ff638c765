"""limner's layered safety stack: policy as data, prompt and image layers, audit and misuse tracking.

    from limner import safety
    d = safety.check("a red circle")          # -> Decision (allowed, stage, categories, verdicts)

Nothing is loaded at import; the default stack is built on first use and cached.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from limner.safety.verdict import Decision, Verdict

if TYPE_CHECKING:
    from PIL import Image

    from limner.safety.stack import SafetyStack

__all__ = ["Decision", "Verdict", "check", "default_stack"]

_STACK: SafetyStack | None = None
_LOCK = threading.Lock()


def default_stack() -> SafetyStack:
    """The shipped policy with default paths ($LIMNER_HOME/safety), built once."""
    global _STACK
    with _LOCK:
        if _STACK is None:
            from limner.safety.stack import SafetyStack

            _STACK = SafetyStack.from_policy()
        return _STACK


def check(
    prompt: str, images: list[Image.Image] | None = None, age: int | None = None, moderation: str = "auto"
) -> Decision:
    """Check a prompt (and optional input images) against the default stack."""
    return default_stack().check(prompt, images, age=age, moderation=moderation)
