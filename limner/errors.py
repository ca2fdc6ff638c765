"""limner's typed user-facing errors, in one place.

Every layer raises these (or a plain ValueError naming the bad value, inside the engine and model); the
pipeline turns what reaches it into `InvalidRequest` or `SafetyBlocked`. The CLI prints them, and the
server maps them to OpenAI-shaped responses in one place (`limner/server/errors.py`).

    LimnerError                 base of everything a user may see
    ├── InvalidRequest          a request parameter is invalid (also a ValueError)
    ├── SafetyBlocked           the safety stack refused; `.decision` carries every layer's verdict
    └── ImageInputError         an input image is unreadable, too large or unusable (also a ValueError)
        └── MaskError           an edit mask is unusable (size, alpha, nothing to edit)

The safety and provenance packages keep their own narrow errors (policy files, signing keys), which
subclass these where a user can cause them.
"""

from __future__ import annotations

from typing import Any


class LimnerError(Exception):
    """Base class of limner's user-facing errors."""


class InvalidRequest(LimnerError, ValueError):
    """A request parameter is invalid; the message names it."""


class SafetyBlocked(LimnerError):
    """The safety stack refused the request; `decision` carries every layer's verdict."""

    def __init__(self, decision: Any) -> None:
        self.decision = decision
        super().__init__(
            f"blocked at the {decision.stage} stage ({', '.join(decision.categories) or 'policy'}): {decision.reason}"
        )


class ImageInputError(LimnerError, ValueError):
    """An input image (to edit, a mask, a reference, an upload) is unreadable, too large or unusable;
    the message names it."""


class MaskError(ImageInputError):
    """A mask is unusable (wrong size, no alpha channel, nothing to edit); the message says which."""
