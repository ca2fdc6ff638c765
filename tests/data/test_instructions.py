"""The reader's data engine: turns, tags and actions."""

from limner.data.instructions import ACTIONS, TAGS, TRAIN, expand, gerund, training_examples, words_of


def test_words_keep_quotes_hex_and_contractions_whole() -> None:
    assert words_of("I'd like 'NO ENTRY' in #FF00aa, please!") == \
        ["I'd", "like", "'NO ENTRY'", "in", "#FF00aa", ",", "please", "!"]


def test_expand_tags_slots_and_literals() -> None:
    w, t = expand("[get rid of|RM] {T} now", {"T": "the red star"}, {"T": "TGT"})
    assert list(zip(w, t, strict=True)) == [("get", "RM"), ("rid", "RM"), ("of", "RM"), ("the", "TGT"),
                                            ("red", "TGT"), ("star", "TGT"), ("now", "O")]


def test_gerund_turns_the_leading_verb() -> None:
    assert gerund("make {T} {C}") == "making {T} {C}"
    assert gerund("[remove|RM] {T}") == "[removing|RM] {T}"
    assert gerund("{T} should be {C}") is None


def test_training_turns_are_deterministic_aligned_and_cover_every_action() -> None:
    a, b = training_examples(400, 5), training_examples(400, 5)
    assert a == b and a != training_examples(400, 6)
    assert all(len(e.words) == len(e.tags) and set(e.tags) <= set(TAGS) for e in a)
    assert {e.action for e in a} == set(ACTIONS)
    edits = [e for e in a if e.action == "edit"]
    assert all(set(e.tags) - {"O", "TGT", "SEP"} for e in edits)  # every edit tags what it changes
    assert any("SEP" in e.tags for e in edits)  # and some turns ask for two ops
    assert all(set(e.tags) == {"O"} for e in a if e.action != "edit")


def test_every_op_family_has_frames() -> None:
    assert set(TRAIN.ops) == {"recolour", "remove", "move", "resize", "add", "text", "background"}
