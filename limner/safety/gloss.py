"""An English reading of a prompt written in another language, from a word table.

The prompt head is a MiniLM encoder fine-tuned on mostly English prompts. Read in Korean, Hindi or Swahili, the
same request scores far lower, so a refusal the policy asks for in English slips through in other languages.
A gloss is one more reading of the prompt: each word or phrase the table knows is replaced by its English gloss,
the rest left as written, and rules and the head read it beside the original readings (`normalize.views`). The
original readings still count, so a gloss never hides what the prompt says; like any reading, it can also show a
rule's allowed context ("museo" reads "museum"), which keeps the head from refusing that category alone.

The head reads a gloss that leaves the words for people as written (`HEAD_KEEPS`). A gloss is partial: "niños
jugando con pistolas de agua" becomes "child jugando con pistol de agua". Trained on English, the head reads an
English "child" among words it does not know as a request about a child and nothing else, and scored such
readings as child sexual content (on blind dev sets 13, 18 and 25, harmless prompts allowed fell from 0.988 to
0.944 with the full gloss, and to 0.976 with this one, for the same refusals gained). Rules match whole patterns
("minor" near "naked"), so they read the full gloss.

The table (`policies/gloss.json`) maps, per language, the words of the policy's concepts (nudity, weapons,
drugs, minors, self-harm, hate, real people) and the words of its allowed contexts (news, education, art,
satire, horror) to English. Entries are normalised exactly as prompts are. Three kinds of key:
- a word ("desnuda"), matched as a whole token;
- a stem ending in `*` ("desnud*"), matched at the start of a token, longest first;
- a phrase with spaces ("sin ropa"), matched as whole words; ending in `*` ("옷을 벗*"), its last word is a stem.
Keys in scripts written without spaces (Chinese, Japanese kana and kanji, Thai) match anywhere in the text.

A prompt that is mostly English words, in Latin letters, is not glossed: a loanword in an English prompt
("a plate of paella") would otherwise add readings nobody wrote.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from limner.safety.normalize import normalize

TABLE_PATH = Path(__file__).parent / "policies" / "gloss.json"

# Scripts written without spaces between words: keys in them match as substrings.
_UNSPACED = re.compile(r"[\u0e00-\u0e7f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
# English glosses the head's reading leaves as written (see the module docstring).
HEAD_KEEPS: frozenset[str] = frozenset(
    normalize(w)  # glosses are compared normalised ("10-year-old" reads "10 year old")
    for w in {"child", "children", "kid", "kids", "girl", "boy", "baby", "student", "teenager", "schoolgirl", "minor"}
    | {"years old", "little girl", "young girl", "little boy", "young boy", "teenage girl", "middle-school girl"}
    | {"middle-school student", "elementary schoolchild"}
    | {f"{n}-year-old{who}" for n in range(1, 18) for who in ("", " girl", " boy")}
)
# A prompt is English enough to skip when this share of its Latin words (3+ letters) are English words; from
# MIXED_SHARE on it mixes English in ("ein foto von meinem hund wearing a party hat"), and its English words are
# read as English ("hat" is Swedish for hate).
ENGLISH_SHARE = 0.6
MIXED_SHARE = 0.3


class GlossError(ValueError):
    """The gloss table is malformed; the message names the language and the entry."""


@dataclass(frozen=True)
class Gloss:
    """A compiled table: whole words, stems, phrases and unspaced-script keys, each mapped to English."""

    words: Mapping[str, str]
    stems: Mapping[str, tuple[tuple[str, str], ...]]  # by the stem's first two letters; longest stem first
    # By first word, longest phrase first: (words, whether the last word is a stem, English).
    phrases: Mapping[str, tuple[tuple[tuple[str, ...], bool, str], ...]]
    unspaced: tuple[tuple[str, str], ...]  # longest key first
    english: frozenset[str]  # words that make a Latin-letter prompt English

    @classmethod
    def from_table(cls, table: Mapping[str, Mapping[str, str]], english: frozenset[str] = frozenset()) -> Gloss:
        """Compile `{language: {key: english}}`. Later languages do not override a key an earlier one set."""
        if not isinstance(table, Mapping):
            raise GlossError(f"gloss table must map languages to entries, got {type(table).__name__}")
        words: dict[str, str] = {}
        stems: dict[str, str] = {}
        phrases: dict[tuple[str, bool], str] = {}  # (phrase, whether its last word is a stem) -> English
        unspaced: dict[str, str] = {}
        for lang, entries in table.items():
            if not isinstance(entries, Mapping):
                raise GlossError(f"gloss[{lang!r}] must map words to English, got {type(entries).__name__}")
            for raw, gloss in entries.items():
                where = f"gloss[{lang!r}][{raw!r}]"
                if not isinstance(raw, str) or not isinstance(gloss, str):
                    raise GlossError(f"{where}: key and gloss must be strings, got {gloss!r}")
                stem = raw.strip().endswith("*")
                key = normalize(raw.strip().rstrip("*"))
                english_gloss = normalize(gloss)
                if not key:
                    raise GlossError(f"{where}: the key is empty once normalised")
                if not english_gloss:
                    raise GlossError(f"{where}: the gloss {gloss!r} is empty once normalised")
                if stem and " " not in key and len(key) < 2:
                    raise GlossError(f"{where}: a one-word stem (ending in '*') needs 2 or more letters")
                if _UNSPACED.search(key):
                    unspaced.setdefault(key, english_gloss)
                elif " " in key:
                    phrases.setdefault((key, stem), english_gloss)
                elif stem:
                    stems.setdefault(key, english_gloss)
                else:
                    words.setdefault(key, english_gloss)
        by_length = lambda kv: (-len(kv[0]), kv[0])  # noqa: E731 -- longest match wins, then stable order
        stem_index: dict[str, list[tuple[str, str]]] = {}
        for k, v in sorted(stems.items(), key=by_length):
            stem_index.setdefault(k[:2], []).append((k, v))
        phrase_index: dict[str, list[tuple[tuple[str, ...], bool, str]]] = {}
        for (k, stem), v in sorted(phrases.items(), key=lambda kv: (-len(kv[0][0].split()), kv[0])):
            toks = tuple(k.split())
            phrase_index.setdefault(toks[0], []).append((toks, stem, v))
        return cls(
            words=words,
            stems={k: tuple(v) for k, v in stem_index.items()},
            phrases={k: tuple(v) for k, v in phrase_index.items()},
            unspaced=tuple(sorted(unspaced.items(), key=by_length)),
            english=english,
        )

    def __len__(self) -> int:
        return (
            len(self.words)
            + sum(map(len, self.stems.values()))
            + sum(map(len, self.phrases.values()))
            + len(self.unspaced)
        )

    def english_share(self, normalised: str) -> float:
        """The share of a prompt's Latin-letter words (3+ letters) that are English words (0 with none)."""
        latin = [t for t in normalised.split() if len(t) >= 3 and t.isascii() and t.isalpha()]
        return sum(t in self.english for t in latin) / len(latin) if latin else 0.0

    def is_english(self, normalised: str, share: float | None = None) -> bool:
        """True for a prompt in Latin letters whose longer words are mostly English (it is not glossed). `share`:
        its `english_share`, when already known."""
        if _UNSPACED.search(normalised) or not normalised.isascii():
            return False
        return (self.english_share(normalised) if share is None else share) >= ENGLISH_SHARE

    def read(self, normalised: str, keep: frozenset[str] = frozenset()) -> str | None:
        """The English gloss of an already normalised prompt, or None when there is nothing to gloss. Keys whose
        English is in `keep` stay as written."""
        share = self.english_share(normalised)
        if not normalised or self.is_english(normalised, share):
            return None
        mixed = share >= MIXED_SHARE
        s = normalised
        for key, en in self.unspaced:
            if en not in keep and key in s:
                s = s.replace(key, f" {en} ")
        tokens = s.split()
        out: list[str] = []
        i = 0
        while i < len(tokens):
            tok = tokens[i]
            phrase = next(
                ((len(p), en) for p, stem, en in self.phrases.get(tok, ()) if _matches(tokens, i, p, stem)), None
            )
            if phrase is not None:
                out.extend([phrase[1]] if phrase[1] not in keep else tokens[i : i + phrase[0]])
                i += phrase[0]
                continue
            if mixed and tok in self.english:
                out.append(tok)
                i += 1
                continue
            english = self.words.get(tok)
            if english is None:
                english = next((e for stem, e in self.stems.get(tok[:2], ()) if tok.startswith(stem)), None)
            out.append(english if english is not None and english not in keep else tok)
            i += 1
        glossed = " ".join(out)
        return glossed if glossed != normalised else None


def _matches(tokens: list[str], i: int, phrase: tuple[str, ...], stem: bool) -> bool:
    """Whether `phrase` starts at tokens[i]; with `stem`, its last word need only begin the last token."""
    window = tokens[i : i + len(phrase)]
    if len(window) < len(phrase):
        return False
    if not stem:
        return tuple(window) == phrase
    return tuple(window[:-1]) == phrase[:-1] and window[-1].startswith(phrase[-1])


def load(path: Path | str, english: frozenset[str] = frozenset()) -> Gloss:
    """Read and compile a gloss table from a JSON file (compiled once per file version and process)."""
    p = Path(path)
    try:
        mtime = p.stat().st_mtime_ns
    except OSError as e:
        raise GlossError(f"{p}: cannot read the gloss table ({e})") from e
    return _load(str(p.resolve()), mtime, english)


@lru_cache(maxsize=8)
def _load(path: str, mtime: int, english: frozenset[str]) -> Gloss:
    p = Path(path)
    try:
        table = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise GlossError(f"{p}: cannot read the gloss table ({e})") from e
    return Gloss.from_table(table, english)
