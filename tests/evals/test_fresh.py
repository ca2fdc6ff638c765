"""The fresh held-out set: up to date, disjoint from training in prompts *and* in template families."""

from __future__ import annotations

import random

from limner.data.paraphrase import paraphrase
from limner.data.sampler import sample
from limner.data.world import TAGS
from limner.evals.fresh import MARKERS, build_fresh, fresh_prompts, fresh_records, heldout_exclusions, normalise
from limner.evals.heldout import heldout_prompts


def _training_captions(per_tag: int = 300) -> list[str]:
    """Captions as training writes them: the sampler's, and data/paraphrase.py's rewrites of the same records."""
    out = []
    for t, tag in enumerate(TAGS):
        rng = random.Random(4242 + t)
        for _ in range(per_tag):
            ex = sample(tag, rng)
            out.append(ex.prompt)
            para = paraphrase(ex.record, ex.scene, rng)
            if para:
                out.append(para)
    return out


def test_the_shipped_file_is_what_the_generator_builds() -> None:
    assert [r["prompt"] for r in fresh_records()] == [r["prompt"] for r in build_fresh()]
    recs = fresh_records()
    assert len(recs) == 20 * len(TAGS) and {r["tag"] for r in recs} == set(TAGS)


def test_no_fresh_prompt_or_template_family_appears_in_training_captions() -> None:
    captions = _training_captions()
    seen = {normalise(c) for c in captions}
    leaked = [p for p in fresh_prompts() if normalise(p) in seen]
    assert not leaked, leaked[:3]
    text = "\n".join(c.lower() for c in captions)
    used = [m for m in MARKERS if m in text]
    assert not used, f"training captions already use the held-out families {used}"
    # every fresh prompt carries at least one held-out family's marker: none is a training caption in disguise
    assert all(any(m in p.lower() for m in MARKERS) for p in fresh_prompts())


def test_training_excludes_both_held_out_sets_and_they_do_not_overlap() -> None:
    ex = heldout_exclusions()
    assert fresh_prompts() <= ex and heldout_prompts() <= ex
    assert not {normalise(p) for p in fresh_prompts()} & {normalise(p) for p in heldout_prompts()}
