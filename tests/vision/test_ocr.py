from limner.data.scene import Scene, SceneText, render
from limner.vision.ocr import edit_distance, fold, fold_strict, ned, score_text


def test_fold_ned_and_edit_distance():
    assert fold(" Open 7\n Days ") == "open7days"
    assert edit_distance("kitten", "sitting") == 3
    assert edit_distance("", "abc") == 3
    assert ned("OPEN 7 DAYS", "open7days") == 1.0
    assert ned("OPEN", "OPEX") == 0.75
    assert ned("", "AB") == 0.0
    assert ned("", "") == 1.0
    assert fold("MILK") == fold("MlLK") and fold_strict("MILK") != fold_strict("MlLK")


def test_ocr_reads_rendered_text_exactly():
    im = render(Scene(256, 256, "white", [], SceneText(["OPEN 7 DAYS"], "red", "top")))
    s = score_text(im, "open 7 days")
    assert s.exact == 1.0 and s.ned == 1.0, s.read
    wrong = score_text(im, "CLOSED")
    assert wrong.exact == 0.0 and wrong.ned < 0.5


def test_ocr_multiline_order_on_sign_and_transparent_white_text():
    sign = render(Scene(256, 256, "#224466", [], SceneText(["HELLO", "CAFE 42", "NOW!"], "black", "center", "yellow")))
    s = score_text(sign, "HELLO\nCAFE 42\nNOW!")
    assert s.exact == 1.0, s.read
    assert s.read.split("\n")[0].replace(" ", "") == "HELLO"
    # White text on a transparent background is laid over black; dark text over white.
    clear = render(Scene(256, 256, "transparent", [], SceneText(["SNOW"], "white", "bottom")))
    assert score_text(clear, "SNOW").exact == 1.0
    dark = render(Scene(256, 256, "transparent", [], SceneText(["INK 7"], "black", "top")))
    assert score_text(dark, "INK 7").exact == 1.0
    # A sign panel on a transparent background: its text is read, not the panel's outline.
    panel = render(Scene(256, 256, "transparent", [], SceneText(["567 EXIT"], "black", "bottom", "cyan")))
    assert score_text(panel, "567 EXIT").exact == 1.0, score_text(panel, "567 EXIT").read


def test_blank_image_reads_nothing():
    s = score_text(render(Scene(256, 256, "white")), "HELLO")
    assert s.read == "" and s.exact == 0.0 and s.ned == 0.0


def test_text_colour_and_place_are_scored_where_the_record_asks() -> None:
    from limner.vision.score import score_image

    im = render(Scene(256, 256, "#203040", [], SceneText(["SALE 20"], "orange", "bottom")))
    rec = {"tag": "text", "prompt": "p", "text": "SALE 20", "text_color": "orange", "text_position": "bottom"}
    s = score_image(im, rec)
    assert s.correct and s.extra["colour_ok"] and s.extra["position_ok"], s.extra
    wrong = score_image(im, {**rec, "text_color": "blue", "text_position": "top"})
    assert wrong.score == 1.0 and not wrong.extra["colour_ok"] and not wrong.extra["position_ok"]
    assert any("letters not blue" in r for r in wrong.reasons)
    hexed = score_image(render(Scene(256, 256, "white", [], SceneText(["GO"], "#1E90FF", "center"))),
                        {"tag": "text", "prompt": "p", "text": "GO", "text_color": "#1E90FF"})
    assert hexed.extra["colour_ok"] and "position_ok" not in hexed.extra
