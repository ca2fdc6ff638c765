"""The learned instruction reader: `decode` (tags -> ops) and the shipped reader on ordinary phrasings."""

import pytest
import torch

from limner.data.instructions import TAGS, words_of
from limner.studio.reader import REPAIR_MAX_GAP, complete_reading, decode, position_of, read_turn, target_of


def _decode(text: str, tags: str, action: str = "edit"):
    words = words_of(text)
    t = tags.split()
    assert len(t) == len(words), list(zip(words, t, strict=False))
    return decode(words, t, action)


def test_decode_splits_two_ops_and_carries_the_target_into_it() -> None:
    r = _decode("make the star purple and move it left",
                "O TGT TGT NEWCOL SEP O TGT POS")
    assert [(o.kind, o.target, o.hint) for o in r.ops] == [("recolour", ("star", None), None),
                                                           ("move", (None, None), "it")]
    assert r.ops[0].color == "purple" and r.ops[1].position == "left"
    assert r.understood and r.source == "model"


def test_decode_reads_every_op_kind_from_its_tags() -> None:
    assert _decode("lose the red triangle", "RM TGT TGT TGT").ops[0].target == ("triangle", "red")
    r = _decode("add a small blue heart in the upper right", "O ADD ADD ADD ADD O O POS POS")
    assert (r.ops[0].kind, r.ops[0].new.cls, r.ops[0].new.color, r.ops[0].position) == \
        ("add", "heart", "blue", "top right")
    assert _decode("make it way bigger", "O TGT BIG BIG").ops[0].size == "large"
    assert _decode("background in violet", "O O BGCOL").ops[0].color == "purple"
    assert _decode("let it say 'OPEN'", "O O O TEXT").ops[0].lines == ["OPEN"]
    assert _decode("nudge the ring up", "O TGT TGT POS").ops[0].position == "top"


def test_decode_of_an_edit_with_no_op_tags_is_not_understood() -> None:
    r = _decode("make the star", "O TGT TGT")
    assert not r.understood and "could not tell what to do with 'the star'" in (r.problem or "")
    r = _decode("please", "O")
    assert not r.understood and "no edit" in (r.problem or "")


def test_decode_never_drops_a_clause_silently() -> None:
    # the first clause names the star but asks nothing of it: the turn is not understood, not half done
    r = _decode("make the star purple and move it left", "O TGT TGT TGT SEP O TGT POS")
    assert not r.understood and "'the star purple'" in (r.problem or "")


def _logp(words: list[str], best: dict[int, tuple[str, float]], tags: str) -> torch.Tensor:
    """(n_words, n_tags) log-probabilities whose best tags are `tags`; word i's second tag per `best`."""
    logp = torch.full((len(words), len(TAGS)), -30.0)
    for i, t in enumerate(tags.split()):
        logp[i, TAGS.index(t)] = 0.0
    for i, (alt, lp) in best.items():
        logp[i, TAGS.index(alt)] = lp
    return logp


def test_an_edit_that_names_an_object_and_asks_nothing_takes_the_next_most_probable_tagging() -> None:
    words = words_of("make the star purple and move it left")
    best = "O TGT TGT TGT SEP O TGT POS"  # "the star purple": a target that asks for nothing
    assert not decode(words, best.split(), "edit").understood
    # the colour's second tag is NEWCOL; the article's RM is beyond the gap allowed, so it is never tried
    r = complete_reading(words, _logp(words, {3: ("NEWCOL", -3.2), 1: ("RM", -9.0)}, best), TAGS, "edit")
    assert r is not None and r.understood
    assert [(o.kind, o.target, o.color, o.position) for o in r.ops] == [
        ("recolour", ("star", None), "purple", None), ("move", (None, None), None, "left")]
    # a second reading far less probable than the best is not taken: the turn stays not understood
    far = _logp(words, {3: ("NEWCOL", -(REPAIR_MAX_GAP + 1.0))}, best)
    assert complete_reading(words, far, TAGS, "edit") is None


def test_target_and_position_words_map_to_world_names() -> None:
    assert target_of(["the", "lightning", "bolt"]) == (("lightning bolt", None), None)
    assert target_of(["the", "left", "one"]) == ((None, None), "left")
    assert target_of(["it"]) == ((None, None), "it")
    assert target_of(["the", "other", "one"]) == ((None, None), "other")
    assert position_of(["the", "lower", "left", "corner"]) == "bottom left"
    assert position_of(["somewhere"]) is None


@pytest.mark.parametrize(("text", "kinds"), [
    ("would you mind making the square orange?", ["recolour"]),
    ("hmm, lose the triangle", ["remove"]),
    ("could you make the star purple and move it left?", ["recolour", "move"]),
    ("also, put a yellow heart in the bottom right", ["add"]),
    ("no, not blue. make the circle green instead", ["recolour"]),
    ("make it bigger please", ["resize"]),
])
def test_the_shipped_reader_reads_ordinary_edits(text: str, kinds: list[str]) -> None:
    r = read_turn(text)
    assert r.action == "edit" and r.understood, (text, r)
    assert [o.kind for o in r.ops] == kinds, (text, r.tags)


def test_the_shipped_reader_reads_each_op_s_arguments() -> None:
    r = read_turn("would you mind making the square orange?")
    assert (r.ops[0].target, r.ops[0].color) == (("square", None), "orange")
    r = read_turn("could you make the star purple and move it left?")
    assert r.ops[1].position == "left" and r.ops[1].hint == "it"
    r = read_turn("no, not blue. make the circle green instead")
    assert (r.ops[0].target, r.ops[0].color) == (("circle", None), "green")


@pytest.mark.parametrize(("text", "image", "action"), [
    ("undo", True, "undo"), ("go back to the previous one", True, "undo"), ("thanks!", True, "none"),
    ("what's the weather like?", False, "none"), ("now draw a red star above a blue ring", True, "generate"),
    ("a green triangle on a black background", True, "generate"),
    # one-off prompts in the generation data engine's own words, which the reader once read as edits (so they
    # were refused for want of an image to edit) or as nothing drawable
    ("give me exactly 5 yellow circles", False, "generate"),
    ('the word "OPEN" in white on a red background', False, "generate"),
    ("i need a single crescent painted black", False, "generate"), ("a pentagon", False, "generate"),
    # the same short edit words with a picture in view: an edit, never a new picture
    ("paint the circle red", True, "edit"), ("make the star purple", True, "edit"),
    ("turn the heart blue", True, "edit"),
])
def test_the_shipped_reader_tells_undo_new_pictures_and_chat_apart(text: str, image: bool, action: str) -> None:
    assert read_turn(text, image=image).action == action, (text, image)


def test_a_turn_is_read_once_and_each_caller_gets_its_own_copy() -> None:
    from limner.studio import reader

    text = "could you make the star purple and move it left?"
    before = reader._read_once.cache_info()
    a = reader.read_turn(text)
    b = reader.read_turn(text)
    after = reader._read_once.cache_info()
    assert after.hits - before.hits >= 1 and after.misses - before.misses <= 1
    assert a == b and a is not b
    a.ops.clear()
    assert reader.read_turn(text).ops == b.ops and b.ops
