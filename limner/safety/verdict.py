"""What every safety layer returns (`Verdict`) and what the stack returns for one request (`Decision`).

A `Verdict` is one layer's opinion; a `Decision` is the stack's combined answer for one stage of one request.
The API maps a refused `Decision` to OpenAI's `moderation_blocked` error with `moderation_details()`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Stage = Literal["prompt", "input", "output", "chat"]
STAGES: tuple[str, ...] = ("prompt", "input", "output", "chat")


@dataclass
class Verdict:
    """One layer's judgement. `category`/`rule` name the policy entry that fired (None when allowed)."""

    allowed: bool
    layer: str
    category: str | None
    rule: str | None
    scores: dict[str, float]
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """The verdict as a JSON-ready dict, scores rounded to 4 places."""
        d = asdict(self)
        d["scores"] = {k: round(float(v), 4) for k, v in self.scores.items()}
        return d


@dataclass
class Decision:
    """The stack's answer for one stage: refused when any verdict refuses (the stack fails closed)."""

    allowed: bool
    stage: str
    verdicts: list[Verdict] = field(default_factory=list)
    decision_id: str | None = None  # id of the audit record, once stored

    def __post_init__(self) -> None:
        if self.stage not in STAGES:
            raise ValueError(f"stage must be one of {STAGES}, got {self.stage!r}")

    @classmethod
    def from_verdicts(cls, stage: str, verdicts: list[Verdict]) -> Decision:
        """The decision for `stage`: allowed only when every verdict allows (an empty list allows)."""
        return cls(allowed=all(v.allowed for v in verdicts), stage=stage, verdicts=list(verdicts))

    @property
    def categories(self) -> list[str]:
        """Categories of the refusing verdicts, in order, without repeats."""
        out: list[str] = []
        for v in self.verdicts:
            if not v.allowed and v.category and v.category not in out:
                out.append(v.category)
        return out

    @property
    def blocking(self) -> list[Verdict]:
        """The refusing verdicts, in layer order."""
        return [v for v in self.verdicts if not v.allowed]

    @property
    def reason(self) -> str:
        """The first refusing verdict's reason (the one a user is shown), or 'allowed'."""
        b = self.blocking
        return b[0].reason if b else "allowed"

    def to_dict(self) -> dict[str, Any]:
        """The decision as a JSON-ready dict, with its categories and, once stored, its `decision_id`."""
        return {
            "allowed": self.allowed,
            "stage": self.stage,
            "categories": self.categories,
            "verdicts": [v.to_dict() for v in self.verdicts],
            **({"decision_id": self.decision_id} if self.decision_id else {}),
        }

    def moderation_details(self) -> dict[str, Any]:
        """The `moderation_details` object of the API's `moderation_blocked` error: the stage, the categories, and
        the first refusing layer, its policy rule and reason, with the audit record's id when it was stored (look
        it up with `limner safety decisions`)."""
        b = self.blocking
        first = b[0] if b else None
        return {"stage": self.stage, "categories": self.categories, "reason": self.reason,
                "layer": first.layer if first else None, "rule": first.rule if first else None,
                "decision_id": self.decision_id}

    def merge(self, other: Decision) -> Decision:
        """Combine two stages' decisions (e.g. prompt then input): the first refusing stage names the result."""
        # The naming stage's audit record id travels with the result, so a refusal can be looked up.
        named = self if not self.allowed else other
        return Decision(allowed=self.allowed and other.allowed, stage=named.stage,
                        verdicts=self.verdicts + other.verdicts,
                        decision_id=named.decision_id or self.decision_id or other.decision_id)
