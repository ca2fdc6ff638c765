"""Where one turn goes, decided in one place for every way in (the CLI, `Pipeline` and its conversations, the
Images API job and the Responses API): an edit of an image, or a new image, drawn from uploaded references
when there are any.

A turn is an edit when it carries a mask or its words parse as an edit instruction (`edits.is_edit_instruction`).
An edit changes the first uploaded image, else the conversation's last image; with neither there is nothing to
edit, and the turn is refused with `NothingToEdit` rather than drawn as something else. Any other turn draws
a new image, and its uploads are references the prompt draws from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from limner.errors import InvalidRequest
from limner.studio.edits import is_edit_instruction


class NothingToEdit(InvalidRequest):
    """An edit (an instruction or a mask) with no image to apply it to; the message says what to send."""


@dataclass(frozen=True)
class Route:
    """A turn's route: `action` "edit" (of `base`: "upload" for the first uploaded image, "context" for the
    conversation's last) or "generate" (with the uploads as references when `references`)."""

    action: Literal["edit", "generate"]
    base: Literal["upload", "context"] | None = None
    references: bool = False


def route_turn(prompt: str, *, uploads: int = 0, in_context: bool = False, mask: bool = False) -> Route:
    """The route of a turn with `uploads` uploaded images, an image already `in_context` or not, and a mask or
    not; NothingToEdit for an edit with no image at all."""
    if mask or is_edit_instruction(prompt):
        if uploads:
            return Route("edit", "upload")
        if in_context:
            return Route("edit", "context")
        if mask:
            raise NothingToEdit("a mask needs an image to apply to: send the image to edit with it, or continue "
                                "a conversation that has one")
        raise NothingToEdit(f"{prompt[:200]!r} is an edit instruction but there is no image in context yet: describe a "
                            "new image first, or send the image to edit")
    return Route("generate", references=uploads > 0)
