"""The reader's data engine: turns, tags and actions."""

from limner.data.instructions import ACTIONS, TAGS, TRAIN, UNTAGGED, expand, gerund, training_examples, words_of


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
    assert all(len(e.words) == len(e.tags) and set(e.tags) <= {*TAGS, UNTAGGED} for e in a)
    assert {e.action for e in a} == set(ACTIONS)
    edits = [e for e in a if e.action == "edit"]
    assert all(set(e.tags) - {"O", "TGT", "SEP"} for e in edits)  # every edit tags what it changes
    assert any("SEP" in e.tags for e in edits)  # and some turns ask for two ops
    assert all(set(e.tags) == {"O"} or (set(e.tags) == {UNTAGGED} and e.action == "generate")
               for e in a if e.action != "edit")  # the engine's prompts teach the action only


def test_every_op_family_has_frames() -> None:
    assert set(TRAIN.ops) == {"recolour", "remove", "move", "resize", "add", "text", "background"}


def test_new_picture_turns_draw_on_the_generation_engine_s_own_prompts_in_training_only() -> None:
    import random

    from limner.data.instructions import ENGINE_PROMPT_SHARE, TRAIN, engine_prompt, plain_turn, sample_turn

    a, b = random.Random(5), random.Random(5)
    turn = plain_turn(TRAIN, "generate", a, engine_share=1.0)
    b.random()  # the share draw
    assert turn.words == tuple(words_of(engine_prompt(b))) and set(turn.tags) == {UNTAGGED}
    assert turn.action == "generate"
    # without a share (how the held-out families call it) the turn is one of the phrasing's own frames
    held = plain_turn(TRAIN, "generate", random.Random(5))
    assert held != turn and held.action == "generate"
    # training's mix draws them: ENGINE_PROMPT_SHARE of its new-picture turns (12% of all turns)
    rng = random.Random(0)
    engine = 0
    for _ in range(600):
        state = rng.getstate()
        t = sample_turn(TRAIN, rng)
        probe = random.Random()
        probe.setstate(state)
        if t.action == "generate" and probe.random() >= 0.72 and probe.random() < ENGINE_PROMPT_SHARE:
            engine += 1
            assert set(t.tags) == {UNTAGGED} and not t.image  # a one-off prompt: nothing in view
    assert 0.5 * 72 * ENGINE_PROMPT_SHARE <= engine <= 1.5 * 72 * ENGINE_PROMPT_SHARE, engine


def test_turns_say_whether_a_picture_is_in_view() -> None:
    """Edits mostly come with a picture (without one they are refused), prompts in the generation engine's
    words never (they are one-offs): the reader learns that the same words differ by context."""
    turns = training_examples(3000, 11)
    edits = [e for e in turns if e.action == "edit"]
    engine = [e for e in turns if e.tags and e.tags[0] == UNTAGGED]
    plain = [e for e in turns if e.action in ("undo", "none")]
    assert 0.94 < sum(e.image for e in edits) / len(edits) < 0.995  # IMAGE_IN_CONTEXT['edit'] = 0.95
    assert engine and not any(e.image for e in engine)
    assert 0.35 < sum(e.image for e in plain) / len(plain) < 0.65


def test_training_edits_are_often_typed_bare() -> None:
    """With `bare` an edit has no opener, as people most often type one: "paint the circle red" must be as
    familiar to the reader as "paint a pink hourglass" typed as a prompt."""
    import random

    from limner.data.instructions import BARE_EDIT_SHARE, TRAIN, edit_turn

    openers = [words_of(o.lower()) for o in TRAIN.openers if o.strip()]

    def opened(share: float) -> float:
        rng = random.Random(2)
        turns = [edit_turn(TRAIN, rng, ["recolour"], ger=False, neg=False, bare=share) for _ in range(400)]
        low = [[w.lower() for w in t.words] for t in turns]
        return sum(any(ws[: len(o)] == o for o in openers) for ws in low) / len(low)

    assert opened(1.0) == 0.0
    assert opened(0.0) > 0.85
    assert abs(opened(BARE_EDIT_SHARE) - (1 - BARE_EDIT_SHARE) * opened(0.0)) < 0.08
