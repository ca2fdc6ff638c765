"""Text tokenizer: words of the world, characters inside quotes, digits of hex colours.

- Outside quotes the prompt is lower-cased and split into words, numbers and punctuation. Known
  words map to one token each; unknown words to <unk> (training replaces a few words with <unk>,
  so free phrasings the model never saw degrade gracefully instead of derailing it).
- `#RRGGBB` becomes '#' and six hex-digit tokens, so the prior can learn the digit -> colour map.
- Quoted strings ('...' or "...") become <q> + one token per character (case kept) + </q>:
  character-aware, as text rendering needs.

The vocabulary is stored in the checkpoint's metadata, so a checkpoint alone rebuilds it.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass

from limner.limits import SUPPORTED_SIZES

SPECIALS: tuple[str, ...] = (
    "<pad>",
    "<bos>",
    "<eos>",
    "<img>",
    "</img>",
    "<unk>",
    "<q>",
    "</q>",
    "<nl>",
    *(f"<size:{w}x{h}>" for w, h in SUPPORTED_SIZES),
)
HEX_DIGITS = "0123456789abcdef"
QUOTE_CHARS = [chr(c) for c in range(32, 127)]

GLUE_WORDS = (
    "a an the of with and in on at to is are this that picture image drawing draw make show render generate create "
    "please paint illustration graphic simple i want can you some me photo it its side placed positioned sitting "
    "background backdrop transparent no text word words says say saying reading written letters lettering sign "
    "lines line grid rows row columns column by x left right top bottom center centre middle upper lower above "
    "below over under beneath of next there be should has have one two three four five six zero small medium large "
    "big tiny colored coloured color colour in a all each both plus then"
).split()
PUNCT = tuple(",.:;!?-&'()/")


@dataclass
class TextTokenizer:
    """Prompt <-> token ids. Ids run: specials, hex digits, '#', quote characters, punctuation, then `words`
    (the vocabulary stored in checkpoints); image codes follow from `vocab_size` on."""

    words: tuple[str, ...]

    def __post_init__(self) -> None:
        self.itos: list[str] = [
            *SPECIALS,
            *(f"#{d}" for d in HEX_DIGITS),
            "#",
            *(f"c:{c}" for c in QUOTE_CHARS),
            *PUNCT,
            *self.words,
        ]
        self.stoi = {s: i for i, s in enumerate(self.itos)}
        if len(self.stoi) != len(self.itos):
            raise ValueError("duplicate entries in the text vocabulary")

    # ---- construction and persistence ----
    @staticmethod
    def build_default(n_samples: int = 4000, seed: int = 1234) -> TextTokenizer:
        """Vocabulary = glue words + every word the data engine's captions use (deterministic)."""
        from limner.data.sampler import sample_mix
        from limner.data.world import NUMBER_WORDS, OBJECTS

        words = set(GLUE_WORDS) | set(NUMBER_WORDS) | {str(i) for i in range(0, 17)}
        for o in OBJECTS:
            words.update(o.split())
        rng = random.Random(seed)
        tmp = TextTokenizer(())
        for _ in range(n_samples):
            for kind, piece in tmp.split(sample_mix(rng).prompt):
                if kind == "word":
                    words.add(piece)
        words -= set(PUNCT)
        return TextTokenizer(tuple(sorted(words)))

    def to_json(self) -> str:
        """The vocabulary as JSON, as stored in a checkpoint's `text_vocab` metadata."""
        return json.dumps({"words": list(self.words)})

    @staticmethod
    def from_json(s: str) -> TextTokenizer:
        """Rebuild a tokenizer from `to_json` output."""
        return TextTokenizer(tuple(json.loads(s)["words"]))

    @property
    def vocab_size(self) -> int:
        """Number of text ids; image code c has id vocab_size + c."""
        return len(self.itos)

    def id(self, tok: str) -> int:
        """The id of one vocabulary entry ('<bos>', '<size:256x256>', a word); KeyError when absent."""
        return self.stoi[tok]

    def hex_digit_ids(self) -> list[int]:
        """Ids of the hex-digit tokens '#0'..'#f', in digit order."""
        return [self.stoi[f"#{d}"] for d in HEX_DIGITS]

    # ---- encoding ----
    _QUOTED = re.compile(r"\"([^\"]*)\"|(?<![A-Za-z0-9])'(.*?)'(?![A-Za-z0-9])")
    _WORD = re.compile(r"#[0-9a-fA-F]{6}|[a-z]+|\d+|[^\sa-z\d]")

    def split(self, prompt: str) -> list[tuple[str, str]]:
        """[(kind, piece)] with kind in {'word', 'hex', 'quote'}."""
        out: list[tuple[str, str]] = []
        pos = 0
        for m in self._QUOTED.finditer(prompt):
            out += self._split_plain(prompt[pos : m.start()])
            out.append(("quote", m.group(1) if m.group(1) is not None else m.group(2)))
            pos = m.end()
        out += self._split_plain(prompt[pos:])
        return out

    def _split_plain(self, s: str) -> list[tuple[str, str]]:
        res = []
        for w in self._WORD.findall(s.lower()):
            res.append(("hex", w[1:]) if w.startswith("#") and len(w) == 7 else ("word", w))
        return res

    def encode(self, prompt: str, unk_prob: float = 0.0, rng: random.Random | None = None) -> list[int]:
        """Token ids of a prompt (see the module docstring); unknown words and characters become <unk>.
        With `rng`, each word is also replaced by <unk> with probability `unk_prob` (training)."""
        ids: list[int] = []
        unk = self.stoi["<unk>"]
        for kind, piece in self.split(prompt):
            if kind == "hex":
                ids.append(self.stoi["#"])
                ids += [self.stoi[f"#{d}"] for d in piece.lower()]
            elif kind == "quote":
                ids.append(self.stoi["<q>"])
                for line_i, line in enumerate(piece.split("\n")):
                    if line_i:
                        ids.append(self.stoi["<nl>"])
                    ids += [self.stoi.get(f"c:{c}", unk) for c in line]
                ids.append(self.stoi["</q>"])
            else:
                tid = self.stoi.get(piece, unk)
                if rng is not None and unk_prob > 0 and rng.random() < unk_prob:
                    tid = unk
                ids.append(tid)
        return ids

    def unknown_words(self, prompt: str) -> list[str]:
        """The words outside quotes that this vocabulary does not know (each encodes as <unk>), once each, in
        order: the engine names them to the user instead of silently drawing something else."""
        out: list[str] = []
        for kind, piece in self.split(prompt):
            if kind == "word" and piece.isalpha() and piece not in self.stoi and piece not in out:
                out.append(piece)
        return out

    def decode(self, ids: list[int]) -> str:
        """The entries of `ids` joined by spaces (quote characters without their 'c:' prefix), for debugging;
        not an inverse of `encode`."""
        out = []
        for i in ids:
            s = self.itos[i] if 0 <= i < len(self.itos) else "<unk>"
            out.append(s[2:] if s.startswith("c:") else s)
        return " ".join(out)
