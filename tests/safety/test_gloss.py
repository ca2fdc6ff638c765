from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from limner.safety.gloss import HEAD_KEEPS, TABLE_PATH, Gloss, GlossError, load
from limner.safety.normalize import normalize
from limner.safety.policy import PolicyError, load_policy
from limner.safety.stack import SafetySettings, SafetyStack

TABLE = {
    "es": {"desnud*": "naked", "sin ropa": "naked", "niña": "girl", "pistola": "pistol"},
    "ko": {"옷을 벗*": "undress"},
    "zh": {"裸体": "naked"},
}
ENGLISH = frozenset({"a", "photo", "of", "the", "woman", "with", "paella", "plate"})


def gloss(text: str, keep: frozenset[str] = frozenset()) -> str | None:
    return Gloss.from_table(TABLE, ENGLISH).read(normalize(text), keep=keep)


def test_words_stems_phrases_and_unspaced_keys() -> None:
    assert gloss("Una mujer desnudísima") == "una mujer naked"  # a stem, after accents fold
    assert gloss("mujer sin ropa en la playa") == "mujer naked en la playa"  # a phrase, as whole words
    assert gloss("옷을 벗고 있는 여자") == "undress 있는 여자"  # a phrase whose last word is a stem
    assert gloss("裸体女孩照片") == "naked 女孩照片"  # Chinese keys match inside the text


def test_keep_leaves_those_glosses_as_written() -> None:
    assert gloss("una niña con una pistola") == "una girl con una pistol"
    assert gloss("una niña con una pistola", keep=frozenset({"girl"})) == "una nina con una pistol"


def test_english_prompts_and_unknown_text_are_not_glossed() -> None:
    assert gloss("a photo of the woman with a plate of paella") is None  # mostly English words
    assert gloss("una casa roja") is None  # nothing the table knows
    assert gloss("") is None


@pytest.mark.parametrize(
    "table,named",
    [
        ({"es": ["desnudo"]}, "gloss['es']"),
        ({"es": {"¿?": "naked"}}, "gloss['es']['¿?']"),
        ({"es": {"desnudo": "!!"}}, "gloss['es']['desnudo']"),
        ({"es": {"d*": "naked"}}, "gloss['es']['d*']"),
        ({"es": {"desnudo": 3}}, "gloss['es']['desnudo']"),
    ],
)
def test_malformed_entries_are_named(table: dict[str, object], named: str) -> None:
    with pytest.raises(GlossError, match=re.escape(named)):
        Gloss.from_table(table)  # type: ignore[arg-type]


def test_a_file_that_cannot_be_read_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "gloss.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(GlossError, match="gloss.json"):
        load(bad)
    with pytest.raises(GlossError, match="missing.json"):
        load(tmp_path / "missing.json")


def test_the_shipped_table_compiles_and_covers_many_languages() -> None:
    table = json.loads(TABLE_PATH.read_text(encoding="utf-8"))
    assert len(table) >= 30 and all(len(entries) >= 100 for entries in table.values())
    g = load(TABLE_PATH)
    assert len(g) > 10_000
    # The words the head reads as written are words the table really glosses.
    assert {"child", "girl", "boy", "teenager", "baby"} <= HEAD_KEEPS & {
        en for entries in table.values() for en in entries.values()
    }


def rules_stack(policy: str | Path | None = None) -> SafetyStack:
    return SafetyStack.from_policy(policy, SafetySettings(record=False, images=False, classifier=False))


def test_rules_read_the_gloss_of_a_prompt_in_another_language() -> None:
    s = rules_stack()
    d = s.check_prompt("fotografía realista de una mujer completamente desnuda, porno")
    assert not d.allowed and "sexual" in d.categories
    req = s._request("fotografía realista de una mujer completamente desnuda", "prompt", None, "auto", None)
    assert req.gloss is not None and "naked" in req.gloss.split()
    # An English prompt is read as written: no gloss, no extra reading.
    req = s._request("a plate of paella on a wooden table", "prompt", None, "auto", None)
    assert req.gloss is None and req.head_gloss is None


def test_the_head_reads_people_as_written() -> None:
    s = rules_stack()
    req = s._request("niños jugando con pistolas de agua en el jardín", "prompt", None, "auto", None)
    assert req.gloss is not None and "child" in req.gloss.split()
    assert req.head_gloss is not None and "child" not in req.head_gloss.split() and "ninos" in req.head_gloss


def test_a_policy_can_turn_the_gloss_off_or_name_its_own(tmp_path: Path) -> None:
    off = tmp_path / "off.yaml"
    off.write_text("extends: default\ngloss: false\n", encoding="utf-8")
    assert load_policy(off).gloss is None and rules_stack(off).gloss is None
    own = tmp_path / "own.yaml"
    (tmp_path / "mine.json").write_text(json.dumps({"es": {"pistola": "pistol"}}), encoding="utf-8")
    own.write_text("extends: default\ngloss: mine.json\n", encoding="utf-8")
    s = rules_stack(own)
    assert s.gloss is not None and len(s.gloss) == 1
    bad = tmp_path / "bad.yaml"
    bad.write_text("extends: default\ngloss: 3\n", encoding="utf-8")
    with pytest.raises(PolicyError, match="gloss"):
        load_policy(bad)
