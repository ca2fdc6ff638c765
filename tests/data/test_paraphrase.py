import random

import pytest

from limner.data.paraphrase import paraphrase
from limner.data.sampler import sample
from limner.data.world import NUMBER_WORDS, PLURALS, TAGS
from limner.train.batches import SceneBatcher


def _mentions_colour(text: str, colour: str) -> bool:
    return colour.lower() in text.lower() or (colour == "gray" and "grey" in text)


@pytest.mark.parametrize("tag", TAGS)
def test_paraphrase_keeps_every_fact_the_record_scores(tag: str) -> None:
    rng = random.Random(11)
    for _ in range(40):
        ex = sample(tag, rng)
        p = paraphrase(ex.record, ex.scene, rng)
        assert p is not None and p == p.strip() and "  " not in p
        rec = ex.record
        for e in rec.get("include", []):
            n = e["count"]
            assert (PLURALS[e["class"]] if n > 1 else e["class"]) in p, (p, e)
            if n > 1:
                assert str(n) in p or NUMBER_WORDS[n] in p, (p, e)
            col = e.get("color") or e.get("hex")
            if col:
                assert _mentions_colour(p, col), (p, e)
        for cell in rec.get("grid", {}).get("cells", []):
            assert cell["class"] in p and _mentions_colour(p, cell["color"]), (p, cell)
        if "text" in rec:
            for line in rec["text"].split("\n"):
                assert f"'{line}'" in p or f'"{line}"' in p, (p, line)
        bg = rec.get("background")
        if bg == "transparent":
            assert any(w in p for w in ("transparent", "see-through", "no background", "clear")), p
        elif bg:
            assert _mentions_colour(p, bg), (p, bg)


def test_position_paraphrase_names_the_relation() -> None:
    rng = random.Random(3)
    words = {"left of": "left", "right of": "right", "above": ("above", "over"),
             "below": ("below", "under", "beneath")}
    for _ in range(60):
        ex = sample("position", rng)
        p = paraphrase(ex.record, ex.scene, rng)
        rel = next(e["position"][0] for e in ex.record["include"] if "position" in e)
        want = words[rel]
        assert any(w in p for w in ((want,) if isinstance(want, str) else want)), (p, rel)


def test_paraphrase_is_reproducible_and_skips_unknown_tags() -> None:
    ex = sample("two_object", random.Random(0))
    assert paraphrase(ex.record, ex.scene, random.Random(4)) == paraphrase(ex.record, ex.scene, random.Random(4))
    multi = sample("multi", random.Random(0))
    assert paraphrase({**multi.record, "tag": "multi"}, multi.scene, random.Random(0)) is None


def test_batcher_paraphrases_a_share_and_keeps_records_in_step() -> None:
    b = SceneBatcher(64, 0, mix={"two_object": 1.0}, paraphrase=1.0)
    plain = SceneBatcher(64, 0, mix={"two_object": 1.0})
    exs = b.examples((256, 256))
    assert all(ex.record["prompt"] == ex.prompt for ex in exs)
    assert {ex.prompt for ex in exs}.isdisjoint({ex.prompt for ex in plain.examples((256, 256))})
    with pytest.raises(ValueError, match="paraphrase must be in"):
        SceneBatcher(4, 0, paraphrase=-0.1)
