"""The safety stack: every layer, listed in one place, cheap checks first; fails closed; audited.

    stack = SafetyStack.from_policy()                  # shipped policy, default audit/opt-out paths
    d = stack.check_prompt("a red circle", age=30, user="key-1")
    d = stack.check_images([img], stage="input", prompt="make the sky pink")

A layer that raises (a missing model, a corrupt file) produces a refusing verdict with category
`system`: a required check that cannot run never lets a request through.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from limner.safety.audit import AuditError, AuditStore
from limner.safety.chat import ChatJudgeLayer
from limner.safety.classifier import PromptClassifier, PromptHead
from limner.safety.gloss import HEAD_KEEPS, Gloss
from limner.safety.gloss import load as load_gloss
from limner.safety.hashes import HashList, image_fingerprint
from limner.safety.image_layers import HashLayer, ImageSizeLayer, NudityLayer, OptOutFaceLayer, PersonLayer
from limner.safety.layers import (
    AgeGate,
    ClassifierLayer,
    Layer,
    MisuseGate,
    MonitorLayer,
    OptOutNameLayer,
    Request,
    RulesLayer,
    StyleLayer,
    head_readings,
    refuse,
)
from limner.safety.normalize import base_vocab, views
from limner.safety.optout import OptOutRegistry
from limner.safety.policy import POLICY_DIR, Policy, load_policy, policy_words
from limner.safety.verdict import Decision, Verdict

MODERATION_LEVELS: tuple[str, ...] = ("auto", "low")


def _policy_file(policy: Policy, name: str | Path) -> Path:
    """A file a policy names: absolute, beside the policy file, or else in the shipped policy folder."""
    p = Path(name)
    if p.is_absolute():
        return p
    beside = Path(policy.source).parent / p
    return beside if beside.exists() else POLICY_DIR / p


def default_home() -> Path:
    """limner's state folder: $LIMNER_HOME, else ~/.limner."""
    return Path(os.environ.get("LIMNER_HOME", Path.home() / ".limner"))


@dataclass
class SafetySettings:
    """Where the stack keeps its state and which optional parts run. Paths default under $LIMNER_HOME."""

    audit_path: str | Path | None = None  # SQLite file; ":memory:" for a throwaway store
    optout_path: str | Path | None = None
    hash_list: str | Path | None = None  # overrides policy image.hashes.list
    chat: bool | None = None  # overrides policy chat.enabled
    classifier: bool = True  # False = rules only (the eval's "rules" configuration)
    images: bool = True
    record: bool = True  # write decisions to the audit store

    def resolved(self) -> SafetySettings:
        """A copy with unset audit and opt-out paths filled in, under `default_home()/safety`."""
        home = default_home() / "safety"
        return SafetySettings(
            audit_path=self.audit_path if self.audit_path is not None else home / "audit.sqlite",
            optout_path=self.optout_path if self.optout_path is not None else home / "optout.sqlite",
            hash_list=self.hash_list,
            chat=self.chat,
            classifier=self.classifier,
            images=self.images,
            record=self.record,
        )


@dataclass
class SafetyStack:
    """The layers in order, with the policy, audit store and opt-out registry they share; built by `from_policy`."""

    policy: Policy
    settings: SafetySettings
    audit: AuditStore | None
    optout: OptOutRegistry | None
    prompt_layers: list[Layer] = field(default_factory=list)
    image_layers: list[Layer] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    vocab: frozenset[str] = field(default_factory=frozenset)  # words for re-splitting spaced-out letters
    words: frozenset[str] = field(default_factory=frozenset)  # the policy's own words, that split fragments join into
    gloss: Gloss | None = None  # English readings of prompts in other languages (policy `gloss:`)

    @classmethod
    def from_policy(cls, path: str | Path | None = None, settings: SafetySettings | None = None) -> SafetyStack:
        """Load a policy (None: the shipped one) and build the layers it enables, with its audit store, opt-out registry
        and hash list. Raises PolicyError, AuditError or HashListError for a bad file."""
        policy = load_policy(path)
        s = (settings or SafetySettings()).resolved()
        audit = None
        if s.record:
            m = policy.misuse
            assert s.audit_path is not None  # resolved() fills in the default
            audit = AuditStore(
                s.audit_path,
                weights=m.get("weights"),
                window_days=m.get("window_days", 30),
                flag_at=m.get("flag_at", 5.0),
                suspend_at=m.get("suspend_at", 15.0),
            )
        optout = OptOutRegistry(s.optout_path) if s.optout_path else None
        hashes_cfg = policy.image.get("hashes") or {}
        hl_path = s.hash_list or hashes_cfg.get("list")
        hashes = None
        if hl_path and hashes_cfg.get("enabled", True):
            hashes = HashList.load(
                hl_path,
                pdq_max=int(hashes_cfg.get("pdq_max_distance", 31)),
                phash_max=int(hashes_cfg.get("phash_max_distance", 8)),
            )
        words = policy_words(policy)
        stack = cls(policy=policy, settings=s, audit=audit, optout=optout, vocab=base_vocab() | words, words=words)
        if s.chat is not None:
            policy.chat["enabled"] = bool(s.chat)
        if policy.gloss is not None:
            stack.gloss = load_gloss(_policy_file(policy, policy.gloss), english=base_vocab())
        clf_cfg = policy.classifier
        head = _policy_file(policy, clf_cfg.get("head", "heads/prompt_head.safetensors"))

        # ---- THE LAYERS, in order: cheap checks first. This is the one place they are listed. ----
        stack.prompt_layers = [
            AgeGate(policy),  # request-level: age tier
            MisuseGate(audit),  # suspended users
            RulesLayer(policy),  # policy rules with context (regex on the normalised prompt)
            StyleLayer(policy),  # living-artist styles
            OptOutNameLayer(policy, optout),  # opt-out registry, by name and alias
        ]
        if s.classifier and clf_cfg.get("enabled", True):
            stack.prompt_layers.append(ClassifierLayer(policy, PromptClassifier(head)))  # MiniLM + trained head
        stack.prompt_layers.append(ChatJudgeLayer(policy))  # optional LLM judge (off by default)
        img = policy.image
        stack.image_layers = [ImageSizeLayer(policy), HashLayer(hashes)]
        if s.images and img.get("enabled", True):
            if (img.get("nudity") or {}).get("enabled", True):
                stack.image_layers.append(NudityLayer(policy))
            if (img.get("person") or {}).get("enabled", True):
                stack.image_layers.append(PersonLayer(policy))
            stack.image_layers.append(OptOutFaceLayer(optout))
            stack.image_layers.append(MonitorLayer(policy))
        return stack

    # ------------------------------------------------------------------ public API

    def _request(
        self,
        prompt: str,
        stage: str,
        age: int | None,
        moderation: str,
        user: str | None,
        images: list[Image.Image] | None = None,
    ) -> Request:
        if not isinstance(prompt, str):
            raise TypeError(f"prompt must be a string, got {type(prompt).__name__}")
        if moderation not in MODERATION_LEVELS:
            raise ValueError(f"moderation must be one of {MODERATION_LEVELS}, got {moderation!r}")
        if age is not None and (not isinstance(age, int) or isinstance(age, bool) or not 0 <= age <= 150):
            raise ValueError(f"age must be an integer between 0 and 150, got {age!r}")
        minor = age is not None and age < self.policy.adult_age
        v = views(prompt, self.vocab, self.words)
        gloss = head_gloss = None
        if self.gloss is not None and (gloss := self.gloss.read(v[0])) is not None:
            head_gloss = self.gloss.read(v[0], keep=HEAD_KEEPS)
        return Request(
            prompt=prompt,
            normalised=v[0],
            stage=stage,
            age=age,
            minor=minor,
            low=(moderation == "low"),
            user=user,
            images=list(images or []),
            views=v[1:],
            gloss=gloss,
            head_gloss=head_gloss,
        )

    def _run(self, layers: list[Layer], req: Request, *, stop_early: bool) -> list[Verdict]:
        verdicts: list[Verdict] = []
        for layer in layers:
            try:
                v = layer.check(req)
            except Exception as e:  # fail closed: a check that cannot run refuses, with the reason
                v = refuse(
                    getattr(layer, "name", type(layer).__name__),
                    "system",
                    "system.layer_error",
                    f"required check {getattr(layer, 'name', '?')} could not run ({type(e).__name__}: {e}); refusing",
                )
            verdicts.append(v)
            if stop_early and not v.allowed:
                break
        return verdicts

    def _finish(self, d: Decision, req: Request, hashes: list[dict[str, str]], moderation: str) -> Decision:
        if self.audit is None:
            return d
        try:
            d.decision_id = self.audit.record(
                d,
                prompt=req.prompt,
                user=req.user,
                image_hashes=hashes,
                policy_version=self.policy.version,
                age=req.age,
                moderation=moderation,
            )
        except AuditError as e:
            v = refuse("audit", "system", "system.audit", f"decision could not be recorded ({e}); refusing")
            return Decision(allowed=False, stage=d.stage, verdicts=d.verdicts + [v])
        return d

    def check_prompt(
        self,
        prompt: str,
        *,
        age: int | None = None,
        moderation: str = "auto",
        user: str | None = None,
        full: bool = False,
    ) -> Decision:
        """Run the request gates and prompt layers. `full=True` runs every layer even after a refusal."""
        req = self._request(prompt, "prompt", age, moderation, user)
        verdicts = self._run(self.prompt_layers, req, stop_early=not full)
        stage = "chat" if verdicts and not verdicts[-1].allowed and verdicts[-1].layer == "chat" else "prompt"
        return self._finish(Decision.from_verdicts(stage, verdicts), req, [], moderation)

    def check_images(
        self,
        images: list[Image.Image],
        *,
        stage: str = "input",
        prompt: str = "",
        age: int | None = None,
        moderation: str = "auto",
        user: str | None = None,
        full: bool = False,
    ) -> Decision:
        """Run the image layers on uploaded (`stage="input"`) or generated (`stage="output"`) images."""
        if stage not in ("input", "output"):
            raise ValueError(f"stage must be 'input' or 'output', got {stage!r}")
        if not isinstance(images, list) or not all(isinstance(im, Image.Image) for im in images):
            raise TypeError("images must be a list of PIL.Image.Image")
        req = self._request(prompt, stage, age, moderation, user, images)
        gates = self._run(self.prompt_layers[:2], req, stop_early=True)  # age + misuse apply to every stage
        verdicts = (
            gates
            if not all(v.allowed for v in gates)
            else gates + self._run(self.image_layers, req, stop_early=not full)
        )
        d = Decision.from_verdicts(stage, verdicts)
        return self._finish(d, req, self._fingerprints(images) if self.audit is not None else [], moderation)

    def _fingerprints(self, images: list[Image.Image]) -> list[dict[str, str]]:
        """What the audit keeps of each image. An image over the pixel budget is not hashed: hashing a
        decompression bomb's pixels is the very cost the size check refuses to pay."""
        size = next((x for x in self.image_layers if isinstance(x, ImageSizeLayer)), None)
        fps: list[dict[str, str]] = []
        for im in images:
            if size is not None and (im.width * im.height > size.max_pixels or max(im.size) > size.max_side):
                fps.append({"size": f"{im.width}x{im.height}", "error": "over the pixel budget; not hashed"})
                continue
            try:
                fps.append(image_fingerprint(im))
            except Exception as e:  # the hash is what the audit keeps; without it, do not pretend
                fps.append({"error": f"{type(e).__name__}: {e}"})
        return fps

    def check(
        self,
        prompt: str,
        images: list[Image.Image] | None = None,
        *,
        age: int | None = None,
        moderation: str = "auto",
        user: str | None = None,
        stage: str = "input",
        full: bool = False,
    ) -> Decision:
        """Prompt layers, then (if allowed and images given) image layers; returns the combined decision."""
        d = self.check_prompt(prompt, age=age, moderation=moderation, user=user, full=full)
        if images and (d.allowed or full):
            d = d.merge(
                self.check_images(
                    images, stage=stage, prompt=prompt, age=age, moderation=moderation, user=user, full=full
                )
            )
        return d

    def head_readings(self, prompt: str) -> list[str]:
        """Every reading of `prompt` the classifier layer scores (normalised views and the head's gloss)."""
        return head_readings(self._request(prompt, "prompt", None, "auto", None))

    def prompt_head(self) -> PromptHead | None:
        """The classifier layer's head (loaded now), or None when the stack has no classifier layer."""
        for layer in self.prompt_layers:
            if isinstance(layer, ClassifierLayer):
                return layer.classifier.head
        return None

    def warm(self) -> None:
        """Load lazy models now (servers call this at start-up so the first request is not slow)."""
        for layer in self.prompt_layers:
            if isinstance(layer, ClassifierLayer):
                layer.classifier.warm()

    def close(self) -> None:
        """Close the audit store and the opt-out registry."""
        if self.audit:
            self.audit.close()
        if self.optout:
            self.optout.close()
