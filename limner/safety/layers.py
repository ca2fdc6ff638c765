"""The safety layers. Each takes a `Request` and returns one `Verdict`; the stack lists them in order.

Prompt-stage layers read the normalised prompt; image-stage layers read `Request.images` and leave
signals (nudity scores, person label) in `Request.signals` for the output monitor, which runs last.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any, Protocol

from PIL import Image

from limner.safety.audit import AuditStore
from limner.safety.classifier import PromptClassifier
from limner.safety.normalize import normalize
from limner.safety.optout import OptOutRegistry
from limner.safety.policy import Policy
from limner.safety.verdict import Verdict


@dataclass
class Request:
    """One request as the layers see it: raw and normalised prompt, age tier, images, and `signals` that earlier
    layers leave for later ones."""

    prompt: str
    normalised: str
    stage: str  # prompt | input | output
    age: int | None
    minor: bool
    low: bool
    user: str | None
    images: list[Image.Image] = field(default_factory=list)
    views: list[str] = field(default_factory=list)  # extra normalised readings (see normalize.views)
    gloss: str | None = None  # English gloss of a prompt in another language, for rules (see gloss.py)
    head_gloss: str | None = None  # the gloss the classifier reads: words for people left as written
    signals: dict[str, Any] = field(default_factory=dict)


class Layer(Protocol):
    """What the stack calls: a `name` (reported in verdicts) and `check`."""

    name: str

    def check(self, req: Request) -> Verdict:
        """Judge one request: an allowing or refusing Verdict. A check that raises is turned into a `system`
        refusal by the stack (fail closed)."""


def ok(layer: str, reason: str = "no rule applies", scores: dict[str, float] | None = None) -> Verdict:
    """An allowing verdict from `layer` (no category or rule)."""
    return Verdict(True, layer, None, None, scores or {}, reason)


def refuse(layer: str, category: str, rule: str | None, reason: str, scores: dict[str, float] | None = None) -> Verdict:
    """A refusing verdict from `layer`, naming the policy `category` and `rule` that fired."""
    return Verdict(False, layer, category, rule, scores or {}, reason)


# ---------------------------------------------------------------- request-level gates (cheapest)


class AgeGate:
    """Refuses users younger than the policy's `age.min_age`."""

    name = "age"

    def __init__(self, policy: Policy) -> None:
        self.policy = policy

    def check(self, req: Request) -> Verdict:
        """Refused (`age_gate`) when the stated age is under min_age; otherwise allowed, the reason naming the tier
        (no age given: adult rules)."""
        if req.age is not None and req.age < self.policy.min_age:
            return refuse(
                self.name,
                "age_gate",
                "age.min_age",
                f"users under {self.policy.min_age} may not use image generation (age {req.age})",
            )
        tier = "unknown (adult rules)" if req.age is None else ("minor" if req.minor else "adult")
        return ok(self.name, f"age tier: {tier}")


class MisuseGate:
    """Refuses users the audit store has suspended for repeated violations."""

    name = "misuse"

    def __init__(self, audit: AuditStore | None) -> None:
        self.audit = audit

    def check(self, req: Request) -> Verdict:
        """Refused (`misuse`) when the user is suspended; a flagged user, or no user or audit store: allowed."""
        if not req.user or self.audit is None:
            return ok(self.name, "no user to check")
        st = self.audit.misuse(req.user)
        if st.status == "suspended":
            return refuse(
                self.name,
                "misuse",
                "misuse.suspend_at",
                f"user {req.user!r} is suspended after repeated violations (score {st.score:g})",
                {"misuse_score": st.score},
            )
        return ok(self.name, f"misuse status {st.status}", {"misuse_score": st.score})


# ---------------------------------------------------------------- prompt layers


class RulesLayer:
    """Policy rules with context, on the normalised prompt."""

    name = "prompt.rules"

    def __init__(self, policy: Policy) -> None:
        self.policy = policy

    def fired(self, texts: list[str], *, minor: bool, low: bool) -> list[str]:
        """Ids of the pattern rules that fire on any of `texts`, in policy order; relaxable rules are skipped for
        an adult with moderation=low."""
        out = []
        for r in self.policy.rules:
            if r.kind != "pattern" or (low and r.relaxable and not minor):
                continue
            if any(r.fires(t, minor=minor) for t in texts):
                out.append(r.id)
        return out

    def exempted(self, texts: list[str], *, minor: bool) -> set[str]:
        """Categories whose topic appears together with one of the policy's allowed contexts.

        A rule whose first group matches but whose `unless` exception also matches ("sarin" with
        "treatment", "isis" with "fall of") marks its category as explicitly in an allowed context; the
        learned classifier may not refuse that category on its own (human-written context wins).
        """
        out: set[str] = set()
        for r in self.policy.rules:
            if r.kind != "pattern" or not r.unless or (minor and not r.minor_exceptions):
                continue
            for t in texts:
                if r.match[0].search(t) and any(u.search(t) for u in r.unless):
                    out.add(r.category)
                    break
        return out

    def check(self, req: Request) -> Verdict:
        """Refused by the first rule that fires on the prompt or any of its readings (the others listed in the reason).
        Also leaves the context-exempt categories in `signals` for the classifier layer."""
        texts = [req.normalised, *req.views, *([req.gloss] if req.gloss else [])]
        req.signals["context_exempt"] = self.exempted(texts, minor=req.minor)
        fired = self.fired(texts, minor=req.minor, low=req.low)
        if not fired:
            return ok(self.name)
        r = self.policy.rule(fired[0])
        also = f" (also: {', '.join(fired[1:])})" if len(fired) > 1 else ""
        return refuse(
            self.name,
            r.category,
            r.id,
            f"{r.description} Not allowed: {r.disallowed}{also}",
            {"rules_fired": float(len(fired))},
        )


class StyleLayer:
    """Refuses requests for a living artist's style (names from `styles.living_artists`)."""

    name = "prompt.styles"
    _DEPICT = (
        r"(?:portrait|photo|photograph|picture|image|drawing|painting|caricature|statue|bust|interview|biography) of "
        r"(?:the (?:artist|painter|illustrator) )?"
    )

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        names = sorted({normalize(a) for a in policy.living_artists if normalize(a)}, key=len, reverse=True)
        self.names = names
        if names:
            alt = "|".join(re.escape(n) for n in names)
            before = "|".join(policy.style_cues_before) or "style of"
            after = "|".join(policy.style_cues_after) or "s? style"
            self.cued = re.compile(
                rf"(?<![a-z0-9])(?:(?:{before}) (?:the (?:artist|painter|illustrator) )?({alt})(?![a-z0-9])"
                rf"|({alt})(?:{after})(?![a-z0-9]))"
            )
            self.bare = re.compile(rf"(?<![a-z0-9])({alt})(?![a-z0-9])")
            self.depict = re.compile(rf"(?<![a-z0-9]){self._DEPICT}({alt})(?![a-z0-9])")
        rule = [r for r in policy.rules if r.kind == "style"]
        self.rule = rule[0] if rule else None

    def check(self, req: Request) -> Verdict:
        """Refused (`styles`) when a living artist is named as a style ('in the style of X', 'X style'), or named bare
        in a prompt that does not depict the artist (a portrait of X is allowed)."""
        if not self.names or self.rule is None:
            return ok(self.name, "no living-artist list")
        t = req.normalised
        m = self.cued.search(t)
        who = (m.group(1) or m.group(2)) if m else None
        if who is None:
            # A bare name in a prompt is a style request unless the prompt depicts the artist as a person.
            b = self.bare.search(t)
            if b and not self.depict.search(t):
                who = b.group(1)
        if who is None:
            return ok(self.name)
        return refuse(
            self.name,
            self.rule.category,
            self.rule.id,
            f"images in the style of a living artist ({who}) are refused; name a movement, a technique "
            f"or an artist who has died instead",
        )


class OptOutNameLayer:
    """Refuses prompts that name someone in the opt-out registry, by name or alias."""

    name = "prompt.optout"

    def __init__(self, policy: Policy, registry: OptOutRegistry | None) -> None:
        self.registry = registry
        rule = [r for r in policy.rules if r.kind == "optout"]
        self.rule = rule[0] if rule else None

    def check(self, req: Request) -> Verdict:
        """Refused by the policy's `optout` rule when the normalised prompt names a registered person; allowed when
        there is no registry or no such rule."""
        if self.registry is None or self.rule is None:
            return ok(self.name, "no opt-out registry")
        who = self.registry.match_text(req.normalised)
        if who is None:
            return ok(self.name)
        return refuse(self.name, self.rule.category, self.rule.id, f"{who} has opted out of being depicted")


def over_threshold(policy: Policy, scores: dict[str, float], *, minor: bool, low: bool,
                   exempt: Collection[str] = ()) -> str | None:
    """The category whose score exceeds its tier's threshold by the most, or None: the classifier's decision
    from its scores (context-exempt categories and the policy's unknown ones skipped)."""
    worst, worst_margin = None, -1.0
    for cat, p in scores.items():
        if cat == "allow" or cat not in policy.categories or cat in exempt:
            continue
        th = policy.threshold(cat, minor=minor, low=low)
        # a threshold of 1.0 switches the head off for that tier (a float32 softmax can round to 1.0)
        if th < 1.0 and p >= th and p - th > worst_margin:
            worst, worst_margin = cat, p - th
    return worst


def head_readings(req: Request) -> list[str]:
    """Every reading of the prompt the classifier scores: the normalised views and the head's gloss."""
    out = [req.normalised, *req.views]
    if req.head_gloss and req.head_gloss not in out:
        out.append(req.head_gloss)
    return out


class ClassifierLayer:
    """The learned head on MiniLM embeddings: a backstop for paraphrases the rules do not name."""

    name = "prompt.classifier"

    def __init__(self, policy: Policy, classifier: PromptClassifier) -> None:
        self.policy = policy
        self.classifier = classifier

    def check(self, req: Request) -> Verdict:
        """Refused in the category that exceeds its tier's threshold by the most (a category's score is its highest
        over the prompt's readings; context-exempt categories are skipped). Scores are reported either way."""
        # Score every reading of the prompt; a category's score is its highest over the readings.
        all_scores = self.classifier.scores(head_readings(req))
        scores = {
            k: max(s[k] for s in all_scores) if k != "allow" else min(s[k] for s in all_scores) for k in all_scores[0]
        }
        worst = over_threshold(self.policy, scores, minor=req.minor, low=req.low,
                               exempt=req.signals.get("context_exempt", set()))
        if worst is None:
            return ok(self.name, "below every category threshold", scores)
        return refuse(
            self.name,
            worst,
            f"classifier.{worst}",
            f"the prompt classifier scores this as {worst} ({scores[worst]:.2f} >= "
            f"{self.policy.threshold(worst, minor=req.minor, low=req.low):.2f})",
            scores,
        )


# ---------------------------------------------------------------- image layers


class MonitorLayer:
    """The policy monitor: combines the prompt's context with what the image layers saw.

    Blocks a photorealistic child with any sexual or suggestive context; a photorealistic person with gore in
    the prompt (this also catches a prompt let through as "cartoon" or "illustration" whose image turns out to
    be a photo); and a photorealistic person with a real-person term and a harm term together.
    """

    name = "image.monitor"

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self._sexual = self._pat("sex_acts", "nudity")
        self._gore = self._pat("gore")
        self._realpeople = self._pat("public_person", "private_person")
        self._harm = self._pat("harm_to_person", "compromising")

    def _pat(self, *lexicons: str) -> re.Pattern[str] | None:
        from limner.safety.policy import _compile_terms

        terms = self.policy.raw.get("terms") or {}
        if not all(x in terms for x in lexicons):
            return None
        lex = _compile_terms(terms)
        return re.compile(r"(?<![a-z0-9])(?:" + "|".join(lex[x] for x in lexicons) + r")(?![a-z0-9])")

    def check(self, req: Request) -> Verdict:
        """Refused when the person signals and the prompt add up to a violation: a photorealistic child with sexual
        terms, a photorealistic person with gore, or one with a real-person term and a harm term."""
        persons = req.signals.get("person") or []
        t = req.normalised
        photo_child = any(p.label == "child" for p in persons)
        photo_person = any(p.label in ("adult", "child") for p in persons)
        if photo_child and self._sexual is not None and self._sexual.search(t):
            return refuse(
                self.name,
                "child_safety",
                "cs.sexualised_minor",
                "a photorealistic child with sexual or suggestive context",
            )
        if photo_person and self._gore is not None and self._gore.search(t):
            return refuse(
                self.name,
                "violence",
                "vio.graphic_photoreal",
                "graphic violence with a photorealistic person in the image",
            )
        if (
            photo_person
            and self._realpeople is not None
            and self._harm is not None
            and self._realpeople.search(t)
            and self._harm.search(t)
        ):
            return refuse(
                self.name,
                "real_people",
                "rp.compromising_photoreal",
                "a photorealistic real person in a harmful or compromising situation",
            )
        return ok(self.name, "image consistent with policy given the prompt")
