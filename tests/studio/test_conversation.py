"""The conversation's token stream: the interleaved format a conversation-trained prior will read."""

from limner.data.scene import Scene, SceneObject, render
from limner.model.native import NativeModel
from limner.studio.conversation import context_sequence


def test_context_sequence_interleaves_text_and_image_codes(tiny_model: NativeModel) -> None:
    im = render(Scene(256, 256, "white", [SceneObject("star", "red")]))
    ids, grid = context_sequence(tiny_model, [("text", "a red star"), ("image", im), ("text", "make it blue")],
                                 next_size=(256, 256))
    t = tiny_model.text
    assert ids[0] == t.id("<bos>") and ids[-1] == t.id("<img>") and ids.count(t.id("</img>")) == 1
    assert len(ids) == grid.shape[0] and int((grid[:, 0] > 0).sum()) == 256
    k = tiny_model.config.tokenizer.codebook_size
    assert sum(1 for i in ids if t.vocab_size <= i < t.vocab_size + k) == 256  # one image's codes, past the text ids
    off = tiny_model.layout_offset  # the tiny prior writes layouts: an image read from pixels has the empty one
    assert off is not None and ids[ids.index(t.id("<img>")) + 1] == off and ids.count(off) == 1
