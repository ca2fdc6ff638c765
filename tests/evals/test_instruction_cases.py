"""Held-out phrasings are held out: no frame, opener, closer or connector is shared with training."""

from limner.data.instructions import DEV, TRAIN, frames_of, training_examples, words_of
from limner.evals.conversation_cases import validate_case
from limner.evals.instruction_cases import FAMILIES, HELDOUT, fresh_conversation_cases, heldout_turns


def _norm(xs: tuple[str, ...]) -> set[str]:
    return {" ".join(words_of(x.lower())) for x in xs if x.strip()}


def test_no_heldout_frame_is_a_training_or_dev_frame() -> None:
    assert not frames_of(HELDOUT) & frames_of(TRAIN)
    assert not frames_of(HELDOUT) & frames_of(DEV)
    assert not frames_of(DEV) & frames_of(TRAIN)  # dev measures phrasings training never saw too
    for part in ("targets", "openers", "gerund_openers", "closers", "connectors", "negations"):
        shared = _norm(getattr(HELDOUT, part)) & _norm(getattr(TRAIN, part))
        assert not shared, (part, shared)


def test_no_heldout_turn_occurs_in_training_turns() -> None:
    train = {e.text.lower() for e in training_examples(20000, 0)}
    held = [(f, e.text.lower()) for f, e in heldout_turns(40)]
    leaked = [(f, t) for f, t in held if t in train]
    assert not leaked, leaked[:5]


def test_heldout_turns_cover_every_family_deterministically() -> None:
    a = heldout_turns(5)
    assert a == heldout_turns(5)
    assert [f for f, _ in a[::5]] == list(FAMILIES)


def test_fresh_conversation_cases_are_valid_cases_in_the_documented_format() -> None:
    cases = fresh_conversation_cases()
    for i, c in enumerate(cases):
        validate_case(c, f"case {i}")
    assert {c["kind"] for c in cases} == {"edit", "conversation"}
