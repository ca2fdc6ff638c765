from limner.model.text_tokenizer import TextTokenizer


def test_words_hex_and_quotes(text_tokenizer: TextTokenizer) -> None:
    t = text_tokenizer
    ids = t.encode("A red circle in #1E90FF and a sign that says 'DON'T STOP'")
    toks = [t.itos[i] for i in ids]
    assert toks[:3] == ["a", "red", "circle"]
    assert toks[toks.index("#") : toks.index("#") + 7] == ["#", "#1", "#e", "#9", "#0", "#f", "#f"]
    q = toks.index("<q>")
    assert "".join(s[2:] for s in toks[q + 1 : toks.index("</q>")]) == "DON'T STOP"
    assert "<unk>" in [t.itos[i] for i in t.encode("a zyzzyva circle")]


def test_vocabulary_round_trips(text_tokenizer: TextTokenizer) -> None:
    again = TextTokenizer.from_json(text_tokenizer.to_json())
    assert again.itos == text_tokenizer.itos
    assert {"hexagon", "lightning", "infinity", "grid", "transparent"} <= set(text_tokenizer.words)


def test_unknown_words_are_listed_once_in_order_and_quotes_are_not_words() -> None:
    from limner.model.text_tokenizer import TextTokenizer

    tok = TextTokenizer.build_default(200)
    prompt = "a giraffe and a giraffe with 'ZEBRA' on a sign, #A0B0C0"  # quoted text is no word
    assert tok.unknown_words(prompt) == ["giraffe"]
    assert tok.unknown_words("a red star") == []
