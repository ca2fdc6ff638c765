"""The learned instruction reader: what a chat turn asks for, read by a model rather than a grammar.

    reading = default_reader().read("could you make the star purple and move it left?")
    reading.action  -> "edit"            (edit | generate | undo | none)
    reading.ops     -> [EditOp(recolour, target=("star", None), color="purple"),
                        EditOp(move, target=(None, None), hint="it", position="left")]
    reading.source  -> "model"           (model | parser: what made the reading, for thinking mode's notes)

The model is the pretrained MiniLM sentence encoder (safety/minilm.py, frozen) read word by word, then small
trained heads (`ReaderEnsemble` of `ReaderHead`s, weights in limner/weights/reader.safetensors with their
config): each a transformer over the word states, a tag per word (data/instructions.py TAGS: the target, the
new colour, a position, ...) and the turn's action from a query slot told whether a picture is in view ("paint
the hexagon red" edits the picture in a chat and is a new picture as a one-off prompt); their probabilities
are averaged. `decode` turns the tags into EditOps; the only hand-written part is the lexicon that maps a tagged
word to world.md's names ("violet" -> purple, "up" -> top), never which words are the target or the new colour.
Where the best tagging of an edit names an object and asks nothing of it, the model's next most probable tagging
that completes the edit is taken (`complete_reading`: constrained decoding, one word read another way). The old
grammar (edits.parse_edit) stays as a fallback for a turn the model reads as an edit but whose ops neither
tagging completes.

Training: `python -m limner.train.reader` (data engine: data/instructions.py).
"""

from __future__ import annotations

import copy
import functools
import json
import math
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from limner.data.instructions import ACTIONS, TAGS, words_of
from limner.data.world import COLOR_ALIASES, COLORS, OBJECTS, PLURALS
from limner.studio.edits import EditError, EditOp, parse_edit

WEIGHTS = Path(__file__).resolve().parents[1] / "weights" / "reader.safetensors"
CLASS_WORDS: dict[str, str] = {**{o: o for o in OBJECTS}, **{PLURALS[o]: o for o in OBJECTS},
                               "dot": "circle", "ball": "circle", "box": "square", "moon": "crescent",
                               "bolt": "lightning bolt", "lightning": "lightning bolt", "infinity": "infinity sign",
                               "rhombus": "diamond", "x": "cross"}
COLOR_WORDS: dict[str, str] = {**{c: c for c in COLORS}, **COLOR_ALIASES, "violet": "purple", "magenta": "pink",
                               "navy": "blue", "teal": "cyan", "gold": "yellow", "golden": "yellow", "lime": "green",
                               "crimson": "red", "scarlet": "red", "turquoise": "cyan", "silver": "gray",
                               "aqua": "cyan", "lilac": "purple", "beige": "brown", "tan": "brown"}
# a destination's words -> world.md position (two-word phrases first)
POSITION_WORDS: dict[str, str] = {
    "top left": "top left", "upper left": "top left", "left top": "top left", "top right": "top right",
    "upper right": "top right", "right top": "top right", "bottom left": "bottom left", "lower left": "bottom left",
    "left bottom": "bottom left", "bottom right": "bottom right", "lower right": "bottom right",
    "right bottom": "bottom right", "center": "center", "centre": "center", "middle": "center", "left": "left",
    "right": "right", "top": "top", "bottom": "bottom", "up": "top", "down": "bottom", "upwards": "top",
    "downwards": "bottom", "upper": "top", "lower": "bottom", "leftwards": "left", "rightwards": "right",
}
DIRECTION_WORDS = ("up", "down", "upwards", "downwards", "upper", "lower", "leftwards", "rightwards")
HINTS = ("other", "left", "right", "top", "bottom", "upper", "lower", "first", "second", "last", "big", "small",
         "large", "little", "bigger", "smaller")
PRONOUNS = ("it", "that", "this", "them", "those", "these", "one", "same", "shape", "shapes", "object", "objects",
            "thing", "things", "figure", "symbol", "icon", "item")  # "remove the shape": the one in view


@dataclass(frozen=True)
class ReaderConfig:
    """The head's sizes, saved inside its weights file."""

    in_dim: int = 384  # MiniLM's hidden size
    dim: int = 192
    layers: int = 2
    heads: int = 4
    tags: tuple[str, ...] = TAGS
    actions: tuple[str, ...] = ACTIONS
    members: int = 1  # heads, each trained on its own sample of turns, whose probabilities are averaged


class ReaderHead(nn.Module):
    """One member: word states (B, W, in_dim) and a mask (B, W) -> tag logits (B, W, len(tags)), action
    logits (B, A)."""

    def __init__(self, cfg: ReaderConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.proj = nn.Linear(cfg.in_dim, cfg.dim)
        self.pos = nn.Embedding(64, cfg.dim)
        layer = nn.TransformerEncoderLayer(cfg.dim, cfg.heads, 4 * cfg.dim, dropout=0.1, batch_first=True,
                                           norm_first=True)
        self.enc = nn.TransformerEncoder(layer, cfg.layers, enable_nested_tensor=False)
        self.tag = nn.Linear(cfg.dim, len(cfg.tags))
        # the action is read from a query slot in front of the words, which attends to them in order (a mean of
        # the word states blurred "make the star purple", an edit, into "paint a purple star", a new picture),
        # and which knows whether a picture is in view: the same words are an edit with one and a prompt without
        self.query = nn.Parameter(torch.randn(1, 1, cfg.dim) * 0.02)
        self.context = nn.Embedding(2, cfg.dim)  # 0: no image in context, 1: an image in context
        self.act = nn.Linear(cfg.dim, len(cfg.actions))

    def forward(self, x: torch.Tensor, mask: torch.Tensor, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, W, in_dim), mask (B, W) of real words, image (B,) bool: a picture in view -> tag logits
        (B, W, tags), action logits (B, actions)."""
        b, w = x.shape[:2]
        h = self.proj(x) + self.pos(torch.arange(w).clamp(max=63))[None]  # (B, W, dim)
        q = self.query + self.context(image.long())[:, None]  # (B, 1, dim)
        h = torch.cat([q, h], 1)  # (B, 1 + W, dim)
        keep = torch.cat([torch.ones(b, 1, dtype=torch.bool), mask], 1)  # (B, 1 + W)
        h = self.enc(h, src_key_padding_mask=~keep)
        return self.tag(h[:, 1:]), self.act(h[:, 0])


class ReaderEnsemble(nn.Module):
    """`cfg.members` ReaderHeads read together: the log of their mean probabilities, per word (B, W, tags) and
    per turn (B, A). One head's reading of a rare phrasing depends on its seed (single heads trained alike
    disagreed on "could you make the star purple and move it left?"); the average is what they agree on."""

    def __init__(self, cfg: ReaderConfig) -> None:
        super().__init__()
        if cfg.members < 1:
            raise ValueError(f"a reader needs at least one member head, got members={cfg.members}")
        self.cfg = cfg
        self.members = nn.ModuleList(ReaderHead(cfg) for _ in range(cfg.members))

    def forward(self, x: torch.Tensor, mask: torch.Tensor, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, W, in_dim), mask (B, W), image (B,) -> mean-probability log tag (B, W, tags) and action (B, A)
        scores."""
        outs = [m(x, mask, image) for m in self.members]
        k = math.log(len(outs))
        tag = torch.stack([t.log_softmax(-1) for t, _ in outs]).logsumexp(0) - k  # (B, W, tags)
        act = torch.stack([a.log_softmax(-1) for _, a in outs]).logsumexp(0) - k  # (B, A)
        return tag, act


@dataclass
class Reading:
    """What a turn asks for: its action, the edits (for "edit"), what made the reading, and, when the turn
    cannot be done as read, the problem in words."""

    action: str  # edit | generate | undo | none
    ops: list[EditOp] = field(default_factory=list)
    source: str = "model"  # model | parser
    problem: str | None = None
    tags: list[tuple[str, str]] = field(default_factory=list)  # (word, tag) as the model read them

    @property
    def understood(self) -> bool:
        """The turn can be acted on: no problem, and an edit has ops."""
        return self.problem is None and (self.action != "edit" or bool(self.ops))


def _span_text(words: list[str]) -> str:
    return " ".join(words).replace(" 's", "'s")


def target_of(words: list[str]) -> tuple[tuple[str | None, str | None], str | None]:
    """((class, colour), hint) of a target's words: "the red star" -> ((star, red), None); "the left one" ->
    ((None, None), "left"); "it" -> ((None, None), "it"). Unknown words are ignored."""
    low = [w.lower() for w in words]
    cls = None
    for a, b in zip(low, [*low[1:], ""], strict=True):
        two = f"{a} {b}"
        if two in CLASS_WORDS and " " in CLASS_WORDS[two]:
            cls = CLASS_WORDS[two]
            break
        if a in CLASS_WORDS and cls is None:
            cls = CLASS_WORDS[a]
    color = next((COLOR_WORDS[w] for w in low if w in COLOR_WORDS), None)
    color = color or next((w.upper() for w in low if w.startswith("#") and len(w) == 7), None)
    hint = next((w for w in low if w in HINTS), None)
    if hint is None and cls is None and color is None and any(w in PRONOUNS for w in low):
        hint = "it"
    return (cls, color), hint


def position_of(words: list[str]) -> str | None:
    """The world position a destination's words name ("upper right corner" -> "top right"), else None."""
    low = [w.lower() for w in words if w.lower() in POSITION_WORDS]
    for a, b in zip(low, low[1:], strict=False):
        if f"{a} {b}" in POSITION_WORDS:
            return POSITION_WORDS[f"{a} {b}"]
    named = [w for w in low if w not in DIRECTION_WORDS]  # "down in the centre": the named place wins
    return POSITION_WORDS[(named or low)[0]] if low else None


def _clauses(words: list[str], tags: list[str]) -> list[list[tuple[str, str]]]:
    out: list[list[tuple[str, str]]] = [[]]
    for w, t in zip(words, tags, strict=True):
        if t == "SEP":
            if out[-1]:
                out.append([])
            continue
        out[-1].append((w, t))
    return [c for c in out if c]


def _words(clause: list[tuple[str, str]], tag: str) -> list[str]:
    return [w for w, t in clause if t == tag]


def decode(words: list[str], tags: list[str], action: str, seed: int = 0) -> Reading:
    """The Reading of tagged words: clauses split at SEP; in each, the ops its tags ask for, in the order they
    appear, sharing the clause's target (or the last clause's, when it names none). Pure."""
    from limner.studio.planner import (
        plan_prompt,  # a new object's phrase ("two small blue stars") as the planner reads it
    )

    pairs = list(zip(words, tags, strict=True))
    if action != "edit":
        return Reading(action, tags=pairs)
    ops: list[EditOp] = []
    last: tuple[tuple[str | None, str | None], str | None] = ((None, None), "it")
    for clause in _clauses(words, tags):
        tgt_words = _words(clause, "TGT")
        target = target_of(tgt_words) if tgt_words else last
        order = list(dict.fromkeys(t for _, t in clause if t not in ("O", "TGT")))
        made = sized = False
        for t in order:
            op: EditOp | None = None
            if t == "ADD":
                phrase = re.sub(r"^another\b", "a", _span_text(_words(clause, "ADD")).lower())
                plans = plan_prompt(phrase, seed).plans[0]
                if plans.objects:
                    new = plans.objects[0]
                    new.position = position_of(_words(clause, "POS"))
                    new.relation = None
                    op = EditOp("add", new=new, position=new.position)
            elif t == "BGCOL":
                color = target_of(_words(clause, "BGCOL"))[0][1]
                op = EditOp("background", color=color) if color else None
            elif t == "TEXT":
                text = [w.strip("'\"“”‘’") for w in _words(clause, "TEXT")]
                quoted = [w for w, raw in zip(text, _words(clause, "TEXT"), strict=True) if raw[0] in "'\"“‘"]
                lines = quoted or [" ".join(text)]
                op = EditOp("text", lines=[ln[:16] for ln in lines[:3] if ln.strip()])
            elif t == "RM":
                op = EditOp("remove", target=target[0], hint=target[1])
            elif t == "NEWCOL":
                color = target_of(_words(clause, "NEWCOL"))[0][1]
                op = EditOp("recolour", target=target[0], color=color, hint=target[1]) if color else None
            elif t == "POS" and "ADD" not in order:
                pos = position_of(_words(clause, "POS"))
                op = EditOp("move", target=target[0], position=pos, hint=target[1]) if pos else None
            elif t in ("BIG", "SMALL") and not sized:  # both tagged in one clause: the first one counts
                op = EditOp("resize", target=target[0], size="large" if t == "BIG" else "small", hint=target[1])
                sized = True
            if op is not None:
                ops.append(op)
                made = True
        if made and tgt_words:
            last = target
        if not made and tgt_words:  # a clause that names an object but asks nothing of it: never drop it silently
            return Reading("edit", ops, "model", f"could not tell what to do with {_span_text(tgt_words)!r}", pairs)
    if not ops:
        return Reading("edit", [], "model", "the reader found no edit it can make in this turn", pairs)
    vague = [o for o in ops if o.kind in ("remove", "recolour", "move", "resize") and o.target == (None, None)
             and o.hint is None]
    if vague:  # "remove the sarin": no object of the world, no pronoun: nothing to act on
        return Reading("edit", ops, "model", f"could not tell which object to {vague[0].kind}", pairs)
    return Reading("edit", ops, "model", None, pairs)


class InstructionReader:
    """MiniLM + the trained head; `read(text)` -> Reading. Thread-safe for reading (no state changes)."""

    def __init__(self, head: ReaderEnsemble, encoder: Any) -> None:
        self.head = head.eval()
        self.encoder = encoder

    @staticmethod
    def load(path: str | Path = WEIGHTS, encoder: Any | None = None) -> InstructionReader:
        """The heads from a safetensors file with their config in the metadata; the shared MiniLM by default."""
        from safetensors import safe_open
        from safetensors.torch import load_file

        with safe_open(str(path), "pt") as f:
            meta = f.metadata() or {}
        if "config" not in meta:
            raise ValueError(f"{path}: no reader config in the file's metadata")
        raw = json.loads(meta["config"])
        cfg = ReaderConfig(**{**raw, "tags": tuple(raw["tags"]), "actions": tuple(raw["actions"])})
        head = ReaderEnsemble(cfg)
        head.load_state_dict(load_file(str(path)))
        if encoder is None:
            from limner.safety.classifier import embedder

            encoder = embedder()
        return InstructionReader(head, encoder)

    @torch.no_grad()
    def scores(self, words: list[str], image: bool = True) -> tuple[torch.Tensor, str]:
        """One turn's words read with (`image`) or without a picture in view: the (n_words, n_tags) tag
        log-probabilities and the most probable action."""
        x, mask = pad_states(self.encoder.word_states([words]))
        tag_logp, act_logits = self.head(x, mask, torch.full((1,), image))
        return tag_logp[0, : len(words)], self.head.cfg.actions[int(act_logits[0].argmax())]

    def read(self, text: str, seed: int = 0, image: bool = True) -> Reading:
        """The Reading of one turn, with (`image`) or without a picture in view: the model's most probable
        tagging, or its most probable complete one (`complete_reading`) where that names an object and asks
        nothing of it; the grammar's where the model cannot complete the edit and the grammar can; a problem
        when neither can."""
        words = words_of(text)
        if not words:
            return Reading("none", problem="the turn has no words")
        logp, action = self.scores(words, image)  # (n_words, n_tags)
        names = self.head.cfg.tags
        reading = decode(words, [names[k] for k in logp.argmax(-1).tolist()], action, seed)
        if reading.action == "edit" and not reading.understood:
            reading = complete_reading(words, logp, names, action, seed) or reading
        if reading.action == "edit" and not reading.understood:
            try:
                return Reading("edit", [parse_edit(text, seed)], "parser", None, reading.tags)
            except EditError:
                pass
        return reading


# Constrained decoding of an incomplete edit: how many of the target's words may be read another way, and how much
# less probable that reading may be (log-probability gap; 4.6 = 1/100 as likely as the best tag)
REPAIR_TRIES = 3
REPAIR_MAX_GAP = 4.6


def complete_reading(words: list[str], logp: torch.Tensor, names: tuple[str, ...], action: str,
                     seed: int = 0) -> Reading | None:
    """The model's most probable complete reading one word away from its best tagging, or None. Pure.

    A best tagging can name an object and ask nothing of it: in "make the star purple and move it left" the
    colour after the noun can be tagged as part of the target ("the star purple"). Each target word's
    second most probable tag (not O) is tried in place of TGT, the least costly first, and the first tagging
    that decodes to a complete edit is kept. `logp` (n_words, n_tags) are the tag log-probabilities."""
    top = logp.topk(3, dim=-1)
    best = [names[k] for k in top.indices[:, 0].tolist()]
    candidates = []
    for i in range(len(words)):
        if best[i] != "TGT":
            continue
        for k in (1, 2):
            alt = names[int(top.indices[i, k])]
            if alt != "O":
                candidates.append((float(top.values[i, 0] - top.values[i, k]), i, alt))
                break
    for gap, i, alt in sorted(candidates)[:REPAIR_TRIES]:
        if gap > REPAIR_MAX_GAP:
            break
        tags = best.copy()
        tags[i] = alt
        reading = decode(words, tags, action, seed)
        if reading.understood:
            return reading
    return None


def pad_states(states: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sentence (n_i, D) word states -> (B, W, D) zero-padded and the (B, W) bool mask of real words."""
    w = max(s.shape[0] for s in states)
    x = torch.zeros(len(states), w, states[0].shape[1])
    mask = torch.zeros(len(states), w, dtype=torch.bool)
    for i, s in enumerate(states):
        x[i, : s.shape[0]] = s
        mask[i, : s.shape[0]] = True
    return x, mask


def save_head(head: ReaderEnsemble, path: str | Path) -> None:
    """The heads' weights with their config in the metadata (what `InstructionReader.load` reads)."""
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in head.state_dict().items()}, str(path),
              metadata={"config": json.dumps(asdict(head.cfg))})


@functools.lru_cache(maxsize=1)
def default_reader() -> InstructionReader:
    """The shipped reader, loaded once per process."""
    return InstructionReader.load(WEIGHTS)


def read_turn(text: str, seed: int = 0, image: bool = True) -> Reading:
    """The shipped reader's Reading of `text`, with (`image`, a chat's picture or an upload) or without a
    picture in view.

    Memoised: one chat turn is routed (routing.route_turn), then edited (Studio.edit) and screened by callers that
    each ask for its reading; the model reads it once. Each caller gets its own copy, so none sees another's
    changes."""
    return copy.deepcopy(_read_once(text, seed, image))


@functools.lru_cache(maxsize=256)
def _read_once(text: str, seed: int, image: bool) -> Reading:
    return default_reader().read(text, seed, image)
