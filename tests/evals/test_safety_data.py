"""The red-team set's split stays honest: held-out pairs are never trained on, public sets never enter."""

from __future__ import annotations

import contextlib
import csv
import io
from pathlib import Path

import pytest

from limner.evals.safety_data import (
    HELDOUT_FILE,
    PAIRS_FILE,
    TRAIN_EXTRA_FILE,
    TRAIN_FILE,
    build,
    read_jsonl,
    read_pairs,
    split,
)
from limner.safety.normalize import normalize

BENCH = Path(__file__).resolve().parents[3] / "shared" / "benchmarks"


def test_no_held_out_pair_or_prompt_is_in_the_training_file() -> None:
    train, held = read_jsonl(TRAIN_FILE), read_jsonl(HELDOUT_FILE)
    assert len(train) + len(held) >= 600  # the minimum size of the red-team set
    pairs_train = {r["pair"] for r in train if r["pair"] >= 0}
    pairs_held = {r["pair"] for r in held if r["pair"] >= 0}
    assert not pairs_train & pairs_held
    seen = {normalize(r["prompt"]) for r in train}
    leaked = [r["prompt"] for r in held if normalize(r["prompt"]) in seen]
    assert leaked == []


def test_training_only_pairs_never_reach_the_held_out_file() -> None:
    extra = read_pairs(TRAIN_EXTRA_FILE, first_id=10_000)
    held = {normalize(r["prompt"]) for r in read_jsonl(HELDOUT_FILE)}
    for p in extra:
        for text in (p.block, p.allow):
            assert text is None or normalize(text) not in held, text


@pytest.mark.parametrize("name", ["xstest_prompts.csv", "i2p_prompts.csv"])
@pytest.mark.parametrize("training", ["safety_redteam_train.jsonl", "safety_seeds_train.jsonl",
                                      "safety_fresh_train.jsonl"])
def test_public_benchmarks_are_not_in_the_training_files(name: str, training: str) -> None:
    path = BENCH / name
    if not path.exists():
        pytest.skip(f"{path} is not in this checkout")
    with path.open(encoding="utf-8", newline="") as f:
        public = {normalize(r["prompt"]) for r in csv.DictReader(f)}
    train = {normalize(r["prompt"]) for r in read_jsonl(TRAIN_FILE.parent / training)}
    assert not train & public


def test_split_is_by_pair_and_every_block_has_an_obfuscated_variant() -> None:
    pairs = read_pairs(PAIRS_FILE)
    recs = build(pairs)
    train, held = split(recs, pairs)
    assert len(train) + len(held) == len(recs)
    by_pair: dict[int, set[str]] = {}
    for side, rs in (("train", train), ("held", held)):
        for r in rs:
            by_pair.setdefault(r["pair"], set()).add(side)
    assert all(len(s) == 1 for s in by_pair.values())
    plain_blocks = {r["prompt"] for r in recs if r["variant"] == "plain" and r["label"] == "block"}
    obf_of = {r["plain"] for r in recs if r["variant"].startswith("obf_") and r["label"] == "block"}
    assert plain_blocks <= obf_of
    # Every category is on both sides, so the held-out figures exist per category.
    cats = {r["category"] for r in recs}
    assert cats == {r["category"] for r in train} == {r["category"] for r in held}


def test_malformed_pair_line_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "pairs.txt"
    bad.write_text("# header\nsexual | only two fields\n")
    with pytest.raises(ValueError, match=r"pairs.txt:2: expected 'category \| block \| allow'"):
        read_pairs(bad)


def test_question_batch_is_split_on_its_own_and_never_leaks() -> None:
    from limner.evals.safety_data import QUESTION_WRAPPERS, QUESTIONS_FILE, QUESTIONS_FIRST_ID, SEED

    first = read_pairs(PAIRS_FILE)
    questions = read_pairs(QUESTIONS_FILE, first_id=QUESTIONS_FIRST_ID)
    assert min(p.id for p in questions) == QUESTIONS_FIRST_ID > max(p.id for p in first)
    # The first batch's split does not depend on the second: adding questions moved no earlier pair.
    _, held_first = split(build(first), first)
    held_ids = {r["pair"] for r in read_jsonl(HELDOUT_FILE) if 0 <= r["pair"] < QUESTIONS_FIRST_ID}
    assert {r["pair"] for r in held_first} == held_ids
    # The question batch is on both sides, by pair, and its held-out part is in the held-out file.
    qrecs = build(questions, seed=SEED + 11, wrappers=QUESTION_WRAPPERS)
    qtrain, qheld = split(qrecs, questions, seed=SEED + 11)
    assert qtrain and qheld
    assert not {r["pair"] for r in qtrain} & {r["pair"] for r in qheld}
    held_prompts = {r["prompt"] for r in read_jsonl(HELDOUT_FILE)}
    train_prompts = {r["prompt"] for r in read_jsonl(TRAIN_FILE)}
    assert {r["prompt"] for r in qheld} <= held_prompts
    assert not {r["prompt"] for r in qheld} & train_prompts


def test_the_blind_held_out_set_never_reaches_training() -> None:
    """The blind dev sets train the prompt head (they are people's phrasings); the held-out sets never do."""
    from limner.evals import train_safety_head
    from limner.evals.safety_data import (
        BLIND_CHECK_FILE,
        BLIND_DEV_FILE,
        BLIND_HELDOUT_FILE,
        SEEDS_FILE,
        TWINS_FILE,
    )
    from limner.evals.safety_families import FILES

    sources = tuple(train_safety_head.training_files())
    assert set(sources) == {TRAIN_FILE, SEEDS_FILE, TWINS_FILE, FILES["train"], BLIND_DEV_FILE}
    train = {normalize(r["prompt"]) for p in sources for r in read_jsonl(p)}
    held_recs = read_jsonl(BLIND_HELDOUT_FILE)
    held = [normalize(r["prompt"]) for r in held_recs]
    assert len(held) >= 1500 and {r["set"] for r in held_recs} == {6, 7, 10, 16, 22, 28, 30}
    assert not {r["set"] for r in held_recs} & {r["set"] for r in read_jsonl(BLIND_DEV_FILE)}
    assert [p for p in held if p in train] == []
    # The check halves (chosen between recipes) are never trained on either, nor shared with the held-out sets.
    check = [normalize(r["prompt"]) for r in read_jsonl(BLIND_CHECK_FILE)]
    assert len(check) >= 300 and [p for p in check if p in train or p in held] == []
    # The trainer's default data are exactly those files: its --help names them, and not the held-out file.
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        train_safety_head.main(["--help"])
    text = " ".join(out.getvalue().split())
    assert all(p.name in text for p in sources) and BLIND_HELDOUT_FILE.name not in text
    assert BLIND_CHECK_FILE.name not in text

