"""Where one turn goes, decided in one place for every way in (the CLI, `Pipeline` and its conversations, the
Images API job and the Responses API): an edit of an image, a new image (drawn from uploaded references when
there are any), a step back to the previous image, or an answer that there is nothing to draw.

The turn is read by the learned instruction reader (reader.py), never by a grammar alone. A turn is an edit
when it carries a mask or the reader reads an edit. An edit changes the first uploaded image, else the
conversation's last image; with neither there is nothing to edit, and the turn is refused with `NothingToEdit`
rather than drawn as something else. "Undo" goes back one image in a conversation (`NothingToUndo` when there
is no earlier one). A turn about nothing drawable ("thanks!") is, in a conversation, first screened by the
safety stack like any prompt (a harmful one is refused as such) and then answered with `NotDrawable`; a one-off
Images API prompt is always drawn. Any other turn draws a new image, and its uploads are references
the prompt draws from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from limner.errors import InvalidRequest
from limner.studio.reader import Reading, read_turn


class NothingToEdit(InvalidRequest):
    """An edit (an instruction or a mask) with no image to apply it to; the message says what to send."""


class NothingToUndo(InvalidRequest):
    """An undo with no earlier image to go back to."""


class NotDrawable(InvalidRequest):
    """A chat turn that asks for nothing to draw or change ("thanks", "what time is it?")."""


@dataclass(frozen=True)
class Route:
    """A turn's route: `action` "edit" (of `base`: "upload" for the first uploaded image, "context" for the
    conversation's last), "generate" (with the uploads as references when `references`), "undo", or "none"
    (a chat turn about nothing drawable: the caller screens it with the safety stack, then answers
    `not_drawable(prompt)`); `reading` is the reader's, for the edit path and for thinking mode's notes."""

    action: Literal["edit", "generate", "undo", "none"]
    base: Literal["upload", "context"] | None = None
    references: bool = False
    reading: Reading | None = field(default=None, compare=False)


def route_turn(prompt: str, *, uploads: int = 0, in_context: bool = False, mask: bool = False,
               chat: bool = False) -> Route:
    """The route of a turn with `uploads` uploaded images, an image already `in_context` or not, and a mask or
    not. NothingToEdit for an edit with no image at all; in a `chat` (a conversation, not a one-off prompt),
    "none" for a turn about nothing drawable and "undo" for a step back."""
    reading = read_turn(prompt, image=bool(uploads or in_context))  # the same words differ with a picture in view
    if mask or is_edit(reading, uploads=uploads, in_context=in_context):
        if uploads:
            return Route("edit", "upload", reading=reading)
        if in_context:
            return Route("edit", "context", reading=reading)
        if mask:
            raise NothingToEdit("a mask needs an image to apply to: send the image to edit with it, or continue "
                                "a conversation that has one")
        raise NothingToEdit(f"{prompt[:200]!r} is an edit instruction but there is no image in context yet: describe a "
                            "new image first, or send the image to edit")
    if chat and reading.action == "undo":
        if not in_context:
            raise NothingToUndo(f"{prompt[:200]!r} asks to go back, but there is no earlier image in this "
                                "conversation")
        return Route("undo", "context", reading=reading)
    if chat and reading.action == "none" and not uploads:
        return Route("none", reading=reading)
    return Route("generate", references=uploads > 0, reading=reading)


def is_edit(reading: Reading, *, uploads: int = 0, in_context: bool = False) -> bool:
    """Whether a turn read as `reading` goes down the edit path (no mask): an edit the reader could not complete
    is still an edit where there is an image to edit (the edit path says what it could not read); with none,
    the words are a description to draw (and for safety to screen). So is an edit that only adds things ("add a
    red star", "and five triangles") with nothing in view: there is nothing else to keep, so drawing what it
    names is what it asks. Only a change to something that is not there ("make the star purple") is refused
    (route_turn raises NothingToEdit)."""
    if reading.action != "edit":
        return False
    if uploads or in_context:
        return True
    return reading.understood and not all(op.kind == "add" for op in reading.ops)


def not_drawable(prompt: str) -> NotDrawable:
    """The answer to a chat turn about nothing drawable (after the safety stack has seen it)."""
    return NotDrawable(f"{prompt[:200]!r} does not ask for a picture or a change to one: describe an image to "
                       "draw, or say what to change in the current one (e.g. 'make the star blue')")
