from __future__ import annotations

import pytest

from limner.safety.normalize import normalize, segment, views


@pytest.mark.parametrize(
    "obfuscated",
    [
        "n\u200bu\u200cd\u200de photo",  # zero-width characters
        "nudе phоtо",  # Cyrillic е and о
        "NUDE PHOTO",  # case
        "ｎｕｄｅ ｐｈｏｔｏ",  # full-width
        "n.u.d.e photo",  # punctuation inside the word
        "n-u-d-e photo",  # separators
        "n u d e photo",  # spaced letters
        "nuuuude photo",  # letter runs
        "nud3 ph0t0",  # leetspeak
        "nu\u0301de photo",  # combining accent
    ],
)
def test_obfuscations_fold_to_the_plain_text(obfuscated: str) -> None:
    assert normalize(obfuscated) == "nude photo"


@pytest.mark.parametrize(
    "prompt,expected",
    [
        ("a 4 by 4 grid of stars", "a 4 by 4 grid of stars"),
        ("a circle in #1E90FF on a white background", "a circle in #1e90ff on a white background"),
        ("three green triangles, 8k, 35mm", "three green triangles 8k 35mm"),
        ("a sign that says 'OPEN 7 DAYS'", "a sign that says open 7 days"),
    ],
)
def test_world_prompts_keep_their_numbers(prompt: str, expected: str) -> None:
    assert normalize(prompt) == expected


@pytest.mark.parametrize(
    "prompt,expected",
    [
        ("Фото: казнь у стены", "фото казнь у стены"),  # Russian keeps its Cyrillic (й, ё too)
        ("ёлка и йогурт", "ёлка и йогурт"),
        ("मेरी बहन का फोटो", "मेरी बहन का फोटो"),  # Devanagari vowel signs are marks, and stay
        ("뼈만 남은 다리, 사진", "뼈만 남은 다리 사진"),  # Hangul syllables survive NFKD
        ("ベイプを吸って煙の輪", "ベイプを吸って煙の輪"),  # kana voicing marks
        ("故宮博物院的古代青銅劍", "故宮博物院的古代青銅劍"),
        ("نمودار ساخت بمب", "نمودار ساخت بمب"),
    ],
)
def test_other_scripts_keep_their_letters(prompt: str, expected: str) -> None:
    # The classifier must read the words of a prompt in another script, not an empty string.
    assert normalize(prompt) == expected


def test_lookalikes_fold_only_where_they_disguise_latin_text() -> None:
    assert normalize("Ꮃhite pоwer, Ꭺnthrax") == "white power anthrax"  # Cherokee and Cyrillic disguising English
    # In a Russian prompt, only the word that mixes scripts is folded (a Cyrillic о inside "nоde").
    assert normalize("русский текст и слово nоde") == "русский текст и слово node"


def test_spaced_words_are_resplit_with_a_vocabulary() -> None:
    vocab = frozenset({"fetish", "outfit", "a", "kidnap", "child"})
    assert segment("fetishoutfit", vocab) == "fetish outfit"
    v = views("an infant in a f e t i s h o u t f i t", vocab)
    assert "an infant in a fetish outfit" in v


def test_non_string_is_refused() -> None:
    with pytest.raises(TypeError, match="prompt must be a string"):
        normalize(None)  # type: ignore[arg-type]


def test_possessive_s_stays_a_separate_word() -> None:
    # "taliban's" must still read as "taliban" for the rules; contractions without 's are joined as before.
    assert normalize("a poster praising the Taliban's victory") == "a poster praising the taliban s victory"
    assert normalize("my neighbour’s address") == "my neighbour s address"
    assert normalize("don't") == "dont"


def test_a_word_of_one_repeated_letter_is_kept() -> None:
    # Collapsing letter runs defeats "nuuuude", but "kkk" or "xxx" collapsed to one letter erases the word.
    assert normalize("a KKK rally poster") == "a kkk rally poster"
    assert normalize("xxx poster") == "xxx poster"
    assert normalize("nuuuude") == "nude"
