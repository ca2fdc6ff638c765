"""The safety layers. Each takes a `Request` and returns one `Verdict`; the stack lists them in order.

Prompt-stage layers read the normalised prompt; image-stage layers read `Request.images` and leave
signals (nudity scores, person label) in `Request.signals` for the output monitor, which runs last.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Protocol

from PIL import Image

from limner.safety.audit import AuditStore
from limner.safety.classifier import PromptClassifier
from limner.safety.hashes import HashList
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
        texts = [req.normalised, *req.views]
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
        all_scores = self.classifier.scores([req.normalised, *req.views])
        scores = {
            k: max(s[k] for s in all_scores) if k != "allow" else min(s[k] for s in all_scores) for k in all_scores[0]
        }
        worst, worst_margin = None, -1.0
        exempt = req.signals.get("context_exempt", set())
        for cat, p in scores.items():
            if cat == "allow" or cat not in self.policy.categories or cat in exempt:
                continue
            th = self.policy.threshold(cat, minor=req.minor, low=req.low)
            if p >= th and p - th > worst_margin:
                worst, worst_margin = cat, p - th
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


class ImageSizeLayer:
    """Images already decoded by the caller still get the pixel budget check (fails closed)."""

    name = "image.size"

    def __init__(self, policy: Policy) -> None:
        self.max_pixels = int(policy.image.get("max_pixels", 40_000_000))
        self.max_side = int(policy.image.get("max_side", 12_000))

    def check(self, req: Request) -> Verdict:
        """Refused (`system`) when any image is empty or over the pixel or per-side budget."""
        for i, im in enumerate(req.images):
            if im.width * im.height > self.max_pixels or max(im.size) > self.max_side or min(im.size) < 1:
                return refuse(
                    self.name,
                    "system",
                    "image.max_pixels",
                    f"image {i + 1} is {im.width}x{im.height}, outside the limit of {self.max_pixels} pixels",
                )
        return ok(self.name, f"{len(req.images)} image(s) within size limits")


class HashLayer:
    """Refuses images that match the operator's hash list of known-bad images."""

    name = "image.hashes"

    def __init__(self, hashes: HashList | None) -> None:
        self.hashes = hashes

    def check(self, req: Request) -> Verdict:
        """Refused on the first image close enough to a listed hash: `child_safety` when the entry's label mentions
        CSAM, else `sexual`. Allowed when no list is loaded."""
        if self.hashes is None or len(self.hashes) == 0:
            return ok(self.name, "no hash list loaded")
        for i, im in enumerate(req.images):
            label, dist = self.hashes.match(im)
            if label is not None:
                return refuse(
                    self.name,
                    "child_safety" if "csam" in label.lower() else "sexual",
                    "image.hash_match",
                    f"image {i + 1} matches a known-bad image on the hash list ({label}, distance {dist})",
                    {"hash_distance": float(dist)},
                )
        return ok(self.name, f"no match among {len(self.hashes)} hashes")


class NudityLayer:
    """Refuses images in which NudeNet finds one of the policy's exposed classes above the tier's threshold."""

    name = "image.nudity"

    def __init__(self, policy: Policy) -> None:
        cfg = policy.image.get("nudity") or {}
        self.classes = set(cfg.get("exposed_classes", []))
        th = cfg.get("thresholds", {"adult": 0.45, "minor": 0.3, "low": 0.6})
        self.th = th
        self._det: Any = None

    def detector(self) -> Any:
        """The NudeNet detector, created on first use; raises ModelUnavailable when nudenet is not installed."""
        if self._det is None:
            from limner.safety.classifier import ModelUnavailable

            try:
                from nudenet import NudeDetector
            except ImportError as e:
                raise ModelUnavailable(f"nudity model is not installed ({e.name})") from None
            self._det = NudeDetector()
        return self._det

    def scores(self, im: Image.Image) -> dict[str, float]:
        """The highest NudeNet score of each class detected in `im`."""
        import numpy as np

        bgr = np.ascontiguousarray(np.asarray(im.convert("RGB"))[:, :, ::-1])
        out: dict[str, float] = {}
        for d in self.detector().detect(bgr):
            out[d["class"]] = max(out.get(d["class"], 0.0), float(d["score"]))
        return out

    def check(self, req: Request) -> Verdict:
        """Refused (`sexual`) at the first image with an exposed class at or above the tier's threshold. Leaves each
        image's scores, up to that one, in `signals['nudity']`."""
        tier = "minor" if req.minor else ("low" if req.low else "adult")
        th = float(self.th[tier])
        worst: dict[str, float] = {}
        for i, im in enumerate(req.images):
            sc = self.scores(im)
            req.signals.setdefault("nudity", []).append(sc)
            exposed = {k: v for k, v in sc.items() if k in self.classes}
            worst = {**worst, **{f"img{i + 1}.{k}": v for k, v in exposed.items()}}
            hit = {k: v for k, v in exposed.items() if v >= th}
            if hit:
                k = max(hit, key=lambda x: hit[x])
                return refuse(
                    self.name,
                    "sexual",
                    "image.nudity",
                    f"image {i + 1} shows nudity ({k} {hit[k]:.2f} >= {th:.2f})",
                    worst,
                )
        return ok(self.name, "no exposed nudity detected", worst)


class PersonLayer:
    """Photorealistic-person classifier (none / adult / child) and the rules that depend on it."""

    name = "image.person"

    def __init__(self, policy: Policy) -> None:
        cfg = policy.image.get("person") or {}
        self.child_below = int(cfg.get("child_below_age", 22))
        self.photo_th = float(cfg.get("photo_threshold", 0.5))

    def check(self, req: Request) -> Verdict:
        """Labels every image none/adult/child into `signals['person']`; refuses only uploads (stage `input`) that show
        a photorealistic child."""
        from limner.safety.person import classify_person

        labels = []
        for im in req.images:
            r = classify_person(im, child_below_age=self.child_below, photo_threshold=self.photo_th)
            labels.append(r)
        req.signals["person"] = labels
        rank = {"none": 0, "adult": 1, "child": 2}
        top = max(labels, key=lambda r: rank[r.label]) if labels else None
        scores = {f"img{i + 1}.photo": r.photo_score for i, r in enumerate(labels)}
        scores.update({f"img{i + 1}.min_age": float(r.min_age) for i, r in enumerate(labels) if r.min_age is not None})
        if top is not None and top.label == "child" and req.stage == "input":
            return refuse(
                self.name,
                "child_safety",
                "cs.edit_photoreal_minor",
                "edits of images showing a photorealistic child are not allowed",
                scores,
            )
        return ok(self.name, f"photorealistic person: {top.label if top else 'none'}", scores)


class OptOutFaceLayer:
    """Refuses images that show the face of someone in the opt-out registry."""

    name = "image.optout"

    def __init__(self, registry: OptOutRegistry | None) -> None:
        self.registry = registry

    def check(self, req: Request) -> Verdict:
        """Matches the faces PersonLayer found in photorealistic images against the registered faces (or, when
        PersonLayer did not run, the faces found here); refused (`public_figures`) on a match. Allowed when no
        reference face is registered."""
        if self.registry is None or not self.registry.has_faces:
            return ok(self.name, "no reference faces registered")
        from limner.safety.faces import face_encodings

        persons = req.signals.get("person") or []
        for i, im in enumerate(req.images):
            faces = None  # None: detect here
            if i < len(persons):
                if persons[i].label == "none":  # not a photo, or no face in it
                    continue
                faces = persons[i].faces
            # else PersonLayer did not run (turned off in the policy): fail closed by finding the faces here
            who, dist = self.registry.match_faces(face_encodings(im, faces))
            if who is not None:
                return refuse(
                    self.name,
                    "public_figures",
                    "pf.optout",
                    f"image {i + 1} shows {who}, who has opted out of being depicted",
                    {"face_distance": dist},
                )
        return ok(self.name, "no registered face found")


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
