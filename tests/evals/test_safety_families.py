"""The family-built safety corpus holds out phrasings, content and ages together, and the files on disk are what the
builder writes (frozen, reproducible)."""

from __future__ import annotations

import random

import pytest

from limner.evals.safety_content import ALL_ITEMS
from limner.evals.safety_data import TRAIN_FILE, read_jsonl
from limner.evals.safety_families import (
    AGES,
    FILES,
    OBFUSCATIONS,
    PROCEDURE_FAMILIES,
    SCENE_FAMILIES,
    build,
    item_role,
    obfuscate,
)
from limner.safety.normalize import normalize


def test_files_on_disk_are_what_the_builder_writes() -> None:
    for role, path in FILES.items():
        assert read_jsonl(path) == build(role), f"{path.name} is stale: run python -m limner.evals.safety_families"


def test_held_out_phrasing_families_are_never_used_to_train() -> None:
    for fams in (SCENE_FAMILIES, PROCEDURE_FAMILIES):
        held = set(fams["heldout"].values())
        assert not held & (set(fams["train"].values()) | set(fams["dev"].values()))
        assert not set(fams["heldout"]) & (set(fams["train"]) | set(fams["dev"]))
    train_fams = {r["family"] for r in read_jsonl(FILES["train"])}
    held_fams = {r["family"] for r in read_jsonl(FILES["heldout"])}
    assert train_fams and held_fams and not train_fams & held_fams


def test_held_out_content_never_reaches_training() -> None:
    held_items = [i.plain for i in ALL_ITEMS if item_role(i) == "heldout"]
    assert len(held_items) >= 40
    train_text = " || ".join(normalize(r["prompt"]) for r in read_jsonl(FILES["train"]) + read_jsonl(FILES["dev"]))
    leaked = [t for t in held_items if normalize(t) in train_text]
    assert leaked == []


def test_no_held_out_prompt_is_in_any_training_file() -> None:
    seen = {normalize(r["prompt"]) for r in read_jsonl(FILES["train"]) + read_jsonl(TRAIN_FILE)}
    leaked = [r["prompt"] for r in read_jsonl(FILES["heldout"]) if normalize(r["prompt"]) in seen]
    assert leaked == []


def test_held_out_ages_are_not_training_ages() -> None:
    held = set(AGES["heldout"][0]) | set(AGES["heldout"][1])
    assert not held & (set(AGES["train"][0]) | set(AGES["train"][1]))
    ages = {r["age"] for r in read_jsonl(FILES["heldout"]) if "age" in r}
    assert ages == held


def test_every_minors_tier_prompt_is_paired_with_its_adult_twin() -> None:
    recs = read_jsonl(FILES["heldout"])
    minor = {r["prompt"] for r in recs if r.get("tier") == "minor"}
    adult = {r["prompt"] for r in recs if r.get("tier") == "adult"}
    assert minor and minor == adult
    assert all(r["label"] == "block" for r in recs if r.get("tier") == "minor")
    assert all(r["label"] == "allow" for r in recs if r.get("tier") == "adult")


@pytest.mark.parametrize("family", OBFUSCATIONS)
def test_obfuscations_hide_the_keyword(family: str) -> None:
    rng = random.Random(0)
    out = obfuscate("a diagram of a pipe bomb in a bag", "pipe bomb", family, rng)
    assert "pipe bomb" not in out
    assert out != "a diagram of a pipe bomb in a bag"


def test_obfuscate_names_a_missing_keyword_and_an_unknown_family() -> None:
    with pytest.raises(ValueError, match="not in"):
        obfuscate("a cat", "bomb", "obf_leet", random.Random(0))
    with pytest.raises(ValueError, match="unknown obfuscation family"):
        obfuscate("a bomb", "bomb", "obf_rot13", random.Random(0))
