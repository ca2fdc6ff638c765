from collections import Counter

from limner.data.world import TAGS
from limner.evals.heldout import build_heldout, heldout_prompts, heldout_records
from limner.vision.records import validate_record


def test_shipped_heldout_set_is_reproducible_balanced_and_valid():
    recs = heldout_records()
    assert [r for r in recs] == build_heldout()
    assert len(recs) >= 300
    counts = Counter(r["tag"] for r in recs)
    assert set(counts) == set(TAGS) and min(counts.values()) >= 30
    prompts = heldout_prompts()
    assert len(prompts) == len(recs)
    for r in recs:
        validate_record(r)
    rephrased = [r for r in recs if r["phrasing"] == "heldout"]
    assert len(rephrased) >= 60
    assert {r["tag"] for r in rephrased} == set(TAGS)


def test_heldout_seed_matters():
    assert [r["prompt"] for r in build_heldout(seed=1, per_tag=2)] != [r["prompt"] for r in build_heldout(per_tag=2)]
