"""One routing rule for every way in: edit (of an upload, else the image in context) or a new image."""

import pytest

from limner.errors import InvalidRequest
from limner.studio.routing import (
    NotDrawable,
    NothingToEdit,
    NothingToUndo,
    Route,
    is_edit,
    not_drawable,
    route_turn,
)


def test_an_edit_instruction_edits_the_upload_first_then_the_image_in_context() -> None:
    assert route_turn("make the star green", uploads=1, in_context=True) == Route("edit", "upload")
    assert route_turn("make the star green", in_context=True) == Route("edit", "context")


def test_a_mask_makes_any_prompt_an_edit() -> None:
    assert route_turn("a blue heart", uploads=1, mask=True) == Route("edit", "upload")
    assert route_turn("a blue heart", in_context=True, mask=True) == Route("edit", "context")


def test_other_prompts_draw_a_new_image_with_uploads_as_references() -> None:
    assert route_turn("a red star above a blue ring") == Route("generate", None, references=False)
    assert route_turn("a red star above a blue ring", in_context=True) == Route("generate", None, references=False)
    assert route_turn("the object in this image, but blue", uploads=2) == Route("generate", None, references=True)


def test_a_one_off_prompt_is_read_with_no_picture_in_view_and_drawn() -> None:
    """The words of a prompt can be an edit's ("the hexagon painted red"); with nothing in view the reader is
    told so, and a prompt is drawn rather than refused as an edit with nothing to edit."""
    for prompt in ('the word "OPEN" in white on a red background', "give me exactly 5 yellow circles",
                   "draw the brown hexagon and a yellow star"):
        assert route_turn(prompt).action == "generate", prompt


def test_an_edit_with_nothing_to_edit_is_refused_and_says_why() -> None:
    with pytest.raises(NothingToEdit, match="'remove the ring' is an edit instruction but there is no image"):
        route_turn("remove the ring")
    with pytest.raises(InvalidRequest, match="a mask needs an image to apply to"):
        route_turn("a blue heart", mask=True)


def test_an_edit_that_only_adds_things_is_drawn_when_nothing_is_in_view() -> None:
    """"add a red star" with no picture: nothing else to keep, so the things it names are drawn; with a picture
    in view it stays an edit of that picture."""
    r = route_turn("add a red star")
    assert r.action == "generate" and r.reading is not None and r.reading.action == "edit", r
    assert [op.kind for op in r.reading.ops] == ["add"]
    assert route_turn("add a red star", in_context=True) == Route("edit", "context")
    with pytest.raises(NothingToEdit):
        route_turn("add a red star and make the ring blue")  # a change to a ring that is not there


def test_is_edit_is_the_rule_route_turn_follows() -> None:
    from limner.studio.edits import EditOp
    from limner.studio.reader import Reading

    add, recolour = Reading("edit", [EditOp("add")]), Reading("edit", [EditOp("recolour", color="red")])
    assert not is_edit(add) and is_edit(add, in_context=True) and is_edit(add, uploads=1)
    assert is_edit(recolour) and not is_edit(Reading("generate"))
    assert is_edit(Reading("edit", [EditOp("add"), EditOp("recolour", color="red")]))
    assert not is_edit(Reading("edit", problem="no target")) and is_edit(Reading("edit", problem="x"), uploads=1)


def test_a_turn_in_ordinary_words_is_routed_by_the_learned_reader() -> None:
    r = route_turn("would you mind making the square orange?", in_context=True)
    assert r == Route("edit", "context") and r.reading is not None and r.reading.source == "model"


def test_undo_and_chat_turns_are_routed_in_a_conversation_only() -> None:
    assert route_turn("go back to the previous one", in_context=True, chat=True) == Route("undo", "context")
    with pytest.raises(NothingToUndo, match="no earlier image"):
        route_turn("undo", chat=True)
    assert route_turn("thanks, that's all!", in_context=True, chat=True).action == "none"
    assert isinstance(not_drawable("thanks"), NotDrawable) and "does not ask for a picture" in str(not_drawable("x"))
    # a one-off Images API prompt is always drawn
    assert route_turn("thanks, that's all!").action == "generate"
